//! The server's side of the front ([`Host`]): webhook messages go into the job table through
//! the ingress group commit, emails as jobs keyed per conversation, approvals run inline, and
//! the job table's dead letters and outbox answer the admin API.

use async_trait::async_trait;
use base64::Engine as _;
use concierge_core::approval::DraftDecision;
use concierge_core::channels::email::recipient_account;
use concierge_core::channels::InboundMessage;
use concierge_core::delivery::Receipt;
use concierge_core::engine::{ApprovalOutcome, EngineError};
use concierge_core::front::{
    AcceptedEmail, ApiError, DemoSlot, FetchError, Host, WebSession, MAX_FETCH_BYTES,
};
use concierge_core::ids::{ChannelAccount, TenantId};
use concierge_core::ports::{StoreError, StoreResult};
use concierge_core::Timestamp;
use serde_json::{json, Value};

use super::AppParts;
use crate::jobs::EmailJob;
use crate::store::{IngressJob, IngressRecord, JobKind};

/// Workers woken per webhook: one per new job, up to a handful.
const WAKE_AT_MOST: usize = 4;

/// How long a demo turn waits for a free slot under the concurrency cap.
const DEMO_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The job lock of a message for an account no tenant owns: per account and sender, so such
/// jobs still run one at a time per would-be conversation (the engine drops them).
fn unrouted(account: &ChannelAccount, sender: &str) -> String {
    format!("unrouted:{}:{sender}", account.index_key())
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

#[async_trait]
impl Host for AppParts {
    async fn accept_messages(&self, messages: Vec<InboundMessage>) -> StoreResult<usize> {
        let now = self.clock.now();
        let mut records = Vec::with_capacity(messages.len());
        for message in messages {
            // The conversation key serializes this turn with the conversation's other jobs
            // (buffer flushes); an account no tenant owns gets its own key.
            let tenant = self.routes.find(&self.store, &message.account).await?;
            let conversation = match &tenant {
                Some(t) => message.conversation_key(t).storage_key(),
                None => unrouted(&message.account, &message.sender),
            };
            let payload = serde_json::to_string(&message).map_err(StoreError::backend)?;
            records.push(IngressRecord {
                idempotency_key: message.idempotency_key(),
                job: IngressJob {
                    kind: JobKind::Inbound,
                    conversation: Some(conversation),
                    tenant: tenant.map(|t| t.to_string()),
                    payload,
                    at: now,
                },
            });
        }
        let fresh = self.ingress.submit(records).await?;
        let new = fresh.iter().filter(|f| **f).count();
        for _ in 0..new.min(WAKE_AT_MOST) {
            self.wake.notify_one();
        }
        Ok(new)
    }

    async fn accept_email(&self, email: AcceptedEmail) -> Result<bool, ApiError> {
        // Serialized with the conversation's other jobs (the next mail from this sender, the
        // reply-buffer flush): the core names the account and the conversation key.
        let account = recipient_account(&email.recipient);
        let tenant = self.routes.find(&self.store, &account).await?;
        let conversation = match &tenant {
            Some(t) => email.parsed.conversation_key(t).storage_key(),
            None => unrouted(&account, email.parsed.sender()),
        };
        let payload = serde_json::to_string(&EmailJob {
            recipient: email.recipient,
            raw_b64: base64::engine::general_purpose::STANDARD.encode(&email.raw),
        })
        .map_err(internal)?;
        // Our own ingress key (the engine keeps `email:{id}` for its own dedupe).
        let key = format!("ingress:email:{}", email.parsed.idempotency_id());
        let fresh = self
            .store
            .enqueue_once(
                &key,
                self.engine.config().idempotency_ttl,
                IngressJob {
                    kind: JobKind::Email,
                    conversation: Some(conversation),
                    tenant: tenant.map(|t| t.to_string()),
                    payload,
                    at: self.clock.now(),
                },
            )
            .await?;
        if fresh {
            self.wake.notify_one();
        }
        Ok(fresh)
    }

    async fn record_receipt(&self, key: String, receipt: Receipt) -> StoreResult<()> {
        self.store
            .record_receipt(&key, &receipt, self.clock.now())
            .await
    }

    async fn decide_approval(
        &self,
        tenant: TenantId,
        decision: DraftDecision,
    ) -> Result<ApprovalOutcome, EngineError> {
        self.engine
            .decide_approval(&tenant, &decision.draft_id, decision.decision)
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.store.ping().await
    }

    async fn tenant_changed(&self) {
        self.routes.clear();
        self.wake.notify_one();
    }

    async fn work_queued(&self) {
        self.wake.notify_one();
    }

    async fn put_secret(
        &self,
        tenant: &TenantId,
        account: &str,
        token: &str,
    ) -> Result<(), ApiError> {
        let secrets = self
            .secrets
            .as_ref()
            .ok_or(ApiError::Unavailable("ENCRYPTION_KEY is not configured"))?;
        let sealed = secrets.seal(account, token).map_err(internal)?;
        self.store
            .put_secret(tenant.as_str(), account, &sealed)
            .await?;
        Ok(())
    }

    async fn outbox(&self, tenant: &TenantId) -> Result<Vec<Value>, ApiError> {
        let rows = self.store.outbox_rows(tenant.as_str()).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mut v = json!(r);
                // Dry-run records keep the message so a developer can see the reply.
                if r.dry_run {
                    if let Ok(message) = serde_json::from_str::<Value>(&r.payload) {
                        v["message"] = message;
                    }
                }
                v
            })
            .collect())
    }

    async fn dead_letters(&self, tenant: Option<&str>, limit: i64) -> Result<Vec<Value>, ApiError> {
        let jobs = self.store.dead_jobs(tenant, limit).await?;
        Ok(jobs.into_iter().map(|j| json!(j)).collect())
    }

    async fn retry_dead_letter(&self, id: &str) -> Result<bool, ApiError> {
        // Ids are opaque to clients (the Worker's are outbox keys): one that is not a job id
        // names no dead letter here, a 404 on both targets.
        let Ok(id) = id.parse::<i64>() else {
            return Ok(false);
        };
        Ok(self
            .store
            .retry_dead_job(id, None, self.clock.now())
            .await?)
    }

    async fn metrics(&self) -> Option<String> {
        let gauges: Vec<(&str, String, i64)> = match self.store.job_counts().await {
            Ok(rows) => rows
                .into_iter()
                .map(|(kind, st, n)| {
                    (
                        "concierge_jobs",
                        format!("kind=\"{kind}\",state=\"{st}\""),
                        n,
                    )
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "metrics: could not count jobs");
                Vec::new()
            }
        };
        Some(self.metrics.render(&gauges))
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), ApiError> {
        use rand::RngCore;
        rand::rngs::OsRng
            .try_fill_bytes(buf)
            .map_err(|e| ApiError::Internal(format!("OS randomness: {e}")))
    }

    async fn put_web_session(&self, id_hash: &str, session: &WebSession) -> Result<(), ApiError> {
        Ok(self.store.put_web_session(id_hash, session).await?)
    }

    async fn web_session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<WebSession>, ApiError> {
        Ok(self.store.web_session(id_hash, now).await?)
    }

    async fn delete_web_session(&self, id_hash: &str) -> Result<(), ApiError> {
        Ok(self.store.delete_web_session(id_hash).await?)
    }

    async fn demo_slot(&self) -> Option<DemoSlot> {
        let slots = self.demo_slots.clone();
        match tokio::time::timeout(DEMO_QUEUE_WAIT, slots.acquire_owned()).await {
            Ok(Ok(permit)) => Some(DemoSlot::new(permit)),
            _ => None,
        }
    }

    async fn fetch(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, FetchError> {
        fetch(&self.front_http, request).await
    }
}

/// [`Host::fetch`] over reqwest: the body read in chunks and refused past [`MAX_FETCH_BYTES`].
async fn fetch(
    client: &reqwest::Client,
    request: http::Request<bytes::Bytes>,
) -> Result<http::Response<bytes::Bytes>, FetchError> {
    let failed = |e: reqwest::Error| FetchError::Failed(e.without_url().to_string());
    let (parts, body) = request.into_parts();
    let mut response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(failed)?;
    let mut out = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        out = out.header(name, value);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > MAX_FETCH_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    out.body(bytes::Bytes::from(body))
        .map_err(|e| FetchError::Failed(e.to_string()))
}
