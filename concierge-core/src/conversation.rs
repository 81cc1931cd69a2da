//! Conversation sessions: idle-gap rotation, bounded history and the handoff state.
//!
//! One [`Session`] per customer per channel per tenant. When the customer has been silent
//! longer than the idle gap, the next message starts a new conversation: a new id, empty
//! history, no handoff. After a `[[HANDOFF]]`, the conversation is in the holding pattern for
//! the cooldown, then silent until the idle gap rotates it.
//!
//! Turns older than the history cap are folded into the session's
//! [`RollingSummary`](crate::rolling_summary::RollingSummary), which the rotation drops with
//! the history.

use serde::{Deserialize, Serialize};

use crate::buffer::ReplyBuffer;
use crate::ids::{ConversationId, ConversationKey};
use crate::prompt::{
    DEFAULT_CONVERSATION_IDLE_GAP_MINS, DEFAULT_HANDOFF_COOLDOWN_MINS, DEFAULT_MAX_HISTORY_MESSAGES,
};
use crate::rolling_summary::{RollingSummary, MAX_UNFOLDED_TURNS};
use crate::time::{Span, Timestamp};

/// The tenant's conversation knobs; `None` means the in-code default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConversationConfig {
    /// Minutes of customer silence after which a new conversation starts (5..=1440).
    #[serde(default)]
    pub idle_gap_mins: Option<u32>,
    /// Minutes of holding pattern after a handoff (5..=1440, less than the idle gap).
    #[serde(default)]
    pub handoff_cooldown_mins: Option<u32>,
    /// Turns of history kept (1..=200); the model sees at most this many turns, the new
    /// message included.
    #[serde(default)]
    pub max_history_messages: Option<u32>,
}

/// A field-level validation error, for forms and 422 responses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field's name.
    pub field: String,
    /// What is wrong, in words for the tenant.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl ConversationConfig {
    /// The idle gap in minutes, resolved.
    pub fn idle_gap_mins(&self) -> u32 {
        self.idle_gap_mins
            .unwrap_or(DEFAULT_CONVERSATION_IDLE_GAP_MINS)
    }
    /// The handoff cooldown in minutes, resolved.
    pub fn handoff_cooldown_mins(&self) -> u32 {
        self.handoff_cooldown_mins
            .unwrap_or(DEFAULT_HANDOFF_COOLDOWN_MINS)
    }
    /// The history cap, resolved.
    pub fn max_history(&self) -> usize {
        self.max_history_messages
            .unwrap_or(DEFAULT_MAX_HISTORY_MESSAGES) as usize
    }
    /// The most turns a session holds: the cap, plus the turns past it that wait for the
    /// summarizer ([`MAX_UNFOLDED_TURNS`]) when a fold failed.
    pub fn history_bound(&self) -> usize {
        self.max_history() + MAX_UNFOLDED_TURNS
    }
    /// The idle gap as a span.
    pub fn idle_gap(&self) -> Span {
        Span::minutes(i64::from(self.idle_gap_mins()))
    }
    /// The cooldown as a span.
    pub fn handoff_cooldown(&self) -> Span {
        Span::minutes(i64::from(self.handoff_cooldown_mins()))
    }

    /// Checks the bounds and the cross-field invariant (idle gap > cooldown, on resolved values).
    ///
    /// # Errors
    /// Every problem, one [`FieldError`] each.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut range = |field: &str, value: Option<u32>, lo: u32, hi: u32, unit: &str| {
            if let Some(v) = value {
                if !(lo..=hi).contains(&v) {
                    errors.push(FieldError::new(
                        field,
                        format!("must be between {lo} and {hi} {unit}, got {v}"),
                    ));
                    return false;
                }
            }
            true
        };
        let gap_ok = range("idle_gap_mins", self.idle_gap_mins, 5, 1440, "minutes");
        let cool_ok = range(
            "handoff_cooldown_mins",
            self.handoff_cooldown_mins,
            5,
            1440,
            "minutes",
        );
        range(
            "max_history_messages",
            self.max_history_messages,
            1,
            200,
            "turns",
        );
        if gap_ok && cool_ok && self.idle_gap_mins() <= self.handoff_cooldown_mins() {
            errors.push(FieldError::new(
                "idle_gap_mins",
                format!(
                    "must be longer than the handoff cooldown ({} minutes), got {}",
                    self.handoff_cooldown_mins(),
                    self.idle_gap_mins()
                ),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Who said a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The customer.
    User,
    /// Concierge (after the reply was sent).
    Assistant,
}

/// One turn of history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl Turn {
    /// A customer turn.
    pub fn user(content: impl Into<String>) -> Self {
        Turn {
            role: Role::User,
            content: content.into(),
        }
    }
    /// An assistant turn.
    pub fn assistant(content: impl Into<String>) -> Self {
        Turn {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// The handoff sub-record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffState {
    /// When the model asked for a human.
    pub since: Timestamp,
}

/// Where a conversation stands with respect to a handoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffPhase {
    /// No handoff: the persona answers.
    None,
    /// Within the cooldown: the holding pattern answers.
    Holding,
    /// Past the cooldown: silence until the idle gap starts a new conversation.
    Silent,
}

/// A customer's conversation session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The current conversation's id.
    pub(crate) conversation_id: ConversationId,
    /// When the current conversation started.
    pub(crate) started_at: Timestamp,
    /// When the customer last wrote (opens the 24-hour window on Meta channels).
    pub(crate) last_inbound_at: Timestamp,
    /// Recent turns, oldest first, at most the configured cap.
    #[serde(default)]
    pub(crate) history: Vec<Turn>,
    /// Set after a `[[HANDOFF]]`.
    #[serde(default)]
    pub(crate) handoff: Option<HandoffState>,
    /// Messages waiting for the reply buffer to fire.
    #[serde(default)]
    pub(crate) buffer: ReplyBuffer,
    /// The turns of this conversation older than the history, folded by the fast model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) summary: Option<RollingSummary>,
}

/// What [`Session::observe_inbound`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The first message from this customer.
    Started,
    /// Within the idle gap: same conversation.
    Continued,
    /// Past the idle gap: a new conversation replaced `previous`.
    Rotated {
        /// The conversation that ended.
        previous: ConversationId,
    },
}

