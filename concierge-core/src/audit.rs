//! The audit log of management actions: who changed what, when, for which tenant.
//!
//! The operator panel (`/manage`) and the admin API (`/api/v1`) append one [`AuditEntry`] per
//! state-changing action, after the action succeeded; the store keeps them in the
//! [`AuditLog`](crate::ports::AuditLog) port and lists them newest first.
//!
//! **Architecture Invariant:** an entry never holds a token, a secret, a password or a message
//! body: `detail` is a short, plain description the front composes from ids, counts and
//! amounts, capped at [`DETAIL_MAX_CHARS`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::TenantId;
use crate::time::Timestamp;

/// The longest `detail` kept, in characters (longer text is cut, on a character boundary).
pub const DETAIL_MAX_CHARS: usize = 200;

/// The longest `actor` kept, in characters.
pub const ACTOR_MAX_CHARS: usize = 80;

/// The most entries one [`AuditQuery`] returns.
pub const MAX_AUDIT_PAGE: u32 = 500;

/// What was done. Stored and shown as its stable [`as_str`](AuditAction::as_str) name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuditAction {
    /// A tenant file was imported (created or updated): `tenant.put`.
    TenantPut,
    /// A tenant's persona was replaced: `persona.put`.
    PersonaPut,
    /// The operator approved a persona: `persona.approve`.
    PersonaApprove,
    /// The operator rejected a persona: `persona.reject`.
    PersonaReject,
    /// A channel's reply rules were replaced: `rules.put`.
    RulesPut,
    /// The conversation settings were replaced: `conversation.put`.
    ConversationPut,
    /// Credits were granted: `credits.grant`.
    CreditsGrant,
    /// An owner account was created or given a new password: `owner.put`.
    OwnerPut,
    /// A channel token was sealed: `secret.put`.
    SecretPut,
    /// A dead-lettered job was queued again: `dead_letter.retry`.
    DeadLetterRetry,
    /// The price of an AI reply in one currency was set: `pricing.set`.
    PricingSet,
    /// A personas catalog entry was created or edited: `catalog.save`.
    CatalogSave,
    /// The operator approved a catalog entry's text: `catalog.approve`.
    CatalogApprove,
    /// The operator rejected a catalog entry's text: `catalog.reject`.
    CatalogReject,
    /// A catalog entry was deleted: `catalog.delete`.
    CatalogDelete,
    /// The operator signed in to the panel: `operator.login`.
    OperatorLogin,
    /// The operator signed out of the panel: `operator.logout`.
    OperatorLogout,
    /// The operator ended every one of their panel sessions: `operator.logout_everywhere`.
    OperatorLogoutEverywhere,
    /// An operator account was created or given a new password: `operator.put`.
    OperatorPut,
    /// An operator account was removed: `operator.delete`.
    OperatorDelete,
    /// A knowledge-base document was uploaded or replaced: `knowledge.put`.
    KnowledgePut,
    /// A knowledge-base document was deleted: `knowledge.delete`.
    KnowledgeDelete,
}

impl AuditAction {
    /// Every action, in declaration order.
    pub const ALL: &'static [AuditAction] = &[
        AuditAction::TenantPut,
        AuditAction::PersonaPut,
        AuditAction::PersonaApprove,
        AuditAction::PersonaReject,
        AuditAction::RulesPut,
        AuditAction::ConversationPut,
        AuditAction::CreditsGrant,
        AuditAction::OwnerPut,
        AuditAction::SecretPut,
        AuditAction::DeadLetterRetry,
        AuditAction::PricingSet,
        AuditAction::CatalogSave,
        AuditAction::CatalogApprove,
        AuditAction::CatalogReject,
        AuditAction::CatalogDelete,
        AuditAction::OperatorLogin,
        AuditAction::OperatorLogout,
        AuditAction::OperatorLogoutEverywhere,
        AuditAction::OperatorPut,
        AuditAction::OperatorDelete,
        AuditAction::KnowledgePut,
        AuditAction::KnowledgeDelete,
    ];

    /// The stable name (`credits.grant`), as stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::TenantPut => "tenant.put",
            AuditAction::PersonaPut => "persona.put",
            AuditAction::PersonaApprove => "persona.approve",
            AuditAction::PersonaReject => "persona.reject",
            AuditAction::RulesPut => "rules.put",
            AuditAction::ConversationPut => "conversation.put",
            AuditAction::CreditsGrant => "credits.grant",
            AuditAction::OwnerPut => "owner.put",
            AuditAction::SecretPut => "secret.put",
            AuditAction::DeadLetterRetry => "dead_letter.retry",
            AuditAction::PricingSet => "pricing.set",
            AuditAction::CatalogSave => "catalog.save",
            AuditAction::CatalogApprove => "catalog.approve",
            AuditAction::CatalogReject => "catalog.reject",
            AuditAction::CatalogDelete => "catalog.delete",
            AuditAction::OperatorLogin => "operator.login",
            AuditAction::OperatorLogout => "operator.logout",
            AuditAction::OperatorLogoutEverywhere => "operator.logout_everywhere",
            AuditAction::OperatorPut => "operator.put",
            AuditAction::OperatorDelete => "operator.delete",
            AuditAction::KnowledgePut => "knowledge.put",
            AuditAction::KnowledgeDelete => "knowledge.delete",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored action name this version does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit action {0:?}")]
