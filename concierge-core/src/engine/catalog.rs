//! The personas catalog's operations ([`crate::catalog`]): read (seeding the built-ins on
//! first use), save (a changed text goes back to review), delete (never the system persona)
//! and the review job.

use super::jobs::CAS_ATTEMPTS;
use super::outcome::{CatalogSaveOutcome, SafetyOutcome};
use super::{DemoPersona, Engine, EngineError};
use crate::catalog::{
    builtin_catalog, CatalogEdit, CatalogPersona, CatalogReviewJob, MAX_CATALOG_ENTRIES,
};
use crate::conversation::FieldError;
use crate::persona::PersonaConfig;
use crate::ports::{Job, StoreError};
use crate::safety::{self, SafetyStatus};

impl Engine {
    /// Every catalog entry, by slug. An empty store (a new deployment) is first seeded with
    /// the built-in sample businesses, approved; seeding never overwrites an entry that
    /// exists (two first reads at once both succeed).
    ///
    /// # Errors
    /// [`EngineError::Store`].
    pub async fn persona_catalog(&self) -> Result<Vec<CatalogPersona>, EngineError> {
        let stored = self.store().list_catalog().await?;
        if !stored.is_empty() {
            return Ok(stored);
        }
        for entry in builtin_catalog(self.clock().now()) {
            match self.store().put_catalog_persona(&entry, None).await {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(self.store().list_catalog().await?)
    }

    /// The entries the live demo and the onboarding wizard offer: those approved for their
    /// current text.
    ///
    /// # Errors
    /// [`EngineError::Store`].
    pub async fn approved_personas(&self) -> Result<Vec<DemoPersona>, EngineError> {
        Ok(self
            .persona_catalog()
            .await?
            .iter()
            .filter(|p| p.is_approved())
            .map(CatalogPersona::demo)
            .collect())
    }

    /// Saves a catalog entry: a new one (`create`) or an edit of `edit.slug`. A changed text
    /// becomes a draft (*Pending*: off the demo and onboarding) and a review is queued; an
    /// edit of the label, description or greeting alone keeps the review.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] with every field error (nothing saved): a bad field, a slug
    /// that is taken (create), a full catalog; [`StoreError::NotFound`] when the edited entry
    /// is gone; [`StoreError::Conflict`] when it changed concurrently (retry).
    pub async fn save_catalog_persona(
        &self,
        edit: CatalogEdit,
        create: bool,
    ) -> Result<CatalogSaveOutcome, EngineError> {
        let mut errors = edit.errors();
        if !errors.is_empty() {
            return Err(EngineError::Invalid(errors));
        }
        let catalog = self.persona_catalog().await?;
        let existing = catalog.iter().find(|p| p.slug == edit.slug).cloned();
        let now = self.clock().now();
        let (entry, review_queued, expected) = match (existing, create) {
            (Some(_), true) => {
                errors.push(FieldError::new("slug", "is taken by another persona"));
                return Err(EngineError::Invalid(errors));
            }
            (None, true) => {
                if catalog.len() >= MAX_CATALOG_ENTRIES {
                    errors.push(FieldError::new(
                        "slug",
                        format!("the catalog is full ({MAX_CATALOG_ENTRIES} personas)"),
                    ));
                    return Err(EngineError::Invalid(errors));
                }
                let entry = CatalogPersona {
                    slug: edit.slug,
                    label: edit.label.trim().to_owned(),
                    description: edit.description.trim().to_owned(),
                    greeting: edit.greeting.trim().to_owned(),
                    persona: PersonaConfig::new(edit.source),
                    updated_at: now,
                    revision: 0,
                };
                (entry, true, None)
            }
            (None, false) => {
                return Err(StoreError::NotFound(format!("catalog persona {}", edit.slug)).into())
            }
            (Some(mut entry), false) => {
                let expected = Some(entry.revision);
                let changed = entry.persona.replace_source(edit.source);
                entry.label = edit.label.trim().to_owned();
                entry.description = edit.description.trim().to_owned();
                entry.greeting = edit.greeting.trim().to_owned();
                entry.updated_at = now;
                (entry, changed, expected)
            }
        };
        let revision = self.store().put_catalog_persona(&entry, expected).await?;
        if review_queued {
            let job = Job::CatalogReview(CatalogReviewJob {
                slug: entry.slug.clone(),
                prompt_hash: entry.persona.prompt_hash(),
            });
            self.store().schedule(&job, now).await?;
        }
        Ok(CatalogSaveOutcome {
            entry: CatalogPersona { revision, ..entry },
            review_queued,
        })
    }

    /// Deletes the catalog entry `slug`.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] for the system persona (nothing deleted);
    /// [`StoreError::NotFound`] for an unknown slug.
    pub async fn delete_catalog_persona(&self, slug: &str) -> Result<(), EngineError> {
        if slug == crate::catalog::SYSTEM_SLUG {
            return Err(EngineError::Invalid(vec![FieldError::new(
                "slug",
                "the system persona cannot be deleted",
            )]));
        }
        // Seed first: deleting a built-in from a fresh store must not bring it back.
        self.persona_catalog().await?;
        if self.store().delete_catalog_persona(slug).await? {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!("catalog persona {slug}")).into())
        }
    }

