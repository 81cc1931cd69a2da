//! The ports: what the engine needs from the outside world.
//!
//! Storage, AI, transport and time are async traits. On native targets their futures are
//! `Send` (the server runs them on tokio's thread pool); on wasm they are not (Workers' futures
//! hold JS values), following matrix-rust-sdk's [`SendOutsideWasm`] pattern.
//!
//! Every storage trait is implemented by [`MemoryStore`](crate::memory::MemoryStore), and by
//! the SQLite, Postgres and D1 stores in the adapters; all of them pass the contract tests in
//! [`testing::contract`](crate::testing) (feature `testing`).
//!
//! **Architecture Invariant:** a port call for tenant A never returns tenant B's data: every
//! storage method is keyed by the tenant (or by a key that embeds it).

mod sendness;

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::accounts::{Operator, Owner};
use crate::approval::Draft;
use crate::audit::{AuditEntry, AuditQuery, AuditRecord};
use crate::billing::{DebitOutcome, Grant, GrantOutcome, LedgerHistory, RefundOutcome};
use crate::catalog::{CatalogPersona, CatalogReviewJob};
use crate::channels::email::OutgoingEmail;
use crate::channels::ReplyRoute;
use crate::conversation::{Session, Turn};
use crate::email::ReverseAlias;
use crate::ids::{
    Channel, ChannelAccount, ConversationId, ConversationKey, Currency, Milli, TenantId,
};
use crate::knowledge::{StoredChunk, StoredDocument};
use crate::safety::SafetyJob;
use crate::tenant::Tenant;
use crate::time::{Span, Timestamp};

pub use sendness::{AsyncTraitDeps, SendOutsideWasm, SyncOutsideWasm};

/// A boxed error from a backend (a database driver, a JS binding), already copied into an
/// owned, thread-safe value.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An optimistic write lost a race (the record changed since it was read).
    #[error("conflicting concurrent update of {0}")]
    Conflict(String),
    /// The record a write needs does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A stored record could not be decoded.
    #[error("stored record {key} is corrupt: {reason}")]
    Corrupt {
        /// The record.
        key: String,
        /// Why it could not be read.
        reason: String,
    },
    /// The backend failed (connection, I/O, binding error). Usually worth a retry.
    #[error("storage backend error: {0}")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// Wraps any backend error.
    pub fn backend(e: impl Into<BoxError>) -> Self {
        StoreError::Backend(e.into())
    }
}

/// Result of a storage call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Tenants and their configuration, with the reverse indexes from channel accounts.
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait TenantStore: AsyncTraitDeps {
    /// The tenant, if it exists.
    async fn get_tenant(&self, id: &TenantId) -> StoreResult<Option<Tenant>>;

    /// The tenant that owns a channel account (`wa_phone:`, `ig_page:`, ... reverse index).
    async fn find_tenant(&self, account: &ChannelAccount) -> StoreResult<Option<TenantId>>;

    /// Creates or replaces a tenant and its reverse indexes.
    ///
    /// `expected_revision` is the revision the caller read (`None` to create). The write fails
    /// with [`StoreError::Conflict`] if the stored revision differs, or if one of the tenant's
    /// accounts is already indexed to another tenant. On success the tenant's revision is the
    /// returned value (the previous one plus one, or 1).
    async fn put_tenant(&self, tenant: &Tenant, expected_revision: Option<u64>)
        -> StoreResult<u64>;

    /// All tenant ids, sorted.
    async fn list_tenants(&self) -> StoreResult<Vec<TenantId>>;
}

/// Conversation sessions (`convsession:{tenant}:{channel}:{sender}`).
///
/// The adapter guarantees one writer per conversation at a time (a row lock, a Durable Object,
/// a per-key queue); the engine loads, decides and saves once per event.
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait SessionStore: AsyncTraitDeps {
    /// The session, if any.
    async fn load_session(&self, key: &ConversationKey) -> StoreResult<Option<Session>>;
    /// Stores the session.
    async fn save_session(&self, key: &ConversationKey, session: &Session) -> StoreResult<()>;
}

