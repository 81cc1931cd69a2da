//! The storage ports over D1, KV, the conversation's Durable Object and Queues.
//!
//! - Tenants live in D1 (`tenants`, revision compare-and-set; `tenant_accounts`, the reverse
//!   index whose primary key makes an account belong to one tenant). KV mirrors the reverse
//!   index (`wa_phone:…`, `ig_page:…`, `discord_guild:…`, `email_domain:…`) for the webhook path;
//!   a KV miss falls back to D1.
//! - Money and idempotency never rely on KV: the ledger is the core's `LedgerBook` applied in
//!   Rust and written back with a conditional `UPDATE … WHERE book = <the book read>` (retried on
//!   a lost race); `first_seen` is one conditional upsert.
//! - Sessions live in the conversation's Durable Object storage.
//! - Jobs: buffer flushes are the Durable Object's alarm, safety reviews go to `SAFETY_QUEUE`,
//!   digests to `WORK_QUEUE` with a delay.

use async_trait::async_trait;
use concierge_core::approval::Draft;
use concierge_core::billing::{DebitOutcome, Grant, GrantOutcome, LedgerBook, RefundOutcome};
use concierge_core::conversation::Session;
use concierge_core::email::ReverseAlias;
use concierge_core::ids::{
    Channel, ChannelAccount, ConversationId, ConversationKey, Milli, TenantId,
};
use concierge_core::ports::{
    AliasStore, Direction, DraftStore, IdempotencyStore, Job, JobQueue, Ledger, MessageLog,
    MessageRecord, SessionStore, StoreError, StoreResult, TenantStore,
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
    serde_json::from_str(doc).map_err(|e| corrupt(key, e))
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
struct BookRow {
    book: String,
}

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
        let result = self.stmt(sql, args)?.run().await.map_err(backend)?;
        Ok(result
            .meta()
            .map_err(backend)?
            .and_then(|m| m.changes)
            .unwrap_or(0))
    }

    /// Applies `op` to the tenant's ledger book and writes it back only if nobody wrote it in
    /// between (`UPDATE … WHERE book = <what was read>`), retrying on a lost race. `op` returns
    /// its result and whether it changed the book; the arithmetic is the core's.
    async fn with_book<R>(
        &self,
        tenant: &TenantId,
        now: Timestamp,
        op: impl Fn(&mut LedgerBook) -> StoreResult<(R, bool)>,
    ) -> StoreResult<R> {
        let key = format!("ledger:{tenant}");
        for _ in 0..CAS_ATTEMPTS {
            let old: Option<BookRow> = self
                .first(
                    "SELECT book FROM ledger_books WHERE tenant_id = ?1",
                    &[s(tenant.as_str())],
                )
                .await?;
            let mut book: LedgerBook = match &old {
                Some(row) => decode(&key, &row.book)?,
                None => LedgerBook::default(),
            };
            let (result, changed) = op(&mut book)?;
            if !changed {
                return Ok(result);
            }
            book.prune(now);
            let new = encode(&book)?;
            let written = match &old {
                Some(row) => {
                    self.run(
                        "UPDATE ledger_books SET book = ?1, updated_at = ?2 \
                         WHERE tenant_id = ?3 AND book = ?4",
                        &[s(&new), n(now.as_millis()), s(tenant.as_str()), s(&row.book)],
                    )
                    .await?
                }
                None => {
                    self.run(
                        "INSERT INTO ledger_books (tenant_id, book, updated_at) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (tenant_id) DO NOTHING",
                        &[s(tenant.as_str()), s(&new), n(now.as_millis())],
                    )
                    .await?
                }
            };
            if written == 1 {
                return Ok(result);
            }
        }
        Err(StoreError::Conflict(key))
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

        // One D1 batch is one transaction. Every statement is guarded by the revision it
        // expects, so a lost race changes nothing and is reported as a conflict.
        let mut batch = Vec::new();
        let guard = "EXISTS (SELECT 1 FROM tenants WHERE id = ?1 AND revision = ?2)";
        if expected_revision.is_none() {
            batch.push(self.stmt(
                "INSERT INTO tenants (id, revision, doc, updated_at) VALUES (?1, 1, ?2, ?3) \
                 ON CONFLICT (id) DO NOTHING",
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
            if text.contains("UNIQUE") || text.contains("PRIMARY KEY") {
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

#[async_trait(?Send)]
impl Ledger for CfStore {
    async fn balance(&self, tenant: &TenantId, now: Timestamp) -> StoreResult<Milli> {
        self.with_book(tenant, now, |book| Ok((book.balance(now), false)))
            .await
    }

    async fn try_debit(
        &self,
        tenant: &TenantId,
        key: &str,
        amount: Milli,
        now: Timestamp,
    ) -> StoreResult<DebitOutcome> {
        self.with_book(tenant, now, |book| {
            let outcome = book.try_debit(key, amount, now).map_err(backend)?;
            let changed = matches!(outcome, DebitOutcome::Charged { .. });
            Ok((outcome, changed))
        })
        .await
    }

    async fn refund(
        &self,
        tenant: &TenantId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<RefundOutcome> {
        self.with_book(tenant, now, |book| {
            let outcome = book.refund(key);
            let changed = matches!(outcome, RefundOutcome::Refunded);
            Ok((outcome, changed))
        })
        .await
    }

    async fn grant(&self, tenant: &TenantId, grant: Grant) -> StoreResult<GrantOutcome> {
        let now = grant.granted_at;
        self.with_book(tenant, now, |book| {
            let outcome = book.grant(grant.clone()).map_err(backend)?;
            let changed = matches!(outcome, GrantOutcome::Granted);
            Ok((outcome, changed))
        })
        .await
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
                s(&alias.alias.trim().to_lowercase()),
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
                    s(&alias.trim().to_lowercase()),
                    n(now.as_millis()),
                ],
            )
            .await?;
        row.map(|r| decode::<ReverseAlias>(&format!("email_reverse:{alias}"), &r.doc))
            .transpose()
            .map(|a| a.filter(|a| a.is_live(now)))
    }
}
