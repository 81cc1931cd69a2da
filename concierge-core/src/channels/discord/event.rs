//! Application webhook events (`POST /discord/events`) and the auto-reply trigger decision.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use super::snowflake_time;
use crate::channels::{
    check_size, ChannelError, InboundMessage, MediaKind, MessageContent, ReplyRoute,
};
use crate::ids::{Channel, ChannelAccount};
use crate::tenant::Tenant;
use crate::time::Timestamp;

/// A verified webhook event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiscordEvent {
    /// Discord checking the endpoint (webhook type 0): answer `204` with no body.
    Ping,
    /// A `MESSAGE_CREATE` event: a message was posted in a channel the bot can see.
    Message(Box<DiscordMessage>),
    /// Any other event (e.g. `APPLICATION_AUTHORIZED`), or a webhook type other than 0 and 1
    /// (`event_type` is then `webhook type {n}`): acknowledge with `204` and ignore.
    Other {
        /// The event's `type` string.
        event_type: String,
    },
}

/// A Discord message as carried by `MESSAGE_CREATE`, reduced to what Concierge uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscordMessage {
    /// The message id (a snowflake).
    pub id: String,
    /// The channel (or thread) it was posted in.
    pub channel_id: String,
    /// The guild; `None` for a direct message.
    pub guild_id: Option<String>,
    /// Who wrote it.
    pub author: DiscordAuthor,
    /// The text (empty when the app lacks the Message Content intent and is not mentioned).
    pub content: String,
    /// The ids of the users it mentions.
    pub mentions: Vec<String>,
    /// When it was created, from the snowflake id; `None` if the id is not a snowflake.
    pub timestamp: Option<Timestamp>,
    /// The Discord message type (0 = default, 19 = reply; others are system messages).
    pub kind: u8,
    /// Set when a webhook, not a user, posted it.
    pub webhook_id: Option<String>,
    /// The message this one replies to (`message_reference.message_id`).
    pub reply_to: Option<String>,
    /// Attached files.
    pub attachments: Vec<DiscordAttachment>,
}

/// The author of a [`DiscordMessage`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscordAuthor {
    /// The user id.
    pub id: String,
    /// The unique username.
    pub username: String,
    /// Whether the author is a bot (ours included).
    pub bot: bool,
}

/// A file attached to a [`DiscordMessage`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscordAttachment {
    /// The CDN URL.
    pub url: String,
    /// The file name.
    pub filename: String,
    /// The MIME type, when Discord knows it.
    pub content_type: Option<String>,
}

#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(rename = "type")]
    kind: u8,
    event: Option<RawEventBody>,
}

#[derive(Deserialize)]
struct RawEventBody {
    #[serde(rename = "type")]
    kind: String,
    data: Option<Value>,
}

#[derive(Deserialize)]
struct RawMessage {
    id: String,
    channel_id: String,
    guild_id: Option<String>,
    author: RawAuthor,
    #[serde(default)]
    content: String,
    #[serde(default)]
    mentions: Vec<RawUserId>,
    #[serde(rename = "type", default)]
    kind: u8,
    webhook_id: Option<String>,
    message_reference: Option<RawReference>,
    #[serde(default)]
    attachments: Vec<RawAttachment>,
}

#[derive(Deserialize)]
struct RawAuthor {
    id: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    bot: bool,
}

#[derive(Deserialize)]
struct RawUserId {
    id: String,
}

