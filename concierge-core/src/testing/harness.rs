//! The conversation harness: script a customer, move time, assert what they got.
//!
//! ```
//! use concierge_core::testing::Harness;
//!
//! let mut h = Harness::new(concierge_core::testing::EXAMPLE_TENANT);
//! h.ai.reply("We have chocolate and lemon cake today!");
//! h.says("hi, do you have cakes?").expect_reply_contains("chocolate").expect_charge("1");
//! h.says("what are your hours?").expect_reply("We're open 7am to 8pm every day.").expect_free();
//! ```
//!
//! Everything runs in memory with a [`ManualClock`]: no network, no API key, deterministic.
//! Assertions panic with the step's full report, so a failing test says what happened.

use std::sync::Arc;

use futures::executor::block_on;

use super::fakes::{ManualClock, RecordingOutbound, ScriptedAi};
use crate::approval::ApprovalDecision;
use crate::channels::{InboundMessage, MessageContent, ReplyRoute};
use crate::conversation::Session;
use crate::engine::{
    ApprovalOutcome, Engine, EngineConfig, InboundOutcome, JobOutcome, Reply, TurnReport,
};
use crate::ids::{Channel, ChannelAccount, ConversationKey, Milli, TenantId};
use crate::memory::MemoryStore;
use crate::ports::{
    AiProvider, ChatRequest, Ledger, OutboundBody, OutboundMessage, Ports, Purpose, SessionStore,
};
use crate::tenant::{Tenant, TenantFile};
use crate::time::{Span, Timestamp};

/// What one harness action produced.
#[derive(Debug, Default, Clone)]
pub struct Step {
    /// The inbound outcome, for `says`.
    pub inbound: Option<InboundOutcome>,
    /// Every turn that ran (the inbound's, or buffer flushes while time advanced).
    pub turns: Vec<TurnReport>,
    /// Other job outcomes (safety reviews, digests).
    pub jobs: Vec<JobOutcome>,
    /// Approval decisions.
    pub approvals: Vec<ApprovalOutcome>,
    /// Everything sent during the step.
    pub sent: Vec<OutboundMessage>,
    /// Engine errors during the step.
    pub errors: Vec<String>,
    customer: String,
}

fn body_text(body: &OutboundBody) -> String {
    match body {
        OutboundBody::Text { text, .. } | OutboundBody::Email { text, .. } => text.clone(),
        OutboundBody::ApprovalCard { draft_text, .. } => draft_text.clone(),
        OutboundBody::FullEmail(mail) => mail.text.clone(),
    }
}

impl Step {
    /// An empty step for `customer`, for drivers that fill a step themselves.
    pub fn for_customer(customer: impl Into<String>) -> Self {
        Step {
            customer: customer.into(),
            ..Step::default()
        }
    }

    /// The customer whose replies [`replies`](Self::replies) lists.
    pub fn customer(&self) -> &str {
        &self.customer
    }

    /// The texts sent to the current customer, in order.
    pub fn replies(&self) -> Vec<String> {
        self.sent
            .iter()
            .filter(|m| m.purpose == Purpose::Reply && m.to == self.customer)
            .map(|m| body_text(&m.body))
            .collect()
    }

    /// Messages sent to the owner (handoff pages, approval requests, digests).
    pub fn owner_messages(&self) -> Vec<&OutboundMessage> {
        self.sent
            .iter()
            .filter(|m| m.purpose != Purpose::Reply)
            .collect()
    }

