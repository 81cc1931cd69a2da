//! Embeds concierge-core with the in-memory store, a tiny home-made AI provider and an
//! outbound port that prints to the terminal, then plays a short conversation with the
//! example bakery. No network, no API key, no async runtime beyond `block_on`.
//!
//! Run: `cargo run -p concierge-examples --bin quickstart`

use std::sync::Arc;

use async_trait::async_trait;
use concierge_core::channels::{InboundMessage, MessageContent, ReplyRoute};
use concierge_core::memory::MemoryStore;
use concierge_core::ports::{
    AiError, AiProvider, ChatRequest, Clock, Outbound, OutboundBody, OutboundError,
    OutboundMessage, Ports, SendReceipt,
};
use concierge_core::tenant::TenantFile;
use concierge_core::time::Span;
use concierge_core::{Channel, ChannelAccount, Engine, EngineConfig, Timestamp};
use futures::executor::block_on;

/// A stand-in model: approves personas, allows messages, and answers politely.
#[derive(Debug)]
struct PoliteModel;

#[async_trait]
impl AiProvider for PoliteModel {
    async fn chat(&self, request: &ChatRequest) -> Result<String, AiError> {
        if request.system == concierge_core::safety::PERSONA_CLASSIFIER_PROMPT {
            return Ok(r#"{"verdict":"approve"}"#.into());
        }
        if request.system == concierge_core::safety::INJECTION_CLASSIFIER_PROMPT {
            return Ok(r#"{"verdict":"allow"}"#.into());
        }
        Ok(format!(
            "Thanks for asking about \"{}\"! Let me check with the team.",
            request.user
        ))
    }

    async fn embed(&self, _model: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, AiError> {
        Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
    }
}

/// Prints what would be sent.
#[derive(Debug)]
struct Terminal;

#[async_trait]
impl Outbound for Terminal {
    async fn send(&self, message: &OutboundMessage) -> Result<SendReceipt, OutboundError> {
        if let OutboundBody::Text { text, .. } = &message.body {
            println!("  bakery → {}: {text}", message.to);
        }
        Ok(SendReceipt {
            provider_ids: vec![message.key.clone()],
        })
    }
}

/// A clock that starts at a fixed instant and can be moved.
#[derive(Debug)]
struct FixedClock(std::sync::Mutex<Timestamp>);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(FixedClock(std::sync::Mutex::new(Timestamp::from_secs(
        1_767_258_000,
    ))));
    let engine = Engine::new(
        Ports {
            store: store.clone(),
            ai: Arc::new(PoliteModel),
            outbound: Arc::new(Terminal),
            clock: clock.clone(),
        },
        EngineConfig::default(),
    );

    let file = TenantFile::from_toml(include_str!("../../tenants/sunrise-bakery.toml"))?;
    let imported = block_on(engine.import_tenant(file))?;
    println!(
        "imported sunrise-bakery (revision {}), persona review queued: {}",
        imported.revision, imported.review_queued
    );

    // Run the queued persona review, as an adapter's job worker would.
    for job in store.take_due_jobs(clock.now()) {
        println!("job: {:?}", block_on(engine.run_job(&job))?);
    }

    for (i, text) in ["What are your opening hours?", "Do you deliver to Kothrud?"]
        .into_iter()
        .enumerate()
    {
        println!("customer → bakery: {text}");
        let message = InboundMessage {
            channel: Channel::WhatsApp,
            account: ChannelAccount::WhatsAppPhone("106540352242922".into()),
            sender: "919800000001".into(),
            sender_name: Some("Priya".into()),
            provider_id: format!("wamid.quickstart.{i}"),
            sent_at: Some(clock.now()),
            content: MessageContent::Text { body: text.into() },
            reply_to: None,
            route: ReplyRoute::Direct,
            acked_at: None,
        };
        println!("  outcome: {:?}", block_on(engine.handle_inbound(message))?);
        // The bakery buffers bursts for 3 seconds: move time and fire the buffer.
        {
            let mut now = clock
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *now = *now + Span::seconds(3);
        }
        for job in store.take_due_jobs(clock.now()) {
            block_on(engine.run_job(&job))?;
        }
    }
    Ok(())
}
