//! Durable jobs with leases, the inbound ingress transaction and the outbox.
//!
//! A job is `pending` until a worker claims it (`running`, with a lease that the worker
//! extends while it works), then `done`, or back to `pending` with exponential backoff after
//! a retryable failure, or `dead` after `max_attempts` or a permanent failure. A lease that
//! expires (the worker was killed) puts the job back to `pending`.
//!
//! Ordering: a job may carry a conversation key. Two partial unique indexes make the database
//! itself enforce one `running` job per conversation and one `pending` job per dedupe key; the
//! claim query also takes a conversation's due jobs in the order they fell due: an ingress job
//! at its acknowledgement (`created_at`, which retries do not move), an engine job at its
//! `run_at`, ties by id. So a message acknowledged before a reply-buffer flush fell due runs
//! before that flush, however late both run, and joins the batch the flush answers.

use std::time::Duration;

use concierge_core::delivery::{InDoubt, OutboxState, Progress, Receipt};
use concierge_core::ports::{OutboundMessage, StoreError, StoreResult};
use concierge_core::time::{Span, Timestamp};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{begin_statement, db_err, on_pool, to_doc, Pool, SqlStore};

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// A customer message (payload: the normalized `InboundMessage`): `Engine::process_inbound`.
    Inbound,
    /// An engine-scheduled job (payload: `ports::Job`): `Engine::run_job`.
    Engine,
    /// An outbox send (payload: the outbox key).
    Send,
    /// A raw email (payload: `jobs::EmailJob`): `Engine::process_email`.
    Email,
}

impl JobKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Inbound => "inbound",
            JobKind::Engine => "engine",
            JobKind::Send => "send",
            JobKind::Email => "email",
        }
    }

    fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "inbound" => Ok(JobKind::Inbound),
            "engine" => Ok(JobKind::Engine),
            "send" => Ok(JobKind::Send),
            "email" => Ok(JobKind::Email),
            other => Err(StoreError::Corrupt {
                key: "jobs.kind".into(),
                reason: format!("unknown kind {other}"),
            }),
        }
    }
}

/// A job's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for `run_at`.
    Pending,
    /// Claimed by a worker holding a lease.
    Running,
    /// Finished.
    Done,
    /// Gave up: listable and retryable by an operator.
    Dead,
}

