//! Instagram direct messages (Messenger platform / Instagram API) wire format.
//!
//! Inbound: [`parse_webhook`] turns a verified webhook body (check it first with
//! [`meta::verify_signature`]) into [`InstagramEvent`]s.
//!
//! The business account of every event is `entry[].id`, which Meta documents as the Instagram
//! professional account id; for a customer's message it is also `recipient.id` (for our own
//! echoes it is `sender.id`), so one rule covers all events. It keys the `ig_page:` reverse
//! index.
//!
//! Outbound: [`text_message`] builds `POST /{GRAPH_API_VERSION}/me/messages` requests (the
//! adapter picks the host, `graph.facebook.com` with a page token or `graph.instagram.com` with
//! an Instagram token); [`parse_send_response`] reads the accepted message id and
//! [`meta::parse_graph_error`] a refusal. Replies are only
//! accepted within the customer service window
//! ([`meta::check_service_window`]).

use serde::Deserialize;
use serde_json::{json, Value};

use super::meta::{self, GRAPH_API_VERSION};
use super::split::{split_message, INSTAGRAM_MAX_CHARS};
use super::{
    check_size, ChannelError, DeliveryState, DeliveryStatus, HttpRequest, InboundMessage,
    MediaKind, MessageContent, ReplyRoute,
};
use crate::ids::{Channel, ChannelAccount};
use crate::time::Timestamp;

/// The `object` of Instagram messaging webhooks.
pub const WEBHOOK_OBJECT: &str = "instagram";

/// One thing an Instagram webhook delivery reported.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // short-lived parser output; boxing would only add an allocation
pub enum InstagramEvent {
    /// A customer wrote, reacted, tapped a quick reply or an icebreaker.
    Message(InboundMessage),
    /// A customer read our message ([`DeliveryState::Read`]) or unsent one of theirs
    /// ([`DeliveryState::Deleted`], `provider_id` is their message and `recipient` the customer).
    Status(DeliveryStatus),
    /// A message the business account itself sent (by Concierge or by a person in the
    /// Instagram app). The engine ignores it; it is not a customer message.
    Echo {
        /// The message id.
        mid: String,
    },
    /// The handover protocol gave another app control of the conversation: Meta delivered the
    /// message on `standby`, and Concierge must not answer it.
    Standby {
        /// Why it was set aside.
        reason: String,
    },
    /// Something Concierge does not act on (comments, referrals, unknown messaging events).
    Ignored {
        /// What was ignored and why (ids and type names only, never content).
        reason: String,
    },
}

/// Parses an Instagram messaging webhook body into events, in delivery order.
///
/// Reads every `entry[].messaging[]` item (messages, reactions, postbacks, read receipts);
/// `entry[].standby[]` items become [`InstagramEvent::Standby`] and `entry[].changes[]`
/// (comments, mentions) become [`InstagramEvent::Ignored`]. A message with several attachments
/// yields one [`InboundMessage`] per attachment; the first keeps the `mid` as provider id, the
/// next ones get `{mid}#2`, `{mid}#3`, ... so each has its own idempotency key.
///
/// Only `object: "instagram"` is accepted: `page` deliveries are Facebook Messenger
/// conversations (page-scoped ids), not Instagram ones.
///
/// # Errors
/// - [`ChannelError::TooLarge`] for bodies over [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES).
/// - [`ChannelError::Malformed`] when the body is not JSON, `object` is not `instagram`, an
///   entry lacks its `id`, a messaging item lacks `sender.id`, a message lacks its `mid`, or
///   a field has the wrong type.
pub fn parse_webhook(body: &[u8]) -> Result<Vec<InstagramEvent>, ChannelError> {
    check_size(body)?;
    let envelope: Envelope = serde_json::from_slice(body).map_err(malformed)?;
    if envelope.object != WEBHOOK_OBJECT {
        return Err(ChannelError::Malformed(format!(
            "webhook object is `{}`, expected `{WEBHOOK_OBJECT}`",
            envelope.object
        )));
    }
    let mut events = Vec::new();
    for entry in envelope.entry {
        let account = ChannelAccount::InstagramPage(entry.id);
        for item in entry.messaging {
            parse_messaging(item, &account, &mut events);
        }
        for item in entry.standby {
            let what = item
                .message
                .as_ref()
                .map_or_else(|| "event".to_owned(), |m| format!("message {}", m.mid));
            events.push(InstagramEvent::Standby {
                reason: format!(
                    "{what} from {} delivered on standby: another app controls the conversation",
                    item.sender.id
                ),
            });
        }
        for change in entry.changes {
            let field = change
                .get("field")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            events.push(InstagramEvent::Ignored {
                reason: format!("webhook field `{field}`"),
            });
        }
    }
    Ok(events)
}

