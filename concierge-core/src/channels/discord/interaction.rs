//! Interactions (`POST /discord/interactions`): parsing and responses as data.

use serde::Deserialize;
use serde_json::{json, Value};

use super::custom_id::{verify_custom_id, ButtonRef};
use super::outbound::API_PREFIX;
use super::{path_segment, truncate_chars};
use crate::channels::split::DISCORD_MAX_CHARS;
use crate::channels::{check_size, ChannelError, HttpRequest};

/// The message flag that shows a response only to the user who invoked the interaction.
pub const EPHEMERAL_FLAG: u64 = 1 << 6;
/// Discord shows at most 25 autocomplete choices.
pub const AUTOCOMPLETE_MAX_CHOICES: usize = 25;
/// Autocomplete choice names and string values are at most 100 characters.
const CHOICE_MAX_CHARS: usize = 100;

/// A verified, parsed interaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interaction {
    /// Discord checking the endpoint (type 1): answer [`pong`].
    Ping,
    /// A slash command (type 2, `APPLICATION_COMMAND`).
    Command {
        /// The interaction id.
        id: String,
        /// The continuation token for the response and follow-ups (valid 15 minutes).
        token: String,
        /// Our application id (for [`followup_request`]).
        application_id: String,
        /// The guild it was used in; `None` in a DM.
        guild_id: Option<String>,
        /// The channel it was used in.
        channel_id: String,
        /// Who used it.
        user_id: String,
        /// The full command path, e.g. `domains list`.
        name: String,
        /// The leaf options (parameters) with their values as text.
        options: Vec<CommandOption>,
        /// The command, recognised.
        command: SlashCommand,
    },
    /// A click on a button or a select menu (type 3, `MESSAGE_COMPONENT`).
    Component {
        /// The interaction id.
        id: String,
        /// The continuation token.
        token: String,
        /// Our application id.
        application_id: String,
        /// The guild; `None` in a DM.
        guild_id: Option<String>,
        /// The channel of the message carrying the component.
        channel_id: String,
        /// Who clicked.
        user_id: String,
        /// The message carrying the component.
        message_id: String,
        /// The component's `custom_id` as sent.
        custom_id: String,
        /// The approval button it refers to: `Some` only when parsed with
        /// [`parse_interaction_with_key`] and the `custom_id` verifies under that key. `None`
        /// means "not (or no longer) a valid Concierge button": answer that it expired.
        button: Option<ButtonRef>,
    },
    /// The user is typing an option that has autocomplete (type 4): answer
    /// [`autocomplete_result`].
    Autocomplete {
        /// The interaction id.
        id: String,
        /// The continuation token.
        token: String,
        /// The guild; `None` in a DM.
        guild_id: Option<String>,
        /// Who is typing.
        user_id: String,
        /// The full command path, e.g. `rules list`.
        name: String,
        /// The option being typed, if Discord marked one as focused.
        focused: Option<FocusedOption>,
    },
    /// An interaction type Concierge does not handle (modal submit = 5, or a future type):
    /// answer with an ephemeral "not supported" message, not an error.
    Unsupported {
        /// The interaction type number.
        kind: u8,
    },
}

/// One parameter of a slash command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOption {
    /// The parameter name.
    pub name: String,
    /// Its value as text (ids for users, channels and roles; numbers and booleans formatted).
    pub value: String,
}

/// The option a user is typing during autocomplete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FocusedOption {
    /// The parameter name.
    pub name: String,
    /// What was typed so far (always text, even for number options).
    pub value: String,
}

/// The slash commands Concierge registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlashCommand {
    /// `/status`: the tenant's channels and usage.
    Status,
    /// `/domains list`: the tenant's email domains.
    DomainsList,
    /// `/rules list [channel]`: routing rules, optionally only those forwarding to a channel.
    RulesList {
        /// The `channel` option (a channel id), when given.
        channel: Option<String>,
    },
    /// Anything else (a stale registration or a subcommand we do not know).
    Unknown {
        /// The full command path as used.
        name: String,
    },
}

#[derive(Deserialize)]
struct RawInteraction {
    #[serde(rename = "type")]
    kind: u8,
    id: Option<String>,
    application_id: Option<String>,
    token: Option<String>,
    data: Option<RawData>,
    guild_id: Option<String>,
    channel_id: Option<String>,
    channel: Option<RawId>,
    member: Option<RawMember>,
    user: Option<RawId>,
    message: Option<RawId>,
}

