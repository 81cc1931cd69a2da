//! One tenant in memory: the core's [`Harness`] (MemoryStore, ManualClock, RecordingOutbound),
//! with the model of the caller's choice.
//!
//! The harness is built around a [`ScriptedAi`]. For a real model (or none), the sandbox swaps
//! the harness's engine for one over the same in-memory ports and the chosen provider, imports
//! the tenant again (so intent rules are embedded by that model), and runs the persona review
//! with it. With no model the persona review cannot run: the persona stays pending and only
//! canned rules answer.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use concierge_core::engine::SafetyOutcome;
use concierge_core::ports::{AiError, AiProvider, ChatRequest, NoAi};
use concierge_core::safety::{SafetyJob, SafetyStatus};
use concierge_core::tenant::TenantFile;
use concierge_core::testing::{Harness, ScriptedAi};
use concierge_core::EngineConfig;
use futures::executor::block_on;

use crate::error::CliError;

/// Which model answers.
#[derive(Debug, Clone)]
pub enum ModelChoice {
    /// The core's scripted fake: replies come from the script (or `AI reply to: ...`).
    Scripted(ScriptedAi),
    /// A real provider (e.g. [`OpenAiCompatible`](crate::ai::OpenAiCompatible)).
    Provider(Arc<dyn AiProvider>),
    /// No model: canned rules only.
    None,
}

/// A provider wrapper that remembers every chat request, so `prompt_contains` works with a
/// real model too.
#[derive(Debug, Clone)]
struct RecordingAi {
    inner: Arc<dyn AiProvider>,
    requests: Arc<Mutex<Vec<ChatRequest>>>,
}

#[async_trait]
impl AiProvider for RecordingAi {
    async fn chat(&self, request: &ChatRequest) -> Result<String, AiError> {
        if let Ok(mut r) = self.requests.lock() {
            r.push(request.clone());
        }
        self.inner.chat(request).await
    }

    async fn embed(&self, model: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, AiError> {
        self.inner.embed(model, texts).await
    }
}

/// A tenant in memory with its engine.
#[derive(Debug)]
pub struct Sandbox {
    /// The core's harness (store, clock, outbound and engine).
    pub harness: Harness,
    recorded: Option<Arc<Mutex<Vec<ChatRequest>>>>,
    /// What happened to the persona review, for the notice a command prints.
    pub review: ReviewNote,
}

/// The persona review's state after setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewNote {
    /// Approved (by the scripted fake, or by the real model).
    Approved,
    /// Rejected by the model, with the reason the tenant sees.
    Rejected(String),
    /// Could not run (no model, or the model failed): AI replies are blocked.
    NotRun(String),
    /// Approved by the person at the keyboard (`--approve-persona`), without a model review:
    /// a small offline model is no reliable safety reviewer.
    ApprovedByOperator,
}

impl Sandbox {
    /// Imports the tenant file and sets up the model.
    ///
    /// # Errors
    /// [`CliError::BadInput`] if the core refuses the tenant.
    pub fn new(
        tenant_toml: &str,
        file: &TenantFile,
        model: ModelChoice,
        config: EngineConfig,
    ) -> Result<Self, CliError> {
        // The harness panics on an invalid file; the caller has validated it with the core
        // already, so that cannot happen here.
        match model {
            ModelChoice::Scripted(ai) => {
                let harness = Harness::with_ai(tenant_toml, ai, config);
                let review = review_note(&harness);
                Ok(Sandbox {
                    harness,
                    recorded: None,
                    review,
                })
            }
            ModelChoice::Provider(provider) => {
                let requests = Arc::new(Mutex::new(Vec::new()));
                let ai = Arc::new(RecordingAi {
                    inner: provider,
                    requests: requests.clone(),
                });
                // The import embeds intent rules and runs the persona review with this model.
                let harness = Harness::with_provider(tenant_toml, ai, config);
                let mut review = review_note(&harness);
                if review == ReviewNote::NotRun(PENDING.to_owned()) {
                    // The review failed during setup: run it once more to report why.
                    let job = SafetyJob {
                        tenant: file.id.clone(),
                        prompt_hash: harness.tenant().persona.prompt_hash(),
                    };
                    review = match block_on(harness.engine.run_safety_job(&job)) {
                        Ok(SafetyOutcome::Reviewed { .. } | SafetyOutcome::AlreadyReviewed) => {
                            review_note(&harness)
                        }
                        Ok(other) => ReviewNote::NotRun(format!("{other:?}")),
                        Err(e) => ReviewNote::NotRun(format!("the model could not review it: {e}")),
                    };
                }
                Ok(Sandbox {
                    harness,
                    recorded: Some(requests),
                    review,
                })
            }
            ModelChoice::None => Ok(Sandbox {
                harness: Harness::with_provider(tenant_toml, Arc::new(NoAi), config),
                recorded: None,
                review: ReviewNote::NotRun("no AI provider is configured".to_owned()),
            }),
        }
    }

