//! The core's storage ports over SQL.

use async_trait::async_trait;
use concierge_core::approval::Draft;
use concierge_core::billing::{
    self, Debit, DebitEntry, DebitOutcome, Grant, GrantOutcome, LedgerChanges, LedgerHistory,
    RefundOutcome,
};
use concierge_core::conversation::Session;
use concierge_core::email::{normalize_alias, ReverseAlias};
use concierge_core::ids::{Channel, ChannelAccount, ConversationId, ConversationKey, Milli};
use concierge_core::ports::{
    AliasStore, ConversationSummary, Direction, DraftStore, IdempotencyStore, Job, JobQueue,
    Ledger, MessageLog, MessageRecord, SessionStore, StoreError, StoreResult, TenantStore,
};
use concierge_core::tenant::Tenant;
use concierge_core::time::{Span, Timestamp};
use concierge_core::TenantId;
use sqlx::Row;

use super::jobs::{JobKind, NewJob};
use super::{begin_statement, db_err, from_doc, on_pool, to_doc, SqlStore};

fn direction_str(d: Direction) -> &'static str {
    match d {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

fn parse_direction(s: &str) -> StoreResult<Direction> {
    match s {
        "inbound" => Ok(Direction::Inbound),
        "outbound" => Ok(Direction::Outbound),
        other => Err(StoreError::Corrupt {
            key: "messages.direction".into(),
            reason: format!("unknown direction {other}"),
        }),
    }
}

fn corrupt(key: &str, e: impl ToString) -> StoreError {
    StoreError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    }
}