#[derive(Deserialize)]
struct RawReference {
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct RawAttachment {
    url: String,
    #[serde(default)]
    filename: String,
    content_type: Option<String>,
}

/// Parses a verified body from the events endpoint.
///
/// The outer shape is Discord's webhook event payload:
/// `{"version":1,"application_id":..,"type":0|1,"event":{"type":..,"timestamp":..,"data":{..}}}`.
/// For `MESSAGE_CREATE`, `data` is a message object (with `guild_id` for guild messages).
///
/// # Errors
/// [`ChannelError::TooLarge`] for an oversized body; [`ChannelError::Malformed`] for invalid
/// JSON, an event (type 1) without its `event` body, or a `MESSAGE_CREATE` whose `data` is not
/// a message (no id, channel or author).
pub fn parse_event(body: &[u8]) -> Result<DiscordEvent, ChannelError> {
    check_size(body)?;
    let raw: RawEnvelope = serde_json::from_slice(body)
        .map_err(|e| ChannelError::Malformed(format!("webhook event JSON: {e}")))?;
    match raw.kind {
        0 => Ok(DiscordEvent::Ping),
        1 => {
            let event = raw
                .event
                .ok_or_else(|| ChannelError::Malformed("webhook event without `event`".into()))?;
            if event.kind != "MESSAGE_CREATE" {
                return Ok(DiscordEvent::Other {
                    event_type: event.kind,
                });
            }
            let data = event
                .data
                .ok_or_else(|| ChannelError::Malformed("MESSAGE_CREATE without `data`".into()))?;
            let m: RawMessage = serde_json::from_value(data)
                .map_err(|e| ChannelError::Malformed(format!("MESSAGE_CREATE data: {e}")))?;
            Ok(DiscordEvent::Message(Box::new(m.into())))
        }
        n => Ok(DiscordEvent::Other {
            event_type: format!("webhook type {n}"),
        }),
    }
}

/// Parses a bare Discord message object: the `data` of a `MESSAGE_CREATE` webhook event, or
/// the `d` of a Gateway `MESSAGE_CREATE` dispatch (same shape), for a Gateway-fed adapter.
///
/// # Errors
/// [`ChannelError::TooLarge`] for an oversized body; [`ChannelError::Malformed`] if it is not a
/// message object (no id, channel or author).
pub fn parse_message(body: &[u8]) -> Result<DiscordMessage, ChannelError> {
    check_size(body)?;
    serde_json::from_slice::<RawMessage>(body)
        .map(DiscordMessage::from)
        .map_err(|e| ChannelError::Malformed(format!("Discord message: {e}")))
}

impl From<RawMessage> for DiscordMessage {
    fn from(m: RawMessage) -> Self {
        DiscordMessage {
            timestamp: snowflake_time(&m.id),
            id: m.id,
            channel_id: m.channel_id,
            guild_id: m.guild_id,
            author: DiscordAuthor {
                id: m.author.id,
                username: m.author.username,
                bot: m.author.bot,
            },
            content: m.content,
            mentions: m.mentions.into_iter().map(|u| u.id).collect(),
            kind: m.kind,
            webhook_id: m.webhook_id,
            reply_to: m.message_reference.and_then(|r| r.message_id),
            attachments: m
                .attachments
                .into_iter()
                .map(|a| DiscordAttachment {
                    url: a.url,
                    filename: a.filename,
                    content_type: a.content_type,
                })
                .collect(),
        }
    }
}

/// When a tenant wants the bot to answer guild messages (the tenant's `DiscordConfig`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DiscordTriggers {
    /// The shared bot's user id (to spot mentions of it and its own messages).
    pub bot_user_id: String,
    /// Answer messages that @-mention the bot.
    pub inbound_mentions: bool,
    /// Answer every message in these channels.
    pub inbound_channel_ids: Vec<String>,
}

impl DiscordTriggers {
    /// The triggers of `tenant`'s Discord channel (`[channels.discord]`), for the shared bot
    /// `bot_user_id`; `None` when the tenant has not connected Discord.
    pub fn for_tenant(tenant: &Tenant, bot_user_id: &str) -> Option<Self> {
        tenant
            .channels
            .discord
            .as_ref()
            .map(|config| DiscordTriggers {
                bot_user_id: bot_user_id.to_owned(),
                inbound_mentions: config.inbound_mentions,
                inbound_channel_ids: config.inbound_channel_ids.clone(),
            })
    }
}

/// Why a message was not turned into an [`InboundMessage`]. Displayed in debug logs; carries
/// no message text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgnoredReason {
    /// A bot (ours included) or a webhook wrote it: never answer machines.
    FromBot,
    /// A join notice, pin notice or other system message (the Discord message type).
    SystemMessage {
        /// The Discord message type number.
        kind: u8,
    },
    /// A direct message: with the shared bot it cannot be attributed to a tenant.
    DirectMessage,
    /// The bot was not mentioned (or mentions are off) and the channel is not a trigger channel.
    NotTriggered,
    /// Nothing left to answer once the bot's mention is removed (and no attachment).
    EmptyContent,
    /// No tenant has connected the guild's Discord (decided by the engine after its tenant
    /// lookup, never by [`message_to_inbound`]).
    NotConnected,
}

impl fmt::Display for IgnoredReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IgnoredReason::FromBot => f.write_str("written by a bot or webhook"),
            IgnoredReason::SystemMessage { kind } => write!(f, "system message of type {kind}"),
            IgnoredReason::DirectMessage => {
                f.write_str("direct message (no guild to route to a tenant)")
            }
            IgnoredReason::NotTriggered => {
                f.write_str("bot not mentioned and channel is not a trigger channel")
            }
            IgnoredReason::EmptyContent => f.write_str("no text or attachment to answer"),
            IgnoredReason::NotConnected => f.write_str("no tenant has connected this guild"),
        }
    }
}

