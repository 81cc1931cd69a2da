//! Fakes of the non-storage ports: a scripted model, a recording outbound, a manual clock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::ports::{
    AiError, AiProvider, ChatRequest, Clock, Outbound, OutboundError, OutboundMessage, SendReceipt,
};
use crate::rolling_summary::SUMMARIZER_PROMPT;
use crate::safety::{INJECTION_CLASSIFIER_PROMPT, PERSONA_CLASSIFIER_PROMPT};
use crate::time::{Span, Timestamp};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The number of dimensions of [`ScriptedAi`]'s bag-of-words embeddings.
pub const SCRIPTED_EMBEDDING_DIMS: usize = 64;

/// A scripted failure of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptedFailure {
    /// [`AiError::Provider`].
    Provider,
    /// [`AiError::Timeout`].
    Timeout,
}

#[derive(Debug, Default)]
struct AiScript {
    replies: VecDeque<Result<String, ScriptedFailure>>,
    persona_verdicts: VecDeque<String>,
    summaries: VecDeque<Result<String, ScriptedFailure>>,
    injection_markers: Vec<String>,
    embeddings: BTreeMap<String, Vec<f32>>,
    embed_failures: usize,
    requests: Vec<ChatRequest>,
    embed_requests: Vec<(String, Vec<String>)>,
}

/// A model that answers from a script and records every request it is sent.
///
/// - Reply requests get the next scripted reply ([`reply`](Self::reply)), or
///   `"AI reply to: {message}"` when the script is empty.
/// - The injection scan answers `allow` unless the message contains a marker set with
///   [`flag_injection`](Self::flag_injection).
/// - The persona review answers `approve` unless a verdict was scripted with
///   [`persona_verdict`](Self::persona_verdict) (any text, to test garbage answers too).
/// - The summarizer answers the next scripted summary ([`summary`](Self::summary)), or else the
///   notes it was given followed by `Customer said: …` with the folded customer messages.
/// - Embeddings are a deterministic bag of words (texts sharing words are close), unless one
///   was set with [`embedding`](Self::embedding).
#[derive(Debug, Default, Clone)]
pub struct ScriptedAi {
    script: Arc<Mutex<AiScript>>,
}

impl ScriptedAi {
    /// A model with an empty script.
    pub fn new() -> Self {
        ScriptedAi::default()
    }

    /// Queues a reply.
    pub fn reply(&self, text: impl Into<String>) -> &Self {
        lock(&self.script).replies.push_back(Ok(text.into()));
        self
    }

    /// Queues a failure of the next reply call.
    pub fn fail_next_reply(&self, failure: ScriptedFailure) -> &Self {
        lock(&self.script).replies.push_back(Err(failure));
        self
    }

    /// Queues the raw answer of the next persona review (e.g. `{"verdict":"reject","category":"harassment"}`).
    pub fn persona_verdict(&self, raw: impl Into<String>) -> &Self {
        lock(&self.script).persona_verdicts.push_back(raw.into());
        self
    }

    /// Queues the raw answer of the next summarizer call.
    pub fn summary(&self, text: impl Into<String>) -> &Self {
        lock(&self.script).summaries.push_back(Ok(text.into()));
        self
    }

    /// Queues a failure of the next summarizer call.
    pub fn fail_next_summary(&self, failure: ScriptedFailure) -> &Self {
        lock(&self.script).summaries.push_back(Err(failure));
        self
    }

    /// Makes the injection scan reject messages containing `marker` (case-insensitive).
    pub fn flag_injection(&self, marker: impl Into<String>) -> &Self {
        lock(&self.script)
            .injection_markers
            .push(marker.into().to_lowercase());
        self
    }

    /// Sets the embedding of an exact text.
    pub fn embedding(&self, text: impl Into<String>, vector: Vec<f32>) -> &Self {
        lock(&self.script).embeddings.insert(text.into(), vector);
        self
    }

    /// Makes the next `n` embed calls fail.
    pub fn fail_embeddings(&self, n: usize) -> &Self {
        lock(&self.script).embed_failures = n;
        self
    }

    /// Every chat request received, in order (replies and classifications).
    pub fn requests(&self) -> Vec<ChatRequest> {
        lock(&self.script).requests.clone()
    }

    /// The reply requests only (not the classifier or summarizer calls).
    pub fn reply_requests(&self) -> Vec<ChatRequest> {
        self.requests()
            .into_iter()
            .filter(|r| {
                r.system != INJECTION_CLASSIFIER_PROMPT
                    && r.system != PERSONA_CLASSIFIER_PROMPT
                    && r.system != SUMMARIZER_PROMPT
            })
            .collect()
    }