    /// Reviews a catalog entry with the fast model, as a tenant's persona is reviewed
    /// ([`run_safety_job`](Engine::run_safety_job)), and records Approved or Rejected. Drops
    /// itself when the entry is gone or its text changed since the job was queued.
    ///
    /// # Errors
    /// [`EngineError::Verdict`] and [`EngineError::Ai`] (retryable), storage errors.
    pub async fn run_catalog_review(
        &self,
        job: &CatalogReviewJob,
    ) -> Result<SafetyOutcome, EngineError> {
        let Some(mut entry) = self.store().get_catalog_persona(&job.slug).await? else {
            return Ok(SafetyOutcome::Drifted);
        };
        if entry.persona.prompt_hash() != job.prompt_hash {
            return Ok(SafetyOutcome::Drifted);
        }
        if entry.persona.reviewed_hash() == Some(job.prompt_hash.as_str()) {
            return Ok(SafetyOutcome::AlreadyReviewed);
        }
        let status = self
            .classify_persona(entry.persona.active_prompt(), &job.prompt_hash)
            .await?;
        if let SafetyStatus::Rejected { .. } = status {
            tracing::warn!(slug = %job.slug, "catalog persona rejected by the safety review");
        }
        for _ in 0..CAS_ATTEMPTS {
            if entry.persona.prompt_hash() != job.prompt_hash {
                return Ok(SafetyOutcome::Drifted);
            }
            entry.persona.safety = status.clone();
            match self
                .store()
                .put_catalog_persona(&entry, Some(entry.revision))
                .await
            {
                Ok(_) => return Ok(SafetyOutcome::Reviewed { status }),
                Err(StoreError::Conflict(_)) => {
                    let Some(fresh) = self.store().get_catalog_persona(&job.slug).await? else {
                        return Ok(SafetyOutcome::Drifted);
                    };
                    entry = fresh;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict(format!("catalog persona {}", job.slug)).into())
    }
}

impl Engine {
    /// Approves (`approve`) or rejects the catalog entry's current text as the operator,
    /// without the model's review (the offline demo's small model is no reliable classifier).
    /// Bound to the current text's hash, as a review is; a rejection stores the vague reason.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown slug; [`StoreError::Conflict`] when the entry
    /// changed concurrently (retry).
    pub async fn review_catalog_persona_as_operator(
        &self,
        slug: &str,
        approve: bool,
    ) -> Result<CatalogPersona, EngineError> {
        let mut entry = self
            .store()
            .get_catalog_persona(slug)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("catalog persona {slug}")))?;
        let hash = entry.persona.prompt_hash();
        let checked_at = self.clock().now();
        entry.persona.safety = if approve {
            SafetyStatus::Approved { hash, checked_at }
        } else {
            SafetyStatus::Rejected {
                vague_reason: safety::vague_reason_for(None).to_owned(),
                hash,
                checked_at,
            }
        };
        let revision = self
            .store()
            .put_catalog_persona(&entry, Some(entry.revision))
            .await?;
        Ok(CatalogPersona { revision, ..entry })
    }
}
