//! `concierge ask`: the reply a customer would get to one question, with the configured model
//! and the tenant's knowledge base, and how it used the documents.

use std::sync::Arc;

use concierge_core::engine::Reply;
use concierge_core::knowledge::grounding::Citation;
use concierge_core::ports::AiProvider;
use serde::Serialize;

use crate::error::CliError;
use crate::sandbox::{ModelChoice, Sandbox};
use crate::source::TenantSource;

/// What `concierge ask --json` prints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// The text the customer gets (empty when no reply goes out).
    pub reply: String,
    /// The documents and headings the reply used.
    pub citations: Vec<Citation>,
    /// Whether the conversation was handed to a person.
    pub handoff: bool,
    /// Whether the reply rests on the knowledge base.
    pub grounded: bool,
    /// Why there is no reply, or how it was made when not by the model alone
    /// (`best_passage`, `unknown`, `canned`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Asks `question` as a new customer on the tenant's first channel.
///
/// # Errors
/// [`CliError::BadInput`] when the knowledge base cannot be read; [`CliError::Failed`] when
/// the engine fails the turn (the model errs, say).
pub fn ask(
    source: &TenantSource,
    provider: Option<Arc<dyn AiProvider>>,
    approve_persona: bool,
    question: &str,
) -> Result<Answer, CliError> {
    let config = crate::ai::engine_config();
    let model = match provider {
        Some(p) => ModelChoice::Provider(p),
        None => ModelChoice::None,
    };
    let mut sandbox = Sandbox::new(&source.text, &source.file, model, config)?;
    if approve_persona {
        sandbox.approve_persona()?;
    }
    for skipped in sandbox.learn_from_files(&source.path, &source.file.knowledge)? {
        eprintln!("skipped {}: not a document kind", skipped.display());
    }
    let step = sandbox.says_and_flush(question);
    if let Some(error) = step.errors.first() {
        return Err(CliError::Failed(error.clone()));
    }
    let turn = step.turns.last();
    let knowledge = turn.and_then(|t| t.knowledge.clone());
    let reply = step.replies().join("\n");
    let note = match turn.map(|t| &t.reply) {
        Some(Reply::None { reason }) => Some(format!("no reply: {reason:?}")),
        Some(Reply::Canned { .. }) => Some("canned".into()),
        _ => knowledge.as_ref().and_then(|k| k.fallback.clone()),
    };
    Ok(Answer {
        reply,
        citations: knowledge
            .as_ref()
            .map(|k| k.citations.clone())
            .unwrap_or_default(),
        handoff: turn.is_some_and(|t| t.handoff),
        grounded: knowledge.is_some_and(|k| k.grounded),
        note,
    })
}

/// The answer for a person: the reply, then its sources.
pub fn render(answer: &Answer) -> String {
    let mut out = if answer.reply.is_empty() {
        "(no reply)".to_owned()
    } else {
        answer.reply.clone()
    };
    out.push('\n');
    for c in &answer.citations {
        if c.heading.is_empty() {
            out.push_str(&format!("  source: {}\n", c.source));
        } else {
            out.push_str(&format!("  source: {} > {}\n", c.source, c.heading));
        }
    }
    if answer.handoff {
        out.push_str("  handed off to a person\n");
    }
    if let Some(note) = &answer.note {
        out.push_str(&format!("  ({note})\n"));
    }
    out
}