impl Session {
    /// A new session whose conversation starts at `now`.
    pub(crate) fn start(key: &ConversationKey, now: Timestamp) -> Self {
        Session {
            conversation_id: ConversationId::derive(key, now),
            started_at: now,
            last_inbound_at: now,
            history: Vec::new(),
            handoff: None,
            buffer: ReplyBuffer::default(),
            summary: None,
        }
    }

    /// Records an inbound message at `now` on an existing session (or `None` for a new
    /// customer), rotating to a new conversation when the idle gap has passed.
    pub(crate) fn observe_inbound(
        existing: Option<Session>,
        key: &ConversationKey,
        now: Timestamp,
        config: &ConversationConfig,
    ) -> (Session, Rotation) {
        match existing {
            None => (Session::start(key, now), Rotation::Started),
            Some(mut s) if now.since(s.last_inbound_at) > config.idle_gap() => {
                let previous = s.conversation_id.clone();
                let buffer = std::mem::take(&mut s.buffer);
                let mut fresh = Session::start(key, now);
                fresh.buffer = buffer;
                (fresh, Rotation::Rotated { previous })
            }
            Some(mut s) => {
                s.last_inbound_at = s.last_inbound_at.max(now);
                (s, Rotation::Continued)
            }
        }
    }

    /// Appends a turn, dropping the oldest turns beyond `bound` (callers pass
    /// [`ConversationConfig::history_bound`], so turns waiting for a fold survive).
    pub(crate) fn push_turn(&mut self, turn: Turn, bound: usize) {
        self.history.push(turn);
        self.trim_history(bound);
    }

    /// Drops the oldest turns beyond `max`, unsummarized (the conversation has no summary to
    /// fold them into, or too many are waiting).
    pub(crate) fn trim_history(&mut self, max: usize) {
        if self.history.len() > max {
            let excess = self.history.len() - max;
            self.history.drain(..excess);
        }
    }

    /// The turns the reply model reads: the newest `cap` of the history.
    pub(crate) fn window(&self, cap: usize) -> &[Turn] {
        &self.history[self.history.len().saturating_sub(cap)..]
    }

    /// Replaces the summary with `text`, which covers the summary so far and the oldest
    /// `folded` turns of the history, and removes those turns from the history.
    pub(crate) fn fold(&mut self, folded: usize, text: String, now: Timestamp) {
        let folded = folded.min(self.history.len());
        self.history.drain(..folded);
        let before = self.summary.as_ref().map_or(0, |s| s.turns);
        self.summary = Some(RollingSummary {
            text,
            turns: before.saturating_add(u32::try_from(folded).unwrap_or(u32::MAX)),
            updated_at: now,
        });
    }

    /// The current conversation's id.
    pub fn conversation_id(&self) -> &ConversationId {
        &self.conversation_id
    }

    /// When the current conversation started.
    pub fn started_at(&self) -> Timestamp {
        self.started_at
    }

    /// When the customer last wrote (opens the 24-hour window on Meta channels).
    pub fn last_inbound_at(&self) -> Timestamp {
        self.last_inbound_at
    }

    /// Recent turns, oldest first, at most the configured cap.
    pub fn history(&self) -> &[Turn] {
        &self.history
    }

    /// The summary of this conversation's turns older than the history, once it outgrew the
    /// cap.
    pub fn summary(&self) -> Option<&RollingSummary> {
        self.summary.as_ref()
    }

    /// The handoff, when `[[HANDOFF]]` was seen in this conversation.
    pub fn handoff(&self) -> Option<&HandoffState> {
        self.handoff.as_ref()
    }

    /// Messages waiting for the reply buffer to fire.
    pub fn buffer(&self) -> &ReplyBuffer {
        &self.buffer
    }