    /// The summarizer requests only, in order.
    pub fn summary_requests(&self) -> Vec<ChatRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.system == SUMMARIZER_PROMPT)
            .collect()
    }

    /// Every embed request as `(model, texts)`.
    pub fn embed_requests(&self) -> Vec<(String, Vec<String>)> {
        lock(&self.script).embed_requests.clone()
    }

    /// The bag-of-words embedding used when none was set.
    pub fn bag_of_words(text: &str) -> Vec<f32> {
        let mut v = vec![0f32; SCRIPTED_EMBEDDING_DIMS];
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 2)
        {
            let h = Sha256::digest(word.to_lowercase().as_bytes());
            v[usize::from(h[0]) % SCRIPTED_EMBEDDING_DIMS] += 1.0;
        }
        v
    }
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl AiProvider for ScriptedAi {
    async fn chat(&self, request: &ChatRequest) -> Result<String, AiError> {
        let mut script = lock(&self.script);
        script.requests.push(request.clone());
        if request.system == INJECTION_CLASSIFIER_PROMPT {
            let lowered = request.user.to_lowercase();
            let flagged = script.injection_markers.iter().any(|m| lowered.contains(m));
            return Ok(if flagged {
                r#"{"verdict":"reject","category":"instruction_override"}"#.to_owned()
            } else {
                r#"{"verdict":"allow"}"#.to_owned()
            });
        }
        if request.system == PERSONA_CLASSIFIER_PROMPT {
            return Ok(script
                .persona_verdicts
                .pop_front()
                .unwrap_or_else(|| r#"{"verdict":"approve"}"#.to_owned()));
        }
        if request.system == SUMMARIZER_PROMPT {
            return match script.summaries.pop_front() {
                Some(Ok(text)) => Ok(text),
                Some(Err(failure)) => Err(failure.into()),
                None => Ok(default_summary(&request.user)),
            };
        }
        match script.replies.pop_front() {
            Some(Ok(text)) => Ok(text),
            Some(Err(ScriptedFailure::Provider)) => {
                Err(AiError::Provider("scripted failure".into()))
            }
            Some(Err(ScriptedFailure::Timeout)) => Err(AiError::Timeout),
            None => Ok(format!("AI reply to: {}", request.user)),
        }
    }

    async fn embed(&self, model: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, AiError> {
        let mut script = lock(&self.script);
        script
            .embed_requests
            .push((model.to_owned(), texts.to_vec()));
        if script.embed_failures > 0 {
            script.embed_failures -= 1;
            return Err(AiError::Provider("scripted embedding failure".into()));
        }
        Ok(texts
            .iter()
            .map(|t| {
                script
                    .embeddings
                    .get(t)
                    .cloned()
                    .unwrap_or_else(|| ScriptedAi::bag_of_words(t))
            })
            .collect())
    }
}

impl From<ScriptedFailure> for AiError {
    fn from(failure: ScriptedFailure) -> Self {
        match failure {
            ScriptedFailure::Provider => AiError::Provider("scripted failure".into()),
            ScriptedFailure::Timeout => AiError::Timeout,
        }
    }
}

/// The scripted summarizer's answer: the notes so far, then what the customer said.
fn default_summary(input: &str) -> String {
    let notes = input
        .split_once("BEGIN NOTES\n")
        .and_then(|(_, rest)| rest.split_once("END NOTES"))
        .map_or("", |(notes, _)| notes.trim());
    let said: Vec<&str> = input
        .lines()
        .filter_map(|line| line.strip_prefix("Customer: "))
        .collect();
    let mut out = notes.to_owned();
    if !said.is_empty() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("Customer said: ");
        out.push_str(&said.join("; "));
        out.push('.');
    }
    if out.is_empty() {
        "Nothing of note yet.".clone_into(&mut out);
    }
    out
}

#[derive(Debug, Default)]
struct OutboundState {
    sent: Vec<OutboundMessage>,
    receipts: BTreeMap<String, SendReceipt>,
    failures: VecDeque<OutboundError>,
    attempts: usize,
}

/// An outbound port that records what it is asked to send, delivers each key once, and can be
/// told to fail.
#[derive(Debug, Default, Clone)]
pub struct RecordingOutbound {
    state: Arc<Mutex<OutboundState>>,
}

impl RecordingOutbound {
    /// A recorder with nothing sent.
    pub fn new() -> Self {
        RecordingOutbound::default()
    }

    /// Every message delivered, in order (each key once).
    pub fn sent(&self) -> Vec<OutboundMessage> {
        lock(&self.state).sent.clone()
    }

    /// How many send calls were made (including failed and repeated ones).
    pub fn attempts(&self) -> usize {
        lock(&self.state).attempts
    }

    /// Makes the next send fail with a retryable error.
    pub fn fail_next_retryable(&self) -> &Self {
        lock(&self.state)
            .failures
            .push_back(OutboundError::Retryable("scripted failure".into()));
        self
    }

    /// Makes the next send fail permanently.
    pub fn fail_next_permanent(&self) -> &Self {
        lock(&self.state)
            .failures
            .push_back(OutboundError::Permanent("scripted refusal".into()));
        self
    }
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl Outbound for RecordingOutbound {
    async fn send(&self, message: &OutboundMessage) -> Result<SendReceipt, OutboundError> {
        let mut state = lock(&self.state);
        state.attempts += 1;
        if let Some(receipt) = state.receipts.get(&message.key) {
            return Ok(receipt.clone());
        }
        if let Some(failure) = state.failures.pop_front() {
            return Err(failure);
        }
        let receipt = SendReceipt {
            provider_ids: vec![format!("out-{}", state.sent.len() + 1)],
        };
        state.receipts.insert(message.key.clone(), receipt.clone());
        state.sent.push(message.clone());
        Ok(receipt)
    }
}

/// A clock moved by hand.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    /// A clock at `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, span: Span) {
        let mut now = lock(&self.now);
        *now = *now + span;
    }

    /// Sets the time (never backwards).
    pub fn set(&self, at: Timestamp) {
        let mut now = lock(&self.now);
        *now = (*now).max(at);
    }
}

impl Default for ManualClock {
    /// 2026-01-01T09:00:00Z.
    fn default() -> Self {
        ManualClock::new(Timestamp::from_secs(1_767_258_000))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *lock(&self.now)
    }
}