    /// What this step charged in total.
    pub fn charged(&self) -> Milli {
        Milli(
            self.turns
                .iter()
                .filter_map(|t| t.charged)
                .map(|m| m.0)
                .sum(),
        )
    }

    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        panic!("{what}\n--- step ---\n{self:#?}")
    }

    /// Exactly one reply, equal to `expected`.
    #[track_caller]
    pub fn expect_reply(&self, expected: &str) -> &Self {
        match self.replies().as_slice() {
            [one] if one == expected => self,
            other => self.fail(&format!("expected the reply {expected:?}, got {other:?}")),
        }
    }

    /// Exactly one reply, containing `needle`.
    #[track_caller]
    pub fn expect_reply_contains(&self, needle: &str) -> &Self {
        match self.replies().as_slice() {
            [one] if one.contains(needle) => self,
            other => self.fail(&format!(
                "expected one reply containing {needle:?}, got {other:?}"
            )),
        }
    }

    /// No reply to the customer.
    #[track_caller]
    pub fn expect_no_reply(&self) -> &Self {
        let replies = self.replies();
        if replies.is_empty() {
            self
        } else {
            self.fail(&format!("expected no reply, got {replies:?}"))
        }
    }

    /// The model asked for a human and the owner was paged.
    #[track_caller]
    pub fn expect_handoff(&self) -> &Self {
        if self.turns.iter().any(|t| t.handoff && t.paged) {
            self
        } else {
            self.fail("expected a handoff with a page to the owner")
        }
    }

    /// No handoff started in this step.
    #[track_caller]
    pub fn expect_no_handoff(&self) -> &Self {
        if self.turns.iter().any(|t| t.handoff) {
            self.fail("expected no handoff")
        } else {
            self
        }
    }

    /// This step charged exactly `amount` (a decimal, e.g. `"1"` or `"0.02"`).
    #[track_caller]
    pub fn expect_charge(&self, amount: &str) -> &Self {
        let expected = Milli::parse(amount).unwrap_or_else(|e| panic!("{e}"));
        if self.charged() == expected {
            self
        } else {
            self.fail(&format!(
                "expected a charge of {expected}, charged {}",
                self.charged()
            ))
        }
    }

    /// This step charged nothing.
    #[track_caller]
    pub fn expect_free(&self) -> &Self {
        if self.charged() == Milli::ZERO {
            self
        } else {
            self.fail(&format!("expected no charge, charged {}", self.charged()))
        }
    }

    /// The message waits in the reply buffer.
    #[track_caller]
    pub fn expect_buffered(&self) -> &Self {
        if matches!(self.inbound, Some(InboundOutcome::Buffered { .. })) {
            self
        } else {
            self.fail("expected the message to be buffered")
        }
    }

    /// The message was a redelivery and changed nothing.
    #[track_caller]
    pub fn expect_duplicate(&self) -> &Self {
        if matches!(self.inbound, Some(InboundOutcome::Duplicate)) && self.sent.is_empty() {
            self
        } else {
            self.fail("expected a duplicate delivery with no effect")
        }
    }

    /// The injection scan rejected the message: no rule, no reply.
    #[track_caller]
    pub fn expect_injection_rejected(&self) -> &Self {
        if matches!(self.inbound, Some(InboundOutcome::InjectionRejected)) && self.sent.is_empty() {
            self
        } else {
            self.fail("expected the injection scan to reject the message")
        }
    }

    /// A draft was made for approval; returns its id.
    #[track_caller]
    pub fn expect_draft(&self) -> String {
        self.turns
            .iter()
            .find_map(|t| match &t.reply {
                Reply::Drafted { draft_id, .. } => Some(draft_id.clone()),
                _ => None,
            })
            .unwrap_or_else(|| self.fail("expected a draft for approval"))
    }

    /// The turn's reply, for custom assertions.
    #[track_caller]
    pub fn reply_outcome(&self) -> &Reply {
        match self.turns.last() {
            Some(t) => &t.reply,
            None => self.fail("expected a turn"),
        }
    }

    /// How the last turn's AI reply used the knowledge base.
    #[track_caller]
    pub fn knowledge(&self) -> &crate::engine::KnowledgeUse {
        match self.turns.last().and_then(|t| t.knowledge.as_ref()) {
            Some(k) => k,
            None => self.fail("expected an AI reply over the knowledge base"),
        }
    }

    /// The last reply cites the document `source` (and, when given, under `heading`).
    #[track_caller]
    pub fn expect_citation(&self, source: &str, heading: Option<&str>) -> &Self {
        let used = self.knowledge();
        let found = used
            .citations
            .iter()
            .any(|c| c.source == source && heading.is_none_or(|h| c.heading == h));
        if !found {
            self.fail(&format!(
                "expected a citation of {source} {heading:?}, got {:?}",
                used.citations
            ));
        }
        self
    }

    /// The last reply rests on no passage: the knowledge base had nothing for it.
    #[track_caller]
    pub fn expect_unknown(&self) -> &Self {
        let used = self.knowledge();
        if used.grounded || !used.citations.is_empty() {
            self.fail(&format!("expected no grounding, got {used:?}"));
        }
        self
    }

    /// The matched rule's name.
    #[track_caller]
    pub fn expect_rule(&self, name: &str) -> &Self {
        match self.turns.last().and_then(|t| t.rule.as_ref()) {
            Some(r) if r.name() == name => self,
            other => self.fail(&format!("expected rule {name:?}, got {other:?}")),
        }
    }
}

