//! Signed button `custom_id`s: a compact, tamper-evident reference to an approval draft.
//!
//! Format: `v1:{action}:{draft_id}:{tag}` where `action` is one letter (`r`eply, `a`pprove,
//! `x` reject, `d`rop) and `tag` is the first 16 bytes of
//! HMAC-SHA256(key, `"concierge/discord-button\0" + "v1:{action}:{draft_id}"`), base64url
//! without padding (22 characters). The draft id may contain `:`; the tag is always after the
//! last one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::channels::ChannelError;

/// Discord's limit on a component's `custom_id`.
pub const CUSTOM_ID_MAX_CHARS: usize = 100;
/// The longest draft id (in bytes) whose signed `custom_id` fits [`CUSTOM_ID_MAX_CHARS`].
pub const MAX_DRAFT_ID_LEN: usize = CUSTOM_ID_MAX_CHARS - OVERHEAD;

const VERSION: &str = "v1";
const TAG_BYTES: usize = 16;
const TAG_CHARS: usize = 22; // base64url of 16 bytes, unpadded
/// `v1:` + action + `:` + `:` + tag.
const OVERHEAD: usize = VERSION.len() + 1 + 1 + 1 + 1 + TAG_CHARS;
const DOMAIN: &[u8] = b"concierge/discord-button\0";

/// What a button on an approval card does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonAction {
    /// Write a different reply (not on the card today: it needs a modal).
    Reply,
    /// Send the draft as it is.
    Approve,
    /// Refuse the draft; the conversation goes to a human.
    Reject,
    /// Discard the draft silently.
    Drop,
}

impl ButtonAction {
    fn letter(self) -> char {
        match self {
            ButtonAction::Reply => 'r',
            ButtonAction::Approve => 'a',
            ButtonAction::Reject => 'x',
            ButtonAction::Drop => 'd',
        }
    }

    fn from_letter(s: &str) -> Option<Self> {
        match s {
            "r" => Some(ButtonAction::Reply),
            "a" => Some(ButtonAction::Approve),
            "x" => Some(ButtonAction::Reject),
            "d" => Some(ButtonAction::Drop),
            _ => None,
        }
    }
}

/// A verified button: which action on which draft.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ButtonRef {
    /// The action.
    pub action: ButtonAction,
    /// The approval draft it applies to.
    pub draft_id: String,
}

fn mac(key: &[u8], signed: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(DOMAIN);
    mac.update(signed.as_bytes());
    mac
}

/// Signs a button's `custom_id` for `action` on `draft_id` with the tenant's (or deployment's)
/// button key.
///
/// The result is `draft_id.len() + 28` characters: it fits Discord's 100-character limit for
/// draft ids up to [`MAX_DRAFT_ID_LEN`] (72) bytes. Longer ids produce a `custom_id` Discord
/// will refuse, so keep draft ids short.
pub fn sign_custom_id(key: &[u8], action: ButtonAction, draft_id: &str) -> String {
    let signed = format!("{VERSION}:{}:{draft_id}", action.letter());
    let tag = mac(key, &signed).finalize().into_bytes();
    format!("{signed}:{}", URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES]))
}

/// Verifies a `custom_id` made by [`sign_custom_id`] with the same key (constant-time tag check).
///
/// # Errors
/// - [`ChannelError::Malformed`] if it is not a Concierge button id at all (another version or
///   format, or an empty draft id);
/// - [`ChannelError::BadSignature`] if the tag is missing, mis-sized or does not match: the id
///   was altered, or signed with another key (e.g. before a key rotation).
pub fn verify_custom_id(key: &[u8], custom_id: &str) -> Result<ButtonRef, ChannelError> {
    let malformed = || ChannelError::Malformed("not a Concierge button custom_id".into());
    let rest = custom_id
        .strip_prefix(VERSION)
        .and_then(|r| r.strip_prefix(':'))
        .ok_or_else(malformed)?;
    let (signed, tag_text) = custom_id
        .rsplit_once(':')
        .ok_or(ChannelError::BadSignature)?;
    let (letter, draft_id) = rest.split_once(':').ok_or_else(malformed)?;
    // `draft_id` still ends with `:{tag}`; cut it off.
    let draft_id = draft_id
        .rsplit_once(':')
        .map(|(d, _)| d)
        .ok_or(ChannelError::BadSignature)?;

    if tag_text.len() != TAG_CHARS {
        return Err(ChannelError::BadSignature);
    }
    let tag = URL_SAFE_NO_PAD
        .decode(tag_text)
        .map_err(|_| ChannelError::BadSignature)?;
    if tag.len() != TAG_BYTES {
        return Err(ChannelError::BadSignature);
    }
    mac(key, signed)
        .verify_truncated_left(&tag)
        .map_err(|_| ChannelError::BadSignature)?;

    let action = ButtonAction::from_letter(letter).ok_or_else(malformed)?;
    if draft_id.is_empty() {
        return Err(malformed());
    }
    Ok(ButtonRef {
        action,
        draft_id: draft_id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overhead_matches_the_documented_length() {
        let id = sign_custom_id(b"k", ButtonAction::Approve, "d1");
        assert_eq!(id.len(), 2 + OVERHEAD);
        assert_eq!(MAX_DRAFT_ID_LEN, 72);
    }

    #[test]
    fn a_draft_id_with_colons_round_trips() {
        let id = sign_custom_id(b"k", ButtonAction::Drop, "a:b:c");
        assert_eq!(
            verify_custom_id(b"k", &id),
            Ok(ButtonRef {
                action: ButtonAction::Drop,
                draft_id: "a:b:c".into()
            })
        );
    }

    #[test]
    fn a_short_tag_is_refused_even_if_its_prefix_matches() {
        let id = sign_custom_id(b"k", ButtonAction::Approve, "d1");
        let short = &id[..id.len() - 2];
        assert_eq!(
            verify_custom_id(b"k", short),
            Err(ChannelError::BadSignature)
        );
    }
}
