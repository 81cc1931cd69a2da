//! The live demo chat: a stateless multi-turn chat with a curated persona.
//!
//! The visitor role-plays a customer of a sample business. The page keeps the history and posts
//! it on every turn with the handoff flag (`{handoff: bool}` on the wire); nothing is stored.
//! Same envelope, same gates as production: the injection scan, `prompt::wrap`, the
//! `[[HANDOFF]]` sentinel and the holding pattern after a handoff.

use serde::{Deserialize, Serialize};

use super::{Engine, EngineError};
use crate::conversation::{FieldError, Role, Turn};
use crate::persona::{PersonaBuilder, PersonaConfig, PersonaSource, VoiceArchetype};
use crate::ports::{AiError, ChatRequest};
use crate::prompt::{self, DEFAULT_MAX_HISTORY_MESSAGES, HOLDING_PATTERN_MIDDLE};

/// The longest visitor message the demo accepts, in characters.
pub const DEMO_MAX_MESSAGE_CHARS: usize = 1000;

/// The fixed answer when the injection scan rejects a demo message.
pub const DEMO_REFUSAL: &str =
    "Sorry, I can only help with questions a customer of this business would ask.";

/// A curated persona of the demo catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoPersona {
    /// Stable id used by the picker.
    pub slug: String,
    /// Display name.
    pub label: String,
    /// One line for the picker.
    pub description: String,
    /// The assistant's first message.
    pub greeting: String,
    /// The persona itself.
    pub source: PersonaSource,
}

impl DemoPersona {
    /// The exact system prompt the model receives for this persona ("View prompt") from an
    /// engine with the default configuration ([`envelope_for`](Self::envelope_for)).
    pub fn envelope(&self) -> String {
        self.envelope_for(false)
    }

    /// The exact system prompt the model receives for this persona ("View prompt"), in the
    /// compact envelope when `compact` ([`EngineConfig::compact_prompt`](super::EngineConfig::compact_prompt)).
    pub fn envelope_for(&self, compact: bool) -> String {
        let middle = PersonaConfig::new(self.source.clone()).active_prompt();
        if compact {
            prompt::compact::wrap_compact(&middle, None)
        } else {
            prompt::wrap(&middle)
        }
    }
}

fn builder(
    voice: VoiceArchetype,
    name: &str,
    kind: &str,
    city: &str,
    goal: &str,
    facts: &[&str],
    handoff: &[&str],
) -> PersonaSource {
    PersonaSource::Builder(PersonaBuilder {
        voice,
        assistant_name: None,
        business_name: name.to_owned(),
        business_type: kind.to_owned(),
        city: Some(city.to_owned()),
        goal: goal.to_owned(),
        goal_url: None,
        facts: facts.iter().map(|f| (*f).to_owned()).collect(),
        handoff_conditions: handoff.iter().map(|f| (*f).to_owned()).collect(),
        catch_phrases: Vec::new(),
        off_topic: vec![
            "politics".to_owned(),
            "anything unrelated to the business".to_owned(),
        ],
    })
}

/// The built-in demo catalog: sample businesses whose personas the operator vetted.
pub fn demo_catalog() -> Vec<DemoPersona> {
    vec![
        DemoPersona {
            slug: "bakery".into(),
            label: "Sunrise Bakery".into(),
            description: "A neighbourhood bakery taking cake pre-orders".into(),
            greeting: "Hi! I'm the Sunrise Bakery assistant. Looking for something sweet?".into(),
            source: builder(
                VoiceArchetype::Warm,
                "Sunrise Bakery",
                "bakery",
                "Pune",
                "answer questions about cakes and take pre-orders for celebration cakes",
                &["Open 7am to 8pm every day", "Celebration cakes need 48 hours' notice", "Eggless versions of every cake"],
                &["a complaint about an order", "an order for more than 50 people"],
            ),
        },
        DemoPersona {
            slug: "dental-clinic".into(),
            label: "Lotus Dental Clinic".into(),
            description: "A dental clinic booking and moving appointments".into(),
            greeting: "Hello, this is Lotus Dental Clinic. How can I help with your appointment?".into(),
            source: builder(
                VoiceArchetype::Caring,
                "Lotus Dental Clinic",
                "dental clinic",
                "Austin",
                "help patients book, move or cancel appointments",
                &["Open Monday to Friday 8am to 6pm, Saturday 9am to 1pm", "New-patient exam: 60 minutes"],
                &["pain, swelling or any dental emergency", "billing disputes"],
            ),
        },
        DemoPersona {
            slug: "concierge".into(),
            label: "Concierge".into(),
            description: "Concierge answering questions about itself".into(),
            greeting: "Hi! I answer a small business's customers on WhatsApp, Instagram, Discord and email. Ask me anything.".into(),
            source: builder(
                VoiceArchetype::Professional,
                "Concierge",
                "AI customer-messaging assistant for small businesses",
                "the cloud",
                "explain how Concierge answers customers in the business's own voice, hands off to humans and bills per AI reply",
                &[
                    "Businesses write ordered reply rules: canned text for free, or the AI",
                    "A human takes over when the assistant writes the handoff token",
                    "Owners can approve AI drafts before they are sent",
                ],
                &["the visitor wants to talk to the team or buy a plan"],
            ),
        },
    ]
}

