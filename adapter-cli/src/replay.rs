//! `concierge replay`: one recorded webhook body (or raw email) through signature
//! verification, the core's channel parser and the engine, reported as JSON.
//!
//! Every step is the core's: `channels::meta::verify_signature`,
//! `channels::discord::verify_request`, the `parse_*` functions, `Engine::handle_inbound` (via
//! the harness), `Engine::handle_email`, and `channels::render` for what a server would put on
//! the wire. Any input ends in `Ok` (handled, ignored included) or a [`CliError::BadInput`]
//! with the reason; nothing here panics on input.

use std::time::{SystemTime, UNIX_EPOCH};

use concierge_core::channels::discord::{self, DiscordEvent, Interaction};
use concierge_core::channels::instagram::{self, InstagramEvent};
use concierge_core::channels::render::{render, RenderContext};
use concierge_core::channels::whatsapp::{self, WhatsAppEvent};
use concierge_core::channels::{meta, ChannelError, InboundMessage};
use concierge_core::engine::{approval_response, EngineError, InboundOutcome, InteractionAnswer};
use concierge_core::ports::OutboundMessage;
use concierge_core::testing::{ScriptedAi, Step};
use concierge_core::Timestamp;
use futures::executor::block_on;
use serde_json::{json, Value};

use crate::error::CliError;
use crate::sandbox::{ModelChoice, Sandbox};
use crate::source::TenantSource;

/// The kind of payload being replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplayChannel {
    /// A WhatsApp Cloud API webhook body.
    Whatsapp,
    /// An Instagram messaging webhook body.
    Instagram,
    /// A Discord application webhook event (`/discord/events`).
    DiscordEvent,
    /// A Discord interaction (`/discord/interactions`).
    DiscordInteraction,
    /// A raw RFC 5322 email.
    Email,
}

/// Which model answers AI rules during a replay.
#[derive(Debug, Clone)]
pub enum ReplayModel {
    /// No model: canned rules only.
    None,
    /// The scripted fake, answering this text to every reply request.
    Scripted(String),
    /// A real provider.
    Provider(std::sync::Arc<dyn concierge_core::ports::AiProvider>),
}

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayInput {
    /// The tenant.
    pub tenant: TenantSource,
    /// The kind of payload.
    pub channel: ReplayChannel,
    /// The raw bytes, exactly as received.
    pub payload: Vec<u8>,
    /// The app secret (Meta) or the application's public key in hex (Discord); when given the
    /// signature is checked.
    pub secret: Option<String>,
    /// Request headers as `(name, value)`.
    pub headers: Vec<(String, String)>,
    /// The time for the Discord replay window, in Unix seconds (default: now).
    pub now_secs: Option<i64>,
    /// The envelope recipient of an email (default `hello@` the tenant's first email domain).
    pub recipient: Option<String>,
    /// The bot's user id for Discord mentions (default: the payload's `application_id`).
    pub bot_user_id: Option<String>,
    /// The model.
    pub model: ReplayModel,
}

/// Parses a `Name: value` header argument.
///
/// # Errors
/// [`CliError::BadInput`] when there is no colon or the name is empty.
pub fn parse_header(raw: &str) -> Result<(String, String), CliError> {
    match raw.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(CliError::bad_input(format!(
            "--header must look like 'Name: value', got `{raw}`"
        ))),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn rejected(what: &str, e: &ChannelError) -> CliError {
    CliError::bad_input(format!("rejected ({what}, HTTP {}): {e}", e.status()))
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| json!({ "unserializable": e.to_string() }))
}

/// What an adapter would put on the wire for `message`: the core's
/// [`render`](concierge_core::channels::render::render), with JSON bodies shown as JSON.
fn rendered_json(message: &OutboundMessage, signing_key: &[u8], now: Timestamp) -> Value {
    let ctx = RenderContext {
        now,
        signing_key,
        system_from: SYSTEM_FROM,
    };
    match render(message, &ctx) {
        Ok(rendered) => {
            let mut value = to_json(&rendered);
            if let Some(requests) = value.get_mut("requests").and_then(Value::as_array_mut) {
                for request in requests {
                    let parsed = request
                        .get("body")
                        .and_then(Value::as_str)
                        .and_then(|b| serde_json::from_str::<Value>(b).ok());
                    if let Some(body) = parsed {
                        request["body"] = body;
                    }
                }
            }
            value
        }
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// The sender of system mail (pages, digests) in rendered output.
const SYSTEM_FROM: &str = "concierge@localhost";

/// The replay session: the tenant in memory.
struct Replayer {
    sandbox: Sandbox,
    signing_key: Vec<u8>,
}

impl Replayer {
    fn sent_json(&self, sent: &[OutboundMessage]) -> Value {
        let now = self.sandbox.harness.now();
        Value::Array(
            sent.iter()
                .map(|m| {
                    json!({
                        "message": to_json(m),
                        "wire": rendered_json(m, &self.signing_key, now),
                    })
                })
                .collect(),
        )
    }

    /// Delivers a normalized message; a buffered one is flushed at its deadline.
    fn deliver(&mut self, message: InboundMessage) -> Value {
        let h = &mut self.sandbox.harness;
        h.on(message.channel);
        h.as_customer(&message.sender);
        let parsed = to_json(&message);
        let mut step: Step = h.deliver(message);
        if let Some(InboundOutcome::Buffered { until, .. }) = &step.inbound {
            let flushed = h.advance(&crate::sandbox::whole_seconds(until.since(h.now())));
            step.turns.extend(flushed.turns);
            step.sent.extend(flushed.sent);
            step.errors.extend(flushed.errors);
        }
        json!({
            "event": "message",
            "parsed": parsed,
            "outcome": step.inbound.as_ref().map(to_json),
            "turns": step.turns.iter().map(to_json).collect::<Vec<_>>(),
            "charged": step.charged().to_string(),
            "sent": self.sent_json(&step.sent),
            "errors": step.errors,
        })
    }
}

fn now_of(input: &ReplayInput) -> Timestamp {
    let secs = input.now_secs.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    });
    Timestamp::from_secs(secs)
}