    /// Approves the tenant's persona as the operator, whatever the review said (what
    /// `concierge-server --approve-persona` does).
    ///
    /// # Errors
    /// [`CliError::Failed`] if the engine refuses (it cannot for an imported tenant).
    pub fn approve_persona(&mut self) -> Result<(), CliError> {
        let id = self.harness.tenant().id.clone();
        block_on(self.harness.engine.approve_persona_as_operator(&id))
            .map_err(|e| CliError::Failed(format!("approving the persona: {e}")))?;
        self.review = ReviewNote::ApprovedByOperator;
        Ok(())
    }

    /// Makes the tenant's knowledge base the documents its tenant file's `[knowledge] paths`
    /// name (read from `tenant_path`'s folder), as the server's import does. Skipped files
    /// (no document kind) are returned for the caller to mention.
    ///
    /// # Errors
    /// [`CliError::BadInput`] naming the path or document when one cannot be read.
    pub fn learn_from_files(
        &mut self,
        tenant_path: &std::path::Path,
        config: &concierge_core::knowledge::KnowledgeConfig,
    ) -> Result<Vec<std::path::PathBuf>, CliError> {
        if config.paths.is_empty() {
            return Ok(Vec::new());
        }
        let (files, skipped) = crate::kb::read_documents(tenant_path, config)?;
        let documents = files.into_iter().map(|f| (f.source, f.bytes)).collect();
        let tenant = self.harness.tenant_id().clone();
        block_on(self.harness.engine.sync_knowledge(&tenant, documents))
            .map_err(|e| CliError::bad_input(format!("{}: {e}", tenant_path.display())))?;
        Ok(skipped)
    }

    /// The customer says `text`; when the reply buffer holds it, the clock moves to the
    /// buffer's deadline so the turn runs now. One step with both parts' turns, sends and
    /// errors.
    pub fn says_and_flush(&mut self, text: &str) -> concierge_core::testing::Step {
        let h = &mut self.harness;
        let mut step = h.says(text);
        if let Some(concierge_core::engine::InboundOutcome::Buffered { until, .. }) = &step.inbound
        {
            let flushed = h.advance(&whole_seconds(until.since(h.now())));
            step.turns.extend(flushed.turns);
            step.sent.extend(flushed.sent);
            step.errors.extend(flushed.errors);
        }
        step
    }

    /// The last system prompt the reply model received, if any.
    pub fn last_reply_prompt(&self) -> Option<ChatRequest> {
        match &self.recorded {
            Some(requests) => requests.lock().ok().and_then(|r| {
                r.iter()
                    .rev()
                    .find(|r| {
                        r.system != concierge_core::safety::INJECTION_CLASSIFIER_PROMPT
                            && r.system != concierge_core::safety::PERSONA_CLASSIFIER_PROMPT
                            && r.system != concierge_core::rolling_summary::SUMMARIZER_PROMPT
                    })
                    .cloned()
            }),
            None => self.harness.ai.reply_requests().pop(),
        }
    }
}

const PENDING: &str = "the review did not finish";

/// A span of whole seconds (rounded up) in the harness's span syntax.
pub fn whole_seconds(span: concierge_core::time::Span) -> String {
    format!("{}s", (span.as_millis().max(0) + 999) / 1000)
}

fn review_note(harness: &Harness) -> ReviewNote {
    match harness.tenant().persona.safety {
        SafetyStatus::Approved { .. } => ReviewNote::Approved,
        SafetyStatus::Rejected { vague_reason, .. } => ReviewNote::Rejected(vague_reason),
        SafetyStatus::Pending => ReviewNote::NotRun(PENDING.to_owned()),
    }
}
