//! The reply buffer: a pure sliding-window state machine.
//!
//! WhatsApp has no history API, so a burst of messages ("hi" / "do you have" / "cakes?") must
//! be collected as it arrives. Time here is each message's **acknowledgement time**
//! ([`BufferedMessage::received_at`]: when the adapter durably accepted it, or when the engine
//! first saw it if the adapter does not say), never the time a worker happened to process it.
//! So a backlog or a restart between the two does not change what is batched:
//!
//! - [`push`](ReplyBuffer::push) adds a message and moves the deadline to its acknowledgement
//!   time plus the wait (the latest such time wins: the window slides with the last message);
//! - messages acknowledged less than the wait apart therefore form one batch and get one reply;
//! - a message acknowledged at or after the waiting batch's deadline belongs to the next batch:
//!   `push` first *closes* the waiting batch and hands it back, to be answered on its own, even
//!   when both are processed late and back to back;
//! - [`fire`](ReplyBuffer::fire) at or after the deadline drains the batch for one turn; before
//!   it, `fire` returns `None` and changes nothing (a later scheduled fire drains it).
//!
//! Bodies live here only for the window, then leave with the batch. The provider ids of the
//! most recently answered messages are remembered ([`ReplyBuffer::answered`]), so a job retried
//! after its message was already answered (the adapter ran the flush before the retry) does not
//! buffer it again and cause a second reply.

use serde::{Deserialize, Serialize};

use crate::channels::ReplyRoute;
use crate::ids::ChannelAccount;
use crate::time::{Span, Timestamp};

/// How many answered provider ids a buffer remembers at least (the whole last batch is always
/// kept, however large).
pub const ANSWERED_MEMORY: usize = 32;

/// A message waiting in the buffer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufferedMessage {
    /// The provider id (idempotency key part).
    pub provider_id: String,
    /// The text to answer.
    pub text: String,
    /// When it arrived: the adapter's acknowledgement time
    /// ([`InboundMessage::acked_at`](crate::channels::InboundMessage::acked_at)), or when the
    /// engine processed it if the adapter gave none. The buffer window runs from it.
    pub received_at: Timestamp,
    /// The business account it arrived on.
    pub account: ChannelAccount,
    /// Where a reply to it goes.
    pub route: ReplyRoute,
}

/// The buffer's state; kept with the conversation session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReplyBuffer {
    /// Messages waiting, in the order they were pushed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<BufferedMessage>,
    /// When the batch is due: the latest acknowledgement time in it plus the wait; `None` when
    /// empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
    /// Provider ids of the messages most recently drained for an answer, newest batch first:
    /// the whole last batch plus older ids up to [`ANSWERED_MEMORY`]. Ids only, no bodies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answered: Vec<String>,
}

/// What [`ReplyBuffer::push`] did with a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Push {
    /// The message waits in the batch due at `deadline` (or already waited there: a
    /// redelivery changes nothing).
    Buffered {
        /// The batch that fell due at or before this message was acknowledged. The caller
        /// answers it first, on its own; it is no longer in the buffer.
        closed: Option<Vec<BufferedMessage>>,
        /// When the batch holding this message is due.
        deadline: Timestamp,
    },
    /// The message was already drained in an earlier batch (a retried job): nothing changed,
    /// and nothing must be answered again.
    AlreadyAnswered,
}

impl ReplyBuffer {
    /// Accepts a message acknowledged at `message.received_at`.
    ///
    /// A message already waiting, or already answered, changes nothing. Otherwise, if a batch is
    /// waiting whose deadline is at or before this message's acknowledgement time, that batch
    /// is closed (drained and returned in [`Push::Buffered::closed`]) and this message starts
    /// the next one; else it joins the waiting batch. The deadline becomes the latest
    /// acknowledgement time in the batch plus `wait`.
    pub fn push(&mut self, message: BufferedMessage, wait: Span) -> Push {
        if self.answered.contains(&message.provider_id) {
            return Push::AlreadyAnswered;
        }
        let at = message.received_at;
        if self
            .pending
            .iter()
            .any(|m| m.provider_id == message.provider_id)
        {
            return Push::Buffered {
                closed: None,
                deadline: self.deadline.unwrap_or(at + wait),
            };
        }
        let closed = match self.deadline {
            Some(deadline) if deadline <= at && !self.pending.is_empty() => Some(self.drain()),
            _ => None,
        };
        let deadline = match self.deadline {
            Some(current) if !self.pending.is_empty() => current.max(at + wait),
            _ => at + wait,
        };
        self.pending.push(message);
        self.deadline = Some(deadline);
        Push::Buffered { closed, deadline }
    }