fn parse_messaging(item: Messaging, account: &ChannelAccount, events: &mut Vec<InstagramEvent>) {
    let at = item.timestamp.map(Timestamp::from_millis);
    let sender = item.sender.id;
    let inbound = |provider_id: String, content: MessageContent, reply_to: Option<String>| {
        InstagramEvent::Message(InboundMessage {
            channel: Channel::Instagram,
            account: account.clone(),
            sender: sender.clone(),
            sender_name: None,
            provider_id,
            sent_at: at,
            content,
            reply_to,
            route: ReplyRoute::Direct,
            acked_at: None,
        })
    };
    let status = |provider_id: String, state: DeliveryState| {
        InstagramEvent::Status(DeliveryStatus {
            channel: Channel::Instagram,
            account: account.clone(),
            provider_id,
            recipient: sender.clone(),
            state,
            at,
            error: None,
            callback_data: None,
        })
    };

    if let Some(m) = item.message {
        if m.is_echo {
            events.push(InstagramEvent::Echo { mid: m.mid });
            return;
        }
        if m.is_deleted {
            events.push(status(m.mid, DeliveryState::Deleted));
            return;
        }
        let reply_to = m.reply_to.as_ref().and_then(ReplyTo::reference);
        if m.is_unsupported {
            let reason = "message type not supported by the Instagram API".to_owned();
            events.push(inbound(
                m.mid,
                MessageContent::Unsupported { reason },
                reply_to,
            ));
            return;
        }
        let text = m.text.filter(|t| !t.is_empty());
        if let Some(q) = m.quick_reply {
            let content = MessageContent::Choice {
                title: text.unwrap_or_else(|| q.payload.clone()),
                id: q.payload,
            };
            events.push(inbound(m.mid, content, reply_to));
            return;
        }
        if m.attachments.is_empty() {
            let content = match text {
                Some(body) => MessageContent::Text { body },
                None => MessageContent::Unsupported {
                    reason: "message without text or attachments".into(),
                },
            };
            events.push(inbound(m.mid, content, reply_to));
            return;
        }
        for (i, attachment) in m.attachments.iter().enumerate() {
            let provider_id = match i {
                0 => m.mid.clone(),
                _ => format!("{}#{}", m.mid, i + 1),
            };
            let caption = if i == 0 { text.clone() } else { None };
            let content = attachment.content(caption);
            events.push(inbound(provider_id, content, reply_to.clone()));
        }
        return;
    }
    if let Some(r) = item.reaction {
        // A reaction has no id of its own: derive a stable one from what it is about.
        let provider_id = format!(
            "reaction:{}:{sender}:{}:{}",
            r.mid,
            r.action,
            item.timestamp.unwrap_or_default()
        );
        let emoji = match r.action.as_str() {
            "unreact" => None,
            _ => r.emoji.or(r.reaction).filter(|e| !e.is_empty()),
        };
        let content = MessageContent::Reaction {
            message_id: r.mid,
            emoji,
        };
        events.push(inbound(provider_id, content, None));
        return;
    }
    if let Some(p) = item.postback {
        let provider_id = p.mid.unwrap_or_else(|| {
            format!(
                "postback:{sender}:{}:{}",
                item.timestamp.unwrap_or_default(),
                p.payload
            )
        });
        let content = MessageContent::Choice {
            title: p.title.unwrap_or_else(|| p.payload.clone()),
            id: p.payload,
        };
        events.push(inbound(provider_id, content, None));
        return;
    }
    if let Some(read) = item.read {
        events.push(status(read.mid, DeliveryState::Read));
        return;
    }
    let reason = if item.referral.is_some() {
        "referral without a message".to_owned()
    } else {
        "messaging event Concierge does not handle".to_owned()
    };
    events.push(InstagramEvent::Ignored { reason });
}

fn malformed(e: serde_json::Error) -> ChannelError {
    ChannelError::Malformed(e.to_string())
}

