//! The channels' wire formats as pure functions.
//!
//! Each submodule verifies a platform's signature, parses its webhook payload into the
//! normalized [`InboundMessage`] (or a channel-specific event), and builds outbound requests as
//! data ([`HttpRequest`]). Nothing here performs I/O, so the server and the Cloudflare adapter
//! share one implementation and the fuzzers reach every parser.
//!
//! **Architecture Invariant:** only this module knows the JSON and MIME shapes of Meta,
//! Discord and RFC 5322; the engine sees normalized events.

pub mod discord;
pub mod email;
pub mod instagram;
pub mod meta;
pub mod render;
pub mod split;
pub mod whatsapp;

use serde::{Deserialize, Serialize};

use crate::ids::{Channel, ChannelAccount};
use crate::time::Timestamp;

/// The largest webhook body any channel accepts (Meta's documented 3 MB payload cap).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Why a webhook request was refused. Adapters map [`ChannelError::status`] to the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// The signature header is absent.
    #[error("missing signature header `{0}`")]
    MissingSignature(&'static str),
    /// The signature does not match the body (or is not even well-formed).
    #[error("signature does not match the request body")]
    BadSignature,
    /// A signed timestamp is outside the replay window.
    #[error("request timestamp is outside the replay window")]
    StaleTimestamp,
    /// The body is larger than [`MAX_BODY_BYTES`] (how large, when the adapter read it all).
    /// The message names the limit, not the size: an adapter that stops reading at the limit
    /// answers exactly as one that read the whole body.
    #[error("request body exceeds the limit of {} bytes", MAX_BODY_BYTES)]
    TooLarge(usize),
    /// The body is not the JSON (or MIME) the platform sends, or lacks a required field.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// A verification handshake (e.g. `hub.verify_token`) did not match.
    #[error("verification failed: {0}")]
    VerificationFailed(String),
}

impl ChannelError {
    /// The HTTP status an adapter answers with: 401 for authentication failures, 413 for
    /// oversized bodies, 403 for failed handshakes, 400 for everything else.
    pub fn status(&self) -> u16 {
        match self {
            ChannelError::MissingSignature(_)
            | ChannelError::BadSignature
            | ChannelError::StaleTimestamp => 401,
            ChannelError::TooLarge(_) => 413,
            ChannelError::VerificationFailed(_) => 403,
            ChannelError::Malformed(_) => 400,
        }
    }
}

/// A customer message, normalized across channels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// The channel it arrived on.
    pub channel: Channel,
    /// The business account it was sent to (routes to the tenant).
    pub account: ChannelAccount,
    /// The customer's id on the channel (wa_id, IGSID, Discord user id, email address).
    pub sender: String,
    /// The customer's display name, when the platform sends one.
    pub sender_name: Option<String>,
    /// The provider's message id: the idempotency key (wamid, IG mid, Discord message id,
    /// Message-ID or a content hash).
    pub provider_id: String,
    /// When the platform says the message was sent.
    pub sent_at: Option<Timestamp>,
    /// What the customer sent.
    pub content: MessageContent,
    /// The provider id of the message this one replies to (WhatsApp `context.id`, IG `reply_to`).
    pub reply_to: Option<String>,
    /// Where a reply must go besides the sender (Discord channel, email thread).
    pub route: ReplyRoute,
    /// When the adapter durably acknowledged the message (answered the platform's webhook after
    /// recording it), if it hands the message to the engine later (a job queue).
    ///
    /// The reply buffer's window runs from this time, so messages that queued up behind a
    /// backlog or a restart are batched as the customer sent them, not as a worker happened to
    /// run them. Channel parsers leave it `None`; the engine then uses its clock's now (the
    /// message is taken to arrive when it is processed). A time later than the engine's now
    /// (clock skew between machines) counts as now. Not part of any platform's wire format;
    /// absent from payloads stored before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_at: Option<Timestamp>,
}

impl InboundMessage {
    /// The conversation this message belongs to once its account resolved to `tenant`.
    pub fn conversation_key(&self, tenant: &crate::ids::TenantId) -> crate::ids::ConversationKey {
        crate::ids::ConversationKey::new(tenant.clone(), self.channel, self.sender.clone())
    }

    /// The idempotency key: `{channel}:{provider_id}`.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.channel, self.provider_id)
    }
}

/// The kinds of media a customer can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// A picture.
    Image,
    /// A voice note or audio file.
    Audio,
    /// A video.
    Video,
    /// A document or file.
    Document,
    /// A sticker.
    Sticker,
    /// A shared post or reel (Instagram `share`).
    Share,
    /// A story mention (Instagram).
    StoryMention,
    /// Anything else the platform calls a file.
    File,
}

/// What a customer sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MessageContent {
    /// Plain text.
    Text {
        /// The text.
        body: String,
    },
    /// Media, with its provider id or URL and optional caption.
    Media {
        /// Which kind.
        media: MediaKind,
        /// WhatsApp media id, or the attachment URL on Instagram.
        reference: Option<String>,
        /// MIME type when given.
        mime_type: Option<String>,
        /// The caption or accompanying text.
        caption: Option<String>,
    },
    /// A shared location.
    Location {
        /// Latitude in degrees.
        latitude: f64,
        /// Longitude in degrees.
        longitude: f64,
        /// A place name.
        name: Option<String>,
        /// A street address.
        address: Option<String>,
    },
    /// Shared contact cards (names only; phone numbers are not kept).
    Contacts {
        /// The formatted names.
        names: Vec<String>,
    },
    /// A tap on an interactive element (button reply, list reply, template quick reply).
    Choice {
        /// The id or payload of the choice.
        id: String,
        /// Its visible title.
        title: String,
    },
    /// A reaction to an earlier message; `emoji` is `None` when the reaction was removed.
    Reaction {
        /// The message reacted to.
        message_id: String,
        /// The emoji, or `None` for a removal.
        emoji: Option<String>,
    },
    /// An email.
    Email {
        /// The subject line.
        subject: String,
        /// The text body (HTML turned into text when there is no text part).
        body: String,
        /// Whether the message had attachments.
        has_attachments: bool,
    },
    /// A message type the platform sent but Concierge does not handle.
    Unsupported {
        /// The platform's type name or error text.
        reason: String,
    },
}

