//! The reply buffer: a pure sliding-window state machine.
//!
//! WhatsApp has no history API, so a burst of messages ("hi" / "do you have" / "cakes?") must
//! be collected as it arrives. Each [`push`](ReplyBuffer::push) appends the message and moves
//! the deadline to `now + wait`; [`fire`](ReplyBuffer::fire) at or after the deadline drains
//! the whole batch for one turn. Bodies live here only for the window, then leave with the
//! batch. Call order: `push`* then `fire`; a `fire` before the deadline returns `None` and
//! changes nothing (a later scheduled fire will drain it).

use serde::{Deserialize, Serialize};

use crate::channels::ReplyRoute;
use crate::ids::ChannelAccount;
use crate::time::{Span, Timestamp};

/// A message waiting in the buffer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufferedMessage {
    /// The provider id (idempotency key part).
    pub provider_id: String,
    /// The text to answer.
    pub text: String,
    /// When it arrived.
    pub received_at: Timestamp,
    /// The business account it arrived on.
    pub account: ChannelAccount,
    /// Where a reply to it goes.
    pub route: ReplyRoute,
}

/// The buffer's state; kept with the conversation session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReplyBuffer {
    /// Messages waiting, in arrival order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<BufferedMessage>,
    /// When the batch is due; `None` when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
}

impl ReplyBuffer {
    /// Appends a message and re-arms the deadline to `now + wait`. Returns the new deadline.
    ///
    /// A message whose provider id is already waiting is not added twice.
    pub fn push(&mut self, message: BufferedMessage, now: Timestamp, wait: Span) -> Timestamp {
        if !self
            .pending
            .iter()
            .any(|m| m.provider_id == message.provider_id)
        {
            self.pending.push(message);
        }
        let deadline = now + wait;
        self.deadline = Some(deadline);
        deadline
    }

    /// Drains the batch if the deadline has passed; otherwise `None` and no change.
    pub fn fire(&mut self, now: Timestamp) -> Option<Vec<BufferedMessage>> {
        match self.deadline {
            Some(deadline) if now >= deadline && !self.pending.is_empty() => {
                self.deadline = None;
                Some(std::mem::take(&mut self.pending))
            }
            _ => None,
        }
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, at: i64) -> BufferedMessage {
        BufferedMessage {
            provider_id: id.into(),
            text: id.into(),
            received_at: Timestamp(at),
            account: ChannelAccount::WhatsAppPhone("1".into()),
            route: ReplyRoute::Direct,
        }
    }

    #[test]
    fn a_burst_collapses_into_one_fire_after_the_last_push() {
        let mut b = ReplyBuffer::default();
        let wait = Span::seconds(5);
        b.push(msg("a", 0), Timestamp(0), wait);
        b.push(msg("b", 3_000), Timestamp(3_000), wait);
        assert_eq!(
            b.fire(Timestamp(5_000)),
            None,
            "the second push re-armed the deadline"
        );
        let batch = b.fire(Timestamp(8_000)).unwrap();
        assert_eq!(
            batch
                .iter()
                .map(|m| m.provider_id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
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
        b.push(msg("a", 0), Timestamp(0), Span::seconds(1));
        b.push(msg("a", 0), Timestamp(10), Span::seconds(1));
        assert_eq!(b.fire(Timestamp(2_000)).unwrap().len(), 1);
    }
}