/// The credit ledger, per tenant.
///
/// Implementations decide nothing: a debit or refund reads the tenant's grant rows and the
/// key's debit row, asks [`billing::plan_debit`](crate::billing::plan_debit) /
/// [`billing::plan_refund`](crate::billing::plan_refund) what changes, and applies the plan's
/// [`LedgerChanges`](crate::billing::LedgerChanges) atomically, on exactly the rows the plan
/// was computed from (row locks, or a write that aborts if the rows changed since they were
/// read, then a fresh read and plan). A grant is checked with
/// [`Grant::validate`](crate::billing::Grant::validate) first.
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait Ledger: AsyncTraitDeps {
    /// The live balance.
    async fn balance(&self, tenant: &TenantId, now: Timestamp) -> StoreResult<Milli>;
    /// Charges `amount` under `key` unless already charged; never overdraws.
    async fn try_debit(
        &self,
        tenant: &TenantId,
        key: &str,
        amount: Milli,
        now: Timestamp,
    ) -> StoreResult<DebitOutcome>;
    /// Returns the charge made under `key`; idempotent.
    async fn refund(
        &self,
        tenant: &TenantId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<RefundOutcome>;
    /// Adds a grant unless one with its id exists. A grant that fails
    /// [`Grant::validate`](crate::billing::Grant::validate) is refused with
    /// [`StoreError::Corrupt`] and nothing is written (the engine validates before it calls).
    async fn grant(&self, tenant: &TenantId, grant: Grant) -> StoreResult<GrantOutcome>;
    /// The tenant's statement: its grants (newest `granted_at` first, ties by id descending)
    /// and its debit rows (newest `at` first, ties by key descending), at most `limit` of
    /// each. Only what still counts at `now` is listed: a debit row older than
    /// [`DEBIT_RECORD_RETENTION`](crate::billing::DEBIT_RECORD_RETENTION) and a grant that is
    /// [purgeable](crate::billing::Grant::purgeable_at) are left out whether or not the store
    /// has deleted them yet, so every store lists the same rows. Read-only.
    async fn ledger_history(
        &self,
        tenant: &TenantId,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<LedgerHistory>;
}

/// Remembers which provider message ids were seen.
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait IdempotencyStore: AsyncTraitDeps {
    /// Records `key` and returns `true` if it was not seen within its TTL; atomic, so two
    /// concurrent calls with one key return `true` exactly once.
    async fn first_seen(&self, key: &str, now: Timestamp, ttl: Span) -> StoreResult<bool>;
    /// Forgets `key`, so a redelivery is processed again (used when processing failed before
    /// any effect and the platform will retry).
    async fn forget(&self, key: &str) -> StoreResult<()>;
}

/// Direction of a logged message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the customer.
    Inbound,
    /// To the customer (or the tenant).
    Outbound,
}

/// A metadata row for the unified `messages` log. There is no body: message content is never
/// stored beyond the session history and the buffer window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// The tenant.
    pub tenant: TenantId,
    /// The channel.
    pub channel: Channel,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Who sent it (customer id, or our account id).
    pub sender: String,
    /// Who received it.
    pub recipient: String,
    /// The provider or idempotency id of the message.
    pub message_id: String,
    /// What Concierge did (`canned:hours`, `ai:default`, `buffered`, `injection_rejected`, ...).
    pub action_taken: String,
    /// The conversation, for AI flows; `None` for canned-only flows.
    pub conversation_id: Option<ConversationId>,
    /// When.
    pub at: Timestamp,
}

/// The metadata log of messages.
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait MessageLog: AsyncTraitDeps {
    /// Appends a row (idempotent on `(tenant, direction, message_id)`: a replayed turn does not
    /// log twice; a later write updates `action_taken` and `conversation_id`).
    async fn record_message(&self, record: &MessageRecord) -> StoreResult<()>;
    /// The rows of one conversation, oldest first (for audit).
    async fn conversation_messages(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> StoreResult<Vec<MessageRecord>>;
    /// The tenant's most recent conversations, at most `limit`, newest last message first
    /// (ties by conversation id descending). Only rows stamped with a conversation id count
    /// (canned-only flows have none). Each summary is built from the conversation's rows, and
    /// its channel, customer and last action come from its latest row: the greatest
    /// `(at, direction, message_id)`, where an outbound row sorts after an inbound one of the
    /// same time (the reply follows the message). Metadata only, as every row is.
    async fn recent_conversations(
        &self,
        tenant: &TenantId,
        limit: u32,
    ) -> StoreResult<Vec<ConversationSummary>>;
}

/// One conversation as [`MessageLog::recent_conversations`] lists it: metadata, no bodies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Its channel.
    pub channel: Channel,
    /// The customer: the sender of an inbound row, the recipient of an outbound one.
    pub customer: String,
    /// How many rows it has.
    pub messages: u64,
    /// Its first row's time.
    pub first_at: Timestamp,
    /// Its last row's time.
    pub last_at: Timestamp,
    /// The latest row's `action_taken`.
    pub last_action: String,
}

