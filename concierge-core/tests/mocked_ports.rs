//! One-off expectations on a single port with mockall: the model fails on the second call.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::sync::Arc;

use async_trait::async_trait;
use concierge_core::engine::Reply;
use concierge_core::memory::MemoryStore;
use concierge_core::ports::{AiError, AiProvider, ChatRequest, Ledger, Ports};
use concierge_core::safety::{INJECTION_CLASSIFIER_PROMPT, PERSONA_CLASSIFIER_PROMPT};
use concierge_core::tenant::TenantFile;
use concierge_core::testing::{Harness, ManualClock, RecordingOutbound, EXAMPLE_TENANT};
use concierge_core::{Engine, EngineConfig, Milli};
use futures::executor::block_on;
use mockall::predicate::function;
use mockall::Sequence;

mockall::mock! {
    #[derive(Debug)]
    pub Model {}
    #[async_trait]
    impl AiProvider for Model {
        async fn chat(&self, request: &ChatRequest) -> Result<String, AiError>;
        async fn embed(&self, model: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, AiError>;
    }
}

fn is_reply(r: &ChatRequest) -> bool {
    r.system != INJECTION_CLASSIFIER_PROMPT && r.system != PERSONA_CLASSIFIER_PROMPT
}

#[test]
fn when_the_model_fails_on_the_second_reply_that_turn_is_refunded_and_the_first_stays_charged() {
    let mut model = MockModel::new();
    model
        .expect_chat()
        .with(function(|r: &ChatRequest| {
            r.system == PERSONA_CLASSIFIER_PROMPT
        }))
        .returning(|_| Ok(r#"{"verdict":"approve"}"#.to_owned()));
    model
        .expect_chat()
        .with(function(|r: &ChatRequest| {
            r.system == INJECTION_CLASSIFIER_PROMPT
        }))
        .returning(|_| Ok(r#"{"verdict":"allow"}"#.to_owned()));
    let mut seq = Sequence::new();
    model
        .expect_chat()
        .with(function(is_reply))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok("First answer".into()));
    model
        .expect_chat()
        .with(function(is_reply))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(AiError::Provider("overloaded".into())));

    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::default();
    let engine = Engine::new(
        Ports {
            store: store.clone(),
            ai: Arc::new(model),
            outbound: Arc::new(RecordingOutbound::new()),
            clock: Arc::new(clock.clone()),
        },
        EngineConfig::default(),
    );
    block_on(engine.import_tenant(TenantFile::from_toml(EXAMPLE_TENANT).unwrap())).unwrap();
    for job in store.take_due_jobs(concierge_core::ports::Clock::now(&clock)) {
        block_on(engine.run_job(&job)).unwrap();
    }
    // Messages built the way the harness builds them, on the same account.
    let mut h = Harness::new(EXAMPLE_TENANT);
    let first = block_on(engine.handle_inbound(h.message("hello"))).unwrap();
    assert_eq!(
        first.turn().unwrap().reply,
        Reply::Ai {
            text: "First answer".into()
        }
    );
    let second = block_on(engine.handle_inbound(h.message("hello again")));
    assert!(second.is_err_and(|e| e.is_retryable()));
    let tenant = concierge_core::TenantId::parse("sunrise-bakery").unwrap();
    let now = concierge_core::ports::Clock::now(&clock);
    assert_eq!(
        block_on(store.balance(&tenant, now)).unwrap(),
        Milli::from_milli(9_000),
        "one charge, the failed turn refunded"
    );
}
