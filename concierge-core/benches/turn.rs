//! One whole turn with in-memory ports, next to a bare `serde_json` parse of the same webhook.
//!
//! `cargo bench -p concierge-core --bench turn` — figures and ratios go to docs/benchmarks.md.
//! The turn = verify the X-Hub-Signature-256 + parse the WhatsApp webhook + the engine
//! (idempotency, tenant lookup, injection scan, session, rules, billing, prompt, send, log).

use std::sync::Arc;

use async_trait::async_trait;
use concierge_core::channels::{meta, whatsapp};
use concierge_core::memory::MemoryStore;
use concierge_core::ports::{
    AiError, AiProvider, ChatRequest, Outbound, OutboundError, OutboundMessage, Ports, SendReceipt,
};
use concierge_core::safety::{INJECTION_CLASSIFIER_PROMPT, PERSONA_CLASSIFIER_PROMPT};
use concierge_core::tenant::TenantFile;
use concierge_core::testing::{ManualClock, EXAMPLE_TENANT};
use concierge_core::{Engine, EngineConfig, Milli};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use futures::executor::block_on;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A model that answers at once and records nothing (so memory stays flat over millions of turns).
#[derive(Debug)]
struct InstantModel;

#[async_trait]
impl AiProvider for InstantModel {
    async fn chat(&self, request: &ChatRequest) -> Result<String, AiError> {
        Ok(if request.system == INJECTION_CLASSIFIER_PROMPT {
            r#"{"verdict":"allow"}"#.to_owned()
        } else if request.system == PERSONA_CLASSIFIER_PROMPT {
            r#"{"verdict":"approve"}"#.to_owned()
        } else {
            "Yes, we have chocolate and lemon cakes today!".to_owned()
        })
    }
    async fn embed(&self, _: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, AiError> {
        Ok(texts.iter().map(|_| vec![1.0, 0.0]).collect())
    }
}

#[derive(Debug)]
struct NullOutbound;

#[async_trait]
impl Outbound for NullOutbound {
    async fn send(&self, _: &OutboundMessage) -> Result<SendReceipt, OutboundError> {
        Ok(SendReceipt {
            provider_ids: vec!["wamid.out".to_owned()],
        })
    }
}

const SECRET: &[u8] = b"bench-app-secret";

fn webhook(n: u64, text: &str) -> (Vec<u8>, String) {
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}},"contacts":[{{"profile":{{"name":"Sheena Nelson"}},"wa_id":"16505551234"}}],"messages":[{{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA{n}","timestamp":"1749416383","type":"text","text":{{"body":"{text}"}}}}]}},"field":"messages"}}]}}]}}"#
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("any key length");
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    (body.into_bytes(), signature)
}

fn engine() -> Engine {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::default();
    let engine = Engine::new(
        Ports {
            store: store.clone(),
            ai: Arc::new(InstantModel),
            outbound: Arc::new(NullOutbound),
            clock: Arc::new(clock.clone()),
        },
        EngineConfig::default(),
    );
    let mut file = TenantFile::from_toml(EXAMPLE_TENANT).expect("example tenant");
    file.starting_credits = Some(Milli::from_milli(i64::MAX / 4));
    block_on(engine.import_tenant(file)).expect("import");
    for job in store.take_due_jobs(concierge_core::ports::Clock::now(&clock)) {
        block_on(engine.run_job(&job)).expect("persona review");
    }
    engine
}

fn turn(engine: &Engine, body: &[u8], signature: &str) {
    meta::verify_signature(SECRET, body, Some(signature)).expect("signed");
    for event in whatsapp::parse_webhook(body).expect("parses") {
        if let whatsapp::WhatsAppEvent::Message(message) = event {
            let outcome = block_on(engine.handle_inbound(message)).expect("turn");
            assert!(outcome.turn().is_some_and(|t| t.reply.was_sent()));
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("whatsapp_turn");
    let mut n = 0u64;
    group.bench_function("bare_serde_json_parse", |b| {
        b.iter_batched(
            || {
                n += 1;
                webhook(n, "what are your hours?")
            },
            |(body, _)| serde_json::from_slice::<serde_json::Value>(&body).expect("json"),
            BatchSize::SmallInput,
        )
    });
    let canned = engine();
    group.bench_function("turn_canned_rule", |b| {
        b.iter_batched(
            || {
                n += 1;
                webhook(n, "what are your hours?")
            },
            |(body, sig)| turn(&canned, &body, &sig),
            BatchSize::SmallInput,
        )
    });
    let prompt = engine();
    group.bench_function("turn_prompt_rule_scripted_model", |b| {
        b.iter_batched(
            || {
                n += 1;
                webhook(n, "do you have cakes today?")
            },
            |(body, sig)| turn(&prompt, &body, &sig),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
