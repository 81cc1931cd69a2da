//! WhatsApp Business (Meta Cloud API) wire format.
//!
//! Inbound: [`parse_webhook`] turns a verified webhook body (check it first with
//! [`meta::verify_signature`]) into [`WhatsAppEvent`]s: customer
//! messages, delivery statuses of our messages, and events deliberately ignored.
//!
//! Outbound: [`text_message`] and [`template_message`] build `POST
//! /{GRAPH_API_VERSION}/{phone_number_id}/messages` requests; [`parse_send_response`] reads the
//! wamid of an accepted message, [`meta::parse_graph_error`]
//! reads a refusal. [`with_callback_data`] tags each request with `biz_opaque_callback_data`
//! naming the outbox message and part it sends; Meta echoes it in the `statuses` of later
//! webhooks ([`DeliveryStatus::callback_data`]), so a sender that lost track of a request
//! (killed, timed out) can learn whether it was accepted instead of sending it again. Free-form text is only accepted within the customer service window
//! ([`meta::check_service_window`]); outside it, send a
//! template.

use serde::Deserialize;
use serde_json::{json, Value};

use super::meta::{self, GRAPH_API_VERSION};
use super::split::{split_message, WHATSAPP_MAX_CHARS};
use super::{
    check_size, ChannelError, DeliveryState, DeliveryStatus, HttpRequest, InboundMessage,
    MediaKind, MessageContent, ReplyRoute,
};
use crate::ids::{Channel, ChannelAccount};
use crate::time::Timestamp;

/// The `object` of every WhatsApp Business Account webhook.
pub const WEBHOOK_OBJECT: &str = "whatsapp_business_account";

/// One thing a WhatsApp webhook delivery reported.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // short-lived parser output; boxing would only add an allocation
pub enum WhatsAppEvent {
    /// A customer wrote (or reacted, or tapped a button).
    Message(InboundMessage),
    /// One of our messages was sent, delivered, read or failed.
    Status(DeliveryStatus),
    /// Something Concierge does not act on (another webhook field, a group message, a status
    /// it does not know, a platform-level error); the reason is for logs and metrics.
    Ignored {
        /// What was ignored and why (ids and type names only, never content).
        reason: String,
    },
}

/// Parses a WhatsApp Cloud API webhook body into events, in delivery order.
///
/// Every `entry` and every `change` is read; changes whose `field` is not `messages`
/// (`account_update`, `message_template_status_update`, ...) become
/// [`WhatsAppEvent::Ignored`]. Message types Concierge cannot handle become
/// [`MessageContent::Unsupported`] messages, not errors, so the customer is still seen.
///
/// # Errors
/// - [`ChannelError::TooLarge`] for bodies over [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES).
/// - [`ChannelError::Malformed`] when the body is not JSON, `object` is not
///   `whatsapp_business_account`, or a `messages` change lacks a required field
///   (`metadata.phone_number_id`, a message's sender, `id` or `type`, the object its `type`
///   names, a status's `id`, `status` or recipient) or has a non-numeric `timestamp`.
///
/// The sender is `from` (the wa_id, a phone number). For customers who hide their number
/// behind a WhatsApp username, Meta may send only their business-scoped user id (BSUID,
/// `from_user_id`, or `user_id` of the change's only contact); that id is then the sender.
pub fn parse_webhook(body: &[u8]) -> Result<Vec<WhatsAppEvent>, ChannelError> {
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
        for change in entry.changes {
            if change.field != "messages" {
                events.push(WhatsAppEvent::Ignored {
                    reason: format!("webhook field `{}`", change.field),
                });
                continue;
            }
            let value: MessagesValue = serde_json::from_value(change.value).map_err(malformed)?;
            parse_messages_value(value, &mut events)?;
        }
    }
    Ok(events)
}