impl ConversationSummary {
    /// The customer of a row: its sender if inbound, its recipient if outbound.
    pub fn customer_of(record: &MessageRecord) -> &str {
        match record.direction {
            Direction::Inbound => &record.sender,
            Direction::Outbound => &record.recipient,
        }
    }
}

/// Durable delayed work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Fire a conversation's reply buffer.
    FlushBuffer {
        /// The conversation.
        key: ConversationKey,
    },
    /// Review a persona.
    SafetyCheck(SafetyJob),
    /// Review an entry of the personas catalog.
    CatalogReview(CatalogReviewJob),
    /// Send a tenant's approval digest.
    ApprovalDigest {
        /// The tenant.
        tenant: TenantId,
    },
}

impl Job {
    /// The job's dedupe key: scheduling a job whose key is pending moves its run time instead
    /// of adding a second job (so a burst leaves one flush at the last deadline).
    pub fn dedupe_key(&self) -> String {
        match self {
            Job::FlushBuffer { key } => format!("flush:{}", key.storage_key()),
            Job::SafetyCheck(j) => format!("safety:{}:{}", j.tenant, j.prompt_hash),
            Job::CatalogReview(j) => format!("catalog:{}:{}", j.slug, j.prompt_hash),
            Job::ApprovalDigest { tenant } => format!("digest:{tenant}"),
        }
    }

    /// The conversation whose turns this job must be serialized with, if any. Adapters run at
    /// most one job (or inbound message) per conversation at a time.
    pub fn conversation_key(&self) -> Option<&ConversationKey> {
        match self {
            Job::FlushBuffer { key } => Some(key),
            Job::SafetyCheck(_) | Job::CatalogReview(_) | Job::ApprovalDigest { .. } => None,
        }
    }

    /// The tenant the job belongs to (`None` for the catalog's reviews, which are the
    /// deployment's).
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Job::FlushBuffer { key } => Some(&key.tenant),
            Job::SafetyCheck(j) => Some(&j.tenant),
            Job::CatalogReview(_) => None,
            Job::ApprovalDigest { tenant } => Some(tenant),
        }
    }
}

/// Durable job scheduling. The adapter's worker runs due jobs through
/// [`Engine::run_job`](crate::Engine::run_job), retrying failures with backoff.
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait JobQueue: AsyncTraitDeps {
    /// Schedules `job` to run at `run_at`. If a job with the same
    /// [`dedupe_key`](Job::dedupe_key) is pending, its run time becomes `run_at`.
    async fn schedule(&self, job: &Job, run_at: Timestamp) -> StoreResult<()>;
}

/// Drafts awaiting approval (`conv:{id}` with a 7-day TTL).
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait DraftStore: AsyncTraitDeps {
    /// Stores a draft (replacing one with the same id).
    async fn put_draft(&self, tenant: &TenantId, draft: &Draft) -> StoreResult<()>;
    /// Removes and returns a live draft, atomically: two concurrent approvals get it once.
    async fn take_draft(
        &self,
        tenant: &TenantId,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<Draft>>;
    /// The tenant's live drafts, oldest first.
    async fn list_drafts(&self, tenant: &TenantId, now: Timestamp) -> StoreResult<Vec<Draft>>;
}

/// Reverse email aliases (`email_reverse:{alias}`, 30-day TTL), per tenant.
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait AliasStore: AsyncTraitDeps {
    /// Stores (or renews) an alias record.
    async fn put_alias(&self, tenant: &TenantId, alias: &ReverseAlias) -> StoreResult<()>;
    /// The live record for `alias`, if any. Stores key records by
    /// [`normalize_alias`](crate::email::normalize_alias) of `ReverseAlias::alias` on `put_alias`
    /// and look up `normalize_alias(alias)` here, so case, whitespace and angle brackets do not
    /// matter.
    async fn get_alias(
        &self,
        tenant: &TenantId,
        alias: &str,
        now: Timestamp,
    ) -> StoreResult<Option<ReverseAlias>>;
}

/// Failed sign-ins counted under one key (an email's hash, a client's address) in a fixed
/// window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginFailures {
    /// Failures in the window.
    pub count: u32,
    /// When the window started (its first failure); it ends one window later.
    pub window_start: Timestamp,
}

