//! Owner and operator events: persona saves, rules, conversation settings, tenant import,
//! credit grants and approval decisions.

use super::outcome::{ApprovalOutcome, ImportOutcome, NoReplyReason, PersonaSaveOutcome};
use super::turn::{window_closed, Target};
use super::{Engine, EngineError};
use crate::approval::ApprovalDecision;
use crate::billing::{starting_credits, Grant, GrantOutcome};
use crate::conversation::{ConversationConfig, FieldError, Turn};
use crate::ids::{Channel, Currency, Locale, Milli, TenantId};
use crate::persona::PersonaSource;
use crate::ports::{Job, OutboundError, StoreError};
use crate::rules::{Matcher, ReplyConfig};
use crate::safety::{SafetyJob, SafetyStatus};
use crate::tenant::{ChannelConfigs, OnboardingStep, Tenant, TenantFile};
use crate::time::Timestamp;

pub use crate::billing::STARTING_CREDITS_GRANT;

impl Engine {
    async fn load_tenant(&self, id: &TenantId) -> Result<Tenant, EngineError> {
        self.store()
            .get_tenant(id)
            .await?
            .ok_or_else(|| EngineError::UnknownTenant(id.to_string()))
    }

    async fn queue_review(&self, tenant: &Tenant, now: Timestamp) -> Result<(), EngineError> {
        let job = Job::SafetyCheck(SafetyJob {
            tenant: tenant.id.clone(),
            prompt_hash: tenant.persona.prompt_hash(),
        });
        self.store().schedule(&job, now).await?;
        Ok(())
    }

    /// Saves a persona. If its text changed since the last review, the status becomes Pending
    /// (blocking AI replies, not canned ones) and a safety job is queued.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] for an empty persona, [`EngineError::UnknownTenant`], or storage
    /// errors ([`StoreError::Conflict`] when the tenant changed concurrently: retry).
    pub async fn save_persona(
        &self,
        tenant_id: &TenantId,
        source: PersonaSource,
    ) -> Result<PersonaSaveOutcome, EngineError> {
        let empty = match &source {
            PersonaSource::Custom(text) => text.trim().is_empty(),
            PersonaSource::Builder(b) => {
                b.business_name.trim().is_empty() || b.goal.trim().is_empty()
            }
        };
        if empty {
            return Err(EngineError::Invalid(vec![FieldError::new(
                "persona",
                "must describe the business and its goal",
            )]));
        }
        let mut tenant = self.load_tenant(tenant_id).await?;
        let review_queued = tenant.persona.replace_source(source);
        tenant.revision = self
            .store()
            .put_tenant(&tenant, Some(tenant.revision))
            .await?;
        if review_queued {
            self.queue_review(&tenant, self.clock().now()).await?;
        }
        Ok(PersonaSaveOutcome {
            status: tenant.persona.safety,
            review_queued,
        })
    }

    /// Approves the tenant's current persona as the operator, without the model's review (for
    /// an offline demo whose small model is no reliable classifier, or after a human review).
    /// The approval is bound to the current text's hash: any later edit needs a review again.
    /// A review job still queued for this text then finds it already reviewed.
    ///
    /// # Errors
    /// [`EngineError::UnknownTenant`]; storage errors ([`StoreError::Conflict`] when the tenant
    /// kept changing).
    pub async fn approve_persona_as_operator(
        &self,
        tenant_id: &TenantId,
    ) -> Result<SafetyStatus, EngineError> {
        self.operator_review(tenant_id, true).await
    }

    /// Rejects the tenant's current persona as the operator (a human review), with the fixed
    /// vague reason the tenant sees. Bound to the current text's hash like a model review.
    ///
    /// # Errors
    /// [`EngineError::UnknownTenant`]; storage errors ([`StoreError::Conflict`] when the tenant
    /// kept changing).
    pub async fn reject_persona_as_operator(
        &self,
        tenant_id: &TenantId,
    ) -> Result<SafetyStatus, EngineError> {
        self.operator_review(tenant_id, false).await
    }