/// A conversation harness over one tenant, in memory.
#[derive(Debug)]
pub struct Harness {
    /// The scripted model.
    pub ai: ScriptedAi,
    /// What was sent.
    pub outbound: RecordingOutbound,
    /// The clock.
    pub clock: ManualClock,
    /// The store.
    pub store: Arc<MemoryStore>,
    /// The engine under test.
    pub engine: Engine,
    tenant: TenantId,
    channel: Channel,
    customer: String,
    next_id: u64,
    last_inbound: Option<InboundMessage>,
}

impl Harness {
    /// Another engine over this harness's ports (same store, model, outbound and clock) with
    /// `config`: what a redeploy with new settings sees.
    pub fn engine_with(&self, config: crate::EngineConfig) -> Engine {
        Engine::new(self.engine.ports().clone(), config)
    }

    /// A harness for the tenant described by a TOML tenant file, with its persona reviewed
    /// (the scripted model approves unless told otherwise).
    ///
    /// # Panics
    /// If the file is invalid: the panic message lists the problems.
    pub fn new(tenant_toml: &str) -> Self {
        Self::with_ai(tenant_toml, ScriptedAi::new(), EngineConfig::default())
    }

    /// A harness with a pre-scripted model and an engine configuration.
    ///
    /// # Panics
    /// If the file is invalid.
    pub fn with_ai(tenant_toml: &str, ai: ScriptedAi, config: EngineConfig) -> Self {
        let provider: Arc<dyn AiProvider> = Arc::new(ai.clone());
        Self::build(tenant_toml, ai, provider, config)
    }

    /// A harness whose engine uses another model provider (a real OpenAI-compatible endpoint, a
    /// local model). The persona review runs with that provider; `h.ai` then scripts nothing and
    /// records nothing.
    ///
    /// # Panics
    /// If the file is invalid.
    pub fn with_provider(
        tenant_toml: &str,
        provider: Arc<dyn AiProvider>,
        config: EngineConfig,
    ) -> Self {
        Self::build(tenant_toml, ScriptedAi::new(), provider, config)
    }

    fn build(
        tenant_toml: &str,
        ai: ScriptedAi,
        provider: Arc<dyn AiProvider>,
        mut config: EngineConfig,
    ) -> Self {
        let file = TenantFile::from_toml(tenant_toml)
            .unwrap_or_else(|e| panic!("invalid tenant file: {e}"));
        if config.signing_key.is_empty() {
            config.signing_key = b"harness-signing-key".to_vec();
        }
        let store = Arc::new(MemoryStore::new());
        let outbound = RecordingOutbound::new();
        let clock = ManualClock::default();
        let engine = Engine::new(
            Ports {
                store: store.clone(),
                ai: provider,
                outbound: Arc::new(outbound.clone()),
                clock: Arc::new(clock.clone()),
            },
            config,
        );
        let tenant = file.id.clone();
        let channel = file
            .channels
            .accounts()
            .first()
            .map(ChannelAccount::channel)
            .unwrap_or(Channel::Web);
        block_on(engine.import_tenant(file)).unwrap_or_else(|e| panic!("import failed: {e}"));
        let mut h = Harness {
            ai,
            outbound,
            clock,
            store,
            engine,
            tenant,
            channel,
            customer: "15550001111".to_owned(),
            next_id: 0,
            last_inbound: None,
        };
        h.run_due_jobs();
        h
    }

    /// Adds (or replaces) the document `source` of the tenant's knowledge base, as an upload
    /// would (crate feature `knowledge`).
    ///
    /// # Panics
    /// If the engine refuses the document: the message says why.
    #[cfg(feature = "knowledge")]
    pub fn learn(&mut self, source: &str, text: &str) -> &mut Self {
        block_on(
            self.engine
                .ingest_document(&self.tenant, source, text.as_bytes()),
        )
        .unwrap_or_else(|e| panic!("ingest of {source} failed: {e}"));
        self
    }

    /// Switches the customer who speaks next.
    pub fn as_customer(&mut self, id: &str) -> &mut Self {
        id.clone_into(&mut self.customer);
        self
    }

    /// Switches the channel the customer writes on.
    pub fn on(&mut self, channel: Channel) -> &mut Self {
        self.channel = channel;
        self
    }