fn parse_messages_value(
    value: MessagesValue,
    events: &mut Vec<WhatsAppEvent>,
) -> Result<(), ChannelError> {
    let account = ChannelAccount::WhatsAppPhone(value.metadata.phone_number_id);
    for message in value.messages {
        if let Some(group) = &message.group_id {
            events.push(WhatsAppEvent::Ignored {
                reason: format!("group message in {group}"),
            });
            continue;
        }
        let sender = message_sender(&message, &value.contacts)?;
        let sender_name = sender_name(&value.contacts, &sender);
        let content = message_content(&message)?;
        events.push(WhatsAppEvent::Message(InboundMessage {
            channel: Channel::WhatsApp,
            account: account.clone(),
            sender,
            sender_name,
            provider_id: message.id,
            sent_at: parse_timestamp(message.timestamp.as_deref())?,
            content,
            reply_to: message.context.and_then(|c| c.id),
            route: ReplyRoute::Direct,
            acked_at: None,
        }));
    }
    for status in value.statuses {
        let state = match status.status.as_str() {
            "sent" => DeliveryState::Sent,
            "delivered" => DeliveryState::Delivered,
            "read" => DeliveryState::Read,
            "failed" => DeliveryState::Failed,
            "deleted" => DeliveryState::Deleted,
            other => {
                events.push(WhatsAppEvent::Ignored {
                    reason: format!("status `{other}` for {}", status.id),
                });
                continue;
            }
        };
        events.push(WhatsAppEvent::Status(DeliveryStatus {
            channel: Channel::WhatsApp,
            account: account.clone(),
            at: parse_timestamp(status.timestamp.as_deref())?,
            error: status.errors.first().map(WaError::describe),
            provider_id: status.id,
            recipient: status
                .recipient_id
                .or(status.recipient_user_id)
                .ok_or_else(|| ChannelError::Malformed("status without `recipient_id`".into()))?,
            state,
            callback_data: status.biz_opaque_callback_data.filter(|d| !d.is_empty()),
        }));
    }
    for error in &value.errors {
        events.push(WhatsAppEvent::Ignored {
            reason: format!("platform error {}", error.describe()),
        });
    }
    Ok(())
}

/// The customer's id: `from` (wa_id), else their BSUID (`from_user_id`, or the `user_id` of
/// the only contact when Meta withholds the phone number).
fn message_sender(m: &WaMessage, contacts: &[WaContact]) -> Result<String, ChannelError> {
    let only_contact = match contacts {
        [only] => only.user_id.clone(),
        _ => None,
    };
    m.from
        .clone()
        .or_else(|| m.from_user_id.clone())
        .or(only_contact)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ChannelError::Malformed("message without `from`".into()))
}

/// The profile name of the sender: the contact whose `wa_id` (or BSUID) is the sender, or the
/// only contact of the change (Meta normalizes some numbers, so `wa_id` and `from` can differ
/// in form).
fn sender_name(contacts: &[WaContact], sender: &str) -> Option<String> {
    let contact = contacts
        .iter()
        .find(|c| c.wa_id.as_deref() == Some(sender) || c.user_id.as_deref() == Some(sender))
        .or(match contacts {
            [only] => Some(only),
            _ => None,
        })?;
    contact
        .profile
        .as_ref()
        .and_then(|p| p.name.clone())
        .filter(|n| !n.trim().is_empty())
}

fn message_content(m: &WaMessage) -> Result<MessageContent, ChannelError> {
    let missing = || ChannelError::Malformed(format!("`{}` message without its object", m.kind));
    let media =
        |kind: MediaKind, media: &Option<WaMedia>| -> Result<MessageContent, ChannelError> {
            let media_obj = media.as_ref().ok_or_else(missing)?;
            Ok(MessageContent::Media {
                media: kind,
                reference: media_obj.id.clone(),
                mime_type: media_obj.mime_type.clone(),
                caption: media_obj.caption.clone(),
            })
        };
    Ok(match m.kind.as_str() {
        "text" => MessageContent::Text {
            body: m.text.as_ref().ok_or_else(missing)?.body.clone(),
        },
        "image" => media(MediaKind::Image, &m.image)?,
        "audio" => media(MediaKind::Audio, &m.audio)?,
        "video" => media(MediaKind::Video, &m.video)?,
        "document" => media(MediaKind::Document, &m.document)?,
        "sticker" => media(MediaKind::Sticker, &m.sticker)?,
        "location" => {
            let l = m.location.as_ref().ok_or_else(missing)?;
            MessageContent::Location {
                latitude: l.latitude,
                longitude: l.longitude,
                name: l.name.clone(),
                address: l.address.clone(),
            }
        }
        "contacts" => MessageContent::Contacts {
            names: m
                .contacts
                .as_ref()
                .ok_or_else(missing)?
                .iter()
                .filter_map(ContactCard::display_name)
                .collect(),
        },
        "interactive" => {
            let i = m.interactive.as_ref().ok_or_else(missing)?;
            let reply = match i.kind.as_str() {
                "button_reply" => i.button_reply.as_ref(),
                "list_reply" => i.list_reply.as_ref(),
                _ => None,
            };
            match reply {
                Some(r) => MessageContent::Choice {
                    id: r.id.clone(),
                    title: r.title.clone(),
                },
                None => MessageContent::Unsupported {
                    reason: format!("interactive `{}`", i.kind),
                },
            }
        }
        "button" => {
            let b = m.button.as_ref().ok_or_else(missing)?;
            MessageContent::Choice {
                id: b.payload.clone().unwrap_or_else(|| b.text.clone()),
                title: b.text.clone(),
            }
        }
        "reaction" => {
            let r = m.reaction.as_ref().ok_or_else(missing)?;
            MessageContent::Reaction {
                message_id: r.message_id.clone(),
                emoji: r.emoji.clone().filter(|e| !e.is_empty()),
            }
        }
        other => MessageContent::Unsupported {
            reason: match (m.errors.first(), &m.unsupported) {
                (Some(e), Some(u)) => format!("{}: `{}`", e.describe(), u.kind),
                (Some(e), None) => e.describe(),
                (None, Some(u)) => format!("{other} `{}`", u.kind),
                (None, None) => format!("message type `{other}`"),
            },
        },
    })
}