/// A demo turn as the page posts it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoChatRequest {
    /// The picked persona's slug.
    pub persona: String,
    /// The conversation so far, oldest first (kept by the page).
    #[serde(default)]
    pub history: Vec<Turn>,
    /// The visitor's new message.
    pub message: String,
    /// Whether an earlier turn handed off (the page keeps the flag).
    #[serde(default)]
    pub handoff: bool,
}

/// The demo's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoChatReply {
    /// The reply, sentinel stripped.
    pub reply: String,
    /// Whether the conversation is handed off now.
    pub handoff: bool,
}

impl Engine {
    /// Runs one stateless demo turn. Free: demo turns are not billed (rate-limit them at the edge).
    ///
    /// # Errors
    /// [`EngineError::Invalid`] for an unknown persona, an empty or overlong message, or a history
    /// that does not alternate properly; [`EngineError::Ai`] when the model fails.
    pub async fn demo_chat(
        &self,
        catalog: &[DemoPersona],
        request: &DemoChatRequest,
    ) -> Result<DemoChatReply, EngineError> {
        let mut errors = Vec::new();
        let persona = catalog.iter().find(|p| p.slug == request.persona);
        if persona.is_none() {
            errors.push(FieldError::new(
                "persona",
                format!("no demo persona `{}`", request.persona),
            ));
        }
        let message = request.message.trim();
        if message.is_empty() || message.chars().count() > DEMO_MAX_MESSAGE_CHARS {
            errors.push(FieldError::new(
                "message",
                format!("must be 1 to {DEMO_MAX_MESSAGE_CHARS} characters"),
            ));
        }
        if request
            .history
            .iter()
            .any(|t| t.content.chars().count() > 4 * DEMO_MAX_MESSAGE_CHARS)
        {
            errors.push(FieldError::new("history", "a turn is too long"));
        }
        let (Some(persona), true) = (persona, errors.is_empty()) else {
            return Err(EngineError::Invalid(errors));
        };
        if let super::turn::Scan::Rejected(_) = self.scan_injection(message).await {
            return Ok(DemoChatReply {
                reply: DEMO_REFUSAL.to_owned(),
                handoff: request.handoff,
            });
        }
        let middle = if request.handoff {
            HOLDING_PATTERN_MIDDLE.to_owned()
        } else {
            PersonaConfig::new(persona.source.clone()).active_prompt()
        };
        let cap = DEFAULT_MAX_HISTORY_MESSAGES as usize - 1;
        let skip = request.history.len().saturating_sub(cap);
        let chat = ChatRequest {
            model: self.config.reply_model.clone(),
            system: self.envelope(&middle, None),
            history: request.history[skip..]
                .iter()
                .filter(|t| matches!(t.role, Role::User | Role::Assistant))
                .cloned()
                .collect(),
            user: message.to_owned(),
            max_tokens: self.reply_max_tokens(),
        };
        let raw = self.ai().chat(&chat).await.map_err(EngineError::Ai)?;
        // As in a customer's turn: copied envelope text is cut, and never acts.
        let (raw, echoed) = prompt::cut_envelope_echo(&raw);
        let (mut reply, found) = prompt::detect_and_strip_handoff(raw);
        if reply.is_empty() {
            if !found {
                let what = if echoed {
                    "the reply only echoed its instructions"
                } else {
                    "empty reply"
                };
                return Err(EngineError::Ai(AiError::BadResponse(what.into())));
            }
            reply = super::turn::HANDOFF_FALLBACK_TEXT.to_owned();
        }
        Ok(DemoChatReply {
            reply,
            handoff: request.handoff || found,
        })
    }
}