#[async_trait]
impl TenantStore for SqlStore {
    async fn get_tenant(&self, id: &TenantId) -> StoreResult<Option<Tenant>> {
        let row: Option<(i64, String)> = on_pool!(self, |pool, pg| {
            let row = sqlx::query("SELECT revision, doc FROM tenants WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(pool)
                .await
                .map_err(db_err)?;
            row.map(|r| Ok((r.try_get("revision")?, r.try_get("doc")?)))
                .transpose()
                .map_err(db_err)?
        });
        let Some((revision, doc)) = row else {
            return Ok(None);
        };
        let key = format!("tenant:{id}");
        let mut tenant: Tenant = from_doc(&key, &doc)?;
        tenant.revision = u64::try_from(revision).map_err(|e| corrupt(&key, e))?;
        Ok(Some(tenant))
    }

    async fn find_tenant(&self, account: &ChannelAccount) -> StoreResult<Option<TenantId>> {
        let raw: Option<String> = on_pool!(self, |pool, pg| {
            let row = sqlx::query("SELECT tenant_id FROM tenant_accounts WHERE account_key = $1")
                .bind(account.index_key())
                .fetch_optional(pool)
                .await
                .map_err(db_err)?;
            row.map(|r| r.try_get("tenant_id"))
                .transpose()
                .map_err(db_err)?
        });
        raw.map(|raw| TenantId::parse(&raw).map_err(|e| corrupt(&account.index_key(), e)))
            .transpose()
    }

    async fn put_tenant(
        &self,
        tenant: &Tenant,
        expected_revision: Option<u64>,
    ) -> StoreResult<u64> {
        let id = tenant.id.as_str();
        let key = format!("tenant:{id}");
        let accounts: Vec<String> = tenant
            .channels
            .accounts()
            .iter()
            .map(ChannelAccount::index_key)
            .collect();
        on_pool!(self, |pool, pg| {
            let mut tx = pool.begin_with(begin_statement(pg)).await.map_err(db_err)?;
            let select = if pg {
                "SELECT revision FROM tenants WHERE id = $1 FOR UPDATE"
            } else {
                "SELECT revision FROM tenants WHERE id = $1"
            };
            let current: Option<i64> = sqlx::query(select)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .map(|r| r.try_get("revision"))
                .transpose()
                .map_err(db_err)?;
            let current = current
                .map(u64::try_from)
                .transpose()
                .map_err(|e| corrupt(&key, e))?;
            if current != expected_revision {
                return Err(StoreError::Conflict(format!("tenant {id}")));
            }
            for account in &accounts {
                let owner: Option<String> =
                    sqlx::query("SELECT tenant_id FROM tenant_accounts WHERE account_key = $1")
                        .bind(account)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err)?
                        .map(|r| r.try_get("tenant_id"))
                        .transpose()
                        .map_err(db_err)?;
                if owner.is_some_and(|o| o != id) {
                    return Err(StoreError::Conflict(format!(
                        "{account} belongs to another tenant"
                    )));
                }
            }
            sqlx::query("DELETE FROM tenant_accounts WHERE tenant_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            for account in &accounts {
                sqlx::query("INSERT INTO tenant_accounts (account_key, tenant_id) VALUES ($1, $2)")
                    .bind(account)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match db_err(e) {
                        StoreError::Conflict(_) => {
                            StoreError::Conflict(format!("{account} belongs to another tenant"))
                        }
                        other => other,
                    })?;
            }
            let revision = current.unwrap_or(0) + 1;
            let mut stored = tenant.clone();
            stored.revision = revision;
            let doc = to_doc(&key, &stored)?;
            let rev = i64::try_from(revision).map_err(|e| corrupt(&key, e))?;
            let now = crate::clock::now_millis();
            let written = if current.is_some() {
                sqlx::query(
                    "UPDATE tenants SET revision = $2, doc = $3, updated_at = $4 WHERE id = $1",
                )
            } else {
                sqlx::query(
                    "INSERT INTO tenants (id, revision, doc, updated_at) VALUES ($1, $2, $3, $4)",
                )
            }
            .bind(id)
            .bind(rev)
            .bind(doc)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| match db_err(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("tenant {id}")),
                other => other,
            })?;
            debug_assert_eq!(written.rows_affected(), 1);
            tx.commit().await.map_err(db_err)?;
            Ok(revision)
        })
    }

    async fn list_tenants(&self) -> StoreResult<Vec<TenantId>> {
        let ids: Vec<String> = on_pool!(self, |pool, pg| {
            let rows = sqlx::query("SELECT id FROM tenants ORDER BY id")
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
            rows.iter()
                .map(|r| r.try_get("id"))
                .collect::<Result<_, _>>()
                .map_err(db_err)?
        });
        ids.iter()
            .map(|raw| TenantId::parse(raw).map_err(|e| corrupt("tenants.id", e)))
            .collect()
    }
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn load_session(&self, key: &ConversationKey) -> StoreResult<Option<Session>> {
        let skey = key.storage_key();
        let doc: Option<String> = on_pool!(self, |pool, pg| {
            let row = sqlx::query("SELECT doc FROM sessions WHERE session_key = $1")
                .bind(&skey)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?;
            row.map(|r| r.try_get("doc")).transpose().map_err(db_err)?
        });
        doc.map(|d| from_doc(&skey, &d)).transpose()
    }

    async fn save_session(&self, key: &ConversationKey, session: &Session) -> StoreResult<()> {
        let skey = key.storage_key();
        let doc = to_doc(&skey, session)?;
        let now = crate::clock::now_millis();
        on_pool!(self, |pool, pg| {
            sqlx::query(
            "INSERT INTO sessions (session_key, tenant_id, doc, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (session_key) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at"
        )
        .bind(&skey)
        .bind(key.tenant.as_str())
        .bind(doc)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(db_err)
        })
    }
}

fn grant_from_row(row: &impl LedgerRow) -> StoreResult<Grant> {
    row.grant()
}

/// Reads ledger rows of either database.
trait LedgerRow {
    /// A `ledger_grants` row.
    fn grant(&self) -> StoreResult<Grant>;
    /// A `ledger_debits` row.
    fn debit(&self, key: &str) -> StoreResult<Debit>;
}

macro_rules! impl_ledger_row {
    ($row:ty) => {
        impl LedgerRow for $row {
            fn grant(&self) -> StoreResult<Grant> {
                Ok(Grant {
                    id: self.try_get("grant_id").map_err(db_err)?,
                    amount: Milli::from_milli(self.try_get("amount").map_err(db_err)?),
                    remaining: Milli::from_milli(self.try_get("remaining").map_err(db_err)?),
                    granted_at: Timestamp::from_millis(self.try_get("granted_at").map_err(db_err)?),
                    expires_at: self
                        .try_get::<Option<i64>, _>("expires_at")
                        .map_err(db_err)?
                        .map(Timestamp::from_millis),
                    reason: self.try_get("reason").map_err(db_err)?,
                })
            }

            fn debit(&self, key: &str) -> StoreResult<Debit> {
                Ok(Debit {
                    amount: Milli::from_milli(self.try_get("amount").map_err(db_err)?),
                    at: Timestamp::from_millis(self.try_get("at").map_err(db_err)?),
                    drawn: from_doc(key, &self.try_get::<String, _>("drawn").map_err(db_err)?)?,
                    refunded: self.try_get("refunded").map_err(db_err)?,
                })
            }
        }
    };
}
impl_ledger_row!(sqlx::sqlite::SqliteRow);
impl_ledger_row!(sqlx::postgres::PgRow);

