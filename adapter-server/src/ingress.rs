//! Ingress group commit: webhooks that arrive together are stored in one transaction.
//!
//! Every verified webhook must be durable (idempotency key + job committed) before it is
//! acknowledged. Committed one by one, each webhook pays a commit — on Postgres a WAL flush
//! (fsync) and a few round trips — and throughput is bounded by how many commits the
//! database does per second. [`IngressQueue`] lets requests in flight share that cost: one
//! task takes everything submitted while the previous commit ran (up to
//! [`MAX_BATCH`] records), stores it with [`SqlStore::enqueue_batch`] in one transaction, and
//! answers each request when — and only when — that commit returned. No timer adds latency:
//! an idle server commits a lone webhook at once; under load the batches grow by themselves.
//!
//! Batches are committed one at a time, in submission order, so job ids (and therefore a
//! conversation's turn order) follow acknowledgement order.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use concierge_core::ids::{ChannelAccount, TenantId};
use concierge_core::ports::{StoreError, StoreResult, TenantStore};
use concierge_core::time::Span;
use tokio::sync::{mpsc, oneshot};

use crate::store::{IngressRecord, SqlStore};

/// The most records one transaction stores.
pub const MAX_BATCH: usize = 512;

/// Submissions waiting for the batcher (backpressure beyond this: senders wait).
const QUEUE_DEPTH: usize = 4096;

/// One request's records and where its answer goes.
struct Submission {
    records: Vec<IngressRecord>,
    reply: oneshot::Sender<StoreResult<Vec<bool>>>,
}

/// The handle request handlers submit to; cheap to clone.
#[derive(Clone, Debug)]
pub struct IngressQueue {
    submissions: mpsc::Sender<Submission>,
}

impl IngressQueue {
    /// Starts the batcher task on the current tokio runtime. It ends when every handle is
    /// dropped, after storing what was already submitted.
    pub fn start(store: SqlStore, ttl: Span) -> Self {
        let (submissions, receiver) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(store, ttl, receiver));
        IngressQueue { submissions }
    }

    /// Stores `records` durably (see [`SqlStore::enqueue_batch`]), sharing the commit with
    /// whatever else is in flight. Returns, per record, whether it was new.
    ///
    /// # Errors
    /// The batch's [`StoreError`] (nothing of it was stored), or
    /// [`StoreError::Backend`] if the batcher is gone (shutting down).
    pub async fn submit(&self, records: Vec<IngressRecord>) -> StoreResult<Vec<bool>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.submissions
            .send(Submission { records, reply })
            .await
            .map_err(|_| StoreError::backend(QueueClosed))?;
        answer.await.map_err(|_| StoreError::backend(QueueClosed))?
    }
}

/// The batcher stopped (the server is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the ingress queue is closed")]
struct QueueClosed;

/// A batch failed; every request in it gets this (nothing of the batch was stored).
#[derive(Debug, thiserror::Error)]
#[error("storing the ingress batch failed: {0}")]
struct BatchFailed(String);

async fn run(store: SqlStore, ttl: Span, mut receiver: mpsc::Receiver<Submission>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        let mut size = batch[0].records.len();
        // Everything that arrived while the last commit ran joins this one.
        while size < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => {
                    size += next.records.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let mut records = Vec::with_capacity(size);
        let mut waiters = Vec::with_capacity(batch.len());
        for submission in batch {
            waiters.push((submission.records.len(), submission.reply));
            records.extend(submission.records);
        }
        let result = store.enqueue_batch(ttl, &records).await;
        answer(waiters, result);
    }
}

/// Hands each request its share of the batch's result, or the batch's error.
fn answer(
    waiters: Vec<(usize, oneshot::Sender<StoreResult<Vec<bool>>>)>,
    result: StoreResult<Vec<bool>>,
) {
    match result {
        Ok(fresh) => {
            let mut fresh = fresh.into_iter();
            for (count, reply) in waiters {
                // A request whose handler gave up (client gone) just drops its answer.
                let _ = reply.send(Ok(fresh.by_ref().take(count).collect()));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, requests = waiters.len(), "ingress batch not stored");
            let message = e.to_string();
            for (_, reply) in waiters {
                let _ = reply.send(Err(StoreError::backend(BatchFailed(message.clone()))));
            }
        }
    }
}

/// How long ingress trusts a cached account → tenant route. Imports through this process
/// clear the cache at once; another replica's import is seen within this time.
pub const ROUTE_TTL: Duration = Duration::from_secs(10);

/// Entries kept before the cache starts over (one per business account: small).
const ROUTE_CAPACITY: usize = 100_000;

/// Ingress's cache of which tenant owns a business account (`tenant_accounts`), so a
/// webhook costs no lookup round trip. Ingress uses the route only to pick the job's
/// conversation lock; the engine resolves the tenant again when it runs the turn.
#[derive(Debug, Default)]
pub struct TenantRoutes {
    entries: Mutex<HashMap<String, (Option<TenantId>, Instant)>>,
}

impl TenantRoutes {
    /// The tenant that owns `account` (or none), from the cache when fresh.
    ///
    /// # Errors
    /// The store's [`StoreError`] on a miss.
    pub async fn find(
        &self,
        store: &SqlStore,
        account: &ChannelAccount,
    ) -> StoreResult<Option<TenantId>> {
        let key = account.index_key();
        if let Some((tenant, at)) = self.lock().get(&key) {
            if at.elapsed() < ROUTE_TTL {
                return Ok(tenant.clone());
            }
        }
        let tenant = store.find_tenant(account).await?;
        let mut entries = self.lock();
        if entries.len() >= ROUTE_CAPACITY {
            entries.clear();
        }
        entries.insert(key, (tenant.clone(), Instant::now()));
        Ok(tenant)
    }

    /// Forgets every route (a tenant was imported or changed its accounts).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Option<TenantId>, Instant)>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
