//! The tenant's persona: who the assistant is and how it speaks.
//!
//! A persona is either built from a few fields ([`PersonaBuilder`]) or written by hand
//! ([`PersonaSource::Custom`]). Its [`active_prompt`](PersonaConfig::active_prompt) is the
//! editable middle of the prompt envelope; its sha256 ties the safety review to exactly that
//! text, so any edit blocks AI replies until the new text is approved.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::safety::SafetyStatus;

/// A curated voice the builder renders into tone instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VoiceArchetype {
    /// Warm and welcoming, like a neighbourhood shop.
    #[default]
    Warm,
    /// Polite, precise and reassuring.
    Professional,
    /// Light-hearted with a touch of humour.
    Playful,
    /// As few words as possible.
    Concise,
    /// Gentle and patient (clinics, care services).
    Caring,
}

impl VoiceArchetype {
    fn instructions(self) -> &'static str {
        match self {
            VoiceArchetype::Warm => "Speak warmly and welcomingly, like a friendly neighbourhood shop. Use the customer's name when you know it.",
            VoiceArchetype::Professional => "Speak politely, precisely and reassuringly. Avoid slang and emoji.",
            VoiceArchetype::Playful => "Be light-hearted and upbeat, with a touch of humour and the occasional emoji, but stay helpful.",
            VoiceArchetype::Concise => "Answer in as few words as possible: one or two short sentences.",
            VoiceArchetype::Caring => "Be gentle, patient and calm. Acknowledge how the customer feels before answering.",
        }
    }
}

/// The persona builder's fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PersonaBuilder {
    /// The voice archetype.
    #[serde(default)]
    pub voice: VoiceArchetype,
    /// The assistant's own name, if it has one ("Asha").
    #[serde(default)]
    pub assistant_name: Option<String>,
    /// The business's name.
    pub business_name: String,
    /// What kind of business it is ("bakery", "dental clinic").
    pub business_type: String,
    /// Where it is.
    #[serde(default)]
    pub city: Option<String>,
    /// What the assistant should achieve ("take cake pre-orders").
    pub goal: String,
    /// A link that serves the goal (menu, booking page).
    #[serde(default)]
    pub goal_url: Option<String>,
    /// Facts the assistant may state (hours, address, prices).
    #[serde(default)]
    pub facts: Vec<String>,
    /// When to hand the conversation to a human.
    #[serde(default)]
    pub handoff_conditions: Vec<String>,
    /// Phrases the business likes to use.
    #[serde(default)]
    pub catch_phrases: Vec<String>,
    /// Topics to decline.
    #[serde(default)]
    pub off_topic: Vec<String>,
}

/// Where the persona text comes from.
#[allow(clippy::large_enum_variant)] // configuration data, read far more than moved
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonaSource {
    /// Rendered from builder fields by [`generate`].
    Builder(PersonaBuilder),
    /// Written by hand.
    Custom(String),
}

/// Renders builder fields into the editable middle of the envelope.
pub fn generate(b: &PersonaBuilder) -> String {
    let mut out = String::new();
    let who = match &b.assistant_name {
        Some(name) if !name.trim().is_empty() => {
            format!("You are {}, the assistant of", name.trim())
        }
        _ => "You are the assistant of".to_owned(),
    };
    let _ = write!(
        out,
        "{who} {}, a {}",
        b.business_name.trim(),
        b.business_type.trim()
    );
    if let Some(city) = b.city.as_deref().filter(|c| !c.trim().is_empty()) {
        let _ = write!(out, " in {}", city.trim());
    }
    out.push_str(".\n");
    out.push_str(b.voice.instructions());
    out.push('\n');
    let _ = write!(out, "Your goal: {}", b.goal.trim());
    if let Some(url) = b.goal_url.as_deref().filter(|u| !u.trim().is_empty()) {
        let _ = write!(out, " (share this link when it helps: {})", url.trim());
    }
    out.push_str(".\n");
    list_section(&mut out, "Facts you may share", &b.facts);
    list_section(&mut out, "Hand off to a human when", &b.handoff_conditions);
    list_section(
        &mut out,
        "Phrases the business likes you to use",
        &b.catch_phrases,
    );
    list_section(&mut out, "Politely decline to discuss", &b.off_topic);
    out.trim_end().to_owned()
}