impl MessageContent {
    /// The text a reply should answer, if this content warrants a reply at all.
    ///
    /// Reactions and unsupported types return `None`: nobody expects an answer to a 👍.
    pub fn text_for_reply(&self) -> Option<String> {
        match self {
            MessageContent::Text { body } => Some(body.clone()),
            MessageContent::Media { media, caption, .. } => Some(match caption {
                Some(c) if !c.trim().is_empty() => c.clone(),
                _ => format!("[{media:?} sent]").to_lowercase(),
            }),
            MessageContent::Location {
                name,
                address,
                latitude,
                longitude,
            } => {
                let place = name.as_deref().or(address.as_deref()).unwrap_or("");
                Some(format!("[location {place} {latitude},{longitude}]").replace("  ", " "))
            }
            MessageContent::Contacts { names } => Some(format!("[contacts: {}]", names.join(", "))),
            MessageContent::Choice { title, .. } => Some(title.clone()),
            MessageContent::Email { subject, body, .. } => Some(if subject.trim().is_empty() {
                body.clone()
            } else {
                format!("{subject}\n\n{body}")
            }),
            MessageContent::Reaction { .. } | MessageContent::Unsupported { .. } => None,
        }
    }
}

/// Where a reply to an inbound message must be delivered, beyond "back to the sender".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReplyRoute {
    /// Reply directly to the sender on the same account (WhatsApp, Instagram, web).
    #[default]
    Direct,
    /// Reply in a Discord channel, referencing the customer's message.
    DiscordChannel {
        /// The channel id.
        channel_id: String,
        /// The customer's message id (for a message reference).
        message_id: String,
    },
    /// Reply by email on the same thread.
    EmailThread {
        /// Our address the customer wrote to (the reply's From).
        to_address: String,
        /// The customer's subject.
        subject: String,
        /// The customer's Message-ID (the reply's In-Reply-To).
        message_id: Option<String>,
        /// The References chain, oldest first.
        references: Vec<String>,
    },
}

/// A delivery status callback (WhatsApp `statuses`, Instagram read receipts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryStatus {
    /// The channel.
    pub channel: Channel,
    /// The business account.
    pub account: ChannelAccount,
    /// The provider id of our outbound message.
    pub provider_id: String,
    /// The customer.
    pub recipient: String,
    /// What happened.
    pub state: DeliveryState,
    /// When.
    pub at: Option<Timestamp>,
    /// The platform's error text for a failure.
    pub error: Option<String>,
    /// The opaque data the send request carried, echoed back by the platform (WhatsApp
    /// `biz_opaque_callback_data`): which outbox message part this status is about. `None`
    /// when the platform has no such field or the message was sent without it.
    #[serde(default)]
    pub callback_data: Option<String>,
}

/// The life of an outbound message as the platform reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Accepted by the platform.
    Sent,
    /// Delivered to the device.
    Delivered,
    /// Read by the customer.
    Read,
    /// Delivery failed.
    Failed,
    /// Removed by its sender (Instagram unsend).
    Deleted,
}

impl DeliveryState {
    /// Every state, in declaration order.
    pub const ALL: [DeliveryState; 5] = [
        DeliveryState::Sent,
        DeliveryState::Delivered,
        DeliveryState::Read,
        DeliveryState::Failed,
        DeliveryState::Deleted,
    ];

    /// The lower-case name (`sent`, `delivered`, `read`, `failed`, `deleted`), as the platforms
    /// and the stores spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Sent => "sent",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Read => "read",
            DeliveryState::Failed => "failed",
            DeliveryState::Deleted => "deleted",
        }
    }
}

impl std::fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DeliveryState {
    type Err = crate::delivery::UnknownState;

    /// The state named by [`DeliveryState::as_str`].
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        DeliveryState::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| crate::delivery::UnknownState::new("delivery", name))
    }
}

/// An HTTP request built by the core; the adapter sends it with its own client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path relative to the API base URL, starting with `/` (e.g. `/v21.0/123/messages`).
    pub path: String,
    /// Headers other than authorization, which the adapter adds from its encrypted secrets.
    pub headers: Vec<(String, String)>,
    /// The body (JSON text or MIME bytes as UTF-8).
    pub body: String,
}

impl HttpRequest {
    /// A JSON `POST` to `path`.
    pub fn post_json(path: impl Into<String>, body: &serde_json::Value) -> Self {
        HttpRequest {
            method: "POST".into(),
            path: path.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }
}

/// Rejects bodies over [`MAX_BODY_BYTES`] before any parsing.
///
/// # Errors
/// [`ChannelError::TooLarge`].
pub fn check_size(body: &[u8]) -> Result<(), ChannelError> {
    if body.len() > MAX_BODY_BYTES {
        Err(ChannelError::TooLarge(body.len()))
    } else {
        Ok(())
    }
}