const GRANT_COLUMNS: &str = "grant_id, amount, remaining, granted_at, expires_at, reason";

impl SqlStore {
    /// One ledger step in one write transaction: reads the tenant's grant rows and `key`'s
    /// debit row (locked with `FOR UPDATE` on Postgres, grants first, always in that order;
    /// SQLite's `BEGIN IMMEDIATE` serializes writers), lets `plan` (the core's
    /// `billing::plan_debit` / `plan_refund`) decide, and writes the plan's changes before
    /// committing. A plan without changes commits nothing.
    async fn ledger_step<O: Send>(
        &self,
        tenant: &TenantId,
        key: &str,
        plan: impl FnOnce(&[Grant], Option<&Debit>) -> StoreResult<(O, LedgerChanges)> + Send,
    ) -> StoreResult<O> {
        on_pool!(self, |pool, pg| {
            let lock = if pg { " FOR UPDATE" } else { "" };
            let mut tx = pool.begin_with(begin_statement(pg)).await.map_err(db_err)?;
            let grants = sqlx::query(&format!(
                "SELECT {GRANT_COLUMNS} FROM ledger_grants WHERE tenant_id = $1 \
                 ORDER BY grant_id{lock}"
            ))
            .bind(tenant.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(grant_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
            let existing = sqlx::query(&format!(
                "SELECT amount, at, drawn, refunded FROM ledger_debits \
                 WHERE tenant_id = $1 AND debit_key = $2{lock}"
            ))
            .bind(tenant.as_str())
            .bind(key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .map(|row| row.debit(key))
            .transpose()?;
            let (outcome, changes) = plan(&grants, existing.as_ref())?;
            if changes.is_empty() {
                return Ok(outcome);
            }
            for update in &changes.grants {
                sqlx::query(
                    "UPDATE ledger_grants SET remaining = $3 WHERE tenant_id = $1 AND grant_id = $2",
                )
                .bind(tenant.as_str())
                .bind(&update.grant_id)
                .bind(update.to.as_milli())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
            if let Some(debit) = &changes.debit {
                sqlx::query(
                    "INSERT INTO ledger_debits (tenant_id, debit_key, amount, at, drawn, refunded) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (tenant_id, debit_key) DO UPDATE SET amount = excluded.amount, \
                     at = excluded.at, drawn = excluded.drawn, refunded = excluded.refunded",
                )
                .bind(tenant.as_str())
                .bind(key)
                .bind(debit.amount.as_milli())
                .bind(debit.at.as_millis())
                .bind(to_doc(key, &debit.drawn)?)
                .bind(debit.refunded)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
            if let Some(purge) = &changes.purge {
                for grant_id in &purge.grants {
                    sqlx::query(
                        "DELETE FROM ledger_grants WHERE tenant_id = $1 AND grant_id = $2 \
                         AND expires_at IS NOT NULL AND expires_at <= $3",
                    )
                    .bind(tenant.as_str())
                    .bind(grant_id)
                    .bind(purge.through.as_millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
                sqlx::query("DELETE FROM ledger_debits WHERE tenant_id = $1 AND at <= $2")
                    .bind(tenant.as_str())
                    .bind(purge.through.as_millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            tx.commit().await.map_err(db_err)?;
            Ok(outcome)
        })
    }
}

#[async_trait]
impl Ledger for SqlStore {
    async fn balance(&self, tenant: &TenantId, now: Timestamp) -> StoreResult<Milli> {
        on_pool!(self, |pool, pg| {
            let total: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(remaining), 0) AS BIGINT) FROM ledger_grants \
                 WHERE tenant_id = $1 AND remaining > 0 AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(tenant.as_str())
            .bind(now.as_millis())
            .fetch_one(pool)
            .await
            .map_err(db_err)?;
            Ok(Milli::from_milli(total))
        })
    }

    async fn try_debit(
        &self,
        tenant: &TenantId,
        key: &str,
        amount: Milli,
        now: Timestamp,
    ) -> StoreResult<DebitOutcome> {
        self.ledger_step(tenant, key, |grants, existing| {
            let plan =
                billing::plan_debit(grants, existing, amount, now).map_err(|e| corrupt(key, e))?;
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
            let plan = billing::plan_refund(grants, existing, now);
            Ok((plan.outcome, plan.changes))
        })
        .await
    }

    async fn grant(&self, tenant: &TenantId, grant: Grant) -> StoreResult<GrantOutcome> {
        billing::check_grant(&grant).map_err(|e| corrupt(&grant.id, e))?;
        on_pool!(self, |pool, pg| {
            let inserted = sqlx::query(
                "INSERT INTO ledger_grants (tenant_id, grant_id, amount, remaining, granted_at, expires_at, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, grant_id) DO NOTHING",
            )
            .bind(tenant.as_str())
            .bind(&grant.id)
            .bind(grant.amount.as_milli())
            .bind(grant.remaining.as_milli())
            .bind(grant.granted_at.as_millis())
            .bind(grant.expires_at.map(Timestamp::as_millis))
            .bind(&grant.reason)
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected();
            Ok(if inserted == 1 {
                GrantOutcome::Granted
            } else {
                GrantOutcome::AlreadyGranted
            })
        })
    }

    async fn ledger_history(
        &self,
        tenant: &TenantId,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<LedgerHistory> {
        // Rows past retention are filtered here, not deleted (a read writes nothing): a grant
        // counts until it is purgeable, a debit row while it is current.
        let cutoff = billing::retention_cutoff(now).as_millis();
        on_pool!(self, |pool, pg| {
            let grants = sqlx::query(&format!(
                "SELECT {GRANT_COLUMNS} FROM ledger_grants WHERE tenant_id = $1 \
                 AND (expires_at IS NULL OR expires_at > $2) \
                 ORDER BY granted_at DESC, grant_id DESC LIMIT $3"
            ))
            .bind(tenant.as_str())
            .bind(cutoff)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(grant_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
            let debits = sqlx::query(
                "SELECT debit_key, amount, at, refunded FROM ledger_debits \
                 WHERE tenant_id = $1 AND at > $2 ORDER BY at DESC, debit_key DESC LIMIT $3",
            )
            .bind(tenant.as_str())
            .bind(cutoff)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(|row| {
                Ok(DebitEntry {
                    key: row.try_get("debit_key")?,
                    amount: Milli::from_milli(row.try_get("amount")?),
                    at: Timestamp::from_millis(row.try_get("at")?),
                    refunded: row.try_get("refunded")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(db_err)?;
            Ok(LedgerHistory { grants, debits })
        })
    }
}

#[async_trait]
impl IdempotencyStore for SqlStore {
    async fn first_seen(&self, key: &str, now: Timestamp, ttl: Span) -> StoreResult<bool> {
        on_pool!(self, |pool, pg| {
            let mut tx = pool.begin_with(begin_statement(pg)).await.map_err(db_err)?;
            let fresh = super::jobs::claim_idempotency!(tx, key, now, ttl)?;
            tx.commit().await.map_err(db_err)?;
            Ok(fresh)
        })
    }

    async fn forget(&self, key: &str) -> StoreResult<()> {
        on_pool!(self, |pool, pg| sqlx::query(
            "DELETE FROM idempotency_keys WHERE idem_key = $1"
        )
        .bind(key)
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(db_err))
    }
}

#[async_trait]
impl MessageLog for SqlStore {
    async fn record_message(&self, r: &MessageRecord) -> StoreResult<()> {
        on_pool!(self, |pool, pg| sqlx::query(
            "INSERT INTO messages (tenant_id, direction, message_id, channel, sender, recipient, \
             action_taken, conversation_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (tenant_id, direction, message_id) DO UPDATE SET \
             action_taken = excluded.action_taken, \
             conversation_id = COALESCE(excluded.conversation_id, messages.conversation_id)"
        )
        .bind(r.tenant.as_str())
        .bind(direction_str(r.direction))
        .bind(&r.message_id)
        .bind(r.channel.as_str())
        .bind(&r.sender)
        .bind(&r.recipient)
        .bind(&r.action_taken)
        .bind(r.conversation_id.as_ref().map(ConversationId::as_str))
        .bind(r.at.as_millis())
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    async fn conversation_messages(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> StoreResult<Vec<MessageRecord>> {
        type RawRow = (String, String, String, String, String, String, i64);
        let rows: Vec<RawRow> = on_pool!(self, |pool, pg| {
            let rows = sqlx::query(
                "SELECT direction, message_id, channel, sender, recipient, action_taken, at \
                 FROM messages WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY at, message_id",
            )
            .bind(tenant.as_str())
            .bind(conversation.as_str())
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get("direction")?,
                        r.try_get("message_id")?,
                        r.try_get("channel")?,
                        r.try_get("sender")?,
                        r.try_get("recipient")?,
                        r.try_get("action_taken")?,
                        r.try_get("at")?,
                    ))
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(db_err)?
        });
        rows.into_iter()
            .map(
                |(direction, message_id, channel, sender, recipient, action_taken, at)| {
                    Ok(MessageRecord {
                        tenant: tenant.clone(),
                        channel: channel
                            .parse::<Channel>()
                            .map_err(|e| corrupt("messages.channel", e))?,
                        direction: parse_direction(&direction)?,
                        sender,
                        recipient,
                        message_id,
                        action_taken,
                        conversation_id: Some(conversation.clone()),
                        at: Timestamp::from_millis(at),
                    })
                },
            )
            .collect()
    }

    async fn recent_conversations(
        &self,
        tenant: &TenantId,
        limit: u32,
    ) -> StoreResult<Vec<ConversationSummary>> {
        type RawRow = (
            String,
            i64,
            i64,
            i64,
            String,
            String,
            String,
            String,
            String,
        );
        let rows: Vec<RawRow> = on_pool!(self, |pool, pg| {
            let rows = sqlx::query(RECENT_CONVERSATIONS)
                .bind(tenant.as_str())
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get("conversation_id")?,
                        r.try_get("n")?,
                        r.try_get("first_at")?,
                        r.try_get("last_at")?,
                        r.try_get("channel")?,
                        r.try_get("direction")?,
                        r.try_get("sender")?,
                        r.try_get("recipient")?,
                        r.try_get("action_taken")?,
                    ))
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(db_err)?
        });
        let mut summaries: Vec<ConversationSummary> = Vec::with_capacity(rows.len());
        for (id, n, first_at, last_at, channel, direction, sender, recipient, action) in rows {
            // Rows come latest first within a conversation: the first one of each is its
            // latest row; the others tie with it on `at`.
            if summaries
                .last()
                .is_some_and(|s| s.conversation_id.as_str() == id)
            {
                continue;
            }
            let customer = match parse_direction(&direction)? {
                Direction::Inbound => sender,
                Direction::Outbound => recipient,
            };
            summaries.push(ConversationSummary {
                conversation_id: ConversationId::parse(&id)
                    .map_err(|e| corrupt("messages.conversation_id", e))?,
                channel: channel
                    .parse::<Channel>()
                    .map_err(|e| corrupt("messages.channel", e))?,
                customer,
                messages: u64::try_from(n).map_err(|e| corrupt("messages.count", e))?,
                first_at: Timestamp::from_millis(first_at),
                last_at: Timestamp::from_millis(last_at),
                last_action: action,
            });
        }
        Ok(summaries)
    }
}

/// The tenant's latest conversations (`$2` of them) and each one's rows at its last time,
/// latest first (`direction DESC`: an outbound row follows an inbound one of the same time).
/// Shared by SQLite, Postgres and D1 (which binds `?1`, `?2`). `CROSS JOIN` makes SQLite drive
/// the join from the few listed conversations into `idx_messages_tenant_conversation`
/// (migration 0008); Postgres plans it as the inner join it is.
pub(crate) const RECENT_CONVERSATIONS: &str = "WITH recent AS (\
     SELECT conversation_id, COUNT(*) AS n, MIN(at) AS first_at, MAX(at) AS last_at \
     FROM messages WHERE tenant_id = $1 AND conversation_id IS NOT NULL \
     GROUP BY conversation_id ORDER BY last_at DESC, conversation_id DESC LIMIT $2) \
     SELECT r.conversation_id, r.n, r.first_at, r.last_at, m.channel, m.direction, m.sender, \
     m.recipient, m.action_taken FROM recent r CROSS JOIN messages m \
     WHERE m.tenant_id = $1 AND m.conversation_id = r.conversation_id AND m.at = r.last_at \
     ORDER BY r.last_at DESC, r.conversation_id DESC, m.direction DESC, m.message_id DESC";

#[async_trait]
impl JobQueue for SqlStore {
    async fn schedule(&self, job: &Job, run_at: Timestamp) -> StoreResult<()> {
        // The core says which conversation a job is serialized with.
        let conversation = job.conversation_key().map(ConversationKey::storage_key);
        let new = NewJob {
            kind: JobKind::Engine,
            dedupe_key: Some(job.dedupe_key()),
            conversation,
            tenant: job.tenant().map(ToString::to_string),
            payload: to_doc("job", job)?,
            run_at,
        };
        on_pool!(self, |pool, pg| {
            let mut tx = pool.begin_with(begin_statement(pg)).await.map_err(db_err)?;
            super::jobs::insert_job!(
                tx,
                new,
                self.retry_policy().max_attempts,
                crate::clock::now_millis()
            )?;
            tx.commit().await.map_err(db_err)?;
            Ok(())
        })
    }
}

#[async_trait]
impl DraftStore for SqlStore {
    async fn put_draft(&self, tenant: &TenantId, draft: &Draft) -> StoreResult<()> {
        let doc = to_doc(&draft.id, draft)?;
        on_pool!(self, |pool, pg| {
            sqlx::query(
            "INSERT INTO drafts (tenant_id, id, doc, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, id) DO UPDATE SET doc = excluded.doc, \
             created_at = excluded.created_at, expires_at = excluded.expires_at"
        )
        .bind(tenant.as_str())
        .bind(&draft.id)
        .bind(doc)
        .bind(draft.created_at.as_millis())
        .bind(draft.expires_at().as_millis())
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(db_err)
        })
    }

    async fn take_draft(
        &self,
        tenant: &TenantId,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<Draft>> {
        // DELETE … RETURNING is atomic: of two concurrent takers, one gets the row.
        let row: Option<(String, i64)> = on_pool!(self, |pool, pg| {
            let row = sqlx::query(
                "DELETE FROM drafts WHERE tenant_id = $1 AND id = $2 RETURNING doc, expires_at",
            )
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
            row.map(|r| Ok((r.try_get("doc")?, r.try_get("expires_at")?)))
                .transpose()
                .map_err(db_err)?
        });
        match row {
            Some((doc, expires)) if expires > now.as_millis() => from_doc(id, &doc).map(Some),
            _ => Ok(None),
        }
    }

    async fn list_drafts(&self, tenant: &TenantId, now: Timestamp) -> StoreResult<Vec<Draft>> {
        let rows: Vec<(String, String)> = on_pool!(self, |pool, pg| {
            sqlx::query("DELETE FROM drafts WHERE tenant_id = $1 AND expires_at <= $2")
                .bind(tenant.as_str())
                .bind(now.as_millis())
                .execute(pool)
                .await
                .map_err(db_err)?;
            let rows = sqlx::query(
                "SELECT id, doc FROM drafts WHERE tenant_id = $1 ORDER BY created_at, id",
            )
            .bind(tenant.as_str())
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("doc")?)))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(db_err)?
        });
        rows.iter().map(|(id, doc)| from_doc(id, doc)).collect()
    }
}

#[async_trait]
impl AliasStore for SqlStore {
    async fn put_alias(&self, tenant: &TenantId, alias: &ReverseAlias) -> StoreResult<()> {
        let key = normalize_alias(&alias.alias);
        let doc = to_doc(&key, alias)?;
        on_pool!(self, |pool, pg| {
            sqlx::query(
            "INSERT INTO email_aliases (tenant_id, alias, doc, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, alias) DO UPDATE SET doc = excluded.doc, expires_at = excluded.expires_at"
        )
        .bind(tenant.as_str())
        .bind(&key)
        .bind(doc)
        .bind(alias.expires_at.as_millis())
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(db_err)
        })
    }

    async fn get_alias(
        &self,
        tenant: &TenantId,
        alias: &str,
        now: Timestamp,
    ) -> StoreResult<Option<ReverseAlias>> {
        let key = normalize_alias(alias);
        let doc: Option<String> = on_pool!(self, |pool, pg| {
            let row =
                sqlx::query("SELECT doc FROM email_aliases WHERE tenant_id = $1 AND alias = $2")
                    .bind(tenant.as_str())
                    .bind(&key)
                    .fetch_optional(pool)
                    .await
                    .map_err(db_err)?;
            row.map(|r| r.try_get("doc")).transpose().map_err(db_err)?
        });
        let alias: Option<ReverseAlias> = doc.map(|d| from_doc(&key, &d)).transpose()?;
        Ok(alias.filter(|a| a.is_live(now)))
    }
}