/// Owner accounts (dashboard sign-in) and the failed-login counters that rate-limit it.
///
/// Emails are stored as given (callers normalize with
/// [`accounts::normalize_email`](crate::accounts::normalize_email)) and are unique across
/// tenants. The counters live in the store, not in a process, so a limit holds across server
/// replicas and Worker isolates.
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait OwnerStore: AsyncTraitDeps {
    /// Creates an owner; [`StoreError::Conflict`] when its email or id is taken (nothing is
    /// written then).
    async fn create_owner(&self, owner: &Owner) -> StoreResult<()>;
    /// The owner signing in with `email` (normalized), if any.
    async fn owner_by_email(&self, email: &str) -> StoreResult<Option<Owner>>;
    /// The owner with this id, if any.
    async fn owner_by_id(&self, id: &str) -> StoreResult<Option<Owner>>;
    /// Replaces the owner's password hash and bumps its session epoch (a new password signs
    /// every session out); returns the new epoch. [`StoreError::NotFound`] for an unknown id.
    async fn set_owner_password(&self, id: &str, password_hash: &str) -> StoreResult<u64>;
    /// Bumps the owner's session epoch ("log out everywhere"); returns the new epoch, atomic
    /// under concurrency. [`StoreError::NotFound`] for an unknown id.
    async fn bump_session_epoch(&self, id: &str) -> StoreResult<u64>;
    /// The failures counted under `key` in the window that is still open at `now` (`count`
    /// 0 when none is: a window older than `window` is over).
    async fn login_failures(
        &self,
        key: &str,
        now: Timestamp,
        window: Span,
    ) -> StoreResult<LoginFailures>;
    /// Counts one failure under `key` (atomically: concurrent failures all count), opening a
    /// new window at `now` when none is open; returns the counter after it.
    async fn record_login_failure(
        &self,
        key: &str,
        now: Timestamp,
        window: Span,
    ) -> StoreResult<LoginFailures>;
    /// Forgets the failures under `key` (after a successful sign-in).
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()>;
}

/// Operator accounts (the operator panel's sign-in where Cloudflare Access is not in front),
/// keyed by their normalized email. Their failed sign-ins are counted by [`OwnerStore`]'s
/// counters under keys of their own.
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait OperatorStore: AsyncTraitDeps {
    /// Creates the operator `email` (epoch 0, created `now`) or, when it exists, replaces its
    /// password hash and bumps its session epoch (a new password signs every panel session
    /// out), in one atomic step. Returns whether the account was created.
    async fn put_operator(
        &self,
        email: &str,
        password_hash: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// The operator signing in with `email` (normalized), if any.
    async fn operator(&self, email: &str) -> StoreResult<Option<Operator>>;
    /// Every operator, by email.
    async fn list_operators(&self) -> StoreResult<Vec<Operator>>;
    /// Deletes the operator `email` (their sessions stop working with it); whether it existed.
    async fn delete_operator(&self, email: &str) -> StoreResult<bool>;
    /// Bumps the operator's session epoch ("sign out everywhere"); returns the new epoch,
    /// atomic under concurrency. [`StoreError::NotFound`] for an unknown email.
    async fn bump_operator_epoch(&self, email: &str) -> StoreResult<u64>;
}

/// The audit log of management actions ([`crate::audit`]): append-only.
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait AuditLog: AsyncTraitDeps {
    /// Appends an entry and returns its sequence number, greater than every earlier one's.
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<u64>;
    /// The entries the query selects, newest (highest `seq`) first, at most
    /// [`AuditQuery::limit`]. With a tenant, only entries about that tenant are listed;
    /// without one, every entry (including those about no tenant). Read-only.
    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
}

/// A price the operator stored for one currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPrice {
    /// The currency.
    pub currency: Currency,
    /// The price of one AI reply, in milli-units (always positive).
    pub per_ai_reply: Milli,
    /// When it was set.
    pub updated_at: Timestamp,
}

