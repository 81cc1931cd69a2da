//! Reverse aliases: forwarded mail comes from an address on the tenant's domain, so the tenant's
//! reply comes back through Concierge and goes on to the original sender.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::channels::email::{OutgoingEmail, ParsedEmail, VIA_SUFFIX};
use crate::time::{Span, Timestamp};

/// How long a reverse alias keeps working after it was made (the seed's 30-day TTL).
pub const REVERSE_ALIAS_TTL: Span = Span::days(30);

/// The local-part prefix of every reverse alias.
const PREFIX: &str = "r-";
/// Bytes of HMAC kept: 128 bits, 32 hex characters.
const MAC_BYTES: usize = 16;

/// The reverse alias for `original_sender` on `domain`: `r-<32 hex>@domain`.
///
/// The local part is the first 128 bits of HMAC-SHA256(`secret`, domain ‖ sender), both
/// lower-cased: the same sender always gets the same alias on a domain (so a thread keeps one
/// address), different senders and domains get different ones, and nobody without the secret
/// can guess the alias of a given sender. The local part is 34 characters (RFC 5321 allows 64).
/// `secret` must be at least 32 random bytes, kept by the engine; the alias stays valid only
/// while the engine keeps its [`ReverseAlias`] record.
pub fn reverse_alias_for(original_sender: &str, domain: &str, secret: &[u8]) -> String {
    let domain = domain.trim().to_lowercase();
    let sender = original_sender.trim().to_lowercase();
    // HMAC-SHA256 accepts keys of any length; new_from_slice cannot fail.
    let tag: Vec<u8> = match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(domain.as_bytes());
            mac.update(b"\0");
            mac.update(sender.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    };
    let local = hex::encode(tag.get(..MAC_BYTES).unwrap_or_default());
    format!("{PREFIX}{local}@{domain}")
}

/// The one normal form of a reverse alias address: what every
/// [`AliasStore`](crate::ports::AliasStore) keys its records by and looks them up with.
/// Surrounding whitespace and angle brackets (`<r-…@shop.cncg.email>`) are removed and the
/// address is lower-cased, so a reply to `R-…@Shop.cncg.email` finds the record made for
/// `r-…@shop.cncg.email`.
pub fn normalize_alias(address: &str) -> String {
    address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_lowercase()
}

/// Whether `address` has the shape of a reverse alias (`r-` + 32 hex digits, any case, at any
/// domain), after [`normalize_alias`]. It says nothing about whether the alias is known or live.
pub fn is_reverse_alias(address: &str) -> bool {
    let address = normalize_alias(address);
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let Some(hex) = local
        .get(..PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(PREFIX))
        .and_then(|_| local.get(PREFIX.len()..))
    else {
        return false;
    };
    !domain.is_empty() && hex.len() == MAC_BYTES * 2 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The storage key of an alias record: `email_reverse:{alias}` ([normalized](normalize_alias)).
pub fn reverse_alias_key(alias: &str) -> String {
    format!("email_reverse:{}", normalize_alias(alias))
}

/// The mapping from a reverse alias back to the customer it stands for; stored by the engine
/// under [`reverse_alias_key`] with a [`REVERSE_ALIAS_TTL`] expiry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReverseAlias {
    /// The alias address (`r-…@shop.cncg.email`), [normalized](normalize_alias) by
    /// [`ReverseAlias::new`]; stores normalize it again when they key the record.
    pub alias: String,
    /// The customer it stands for, lower-case.
    pub original_sender: String,
    /// When it was made (or last renewed).
    pub created_at: Timestamp,
    /// When it stops working: `created_at + REVERSE_ALIAS_TTL`.
    pub expires_at: Timestamp,
}

impl ReverseAlias {
    /// A record for `alias` standing for `original_sender`, made at `now`, expiring after
    /// [`REVERSE_ALIAS_TTL`]. Forwarding again later makes a new record with a fresh expiry.
    pub fn new(alias: &str, original_sender: &str, now: Timestamp) -> Self {
        ReverseAlias {
            alias: normalize_alias(alias),
            original_sender: original_sender.trim().to_lowercase(),
            created_at: now,
            expires_at: now + REVERSE_ALIAS_TTL,
        }
    }

