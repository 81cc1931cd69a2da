//! The storage ports over D1, KV, the conversation's Durable Object and Queues.
//!
//! - Tenants live in D1 (`tenants`, revision compare-and-set; `tenant_accounts`, the reverse
//!   index whose primary key makes an account belong to one tenant). KV mirrors the reverse
//!   index (`wa_phone:…`, `ig_page:…`, `discord_guild:…`, `email_domain:…`) for the webhook path;
//!   a KV miss falls back to D1.
//! - Money and idempotency never rely on KV: the ledger reads its `ledger_grants` /
//!   `ledger_debits` rows, the core's `billing::plan_debit` / `plan_refund` decides, and the
//!   plan is written in one D1 batch that aborts unless the rows still hold what was read
//!   (read, plan and write again on a lost race); `first_seen` is one conditional upsert.
//! - Sessions live in the conversation's Durable Object storage.
//! - Owner accounts and failed-login counters live in D1 (`owners`, `login_failures`: one
//!   atomic upsert per failure, consistent across isolates); dashboard sessions are the
//!   host's, in KV (`host.rs`).
//! - The audit log and the operator's prices live in D1 (`audit_log`, `pricing`: the
//!   server's `0009_audit_log_and_pricing.sql`), read on every use, so an isolate never charges
//!   a stale price.
//! - A tenant's knowledge base lives in D1 (`knowledge_documents`, `knowledge_chunks`,
//!   `knowledge_revisions`: the server's `0012_knowledge.sql`); a put or delete is one batch
//!   that bumps the tenant's revision.
//! - Jobs: buffer flushes are the Durable Object's alarm, safety reviews go to `SAFETY_QUEUE`,
//!   digests to `WORK_QUEUE` with a delay.

use async_trait::async_trait;
use concierge_core::accounts::{Operator, Owner};
use concierge_core::approval::Draft;
use concierge_core::audit::{AuditAction, AuditEntry, AuditQuery, AuditRecord};
use concierge_core::billing::{
    check_grant, check_price, live_balance, plan_debit, plan_refund, retention_cutoff, Debit,
    DebitEntry, DebitOutcome, Grant, GrantOutcome, LedgerChanges, LedgerHistory, RefundOutcome,
};
use concierge_core::catalog::CatalogPersona;
use concierge_core::conversation::Session;
use concierge_core::email::{normalize_alias, ReverseAlias};
use concierge_core::ids::{
    Channel, ChannelAccount, ConversationId, ConversationKey, Currency, Milli, TenantId,
};
use concierge_core::knowledge::{
    decode_vector, encode_vector, Chunk, ChunkEmbedding, StoredChunk, StoredDocument,
};
use concierge_core::ports::{
    AliasStore, AuditLog, ConversationSummary, Direction, DraftStore, IdempotencyStore, Job,
    JobQueue, KnowledgeStore, Ledger, LoginFailures, MessageLog, MessageRecord, OperatorStore,
    OwnerStore, PersonaCatalog, PricingStore, SessionStore, StoreError, StoreResult, StoredPrice,
    TenantStore,
};
use concierge_core::tenant::Tenant;
use concierge_core::time::{Span, Timestamp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env, KvStore};

use super::Sessions;

/// How often a compare-and-set write is retried after losing a race.
const CAS_ATTEMPTS: usize = 8;

/// What `WORK_QUEUE` carries (JSON text).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "work", rename_all = "snake_case")]
pub(crate) enum WorkItem {
    /// A verified, parsed customer message: route it to its conversation's object.
    Inbound {
        /// The message.
        message: concierge_core::channels::InboundMessage,
    },
    /// An engine job due now.
    Job {
        /// The job.
        job: Job,
    },
    /// Deliver the rest of the outbox message `key` (its first attempt, inside the turn, did
    /// not finish it: a failure, or a part waiting for its receipt).
    Send {
        /// The outbox key.
        key: String,
        /// Attempts that failed so far (a wait for a receipt is not one).
        attempt: u32,
    },
}

/// Every storage port over the Worker's bindings.
pub(crate) struct CfStore {
    db: D1Database,
    kv: KvStore,
    env: Env,
    sessions: Sessions,
}

impl std::fmt::Debug for CfStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CfStore")
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    // JS errors are copied into owned strings before boxing.
    StoreError::backend(e.to_string())
}

fn corrupt(key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    }
}

fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

#[allow(clippy::cast_precision_loss)] // times in ms and milli-units stay far below 2^53
fn n(v: i64) -> JsValue {
    JsValue::from_f64(v as f64)
}

fn opt(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

fn decode<T: DeserializeOwned>(key: &str, doc: &str) -> StoreResult<T> {
    super::from_json(doc).map_err(|e| corrupt(key, e))
}

fn encode<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(backend)
}

#[derive(Deserialize)]
struct DocRow {
    doc: String,
}

#[derive(Deserialize)]
struct TenantRow {
    doc: String,
    revision: f64,
}

#[derive(Deserialize)]
struct GrantRow {
    grant_id: String,
    amount: f64,
    remaining: f64,
    granted_at: f64,
    expires_at: Option<f64>,
    reason: String,
}

impl GrantRow {
    #[allow(clippy::cast_possible_truncation)] // integers read back from D1's f64
    fn grant(self) -> Grant {
        Grant {
            id: self.grant_id,
            amount: Milli::from_milli(self.amount as i64),
            remaining: Milli::from_milli(self.remaining as i64),
            granted_at: Timestamp::from_millis(self.granted_at as i64),
            expires_at: self.expires_at.map(|t| Timestamp::from_millis(t as i64)),
            reason: self.reason,
        }
    }
}

/// A `ledger_debits` row as read (its raw `drawn` text is compared when the row is written).
#[derive(Deserialize)]
struct DebitRow {
    amount: f64,
    at: f64,
    refunded: f64,
    drawn: String,
}

impl DebitRow {
    #[allow(clippy::cast_possible_truncation)] // integers read back from D1's f64
    fn debit(&self, key: &str) -> StoreResult<Debit> {
        Ok(Debit {
            amount: Milli::from_milli(self.amount as i64),
            at: Timestamp::from_millis(self.at as i64),
            drawn: decode(key, &self.drawn)?,
            refunded: self.refunded != 0.0,
        })
    }

    /// `at`, `refunded` and `drawn` as read: a write conditioned on them applies only if the
    /// row has not changed since.
    #[allow(clippy::cast_possible_truncation)]
    fn version_args(&self) -> [JsValue; 3] {
        [n(self.at as i64), n(self.refunded as i64), s(&self.drawn)]
    }
}

/// A `ledger_debits` row as the statement lists it.
#[derive(Deserialize)]
struct DebitEntryRow {
    debit_key: String,
    amount: f64,
    at: f64,
    refunded: f64,
}

impl DebitEntryRow {
    #[allow(clippy::cast_possible_truncation)] // integers read back from D1's f64
    fn entry(self) -> DebitEntry {
        DebitEntry {
            key: self.debit_key,
            amount: Milli::from_milli(self.amount as i64),
            at: Timestamp::from_millis(self.at as i64),
            refunded: self.refunded != 0.0,
        }
    }
}

/// A row of [`RECENT_CONVERSATIONS`].
#[derive(Deserialize)]
struct RecentRow {
    conversation_id: String,
    n: f64,
    first_at: f64,
    last_at: f64,
    channel: String,
    direction: String,
    sender: String,
    recipient: String,
    action_taken: String,
}

