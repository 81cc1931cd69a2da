//! Durable jobs: the reply-buffer flush, the persona safety review and the approval digest
//! (the catalog's reviews are in `catalog.rs`).

use super::outcome::{FlushOutcome, JobOutcome, SafetyOutcome};
use super::turn::excerpt;
use super::{Engine, EngineError};
use crate::approval::sign_link_token;
use crate::channels::ReplyRoute;
use crate::ids::{Channel, ConversationKey, TenantId};
use crate::ports::{ChatRequest, Job, OutboundBody, OutboundMessage, Purpose, StoreError};
use crate::safety::{self, SafetyJob, SafetyStatus, Verdict, PERSONA_CLASSIFIER_PROMPT};

/// How many times a review re-reads what it reviews (the tenant, or the catalog entry) when a
/// concurrent save wins the race.
pub(super) const CAS_ATTEMPTS: usize = 3;

impl Engine {
    /// Runs a due job.
    ///
    /// # Errors
    /// [`EngineError`]; retry retryable errors with backoff, dead-letter the rest.
    pub async fn run_job(&self, job: &Job) -> Result<JobOutcome, EngineError> {
        match job {
            Job::FlushBuffer { key } => self.flush_buffer(key).await.map(JobOutcome::Flush),
            Job::SafetyCheck(j) => self.run_safety_job(j).await.map(JobOutcome::Safety),
            Job::CatalogReview(j) => self.run_catalog_review(j).await.map(JobOutcome::Safety),
            Job::ApprovalDigest { tenant } => self
                .send_approval_digest(tenant)
                .await
                .map(|drafts| JobOutcome::Digest { drafts }),
        }
    }

    /// Fires a conversation's reply buffer: if its deadline has passed, the whole batch is
    /// answered in one turn. Firing early, or twice, does nothing.
    ///
    /// # Errors
    /// [`EngineError`]; the buffer is kept when the turn fails, so a retry answers it.
    pub async fn flush_buffer(&self, key: &ConversationKey) -> Result<FlushOutcome, EngineError> {
        let now = self.clock().now();
        let Some(mut session) = self.store().load_session(key).await? else {
            return Ok(FlushOutcome::NothingDue);
        };
        let Some(batch) = session.buffer.fire(now) else {
            return Ok(match session.buffer.deadline {
                Some(until) if !session.buffer.is_empty() => FlushOutcome::NotYet { until },
                _ => FlushOutcome::NothingDue,
            });
        };
        let Some(tenant) = self.store().get_tenant(&key.tenant).await? else {
            return Err(EngineError::UnknownTenant(key.tenant.to_string()));
        };
        // The conversation is new if the first buffered message started it.
        let first_at = batch.first().map(|m| m.received_at);
        let new_conversation = first_at.is_some_and(|t| t <= session.started_at);
        let report = self
            .run_turn(&tenant, key, session, batch, new_conversation, now)
            .await?;
        Ok(FlushOutcome::Turn(report))
    }