    /// The operator's verdict on the current text, retried over concurrent writes.
    async fn operator_review(
        &self,
        tenant_id: &TenantId,
        approve: bool,
    ) -> Result<SafetyStatus, EngineError> {
        for _ in 0..4 {
            let mut tenant = self.load_tenant(tenant_id).await?;
            if approve && tenant.persona.cleared_for_ai() {
                return Ok(tenant.persona.safety);
            }
            let hash = tenant.persona.prompt_hash();
            let checked_at = self.clock().now();
            tenant.persona.safety = if approve {
                SafetyStatus::Approved { hash, checked_at }
            } else {
                SafetyStatus::Rejected {
                    vague_reason: crate::safety::vague_reason_for(None).to_owned(),
                    hash,
                    checked_at,
                }
            };
            match self
                .store()
                .put_tenant(&tenant, Some(tenant.revision))
                .await
            {
                Ok(_) => {
                    if approve {
                        tracing::warn!(tenant = %tenant_id, "persona approved by the operator, without a model review");
                    } else {
                        tracing::warn!(tenant = %tenant_id, "persona rejected by the operator");
                    }
                    return Ok(tenant.persona.safety);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict(format!("tenant {tenant_id}")).into())
    }

    /// Updates the conversation knobs after validating them.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] with one [`FieldError`] per bad field (render as 422); nothing
    /// is saved then.
    pub async fn update_conversation_settings(
        &self,
        tenant_id: &TenantId,
        config: ConversationConfig,
    ) -> Result<(), EngineError> {
        config.validate().map_err(EngineError::Invalid)?;
        let mut tenant = self.load_tenant(tenant_id).await?;
        tenant.conversation = config;
        self.store()
            .put_tenant(&tenant, Some(tenant.revision))
            .await?;
        Ok(())
    }

    /// Changes the business's display name, locale and billing currency (the onboarding
    /// wizard's first step). A currency the operator has not priced is a field error.
    ///
    /// # Errors
    /// [`EngineError::Invalid`]; [`EngineError::UnknownTenant`]; storage errors.
    pub async fn update_profile(
        &self,
        tenant_id: &TenantId,
        name: &str,
        locale: Locale,
        currency: Currency,
    ) -> Result<(), EngineError> {
        if self.ai_reply_price(&currency).await?.is_none() {
            return Err(EngineError::Invalid(vec![FieldError::new(
                "currency",
                format!("{currency} is not priced on this deployment"),
            )]));
        }
        let mut tenant = self.load_tenant(tenant_id).await?;
        tenant.name = name.trim().to_owned();
        tenant.locale = locale;
        tenant.currency = currency;
        TenantFile::from_tenant(&tenant)
            .validate()
            .map_err(EngineError::Invalid)?;
        self.store()
            .put_tenant(&tenant, Some(tenant.revision))
            .await?;
        Ok(())
    }

    /// Moves the onboarding wizard to `step` (`None`: finished).
    ///
    /// # Errors
    /// [`EngineError::UnknownTenant`]; storage errors ([`StoreError::Conflict`]: retry).
    pub async fn set_onboarding(
        &self,
        tenant_id: &TenantId,
        step: Option<OnboardingStep>,
    ) -> Result<(), EngineError> {
        let mut tenant = self.load_tenant(tenant_id).await?;
        if tenant.onboarding != step {
            tenant.onboarding = step;
            self.store()
                .put_tenant(&tenant, Some(tenant.revision))
                .await?;
        }
        Ok(())
    }

    /// Replaces the tenant's connected channels (their accounts, triggers and email routing)
    /// after the tenant file's own validation. An account another tenant already receives on
    /// is a field error, not a conflict; nothing is saved when anything is wrong. Drop routing
    /// caches afterwards (`Host::tenant_changed`).
    ///
    /// # Errors
    /// [`EngineError::Invalid`] with every problem (dotted paths as in the tenant file);
    /// [`EngineError::UnknownTenant`]; storage errors ([`StoreError::Conflict`]: retry).
    pub async fn save_channels(
        &self,
        tenant_id: &TenantId,
        channels: ChannelConfigs,
    ) -> Result<(), EngineError> {
        let mut tenant = self.load_tenant(tenant_id).await?;
        tenant.channels = channels;
        TenantFile::from_tenant(&tenant)
            .validate()
            .map_err(EngineError::Invalid)?;
        match self
            .store()
            .put_tenant(&tenant, Some(tenant.revision))
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict(what)) if what.contains("another tenant") => Err(
                EngineError::Invalid(vec![FieldError::new("channels", what)]),
            ),
            Err(e) => Err(e.into()),
        }
    }

