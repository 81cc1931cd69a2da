//! Discord: interactions, application webhook events and REST requests as pure functions.
//!
//! Two HTTP endpoints receive Discord traffic, and both are signed the same way
//! ([`verify_request`], Ed25519 over `timestamp + body`):
//!
//! - `POST /discord/interactions`: slash commands and button clicks
//!   ([`parse_interaction_with_key`]); answer with one of the response builders
//!   ([`pong`], [`message_response`], [`deferred_response`], [`update_message`],
//!   [`autocomplete_result`]) within 3 seconds, then send more with [`followup_request`].
//! - `POST /discord/events`: application webhook events ([`parse_event`]); answer `204` to every
//!   verified event, then decide with [`message_to_inbound`] whether a `MESSAGE_CREATE` is a
//!   customer message for the engine.
//!
//! Outbound messages ([`channel_message`]) and approval cards ([`approval_request`]) are built as
//! [`HttpRequest`](super::HttpRequest)s with paths that include the `/api/v10` prefix, relative to
//! `https://discord.com`; the adapter adds `Authorization: Bot <token>`.
//!
//! Call order on the interactions endpoint: [`check_size`](super::check_size) (done inside
//! [`verify_request`] too), [`verify_request`], then [`parse_interaction_with_key`].

mod custom_id;
mod event;
mod interaction;
mod outbound;
mod signature;

pub use custom_id::{
    sign_custom_id, verify_custom_id, ButtonAction, ButtonRef, CUSTOM_ID_MAX_CHARS,
    MAX_DRAFT_ID_LEN,
};
pub(crate) use event::screen;
pub use event::{
    message_to_inbound, parse_event, parse_message, DiscordAttachment, DiscordAuthor, DiscordEvent,
    DiscordMessage, DiscordTriggers, IgnoredReason,
};
pub use interaction::{
    autocomplete_result, deferred_response, followup_request, message_response, parse_interaction,
    parse_interaction_with_key, pong, update_message, CommandOption, FocusedOption, Interaction,
    SlashCommand, AUTOCOMPLETE_MAX_CHOICES, EPHEMERAL_FLAG,
};
pub use outbound::{
    approval_request, channel_message, parse_api_error, parse_create_message_response, with_nonces,
    ApprovalCard, DiscordApiError, API_PREFIX, EMBED_DESCRIPTION_MAX_CHARS, EMBED_TOTAL_MAX_CHARS,
};
pub use signature::{
    verify_request, verify_request_with_key, DiscordPublicKey, InvalidPublicKey, REPLAY_WINDOW,
    SIGNATURE_HEADER, TIMESTAMP_HEADER,
};

use unicode_segmentation::UnicodeSegmentation;

/// Cuts `text` to at most `max_chars` characters (Unicode scalar values) on a grapheme boundary,
/// ending with `…` when something was cut.
pub(crate) fn truncate_chars(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    if max_chars == 0 {
        return String::new();
    }
    let budget = max_chars - 1; // room for the ellipsis
    let mut out = String::new();
    let mut used = 0;
    for g in text.graphemes(true) {
        let n = g.chars().count();
        if used + n > budget {
            break;
        }
        out.push_str(g);
        used += n;
    }
    let trimmed_len = out.trim_end().len();
    out.truncate(trimmed_len);
    out.push('…');
    out
}

/// Percent-encodes one URL path segment (everything but RFC 3986 unreserved characters), so an
/// id or token taken from a payload can never change the request path.
pub(crate) fn path_segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The creation time encoded in a Discord snowflake (milliseconds since the Discord epoch,
/// 2015-01-01, in the top 42 bits), or `None` if `id` is not a snowflake.
pub(crate) fn snowflake_time(id: &str) -> Option<crate::time::Timestamp> {
    const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;
    let raw: u64 = id.parse().ok()?;
    let ms = i64::try_from(raw >> 22).ok()?;
    Some(crate::time::Timestamp::from_millis(DISCORD_EPOCH_MS + ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_graphemes_whole_and_marks_the_cut() {
        assert_eq!(truncate_chars("hello", 5), "hello");
        assert_eq!(truncate_chars("hello world", 8), "hello w…");
        assert_eq!(truncate_chars("hello world", 7), "hello…");
        // A family emoji is 7 scalar values; it is never split.
        let family = "👨‍👩‍👧‍👦";
        assert_eq!(truncate_chars(&format!("ab{family}"), 8), "ab…");
        assert_eq!(truncate_chars("abc", 0), "");
    }

    #[test]
    fn path_segments_cannot_escape() {
        assert_eq!(path_segment("123"), "123");
        assert_eq!(path_segment("../x?y"), "..%2Fx%3Fy");
    }

    #[test]
    fn snowflakes_carry_their_creation_time() {
        // The example from Discord's reference: 175928847299117063 → 2016-04-30T11:18:25.796Z.
        assert_eq!(
            snowflake_time("175928847299117063"),
            Some(crate::time::Timestamp::from_millis(1_462_015_105_796))
        );
        assert_eq!(snowflake_time("not-a-snowflake"), None);
    }
}
