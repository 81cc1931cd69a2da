//! REST requests to Discord (messages, approval cards) and its responses.

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::custom_id::{sign_custom_id, ButtonAction};
use super::{path_segment, truncate_chars};
use crate::approval::Draft;
use crate::channels::split::{split_message, DISCORD_MAX_CHARS};
use crate::channels::{check_size, ChannelError, HttpRequest};
use crate::time::Span;

/// The prefix of every Discord REST path built here; the adapter prepends
/// `https://discord.com`.
pub const API_PREFIX: &str = "/api/v10";
/// Discord's limit on an embed description.
pub const EMBED_DESCRIPTION_MAX_CHARS: usize = 4096;
/// Discord's limit on all of an embed's text together (title, description, field names and
/// values, footer).
pub const EMBED_TOTAL_MAX_CHARS: usize = 6000;
const EMBED_FIELD_VALUE_MAX_CHARS: usize = 1024;
const CARD_COLOR: u32 = 0xF1_C4_0F; // amber: waiting

/// A draft reply waiting for a human's decision, as shown on the tenant's approval channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalCard {
    /// The approval draft id (at most [`MAX_DRAFT_ID_LEN`](super::MAX_DRAFT_ID_LEN) bytes).
    pub draft_id: String,
    /// The customer's channel, e.g. `whatsapp`.
    pub customer_channel: String,
    /// Who the customer is (a name, number or address).
    pub customer: String,
    /// The start of the customer's message.
    pub inbound_excerpt: String,
    /// The drafted reply.
    pub draft_text: String,
    /// The conversation, when known.
    pub conversation_id: Option<String>,
}

impl ApprovalCard {
    /// The card for an engine draft: the customer is shown by their channel id (number, IGSID,
    /// Discord user id or address).
    pub fn from_draft(draft: &Draft) -> Self {
        ApprovalCard {
            draft_id: draft.id.clone(),
            customer_channel: draft.key.channel.to_string(),
            customer: draft.key.sender.clone(),
            inbound_excerpt: draft.inbound_excerpt.clone(),
            draft_text: draft.text.clone(),
            conversation_id: Some(draft.conversation_id.to_string()),
        }
    }
}

fn messages_path(channel_id: &str) -> String {
    format!(
        "{API_PREFIX}/channels/{}/messages",
        path_segment(channel_id)
    )
}

/// Sends `content` to a channel: `POST /api/v10/channels/{id}/messages`, one request per part
/// of at most 2000 characters (see [`split_message`]), in order.
///
/// The first part replies to `reply_to_message_id` when given (a message reference that does
/// not fail if the customer deleted their message, and notifies them); no part can ping
/// `@everyone`, roles or users. Empty content gives no requests.
pub fn channel_message(
    channel_id: &str,
    content: &str,
    reply_to_message_id: Option<&str>,
) -> Vec<HttpRequest> {
    split_message(content, DISCORD_MAX_CHARS)
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let mut body = json!({
                "content": part,
                "allowed_mentions": { "parse": [] },
            });
            if let (0, Some(reference)) = (i, reply_to_message_id) {
                body["message_reference"] =
                    json!({ "message_id": reference, "fail_if_not_exists": false });
                body["allowed_mentions"]["replied_user"] = json!(true);
            }
            HttpRequest::post_json(messages_path(channel_id), &body)
        })
        .collect()
}

/// Makes create-message requests idempotent at Discord: each gets a `nonce` derived from
/// `idempotency_key` and its position, with `enforce_nonce: true`, so a resend after a crash
/// (same key) is answered with the message already created instead of a second one. Discord
/// enforces nonces for a few minutes; the adapter's own send record covers longer gaps.
pub fn with_nonces(mut requests: Vec<HttpRequest>, idempotency_key: &str) -> Vec<HttpRequest> {
    for (i, request) in requests.iter_mut().enumerate() {
        // `from_slice`, not `from_str`: one JSON deserializer in the Worker (safety.rs).
        let Ok(mut body) = serde_json::from_slice::<Value>(request.body.as_bytes()) else {
            continue;
        };
        let digest = Sha256::digest(format!("{idempotency_key}\0{i}").as_bytes());
        // Discord nonces are at most 25 characters.
        let nonce: String = hex::encode(digest).chars().take(25).collect();
        body["nonce"] = json!(nonce);
        body["enforce_nonce"] = json!(true);
        request.body = body.to_string();
    }
    requests
}

fn field(name: &str, value: &str, max: usize, inline: bool) -> (usize, Value) {
    let value = if value.trim().is_empty() {
        "—".to_owned() // Discord refuses empty field values
    } else {
        truncate_chars(value.trim(), max)
    };
    let chars = name.chars().count() + value.chars().count();
    (
        chars,
        json!({ "name": name, "value": value, "inline": inline }),
    )
}