    /// Saves a channel's reply rules, embedding every intent rule whose stored embedding is
    /// missing or was made by another model. Returns the names of intent rules left without an
    /// embedding (the model was unavailable); they are skipped until saved again.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] for invalid rules or a channel the tenant has not connected.
    pub async fn save_reply_config(
        &self,
        tenant_id: &TenantId,
        channel: Channel,
        mut config: ReplyConfig,
    ) -> Result<Vec<String>, EngineError> {
        config.validate().map_err(|errors| {
            EngineError::Invalid(
                errors
                    .into_iter()
                    .map(|e| FieldError::new(format!("{channel}.replies"), e))
                    .collect(),
            )
        })?;
        let unembedded = self.embed_rules(&mut config).await;
        let mut tenant = self.load_tenant(tenant_id).await?;
        let Some(slot) = tenant.channels.replies_mut(channel) else {
            return Err(EngineError::Invalid(vec![FieldError::new(
                "channel",
                format!("{channel} is not connected"),
            )]));
        };
        *slot = config;
        self.store()
            .put_tenant(&tenant, Some(tenant.revision))
            .await?;
        Ok(unembedded)
    }

    /// Embeds intent rules that need it; returns the names of those that could not be embedded.
    async fn embed_rules(&self, config: &mut ReplyConfig) -> Vec<String> {
        let model = self.config.embedding_model.clone();
        let stale: Vec<usize> = config
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(&r.matcher, Matcher::Intent { embedding, model: m, .. } if embedding.is_none() || m.as_deref() != Some(model.as_str())))
            .map(|(i, _)| i)
            .collect();
        if stale.is_empty() {
            return Vec::new();
        }
        let texts: Vec<String> = stale
            .iter()
            .filter_map(|&i| match &config.rules[i].matcher {
                Matcher::Intent { description, .. } => Some(description.clone()),
                Matcher::Keywords { .. } => None,
            })
            .collect();
        match self.ai().embed(&model, &texts).await {
            Ok(vectors) if vectors.len() == stale.len() => {
                for (i, vector) in stale.into_iter().zip(vectors) {
                    if let Matcher::Intent {
                        embedding,
                        model: m,
                        ..
                    } = &mut config.rules[i].matcher
                    {
                        *embedding = Some(vector);
                        *m = Some(model.clone());
                    }
                }
                Vec::new()
            }
            other => {
                if let Err(e) = other {
                    tracing::warn!(error = %e, "could not embed intent rules");
                }
                stale
                    .into_iter()
                    .map(|i| config.rules[i].name.clone())
                    .collect()
            }
        }
    }

    /// Creates or updates a tenant from its file. A persona whose text is unchanged keeps its
    /// review; a new or changed one is queued for review. Starting credits are granted once.
    /// Intent rules are embedded.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] when the file is invalid or one of its channel accounts belongs
    /// to another tenant; storage errors otherwise.
    pub async fn import_tenant(&self, file: TenantFile) -> Result<ImportOutcome, EngineError> {
        file.validate().map_err(EngineError::Invalid)?;
        let now = self.clock().now();
        // Checked by `TenantFile::validate` with the same `Grant::validate`.
        let starting_grant = file.starting_credits.map(|a| starting_credits(a, now));
        let mut incoming = file.into_tenant();
        for channel in Channel::ALL {
            if let Some(replies) = incoming.channels.replies_mut(channel) {
                let _ = self.embed_rules(replies).await;
            }
        }
        let existing = self.store().get_tenant(&incoming.id).await?;
        let created = existing.is_none();
        let (expected, review_queued) = match existing {
            Some(old) => {
                incoming.onboarding = old.onboarding;
                let mut persona = old.persona;
                let changed = persona.replace_source(incoming.persona.source.clone());
                incoming.persona = persona;
                (Some(old.revision), changed)
            }
            None => (None, true),
        };
        let revision = match self.store().put_tenant(&incoming, expected).await {
            Ok(r) => r,
            Err(StoreError::Conflict(what)) if what.contains("another tenant") => {
                return Err(EngineError::Invalid(vec![FieldError::new(
                    "channels", what,
                )]));
            }
            Err(e) => return Err(e.into()),
        };
        incoming.revision = revision;
        let mut credits_granted = false;
        if let Some(grant) = starting_grant {
            credits_granted =
                self.store().grant(&incoming.id, grant).await? == GrantOutcome::Granted;
        }
        if review_queued {
            self.queue_review(&incoming, now).await?;
        }
        Ok(ImportOutcome {
            created,
            revision,
            credits_granted,
            review_queued,
        })
    }

    /// Grants credit to a tenant (an operator action or a payment), once per grant id.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] when [`Grant::validate`] refuses the grant (a blank id, a
    /// non-positive amount, an expiry not in the future);
    /// [`EngineError::UnknownTenant`].
    pub async fn grant_credits(
        &self,
        tenant_id: &TenantId,
        grant_id: &str,
        amount: Milli,
        expires_at: Option<Timestamp>,
        reason: &str,
    ) -> Result<GrantOutcome, EngineError> {
        let now = self.clock().now();
        // The one grant validation (`expires_at` after the grant time: in the future).
        let grant = Grant::new(grant_id, amount, now, expires_at, reason);
        grant.validate().map_err(EngineError::Invalid)?;
        self.load_tenant(tenant_id).await?;
        let outcome = self.store().grant(tenant_id, grant).await?;
        Ok(outcome)
    }

    /// Applies the owner's decision on a draft. Approving (or editing) sends it through the
    /// originating channel, stamps the conversation id and appends it to the history (if the
    /// conversation is still the same); rejecting drops it. A draft is decided once.
    ///
    /// # Errors
    /// Storage errors, or a retryable send failure (the draft is kept for a retry).
    pub async fn decide_approval(
        &self,
        tenant_id: &TenantId,
        draft_id: &str,
        decision: ApprovalDecision,
    ) -> Result<ApprovalOutcome, EngineError> {
        let now = self.clock().now();
        let tenant = self.load_tenant(tenant_id).await?;
        let Some(draft) = self.store().take_draft(tenant_id, draft_id, now).await? else {
            return Ok(ApprovalOutcome::NotFound);
        };
        let text = match decision {
            ApprovalDecision::Reject => {
                tracing::info!(tenant = %tenant_id, draft = draft_id, "draft rejected");
                return Ok(ApprovalOutcome::Rejected);
            }
            ApprovalDecision::Approve => draft.text.clone(),
            ApprovalDecision::Edit { text } if !text.trim().is_empty() => text,
            ApprovalDecision::Edit { .. } => {
                self.store().put_draft(tenant_id, &draft).await?;
                return Err(EngineError::Invalid(vec![FieldError::new(
                    "text",
                    "an edited reply must not be empty",
                )]));
            }
        };
        let session = self.store().load_session(&draft.key).await?;
        if let Some(reason) = session
            .as_ref()
            .and_then(|s| window_closed(draft.key.channel, s, now))
        {
            return Ok(ApprovalOutcome::NotSent { reason });
        }
        let target = Target {
            account: draft.account.clone(),
            route: draft.route.clone(),
            reply_to: draft.reply_to.clone(),
        };
        let send_key = format!("approved:{}", draft.id);
        match self
            .send_reply(
                &tenant,
                &draft.key,
                &target,
                &text,
                &send_key,
                Some(&draft.conversation_id),
                now,
            )
            .await
        {
            Ok(()) => {}
            Err(OutboundError::Permanent(reason)) => {
                return Ok(ApprovalOutcome::NotSent {
                    reason: NoReplyReason::SendFailed { error: reason },
                });
            }
            Err(e) => {
                self.store().put_draft(tenant_id, &draft).await?;
                return Err(e.into());
            }
        }
        if let Some(mut session) = session {
            if session.conversation_id == draft.conversation_id {
                session.push_turn(
                    Turn::assistant(text.clone()),
                    tenant.conversation.history_bound(),
                );
                self.store().save_session(&draft.key, &session).await?;
            }
        }
        Ok(ApprovalOutcome::Sent {
            text,
            conversation_id: draft.conversation_id,
        })
    }
}