/// Builds the requests that send `text` to the customer `recipient_id` (their IGSID), split
/// into parts of at most [`INSTAGRAM_MAX_CHARS`]
/// characters, as `RESPONSE` messages (inside the customer service window). Empty text yields
/// no request. Send them in order and stop at the first failure.
pub fn text_message(recipient_id: &str, text: &str) -> Vec<HttpRequest> {
    let path = format!("/{GRAPH_API_VERSION}/me/messages");
    split_message(text, INSTAGRAM_MAX_CHARS)
        .into_iter()
        .map(|part| {
            let body = json!({
                "recipient": { "id": recipient_id },
                "message": { "text": part },
                "messaging_type": "RESPONSE",
            });
            HttpRequest::post_json(path.clone(), &body)
        })
        .collect()
}

/// Reads the id of the message the Send API accepted (`{"recipient_id":..,"message_id":..}`).
///
/// Call it on 2xx answers; on others call
/// [`meta::parse_graph_error`].
///
/// # Errors
/// [`ChannelError::Malformed`] when the body has no `message_id`; if it is a Graph error body,
/// the error text says so (get the typed error from `parse_graph_error`).
pub fn parse_send_response(body: &[u8]) -> Result<String, ChannelError> {
    #[derive(Deserialize)]
    struct SendResponse {
        message_id: String,
    }
    serde_json::from_slice::<SendResponse>(body)
        .ok()
        .map(|r| r.message_id)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| meta::send_response_error(body, "message_id"))
}

// ---- wire shapes (only the fields Concierge reads) ----

#[derive(Deserialize)]
struct Envelope {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    #[serde(default)]
    messaging: Vec<Messaging>,
    #[serde(default)]
    standby: Vec<Messaging>,
    #[serde(default)]
    changes: Vec<Value>,
}

#[derive(Deserialize)]
struct Messaging {
    sender: Party,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    message: Option<IgMessage>,
    #[serde(default)]
    reaction: Option<IgReaction>,
    #[serde(default)]
    postback: Option<Postback>,
    #[serde(default)]
    read: Option<Read>,
    #[serde(default)]
    referral: Option<Value>,
}

#[derive(Deserialize)]
struct Party {
    id: String,
}

#[derive(Deserialize)]
struct IgMessage {
    mid: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    attachments: Vec<Attachment>,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    is_deleted: bool,
    #[serde(default)]
    is_unsupported: bool,
    #[serde(default)]
    quick_reply: Option<QuickReply>,
    #[serde(default)]
    reply_to: Option<ReplyTo>,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Option<AttachmentPayload>,
}

#[derive(Deserialize)]
struct AttachmentPayload {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

impl Attachment {
    fn content(&self, text: Option<String>) -> MessageContent {
        let media = match self.kind.as_str() {
            "image" => MediaKind::Image,
            "video" => MediaKind::Video,
            "audio" => MediaKind::Audio,
            "file" => MediaKind::File,
            "share" | "ig_reel" | "reel" => MediaKind::Share,
            "story_mention" => MediaKind::StoryMention,
            other => {
                return MessageContent::Unsupported {
                    reason: format!("attachment `{other}`"),
                }
            }
        };
        let payload = self.payload.as_ref();
        MessageContent::Media {
            media,
            reference: payload.and_then(|p| p.url.clone()),
            mime_type: None,
            caption: text.or_else(|| payload.and_then(|p| p.title.clone())),
        }
    }
}

#[derive(Deserialize)]
struct QuickReply {
    payload: String,
}

#[derive(Deserialize)]
struct ReplyTo {
    #[serde(default)]
    mid: Option<String>,
    #[serde(default)]
    story: Option<Story>,
}

impl ReplyTo {
    /// The replied-to message id, or `story:{id}` for a reply to one of our stories (story ids
    /// are not message ids; the prefix keeps them apart).
    fn reference(&self) -> Option<String> {
        self.mid.clone().or_else(|| {
            let id = self.story.as_ref()?.id.as_deref()?;
            Some(format!("story:{id}"))
        })
    }
}

/// The story replied to; its `url` is a CDN link that expires, so only the id is kept.
#[derive(Deserialize)]
struct Story {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct IgReaction {
    mid: String,
    #[serde(default = "default_action")]
    action: String,
    #[serde(default)]
    reaction: Option<String>,
    #[serde(default)]
    emoji: Option<String>,
}

fn default_action() -> String {
    "react".to_owned()
}

#[derive(Deserialize)]
struct Postback {
    #[serde(default)]
    mid: Option<String>,
    #[serde(default)]
    title: Option<String>,
    payload: String,
}

#[derive(Deserialize)]
struct Read {
    mid: String,
}