/// WhatsApp timestamps are decimal seconds in a string.
fn parse_timestamp(raw: Option<&str>) -> Result<Option<Timestamp>, ChannelError> {
    raw.map(|t| {
        t.parse::<i64>()
            .map(Timestamp::from_secs)
            .map_err(|_| ChannelError::Malformed(format!("timestamp `{t}` is not seconds")))
    })
    .transpose()
}

fn malformed(e: serde_json::Error) -> ChannelError {
    ChannelError::Malformed(e.to_string())
}

/// The path all sends for one business phone number go to.
fn messages_path(phone_number_id: &str) -> String {
    format!(
        "/{GRAPH_API_VERSION}/{}/messages",
        meta::path_segment(phone_number_id)
    )
}

/// Builds the requests that send `text` to the customer `to` (their wa_id) from the business
/// number `phone_number_id`, split into parts of at most
/// [`WHATSAPP_MAX_CHARS`] characters.
///
/// `reply_to` (a wamid) quotes the customer's message on the first part only. Link previews are
/// off. Empty text yields no request. Only valid within the customer service window; send them
/// in order and stop at the first failure. Pass the result through [`with_callback_data`] to
/// make the parts reconcilable with their status webhooks.
pub fn text_message(
    phone_number_id: &str,
    to: &str,
    text: &str,
    reply_to: Option<&str>,
) -> Vec<HttpRequest> {
    let path = messages_path(phone_number_id);
    split_message(text, WHATSAPP_MAX_CHARS)
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let mut body = json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "text",
                "text": { "preview_url": false, "body": part },
            });
            if let (0, Some(wamid)) = (i, reply_to) {
                body["context"] = json!({ "message_id": wamid });
            }
            HttpRequest::post_json(path.clone(), &body)
        })
        .collect()
}

/// Builds the request that sends the approved template `template_name` in `language_code`
/// (e.g. `en_US`) without parameters: the only kind of message allowed outside the customer
/// service window.
pub fn template_message(
    phone_number_id: &str,
    to: &str,
    template_name: &str,
    language_code: &str,
) -> HttpRequest {
    let body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": { "name": template_name, "language": { "code": language_code } },
    });
    HttpRequest::post_json(messages_path(phone_number_id), &body)
}

/// The longest `biz_opaque_callback_data` the Cloud API accepts (characters).
pub const CALLBACK_DATA_MAX_CHARS: usize = 512;

/// What every callback data [`callback_data`] makes starts with, so a status about a message
/// some other tool sent through the same number is told apart.
pub const CALLBACK_DATA_PREFIX: &str = "concierge:";

/// The `biz_opaque_callback_data` of part `part` (0-based) of the message whose idempotency
/// (outbox) key is `idempotency_key`: [`CALLBACK_DATA_PREFIX`] and 32 hex digits of
/// SHA-256(key, part). Stable across retries; a hash, so the key (which may name a
/// conversation) is not shown to other apps subscribed to the account's webhooks.
pub fn callback_data(idempotency_key: &str, part: usize) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{idempotency_key}\0{part}").as_bytes());
    let mut out = String::with_capacity(CALLBACK_DATA_PREFIX.len() + 32);
    out.push_str(CALLBACK_DATA_PREFIX);
    out.push_str(&hex::encode(&digest[..16]));
    out
}

