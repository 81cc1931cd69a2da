//! The approval relay: AI drafts that wait for the owner's yes before reaching the customer.
//!
//! With approval on, an AI reply becomes a [`Draft`] posted to the tenant's approval target (a
//! Discord channel with buttons, or an email digest with signed links) instead of the customer.
//! Approving sends it through the originating channel and stamps the conversation id; rejecting
//! drops it. Drafts never enter the conversation history until they are sent. A draft's context
//! is kept for [`DRAFT_TTL`].

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::channels::discord::{ButtonAction, ButtonRef};
use crate::channels::ReplyRoute;
use crate::ids::{ChannelAccount, ConversationId, ConversationKey};
use crate::time::{Span, Timestamp};

/// How long a draft and its conversation context are kept (`conv:{id}` with a 7-day TTL).
pub const DRAFT_TTL: Span = Span::days(7);

/// Default minutes between email digests.
pub const DEFAULT_DIGEST_CADENCE_MINS: u32 = 15;

fn default_cadence() -> u32 {
    DEFAULT_DIGEST_CADENCE_MINS
}

/// Whether AI replies wait for the owner's approval.
///
/// Drafts go to the owner through [`NotificationConfig`]: a Discord card with buttons when a
/// Discord channel is set, else an email digest every `digest_cadence_mins`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalConfig {
    /// AI replies become drafts that the owner approves or rejects.
    #[serde(default)]
    pub required: bool,
    /// Minutes between email digests.
    #[serde(default = "default_cadence")]
    pub digest_cadence_mins: u32,
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        ApprovalConfig {
            required: false,
            digest_cadence_mins: DEFAULT_DIGEST_CADENCE_MINS,
        }
    }
}

/// Where the owner is reached: handoff pages and approval requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NotificationConfig {
    /// A Discord channel the bot posts to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discord_channel_id: Option<String>,
    /// An email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl NotificationConfig {
    /// Whether any target is set.
    pub fn is_empty(&self) -> bool {
        self.discord_channel_id.is_none() && self.email.is_none()
    }
}

/// An AI reply waiting for approval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    /// The draft's id (derived from the turn, so a retried turn makes the same draft).
    pub id: String,
    /// The conversation it answers.
    pub key: ConversationKey,
    /// The conversation id at the time of the draft (stamped on the send).
    pub conversation_id: ConversationId,
    /// The business account to send from.
    pub account: ChannelAccount,
    /// Where the reply goes.
    pub route: ReplyRoute,
    /// The provider id of the message being answered.
    pub reply_to: Option<String>,
    /// The first characters of the customer's message, for the approver.
    pub inbound_excerpt: String,
    /// The drafted reply.
    pub text: String,
    /// The turn key (debit and send idempotency).
    pub turn_key: String,
    /// When it was drafted.
    pub created_at: Timestamp,
}

impl Draft {
    /// When the draft expires.
    pub fn expires_at(&self) -> Timestamp {
        self.created_at + DRAFT_TTL
    }
}

/// The owner's decision on a draft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// Send the draft as it is.
    Approve,
    /// Send this text instead (an edited draft).
    Edit {
        /// The replacement text.
        text: String,
    },
    /// Do not send anything.
    Reject,
}

/// The owner's decision on one draft: what an approval button (or link) stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftDecision {
    /// The draft decided on.
    pub draft_id: String,
    /// The decision.
    pub decision: ApprovalDecision,
}