/// Decides whether a `MESSAGE_CREATE` is a customer message to answer, and normalizes it.
///
/// Checks in order: a bot, webhook or our own bot wrote it → [`IgnoredReason::FromBot`]; not a
/// default (0) or reply (19) message → [`IgnoredReason::SystemMessage`]; no guild →
/// [`IgnoredReason::DirectMessage`]; neither (mentions on and the bot mentioned) nor a trigger
/// channel → [`IgnoredReason::NotTriggered`]; nothing but the mention →
/// [`IgnoredReason::EmptyContent`].
///
/// The result is routed by [`ChannelAccount::DiscordGuild`], keyed by the message id, and
/// answered through [`ReplyRoute::DiscordChannel`]. The bot's own `<@id>` / `<@!id>` mentions
/// are removed from the text. With an attachment, the content is
/// [`MessageContent::Media`] for the first attachment with the text as caption.
///
/// # Errors
/// The [`IgnoredReason`] (not an error to report: the event is still acknowledged).
pub fn message_to_inbound(
    msg: &DiscordMessage,
    triggers: &DiscordTriggers,
) -> Result<InboundMessage, IgnoredReason> {
    let guild_id = screen(msg, &triggers.bot_user_id)?;

    let bot = triggers.bot_user_id.as_str();
    let mentioned = !bot.is_empty()
        && (msg.mentions.iter().any(|id| id == bot)
            || msg.content.contains(&format!("<@{bot}>"))
            || msg.content.contains(&format!("<@!{bot}>")));
    let in_trigger_channel = triggers
        .inbound_channel_ids
        .iter()
        .any(|c| c == &msg.channel_id);
    let triggered = in_trigger_channel || (triggers.inbound_mentions && mentioned);
    if !triggered {
        return Err(IgnoredReason::NotTriggered);
    }

    let text = strip_mentions(&msg.content, bot);
    let content = match msg.attachments.first() {
        Some(a) => MessageContent::Media {
            media: media_kind(a.content_type.as_deref()),
            reference: Some(a.url.clone()),
            mime_type: a.content_type.clone(),
            caption: (!text.is_empty()).then_some(text),
        },
        None if text.is_empty() => return Err(IgnoredReason::EmptyContent),
        None => MessageContent::Text { body: text },
    };

    Ok(InboundMessage {
        channel: Channel::Discord,
        account: ChannelAccount::DiscordGuild(guild_id.to_owned()),
        sender: msg.author.id.clone(),
        sender_name: (!msg.author.username.is_empty()).then(|| msg.author.username.clone()),
        provider_id: msg.id.clone(),
        sent_at: msg.timestamp,
        content,
        reply_to: msg.reply_to.clone(),
        route: ReplyRoute::DiscordChannel {
            channel_id: msg.channel_id.clone(),
            message_id: msg.id.clone(),
        },
        acked_at: None,
    })
}

/// The checks of [`message_to_inbound`] that need no tenant: who wrote it, its type, and its
/// guild (returned), so the engine looks a tenant up only for a possible customer message.
pub(crate) fn screen<'m>(
    msg: &'m DiscordMessage,
    bot_user_id: &str,
) -> Result<&'m str, IgnoredReason> {
    if msg.author.bot || msg.webhook_id.is_some() || msg.author.id == bot_user_id {
        return Err(IgnoredReason::FromBot);
    }
    if !matches!(msg.kind, 0 | 19) {
        return Err(IgnoredReason::SystemMessage { kind: msg.kind });
    }
    msg.guild_id.as_deref().ok_or(IgnoredReason::DirectMessage)
}

fn media_kind(content_type: Option<&str>) -> MediaKind {
    match content_type.and_then(|t| t.split('/').next()) {
        Some("image") => MediaKind::Image,
        Some("audio") => MediaKind::Audio,
        Some("video") => MediaKind::Video,
        Some("application" | "text") => MediaKind::Document,
        _ => MediaKind::File,
    }
}

/// Removes `<@bot>` and `<@!bot>` from `content`, without leaving doubled spaces, and trims.
fn strip_mentions(content: &str, bot: &str) -> String {
    if bot.is_empty() {
        return content.trim().to_owned();
    }
    let forms = [format!("<@{bot}>"), format!("<@!{bot}>")];
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    loop {
        let next = forms
            .iter()
            .filter_map(|f| rest.find(f.as_str()).map(|at| (at, f.len())))
            .min();
        let Some((at, len)) = next else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..at]);
        rest = &rest[at + len..];
        if out.is_empty() || out.ends_with(char::is_whitespace) {
            rest = rest.trim_start_matches(' ');
        }
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_removed_without_leaving_gaps() {
        assert_eq!(strip_mentions("<@42> hello", "42"), "hello");
        assert_eq!(
            strip_mentions("hey <@!42> are you open?", "42"),
            "hey are you open?"
        );
        assert_eq!(strip_mentions("ask <@42>", "42"), "ask");
        assert_eq!(strip_mentions("<@43> hi", "42"), "<@43> hi");
        assert_eq!(strip_mentions("<@42><@42>", "42"), "");
    }
}