pub struct UnknownAuditAction(pub String);

impl FromStr for AuditAction {
    type Err = UnknownAuditAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditAction::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAuditAction(s.to_owned()))
    }
}

impl Serialize for AuditAction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuditAction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// Who acted.
pub mod actor {
    /// The prefix of an operator's actor, `operator:{email}`: an operator account signed in
    /// to `/manage`, or someone Cloudflare Access admitted to it.
    pub const OPERATOR: &str = "operator";

    /// The actor of the operator signed in as `email`: `operator:{email}`.
    pub fn operator(email: &str) -> String {
        format!("{OPERATOR}:{email}")
    }
    /// A client of the admin API (`Authorization: Bearer` the admin token).
    pub const ADMIN_API: &str = "admin-api";
}

/// One management action, as it is appended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When it happened.
    pub at: Timestamp,
    /// Who did it (`operator:{email}` from [`actor::operator`], [`actor::ADMIN_API`],
    /// `owner:{id}`).
    pub actor: String,
    /// What was done.
    pub action: AuditAction,
    /// The tenant it concerned, if one.
    pub tenant: Option<TenantId>,
    /// A short description without secrets or message bodies (at most
    /// [`DETAIL_MAX_CHARS`] characters).
    pub detail: String,
}

impl AuditEntry {
    /// An entry; `actor` and `detail` are cut to [`ACTOR_MAX_CHARS`] and
    /// [`DETAIL_MAX_CHARS`] characters and control characters become spaces.
    pub fn new(
        at: Timestamp,
        actor: &str,
        action: AuditAction,
        tenant: Option<TenantId>,
        detail: &str,
    ) -> Self {
        AuditEntry {
            at,
            actor: clean(actor, ACTOR_MAX_CHARS),
            action,
            tenant,
            detail: clean(detail, DETAIL_MAX_CHARS),
        }
    }
}

fn clean(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// An entry as the store lists it: with the sequence number the store gave it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Increases with every append (across tenants); the paging cursor.
    pub seq: u64,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// Which entries to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this tenant's entries (`None`: every entry, with or without a tenant).
    pub tenant: Option<TenantId>,
    /// At most this many (clamped to 1..=[`MAX_AUDIT_PAGE`] by [`AuditQuery::limit`]).
    pub limit: u32,
    /// Only entries with a `seq` below this (the previous page's last `seq`).
    pub before: Option<u64>,
}

impl AuditQuery {
    /// The first page of up to `limit` entries of every tenant.
    pub fn latest(limit: u32) -> Self {
        AuditQuery {
            tenant: None,
            limit,
            before: None,
        }
    }

    /// The limit a store applies: `limit` within 1..=[`MAX_AUDIT_PAGE`].
    pub fn limit(&self) -> u32 {
        self.limit.clamp(1, MAX_AUDIT_PAGE)
    }

    /// Whether `record` is listed by this query (for stores that filter in memory).
    pub fn matches(&self, record: &AuditRecord) -> bool {
        self.before.is_none_or(|b| record.seq < b)
            && self
                .tenant
                .as_ref()
                .is_none_or(|t| record.entry.tenant.as_ref() == Some(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for a in AuditAction::ALL {
            assert!(seen.insert(a.as_str()), "{a} twice");
            assert_eq!(a.as_str().parse::<AuditAction>(), Ok(*a));
            let json = serde_json::to_string(a).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
        }
        assert!("tenant.delete".parse::<AuditAction>().is_err());
    }

    #[test]
    fn entries_are_cut_and_lose_control_characters() {
        let long = "x".repeat(DETAIL_MAX_CHARS + 50);
        let e = AuditEntry::new(
            Timestamp(0),
            "operator",
            AuditAction::PricingSet,
            None,
            &long,
        );
        assert_eq!(e.detail.chars().count(), DETAIL_MAX_CHARS);
        let e = AuditEntry::new(Timestamp(0), "a\nb", AuditAction::PricingSet, None, "é\r\n");
        assert_eq!(e.actor, "a b");
        assert_eq!(e.detail, "é  ");
    }

    #[test]
    fn a_query_limit_is_clamped() {
        assert_eq!(AuditQuery::latest(0).limit(), 1);
        assert_eq!(AuditQuery::latest(10_000).limit(), MAX_AUDIT_PAGE);
    }
}
