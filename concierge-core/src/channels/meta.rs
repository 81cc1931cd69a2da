//! What WhatsApp and Instagram share because both are Meta webhooks on the Graph API.
//!
//! - [`verify_signature`] checks `X-Hub-Signature-256` on every `POST` (HMAC-SHA256 of the raw
//!   body keyed with the app secret), in constant time.
//! - [`verify_subscription`] answers the `GET` handshake Meta sends when a webhook URL is
//!   configured (`hub.mode=subscribe&hub.verify_token=...&hub.challenge=...`).
//! - [`check_service_window`] decides whether a free-form reply is still allowed: both channels
//!   only accept free-form messages within 24 hours of the customer's last message.
//! - [`parse_graph_error`] turns a Graph API error body into a [`GraphError`] that says whether
//!   the send is worth retrying.
//!
//! Call order for an adapter: verify the signature on the raw bytes, *then* parse the body with
//! [`whatsapp::parse_webhook`](super::whatsapp::parse_webhook) or
//! [`instagram::parse_webhook`](super::instagram::parse_webhook).

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::ChannelError;
use crate::time::{Span, Timestamp};

/// The Graph API version every outbound path is built with (`/v21.0/...`).
pub const GRAPH_API_VERSION: &str = "v21.0";

/// The header Meta signs webhook deliveries with.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// How long after a customer's last message a business may answer with free-form messages
/// (Meta's customer service window, on WhatsApp and on Instagram alike).
pub const SERVICE_WINDOW: Span = Span::hours(24);

/// Checks `X-Hub-Signature-256: sha256=<hex>` against the raw request body.
///
/// The signature is HMAC-SHA256 over the exact bytes Meta sent, keyed with the app secret; the
/// comparison is constant time. Verify before parsing, on the bytes as received (re-serialized
/// JSON would not match: Meta escapes non-ASCII characters as `\uXXXX`).
///
/// # Errors
/// - [`ChannelError::MissingSignature`] when the header is absent or blank.
/// - [`ChannelError::BadSignature`] when it is not `sha256=` followed by 64 hex digits, when it
///   does not match the body, or when `app_secret` is empty (a misconfiguration that would
///   otherwise let anyone sign with the empty key).
pub fn verify_signature(
    app_secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), ChannelError> {
    let header = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(ChannelError::MissingSignature(SIGNATURE_HEADER))?;
    if app_secret.is_empty() {
        return Err(ChannelError::BadSignature);
    }
    let hex_sig = header
        .get(..7)
        .filter(|prefix| prefix.eq_ignore_ascii_case("sha256="))
        .and_then(|_| header.get(7..))
        .ok_or(ChannelError::BadSignature)?;
    let expected = hex::decode(hex_sig).map_err(|_| ChannelError::BadSignature)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret).map_err(|_| ChannelError::BadSignature)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| ChannelError::BadSignature)
}

/// Answers Meta's webhook verification `GET`.
///
/// `query` is the raw query string (with or without the leading `?`); values are URL-decoded.
/// Returns the `hub.challenge` to echo back as the `200` response body.
///
/// # Errors
/// - [`ChannelError::Malformed`] when `hub.mode`, `hub.verify_token` or `hub.challenge` is
///   missing or the challenge is empty (answer 400).
/// - [`ChannelError::VerificationFailed`] when the mode is not `subscribe`, the token differs
///   from `verify_token` (compared in constant time), or `verify_token` is empty (answer 403).
pub fn verify_subscription(query: &str, verify_token: &str) -> Result<String, ChannelError> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let (mut mode, mut token, mut challenge) = (None, None, None);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match key.as_ref() {
            "hub.mode" => &mut mode,
            "hub.verify_token" => &mut token,
            "hub.challenge" => &mut challenge,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value.into_owned());
        }
    }
    let missing = |name: &str| ChannelError::Malformed(format!("missing `{name}` parameter"));
    let mode = mode.ok_or_else(|| missing("hub.mode"))?;
    let token = token.ok_or_else(|| missing("hub.verify_token"))?;
    let challenge = challenge
        .filter(|c| !c.is_empty())
        .ok_or_else(|| missing("hub.challenge"))?;
    if mode != "subscribe" {
        return Err(ChannelError::VerificationFailed(format!(
            "hub.mode is `{mode}`, expected `subscribe`"
        )));
    }
    let token_ok: bool = token.as_bytes().ct_eq(verify_token.as_bytes()).into();
    if verify_token.is_empty() || !token_ok {
        return Err(ChannelError::VerificationFailed(
            "hub.verify_token does not match the configured token".into(),
        ));
    }
    Ok(challenge)
}

/// A free-form message may not be sent: the customer service window is closed.
///
/// Send an approved template instead (WhatsApp: [`template_message`](super::whatsapp::template_message))
/// or wait for the customer to write again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("outside the 24-hour customer service window{}", describe_window(*.last_customer_message_at, *.closed_at))]
pub struct OutsideWindow {
    /// When the customer last wrote, or `None` if they never have.
    pub last_customer_message_at: Option<Timestamp>,
    /// When the window closed (`last_customer_message_at + 24h`), or `None` if it never opened.
    pub closed_at: Option<Timestamp>,
}

fn describe_window(last: Option<Timestamp>, closed: Option<Timestamp>) -> String {
    match (last, closed) {
        (Some(last), Some(closed)) => {
            format!(": the customer last wrote at {last}, the window closed at {closed}")
        }
        _ => ": the customer has not written yet".to_owned(),
    }
}