/// The operator's runtime prices per currency, over the configured defaults
/// ([`EngineConfig::pricing`](crate::EngineConfig::pricing)): a currency with a stored price
/// charges it, one without falls back to the default. Deployment-wide, not per tenant.
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait PricingStore: AsyncTraitDeps {
    /// The stored price of `currency`, if any.
    async fn stored_price(&self, currency: &Currency) -> StoreResult<Option<StoredPrice>>;
    /// Every stored price, by currency code.
    async fn stored_prices(&self) -> StoreResult<Vec<StoredPrice>>;
    /// Creates or replaces the stored price of `price.currency`. A price that is not positive
    /// is refused with [`StoreError::Corrupt`] and nothing is written (the engine validates
    /// before it calls).
    async fn put_price(&self, price: &StoredPrice) -> StoreResult<()>;
}

/// The personas catalog ([`crate::catalog`]): deployment-wide, not per tenant. Listed by
/// slug; every write compares revisions, so a review finishing while the operator saves an
/// edit never overwrites the edit.
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait PersonaCatalog: AsyncTraitDeps {
    /// Every entry, by slug.
    async fn list_catalog(&self) -> StoreResult<Vec<CatalogPersona>>;
    /// The entry `slug`, if any.
    async fn get_catalog_persona(&self, slug: &str) -> StoreResult<Option<CatalogPersona>>;
    /// Creates (`expected_revision` `None`) or replaces (`Some(revision read)`) an entry.
    /// [`StoreError::Conflict`] when the slug exists on create, or the stored revision
    /// differs on replace (a missing entry differs too). Returns the new revision (1 on
    /// create, the previous one plus one on replace); the stored entry carries it.
    async fn put_catalog_persona(
        &self,
        entry: &CatalogPersona,
        expected_revision: Option<u64>,
    ) -> StoreResult<u64>;
    /// Deletes the entry `slug`; whether it existed.
    async fn delete_catalog_persona(&self, slug: &str) -> StoreResult<bool>;
}

/// A tenant's knowledge base: its documents and their passages ([`crate::knowledge`]).
///
/// Every write bumps the tenant's knowledge revision in the same transaction, so an engine
/// that cached the tenant's retrieval index rebuilds it exactly when the passages changed.
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait KnowledgeStore: AsyncTraitDeps {
    /// Stores `document` of `tenant` with its passages, in order, replacing a stored document
    /// of the same source and all of its passages, in one atomic step; returns the tenant's
    /// new knowledge revision.
    async fn put_document(
        &self,
        tenant: &TenantId,
        document: &StoredDocument,
        chunks: &[StoredChunk],
    ) -> StoreResult<u64>;
    /// The tenant's documents, by source.
    async fn knowledge_documents(&self, tenant: &TenantId) -> StoreResult<Vec<StoredDocument>>;
    /// Deletes the document `source` of `tenant` and its passages (bumping the revision when
    /// it existed); whether it existed.
    async fn delete_document(&self, tenant: &TenantId, source: &str) -> StoreResult<bool>;
    /// Every passage of the tenant, by document source, then in the order they were put.
    async fn knowledge_chunks(&self, tenant: &TenantId) -> StoreResult<Vec<StoredChunk>>;
    /// The tenant's knowledge revision: 0 before any write, then strictly increasing with
    /// every put and every delete that removed something.
    async fn knowledge_revision(&self, tenant: &TenantId) -> StoreResult<u64>;
}

/// Every storage port in one object, as the engine holds it.
pub trait Store:
    TenantStore
    + SessionStore
    + Ledger
    + IdempotencyStore
    + MessageLog
    + JobQueue
    + DraftStore
    + AliasStore
    + OwnerStore
    + OperatorStore
    + AuditLog
    + PricingStore
    + PersonaCatalog
    + KnowledgeStore
{
}

impl<T> Store for T where
    T: TenantStore
        + SessionStore
        + Ledger
        + IdempotencyStore
        + MessageLog
        + JobQueue
        + DraftStore
        + AliasStore
        + OwnerStore
        + OperatorStore
        + AuditLog
        + PricingStore
        + PersonaCatalog
        + KnowledgeStore
{
}

/// A chat request for the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model id.
    pub model: String,
    /// The system prompt (always a wrapped envelope for replies, or a classifier prompt).
    pub system: String,
    /// Prior turns, oldest first.
    pub history: Vec<Turn>,
    /// The latest user message.
    pub user: String,
    /// An upper bound on generated tokens.
    pub max_tokens: u32,
}