    /// The handoff phase at `now`.
    pub fn handoff_phase(&self, now: Timestamp, config: &ConversationConfig) -> HandoffPhase {
        match &self.handoff {
            None => HandoffPhase::None,
            Some(h) if now.since(h.since) < config.handoff_cooldown() => HandoffPhase::Holding,
            Some(_) => HandoffPhase::Silent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Channel, TenantId};
    use proptest::prelude::*;

    fn key() -> ConversationKey {
        ConversationKey::new(TenantId::parse("t").unwrap(), Channel::WhatsApp, "15551234")
    }

    #[test]
    fn bounds_are_checked_field_by_field() {
        let bad = ConversationConfig {
            idle_gap_mins: Some(4),
            handoff_cooldown_mins: Some(2000),
            max_history_messages: Some(0),
        };
        let fields: Vec<String> = bad
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "idle_gap_mins",
                "handoff_cooldown_mins",
                "max_history_messages"
            ]
        );
        assert!(ConversationConfig::default().validate().is_ok());
    }

    #[test]
    fn the_idle_gap_must_exceed_the_cooldown() {
        let c = ConversationConfig {
            idle_gap_mins: Some(60),
            handoff_cooldown_mins: Some(60),
            max_history_messages: None,
        };
        assert_eq!(c.validate().unwrap_err()[0].field, "idle_gap_mins");
        let c = ConversationConfig {
            idle_gap_mins: Some(30),
            ..Default::default()
        };
        assert!(c.validate().is_err(), "30 < default cooldown of 60");
    }

    #[test]
    fn idle_gap_rotates_the_conversation() {
        let cfg = ConversationConfig::default();
        let (mut s, r) = Session::observe_inbound(None, &key(), Timestamp(0), &cfg);
        assert_eq!(r, Rotation::Started);
        s.push_turn(Turn::user("hi"), 20);
        s.handoff = Some(HandoffState {
            since: Timestamp(0),
        });
        let first = s.conversation_id.clone();
        let (s, r) = Session::observe_inbound(Some(s), &key(), Timestamp(0) + Span::hours(5), &cfg);
        assert_eq!(r, Rotation::Continued);
        let later = s.last_inbound_at + Span::hours(6) + Span::millis(1);
        let (s, r) = Session::observe_inbound(Some(s), &key(), later, &cfg);
        assert_eq!(
            r,
            Rotation::Rotated {
                previous: first.clone()
            }
        );
        assert_ne!(s.conversation_id, first);
        assert!(s.history.is_empty() && s.handoff.is_none());
    }

    #[test]
    fn rotation_drops_the_summary_with_the_history() {
        let cfg = ConversationConfig::default();
        let (mut s, _) = Session::observe_inbound(None, &key(), Timestamp(0), &cfg);
        for i in 0..4 {
            s.push_turn(Turn::user(i.to_string()), cfg.history_bound());
        }
        s.fold(3, "Asked about cakes.".into(), Timestamp(0));
        assert_eq!(s.history.len(), 1);
        assert_eq!(s.summary().map(|s| s.turns), Some(3));
        s.fold(1, "Asked about cakes, twice.".into(), Timestamp(1));
        assert_eq!(
            s.summary().map(|s| s.turns),
            Some(4),
            "the count accumulates"
        );
        let (same, _) = Session::observe_inbound(Some(s.clone()), &key(), Timestamp(1), &cfg);
        assert!(
            same.summary().is_some(),
            "the summary lasts within the idle gap"
        );
        let later = Timestamp(0) + cfg.idle_gap() + Span::millis(1);
        let (fresh, r) = Session::observe_inbound(Some(s), &key(), later, &cfg);
        assert!(matches!(r, Rotation::Rotated { .. }));
        assert_eq!(fresh.summary(), None);
    }

    #[test]
    fn a_session_without_a_summary_is_stored_as_before() {
        let s = Session::start(&key(), Timestamp(0));
        let doc = serde_json::to_string(&s).unwrap();
        assert!(!doc.contains("summary"), "{doc}");
        let back: Session = serde_json::from_str(&doc).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn handoff_holds_for_the_cooldown_then_goes_silent() {
        let cfg = ConversationConfig::default();
        let mut s = Session::start(&key(), Timestamp(0));
        assert_eq!(s.handoff_phase(Timestamp(0), &cfg), HandoffPhase::None);
        s.handoff = Some(HandoffState {
            since: Timestamp(0),
        });
        assert_eq!(
            s.handoff_phase(Timestamp(0) + Span::minutes(59), &cfg),
            HandoffPhase::Holding
        );
        assert_eq!(
            s.handoff_phase(Timestamp(0) + Span::minutes(60), &cfg),
            HandoffPhase::Silent
        );
    }

    proptest! {
        #[test]
        fn history_never_exceeds_the_cap(cap in 1usize..30, n in 0usize..100) {
            let mut s = Session::start(&key(), Timestamp(0));
            for i in 0..n {
                s.push_turn(Turn::user(i.to_string()), cap);
                prop_assert!(s.history.len() <= cap);
            }
            if n > 0 {
                prop_assert_eq!(&s.history.last().unwrap().content, &(n - 1).to_string());
            }
        }
    }
}