/// Posts an approval card to the tenant's approval channel: an embed showing the customer,
/// their message and the draft (as the description, cut to fit the embed limits), and one row of
/// buttons — Approve (green), Reject (red), Drop (grey) — whose `custom_id`s are signed with
/// `key` ([`sign_custom_id`]). There is no Reply button: writing another reply needs a modal,
/// which is not supported.
pub fn approval_request(channel_id: &str, card: &ApprovalCard, key: &[u8]) -> HttpRequest {
    let title = "Reply waiting for approval";
    let footer = truncate_chars(&format!("Draft {}", card.draft_id), 256);
    let mut fields = vec![
        field("Customer", &card.customer, 256, true),
        field("Channel", &card.customer_channel, 64, true),
    ];
    if let Some(conversation) = &card.conversation_id {
        fields.push(field("Conversation", conversation, 128, true));
    }
    fields.push(field(
        "Their message",
        &card.inbound_excerpt,
        EMBED_FIELD_VALUE_MAX_CHARS,
        false,
    ));
    let used = title.chars().count()
        + footer.chars().count()
        + fields.iter().map(|(n, _)| n).sum::<usize>();
    let budget = EMBED_DESCRIPTION_MAX_CHARS.min(EMBED_TOTAL_MAX_CHARS.saturating_sub(used));
    let description = if card.draft_text.trim().is_empty() {
        "(empty draft)".to_owned()
    } else {
        truncate_chars(&card.draft_text, budget)
    };

    let button = |label: &str, style: u8, action: ButtonAction| {
        json!({
            "type": 2,
            "style": style,
            "label": label,
            "custom_id": sign_custom_id(key, action, &card.draft_id),
        })
    };
    let body = json!({
        "embeds": [{
            "title": title,
            "description": description,
            "color": CARD_COLOR,
            "fields": fields.into_iter().map(|(_, f)| f).collect::<Vec<_>>(),
            "footer": { "text": footer },
        }],
        "components": [{
            "type": 1,
            "components": [
                button("Approve", 3, ButtonAction::Approve),
                button("Reject", 4, ButtonAction::Reject),
                button("Drop", 2, ButtonAction::Drop),
            ],
        }],
        "allowed_mentions": { "parse": [] },
    });
    HttpRequest::post_json(messages_path(channel_id), &body)
}

#[derive(Deserialize)]
struct RawCreated {
    id: String,
}

/// The id of the message Discord created, from a `2xx` answer to a create-message request.
///
/// # Errors
/// [`ChannelError::TooLarge`] for an oversized body; [`ChannelError::Malformed`] if the body is
/// not a message object with an `id`.
pub fn parse_create_message_response(body: &[u8]) -> Result<String, ChannelError> {
    check_size(body)?;
    serde_json::from_slice::<RawCreated>(body)
        .map(|m| m.id)
        .map_err(|e| ChannelError::Malformed(format!("create message response: {e}")))
}

/// An error answer from Discord's REST API (`{"code":..,"message":..}`; a `429` also carries
/// `retry_after` seconds and `global`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("Discord API error {code}: {message}")]
pub struct DiscordApiError {
    /// Discord's JSON error code (e.g. 10003 unknown channel, 50001 missing access, 50013
    /// missing permissions); `0` when absent, as in most rate-limit answers.
    pub code: u32,
    /// Discord's human-readable message.
    pub message: String,
    /// For a rate limit: seconds to wait before retrying.
    pub retry_after: Option<f64>,
    /// For a rate limit: whether it is the global one (every route is blocked).
    pub global: bool,
}

impl DiscordApiError {
    /// How long to wait before retrying, rounded up to the millisecond, for a rate limit.
    pub fn retry_after_span(&self) -> Option<Span> {
        self.retry_after
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Span::millis((s * 1000.0).ceil() as i64))
    }
}

#[derive(Deserialize)]
struct RawApiError {
    #[serde(default)]
    code: u32,
    message: String,
    retry_after: Option<f64>,
    #[serde(default)]
    global: bool,
}

/// Reads the error body of a non-`2xx` answer from Discord's REST API.
///
/// # Errors
/// [`ChannelError::TooLarge`] for an oversized body; [`ChannelError::Malformed`] if it is not
/// Discord's JSON error shape (e.g. an HTML page from a proxy): the adapter then falls back on
/// the HTTP status.
pub fn parse_api_error(body: &[u8]) -> Result<DiscordApiError, ChannelError> {
    check_size(body)?;
    let raw: RawApiError = serde_json::from_slice(body)
        .map_err(|e| ChannelError::Malformed(format!("Discord error body: {e}")))?;
    Ok(DiscordApiError {
        code: raw.code,
        message: raw.message,
        retry_after: raw.retry_after,
        global: raw.global,
    })
}