/// Retries and leases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a job is dead-lettered.
    pub max_attempts: u32,
    /// The first retry delay; doubled per attempt.
    pub base_delay: Duration,
    /// The longest retry delay.
    pub max_delay: Duration,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(15 * 60),
            lease: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempts` (1-based): the core's exponential
    /// [`Backoff`](concierge_core::retry::Backoff) with ±25% jitter.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let backoff = concierge_core::retry::Backoff {
            base: Span::millis(millis(self.base_delay)),
            cap: Span::millis(millis(self.max_delay)),
        };
        let delay = backoff.delay(attempts, rand::thread_rng().gen::<f64>());
        Duration::from_millis(u64::try_from(delay.as_millis()).unwrap_or(0))
    }
}

/// How long delivery receipts are kept.
const RECEIPT_RETENTION: Span = Span::days(7);

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A job to insert.
#[derive(Clone, Debug)]
pub(crate) struct NewJob {
    pub(crate) kind: JobKind,
    pub(crate) dedupe_key: Option<String>,
    pub(crate) conversation: Option<String>,
    pub(crate) tenant: Option<String>,
    pub(crate) payload: String,
    pub(crate) run_at: Timestamp,
}

/// A job recorded at ingress, with its idempotency key ([`SqlStore::enqueue_once`]).
#[derive(Clone, Debug)]
pub struct IngressJob {
    /// What to do.
    pub kind: JobKind,
    /// The conversation lock key, if any.
    pub conversation: Option<String>,
    /// The tenant, when known.
    pub tenant: Option<String>,
    /// The payload (JSON).
    pub payload: String,
    /// When it arrived (it is due at once).
    pub at: Timestamp,
}

/// One message for [`SqlStore::enqueue_batch`]: its idempotency key and its job.
#[derive(Clone, Debug)]
pub struct IngressRecord {
    /// The key a redelivery repeats (`{channel}:{provider_id}`).
    pub idempotency_key: String,
    /// The job to run if the key was not seen.
    pub job: IngressJob,
}

/// A job a worker holds a lease on.
#[derive(Clone, Debug)]
pub struct ClaimedJob {
    /// The id.
    pub id: i64,
    /// What to do.
    pub kind: JobKind,
    /// The payload (JSON or an outbox key).
    pub payload: String,
    /// Attempts so far, including this one.
    pub attempts: u32,
    /// The attempt budget.
    pub max_attempts: u32,
    /// The conversation it is serialized on.
    pub conversation: Option<String>,
    /// The tenant, when known.
    pub tenant: Option<String>,
}

/// A dead-lettered job, as the admin API lists it (no payload: it may hold a message body).
#[derive(Clone, Debug, Serialize)]
pub struct DeadJob {
    /// The id (retry with it).
    pub id: i64,
    /// What it did.
    pub kind: JobKind,
    /// The tenant, when known.
    pub tenant: Option<String>,
    /// Attempts made.
    pub attempts: i64,
    /// The last error.
    pub last_error: Option<String>,
    /// When it died (ms since the epoch).
    pub updated_at: i64,
}

/// An outbox row.
#[derive(Clone, Debug, Serialize)]
pub struct OutboxRow {
    /// The `OutboundMessage::key`.
    pub key: String,
    /// The tenant.
    pub tenant: String,
    /// The channel.
    pub channel: String,
    /// Why it was sent.
    pub purpose: String,
    /// The conversation stamped on it.
    pub conversation_id: Option<String>,
    /// Where it stands (stored as `pending`, `sent` or `dead`).
    pub state: OutboxState,
    /// The message (JSON), cleared once really sent; kept for dry-run records.
    #[serde(skip)]
    pub payload: String,
    /// The provider's ids (JSON array) after the send.
    pub provider_ids: Option<String>,
    /// Whether the send was only recorded (`CONCIERGE_DRY_RUN=1`).
    pub dry_run: bool,
    /// Parts of the message delivered so far (their ids are `provider_ids`); a retry
    /// resumes at this part.
    pub parts_sent: i64,
    /// The part whose last attempt has no recorded outcome (the worker stopped, or the request
    /// may have reached the platform before a network error): reconciled before a resend.
    pub in_doubt_part: Option<i64>,
    /// When that attempt started (ms since the epoch).
    pub in_doubt_since: Option<i64>,
}

impl OutboxRow {
    /// The delivery progress the row records, for [`concierge_core::delivery::Delivery`].
    /// Unreadable provider ids read as empty ones: the count of parts sent is what matters.
    pub fn progress(&self) -> Progress {
        let ids: Vec<String> = self
            .provider_ids
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        let in_doubt = self
            .in_doubt_part
            .and_then(|p| usize::try_from(p).ok())
            .map(|part| InDoubt {
                part,
                since: Timestamp::from_millis(self.in_doubt_since.unwrap_or(0)),
            });
        Progress::new(usize::try_from(self.parts_sent).unwrap_or(0), ids, in_doubt)
    }
}

fn corrupt(column: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        key: column.into(),
        reason: e.to_string(),
    }
}

/// Inserts a job inside an open transaction (dedupe among pending jobs moves the run time).
macro_rules! insert_job {
    ($tx:expr, $new:expr, $max_attempts:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO jobs (kind, dedupe_key, conversation, tenant_id, payload, state, run_at, \
             attempts, max_attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, 0, $7, $8, $8) \
             ON CONFLICT (dedupe_key) WHERE state = 'pending' AND dedupe_key IS NOT NULL \
             DO UPDATE SET run_at = excluded.run_at, payload = excluded.payload, \
             updated_at = excluded.updated_at",
        )
        .bind($new.kind.as_str())
        .bind($new.dedupe_key.as_deref())
        .bind($new.conversation.as_deref())
        .bind($new.tenant.as_deref())
        .bind(&$new.payload)
        .bind($new.run_at.as_millis())
        .bind(i64::from($max_attempts))
        .bind($now)
        .execute(&mut *$tx)
        .await
        .map_err($crate::store::db_err)
    };
}

/// Records an idempotency key inside an open transaction; true if it was not live.
macro_rules! claim_idempotency {
    ($tx:expr, $key:expr, $now:expr, $ttl:expr) => {
        sqlx::query(
            "INSERT INTO idempotency_keys (idem_key, expires_at) VALUES ($1, $2) \
             ON CONFLICT (idem_key) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE idempotency_keys.expires_at <= $3 RETURNING idem_key",
        )
        .bind($key)
        .bind(($now + $ttl).as_millis())
        .bind($now.as_millis())
        .fetch_optional(&mut *$tx)
        .await
        .map_err($crate::store::db_err)
        .map(|row| row.is_some())
    };
}

pub(crate) use {claim_idempotency, insert_job};

fn row_to_claimed<R: Row>(row: &R) -> StoreResult<ClaimedJob>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let kind: String = row.try_get("kind").map_err(db_err)?;
    let attempts: i64 = row.try_get("attempts").map_err(db_err)?;
    let max_attempts: i64 = row.try_get("max_attempts").map_err(db_err)?;
    Ok(ClaimedJob {
        id: row.try_get("id").map_err(db_err)?,
        kind: JobKind::parse(&kind)?,
        payload: row.try_get("payload").map_err(db_err)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        max_attempts: u32::try_from(max_attempts).unwrap_or(u32::MAX),
        conversation: row.try_get("conversation").map_err(db_err)?,
        tenant: row.try_get("tenant_id").map_err(db_err)?,
    })
}

const CLAIM_CANDIDATE: &str = "SELECT j.id FROM jobs j \
     WHERE j.state = 'pending' AND j.run_at <= $1 \
     AND (j.conversation IS NULL OR ( \
       NOT EXISTS (SELECT 1 FROM jobs r WHERE r.conversation = j.conversation AND r.state = 'running') \
       AND NOT EXISTS (SELECT 1 FROM jobs e WHERE e.conversation = j.conversation \
         AND e.state = 'pending' AND e.run_at <= $1 \
         AND (CASE WHEN e.kind = 'engine' THEN e.run_at ELSE e.created_at END, e.id) \
           < (CASE WHEN j.kind = 'engine' THEN j.run_at ELSE j.created_at END, j.id)))) \
     ORDER BY j.run_at, j.id LIMIT 1";

impl SqlStore {
    /// The retry policy jobs are inserted and retried with.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Replaces the retry policy.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Ingress: records the idempotency key and, if it was not seen, a job — in one
    /// transaction, so an acknowledged message is never lost and a redelivery adds nothing.
    /// Returns whether the message was new.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn enqueue_once(
        &self,
        idempotency_key: &str,
        ttl: Span,
        job: IngressJob,
    ) -> StoreResult<bool> {
        let fresh = self
            .enqueue_batch(
                ttl,
                &[IngressRecord {
                    idempotency_key: idempotency_key.to_owned(),
                    job,
                }],
            )
            .await?;
        Ok(fresh.first().copied().unwrap_or(false))
    }

    /// Group commit for ingress: [`enqueue_once`](Self::enqueue_once) for many messages in
    /// **one** transaction (one commit, one fsync). Returns, per record and in order, whether
    /// it was new; a key repeated inside the batch is new at most once (its first occurrence).
    /// Jobs get ids in the order of `records`, so a conversation's jobs keep arrival order.
    /// All or nothing: on an error no record is stored.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn enqueue_batch(
        &self,
        ttl: Span,
        records: &[IngressRecord],
    ) -> StoreResult<Vec<bool>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        // Within one statement Postgres may touch a key once; later copies are redeliveries.
        let mut first_of_key = std::collections::HashSet::with_capacity(records.len());
        let unique: Vec<bool> = records
            .iter()
            .map(|r| first_of_key.insert(r.idempotency_key.as_str()))
            .collect();
        let max = self.policy.max_attempts;
        let fresh: Vec<bool> = match &self.pool {
            Pool::Postgres(pool) => {
                // One statement, so one round trip and its own (implicit) transaction: the
                // keys' claim and the jobs of the claimed keys commit together or not at all.
                // Data-modifying CTEs all run once, whether or not the result reads them.
                let kept = || {
                    records
                        .iter()
                        .zip(&unique)
                        .filter(|(_, u)| **u)
                        .map(|(r, _)| r)
                };
                let now = records
                    .iter()
                    .map(|r| r.job.at)
                    .max()
                    .unwrap_or(Timestamp::EPOCH);
                let claimed: std::collections::HashSet<String> = sqlx::query_scalar(
                    "WITH input AS ( \
                       SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], \
                         $5::text[], $6::text[], $7::bigint[]) WITH ORDINALITY \
                         AS t(idem_key, expires_at, kind, conversation, tenant_id, payload, run_at, ord)), \
                     claimed AS ( \
                       INSERT INTO idempotency_keys (idem_key, expires_at) \
                       SELECT idem_key, expires_at FROM input \
                       ON CONFLICT (idem_key) DO UPDATE SET expires_at = excluded.expires_at \
                       WHERE idempotency_keys.expires_at <= $8 RETURNING idem_key), \
                     queued AS ( \
                       INSERT INTO jobs (kind, conversation, tenant_id, payload, state, run_at, \
                         attempts, max_attempts, created_at, updated_at) \
                       SELECT i.kind, i.conversation, i.tenant_id, i.payload, 'pending', i.run_at, \
                         0, $9, i.run_at, i.run_at \
                       FROM input i JOIN claimed c ON c.idem_key = i.idem_key ORDER BY i.ord \
                       RETURNING id) \
                     SELECT idem_key FROM claimed",
                )
                .bind(kept().map(|r| r.idempotency_key.as_str()).collect::<Vec<_>>())
                .bind(kept().map(|r| (r.job.at + ttl).as_millis()).collect::<Vec<_>>())
                .bind(kept().map(|r| r.job.kind.as_str()).collect::<Vec<_>>())
                .bind(kept().map(|r| r.job.conversation.as_deref()).collect::<Vec<_>>())
                .bind(kept().map(|r| r.job.tenant.as_deref()).collect::<Vec<_>>())
                .bind(kept().map(|r| r.job.payload.as_str()).collect::<Vec<_>>())
                .bind(kept().map(|r| r.job.at.as_millis()).collect::<Vec<_>>())
                .bind(now.as_millis())
                .bind(i64::from(max))
                .fetch_all(pool)
                .await
                .map_err(db_err)?
                .into_iter()
                .collect();
                records
                    .iter()
                    .zip(&unique)
                    .map(|(r, u)| *u && claimed.contains(&r.idempotency_key))
                    .collect()
            }
            Pool::Sqlite(pool) => {
                // In-process statements cost no round trip: one transaction, row by row.
                let mut tx = pool
                    .begin_with(begin_statement(false))
                    .await
                    .map_err(db_err)?;
                let mut fresh = Vec::with_capacity(records.len());
                for (record, unique) in records.iter().zip(&unique) {
                    let now = record.job.at;
                    let new = *unique
                        && claim_idempotency!(tx, record.idempotency_key.as_str(), now, ttl)?;
                    if new {
                        let job = NewJob {
                            kind: record.job.kind,
                            dedupe_key: None,
                            conversation: record.job.conversation.clone(),
                            tenant: record.job.tenant.clone(),
                            payload: record.job.payload.clone(),
                            run_at: now,
                        };
                        insert_job!(tx, job, max, now.as_millis())?;
                    }
                    fresh.push(new);
                }
                tx.commit().await.map_err(db_err)?;
                fresh
            }
        };
        Ok(fresh)
    }

    /// Claims the next due job, if any, for `owner` with a fresh lease.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn claim_job(&self, owner: &str, now: Timestamp) -> StoreResult<Option<ClaimedJob>> {
        let lease_until = now.as_millis().saturating_add(millis(self.policy.lease));
        let result: StoreResult<Option<ClaimedJob>> = on_pool!(self, |pool, pg| {
            let mut tx = pool.begin_with(begin_statement(pg)).await.map_err(db_err)?;
            let select = if pg {
                format!("{CLAIM_CANDIDATE} FOR UPDATE OF j SKIP LOCKED")
            } else {
                CLAIM_CANDIDATE.to_owned()
            };
            let candidate: Option<i64> = sqlx::query(&select)
                .bind(now.as_millis())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .map(|r| r.try_get("id"))
                .transpose()
                .map_err(db_err)?;
            let Some(id) = candidate else {
                return Ok(None);
            };
            let row = sqlx::query(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $2, \
                 lease_until = $3, updated_at = $4 WHERE id = $1 AND state = 'pending' \
                 RETURNING id, kind, payload, attempts, max_attempts, conversation, tenant_id",
            )
            .bind(id)
            .bind(owner)
            .bind(lease_until)
            .bind(now.as_millis())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            let claimed = row.as_ref().map(row_to_claimed).transpose()?;
            tx.commit().await.map_err(db_err)?;
            Ok(claimed)
        });
        match result {
            // Another replica started a job of the same conversation first: nothing for now.
            Err(StoreError::Conflict(_)) => Ok(None),
            other => other,
        }
    }

    /// When the next pending job that is not yet due falls due (`None`: none is scheduled). Idle
    /// workers sleep until then instead of polling.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn next_run_after(&self, now: Timestamp) -> StoreResult<Option<Timestamp>> {
        on_pool!(self, |pool, pg| {
            let next: Option<i64> = sqlx::query_scalar(
                "SELECT MIN(run_at) FROM jobs WHERE state = 'pending' AND run_at > $1",
            )
            .bind(now.as_millis())
            .fetch_one(pool)
            .await
            .map_err(db_err)?;
            Ok(next.map(Timestamp::from_millis))
        })
    }

    /// Extends a lease; false if the job is no longer ours (it was rescued).
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn heartbeat(&self, id: i64, owner: &str, now: Timestamp) -> StoreResult<bool> {
        let lease_until = now.as_millis().saturating_add(millis(self.policy.lease));
        on_pool!(self, |pool, pg| {
            sqlx::query(
            "UPDATE jobs SET lease_until = $3 WHERE id = $1 AND lease_owner = $2 AND state = 'running'"
        )
        .bind(id)
        .bind(owner)
        .bind(lease_until)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(db_err)
        })
    }

    /// Marks a job done and clears its payload (it may hold a message body).
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn complete_job(&self, id: i64, owner: &str, now: Timestamp) -> StoreResult<bool> {
        on_pool!(self, |pool, pg| {
            sqlx::query(
            "UPDATE jobs SET state = 'done', payload = '', lease_owner = NULL, lease_until = NULL, \
             last_error = NULL, updated_at = $3 WHERE id = $1 AND lease_owner = $2 AND state = 'running'"
        )
        .bind(id)
        .bind(owner)
        .bind(now.as_millis())
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(db_err)
        })
    }

    /// Records a failure: back to `pending` after a backoff if `retryable` and attempts remain,
    /// else `dead`. Returns the new state.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn fail_job(
        &self,
        job: &ClaimedJob,
        owner: &str,
        error: &str,
        retryable: bool,
        now: Timestamp,
    ) -> StoreResult<JobState> {
        let dead = !retryable || job.attempts >= job.max_attempts;
        let run_at = now
            .as_millis()
            .saturating_add(millis(self.policy.backoff(job.attempts)));
        let error: String = error.chars().take(500).collect();
        let state = if dead { "dead" } else { "pending" };
        let result = on_pool!(self, |pool, pg| {
            sqlx::query(
            "UPDATE jobs SET state = $3, run_at = $4, last_error = $5, lease_owner = NULL, \
             lease_until = NULL, updated_at = $6 WHERE id = $1 AND lease_owner = $2 AND state = 'running'"
        )
        .bind(job.id)
        .bind(owner)
        .bind(state)
        .bind(run_at)
        .bind(&error)
        .bind(now.as_millis())
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(db_err)
        });
        match result {
            Ok(_) => Ok(if dead {
                JobState::Dead
            } else {
                JobState::Pending
            }),
            // A newer pending job with the same dedupe key supersedes this one.
            Err(StoreError::Conflict(_)) => {
                self.supersede(job.id, now).await?;
                Ok(JobState::Done)
            }
            Err(e) => Err(e),
        }
    }

    /// Puts a running job back to `pending` until `run_at` without spending an attempt: it
    /// waits for something (a delivery receipt), it did not fail. Returns the new state.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn defer_job(
        &self,
        job: &ClaimedJob,
        owner: &str,
        run_at: Timestamp,
        reason: &str,
        now: Timestamp,
    ) -> StoreResult<JobState> {
        let result = on_pool!(self, |pool, pg| {
            sqlx::query(
                "UPDATE jobs SET state = 'pending', attempts = attempts - 1, run_at = $3, \
                 last_error = $4, lease_owner = NULL, lease_until = NULL, updated_at = $5 \
                 WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
            )
            .bind(job.id)
            .bind(owner)
            .bind(run_at.as_millis())
            .bind(reason)
            .bind(now.as_millis())
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(db_err)
        });
        match result {
            Ok(()) => Ok(JobState::Pending),
            Err(StoreError::Conflict(_)) => {
                self.supersede(job.id, now).await?;
                Ok(JobState::Done)
            }
            Err(e) => Err(e),
        }
    }

    async fn supersede(&self, id: i64, now: Timestamp) -> StoreResult<()> {
        on_pool!(self, |pool, pg| sqlx::query(
            "UPDATE jobs SET state = 'done', payload = '', last_error = 'superseded', \
             lease_owner = NULL, lease_until = NULL, updated_at = $2 WHERE id = $1"
        )
        .bind(id)
        .bind(now.as_millis())
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Rescues jobs whose lease expired (their worker died): back to `pending`, or `dead` if
    /// their attempts are spent. Returns how many were rescued.
    ///
    /// A rescued job keeps its `run_at`: it was due when claimed, so it is due at once, keeps
    /// its place in the queue, and is never "not due yet" for a claim whose clock reading
    /// predates the rescue (a worker waiting for the database lock), which would let the
    /// conversation's later jobs overtake it.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn rescue_expired(&self, now: Timestamp) -> StoreResult<u64> {
        on_pool!(self, |pool, pg| {
            let mut tx = pool.begin_with(begin_statement(pg)).await.map_err(db_err)?;
            // A rescued job whose dedupe key has a newer pending job is superseded by it.
            sqlx::query(
                "UPDATE jobs SET state = 'done', payload = '', last_error = 'superseded', \
                 lease_owner = NULL, lease_until = NULL, updated_at = $1 \
                 WHERE state = 'running' AND lease_until < $1 AND dedupe_key IS NOT NULL \
                 AND EXISTS (SELECT 1 FROM jobs p WHERE p.dedupe_key = jobs.dedupe_key AND p.state = 'pending')",
            )
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            let rescued = sqlx::query(
                "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END, \
                 last_error = 'lease expired (worker stopped)', lease_owner = NULL, lease_until = NULL, \
                 updated_at = $1 WHERE state = 'running' AND lease_until < $1",
            )
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
            tx.commit().await.map_err(db_err)?;
            Ok(rescued)
        })
    }

    /// Releases this worker's leases at shutdown so another replica (or the next start)
    /// picks the jobs up at once, without spending an attempt. Like a rescue, a released job
    /// keeps its `run_at` and so its place.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn release_leases(&self, owner: &str, now: Timestamp) -> StoreResult<u64> {
        on_pool!(self, |pool, pg| sqlx::query(
            "UPDATE jobs SET state = 'pending', attempts = attempts - 1, lease_owner = NULL, \
             lease_until = NULL, updated_at = $2 \
             WHERE state = 'running' AND lease_owner = $1"
        )
        .bind(owner)
        .bind(now.as_millis())
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        .map_err(db_err))
    }

    /// Deletes finished jobs and expired idempotency keys older than `keep`, and delivery
    /// receipts older than seven days.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn housekeeping(&self, now: Timestamp, keep: Span) -> StoreResult<()> {
        let before = (now - keep).as_millis();
        on_pool!(self, |pool, pg| {
            sqlx::query("DELETE FROM jobs WHERE state = 'done' AND updated_at < $1")
                .bind(before)
                .execute(pool)
                .await
                .map_err(db_err)?;
            sqlx::query("DELETE FROM idempotency_keys WHERE expires_at < $1")
                .bind(now.as_millis())
                .execute(pool)
                .await
                .map_err(db_err)?;
            // A receipt matters while its part may still be retried; Meta retries webhooks
            // for up to 7 days, and so long it is kept.
            sqlx::query("DELETE FROM send_receipts WHERE recorded_at < $1")
                .bind((now - RECEIPT_RETENTION).as_millis())
                .execute(pool)
                .await
                .map_err(db_err)?;
            Ok(())
        })
    }

    /// Dead-lettered jobs, newest first, optionally of one tenant.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn dead_jobs(&self, tenant: Option<&str>, limit: i64) -> StoreResult<Vec<DeadJob>> {
        on_pool!(self, |pool, pg| {
            let rows = sqlx::query(
                "SELECT id, kind, tenant_id, attempts, last_error, updated_at FROM jobs \
                 WHERE state = 'dead' AND ($1 IS NULL OR tenant_id = $1) \
                 ORDER BY updated_at DESC, id DESC LIMIT $2",
            )
            .bind(tenant)
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.iter()
                .map(|r| {
                    let kind: String = r.try_get("kind").map_err(db_err)?;
                    Ok(DeadJob {
                        id: r.try_get("id").map_err(db_err)?,
                        kind: JobKind::parse(&kind)?,
                        tenant: r.try_get("tenant_id").map_err(db_err)?,
                        attempts: r.try_get("attempts").map_err(db_err)?,
                        last_error: r.try_get("last_error").map_err(db_err)?,
                        updated_at: r.try_get("updated_at").map_err(db_err)?,
                    })
                })
                .collect()
        })
    }

    /// Puts a dead job back to `pending` with a fresh attempt budget. False if no dead job
    /// has that id (or belongs to another tenant when `tenant` is given).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when an equivalent job is already pending.
    pub async fn retry_dead_job(
        &self,
        id: i64,
        tenant: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<bool> {
        on_pool!(self, |pool, pg| {
            let mut tx = pool.begin_with(begin_statement(pg)).await.map_err(db_err)?;
            let row = sqlx::query(
                "UPDATE jobs SET state = 'pending', attempts = 0, run_at = $2, updated_at = $2 \
                 WHERE id = $1 AND state = 'dead' AND ($3 IS NULL OR tenant_id = $3) \
                 RETURNING kind, payload",
            )
            .bind(id)
            .bind(now.as_millis())
            .bind(tenant)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            let Some(row) = row else {
                return Ok(false);
            };
            let kind: String = row.try_get("kind").map_err(db_err)?;
            if kind == JobKind::Send.as_str() {
                let key: String = row.try_get("payload").map_err(db_err)?;
                sqlx::query(
                    "UPDATE outbox SET state = 'pending' WHERE msg_key = $1 AND state = 'dead'",
                )
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
            tx.commit().await.map_err(db_err)?;
            Ok(true)
        })
    }

    /// Counts jobs per state (for `/metrics`).
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn job_counts(&self) -> StoreResult<Vec<(String, String, i64)>> {
        on_pool!(self, |pool, pg| {
            let rows = sqlx::query(
                "SELECT kind, state, COUNT(*) AS n FROM jobs GROUP BY kind, state ORDER BY kind, state",
            )
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get("kind").map_err(db_err)?,
                        r.try_get("state").map_err(db_err)?,
                        r.try_get("n").map_err(db_err)?,
                    ))
                })
                .collect()
        })
    }

    /// Puts a message in the outbox with a `send` job, once per key. Returns whether it was
    /// new (a retried turn re-sending the same key is a no-op).
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn enqueue_outbound(
        &self,
        message: &OutboundMessage,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let payload = to_doc(&message.key, message)?;
        let job = NewJob {
            kind: JobKind::Send,
            dedupe_key: None,
            // Sends to one recipient go out in order.
            conversation: Some(format!(
                "send:{}:{}:{}",
                message.tenant, message.channel, message.to
            )),
            tenant: Some(message.tenant.to_string()),
            payload: message.key.clone(),
            run_at: now,
        };
        let purpose = serde_json::to_value(message.purpose)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let max = self.policy.max_attempts;
        on_pool!(self, |pool, pg| {
            let mut tx = pool.begin_with(begin_statement(pg)).await.map_err(db_err)?;
            let inserted = sqlx::query(
                "INSERT INTO outbox (msg_key, tenant_id, channel, purpose, conversation_id, payload, \
                 state, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7) \
                 ON CONFLICT (msg_key) DO NOTHING",
            )
            .bind(&message.key)
            .bind(message.tenant.as_str())
            .bind(message.channel.as_str())
            .bind(&purpose)
            .bind(message.conversation_id.as_ref().map(|c| c.as_str()))
            .bind(&payload)
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected()
                == 1;
            if inserted {
                insert_job!(tx, job, max, now.as_millis())?;
            }
            tx.commit().await.map_err(db_err)?;
            Ok(inserted)
        })
    }

    /// One outbox row.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn outbox_row(&self, key: &str) -> StoreResult<Option<OutboxRow>> {
        on_pool!(self, |pool, pg| {
            let row = sqlx::query(
                "SELECT msg_key, tenant_id, channel, purpose, conversation_id, state, payload, \
                 provider_ids, dry_run, parts_sent, in_doubt_part, in_doubt_since FROM outbox WHERE msg_key = $1",
            )
            .bind(key)
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
            row.map(|r| outbox_from_row(&r)).transpose()
        })
    }

    /// A tenant's outbox rows, oldest first (the dry-run record).
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn outbox_rows(&self, tenant: &str) -> StoreResult<Vec<OutboxRow>> {
        on_pool!(self, |pool, pg| {
            let rows = sqlx::query(
                "SELECT msg_key, tenant_id, channel, purpose, conversation_id, state, payload, \
                 provider_ids, dry_run, parts_sent, in_doubt_part, in_doubt_since FROM outbox WHERE tenant_id = $1 ORDER BY created_at, msg_key",
            )
            .bind(tenant)
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.iter().map(outbox_from_row).collect()
        })
    }

    /// Records a send. A real send clears the body; a dry run keeps it as the record.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn mark_sent(
        &self,
        key: &str,
        provider_ids: &[String],
        dry_run: bool,
        now: Timestamp,
    ) -> StoreResult<()> {
        let ids = serde_json::to_string(provider_ids).unwrap_or_else(|_| "[]".into());
        on_pool!(self, |pool, pg| sqlx::query(
            "UPDATE outbox SET state = 'sent', provider_ids = $2, dry_run = $3, sent_at = $4, \
             parts_sent = $5, in_doubt_part = NULL, in_doubt_since = NULL, \
             payload = CASE WHEN $3 = 1 THEN payload ELSE '' END WHERE msg_key = $1"
        )
        .bind(key)
        .bind(ids)
        .bind(i64::from(dry_run))
        .bind(now.as_millis())
        .bind(i64::try_from(provider_ids.len()).unwrap_or(i64::MAX))
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Write-ahead of a send attempt: part `part` of `key` is in doubt from `now` until
    /// [`part_sent`](Self::part_sent), [`part_not_sent`](Self::part_not_sent) or
    /// [`mark_sent`](Self::mark_sent) records its outcome. A worker killed in between leaves
    /// the mark for the next attempt to reconcile.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn begin_part(&self, key: &str, part: usize, now: Timestamp) -> StoreResult<()> {
        let part = i64::try_from(part).unwrap_or(i64::MAX);
        on_pool!(self, |pool, pg| sqlx::query(
            "UPDATE outbox SET in_doubt_part = $2, in_doubt_since = $3 \
             WHERE msg_key = $1 AND state = 'pending'"
        )
        .bind(key)
        .bind(part)
        .bind(now.as_millis())
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Records that part `part` of `key` was delivered: progress moves to `part + 1` with
    /// `provider_ids` (the ids of parts `0..=part`). Never moves progress backwards.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn part_sent(
        &self,
        key: &str,
        part: usize,
        provider_ids: &[String],
    ) -> StoreResult<()> {
        let ids = serde_json::to_string(provider_ids).unwrap_or_else(|_| "[]".into());
        let part = i64::try_from(part).unwrap_or(i64::MAX);
        on_pool!(self, |pool, pg| sqlx::query(
            "UPDATE outbox SET parts_sent = $2 + 1, provider_ids = $3, in_doubt_part = NULL, \
             in_doubt_since = NULL WHERE msg_key = $1 AND state = 'pending' AND parts_sent <= $2"
        )
        .bind(key)
        .bind(part)
        .bind(ids)
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Records that the attempt at part `part` of `key` definitely did not deliver it (the
    /// platform answered with an error, or no connection was made): no longer in doubt.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn part_not_sent(&self, key: &str, part: usize) -> StoreResult<()> {
        let part = i64::try_from(part).unwrap_or(i64::MAX);
        on_pool!(self, |pool, pg| sqlx::query(
            "UPDATE outbox SET in_doubt_part = NULL, in_doubt_since = NULL \
             WHERE msg_key = $1 AND in_doubt_part = $2"
        )
        .bind(key)
        .bind(part)
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Records a platform's report about a part we sent, keyed by the callback data the send
    /// carried: one upsert that applies [`Receipt::merge`]'s precedence in the database (the
    /// stored `state_rank` is [`DeliveryState::rank`](concierge_core::channels::DeliveryState::rank)):
    /// a weaker report never replaces a stronger one.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn record_receipt(
        &self,
        callback_data: &str,
        receipt: &Receipt,
        now: Timestamp,
    ) -> StoreResult<()> {
        on_pool!(self, |pool, pg| {
            sqlx::query(
            "INSERT INTO send_receipts (callback_data, provider_id, state, state_rank, recorded_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (callback_data) DO UPDATE SET \
             provider_id = excluded.provider_id, state = excluded.state, \
             state_rank = excluded.state_rank, recorded_at = excluded.recorded_at \
             WHERE excluded.state_rank > send_receipts.state_rank"
        )
        .bind(callback_data)
        .bind(&receipt.provider_id)
        .bind(receipt.state.as_str())
        .bind(receipt.state.rank())
        .bind(now.as_millis())
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(db_err)
        })
    }

    /// Deletes the receipt of `callback_data` (its part is about to be sent again).
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn forget_receipt(&self, callback_data: &str) -> StoreResult<()> {
        on_pool!(self, |pool, pg| sqlx::query(
            "DELETE FROM send_receipts WHERE callback_data = $1"
        )
        .bind(callback_data)
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// The receipt recorded for `callback_data`, if any.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn receipt(&self, callback_data: &str) -> StoreResult<Option<Receipt>> {
        on_pool!(self, |pool, pg| {
            let row = sqlx::query(
                "SELECT provider_id, state FROM send_receipts WHERE callback_data = $1",
            )
            .bind(callback_data)
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
            row.map(|r| {
                let state: String = r.try_get("state").map_err(db_err)?;
                Ok(Receipt {
                    provider_id: r.try_get("provider_id").map_err(db_err)?,
                    state: state
                        .parse()
                        .map_err(|e| corrupt("send_receipts.state", e))?,
                })
            })
            .transpose()
        })
    }

    /// Marks an outbox row dead (its send job was dead-lettered).
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn mark_outbox_dead(&self, key: &str) -> StoreResult<()> {
        on_pool!(self, |pool, pg| sqlx::query(
            "UPDATE outbox SET state = 'dead' WHERE msg_key = $1 AND state = 'pending'"
        )
        .bind(key)
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(db_err))
    }
}

fn outbox_from_row<R: Row>(r: &R) -> StoreResult<OutboxRow>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let dry: i64 = r.try_get("dry_run").map_err(db_err)?;
    let state: String = r.try_get("state").map_err(db_err)?;
    Ok(OutboxRow {
        key: r.try_get("msg_key").map_err(db_err)?,
        tenant: r.try_get("tenant_id").map_err(db_err)?,
        channel: r.try_get("channel").map_err(db_err)?,
        purpose: r.try_get("purpose").map_err(db_err)?,
        conversation_id: r.try_get("conversation_id").map_err(db_err)?,
        state: state.parse().map_err(|e| corrupt("outbox.state", e))?,
        payload: r.try_get("payload").map_err(db_err)?,
        provider_ids: r.try_get("provider_ids").map_err(db_err)?,
        dry_run: dry != 0,
        parts_sent: r.try_get("parts_sent").map_err(db_err)?,
        in_doubt_part: r.try_get("in_doubt_part").map_err(db_err)?,
        in_doubt_since: r.try_get("in_doubt_since").map_err(db_err)?,
    })
}