#[derive(Deserialize)]
struct RawId {
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawMember {
    user: Option<RawId>,
}

#[derive(Deserialize)]
struct RawData {
    name: Option<String>,
    #[serde(default)]
    options: Vec<RawOption>,
    custom_id: Option<String>,
}

#[derive(Deserialize)]
struct RawOption {
    name: String,
    #[serde(rename = "type", default)]
    kind: u8,
    value: Option<Value>,
    #[serde(default)]
    options: Vec<RawOption>,
    #[serde(default)]
    focused: bool,
}

const SUB_COMMAND: u8 = 1;
const SUB_COMMAND_GROUP: u8 = 2;

fn missing(what: &str) -> ChannelError {
    ChannelError::Malformed(format!("interaction without {what}"))
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Walks subcommand groups and subcommands: returns the command path and the leaf options.
fn command_path(name: &str, options: &[RawOption]) -> (Vec<String>, Vec<RawOptionRef>) {
    let mut path = vec![name.to_owned()];
    let mut level = options;
    loop {
        match level {
            [only] if matches!(only.kind, SUB_COMMAND | SUB_COMMAND_GROUP) => {
                path.push(only.name.clone());
                level = &only.options;
            }
            _ => break,
        }
    }
    let leaves = level
        .iter()
        .map(|o| RawOptionRef {
            name: o.name.clone(),
            value: o.value.as_ref().map(value_text),
            focused: o.focused,
        })
        .collect();
    (path, leaves)
}

struct RawOptionRef {
    name: String,
    value: Option<String>,
    focused: bool,
}

fn recognise(path: &[String], options: &[CommandOption]) -> SlashCommand {
    let parts: Vec<&str> = path.iter().map(String::as_str).collect();
    match parts.as_slice() {
        ["status"] => SlashCommand::Status,
        ["domains", "list"] => SlashCommand::DomainsList,
        ["rules", "list"] => SlashCommand::RulesList {
            channel: options
                .iter()
                .find(|o| o.name == "channel")
                .map(|o| o.value.clone()),
        },
        _ => SlashCommand::Unknown {
            name: path.join(" "),
        },
    }
}

/// Parses an interaction body without a button key: components come back with `button: None`.
///
/// Use [`parse_interaction_with_key`] on the endpoint; this form is for tooling and fuzzing.
///
/// # Errors
/// As [`parse_interaction_with_key`].
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, ChannelError> {
    parse(body, None)
}

/// Parses a verified interaction body; button `custom_id`s are checked with `button_key`
/// (see [`Interaction::Component`]).
///
/// Modal submits and unknown interaction types are [`Interaction::Unsupported`], not errors.
///
/// # Errors
/// [`ChannelError::TooLarge`] for an oversized body; [`ChannelError::Malformed`] for a body
/// that is not an interaction, or a command/component/autocomplete interaction lacking its id,
/// token, application id, channel, user, command name, message or `custom_id`.
pub fn parse_interaction_with_key(
    body: &[u8],
    button_key: &[u8],
) -> Result<Interaction, ChannelError> {
    parse(body, Some(button_key))
}

fn parse(body: &[u8], button_key: Option<&[u8]>) -> Result<Interaction, ChannelError> {
    check_size(body)?;
    let raw: RawInteraction = serde_json::from_slice(body)
        .map_err(|e| ChannelError::Malformed(format!("interaction JSON: {e}")))?;
    let kind = raw.kind;
    if kind == 1 {
        return Ok(Interaction::Ping);
    }
    if !(2..=4).contains(&kind) {
        return Ok(Interaction::Unsupported { kind });
    }

    let id = raw.id.ok_or_else(|| missing("id"))?;
    let token = raw.token.ok_or_else(|| missing("token"))?;
    let user_id = raw
        .member
        .and_then(|m| m.user)
        .or(raw.user)
        .and_then(|u| u.id)
        .ok_or_else(|| missing("member.user or user"))?;
    let channel_id = raw.channel_id.or_else(|| raw.channel.and_then(|c| c.id));
    let guild_id = raw.guild_id;
    let data = raw.data.ok_or_else(|| missing("data"))?;

    match kind {
        2 => {
            let name = data.name.ok_or_else(|| missing("data.name"))?;
            let (path, leaves) = command_path(&name, &data.options);
            let options: Vec<CommandOption> = leaves
                .into_iter()
                .filter_map(|o| {
                    o.value.map(|value| CommandOption {
                        name: o.name,
                        value,
                    })
                })
                .collect();
            let command = recognise(&path, &options);
            Ok(Interaction::Command {
                id,
                token,
                application_id: raw
                    .application_id
                    .ok_or_else(|| missing("application_id"))?,
                guild_id,
                channel_id: channel_id.ok_or_else(|| missing("channel_id"))?,
                user_id,
                name: path.join(" "),
                options,
                command,
            })
        }
        3 => {
            let custom_id = data.custom_id.ok_or_else(|| missing("data.custom_id"))?;
            let button = button_key.and_then(|key| verify_custom_id(key, &custom_id).ok());
            Ok(Interaction::Component {
                id,
                token,
                application_id: raw
                    .application_id
                    .ok_or_else(|| missing("application_id"))?,
                guild_id,
                channel_id: channel_id.ok_or_else(|| missing("channel_id"))?,
                user_id,
                message_id: raw
                    .message
                    .and_then(|m| m.id)
                    .ok_or_else(|| missing("message.id"))?,
                custom_id,
                button,
            })
        }
        _ => {
            let name = data.name.ok_or_else(|| missing("data.name"))?;
            let (path, leaves) = command_path(&name, &data.options);
            let focused = leaves
                .into_iter()
                .find(|o| o.focused)
                .map(|o| FocusedOption {
                    name: o.name,
                    value: o.value.unwrap_or_default(),
                });
            Ok(Interaction::Autocomplete {
                id,
                token,
                guild_id,
                user_id,
                name: path.join(" "),
                focused,
            })
        }
    }
}

/// The answer to [`Interaction::Ping`]: `{"type":1}` (PONG).
pub fn pong() -> Value {
    json!({ "type": 1 })
}

/// A message answering a command (type 4, `CHANNEL_MESSAGE_WITH_SOURCE`), shown only to the
/// invoking user when `ephemeral`. Content is cut to 2000 characters; mentions never ping.
pub fn message_response(content: &str, ephemeral: bool) -> Value {
    let mut data = json!({
        "content": truncate_chars(content, DISCORD_MAX_CHARS),
        "allowed_mentions": { "parse": [] },
    });
    if ephemeral {
        data["flags"] = json!(EPHEMERAL_FLAG);
    }
    json!({ "type": 4, "data": data })
}

/// "Thinking…" (type 5, `DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE`): buys 15 minutes to send the
/// answer with [`followup_request`].
pub fn deferred_response() -> Value {
    json!({ "type": 5 })
}

/// Replaces the message a button was clicked on (type 7, `UPDATE_MESSAGE`) with `content` and
/// removes its buttons, so a draft cannot be approved twice. Embeds are left as they were.
pub fn update_message(content: &str) -> Value {
    json!({
        "type": 7,
        "data": {
            "content": truncate_chars(content, DISCORD_MAX_CHARS),
            "components": [],
            "allowed_mentions": { "parse": [] },
        }
    })
}

/// Autocomplete suggestions (type 8) as `(name shown, value sent)` pairs: the first 25, each
/// name and value cut to 100 characters.
pub fn autocomplete_result(choices: &[(String, String)]) -> Value {
    let choices: Vec<Value> = choices
        .iter()
        .take(AUTOCOMPLETE_MAX_CHOICES)
        .map(|(name, value)| {
            json!({
                "name": truncate_chars(name, CHOICE_MAX_CHARS),
                "value": truncate_chars(value, CHOICE_MAX_CHARS),
            })
        })
        .collect();
    json!({ "type": 8, "data": { "choices": choices } })
}

/// A follow-up message after a deferred or first response:
/// `POST /api/v10/webhooks/{application_id}/{token}`. The interaction token authenticates it:
/// the adapter needs no bot token here. Content is cut to 2000 characters.
pub fn followup_request(application_id: &str, token: &str, content: &str) -> HttpRequest {
    HttpRequest::post_json(
        format!(
            "{API_PREFIX}/webhooks/{}/{}",
            path_segment(application_id),
            path_segment(token)
        ),
        &json!({
            "content": truncate_chars(content, DISCORD_MAX_CHARS),
            "allowed_mentions": { "parse": [] },
        }),
    )
}
