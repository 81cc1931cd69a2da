//! The engine: one entry point per event, each running the turn of DESIGN.md over the ports.
//!
//! | event | entry |
//! |---|---|
//! | a customer message (parsed by [`channels`](crate::channels)) | [`Engine::handle_inbound`], or [`Engine::process_inbound`] after the adapter's own durable dedupe |
//! | a raw email from the mail transport | [`Engine::handle_email`] |
//! | a demo chat turn (stateless) | [`Engine::demo_chat`] |
//! | a Discord interaction (PING, slash command, approval button) | [`Engine::discord_interaction_response`], or [`Engine::discord_interaction`] when the approval runs elsewhere |
//! | a Discord slash command | [`Engine::discord_command`] |
//! | a Discord `MESSAGE_CREATE` | [`Engine::discord_inbound`] |
//! | a due job (buffer flush, safety review, approval digest) | [`Engine::run_job`] |
//! | the owner approves / edits / rejects a draft | [`Engine::decide_approval`] |
//! | persona save, rules save, conversation settings, tenant import, credit grant | [`Engine::save_persona`], [`Engine::save_reply_config`], [`Engine::update_conversation_settings`], [`Engine::import_tenant`], [`Engine::grant_credits`] |
//!
//! Every effect is keyed so that running an event twice (a redelivery, a retried job, a crash
//! between two steps) has the effect once: the debit and the send are keyed by the turn, the
//! page by the handoff, the draft by the turn. The engine loads a conversation's session, decides
//! and saves it once per event; the adapter runs one event per conversation at a time.

mod admin;
mod catalog;
mod commands;
mod demo;
mod discord;
mod email;
mod fold;
mod jobs;
mod knowledge;
mod outcome;
mod pricing;
mod turn;

use std::sync::Arc;

use crate::billing::Pricing;
use crate::channels::InboundMessage;
use crate::ports::{AiProvider, Clock, Outbound, Ports, Store};
use crate::time::Span;

pub use admin::STARTING_CREDITS_GRANT;
pub use demo::{
    demo_catalog, DemoChatReply, DemoChatRequest, DemoPersona, DEMO_MAX_MESSAGE_CHARS, DEMO_REFUSAL,
};
pub use discord::{approval_reply_text, approval_response, InteractionAnswer};
pub use knowledge::{IngestOutcome, SearchResult, SyncReport};
pub use outcome::{
    ApprovalOutcome, CatalogSaveOutcome, EmailOutcome, EngineError, FlushOutcome, IgnoreReason,
    ImportOutcome, InboundOutcome, JobOutcome, KnowledgeUse, NoReplyReason, PersonaSaveOutcome,
    Reply, SafetyOutcome, TurnReport,
};
pub use pricing::{PriceChange, PriceListing};

/// Default reply model (Workers AI id; any OpenAI-compatible id works with the server).
pub const DEFAULT_AI_MODEL: &str = "@cf/meta/llama-4-scout-17b-16e-instruct";
/// Default fast model for the injection scan, the persona review and the rolling summary.
pub const DEFAULT_AI_FAST_MODEL: &str = "@cf/meta/llama-3.1-8b-instruct-fast";
/// Default embedding model.
pub const DEFAULT_EMBEDDING_MODEL: &str = "@cf/baai/bge-base-en-v1.5";

