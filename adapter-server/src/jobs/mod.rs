//! The workers: claim due jobs with a lease, run them through the engine (or the outbox
//! sender), and record the result — done, retried with backoff, or dead-lettered.
//!
//! Each worker loop holds at most one job. While a job runs, a heartbeat extends its lease;
//! a killed process stops heart-beating and the reaper hands its jobs to another worker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use concierge_core::channels::InboundMessage;
use concierge_core::engine::{EngineError, InboundOutcome, JobOutcome};
use concierge_core::ports::{AiError, Clock, Job, OutboundError};
use concierge_core::time::Span;
use concierge_core::Engine;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::outbound::{Delivery, Sender};
use crate::store::{ClaimedJob, JobKind, JobState, SqlStore};
use crate::telemetry::Metrics;

/// The payload of an `email` ingress job: the raw message and its envelope recipient.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmailJob {
    /// The envelope `RCPT TO`.
    pub recipient: String,
    /// The raw RFC 5322 message, base64.
    pub raw_b64: String,
}

/// How a job ended.
#[derive(Debug)]
enum Ran {
    Done(&'static str),
    Failed {
        error: String,
        retryable: bool,
    },
    /// Not failed, waiting (for a delivery receipt): run again at `until` without spending an
    /// attempt.
    Deferred {
        until: concierge_core::time::Timestamp,
        reason: &'static str,
    },
}

/// Runs jobs until shutdown.
#[derive(Clone, Debug)]
pub struct Workers {
    store: SqlStore,
    engine: Engine,
    sender: Sender,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    owner: String,
    poll: Duration,
}

static WORKER_SEQ: AtomicU64 = AtomicU64::new(0);

/// The longest an idle worker waits before looking for work queued by another replica.
const MAX_IDLE_POLL: Duration = Duration::from_secs(2);

/// The time from `now` to `then` (zero when it is past).
fn until(now: concierge_core::Timestamp, then: concierge_core::Timestamp) -> Duration {
    Duration::from_millis(u64::try_from(then.since(now).as_millis()).unwrap_or(0))
}

impl Workers {
    /// Workers over these parts. `wake` is notified when work is queued.
    pub fn new(
        store: SqlStore,
        engine: Engine,
        sender: Sender,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let owner = format!(
            "{}-{}-{:08x}",
            std::process::id(),
            WORKER_SEQ.fetch_add(1, Ordering::Relaxed),
            rand::thread_rng().gen::<u32>()
        );
        Workers {
            store,
            engine,
            sender,
            clock,
            wake,
            metrics,
            owner,
            poll: Duration::from_millis(200),
        }
    }

    /// This process's lease owner id.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Starts `count` workers and the reaper; they stop when `shutdown` turns true, finishing
    /// the job in hand. Join the returned set (with a deadline), then call
    /// [`release`](Self::release).
    pub fn spawn(&self, count: usize, shutdown: watch::Receiver<bool>) -> JoinSet<()> {
        let mut set = JoinSet::new();
        for _ in 0..count {
            let me = self.clone();
            let shutdown = shutdown.clone();
            set.spawn(async move { me.worker_loop(shutdown).await });
        }
        let me = self.clone();
        set.spawn(async move { me.reaper_loop(shutdown).await });
        set
    }