/// Runs a replay and returns the JSON outcome.
///
/// # Errors
/// [`CliError::BadInput`] when the request is rejected: a bad or missing signature, an
/// oversized or malformed payload, an invalid header argument.
pub fn run(input: &ReplayInput) -> Result<Value, CliError> {
    let model = match &input.model {
        ReplayModel::None => ModelChoice::None,
        ReplayModel::Scripted(text) => {
            let ai = ScriptedAi::new();
            for _ in 0..64 {
                ai.reply(text.clone());
            }
            ModelChoice::Scripted(ai)
        }
        ReplayModel::Provider(p) => ModelChoice::Provider(p.clone()),
    };
    let sandbox = Sandbox::new(
        &input.tenant.text,
        &input.tenant.file,
        model,
        crate::ai::engine_config(),
    )?;
    let signing_key = sandbox.harness.engine.config().signing_key.clone();
    let mut replayer = Replayer {
        sandbox,
        signing_key,
    };
    let body = input.payload.as_slice();
    let headers = input.headers.as_slice();

    let signature = match (&input.secret, input.channel) {
        (None, _) => "not checked (no --secret)",
        (Some(secret), ReplayChannel::Whatsapp | ReplayChannel::Instagram) => {
            meta::verify_signature(
                secret.as_bytes(),
                body,
                header(headers, meta::SIGNATURE_HEADER),
            )
            .map_err(|e| rejected("signature", &e))?;
            "verified"
        }
        (Some(key), ReplayChannel::DiscordEvent | ReplayChannel::DiscordInteraction) => {
            discord::verify_request(
                key.trim(),
                header(headers, discord::SIGNATURE_HEADER),
                header(headers, discord::TIMESTAMP_HEADER),
                body,
                now_of(input),
            )
            .map_err(|e| rejected("signature", &e))?;
            "verified"
        }
        (Some(_), ReplayChannel::Email) => {
            return Err(CliError::bad_input(
                "emails carry no webhook signature: drop --secret for --channel email",
            ))
        }
    };

    let mut events = Vec::new();
    match input.channel {
        ReplayChannel::Whatsapp => {
            for event in whatsapp::parse_webhook(body).map_err(|e| rejected("payload", &e))? {
                events.push(match event {
                    WhatsAppEvent::Message(m) => replayer.deliver(m),
                    WhatsAppEvent::Status(s) => json!({ "event": "status", "status": to_json(&s) }),
                    WhatsAppEvent::Ignored { reason } => {
                        json!({ "event": "ignored", "reason": reason })
                    }
                });
            }
        }
        ReplayChannel::Instagram => {
            for event in instagram::parse_webhook(body).map_err(|e| rejected("payload", &e))? {
                events.push(match event {
                    InstagramEvent::Message(m) => replayer.deliver(m),
                    InstagramEvent::Status(s) => json!({ "event": "status", "status": to_json(&s) }),
                    InstagramEvent::Echo { mid } => {
                        json!({ "event": "ignored", "reason": format!("echo of our own message {mid}") })
                    }
                    InstagramEvent::Standby { reason } => {
                        json!({ "event": "ignored", "reason": format!("standby: {reason}") })
                    }
                    InstagramEvent::Ignored { reason } => json!({ "event": "ignored", "reason": reason }),
                });
            }
        }
        ReplayChannel::DiscordEvent => {
            match discord::parse_event(body).map_err(|e| rejected("payload", &e))? {
                DiscordEvent::Ping => {
                    events.push(json!({ "event": "ping", "response": { "status": 204 } }))
                }
                DiscordEvent::Other { event_type } => {
                    events.push(
                        json!({ "event": "ignored", "reason": format!("event {event_type}") }),
                    );
                }
                DiscordEvent::Message(message) => {
                    let bot = input
                        .bot_user_id
                        .clone()
                        .or_else(|| application_id(body))
                        .unwrap_or_default();
                    let engine = &replayer.sandbox.harness.engine;
                    let inbound =
                        block_on(engine.discord_inbound(&message, &bot)).map_err(engine_error)?;
                    events.push(match inbound {
                        Ok(m) => replayer.deliver(m),
                        Err(reason) => json!({ "event": "ignored", "reason": reason.to_string() }),
                    });
                }
            }
        }
        ReplayChannel::DiscordInteraction => {
            let interaction = discord::parse_interaction_with_key(body, &replayer.signing_key)
                .map_err(|e| rejected("payload", &e))?;
            events.push(replayer.interaction(interaction)?);
        }
        ReplayChannel::Email => {
            let recipient = input.recipient.clone().unwrap_or_else(|| {
                input
                    .tenant
                    .file
                    .channels
                    .email
                    .as_ref()
                    .and_then(|e| e.domains.first())
                    .map_or_else(|| "hello@localhost".to_owned(), |d| format!("hello@{d}"))
            });
            let h = &mut replayer.sandbox.harness;
            let before = h.outbound.sent().len();
            let outcome =
                block_on(h.engine.handle_email(body, &recipient)).map_err(|e| match e {
                    concierge_core::engine::EngineError::Malformed(e) => rejected("payload", &e),
                    other => CliError::bad_input(format!("engine error: {other}")),
                })?;
            let jobs = h.run_due_jobs();
            let sent = h.outbound.sent().split_off(before);
            events.push(json!({
                "event": "email",
                "recipient": recipient,
                "outcome": to_json(&outcome),
                "turns": jobs.turns.iter().map(to_json).collect::<Vec<_>>(),
                "sent": replayer.sent_json(&sent),
                "errors": jobs.errors,
            }));
        }
    }
    Ok(json!({
        "channel": format!("{:?}", input.channel).to_lowercase(),
        "signature": signature,
        "tenant": input.tenant.file.id.to_string(),
        "events": events,
    }))
}