    /// Drains the batch if the deadline has passed at `now`; otherwise `None` and no change.
    pub fn fire(&mut self, now: Timestamp) -> Option<Vec<BufferedMessage>> {
        match self.deadline {
            Some(deadline) if now >= deadline && !self.pending.is_empty() => Some(self.drain()),
            _ => None,
        }
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Takes the waiting batch out and remembers its ids as answered.
    fn drain(&mut self) -> Vec<BufferedMessage> {
        self.deadline = None;
        let batch = std::mem::take(&mut self.pending);
        let keep = ANSWERED_MEMORY.max(batch.len());
        let mut answered: Vec<String> = batch.iter().map(|m| m.provider_id.clone()).collect();
        answered.extend(
            std::mem::take(&mut self.answered)
                .into_iter()
                .take(keep.saturating_sub(batch.len())),
        );
        self.answered = answered;
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn msg(id: &str, at: i64) -> BufferedMessage {
        BufferedMessage {
            provider_id: id.into(),
            text: id.into(),
            received_at: Timestamp(at),
            account: ChannelAccount::WhatsAppPhone("1".into()),
            route: ReplyRoute::Direct,
        }
    }

    fn ids(batch: &[BufferedMessage]) -> Vec<&str> {
        batch.iter().map(|m| m.provider_id.as_str()).collect()
    }

    fn deadline(push: &Push) -> Timestamp {
        match push {
            Push::Buffered { deadline, .. } => *deadline,
            Push::AlreadyAnswered => panic!("expected the message to be buffered"),
        }
    }

    #[test]
    fn a_burst_collapses_into_one_fire_after_the_last_push() {
        let mut b = ReplyBuffer::default();
        let wait = Span::seconds(5);
        b.push(msg("a", 0), wait);
        let pushed = b.push(msg("b", 3_000), wait);
        assert_eq!(
            pushed,
            Push::Buffered {
                closed: None,
                deadline: Timestamp(8_000)
            }
        );
        assert_eq!(
            b.fire(Timestamp(5_000)),
            None,
            "the second push re-armed the deadline"
        );
        let batch = b.fire(Timestamp(8_000)).unwrap();
        assert_eq!(ids(&batch), ["a", "b"]);
        assert!(b.is_empty());
        assert_eq!(
            b.fire(Timestamp(9_000)),
            None,
            "a second fire finds nothing"
        );
    }

    #[test]
    fn a_redelivered_message_is_buffered_once() {
        let mut b = ReplyBuffer::default();
        b.push(msg("a", 0), Span::seconds(1));
        b.push(msg("a", 10), Span::seconds(1));
        assert_eq!(b.fire(Timestamp(2_000)).unwrap().len(), 1);
    }

    #[test]
    fn a_message_acknowledged_after_the_deadline_closes_the_batch_first() {
        let mut b = ReplyBuffer::default();
        let wait = Span::seconds(5);
        b.push(msg("a", 0), wait);
        b.push(msg("b", 1_000), wait);
        // Processed a minute late, but acknowledged 30 s after "b": a new batch.
        let Push::Buffered { closed, deadline } = b.push(msg("c", 31_000), wait) else {
            panic!("buffered")
        };
        assert_eq!(ids(&closed.unwrap()), ["a", "b"]);
        assert_eq!(deadline, Timestamp(36_000));
        assert_eq!(ids(&b.pending), ["c"]);
    }

    #[test]
    fn the_deadline_is_the_latest_acknowledgement_plus_the_wait() {
        let mut b = ReplyBuffer::default();
        let wait = Span::seconds(5);
        b.push(msg("late", 4_000), wait);
        // An earlier-acknowledged message processed after it does not pull the deadline back.
        assert_eq!(
            deadline(&b.push(msg("early", 1_000), wait)),
            Timestamp(9_000)
        );
    }

    #[test]
    fn a_retried_message_that_was_already_answered_is_not_buffered_again() {
        let mut b = ReplyBuffer::default();
        let wait = Span::seconds(5);
        b.push(msg("a", 0), wait);
        b.push(msg("b", 1_000), wait);
        b.fire(Timestamp(60_000)).unwrap();
        assert_eq!(b.push(msg("a", 0), wait), Push::AlreadyAnswered);
        assert!(b.is_empty());
        assert_eq!(b.deadline, None);
    }

    #[test]
    fn the_whole_last_batch_is_remembered_however_large() {
        let mut b = ReplyBuffer::default();
        let wait = Span::seconds(5);
        for i in 0..10 {
            b.push(msg(&format!("old{i}"), i), wait);
        }
        b.fire(Timestamp(60_000)).unwrap();
        for i in 0..50 {
            b.push(msg(&format!("m{i}"), 100_000 + i), wait);
        }
        b.fire(Timestamp(200_000)).unwrap();
        assert_eq!(b.answered.len(), 50);
        assert_eq!(b.push(msg("m0", 100_000), wait), Push::AlreadyAnswered);
        assert!(
            matches!(b.push(msg("old0", 0), wait), Push::Buffered { .. }),
            "beyond the memory an id is forgotten"
        );
    }

    proptest! {
        /// Whatever order the messages are processed in, and whenever the buffer is fired,
        /// batches are exactly the runs of acknowledgement times less than the wait apart
        /// (when messages are pushed in acknowledgement order).
        #[test]
        fn batches_are_runs_of_acks_closer_than_the_wait(
            gaps in proptest::collection::vec(0i64..12_000, 1..30),
            wait_ms in 1i64..10_000,
            fire_lag in proptest::collection::vec(proptest::option::of(0i64..20_000), 30),
        ) {
            let wait = Span::millis(wait_ms);
            let mut acks = Vec::new();
            let mut t = 0;
            for g in &gaps {
                t += g;
                acks.push(t);
            }
            // The oracle: split wherever the gap is at least the wait.
            let mut expected: Vec<Vec<String>> = Vec::new();
            for (i, at) in acks.iter().enumerate() {
                let id = format!("m{i}");
                match (i, expected.last_mut()) {
                    (i, Some(batch)) if at - acks[i - 1] < wait_ms => batch.push(id),
                    _ => expected.push(vec![id]),
                }
            }
            let mut b = ReplyBuffer::default();
            let mut got: Vec<Vec<String>> = Vec::new();
            let collect = |batch: Vec<BufferedMessage>, got: &mut Vec<Vec<String>>| {
                got.push(batch.into_iter().map(|m| m.provider_id).collect());
            };
            for (i, at) in acks.iter().enumerate() {
                if let Push::Buffered { closed: Some(batch), .. } =
                    b.push(msg(&format!("m{i}"), *at), wait)
                {
                    collect(batch, &mut got);
                }
                // The flush job may run before the next message only if it fell due by the
                // time that message was acknowledged (an adapter runs a conversation's work in
                // that order); it then runs at its deadline or any time later. Or it runs
                // only after the next message (`None`: the message closes the batch itself).
                if let (Some(lag), Some(deadline)) = (fire_lag[i], b.deadline) {
                    let next = acks.get(i + 1).copied().unwrap_or(i64::MAX);
                    if deadline.as_millis() <= next {
                        let batch = b.fire(Timestamp(deadline.as_millis() + lag));
                        prop_assert!(batch.is_some(), "a due batch fires");
                        if let Some(batch) = batch {
                            collect(batch, &mut got);
                        }
                    }
                }
            }
            if let Some(batch) = b.fire(Timestamp(i64::MAX / 2)) {
                collect(batch, &mut got);
            }
            prop_assert_eq!(got, expected);
        }
    }
}