/// Whether `data` is a callback data [`callback_data`] could have made (a status about a
/// message Concierge sent).
pub fn is_callback_data(data: &str) -> bool {
    data.strip_prefix(CALLBACK_DATA_PREFIX)
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Tags each send request with `biz_opaque_callback_data` = [`callback_data`]`(key, index)`,
/// so the status webhooks of each part name the part. Requests whose body is not a JSON
/// object are left alone.
pub fn with_callback_data(
    mut requests: Vec<HttpRequest>,
    idempotency_key: &str,
) -> Vec<HttpRequest> {
    for (i, request) in requests.iter_mut().enumerate() {
        // `from_slice`, not `from_str`: one JSON deserializer in the Worker (safety.rs).
        let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(request.body.as_bytes())
        else {
            continue;
        };
        body.insert(
            "biz_opaque_callback_data".into(),
            Value::String(callback_data(idempotency_key, i)),
        );
        request.body = Value::Object(body).to_string();
    }
    requests
}

/// Reads the wamid of the message the Cloud API accepted (`{"messages":[{"id":"wamid..."}]}`).
///
/// Call it on 2xx answers; on others call
/// [`meta::parse_graph_error`].
///
/// # Errors
/// [`ChannelError::Malformed`] when the body has no message id; if it is a Graph error body,
/// the error text says so (get the typed error from `parse_graph_error`).
pub fn parse_send_response(body: &[u8]) -> Result<String, ChannelError> {
    #[derive(Deserialize)]
    struct SendResponse {
        messages: Vec<SentMessage>,
    }
    #[derive(Deserialize)]
    struct SentMessage {
        id: String,
    }
    serde_json::from_slice::<SendResponse>(body)
        .ok()
        .and_then(|r| r.messages.into_iter().next())
        .map(|m| m.id)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| meta::send_response_error(body, "messages[0].id"))
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
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    field: String,
    #[serde(default)]
    value: Value,
}

#[derive(Deserialize)]
struct MessagesValue {
    metadata: Metadata,
    #[serde(default)]
    contacts: Vec<WaContact>,
    #[serde(default)]
    messages: Vec<WaMessage>,
    #[serde(default)]
    statuses: Vec<WaStatus>,
    #[serde(default)]
    errors: Vec<WaError>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Deserialize)]
struct WaContact {
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct WaMessage {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    from_user_id: Option<String>,
    id: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    group_id: Option<String>,
    #[serde(default)]
    context: Option<Context>,
    #[serde(default)]
    text: Option<Text>,
    #[serde(default)]
    image: Option<WaMedia>,
    #[serde(default)]
    audio: Option<WaMedia>,
    #[serde(default)]
    video: Option<WaMedia>,
    #[serde(default)]
    document: Option<WaMedia>,
    #[serde(default)]
    sticker: Option<WaMedia>,
    #[serde(default)]
    location: Option<Location>,
    #[serde(default)]
    contacts: Option<Vec<ContactCard>>,
    #[serde(default)]
    interactive: Option<Interactive>,
    #[serde(default)]
    button: Option<Button>,
    #[serde(default)]
    reaction: Option<Reaction>,
    #[serde(default)]
    unsupported: Option<UnsupportedInfo>,
    #[serde(default)]
    errors: Vec<WaError>,
}

#[derive(Deserialize)]
struct Context {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct Text {
    body: String,
}

#[derive(Deserialize)]
struct WaMedia {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    mime_type: Option<String>,
    #[serde(default)]
    caption: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    latitude: f64,
    longitude: f64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

#[derive(Deserialize)]
struct ContactCard {
    #[serde(default)]
    name: Option<ContactName>,
}

#[derive(Deserialize)]
struct ContactName {
    #[serde(default)]
    formatted_name: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
}

impl ContactCard {
    fn display_name(&self) -> Option<String> {
        let n = self.name.as_ref()?;
        n.formatted_name
            .clone()
            .filter(|f| !f.trim().is_empty())
            .or_else(|| {
                let joined = [n.first_name.as_deref(), n.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                (!joined.trim().is_empty()).then_some(joined)
            })
    }
}

#[derive(Deserialize)]
struct Interactive {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    button_reply: Option<Reply>,
    #[serde(default)]
    list_reply: Option<Reply>,
}

#[derive(Deserialize)]
struct Reply {
    id: String,
    title: String,
}

#[derive(Deserialize)]
struct Button {
    #[serde(default)]
    payload: Option<String>,
    text: String,
}

#[derive(Deserialize)]
struct Reaction {
    message_id: String,
    #[serde(default)]
    emoji: Option<String>,
}

#[derive(Deserialize)]
struct UnsupportedInfo {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct WaStatus {
    id: String,
    status: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    recipient_id: Option<String>,
    #[serde(default)]
    recipient_user_id: Option<String>,
    #[serde(default)]
    biz_opaque_callback_data: Option<String>,
    #[serde(default)]
    errors: Vec<WaError>,
}

#[derive(Deserialize)]
struct WaError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    title: Option<String>,
}

impl WaError {
    /// `Title (code)`, or whichever of the two is present.
    fn describe(&self) -> String {
        match (&self.title, self.code) {
            (Some(t), Some(c)) => format!("{t} ({c})"),
            (Some(t), None) => t.clone(),
            (None, Some(c)) => format!("error {c}"),
            (None, None) => "unknown error".to_owned(),
        }
    }
}