/// An engine failure on the in-memory sandbox.
fn engine_error(e: EngineError) -> CliError {
    CliError::bad_input(format!("engine error: {e}"))
}

/// `application_id` of a Discord webhook event: the bot's user id for mention detection.
fn application_id(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get("application_id")?
        .as_str()
        .map(str::to_owned)
}

impl Replayer {
    /// The engine's answer to an interaction, as the server would give it; an approval
    /// decision runs on the sandbox (what it sent is reported).
    fn interaction(&mut self, interaction: Interaction) -> Result<Value, CliError> {
        let h = &mut self.sandbox.harness;
        let answer = block_on(h.engine.discord_interaction(&interaction)).map_err(engine_error)?;
        let response = match &answer {
            InteractionAnswer::Respond(body) => Some(body.clone()),
            InteractionAnswer::Decide { .. } => None,
        };
        Ok(match interaction {
            Interaction::Ping => json!({ "event": "ping", "response": response }),
            Interaction::Component {
                button: Some(button),
                user_id,
                ..
            } => {
                let mut event = json!({
                    "event": "button",
                    "user_id": user_id,
                    "action": to_json(&button.action),
                    "draft_id": button.draft_id,
                });
                match answer {
                    InteractionAnswer::Respond(body) => event["response"] = body,
                    InteractionAnswer::Decide { decision, .. } => {
                        let step = h.decide(&decision.draft_id, decision.decision);
                        event["response"] = json!(step.approvals.first().map(approval_response));
                        event["approvals"] =
                            json!(step.approvals.iter().map(to_json).collect::<Vec<_>>());
                        event["sent"] = self.sent_json(&step.sent);
                        event["errors"] = json!(step.errors);
                    }
                }
                event
            }
            Interaction::Component { custom_id, .. } => json!({
                "event": "button",
                "custom_id": custom_id,
                "ignored": "not a valid Concierge button under this deployment's key (expired or forged)",
                "response": response,
            }),
            Interaction::Command {
                name,
                options,
                guild_id,
                ..
            } => json!({
                "event": "command",
                "name": name,
                "guild_id": guild_id,
                "options": options.iter().map(|o| json!({ "name": o.name, "value": o.value })).collect::<Vec<_>>(),
                "response": response,
            }),
            Interaction::Autocomplete { name, focused, .. } => json!({
                "event": "autocomplete",
                "name": name,
                "focused": focused.map(|f| json!({ "name": f.name, "value": f.value })),
                "response": response,
            }),
            Interaction::Unsupported { kind } => json!({
                "event": "ignored",
                "reason": format!("interaction type {kind} is not supported"),
                "response": response,
            }),
        })
    }
}