/// What went wrong with the model.
#[derive(Debug, thiserror::Error)]
pub enum AiError {
    /// No AI provider is configured.
    #[error("no AI provider is configured")]
    NotConfigured,
    /// The provider refused or failed the call.
    #[error("AI provider error: {0}")]
    Provider(String),
    /// The call timed out.
    #[error("AI provider timed out")]
    Timeout,
    /// The provider answered something unusable (empty, malformed).
    #[error("AI provider returned an unusable answer: {0}")]
    BadResponse(String),
}

/// The model provider.
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait AiProvider: AsyncTraitDeps {
    /// Generates a chat reply.
    async fn chat(&self, request: &ChatRequest) -> Result<String, AiError>;
    /// Embeds texts with `model`; one vector per text, in order.
    async fn embed(&self, model: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, AiError>;
}

/// An AI provider for deployments without one: every call is [`AiError::NotConfigured`], so
/// canned rules still answer and AI rules record a clear outcome.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoAi;

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl AiProvider for NoAi {
    async fn chat(&self, _: &ChatRequest) -> Result<String, AiError> {
        Err(AiError::NotConfigured)
    }
    async fn embed(&self, _: &str, _: &[String]) -> Result<Vec<Vec<f32>>, AiError> {
        Err(AiError::NotConfigured)
    }
}

/// Why a message is being sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A reply to a customer.
    Reply,
    /// A page to the tenant after a handoff.
    HandoffPage,
    /// A draft posted for approval.
    ApprovalRequest,
    /// The approval digest email.
    ApprovalDigest,
    /// A forwarded email or Discord post from an email routing rule, or a relayed reply.
    Forward,
}

/// What to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboundBody {
    /// Text to a customer or a tenant channel; the adapter splits it with the channel's builder.
    Text {
        /// The text.
        text: String,
        /// The provider id of the message being answered (WhatsApp context, Discord reference).
        reply_to: Option<String>,
    },
    /// A draft for approval (a Discord embed with buttons).
    ApprovalCard {
        /// The draft.
        draft_id: String,
        /// The customer's channel.
        customer_channel: Channel,
        /// The customer.
        customer: String,
        /// The start of the customer's message.
        inbound_excerpt: String,
        /// The drafted reply.
        draft_text: String,
    },
    /// A complete email built by the core (forwards and alias relays); the adapter serializes
    /// it with [`build_email`](crate::channels::email::build_email) and sends it as is.
    FullEmail(OutgoingEmail),
    /// An email (subject and text; threading comes from the route).
    Email {
        /// Subject.
        subject: String,
        /// Plain-text body.
        text: String,
    },
}

/// A message for the [`Outbound`] port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// Idempotency key: sending the same key twice delivers once.
    pub key: String,
    /// The tenant on whose behalf it is sent.
    pub tenant: TenantId,
    /// The channel to send on.
    pub channel: Channel,
    /// The business account to send from; `None` for the shared system sender (the Discord bot,
    /// the operator's mail domain) used for pages and approval requests.
    pub account: Option<ChannelAccount>,
    /// The recipient: customer id, Discord channel id, or email address.
    pub to: String,
    /// Threading information.
    pub route: ReplyRoute,
    /// What to send.
    pub body: OutboundBody,
    /// Why.
    pub purpose: Purpose,
    /// The conversation it belongs to, stamped on the log row.
    pub conversation_id: Option<ConversationId>,
}

/// What the platform said about a send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReceipt {
    /// The provider's ids of the sent message(s) (one per part).
    pub provider_ids: Vec<String>,
}

/// A failed send.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// Worth retrying later (network, 5xx, rate limit).
    #[error("send failed, will retry: {0}")]
    Retryable(String),
    /// Will never succeed as is (bad recipient, revoked token, closed window).
    #[error("send failed permanently: {0}")]
    Permanent(String),
}

/// Sends messages. Implementations are idempotent per [`OutboundMessage::key`] (an outbox keyed
/// by it, or a record of sent keys), so a retried turn never delivers twice.
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait Outbound: AsyncTraitDeps {
    /// Sends (or durably enqueues) the message.
    async fn send(&self, message: &OutboundMessage) -> Result<SendReceipt, OutboundError>;
}

/// The time source.
pub trait Clock: Debug + SendOutsideWasm + SyncOutsideWasm {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// Shared handles to every port, as the engine holds them.
#[derive(Clone, Debug)]
pub struct Ports {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// The model.
    pub ai: Arc<dyn AiProvider>,
    /// Sending.
    pub outbound: Arc<dyn Outbound>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}