/// How the engine behaves; adapters fill it from their configuration.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The reply model (`AI_MODEL`).
    pub reply_model: String,
    /// The fast model (`AI_FAST_MODEL`): the injection scan, the persona review and the
    /// conversation summary past the history cap.
    pub fast_model: String,
    /// The embedding model (`EMBEDDING_MODEL`).
    pub embedding_model: String,
    /// The default price of an AI reply per currency; the operator's stored prices
    /// ([`PricingStore`](crate::ports::PricingStore)) override it per currency at runtime
    /// (see [`Engine::ai_reply_price`]).
    pub pricing: Pricing,
    /// How long provider message ids are remembered (Meta redelivers for days).
    pub idempotency_ttl: Span,
    /// Upper bound on reply tokens.
    pub max_reply_tokens: u32,
    /// Fold the turns a conversation outgrows its history cap with into a rolling summary
    /// ([`crate::rolling_summary`]); off, they are dropped unread as before. On by default;
    /// a deployment whose one fast model is a small local one may turn it off (each fold is a
    /// model call after the reply).
    pub rolling_summary: bool,
    /// Key for approval links and Discord button ids (keep it secret, 32 random bytes).
    pub signing_key: Vec<u8>,
    /// Public base URL for approval links in digests (`https://concierge.example.com`).
    pub public_base_url: String,
    /// Whether to run the injection scan on inbound messages.
    pub injection_scan: bool,
    /// Hold the reply model to the knowledge base, for small models that drift: an AI reply
    /// that uses none of the passages it was given is replaced by the best passage, and a
    /// question nothing in the knowledge base answers gets the tenant's "I don't know" line
    /// without asking the model. Off by default (a capable model is told, and trusted).
    pub strict_grounding: bool,
    /// Use the compact envelope ([`crate::prompt::compact`]) and short replies (at most
    /// [`COMPACT_REPLY_TOKENS`](crate::prompt::compact::COMPACT_REPLY_TOKENS)), for small
    /// local models where every prompt token costs prefill time. Off by default; read it
    /// through [`EngineConfig::compact_envelope`].
    pub compact_prompt: bool,
}

impl EngineConfig {
    /// Whether replies get the compact envelope: [`compact_prompt`](Self::compact_prompt), in
    /// a build with the `knowledge` feature. The compact envelope is for small models answering
    /// from passages; a build without the feature (the Cloudflare Worker) compiles it out.
    pub fn compact_envelope(&self) -> bool {
        cfg!(feature = "knowledge") && self.compact_prompt
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            reply_model: DEFAULT_AI_MODEL.to_owned(),
            fast_model: DEFAULT_AI_FAST_MODEL.to_owned(),
            embedding_model: DEFAULT_EMBEDDING_MODEL.to_owned(),
            pricing: Pricing::default(),
            idempotency_ttl: Span::days(7),
            max_reply_tokens: 400,
            rolling_summary: true,
            signing_key: Vec::new(),
            public_base_url: "http://127.0.0.1:8080".to_owned(),
            injection_scan: true,
            strict_grounding: false,
            compact_prompt: false,
        }
    }
}

/// The Concierge engine. Cheap to clone; holds the ports behind `Arc`s.
#[derive(Clone, Debug)]
pub struct Engine {
    ports: Ports,
    config: Arc<EngineConfig>,
    #[cfg(feature = "knowledge")]
    knowledge: Arc<knowledge::IndexCache>,
}

impl Engine {
    /// An engine over these ports.
    pub fn new(ports: Ports, config: EngineConfig) -> Self {
        Engine {
            ports,
            config: Arc::new(config),
            #[cfg(feature = "knowledge")]
            knowledge: Arc::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The ports (the harness builds engines over the same ones).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn ports(&self) -> &Ports {
        &self.ports
    }

    pub(crate) fn store(&self) -> &dyn Store {
        &*self.ports.store
    }

    fn ai(&self) -> &dyn AiProvider {
        &*self.ports.ai
    }

    fn outbound(&self) -> &dyn Outbound {
        &*self.ports.outbound
    }

    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.ports.clock
    }

    /// Handles a customer message end to end: idempotency on the provider message id, then
    /// [`process_inbound`](Self::process_inbound).
    ///
    /// For adapters that acknowledge the platform only after this returns: on a retryable
    /// error the id is forgotten again, so the platform's redelivery is processed.
    ///
    /// # Errors
    /// [`EngineError`]; see [`EngineError::is_retryable`].
    pub async fn handle_inbound(
        &self,
        message: InboundMessage,
    ) -> Result<InboundOutcome, EngineError> {
        let key = message.idempotency_key();
        let now = self.clock().now();
        if !self
            .store()
            .first_seen(&key, now, self.config.idempotency_ttl)
            .await?
        {
            tracing::debug!(key = %key, "duplicate delivery ignored");
            return Ok(InboundOutcome::Duplicate);
        }
        match self.process_inbound(message).await {
            Err(e) if e.is_retryable() => {
                // Nothing was committed for this message; let the redelivery run it.
                if let Err(forget) = self.store().forget(&key).await {
                    tracing::warn!(key = %key, error = %forget, "could not release idempotency key");
                }
                Err(e)
            }
            other => other,
        }
    }
}