/// Whether a free-form message may be sent at `now`.
///
/// The window is open for [`SERVICE_WINDOW`] after the customer's last message, end excluded:
/// exactly 24 hours later it is closed.
///
/// # Errors
/// [`OutsideWindow`] when the customer never wrote or wrote 24 hours ago or more.
pub fn check_service_window(
    last_customer_message_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), OutsideWindow> {
    match last_customer_message_at {
        Some(last) if now < last + SERVICE_WINDOW => Ok(()),
        Some(last) => Err(OutsideWindow {
            last_customer_message_at: Some(last),
            closed_at: Some(last + SERVICE_WINDOW),
        }),
        None => Err(OutsideWindow {
            last_customer_message_at: None,
            closed_at: None,
        }),
    }
}

/// An error answered by the Graph API (`{"error":{"message","type","code","fbtrace_id"}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("Graph API error {code}: {message}")]
pub struct GraphError {
    /// Meta's error code (`4`, `100`, `131047`, ...).
    pub code: i64,
    /// `error_subcode`, when given.
    pub subcode: Option<i64>,
    /// Meta's message text.
    pub message: String,
    /// `error_data.details` (WhatsApp) or `error_user_msg`, when given.
    pub details: Option<String>,
    /// The trace id Meta support asks for.
    pub fbtrace_id: Option<String>,
    /// Whether sending the same request later may succeed: rate limits (codes 4, 17, 32, 613,
    /// 80002, 80006, 80007, 130429, 131048, 131056), temporary server trouble (1, 2, 131000,
    /// 131016, 131057, 133004) and anything Meta marks `is_transient`.
    pub retryable: bool,
}

/// Graph error codes that mean "slow down and retry".
const RATE_LIMIT_CODES: &[i64] = &[4, 17, 32, 613, 80002, 80006, 80007, 130429, 131048, 131056];
/// Graph error codes that mean "temporary server trouble".
const TRANSIENT_CODES: &[i64] = &[1, 2, 131000, 131016, 131057, 133004];

impl GraphError {
    /// Whether Meta refused a free-form message because the customer service window is closed:
    /// WhatsApp `131047` ("Re-engagement message"), Instagram `10`/`2534022` and Messenger
    /// `10`/`2018278` ("This message is sent outside of allowed window"). Not retryable: send a
    /// template (WhatsApp) or wait for the customer.
    pub fn is_outside_window(&self) -> bool {
        self.code == 131047
            || (self.code == 10 && matches!(self.subcode, Some(2534022) | Some(2018278)))
    }

    /// Whether the error is a rate limit (a subset of [`GraphError::retryable`]).
    pub fn is_rate_limit(&self) -> bool {
        RATE_LIMIT_CODES.contains(&self.code)
    }
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: GraphErrorFields,
}

#[derive(Deserialize)]
struct GraphErrorFields {
    #[serde(default)]
    message: String,
    code: i64,
    #[serde(default)]
    error_subcode: Option<i64>,
    #[serde(default)]
    fbtrace_id: Option<String>,
    #[serde(default)]
    is_transient: Option<bool>,
    #[serde(default)]
    error_user_msg: Option<String>,
    #[serde(default)]
    error_data: Option<GraphErrorData>,
}

#[derive(Deserialize)]
struct GraphErrorData {
    #[serde(default)]
    details: Option<String>,
}

/// Reads a Graph API error body; `None` when `body` is not one (e.g. a success response).
///
/// Call it on any non-2xx answer from the Graph API (and on a 2xx whose body does not parse as
/// a send response).
pub fn parse_graph_error(body: &[u8]) -> Option<GraphError> {
    let parsed: GraphErrorBody = serde_json::from_slice(body).ok()?;
    let e = parsed.error;
    let retryable = e.is_transient == Some(true)
        || RATE_LIMIT_CODES.contains(&e.code)
        || TRANSIENT_CODES.contains(&e.code);
    Some(GraphError {
        code: e.code,
        subcode: e.error_subcode,
        message: e.message,
        details: e.error_data.and_then(|d| d.details).or(e.error_user_msg),
        fbtrace_id: e.fbtrace_id,
        retryable,
    })
}

/// The error for a send response that is not the expected success shape.
pub(crate) fn send_response_error(body: &[u8], what: &str) -> ChannelError {
    match parse_graph_error(body) {
        Some(e) => ChannelError::Malformed(format!("{e} (see meta::parse_graph_error)")),
        None => ChannelError::Malformed(format!("send response without {what}")),
    }
}

/// A path segment safe to put in a Graph URL: unreserved characters except `.` are kept, all
/// other bytes are percent-encoded (so an id can never become `..` or add a path segment).
pub(crate) fn path_segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'~' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_cannot_escape() {
        assert_eq!(path_segment("106540352242922"), "106540352242922");
        assert_eq!(path_segment("../me"), "%2E%2E%2Fme");
        assert_eq!(path_segment("a b?c"), "a%20b%3Fc");
    }

    #[test]
    fn window_error_reads_well() {
        assert_eq!(
            check_service_window(None, Timestamp(0)).map_err(|e| e.to_string()),
            Err(
                "outside the 24-hour customer service window: the customer has not written yet"
                    .to_owned()
            )
        );
    }
}