    /// The tenant as stored.
    pub fn tenant(&self) -> Tenant {
        block_on(crate::ports::TenantStore::get_tenant(
            &*self.store,
            &self.tenant,
        ))
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("tenant {} is gone", self.tenant))
    }

    /// The tenant's id.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant
    }

    /// The current customer's conversation key.
    pub fn key(&self) -> ConversationKey {
        ConversationKey::new(self.tenant.clone(), self.channel, self.customer.clone())
    }

    /// The current customer's session.
    pub fn session(&self) -> Option<Session> {
        block_on(self.store.load_session(&self.key()))
            .ok()
            .flatten()
    }

    /// The tenant's live balance.
    pub fn balance(&self) -> Milli {
        block_on(
            self.store
                .balance(&self.tenant, crate::ports::Clock::now(&self.clock)),
        )
        .unwrap_or(Milli::ZERO)
    }

    /// Asserts the balance (a decimal).
    #[track_caller]
    pub fn expect_balance(&self, amount: &str) -> &Self {
        let expected = Milli::parse(amount).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(self.balance(), expected, "balance");
        self
    }

    /// The last request the reply model received.
    #[track_caller]
    pub fn last_prompt(&self) -> ChatRequest {
        self.ai
            .reply_requests()
            .pop()
            .unwrap_or_else(|| panic!("the model received no reply request"))
    }

    /// Asserts that the last system prompt contains `needle`.
    #[track_caller]
    pub fn expect_prompt_contains(&self, needle: &str) -> &Self {
        let prompt = self.last_prompt();
        assert!(
            prompt.system.contains(needle),
            "system prompt lacks {needle:?}:\n{}",
            prompt.system
        );
        self
    }

    fn account(&self) -> ChannelAccount {
        self.tenant()
            .channels
            .accounts()
            .into_iter()
            .find(|a| a.channel() == self.channel)
            .unwrap_or_else(|| panic!("tenant {} has no {} channel", self.tenant, self.channel))
    }

    /// Builds the inbound message the current customer would send.
    pub fn message(&mut self, text: &str) -> InboundMessage {
        self.next_id += 1;
        let id = format!("msg-{}", self.next_id);
        let account = self.account();
        let (content, route) = match self.channel {
            Channel::Discord => (
                MessageContent::Text {
                    body: text.to_owned(),
                },
                ReplyRoute::DiscordChannel {
                    channel_id: "900000000000000001".into(),
                    message_id: id.clone(),
                },
            ),
            Channel::Email => (
                MessageContent::Email {
                    subject: "Question".into(),
                    body: text.to_owned(),
                    has_attachments: false,
                },
                ReplyRoute::EmailThread {
                    to_address: format!("hello@{}", account.id()),
                    subject: "Question".into(),
                    message_id: Some(format!("<{id}@customer.example>")),
                    references: Vec::new(),
                },
            ),
            _ => (
                MessageContent::Text {
                    body: text.to_owned(),
                },
                ReplyRoute::Direct,
            ),
        };
        InboundMessage {
            channel: self.channel,
            account,
            sender: self.customer.clone(),
            sender_name: None,
            provider_id: id,
            sent_at: Some(crate::ports::Clock::now(&self.clock)),
            content,
            reply_to: None,
            route,
            acked_at: None,
        }
    }

    /// Builds the inbound message the current customer would send, acknowledged by an adapter
    /// at `acked_at` (and sent then): deliver it later with
    /// [`deliver_backlog`](Self::deliver_backlog) to process it after a backlog.
    pub fn message_acked_at(&mut self, text: &str, acked_at: Timestamp) -> InboundMessage {
        let mut message = self.message(text);
        message.sent_at = Some(acked_at);
        message.acked_at = Some(acked_at);
        message
    }

    fn step(&mut self, f: impl FnOnce(&mut Self, &mut Step)) -> Step {
        let before = self.outbound.sent().len();
        let mut step = Step {
            customer: self.customer.clone(),
            ..Step::default()
        };
        f(self, &mut step);
        step.sent = self.outbound.sent().split_off(before);
        step
    }

    /// The current customer sends `text`; jobs due now run too.
    pub fn says(&mut self, text: &str) -> Step {
        let message = self.message(text);
        self.deliver(message)
    }

    /// Delivers a prepared message (e.g. a parsed webhook) through the engine.
    pub fn deliver(&mut self, message: InboundMessage) -> Step {
        self.step(|h, step| {
            h.handle_into(message, step);
            h.run_jobs_into(step);
        })
    }

    /// Delivers messages that queued up while an adapter was behind (a backlog, a restart):
    /// each carries the time the adapter acknowledged it
    /// ([`acked_at`](InboundMessage::acked_at); see [`message_acked_at`](Self::message_acked_at)),
    /// and all run now, back to back, in the given order. Give every message acknowledged up to
    /// now that was not processed yet, in acknowledgement order, as a queue holds them.
    ///
    /// Jobs run the way an adapter orders a conversation's work: a job that fell due by the time a
    /// message was acknowledged (a buffer flush) runs before that message, later ones after it;
    /// the jobs due now run last. The step's `inbound` is the last message's outcome.
    pub fn deliver_backlog(&mut self, messages: Vec<InboundMessage>) -> Step {
        let now = self.now();
        self.step(|h, step| {
            for message in messages {
                h.run_jobs_due_by(message.acked_at.unwrap_or(now), step);
                h.handle_into(message, step);
            }
            h.run_jobs_into(step);
        })
    }

    fn handle_into(&mut self, message: InboundMessage, step: &mut Step) {
        self.last_inbound = Some(message.clone());
        match block_on(self.engine.handle_inbound(message)) {
            Ok(outcome) => {
                match &outcome {
                    InboundOutcome::Turn(t) => step.turns.push(t.clone()),
                    InboundOutcome::Buffered {
                        closed: Some(t), ..
                    } => step.turns.push(t.clone()),
                    _ => {}
                }
                step.inbound = Some(outcome);
            }
            Err(e) => step.errors.push(e.to_string()),
        }
    }

    /// Delivers the last message again, as a platform redelivery would.
    ///
    /// # Panics
    /// If nothing was delivered yet.
    pub fn redeliver(&mut self) -> Step {
        let message = self
            .last_inbound
            .clone()
            .unwrap_or_else(|| panic!("nothing to redeliver"));
        self.deliver(message)
    }

    /// Moves time forward by a span such as `5s`, `61m` or `7h`, running every job that falls
    /// due on the way, at its due time.
    ///
    /// # Panics
    /// If the span does not parse.
    pub fn advance(&mut self, span: &str) -> Step {
        let span = Span::parse(span).unwrap_or_else(|e| panic!("{e}"));
        let end = crate::ports::Clock::now(&self.clock) + span;
        self.step(|h, step| {
            while let Some(at) = h.store.next_job_at().filter(|at| *at <= end) {
                h.clock.set(at);
                h.run_jobs_into(step);
            }
            h.clock.set(end);
            h.run_jobs_into(step);
        })
    }

    /// Runs the jobs due now.
    pub fn run_due_jobs(&mut self) -> Step {
        self.step(|h, step| h.run_jobs_into(step))
    }

    fn run_jobs_into(&mut self, step: &mut Step) {
        let now = crate::ports::Clock::now(&self.clock);
        self.run_jobs_due_by(now, step);
    }

    /// Runs, now, the jobs that fell due at or before `by`.
    fn run_jobs_due_by(&mut self, by: Timestamp, step: &mut Step) {
        for job in self.store.take_due_jobs(by) {
            match block_on(self.engine.run_job(&job)) {
                Ok(JobOutcome::Flush(crate::engine::FlushOutcome::Turn(t))) => step.turns.push(t),
                Ok(other) => step.jobs.push(other),
                Err(e) => step.errors.push(format!("{job:?}: {e}")),
            }
        }
    }

    /// The owner approves a draft.
    pub fn approve(&mut self, draft_id: &str) -> Step {
        self.decide(draft_id, ApprovalDecision::Approve)
    }

    /// The owner rejects a draft.
    pub fn reject(&mut self, draft_id: &str) -> Step {
        self.decide(draft_id, ApprovalDecision::Reject)
    }

    /// The owner decides on a draft.
    pub fn decide(&mut self, draft_id: &str, decision: ApprovalDecision) -> Step {
        let tenant = self.tenant.clone();
        self.step(
            |h, step| match block_on(h.engine.decide_approval(&tenant, draft_id, decision)) {
                Ok(o) => step.approvals.push(o),
                Err(e) => step.errors.push(e.to_string()),
            },
        )
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        crate::ports::Clock::now(&self.clock)
    }
}
