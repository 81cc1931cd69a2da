//! Memory past the history cap: after a turn, the oldest turns of a full history are folded
//! into the conversation's rolling summary by the fast model ([`crate::rolling_summary`]).
//!
//! The fold runs after the reply has been sent (or drafted) and the session saved, so the
//! summarizer never delays, blocks or fails a reply. Turns leave the history only together
//! with a stored summary that covers them.

use super::Engine;
use crate::conversation::Session;
use crate::ids::ConversationKey;
use crate::ports::{AiError, ChatRequest};
use crate::rolling_summary::{
    bound_summary, fold_count, summarizer_request_text, SummaryError, SUMMARIZER_MAX_TOKENS,
    SUMMARIZER_PROMPT,
};
use crate::tenant::Tenant;
use crate::time::Timestamp;

impl Engine {
    /// Folds the oldest turns into the summary when the next message would not fit in the
    /// history. Returns whether the session changed (and must be saved again).
    ///
    /// Where no reply of the channel comes from the model, or no model is configured, nothing
    /// would read a summary: the history is held to the cap as before, unsummarized; the same
    /// when [`EngineConfig::rolling_summary`](super::EngineConfig::rolling_summary) is off. A failed
    /// summarizer call is logged (counts only, never text) and changes nothing: the turns wait
    /// for the next turn's attempt, bounded by
    /// [`history_bound`](crate::conversation::ConversationConfig::history_bound).
    pub(super) async fn fold_history(
        &self,
        tenant: &Tenant,
        key: &ConversationKey,
        session: &mut Session,
        now: Timestamp,
    ) -> bool {
        let cap = tenant.conversation.max_history();
        let len = session.history.len();
        let Some(count) = fold_count(len, cap) else {
            return false;
        };
        let uses_model = tenant
            .channels
            .replies(key.channel)
            .is_some_and(crate::rules::ReplyConfig::uses_model);
        if !uses_model || !self.config.rolling_summary {
            session.trim_history(cap);
            return session.history.len() != len;
        }
        let previous = session.summary.as_ref().map(|s| s.text.as_str());
        let input = summarizer_request_text(previous, &session.history[..count]);
        match self.summarize(input).await {
            Ok(text) => {
                session.fold(count, text, now);
                tracing::debug!(tenant = %tenant.id, conversation = %session.conversation_id, folded = count, "older turns folded into the summary");
                true
            }
            Err(SummaryError::Ai(AiError::NotConfigured)) => {
                session.trim_history(cap);
                session.history.len() != len
            }
            Err(e) => {
                tracing::warn!(
                    tenant = %tenant.id,
                    conversation = %session.conversation_id,
                    waiting = count,
                    error = %e,
                    "could not fold older turns into the summary; they wait for the next turn"
                );
                false
            }
        }
    }

    /// One summarizer call on the fast model; the answer bounded for storage.
    async fn summarize(&self, input: String) -> Result<String, SummaryError> {
        let request = ChatRequest {
            model: self.config.fast_model.clone(),
            system: SUMMARIZER_PROMPT.to_owned(),
            history: Vec::new(),
            user: input,
            max_tokens: SUMMARIZER_MAX_TOKENS,
        };
        let raw = self.ai().chat(&request).await?;
        bound_summary(&raw)
    }
}