impl DraftDecision {
    /// The decision a verified approval button stands for. Approve sends the draft as it is;
    /// Reject and Drop both send nothing (the engine has one way of not sending); Reply sends
    /// `reply_text`, the text the owner wrote in the reply box, instead.
    ///
    /// `None` for a Reply without text, or with only blanks: there is nothing to decide yet,
    /// and the draft stays as it is. `reply_text` is ignored by every other button.
    pub fn from_button(button: &ButtonRef, reply_text: Option<&str>) -> Option<Self> {
        let decision = match button.action {
            ButtonAction::Approve => ApprovalDecision::Approve,
            ButtonAction::Reject | ButtonAction::Drop => ApprovalDecision::Reject,
            ButtonAction::Reply => match reply_text {
                Some(text) if !text.trim().is_empty() => ApprovalDecision::Edit {
                    text: text.to_owned(),
                },
                _ => return None,
            },
        };
        Some(DraftDecision {
            draft_id: button.draft_id.clone(),
            decision,
        })
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Signs an approval link token for `draft_id` and `action` (`approve` / `reject`), valid until
/// `expires_at`: `{expires_secs}.{hex hmac}`.
pub fn sign_link_token(key: &[u8], draft_id: &str, action: &str, expires_at: Timestamp) -> String {
    let expires = expires_at.as_secs();
    format!(
        "{expires}.{}",
        hex::encode(link_mac(key, draft_id, action, expires))
    )
}

/// Verifies an approval link token in constant time.
///
/// # Errors
/// [`LinkTokenError`] when malformed, expired or forged.
pub fn verify_link_token(
    key: &[u8],
    draft_id: &str,
    action: &str,
    token: &str,
    now: Timestamp,
) -> Result<(), LinkTokenError> {
    let (expires, mac_hex) = token.split_once('.').ok_or(LinkTokenError::Malformed)?;
    let expires: i64 = expires.parse().map_err(|_| LinkTokenError::Malformed)?;
    let mac = hex::decode(mac_hex).map_err(|_| LinkTokenError::Malformed)?;
    let mut m = HmacSha256::new_from_slice(key).map_err(|_| LinkTokenError::Malformed)?;
    m.update(link_message(draft_id, action, expires).as_bytes());
    m.verify_slice(&mac).map_err(|_| LinkTokenError::Forged)?;
    if now.as_secs() >= expires {
        return Err(LinkTokenError::Expired);
    }
    Ok(())
}

fn link_message(draft_id: &str, action: &str, expires: i64) -> String {
    format!("approval-link\0{draft_id}\0{action}\0{expires}")
}

fn link_mac(key: &[u8], draft_id: &str, action: &str, expires: i64) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(link_message(draft_id, action, expires).as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// An approval link token that does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkTokenError {
    /// Not `{expires}.{hex}`.
    #[error("malformed approval token")]
    Malformed,
    /// The signature does not match.
    #[error("approval token signature does not match")]
    Forged,
    /// Past its expiry.
    #[error("approval token has expired")]
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn button(action: ButtonAction) -> ButtonRef {
        ButtonRef {
            action,
            draft_id: "drf_1".into(),
        }
    }

    fn decided(decision: ApprovalDecision) -> Option<DraftDecision> {
        Some(DraftDecision {
            draft_id: "drf_1".into(),
            decision,
        })
    }

    #[test]
    fn every_button_stands_for_one_decision_on_its_draft() {
        for text in [None, Some("ignored")] {
            assert_eq!(
                DraftDecision::from_button(&button(ButtonAction::Approve), text),
                decided(ApprovalDecision::Approve)
            );
            assert_eq!(
                DraftDecision::from_button(&button(ButtonAction::Reject), text),
                decided(ApprovalDecision::Reject)
            );
            assert_eq!(
                DraftDecision::from_button(&button(ButtonAction::Drop), text),
                decided(ApprovalDecision::Reject)
            );
        }
        assert_eq!(
            DraftDecision::from_button(&button(ButtonAction::Reply), Some(" Sure, 5 pm! ")),
            decided(ApprovalDecision::Edit {
                text: " Sure, 5 pm! ".into()
            }),
            "the reply is sent as written"
        );
    }

    #[test]
    fn a_reply_without_text_decides_nothing() {
        for text in [None, Some(""), Some(" \n\t ")] {
            assert_eq!(
                DraftDecision::from_button(&button(ButtonAction::Reply), text),
                None,
                "{text:?}"
            );
        }
    }

    #[test]
    fn link_tokens_verify_and_refuse_tampering_and_expiry() {
        let key = b"k";
        let t = sign_link_token(key, "d1", "approve", Timestamp::from_secs(100));
        assert_eq!(
            verify_link_token(key, "d1", "approve", &t, Timestamp::from_secs(99)),
            Ok(())
        );
        assert_eq!(
            verify_link_token(key, "d1", "reject", &t, Timestamp::from_secs(99)),
            Err(LinkTokenError::Forged)
        );
        assert_eq!(
            verify_link_token(key, "d2", "approve", &t, Timestamp::from_secs(99)),
            Err(LinkTokenError::Forged)
        );
        assert_eq!(
            verify_link_token(key, "d1", "approve", &t, Timestamp::from_secs(100)),
            Err(LinkTokenError::Expired)
        );
        let forged_expiry = t.replacen("100", "999", 1);
        assert_eq!(
            verify_link_token(
                key,
                "d1",
                "approve",
                &forged_expiry,
                Timestamp::from_secs(99)
            ),
            Err(LinkTokenError::Forged)
        );
        assert_eq!(
            verify_link_token(key, "d1", "approve", "junk", Timestamp::from_secs(99)),
            Err(LinkTokenError::Malformed)
        );
    }
}