/// The server's `RECENT_CONVERSATIONS` (adapter-server/src/store/ports.rs) with D1's
/// placeholders: the tenant's latest `?2` conversations, and each one's rows at its last time,
/// latest first. `CROSS JOIN` drives the join from the listed conversations into
/// `idx_messages_tenant_conversation` (migration 0008).
const RECENT_CONVERSATIONS: &str = "WITH recent AS (\
     SELECT conversation_id, COUNT(*) AS n, MIN(at) AS first_at, MAX(at) AS last_at \
     FROM messages WHERE tenant_id = ?1 AND conversation_id IS NOT NULL \
     GROUP BY conversation_id ORDER BY last_at DESC, conversation_id DESC LIMIT ?2) \
     SELECT r.conversation_id, r.n, r.first_at, r.last_at, m.channel, m.direction, m.sender, \
     m.recipient, m.action_taken FROM recent r CROSS JOIN messages m \
     WHERE m.tenant_id = ?1 AND m.conversation_id = r.conversation_id AND m.at = r.last_at \
     ORDER BY r.last_at DESC, r.conversation_id DESC, m.direction DESC, m.message_id DESC";

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

#[derive(Deserialize)]
struct AccountRow {
    account_key: String,
    tenant_id: String,
}

#[derive(Deserialize)]
struct MessageRow {
    tenant_id: String,
    direction: String,
    message_id: String,
    channel: String,
    sender: String,
    recipient: String,
    action_taken: String,
    conversation_id: Option<String>,
    at: f64,
}

impl CfStore {
    /// The store over `DB`, `KV` and the given session location.
    pub(crate) fn new(env: &Env, sessions: Sessions) -> worker::Result<Self> {
        Ok(CfStore {
            db: env.d1("DB")?,
            kv: env.kv("KV")?,
            env: env.clone(),
            sessions,
        })
    }

    fn stmt(&self, sql: &str, args: &[JsValue]) -> StoreResult<D1PreparedStatement> {
        self.db.prepare(sql).bind(args).map_err(backend)
    }

    async fn first<T: DeserializeOwned>(
        &self,
        sql: &str,
        args: &[JsValue],
    ) -> StoreResult<Option<T>> {
        self.stmt(sql, args)?.first(None).await.map_err(backend)
    }

    async fn all<T: DeserializeOwned>(&self, sql: &str, args: &[JsValue]) -> StoreResult<Vec<T>> {
        self.stmt(sql, args)?
            .all()
            .await
            .map_err(backend)?
            .results()
            .map_err(backend)
    }

    /// Runs a write; returns how many rows it changed.
    async fn run(&self, sql: &str, args: &[JsValue]) -> StoreResult<usize> {
        self.run_stmt(self.stmt(sql, args)?).await
    }

    /// Runs a prepared write; returns how many rows it changed.
    async fn run_stmt(&self, stmt: D1PreparedStatement) -> StoreResult<usize> {
        let result = stmt.run().await.map_err(backend)?;
        Ok(result
            .meta()
            .map_err(backend)?
            .and_then(|m| m.changes)
            .unwrap_or(0))
    }

    /// The tenant's grants (every row: `draw` and `restore` skip what they must).
    async fn grants(&self, tenant: &TenantId) -> StoreResult<Vec<Grant>> {
        let rows: Vec<GrantRow> = self
            .all(
                "SELECT grant_id, amount, remaining, granted_at, expires_at, reason \
                 FROM ledger_grants WHERE tenant_id = ?1 ORDER BY grant_id",
                &[s(tenant.as_str())],
            )
            .await?;
        Ok(rows.into_iter().map(GrantRow::grant).collect())
    }

    /// The key's debit row, as read.
    async fn debit_row(&self, tenant: &TenantId, key: &str) -> StoreResult<Option<DebitRow>> {
        self.first(
            "SELECT amount, at, refunded, drawn FROM ledger_debits \
             WHERE tenant_id = ?1 AND debit_key = ?2",
            &[s(tenant.as_str()), s(key)],
        )
        .await
    }

    /// One ledger step: reads the tenant's grants and `key`'s debit row, lets `plan` (the
    /// core's `billing::plan_debit` / `plan_refund`) decide, and applies its changes with
    /// [`CfStore::apply_ledger`]; on a lost race it reads and plans again.
    async fn ledger_step<O>(
        &self,
        tenant: &TenantId,
        key: &str,
        plan: impl Fn(&[Grant], Option<&Debit>) -> StoreResult<(O, LedgerChanges)>,
    ) -> StoreResult<O> {
        for _ in 0..CAS_ATTEMPTS {
            let grants = self.grants(tenant).await?;
            let row = self.debit_row(tenant, key).await?;
            let existing = row.as_ref().map(|r| r.debit(key)).transpose()?;
            let (outcome, changes) = plan(&grants, existing.as_ref())?;
            if changes.is_empty()
                || self
                    .apply_ledger(tenant, key, row.as_ref(), &changes)
                    .await?
            {
                return Ok(outcome);
            }
        }
        Err(StoreError::Conflict(format!("ledger of {tenant}")))
    }