    /// Gives back the leases this process still holds (after the shutdown deadline), so
    /// another replica or the next start runs those jobs at once.
    pub async fn release(&self) {
        match self
            .store
            .release_leases(&self.owner, self.clock.now())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "released leases of unfinished jobs"),
            Err(e) => tracing::warn!(error = %e, "could not release leases"),
        }
    }

    async fn reaper_loop(&self, mut shutdown: watch::Receiver<bool>) {
        let lease = self.store.retry_policy().lease;
        let mut tick = tokio::time::interval((lease / 3).max(Duration::from_millis(200)));
        let mut rounds: u64 = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
            let now = self.clock.now();
            match self.store.rescue_expired(now).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::warn!(jobs = n, "rescued jobs whose worker stopped");
                    self.wake.notify_waiters();
                }
                Err(e) => tracing::warn!(error = %e, "rescue failed"),
            }
            rounds += 1;
            if rounds % 600 == 1 {
                if let Err(e) = self.store.housekeeping(now, Span::days(1)).await {
                    tracing::warn!(error = %e, "housekeeping failed");
                }
            }
        }
    }

    async fn worker_loop(&self, mut shutdown: watch::Receiver<bool>) {
        // An idle worker backs off from `poll` to MAX_IDLE_POLL (work queued by this process
        // wakes it at once; another replica's is seen within the backoff), and never sleeps
        // past the next scheduled job: an idle server costs a query every few seconds.
        let mut idle = self.poll;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let now = self.clock.now();
            match self.store.claim_job(&self.owner, now).await {
                Ok(Some(job)) => {
                    self.execute(job).await;
                    idle = self.poll;
                }
                Ok(None) => {
                    let wait = match self.store.next_run_after(now).await {
                        Ok(Some(next)) => idle.min(until(now, next)),
                        _ => idle,
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => idle = (idle * 2).min(MAX_IDLE_POLL),
                        _ = self.wake.notified() => idle = self.poll,
                        _ = shutdown.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a job failed");
                    tokio::time::sleep(self.poll * 5).await;
                }
            }
        }
    }

    /// Runs one claimed job with a heartbeat, and records the result.
    pub async fn execute(&self, job: ClaimedJob) {
        let heartbeat = {
            let store = self.store.clone();
            let clock = self.clock.clone();
            let owner = self.owner.clone();
            let id = job.id;
            let every = (store.retry_policy().lease / 3).max(Duration::from_millis(100));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match store.heartbeat(id, &owner, clock.now()).await {
                        Ok(true) => {}
                        Ok(false) => return,
                        Err(e) => tracing::warn!(job = id, error = %e, "heartbeat failed"),
                    }
                }
            })
        };
        let ran = crate::panic_guard::catch_job(self.run(&job))
            .await
            .unwrap_or_else(|panicked| Ran::Failed {
                error: panicked.to_string(),
                retryable: true,
            });
        heartbeat.abort();
        let now = self.clock.now();
        match ran {
            Ran::Done(outcome) => {
                self.metrics.job_finished(job.kind.as_str(), outcome);
                if let Err(e) = self.store.complete_job(job.id, &self.owner, now).await {
                    tracing::warn!(job = job.id, error = %e, "could not mark job done");
                }
            }
            Ran::Deferred { until, reason } => {
                match self
                    .store
                    .defer_job(&job, &self.owner, until, reason, now)
                    .await
                {
                    Ok(_) => self.metrics.job_finished(job.kind.as_str(), "deferred"),
                    Err(e) => tracing::warn!(job = job.id, error = %e, "could not defer job"),
                }
            }
            Ran::Failed { error, retryable } => {
                match self
                    .store
                    .fail_job(&job, &self.owner, &error, retryable, now)
                    .await
                {
                    Ok(JobState::Dead) => {
                        self.metrics.job_finished(job.kind.as_str(), "dead");
                        tracing::error!(job = job.id, kind = job.kind.as_str(), attempts = job.attempts, error = %error, "job dead-lettered");
                        if job.kind == JobKind::Send {
                            if let Err(e) = self.store.mark_outbox_dead(&job.payload).await {
                                tracing::warn!(error = %e, "could not mark outbox row dead");
                            }
                        }
                    }
                    Ok(_) => {
                        self.metrics.job_finished(job.kind.as_str(), "retry");
                        tracing::warn!(job = job.id, kind = job.kind.as_str(), attempts = job.attempts, error = %error, "job failed, will retry");
                    }
                    Err(e) => tracing::warn!(job = job.id, error = %e, "could not record failure"),
                }
            }
        }
    }

    async fn run(&self, job: &ClaimedJob) -> Ran {
        match job.kind {
            JobKind::Inbound => {
                let message: InboundMessage = match serde_json::from_str(&job.payload) {
                    Ok(m) => m,
                    Err(e) => return permanent(format!("payload: {e}")),
                };
                match self.engine.process_inbound(message).await {
                    Ok(outcome) => Ran::Done(inbound_label(&outcome)),
                    Err(e) => engine_failure(&e),
                }
            }
            JobKind::Engine => {
                let engine_job: Job = match serde_json::from_str(&job.payload) {
                    Ok(j) => j,
                    Err(e) => return permanent(format!("payload: {e}")),
                };
                match self.engine.run_job(&engine_job).await {
                    Ok(JobOutcome::Flush(_)) => Ran::Done("flush"),
                    Ok(JobOutcome::Safety(_)) => Ran::Done("safety"),
                    Ok(JobOutcome::Digest { .. }) => Ran::Done("digest"),
                    Err(e) => engine_failure(&e),
                }
            }
            JobKind::Email => {
                let email: EmailJob = match serde_json::from_str(&job.payload) {
                    Ok(j) => j,
                    Err(e) => return permanent(format!("payload: {e}")),
                };
                use base64::Engine as _;
                let raw = match base64::engine::general_purpose::STANDARD.decode(&email.raw_b64) {
                    Ok(r) => r,
                    Err(e) => return permanent(format!("payload: {e}")),
                };
                // The ingress transaction already deduplicated this email; a retried job must
                // not see its own message as a duplicate.
                match self.engine.process_email(&raw, &email.recipient).await {
                    Ok(_) => Ran::Done("email"),
                    Err(e) => engine_failure(&e),
                }
            }
            JobKind::Send => match self.sender.deliver(&job.payload).await {
                Ok(Delivery::Sent) => Ran::Done("sent"),
                Ok(Delivery::Deferred { until }) => Ran::Deferred {
                    until,
                    reason: "awaiting the delivery receipt of an in-doubt part",
                },
                Err(OutboundError::Retryable(error)) => Ran::Failed {
                    error,
                    retryable: true,
                },
                Err(OutboundError::Permanent(error)) => Ran::Failed {
                    error,
                    retryable: false,
                },
            },
        }
    }
}

fn permanent(error: String) -> Ran {
    Ran::Failed {
        error,
        retryable: false,
    }
}

fn engine_failure(e: &EngineError) -> Ran {
    // Without an AI provider a retry cannot succeed: dead-letter at once (an operator retries
    // it after configuring one) instead of spending the attempts.
    let not_configured = matches!(e, EngineError::Ai(AiError::NotConfigured));
    Ran::Failed {
        error: e.to_string(),
        retryable: e.is_retryable() && !not_configured,
    }
}

fn inbound_label(outcome: &InboundOutcome) -> &'static str {
    match outcome {
        InboundOutcome::Duplicate => "duplicate",
        InboundOutcome::UnknownAccount { .. } => "unknown_account",
        InboundOutcome::Ignored { .. } => "ignored",
        InboundOutcome::InjectionRejected => "injection_rejected",
        InboundOutcome::Buffered { .. } => "buffered",
        InboundOutcome::Turn(_) => "turn",
    }
}