fn list_section(out: &mut String, title: &str, items: &[String]) {
    let items: Vec<&str> = items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title}:");
    for item in items {
        let _ = writeln!(out, "- {item}");
    }
}

/// A tenant's persona and its safety review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonaConfig {
    /// The persona text's source.
    pub source: PersonaSource,
    /// The review state of the text.
    #[serde(default)]
    pub safety: SafetyStatus,
}

impl PersonaConfig {
    /// A new persona, pending review.
    pub fn new(source: PersonaSource) -> Self {
        PersonaConfig {
            source,
            safety: SafetyStatus::Pending,
        }
    }

    /// The rendered middle: generated from the builder or the custom text as is.
    pub fn active_prompt(&self) -> String {
        match &self.source {
            PersonaSource::Builder(b) => generate(b),
            PersonaSource::Custom(text) => text.trim().to_owned(),
        }
    }

    /// sha256 (hex) of [`active_prompt`](Self::active_prompt).
    pub fn prompt_hash(&self) -> String {
        hex::encode(Sha256::digest(self.active_prompt().as_bytes()))
    }

    /// Whether AI replies may use this persona: approved, and the text has not changed since.
    pub fn cleared_for_ai(&self) -> bool {
        matches!(&self.safety, SafetyStatus::Approved { hash, .. } if *hash == self.prompt_hash())
    }

    /// The hash the last finished review was for, if any.
    pub fn reviewed_hash(&self) -> Option<&str> {
        match &self.safety {
            SafetyStatus::Approved { hash, .. } | SafetyStatus::Rejected { hash, .. } => Some(hash),
            SafetyStatus::Pending => None,
        }
    }

    /// Replaces the source. Returns `true` when the active prompt changed from what was last
    /// reviewed, in which case the status is now [`SafetyStatus::Pending`] and a safety job
    /// must be queued; saves that keep the text keep their review.
    pub fn replace_source(&mut self, source: PersonaSource) -> bool {
        self.source = source;
        let hash = self.prompt_hash();
        if self.reviewed_hash() == Some(hash.as_str()) {
            false
        } else {
            self.safety = SafetyStatus::Pending;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use expect_test::expect;

    fn bakery() -> PersonaBuilder {
        PersonaBuilder {
            voice: VoiceArchetype::Warm,
            assistant_name: Some("Asha".into()),
            business_name: "Sunrise Bakery".into(),
            business_type: "bakery".into(),
            city: Some("Pune".into()),
            goal: "take cake pre-orders".into(),
            goal_url: Some("https://sunrise.example/order".into()),
            facts: vec!["Open 7am to 8pm daily".into()],
            handoff_conditions: vec!["a complaint about an order".into()],
            catch_phrases: vec!["Fresh from our oven!".into()],
            off_topic: vec!["politics".into()],
        }
    }

    #[test]
    fn builder_renders_every_field() {
        expect![[r#"
            You are Asha, the assistant of Sunrise Bakery, a bakery in Pune.
            Speak warmly and welcomingly, like a friendly neighbourhood shop. Use the customer's name when you know it.
            Your goal: take cake pre-orders (share this link when it helps: https://sunrise.example/order).
            Facts you may share:
            - Open 7am to 8pm daily
            Hand off to a human when:
            - a complaint about an order
            Phrases the business likes you to use:
            - Fresh from our oven!
            Politely decline to discuss:
            - politics"#]]
        .assert_eq(&generate(&bakery()));
    }

    #[test]
    fn editing_the_text_resets_the_review_but_a_no_op_save_keeps_it() {
        let mut p = PersonaConfig::new(PersonaSource::Builder(bakery()));
        p.safety = SafetyStatus::Approved {
            hash: p.prompt_hash(),
            checked_at: Timestamp(1),
        };
        assert!(p.cleared_for_ai());
        assert!(!p.replace_source(PersonaSource::Builder(bakery())));
        assert!(p.cleared_for_ai());
        let mut edited = bakery();
        edited.goal = "sell bread".into();
        assert!(p.replace_source(PersonaSource::Builder(edited)));
        assert_eq!(p.safety, SafetyStatus::Pending);
        assert!(!p.cleared_for_ai());
    }

    #[test]
    fn custom_text_hash_is_sha256_of_the_trimmed_text() {
        let p = PersonaConfig::new(PersonaSource::Custom(" hello ".into()));
        assert_eq!(
            p.prompt_hash(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }
}