    /// Reviews a persona with the fast model and records Approved or Rejected.
    ///
    /// The job drops itself if the persona changed since it was queued (a newer job exists).
    /// The category of a rejection is logged, never stored where the tenant can see it.
    ///
    /// # Errors
    /// [`EngineError::Verdict`] when the classifier does not answer the strict JSON verdict,
    /// [`EngineError::Ai`] when it fails: both retryable (the queue's retries and dead-letter
    /// state take over; meanwhile AI replies stay blocked and canned replies still go out).
    pub async fn run_safety_job(&self, job: &SafetyJob) -> Result<SafetyOutcome, EngineError> {
        let Some(tenant) = self.store().get_tenant(&job.tenant).await? else {
            return Ok(SafetyOutcome::UnknownTenant);
        };
        if tenant.persona.prompt_hash() != job.prompt_hash {
            return Ok(SafetyOutcome::Drifted);
        }
        if tenant.persona.reviewed_hash() == Some(job.prompt_hash.as_str()) {
            return Ok(SafetyOutcome::AlreadyReviewed);
        }
        let status = self
            .classify_persona(tenant.persona.active_prompt(), &job.prompt_hash)
            .await?;
        if let SafetyStatus::Rejected { .. } = status {
            tracing::warn!(tenant = %tenant.id, "persona rejected by the safety review");
        }
        let mut tenant = tenant;
        for _ in 0..CAS_ATTEMPTS {
            if tenant.persona.prompt_hash() != job.prompt_hash {
                return Ok(SafetyOutcome::Drifted);
            }
            tenant.persona.safety = status.clone();
            match self
                .store()
                .put_tenant(&tenant, Some(tenant.revision))
                .await
            {
                Ok(_) => return Ok(SafetyOutcome::Reviewed { status }),
                Err(StoreError::Conflict(_)) => {
                    let Some(fresh) = self.store().get_tenant(&job.tenant).await? else {
                        return Ok(SafetyOutcome::UnknownTenant);
                    };
                    tenant = fresh;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict(format!("tenant {}", job.tenant)).into())
    }

    /// Runs the persona classifier (the fast model, the strict verdict) on `text`, whose hash
    /// is `hash`, and returns the status to record: Approved, or Rejected with the vague
    /// reason. The category of a rejection is logged, never returned to be stored.
    ///
    /// # Errors
    /// [`EngineError::Ai`] and [`EngineError::Verdict`], both retryable.
    pub(super) async fn classify_persona(
        &self,
        text: String,
        hash: &str,
    ) -> Result<SafetyStatus, EngineError> {
        let request = ChatRequest {
            model: self.config.fast_model.clone(),
            system: PERSONA_CLASSIFIER_PROMPT.to_owned(),
            history: Vec::new(),
            user: text,
            max_tokens: 60,
        };
        let answer = self.ai().chat(&request).await.map_err(EngineError::Ai)?;
        let checked_at = self.clock().now();
        Ok(match safety::parse_persona_verdict(&answer)? {
            Verdict::Pass => SafetyStatus::Approved {
                hash: hash.to_owned(),
                checked_at,
            },
            Verdict::Reject { category } => {
                let category = category.as_deref();
                tracing::info!(
                    category = category.unwrap_or("unspecified"),
                    "the safety review's category"
                );
                SafetyStatus::Rejected {
                    vague_reason: safety::vague_reason_for(category).to_owned(),
                    hash: hash.to_owned(),
                    checked_at,
                }
            }
        })
    }

    /// Emails the owner every live draft with signed one-click approve / reject links.
    /// Returns how many drafts were listed (0: nothing sent).
    ///
    /// # Errors
    /// [`EngineError`] when storage or the send fails (retryable).
    pub async fn send_approval_digest(&self, tenant_id: &TenantId) -> Result<usize, EngineError> {
        let now = self.clock().now();
        let Some(tenant) = self.store().get_tenant(tenant_id).await? else {
            return Ok(0);
        };
        let Some(to) = tenant.notifications.email.clone() else {
            return Ok(0);
        };
        let drafts = self.store().list_drafts(tenant_id, now).await?;
        if drafts.is_empty() {
            return Ok(0);
        }
        let base = self.config.public_base_url.trim_end_matches('/');
        let mut text = format!(
            "{} AI repl{} waiting for your approval:\n",
            drafts.len(),
            if drafts.len() == 1 { "y is" } else { "ies are" }
        );
        for d in &drafts {
            let expires = d.expires_at();
            let link = |action: &str| {
                let token = sign_link_token(&self.config.signing_key, &d.id, action, expires);
                format!(
                    "{base}/approvals/{tenant_id}/{}/{action}?token={token}",
                    d.id
                )
            };
            text.push_str(&format!(
                "\n— {} customer {} wrote:\n{}\n\nDraft reply:\n{}\n\nApprove: {}\nReject: {}\n",
                d.key.channel,
                d.key.sender,
                excerpt(&d.inbound_excerpt, 300),
                d.text,
                link("approve"),
                link("reject"),
            ));
        }
        let message = OutboundMessage {
            // One digest per set of drafts: a retried job sends the same digest once.
            key: format!(
                "digest:{tenant_id}:{}",
                drafts
                    .iter()
                    .map(|d| d.id.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            tenant: tenant_id.clone(),
            channel: Channel::Email,
            account: None,
            to,
            route: ReplyRoute::Direct,
            body: OutboundBody::Email {
                subject: format!(
                    "{}: {} repl{} to approve",
                    tenant.name,
                    drafts.len(),
                    if drafts.len() == 1 { "y" } else { "ies" }
                ),
                text,
            },
            purpose: Purpose::ApprovalDigest,
            conversation_id: None,
        };
        self.outbound().send(&message).await?;
        Ok(drafts.len())
    }
}