    /// Whether a reply to the alias is still delivered at `now` (strictly before expiry).
    pub fn is_live(&self, now: Timestamp) -> bool {
        now >= self.created_at && now < self.expires_at
    }
}

/// The forward of `parsed` to `to`, from the reverse `alias`.
///
/// Subject and text are kept; `From` is the alias with the display name
/// `"<original name> via Concierge"` (`"jane at example.com via Concierge"` without a name), `Reply-To` is the alias, and the message is
/// marked forwarded (loop prevention). It threads under the customer's message: `In-Reply-To`
/// is their Message-ID and `References` their chain plus that id, so the tenant's reply carries
/// the customer's ids on to [`deliver_reply_via_alias`]. `now` is unused beyond documenting that
/// the caller builds the message at that time with
/// [`build_email`](crate::channels::email::build_email).
pub fn forward(parsed: &ParsedEmail, alias: &str, to: &str, now: Timestamp) -> OutgoingEmail {
    let _ = now;
    // Without a name, `jane at example.com`: an address-shaped display name that differs from
    // the real address looks like spoofing to spam filters.
    let who = parsed
        .from_name
        .clone()
        .unwrap_or_else(|| parsed.from.replace('@', " at "));
    let mut references = parsed.references.clone();
    if let Some(id) = &parsed.message_id {
        if !references.contains(id) {
            references.push(id.clone());
        }
    }
    OutgoingEmail {
        from: (Some(format!("{who} {VIA_SUFFIX}")), alias.to_owned()),
        to: vec![to.to_owned()],
        reply_to: Some(alias.to_owned()),
        subject: parsed.subject.clone(),
        text: parsed.text.clone(),
        html: None,
        in_reply_to: parsed.message_id.clone(),
        references,
        forwarded: true,
        extra_headers: Vec::new(),
    }
}

/// The tenant's `reply` to a reverse alias, delivered to the customer the alias stands for,
/// from the tenant's public `from_address` (so the tenant's private address never leaks).
///
/// Subject, text and threading (`In-Reply-To`, `References`, which contain the customer's
/// original Message-ID) are kept; the message is marked forwarded. The caller must first check
/// that `alias` [is live](ReverseAlias::is_live) and that `reply.auto` is `None` (a vacation
/// responder answering the alias must not reach the customer).
pub fn deliver_reply_via_alias(
    reply: &ParsedEmail,
    alias: &ReverseAlias,
    from_address: &str,
) -> OutgoingEmail {
    OutgoingEmail {
        from: (None, from_address.to_owned()),
        to: vec![alias.original_sender.clone()],
        reply_to: None,
        subject: reply.subject.clone(),
        text: reply.text.clone(),
        html: None,
        in_reply_to: reply.in_reply_to.clone(),
        references: reply.references.clone(),
        forwarded: true,
        extra_headers: Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn aliases_have_a_valid_short_local_part() {
        let a = reverse_alias_for("Jane@Example.com", "Shop.cncg.email", b"secret");
        let (local, domain) = a.split_once('@').unwrap();
        assert_eq!(domain, "shop.cncg.email");
        assert_eq!(local.len(), 34);
        assert!(local.len() <= 64);
        assert!(is_reverse_alias(&a));
        assert!(is_reverse_alias(&a.to_uppercase()));
        assert!(!is_reverse_alias("hello@shop.cncg.email"));
        assert!(!is_reverse_alias("r-1234@shop.cncg.email"));
        assert!(is_reverse_alias(&format!(" <{}> ", a.to_uppercase())));
        assert_eq!(normalize_alias(&format!(" <{}> ", a.to_uppercase())), a);
        assert_eq!(
            a,
            reverse_alias_for("jane@example.com", "shop.cncg.email", b"secret")
        );
    }

    #[test]
    fn aliases_expire_after_thirty_days() {
        let t = Timestamp::from_secs(1_700_000_000);
        let a = ReverseAlias::new("r-x@d", "J@E.com", t);
        assert_eq!(a.original_sender, "j@e.com");
        assert!(a.is_live(t));
        assert!(a.is_live(t + Span::days(30) - Span::millis(1)));
        assert!(!a.is_live(t + Span::days(30)));
    }
}