    /// Writes a plan's changes as one D1 batch (one transaction) that applies only on the rows
    /// the plan was computed from: the changed grants still hold their old `remaining` and the
    /// key's row is as `read`. When grants change, the batch's first statement aborts it
    /// otherwise (it sets a grant's `remaining` to -1, which the table's CHECK refuses); a plan
    /// that changes no grant (a refund whose grants are gone) writes the row with a conditional
    /// statement instead. Purges are guarded by their expiry and safe in any case. Returns
    /// `Ok(false)` on a lost race: nothing the plan decided was written.
    async fn apply_ledger(
        &self,
        tenant: &TenantId,
        key: &str,
        read: Option<&DebitRow>,
        changes: &LedgerChanges,
    ) -> StoreResult<bool> {
        let t = s(tenant.as_str());
        // ?1 tenant, ?4 key; ?5 at, ?6 refunded, ?7 drawn (of the row as read).
        let mut read_args = vec![s(key)];
        if let Some(r) = read {
            read_args.extend(r.version_args());
        }
        let row_as_read = if read.is_some() {
            "EXISTS (SELECT 1 FROM ledger_debits WHERE tenant_id = ?1 AND debit_key = ?4 \
             AND at = ?5 AND refunded = ?6 AND drawn = ?7)"
        } else {
            "NOT EXISTS (SELECT 1 FROM ledger_debits WHERE tenant_id = ?1 AND debit_key = ?4)"
        };
        let debit_args = |d: &Debit| -> StoreResult<Vec<JsValue>> {
            Ok(vec![
                s(tenant.as_str()),
                s(key),
                n(d.amount.as_milli()),
                n(d.at.as_millis()),
                s(&encode(&d.drawn)?),
                n(i64::from(d.refunded)),
            ])
        };
        let mut batch = Vec::new();
        let guarded = if let Some(first) = changes.grants.first() {
            let old: Vec<(&str, i64)> = changes
                .grants
                .iter()
                .map(|u| (u.grant_id.as_str(), u.from.as_milli()))
                .collect();
            let mut args = vec![t.clone(), s(&encode(&old)?), s(&first.grant_id)];
            args.extend(read_args);
            batch.push(self.stmt(
                &format!(
                    "UPDATE ledger_grants SET remaining = -1 WHERE tenant_id = ?1 AND grant_id = ?3 \
                     AND NOT ({GRANTS_UNCHANGED} AND {row_as_read})"
                ),
                &args,
            )?);
            for update in &changes.grants {
                batch.push(self.stmt(
                    "UPDATE ledger_grants SET remaining = ?3 WHERE tenant_id = ?1 AND grant_id = ?2",
                    &[t.clone(), s(&update.grant_id), n(update.to.as_milli())],
                )?);
            }
            if let Some(debit) = &changes.debit {
                batch.push(self.stmt(
                    "INSERT INTO ledger_debits (tenant_id, debit_key, amount, at, drawn, refunded) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant_id, debit_key) DO UPDATE \
                     SET amount = excluded.amount, at = excluded.at, drawn = excluded.drawn, \
                     refunded = excluded.refunded",
                    &debit_args(debit)?,
                )?);
            }
            true
        } else {
            if let Some(debit) = &changes.debit {
                let mut args = debit_args(debit)?;
                let sql = match read {
                    Some(r) => {
                        args.extend(r.version_args());
                        "UPDATE ledger_debits SET amount = ?3, at = ?4, drawn = ?5, refunded = ?6 \
                         WHERE tenant_id = ?1 AND debit_key = ?2 \
                         AND at = ?7 AND refunded = ?8 AND drawn = ?9"
                    }
                    None => {
                        "INSERT INTO ledger_debits (tenant_id, debit_key, amount, at, drawn, refunded) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant_id, debit_key) DO NOTHING"
                    }
                };
                batch.push(self.stmt(sql, &args)?);
            }
            false
        };
        let conditional_write = !guarded && changes.debit.is_some();
        if let Some(purge) = &changes.purge {
            for grant_id in &purge.grants {
                batch.push(self.stmt(
                    "DELETE FROM ledger_grants WHERE tenant_id = ?1 AND grant_id = ?2 \
                     AND expires_at IS NOT NULL AND expires_at <= ?3",
                    &[t.clone(), s(grant_id), n(purge.through.as_millis())],
                )?);
            }
            batch.push(self.stmt(
                "DELETE FROM ledger_debits WHERE tenant_id = ?1 AND at <= ?2",
                &[t.clone(), n(purge.through.as_millis())],
            )?);
        }
        if batch.is_empty() {
            return Ok(true);
        }
        match self.db.batch(batch).await {
            Ok(results) if conditional_write => Ok(results
                .first()
                .and_then(|r| r.meta().ok().flatten())
                .and_then(|m| m.changes)
                == Some(1)),
            Ok(_) => Ok(true),
            Err(e) if guarded && e.to_string().contains("CHECK constraint failed") => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    fn session_storage(&self) -> StoreResult<&worker::Storage> {
        match &self.sessions {
            Sessions::Durable(storage) => Ok(storage),
            Sessions::Elsewhere => Err(StoreError::backend(
                "sessions are reachable only inside the conversation's Durable Object",
            )),
        }
    }

    async fn queue_send(&self, binding: &str, body: String, delay_secs: u32) -> StoreResult<()> {
        let queue = self.env.queue(binding).map_err(backend)?;
        let mut message = worker::MessageBuilder::new(body);
        if delay_secs > 0 {
            message = message.delay_seconds(delay_secs);
        }
        queue.send(message.build()).await.map_err(backend)
    }
}

#[async_trait(?Send)]
impl TenantStore for CfStore {
    async fn get_tenant(&self, id: &TenantId) -> StoreResult<Option<Tenant>> {
        let row: Option<TenantRow> = self
            .first(
                "SELECT doc, revision FROM tenants WHERE id = ?1",
                &[s(id.as_str())],
            )
            .await?;
        row.map(|r| {
            let mut tenant: Tenant = decode(&format!("tenant:{id}"), &r.doc)?;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            {
                tenant.revision = r.revision as u64;
            }
            Ok(tenant)
        })
        .transpose()
    }

    async fn find_tenant(&self, account: &ChannelAccount) -> StoreResult<Option<TenantId>> {
        let key = account.index_key();
        let cached = self.kv.get(&key).text().await.map_err(backend)?;
        let raw = match cached {
            Some(t) => Some(t),
            None => {
                let row: Option<IdRow> = self
                    .first(
                        "SELECT tenant_id AS id FROM tenant_accounts WHERE account_key = ?1",
                        &[s(&key)],
                    )
                    .await?;
                row.map(|r| r.id)
            }
        };
        raw.map(|t| TenantId::parse(&t).map_err(|e| corrupt(&key, e)))
            .transpose()
    }

    async fn put_tenant(
        &self,
        tenant: &Tenant,
        expected_revision: Option<u64>,
    ) -> StoreResult<u64> {
        let id = tenant.id.as_str();
        let accounts: Vec<String> = tenant
            .channels
            .accounts()
            .iter()
            .map(ChannelAccount::index_key)
            .collect();
        // A clear error before the write when an account is taken (the primary key would also
        // abort the batch).
        for key in &accounts {
            let owner: Option<AccountRow> = self
                .first(
                    "SELECT account_key, tenant_id FROM tenant_accounts WHERE account_key = ?1",
                    &[s(key)],
                )
                .await?;
            if let Some(owner) = owner.filter(|o| o.tenant_id != id) {
                return Err(StoreError::Conflict(format!(
                    "{} belongs to another tenant",
                    owner.account_key
                )));
            }
        }
        let old_accounts: Vec<AccountRow> = self
            .all(
                "SELECT account_key, tenant_id FROM tenant_accounts WHERE tenant_id = ?1",
                &[s(id)],
            )
            .await?;
        let revision = expected_revision.unwrap_or(0) + 1;
        let mut stored = tenant.clone();
        stored.revision = revision;
        let doc = encode(&stored)?;
        let now = super::now().as_millis();
        #[allow(clippy::cast_possible_wrap)]
        let (rev_new, rev_old) = (revision as i64, expected_revision.unwrap_or(0) as i64);

        // One D1 batch is one transaction. Every statement of an update is guarded by the
        // revision it expects, so a lost race changes nothing and is reported as a conflict. A
        // create starts with a plain INSERT: an existing tenant aborts the whole batch (a guard
        // on revision 1 alone would let a refused create re-point the accounts of a tenant
        // created earlier, whose revision is 1 too).
        let mut batch = Vec::new();
        let guard = "EXISTS (SELECT 1 FROM tenants WHERE id = ?1 AND revision = ?2)";
        if expected_revision.is_none() {
            batch.push(self.stmt(
                "INSERT INTO tenants (id, revision, doc, updated_at) VALUES (?1, 1, ?2, ?3)",
                &[s(id), s(&doc), n(now)],
            )?);
            batch.push(self.stmt(
                &format!("DELETE FROM tenant_accounts WHERE tenant_id = ?1 AND {guard}"),
                &[s(id), n(rev_new)],
            )?);
            for key in &accounts {
                batch.push(self.stmt(
                    &format!(
                        "INSERT INTO tenant_accounts (account_key, tenant_id) \
                         SELECT ?3, ?1 WHERE {guard}"
                    ),
                    &[s(id), n(rev_new), s(key)],
                )?);
            }
        } else {
            batch.push(self.stmt(
                &format!("DELETE FROM tenant_accounts WHERE tenant_id = ?1 AND {guard}"),
                &[s(id), n(rev_old)],
            )?);
            for key in &accounts {
                batch.push(self.stmt(
                    &format!(
                        "INSERT INTO tenant_accounts (account_key, tenant_id) \
                         SELECT ?3, ?1 WHERE {guard}"
                    ),
                    &[s(id), n(rev_old), s(key)],
                )?);
            }
            batch.push(self.stmt(
                "UPDATE tenants SET revision = ?3, doc = ?4, updated_at = ?5 \
                 WHERE id = ?1 AND revision = ?2",
                &[s(id), n(rev_old), n(rev_new), s(&doc), n(now)],
            )?);
        }
        let results = self.db.batch(batch).await.map_err(|e| {
            let text = e.to_string();
            if text.contains("tenants.id") {
                StoreError::Conflict(format!("tenant {id} exists"))
            } else if text.contains("UNIQUE") || text.contains("PRIMARY KEY") {
                StoreError::Conflict(format!(
                    "an account of tenant {id} belongs to another tenant"
                ))
            } else {
                backend(text)
            }
        })?;
        let tenant_write = if expected_revision.is_none() {
            results.first()
        } else {
            results.last()
        };
        let changed = tenant_write
            .and_then(|r| r.meta().ok().flatten())
            .and_then(|m| m.changes)
            .unwrap_or(0);
        if changed != 1 {
            return Err(StoreError::Conflict(format!("tenant {id}")));
        }

        // Mirror the reverse index into KV for the webhook path (D1 stays the truth).
        for old in old_accounts
            .iter()
            .filter(|o| !accounts.contains(&o.account_key))
        {
            self.kv.delete(&old.account_key).await.map_err(backend)?;
        }
        for key in &accounts {
            self.kv
                .put(key, id)
                .map_err(backend)?
                .execute()
                .await
                .map_err(backend)?;
        }
        Ok(revision)
    }

    async fn list_tenants(&self) -> StoreResult<Vec<TenantId>> {
        let rows: Vec<IdRow> = self.all("SELECT id FROM tenants ORDER BY id", &[]).await?;
        rows.into_iter()
            .map(|r| TenantId::parse(&r.id).map_err(|e| corrupt(&r.id, e)))
            .collect()
    }
}

#[async_trait(?Send)]
impl SessionStore for CfStore {
    async fn load_session(&self, key: &ConversationKey) -> StoreResult<Option<Session>> {
        let storage = self.session_storage()?;
        let raw: Option<String> = storage
            .get(&format!("session:{}", key.storage_key()))
            .await
            .map_err(backend)?;
        raw.map(|doc| decode(&key.storage_key(), &doc)).transpose()
    }

    async fn save_session(&self, key: &ConversationKey, session: &Session) -> StoreResult<()> {
        let storage = self.session_storage()?;
        storage
            .put(&format!("session:{}", key.storage_key()), encode(session)?)
            .await
            .map_err(backend)
    }
}

/// The precondition of a ledger batch: the changed grants still hold what was read (`?1` the
/// tenant, `?2` the JSON `[[grant_id, old_remaining], …]`).
const GRANTS_UNCHANGED: &str = "(SELECT COUNT(*) FROM ledger_grants g JOIN json_each(?2) j \
     ON g.grant_id = json_extract(j.value, '$[0]') AND g.remaining = json_extract(j.value, '$[1]') \
     WHERE g.tenant_id = ?1) = json_array_length(?2)";

#[async_trait(?Send)]
impl Ledger for CfStore {
    async fn balance(&self, tenant: &TenantId, now: Timestamp) -> StoreResult<Milli> {
        Ok(live_balance(&self.grants(tenant).await?, now))
    }

    async fn try_debit(
        &self,
        tenant: &TenantId,
        key: &str,
        amount: Milli,
        now: Timestamp,
    ) -> StoreResult<DebitOutcome> {
        self.ledger_step(tenant, key, |grants, existing| {
            let plan = plan_debit(grants, existing, amount, now).map_err(|e| corrupt(key, e))?;
            Ok((plan.outcome, plan.changes))
        })
        .await
    }

    async fn refund(
        &self,
        tenant: &TenantId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<RefundOutcome> {
        self.ledger_step(tenant, key, |grants, existing| {
            let plan = plan_refund(grants, existing, now);
            Ok((plan.outcome, plan.changes))
        })
        .await
    }

    async fn grant(&self, tenant: &TenantId, grant: Grant) -> StoreResult<GrantOutcome> {
        check_grant(&grant).map_err(|e| corrupt(&grant.id, e))?;
        let inserted = self
            .run(
                "INSERT INTO ledger_grants (tenant_id, grant_id, amount, remaining, granted_at, \
                 expires_at, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (tenant_id, grant_id) DO NOTHING",
                &[
                    s(tenant.as_str()),
                    s(&grant.id),
                    n(grant.amount.as_milli()),
                    n(grant.remaining.as_milli()),
                    n(grant.granted_at.as_millis()),
                    grant.expires_at.map_or(JsValue::NULL, |t| n(t.as_millis())),
                    s(&grant.reason),
                ],
            )
            .await?;
        Ok(if inserted == 1 {
            GrantOutcome::Granted
        } else {
            GrantOutcome::AlreadyGranted
        })
    }

    async fn ledger_history(
        &self,
        tenant: &TenantId,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<LedgerHistory> {
        // The server's queries, with D1's placeholders: rows past retention are filtered, not
        // deleted.
        let cutoff = n(retention_cutoff(now).as_millis());
        let limit = n(i64::from(limit));
        let grants: Vec<GrantRow> = self
            .all(
                "SELECT grant_id, amount, remaining, granted_at, expires_at, reason \
                 FROM ledger_grants WHERE tenant_id = ?1 \
                 AND (expires_at IS NULL OR expires_at > ?2) \
                 ORDER BY granted_at DESC, grant_id DESC LIMIT ?3",
                &[s(tenant.as_str()), cutoff.clone(), limit.clone()],
            )
            .await?;
        let debits: Vec<DebitEntryRow> = self
            .all(
                "SELECT debit_key, amount, at, refunded FROM ledger_debits \
                 WHERE tenant_id = ?1 AND at > ?2 ORDER BY at DESC, debit_key DESC LIMIT ?3",
                &[s(tenant.as_str()), cutoff, limit],
            )
            .await?;
        Ok(LedgerHistory {
            grants: grants.into_iter().map(GrantRow::grant).collect(),
            debits: debits.into_iter().map(DebitEntryRow::entry).collect(),
        })
    }
}

#[async_trait(?Send)]
impl IdempotencyStore for CfStore {
    async fn first_seen(&self, key: &str, now: Timestamp, ttl: Span) -> StoreResult<bool> {
        let changed = self
            .run(
                "INSERT INTO idempotency_keys (idem_key, expires_at) VALUES (?1, ?2) \
                 ON CONFLICT (idem_key) DO UPDATE SET expires_at = excluded.expires_at \
                 WHERE idempotency_keys.expires_at <= ?3",
                &[s(key), n((now + ttl).as_millis()), n(now.as_millis())],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn forget(&self, key: &str) -> StoreResult<()> {
        self.run(
            "DELETE FROM idempotency_keys WHERE idem_key = ?1",
            &[s(key)],
        )
        .await
        .map(|_| ())
    }
}

fn direction_str(d: Direction) -> &'static str {
    match d {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

#[async_trait(?Send)]
impl MessageLog for CfStore {
    async fn record_message(&self, r: &MessageRecord) -> StoreResult<()> {
        self.run(
            "INSERT INTO messages (tenant_id, direction, message_id, channel, sender, recipient, \
             action_taken, conversation_id, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (tenant_id, direction, message_id) DO UPDATE SET \
             action_taken = excluded.action_taken, \
             conversation_id = COALESCE(excluded.conversation_id, messages.conversation_id)",
            &[
                s(r.tenant.as_str()),
                s(direction_str(r.direction)),
                s(&r.message_id),
                s(r.channel.as_str()),
                s(&r.sender),
                s(&r.recipient),
                s(&r.action_taken),
                opt(r.conversation_id.as_ref().map(ConversationId::as_str)),
                n(r.at.as_millis()),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn conversation_messages(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> StoreResult<Vec<MessageRecord>> {
        let rows: Vec<MessageRow> = self
            .all(
                "SELECT tenant_id, direction, message_id, channel, sender, recipient, \
                 action_taken, conversation_id, at FROM messages \
                 WHERE tenant_id = ?1 AND conversation_id = ?2 ORDER BY at, direction",
                &[s(tenant.as_str()), s(conversation.as_str())],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                let key = format!("messages:{}", r.message_id);
                Ok(MessageRecord {
                    tenant: TenantId::parse(&r.tenant_id).map_err(|e| corrupt(&key, e))?,
                    channel: r.channel.parse::<Channel>().map_err(|e| corrupt(&key, e))?,
                    direction: if r.direction == "inbound" {
                        Direction::Inbound
                    } else {
                        Direction::Outbound
                    },
                    sender: r.sender,
                    recipient: r.recipient,
                    message_id: r.message_id,
                    action_taken: r.action_taken,
                    conversation_id: r
                        .conversation_id
                        .map(|c| ConversationId::parse(&c).map_err(|e| corrupt(&key, e)))
                        .transpose()?,
                    #[allow(clippy::cast_possible_truncation)]
                    at: Timestamp::from_millis(r.at as i64),
                })
            })
            .collect()
    }

    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // D1's f64 integers
    async fn recent_conversations(
        &self,
        tenant: &TenantId,
        limit: u32,
    ) -> StoreResult<Vec<ConversationSummary>> {
        let rows: Vec<RecentRow> = self
            .all(
                RECENT_CONVERSATIONS,
                &[s(tenant.as_str()), n(i64::from(limit))],
            )
            .await?;
        let mut summaries: Vec<ConversationSummary> = Vec::with_capacity(rows.len());
        for r in rows {
            // The first row of each conversation is its latest; the others tie on `at`.
            if summaries
                .last()
                .is_some_and(|s| s.conversation_id.as_str() == r.conversation_id)
            {
                continue;
            }
            let key = format!("messages:{}", r.conversation_id);
            summaries.push(ConversationSummary {
                conversation_id: ConversationId::parse(&r.conversation_id)
                    .map_err(|e| corrupt(&key, e))?,
                channel: r.channel.parse::<Channel>().map_err(|e| corrupt(&key, e))?,
                customer: if r.direction == "inbound" {
                    r.sender
                } else {
                    r.recipient
                },
                messages: r.n.max(0.0) as u64,
                first_at: Timestamp::from_millis(r.first_at as i64),
                last_at: Timestamp::from_millis(r.last_at as i64),
                last_action: r.action_taken,
            });
        }
        Ok(summaries)
    }
}

#[async_trait(?Send)]
impl JobQueue for CfStore {
    async fn schedule(&self, job: &Job, run_at: Timestamp) -> StoreResult<()> {
        let now = super::now();
        match job {
            Job::FlushBuffer { key } => match &self.sessions {
                // Inside the conversation's object: its alarm is the flush (setting it again
                // moves it, so a burst leaves one flush at the last deadline).
                Sessions::Durable(storage) => {
                    storage
                        .put(super::reply_buffer::FLUSH_KEY, encode(key)?)
                        .await
                        .map_err(backend)?;
                    // An integer alarm time is an offset from now in milliseconds.
                    storage
                        .set_alarm(run_at.since(now).as_millis().max(1))
                        .await
                        .map_err(backend)
                }
                Sessions::Elsewhere => super::reply_buffer::schedule_remote(&self.env, key, run_at)
                    .await
                    .map_err(backend),
            },
            Job::SafetyCheck(safety) => self.queue_send("SAFETY_QUEUE", encode(safety)?, 0).await,
            // The catalog's reviews are the deployment's, not a tenant's: the work queue runs
            // them through `Engine::run_job`, retried with backoff like every job there.
            Job::CatalogReview(_) => {
                let body = encode(&WorkItem::Job { job: job.clone() })?;
                self.queue_send("WORK_QUEUE", body, 0).await
            }
            Job::ApprovalDigest { .. } => {
                let delay = run_at.since(now).as_millis().max(0) / 1000;
                // Queues delay at most 12 hours; a later digest is re-checked then.
                let delay = u32::try_from(delay.min(43_200)).unwrap_or(43_200);
                let body = encode(&WorkItem::Job { job: job.clone() })?;
                self.queue_send("WORK_QUEUE", body, delay).await
            }
        }
    }
}

#[async_trait(?Send)]
impl DraftStore for CfStore {
    async fn put_draft(&self, tenant: &TenantId, draft: &Draft) -> StoreResult<()> {
        self.run(
            "INSERT INTO drafts (tenant_id, id, doc, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (tenant_id, id) DO UPDATE SET \
             doc = excluded.doc, created_at = excluded.created_at, expires_at = excluded.expires_at",
            &[
                s(tenant.as_str()),
                s(&draft.id),
                s(&encode(draft)?),
                n(draft.created_at.as_millis()),
                n(draft.expires_at().as_millis()),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn take_draft(
        &self,
        tenant: &TenantId,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<Draft>> {
        // DELETE … RETURNING: two concurrent approvals get the draft once.
        let rows: Vec<DocRow> = self
            .all(
                "DELETE FROM drafts WHERE tenant_id = ?1 AND id = ?2 RETURNING doc",
                &[s(tenant.as_str()), s(id)],
            )
            .await?;
        rows.into_iter()
            .next()
            .map(|r| decode::<Draft>(&format!("draft:{id}"), &r.doc))
            .transpose()
            .map(|d| d.filter(|d| d.expires_at() > now))
    }

    async fn list_drafts(&self, tenant: &TenantId, now: Timestamp) -> StoreResult<Vec<Draft>> {
        let rows: Vec<DocRow> = self
            .all(
                "SELECT doc FROM drafts WHERE tenant_id = ?1 AND expires_at > ?2 \
                 ORDER BY created_at, id",
                &[s(tenant.as_str()), n(now.as_millis())],
            )
            .await?;
        rows.into_iter()
            .map(|r| decode(&format!("drafts:{tenant}"), &r.doc))
            .collect()
    }
}

impl CfStore {
    /// A live draft, read without taking it (to find its conversation's object).
    pub(crate) async fn peek_draft(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> StoreResult<Option<Draft>> {
        let row: Option<DocRow> = self
            .first(
                "SELECT doc FROM drafts WHERE tenant_id = ?1 AND id = ?2",
                &[s(tenant.as_str()), s(id)],
            )
            .await?;
        row.map(|r| decode(&format!("draft:{id}"), &r.doc))
            .transpose()
    }

    /// Whether D1 answers (for `/healthz`).
    pub(crate) async fn ping(&self) -> StoreResult<()> {
        self.run("SELECT 1", &[]).await.map(|_| ())
    }
}

#[async_trait(?Send)]
impl AliasStore for CfStore {
    async fn put_alias(&self, tenant: &TenantId, alias: &ReverseAlias) -> StoreResult<()> {
        self.run(
            "INSERT INTO email_aliases (tenant_id, alias, doc, expires_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (tenant_id, alias) DO UPDATE SET doc = excluded.doc, \
             expires_at = excluded.expires_at",
            &[
                s(tenant.as_str()),
                s(&normalize_alias(&alias.alias)),
                s(&encode(alias)?),
                n(alias.expires_at.as_millis()),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn get_alias(
        &self,
        tenant: &TenantId,
        alias: &str,
        now: Timestamp,
    ) -> StoreResult<Option<ReverseAlias>> {
        let row: Option<DocRow> = self
            .first(
                "SELECT doc FROM email_aliases WHERE tenant_id = ?1 AND alias = ?2 \
                 AND expires_at > ?3",
                &[
                    s(tenant.as_str()),
                    s(&normalize_alias(alias)),
                    n(now.as_millis()),
                ],
            )
            .await?;
        row.map(|r| decode::<ReverseAlias>(&format!("email_reverse:{alias}"), &r.doc))
            .transpose()
            .map(|a| a.filter(|a| a.is_live(now)))
    }
}

#[derive(Deserialize)]
struct OwnerRow {
    id: String,
    tenant_id: String,
    email: String,
    password_hash: String,
    session_epoch: f64,
    created_at: f64,
}

#[derive(Deserialize)]
struct EpochRow {
    session_epoch: f64,
}

#[derive(Deserialize)]
struct FailuresRow {
    failures: f64,
    window_start: f64,
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // whole numbers from D1
fn whole_u64(v: f64) -> u64 {
    v.max(0.0) as u64
}

#[allow(clippy::cast_possible_truncation)] // whole numbers from D1
fn whole_i64(v: f64) -> i64 {
    v as i64
}

impl OwnerRow {
    fn owner(self) -> StoreResult<Owner> {
        let key = format!("owner:{}", self.id);
        Ok(Owner {
            tenant: TenantId::parse(&self.tenant_id).map_err(|e| corrupt(&key, e))?,
            session_epoch: whole_u64(self.session_epoch),
            created_at: Timestamp::from_millis(whole_i64(self.created_at)),
            id: self.id,
            email: self.email,
            password_hash: self.password_hash,
        })
    }
}

impl FailuresRow {
    fn failures(self) -> LoginFailures {
        LoginFailures {
            count: u32::try_from(whole_u64(self.failures)).unwrap_or(u32::MAX),
            window_start: Timestamp::from_millis(whole_i64(self.window_start)),
        }
    }
}

const OWNER_COLUMNS: &str = "id, tenant_id, email, password_hash, session_epoch, created_at";

impl CfStore {
    async fn owner_where(&self, column: &str, value: &str) -> StoreResult<Option<Owner>> {
        let row: Option<OwnerRow> = self
            .first(
                &format!("SELECT {OWNER_COLUMNS} FROM owners WHERE {column} = ?1"),
                &[s(value)],
            )
            .await?;
        row.map(OwnerRow::owner).transpose()
    }

    async fn epoch_update(&self, sql: &str, args: &[JsValue], id: &str) -> StoreResult<u64> {
        let row: Option<EpochRow> = self.first(sql, args).await?;
        row.map(|r| whole_u64(r.session_epoch))
            .ok_or_else(|| StoreError::NotFound(format!("owner {id}")))
    }
}

/// Owners and failed-login counters in D1 (the server's `0007_owners.sql` tables): D1 is
/// consistent and its upsert atomic, so a limit holds across isolates and locations, which
/// KV (eventually consistent, one write per key per second) could not promise.
#[async_trait(?Send)]
impl OwnerStore for CfStore {
    async fn create_owner(&self, owner: &Owner) -> StoreResult<()> {
        #[allow(clippy::cast_precision_loss)] // epochs stay far below 2^53
        let epoch = JsValue::from_f64(owner.session_epoch as f64);
        self.stmt(
            "INSERT INTO owners (id, tenant_id, email, password_hash, session_epoch, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                s(&owner.id),
                s(owner.tenant.as_str()),
                s(&owner.email),
                s(&owner.password_hash),
                epoch,
                n(owner.created_at.as_millis()),
            ],
        )?
        .run()
        .await
        .map_err(|e| {
            let text = e.to_string();
            if text.contains("UNIQUE") || text.contains("PRIMARY KEY") {
                StoreError::Conflict("owner email".into())
            } else {
                backend(text)
            }
        })?;
        Ok(())
    }

    async fn owner_by_email(&self, email: &str) -> StoreResult<Option<Owner>> {
        self.owner_where("email", email).await
    }

    async fn owner_by_id(&self, id: &str) -> StoreResult<Option<Owner>> {
        self.owner_where("id", id).await
    }

    async fn set_owner_password(&self, id: &str, password_hash: &str) -> StoreResult<u64> {
        self.epoch_update(
            "UPDATE owners SET password_hash = ?2, session_epoch = session_epoch + 1 \
             WHERE id = ?1 RETURNING session_epoch",
            &[s(id), s(password_hash)],
            id,
        )
        .await
    }

    async fn bump_session_epoch(&self, id: &str) -> StoreResult<u64> {
        self.epoch_update(
            "UPDATE owners SET session_epoch = session_epoch + 1 WHERE id = ?1 \
             RETURNING session_epoch",
            &[s(id)],
            id,
        )
        .await
    }

    async fn login_failures(
        &self,
        key: &str,
        now: Timestamp,
        window: Span,
    ) -> StoreResult<LoginFailures> {
        let row: Option<FailuresRow> = self
            .first(
                "SELECT failures, window_start FROM login_failures \
                 WHERE limiter_key = ?1 AND window_start > ?2",
                &[s(key), n((now - window).as_millis())],
            )
            .await?;
        Ok(row.map_or(
            LoginFailures {
                count: 0,
                window_start: now,
            },
            FailuresRow::failures,
        ))
    }

    async fn record_login_failure(
        &self,
        key: &str,
        now: Timestamp,
        window: Span,
    ) -> StoreResult<LoginFailures> {
        let closed = (now - window).as_millis();
        let row: Option<FailuresRow> = self
            .first(
                "INSERT INTO login_failures (limiter_key, failures, window_start) \
                 VALUES (?1, 1, ?2) ON CONFLICT (limiter_key) DO UPDATE SET \
                 failures = CASE WHEN login_failures.window_start <= ?3 THEN 1 \
                 ELSE login_failures.failures + 1 END, \
                 window_start = CASE WHEN login_failures.window_start <= ?3 THEN ?2 \
                 ELSE login_failures.window_start END \
                 RETURNING failures, window_start",
                &[s(key), n(now.as_millis()), n(closed)],
            )
            .await?;
        let failures = row
            .map(FailuresRow::failures)
            .ok_or_else(|| backend("login_failures: the upsert returned no row"))?;
        if failures.count == 1 {
            // Forget windows closed long ago (one indexed delete, only when a window opens).
            self.run(
                "DELETE FROM login_failures WHERE window_start <= ?1",
                &[n(closed - window.as_millis())],
            )
            .await?;
        }
        Ok(failures)
    }

    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        self.run(
            "DELETE FROM login_failures WHERE limiter_key = ?1",
            &[s(key)],
        )
        .await
        .map(|_| ())
    }
}

#[derive(Deserialize)]
struct AuditRow {
    seq: f64,
    at: f64,
    actor: String,
    action: String,
    tenant_id: Option<String>,
    detail: String,
}

impl AuditRow {
    fn record(self) -> StoreResult<AuditRecord> {
        let seq = whole_u64(self.seq);
        let key = format!("audit_log:{seq}");
        Ok(AuditRecord {
            seq,
            entry: AuditEntry {
                at: Timestamp::from_millis(whole_i64(self.at)),
                actor: self.actor,
                action: self
                    .action
                    .parse::<AuditAction>()
                    .map_err(|e| corrupt(&key, e))?,
                tenant: self
                    .tenant_id
                    .map(|t| TenantId::parse(&t).map_err(|e| corrupt(&key, e)))
                    .transpose()?,
                detail: self.detail,
            },
        })
    }
}

#[derive(Deserialize)]
struct SeqRow {
    seq: f64,
}

#[derive(Deserialize)]
struct PriceRow {
    currency: String,
    per_ai_reply: f64,
    updated_at: f64,
}

impl PriceRow {
    fn price(self) -> StoreResult<StoredPrice> {
        let key = format!("pricing:{}", self.currency);
        Ok(StoredPrice {
            currency: Currency::parse(&self.currency).map_err(|e| corrupt(&key, e))?,
            per_ai_reply: Milli::from_milli(whole_i64(self.per_ai_reply)),
            updated_at: Timestamp::from_millis(whole_i64(self.updated_at)),
        })
    }
}

/// The audit log in D1 (`audit_log`): one `INSERT ... RETURNING seq` per entry.
#[async_trait(?Send)]
impl AuditLog for CfStore {
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<u64> {
        let row: Option<SeqRow> = self
            .first(
                "INSERT INTO audit_log (at, actor, action, tenant_id, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5) RETURNING seq",
                &[
                    n(entry.at.as_millis()),
                    s(&entry.actor),
                    s(entry.action.as_str()),
                    opt(entry.tenant.as_ref().map(TenantId::as_str)),
                    s(&entry.detail),
                ],
            )
            .await?;
        row.map(|r| whole_u64(r.seq))
            .ok_or_else(|| backend("audit_log: the insert returned no row"))
    }

    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let mut sql = String::from(
            "SELECT seq, at, actor, action, tenant_id, detail FROM audit_log WHERE 1 = 1",
        );
        let mut args = Vec::new();
        if let Some(tenant) = &query.tenant {
            args.push(s(tenant.as_str()));
            sql.push_str(&format!(" AND tenant_id = ?{}", args.len()));
        }
        if let Some(before) = query.before {
            args.push(n(i64::try_from(before).unwrap_or(i64::MAX)));
            sql.push_str(&format!(" AND seq < ?{}", args.len()));
        }
        args.push(n(i64::from(query.limit())));
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT ?{}", args.len()));
        let rows: Vec<AuditRow> = self.all(&sql, &args).await?;
        rows.into_iter().map(AuditRow::record).collect()
    }
}

/// The operator's prices in D1 (`pricing`), one row per currency.
#[async_trait(?Send)]
impl PricingStore for CfStore {
    async fn stored_price(&self, currency: &Currency) -> StoreResult<Option<StoredPrice>> {
        let row: Option<PriceRow> = self
            .first(
                "SELECT currency, per_ai_reply, updated_at FROM pricing WHERE currency = ?1",
                &[s(currency.as_str())],
            )
            .await?;
        row.map(PriceRow::price).transpose()
    }

    async fn stored_prices(&self) -> StoreResult<Vec<StoredPrice>> {
        let rows: Vec<PriceRow> = self
            .all(
                "SELECT currency, per_ai_reply, updated_at FROM pricing ORDER BY currency",
                &[],
            )
            .await?;
        rows.into_iter().map(PriceRow::price).collect()
    }

    async fn put_price(&self, price: &StoredPrice) -> StoreResult<()> {
        check_price(price.per_ai_reply)
            .map_err(|e| corrupt(&format!("pricing:{}", price.currency), e))?;
        self.run(
            "INSERT INTO pricing (currency, per_ai_reply, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (currency) DO UPDATE SET per_ai_reply = excluded.per_ai_reply, \
             updated_at = excluded.updated_at",
            &[
                s(price.currency.as_str()),
                n(price.per_ai_reply.as_milli()),
                n(price.updated_at.as_millis()),
            ],
        )
        .await
        .map(|_| ())
    }
}

/// A `persona_catalog` row.
#[derive(Deserialize)]
struct CatalogRow {
    slug: String,
    revision: f64,
    doc: String,
}

impl CatalogRow {
    fn entry(self) -> StoreResult<CatalogPersona> {
        let mut entry: CatalogPersona =
            decode(&format!("persona_catalog:{}", self.slug), &self.doc)?;
        entry.revision = whole_u64(self.revision);
        Ok(entry)
    }
}

/// The personas catalog in D1 (`persona_catalog`): one row per slug, every write
/// compare-and-set on `revision`.
#[async_trait(?Send)]
impl PersonaCatalog for CfStore {
    async fn list_catalog(&self) -> StoreResult<Vec<CatalogPersona>> {
        let rows: Vec<CatalogRow> = self
            .all(
                "SELECT slug, revision, doc FROM persona_catalog ORDER BY slug",
                &[],
            )
            .await?;
        rows.into_iter().map(CatalogRow::entry).collect()
    }

    async fn get_catalog_persona(&self, slug: &str) -> StoreResult<Option<CatalogPersona>> {
        let row: Option<CatalogRow> = self
            .first(
                "SELECT slug, revision, doc FROM persona_catalog WHERE slug = ?1",
                &[s(slug)],
            )
            .await?;
        row.map(CatalogRow::entry).transpose()
    }

    async fn put_catalog_persona(
        &self,
        entry: &CatalogPersona,
        expected_revision: Option<u64>,
    ) -> StoreResult<u64> {
        let doc = encode(&CatalogPersona {
            revision: 0,
            ..entry.clone()
        })?;
        let conflict = || StoreError::Conflict(format!("catalog persona {}", entry.slug));
        let changed = match expected_revision {
            None => {
                self.run(
                    "INSERT INTO persona_catalog (slug, revision, doc) VALUES (?1, 1, ?2) \
                     ON CONFLICT (slug) DO NOTHING",
                    &[s(&entry.slug), s(&doc)],
                )
                .await?
            }
            Some(revision) => {
                let revision = i64::try_from(revision).map_err(|_| conflict())?;
                self.run(
                    "UPDATE persona_catalog SET revision = revision + 1, doc = ?1 \
                     WHERE slug = ?2 AND revision = ?3",
                    &[s(&doc), s(&entry.slug), n(revision)],
                )
                .await?
            }
        };
        if changed == 1 {
            Ok(expected_revision.map_or(1, |r| r + 1))
        } else {
            Err(conflict())
        }
    }

    async fn delete_catalog_persona(&self, slug: &str) -> StoreResult<bool> {
        let changed = self
            .run("DELETE FROM persona_catalog WHERE slug = ?1", &[s(slug)])
            .await?;
        Ok(changed > 0)
    }
}

/// An `operators` row.
#[derive(Deserialize)]
struct OperatorRow {
    email: String,
    password_hash: String,
    session_epoch: f64,
    created_at: f64,
}

impl OperatorRow {
    fn operator(self) -> Operator {
        Operator {
            email: self.email,
            password_hash: self.password_hash,
            session_epoch: whole_u64(self.session_epoch),
            created_at: Timestamp::from_millis(whole_i64(self.created_at)),
        }
    }
}

/// Operator accounts in D1 (the server's `0011_operators.sql` table), for a Worker that is
/// not behind Cloudflare Access.
#[async_trait(?Send)]
impl OperatorStore for CfStore {
    async fn put_operator(
        &self,
        email: &str,
        password_hash: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        // One upsert: a new row starts at epoch 0, a replaced one is at least 1 after it.
        let row: Option<EpochRow> = self
            .first(
                "INSERT INTO operators (email, password_hash, session_epoch, created_at) \
                 VALUES (?1, ?2, 0, ?3) ON CONFLICT (email) DO UPDATE SET \
                 password_hash = excluded.password_hash, \
                 session_epoch = operators.session_epoch + 1 RETURNING session_epoch",
                &[s(email), s(password_hash), n(now.as_millis())],
            )
            .await?;
        let row = row.ok_or_else(|| backend("the operator upsert returned no row"))?;
        Ok(whole_u64(row.session_epoch) == 0)
    }

    async fn operator(&self, email: &str) -> StoreResult<Option<Operator>> {
        let row: Option<OperatorRow> = self
            .first(
                "SELECT email, password_hash, session_epoch, created_at FROM operators \
                 WHERE email = ?1",
                &[s(email)],
            )
            .await?;
        Ok(row.map(OperatorRow::operator))
    }

    async fn list_operators(&self) -> StoreResult<Vec<Operator>> {
        let rows: Vec<OperatorRow> = self
            .all(
                "SELECT email, password_hash, session_epoch, created_at FROM operators \
                 ORDER BY email",
                &[],
            )
            .await?;
        Ok(rows.into_iter().map(OperatorRow::operator).collect())
    }

    async fn delete_operator(&self, email: &str) -> StoreResult<bool> {
        let changed = self
            .run("DELETE FROM operators WHERE email = ?1", &[s(email)])
            .await?;
        Ok(changed > 0)
    }

    async fn bump_operator_epoch(&self, email: &str) -> StoreResult<u64> {
        let row: Option<EpochRow> = self
            .first(
                "UPDATE operators SET session_epoch = session_epoch + 1 WHERE email = ?1 \
                 RETURNING session_epoch",
                &[s(email)],
            )
            .await?;
        row.map(|r| whole_u64(r.session_epoch))
            .ok_or_else(|| StoreError::NotFound("operator".into()))
    }
}

/// A `knowledge_documents` row.
#[derive(Deserialize)]
struct KnowledgeDocumentRow {
    source: String,
    kind: String,
    content_hash: String,
    chunks: f64,
    embedding_model: Option<String>,
    updated_at: f64,
}

impl KnowledgeDocumentRow {
    fn document(self, tenant: &TenantId) -> StoreResult<StoredDocument> {
        let chunks = u32::try_from(whole_u64(self.chunks))
            .map_err(|e| corrupt(&format!("knowledge_documents:{tenant}:{}", self.source), e))?;
        Ok(StoredDocument {
            source: self.source,
            kind: self.kind,
            content_hash: self.content_hash,
            chunks,
            embedding_model: self.embedding_model,
            updated_at: Timestamp::from_millis(whole_i64(self.updated_at)),
        })
    }
}

/// A `knowledge_chunks` row.
#[derive(Deserialize)]
struct KnowledgeChunkRow {
    source: String,
    position: f64,
    heading: String,
    text: String,
    embedding_model: Option<String>,
    embedding: Option<String>,
}

impl KnowledgeChunkRow {
    fn chunk(self, tenant: &TenantId) -> StoreResult<StoredChunk> {
        let key = format!(
            "knowledge_chunks:{tenant}:{}:{}",
            self.source,
            whole_i64(self.position)
        );
        let embedding = match (self.embedding_model, self.embedding) {
            (Some(model), Some(text)) => Some(ChunkEmbedding {
                model,
                vector: decode_vector(&text).ok_or_else(|| corrupt(&key, "not a vector"))?,
            }),
            (None, None) => None,
            _ => {
                return Err(corrupt(
                    &key,
                    "an embedding without its model, or a model alone",
                ))
            }
        };
        Ok(StoredChunk {
            chunk: Chunk {
                heading: decode(&key, &self.heading)?,
                source: self.source,
                text: self.text,
            },
            embedding,
        })
    }
}

#[derive(Deserialize)]
struct RevisionRow {
    revision: f64,
}

/// Passages per `INSERT INTO knowledge_chunks`: five bound values each after the tenant and
/// the source, under D1's 100 bound parameters per statement.
const CHUNKS_PER_INSERT: usize = 19;

/// The tenant's revision upsert: 1 for its first write, then one more each time.
const BUMP_KNOWLEDGE_REVISION: &str = "INSERT INTO knowledge_revisions (tenant_id, revision) \
     VALUES (?1, 1) ON CONFLICT (tenant_id) DO UPDATE \
     SET revision = knowledge_revisions.revision + 1 RETURNING revision";

/// A tenant's knowledge base in D1 (the server's `0012_knowledge.sql` tables). D1 has no
/// interactive transactions: each write is one batch (one transaction) that ends with the
/// revision upsert, so concurrent writes each get a revision of their own.
#[async_trait(?Send)]
impl KnowledgeStore for CfStore {
    async fn put_document(
        &self,
        tenant: &TenantId,
        document: &StoredDocument,
        chunks: &[StoredChunk],
    ) -> StoreResult<u64> {
        let (t, source) = (s(tenant.as_str()), s(&document.source));
        let mut batch = vec![
            self.stmt(
                "INSERT INTO knowledge_documents \
                 (tenant_id, source, kind, content_hash, chunks, embedding_model, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (tenant_id, source) DO UPDATE \
                 SET kind = excluded.kind, content_hash = excluded.content_hash, \
                 chunks = excluded.chunks, embedding_model = excluded.embedding_model, \
                 updated_at = excluded.updated_at",
                &[
                    t.clone(),
                    source.clone(),
                    s(&document.kind),
                    s(&document.content_hash),
                    n(i64::from(document.chunks)),
                    opt(document.embedding_model.as_deref()),
                    n(document.updated_at.as_millis()),
                ],
            )?,
            self.stmt(
                "DELETE FROM knowledge_chunks WHERE tenant_id = ?1 AND source = ?2",
                &[t.clone(), source.clone()],
            )?,
        ];
        for (group, part) in chunks.chunks(CHUNKS_PER_INSERT).enumerate() {
            let mut args = vec![t.clone(), source.clone()];
            let mut rows = Vec::with_capacity(part.len());
            for (i, c) in part.iter().enumerate() {
                let position = i64::try_from(group * CHUNKS_PER_INSERT + i).map_err(backend)?;
                let p = args.len() + 1;
                rows.push(format!(
                    "(?1, ?2, ?{p}, ?{}, ?{}, ?{}, ?{})",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4
                ));
                args.push(n(position));
                args.push(s(&encode(&c.chunk.heading)?));
                args.push(s(&c.chunk.text));
                match &c.embedding {
                    Some(e) => {
                        args.push(s(&e.model));
                        args.push(s(&encode_vector(&e.vector)));
                    }
                    None => args.extend([JsValue::NULL, JsValue::NULL]),
                }
            }
            batch.push(self.stmt(
                &format!(
                    "INSERT INTO knowledge_chunks \
                     (tenant_id, source, position, heading, text, embedding_model, embedding) \
                     VALUES {}",
                    rows.join(", ")
                ),
                &args,
            )?);
        }
        batch.push(self.stmt(BUMP_KNOWLEDGE_REVISION, &[t])?);
        let results = self.db.batch(batch).await.map_err(backend)?;
        let row: Option<RevisionRow> = results
            .last()
            .map(|r| r.results::<RevisionRow>())
            .transpose()
            .map_err(backend)?
            .and_then(|rows| rows.into_iter().next());
        row.map(|r| whole_u64(r.revision))
            .ok_or_else(|| backend("the knowledge revision upsert returned no row"))
    }

    async fn knowledge_documents(&self, tenant: &TenantId) -> StoreResult<Vec<StoredDocument>> {
        let rows: Vec<KnowledgeDocumentRow> = self
            .all(
                "SELECT source, kind, content_hash, chunks, embedding_model, updated_at \
                 FROM knowledge_documents WHERE tenant_id = ?1 ORDER BY source",
                &[s(tenant.as_str())],
            )
            .await?;
        rows.into_iter().map(|r| r.document(tenant)).collect()
    }

    async fn delete_document(&self, tenant: &TenantId, source: &str) -> StoreResult<bool> {
        // One batch: the revision is bumped only while the document is there, then its
        // passages and the document go; the last statement's count says whether it existed.
        let args = [s(tenant.as_str()), s(source)];
        let batch = vec![
            self.stmt(
                "INSERT INTO knowledge_revisions (tenant_id, revision) SELECT ?1, 1 \
                 WHERE EXISTS (SELECT 1 FROM knowledge_documents \
                 WHERE tenant_id = ?1 AND source = ?2) \
                 ON CONFLICT (tenant_id) DO UPDATE SET revision = knowledge_revisions.revision + 1",
                &args,
            )?,
            self.stmt(
                "DELETE FROM knowledge_chunks WHERE tenant_id = ?1 AND source = ?2",
                &args,
            )?,
            self.stmt(
                "DELETE FROM knowledge_documents WHERE tenant_id = ?1 AND source = ?2",
                &args,
            )?,
        ];
        let results = self.db.batch(batch).await.map_err(backend)?;
        let deleted = results
            .last()
            .and_then(|r| r.meta().ok().flatten())
            .and_then(|m| m.changes)
            .unwrap_or(0);
        Ok(deleted > 0)
    }

    async fn knowledge_chunks(&self, tenant: &TenantId) -> StoreResult<Vec<StoredChunk>> {
        let rows: Vec<KnowledgeChunkRow> = self
            .all(
                "SELECT source, position, heading, text, embedding_model, embedding \
                 FROM knowledge_chunks WHERE tenant_id = ?1 ORDER BY source, position",
                &[s(tenant.as_str())],
            )
            .await?;
        rows.into_iter().map(|r| r.chunk(tenant)).collect()
    }

    async fn knowledge_revision(&self, tenant: &TenantId) -> StoreResult<u64> {
        let row: Option<RevisionRow> = self
            .first(
                "SELECT revision FROM knowledge_revisions WHERE tenant_id = ?1",
                &[s(tenant.as_str())],
            )
            .await?;
        Ok(row.map_or(0, |r| whole_u64(r.revision)))
    }
}
