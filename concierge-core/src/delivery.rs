//! Delivering one outbox message, part by part: what to send next, what a platform's receipt
//! settles, when to wait and when to send again. A pure state machine; adapters do the I/O.
//!
//! A message may go out as several requests (a long text split into parts). Its outbox row
//! records how many parts were delivered and their provider ids ([`Progress`]), so a retry
//! resumes at the first undelivered part and never sends part 1 again because part 2 failed.
//!
//! **In doubt.** Where the platform lets a sender find out later whether a request arrived
//! ([`Reconciliation::Receipts`]: WhatsApp echoes each request's `biz_opaque_callback_data`
//! in its status webhooks), the row marks a part *in doubt* before the request is made (a
//! write-ahead, [`Record::InDoubt`]) and the outcome clears the mark. A mark found by the next
//! attempt means the last attempt's outcome is unknown — the process was killed between the
//! platform's 2xx and the record, or a network error came after the request may have been
//! written. That part is reconciled, not repeated blindly:
//!
//! - a [`Receipt`] that proves delivery ([`DeliveryState::proves_delivery`]) settles the part
//!   with the receipt's provider id: it is never sent again ([`Next::Settled`]);
//! - a `failed` receipt means it did not arrive: it is sent again at once, after the adapter
//!   forgets that receipt so the resend's own reports are not hidden by it
//!   ([`SendPart::forget_receipt`]);
//! - without a receipt, the adapter waits ([`Next::Defer`]) until the reconciliation window
//!   after the in-doubt attempt has passed, and only then sends it again: at least once,
//!   never zero.
//!
//! Receipts of one part are kept as the strongest report so far ([`DeliveryState::rank`]):
//! webhooks arrive out of order, and a late `sent` must not undo a `read`, nor hide a
//! `failed`.
//!
//! The adapter's loop, which both the server's outbox worker and the Worker run:
//!
//! ```
//! use concierge_core::delivery::{Delivery, Next, Progress, Reconciliation, Record};
//! use concierge_core::time::{Span, Timestamp};
//!
//! let mut delivery = Delivery::new(
//!     concierge_core::delivery::OutboxState::Pending,
//!     Progress::default(),
//!     2,
//!     Reconciliation::Receipts,
//! );
//! let now = Timestamp::from_millis(1_000);
//! let mut requests = 0;
//! let ids = loop {
//!     // Look up the receipt of the part `receipt_wanted` names, if it names one.
//!     assert_eq!(delivery.receipt_wanted(), None);
//!     match delivery.next(None, now, Span::seconds(60)) {
//!         Next::Send(send) => {
//!             let _persist: Record = delivery.attempt(send.part, now); // before the request
//!             requests += 1; // the request, which the platform accepts
//!             let _persist = delivery.delivered(send.part, format!("wamid.{}", send.part));
//!         }
//!         Next::Complete { provider_ids } => break provider_ids, // mark the row sent
//!         other => unreachable!("{other:?}"),
//!     }
//! };
//! assert_eq!((requests, ids), (2, vec!["wamid.0".to_owned(), "wamid.1".to_owned()]));
//! ```

use serde::{Deserialize, Serialize};

use crate::channels::{whatsapp, DeliveryState, DeliveryStatus};
use crate::ids::Channel;
use crate::time::{Span, Timestamp};

/// A stored state name that is none of the known ones (a corrupt row, or one written by a
/// newer version).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} state `{name}`")]
pub struct UnknownState {
    /// Which kind of state (`outbox`, `delivery`).
    pub kind: &'static str,
    /// The name found.
    pub name: String,
}

impl UnknownState {
    /// An unknown `name` of a `kind` of state.
    pub fn new(kind: &'static str, name: &str) -> Self {
        UnknownState {
            kind,
            name: name.to_owned(),
        }
    }
}

/// Where an outbox row stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Not every part is delivered yet; a send job will deliver the rest.
    Pending,
    /// Every part is delivered (or, in dry-run mode, recorded): never sent again.
    Sent,
    /// The send job was dead-lettered; an operator's retry makes the row pending again.
    Dead,
}

impl OutboxState {
    /// Every state.
    pub const ALL: [OutboxState; 3] = [OutboxState::Pending, OutboxState::Sent, OutboxState::Dead];

    /// The stored name: `pending`, `sent` or `dead`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sent => "sent",
            OutboxState::Dead => "dead",
        }
    }
}

impl std::fmt::Display for OutboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for OutboxState {
    type Err = UnknownState;

    /// The state named by [`OutboxState::as_str`].
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        OutboxState::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| UnknownState::new("outbox", name))
    }
}

impl DeliveryState {
    /// How strongly a report proves delivery, for receipt precedence: a report replaces the
    /// recorded one only if its rank is higher. `sent` (1) < `failed` (2) < `delivered`,
    /// `read`, `deleted` (3) — a `failed` after `sent` means it never arrived, and a late
    /// `sent` must not hide that; anything past the device outranks both. Stores keep the
    /// rank next to the state so the comparison runs inside one upsert.
    pub const fn rank(self) -> i64 {
        match self {
            DeliveryState::Sent => 1,
            DeliveryState::Failed => 2,
            DeliveryState::Delivered | DeliveryState::Read | DeliveryState::Deleted => 3,
        }
    }

    /// Whether a receipt in this state means the platform accepted the part (every state but
    /// `failed`): it must not be sent again.
    pub const fn proves_delivery(self) -> bool {
        !matches!(self, DeliveryState::Failed)
    }
}

/// What a platform reported about one part we sent: the strongest report so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The platform's id of the message (the wamid).
    pub provider_id: String,
    /// What it reported.
    pub state: DeliveryState,
}

impl Receipt {
    /// Whether the part arrived ([`DeliveryState::proves_delivery`]).
    pub fn delivered(&self) -> bool {
        self.state.proves_delivery()
    }

    /// Whether this report, arriving after `recorded`, replaces it: only a stronger one does
    /// (an equal rank keeps the first).
    pub fn replaces(&self, recorded: &Receipt) -> bool {
        self.state.rank() > recorded.state.rank()
    }

    /// The receipt to keep when `incoming` arrives after `recorded` (what a store's upsert
    /// does with [`DeliveryState::rank`]).
    pub fn merge(recorded: Option<Receipt>, incoming: Receipt) -> Receipt {
        match recorded {
            Some(recorded) if !incoming.replaces(&recorded) => recorded,
            _ => incoming,
        }
    }

    /// The receipt a status webhook carries, with the key to store it under (the callback
    /// data the send request carried, [`receipt_key`]): `None` for a status about a message
    /// Concierge did not send, or sent without callback data.
    pub fn from_status(status: &DeliveryStatus) -> Option<(&str, Receipt)> {
        let key = status
            .callback_data
            .as_deref()
            .filter(|d| whatsapp::is_callback_data(d))?;
        Some((
            key,
            Receipt {
                provider_id: status.provider_id.clone(),
                state: status.state,
            },
        ))
    }
}

/// The key under which the receipts of part `part` (0-based) of the outbox message `key` are
/// stored: the `biz_opaque_callback_data` its request carries ([`whatsapp::callback_data`]).
pub fn receipt_key(outbox_key: &str, part: usize) -> String {
    whatsapp::callback_data(outbox_key, part)
}

/// How a channel lets a sender settle a part whose send outcome is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reconciliation {
    /// The platform reports each request by the callback data it carried (WhatsApp): the part
    /// is marked in doubt ahead of the request and settled by its receipt, or sent again
    /// after the window without one. Exactly once, unless the report comes later than the
    /// window.
    Receipts,
    /// The platform recognises a resend itself (Discord's enforced nonce answers it with the
    /// message it already created): an unknown outcome is simply sent again.
    PlatformDeduplicates,
    /// No way to tell (Instagram, SMTP, web): an unknown outcome is sent again, so a part can
    /// arrive twice. At least once, never zero.
    AtLeastOnce,
}

impl Reconciliation {
    /// The mechanism `channel` offers.
    pub const fn for_channel(channel: Channel) -> Self {
        match channel {
            Channel::WhatsApp => Reconciliation::Receipts,
            Channel::Discord => Reconciliation::PlatformDeduplicates,
            Channel::Instagram | Channel::Email | Channel::Web => Reconciliation::AtLeastOnce,
        }
    }

    /// Whether a part is marked in doubt before its request ([`Record::InDoubt`]).
    pub const fn writes_ahead(self) -> bool {
        matches!(self, Reconciliation::Receipts)
    }
}

/// An attempt whose outcome is unknown: which part, and when the attempt began.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InDoubt {
    /// The part (0-based).
    pub part: usize,
    /// When the attempt began (the write-ahead).
    pub since: Timestamp,
}

/// How far a message's delivery got, as its outbox row records it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The provider ids of the parts delivered so far, in order; their count is the number of
    /// parts delivered, and the next part to send.
    provider_ids: Vec<String>,
    /// The next part's last attempt, if its outcome is unknown.
    in_doubt: Option<InDoubt>,
}

impl Progress {
    /// The progress a row records: `parts_sent` parts delivered, with `provider_ids` (padded
    /// with empty ids or cut to `parts_sent`: the count wins), and the in-doubt attempt. A
    /// mark on any part but the next one is stale (that part's outcome was recorded) and is
    /// dropped.
    pub fn new(
        parts_sent: usize,
        mut provider_ids: Vec<String>,
        in_doubt: Option<InDoubt>,
    ) -> Self {
        provider_ids.resize(parts_sent, String::new());
        Progress {
            in_doubt: in_doubt.filter(|d| d.part == parts_sent),
            provider_ids,
        }
    }

    /// How many parts were delivered (the next part to send).
    pub fn parts_sent(&self) -> usize {
        self.provider_ids.len()
    }

    /// The provider ids of the delivered parts, in order.
    pub fn provider_ids(&self) -> &[String] {
        &self.provider_ids
    }

    /// The next part's in-doubt attempt, if any.
    pub fn in_doubt(&self) -> Option<InDoubt> {
        self.in_doubt
    }
}

/// Why a part is sent although an earlier attempt may have delivered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resend {
    /// The platform reported the in-doubt attempt `failed`: sent again at once.
    ReportedFailed,
    /// No receipt came within the reconciliation window: sent again (it may arrive twice if
    /// the report is only late).
    NoReceipt,
    /// The channel has no receipts ([`Reconciliation::AtLeastOnce`] or
    /// [`Reconciliation::PlatformDeduplicates`]) and the last attempt's outcome is unknown.
    Unreconciled,
}

/// Send one part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SendPart {
    /// The part (0-based).
    pub part: usize,
    /// Why it is sent again, if an earlier attempt may have delivered it.
    pub resend: Option<Resend>,
}

impl SendPart {
    /// Whether the adapter must delete the part's stored receipt first (it reported a
    /// failure): the resend's own reports rank below `failed` and would be hidden by it, and
    /// a resend left in doubt would then be sent once more.
    pub fn forget_receipt(&self) -> bool {
        self.resend == Some(Resend::ReportedFailed)
    }
}

/// What to do next with a message ([`Delivery::next`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// The row is sent already: nothing to do, nothing to write.
    Done,
    /// Every part is delivered: record the row sent with these ids (one per part, in order).
    /// The last part's delivery is recorded by this, not by a [`Record`] of its own.
    Complete {
        /// The provider ids.
        provider_ids: Vec<String>,
    },
    /// A receipt proves that the in-doubt part arrived: do not send it; record it delivered
    /// with [`Delivery::delivered`]`(part, provider_id)`, then ask again.
    Settled {
        /// The part.
        part: usize,
        /// The platform's id of it, from the receipt.
        provider_id: String,
    },
    /// Send a part: [`Delivery::attempt`] first, then the request, then
    /// [`Delivery::delivered`] or [`Delivery::failed`].
    Send(SendPart),
    /// The part's last attempt is in doubt and no receipt tells whether it arrived: look again
    /// at `until` (the end of the reconciliation window). Not a failure.
    Defer {
        /// The part waiting for its receipt.
        part: usize,
        /// When to look again.
        until: Timestamp,
    },
}

/// What the adapter must write to the outbox row after a step, before anything else happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use = "the outbox row must record it"]
pub enum Record {
    /// Nothing.
    Nothing,
    /// The write-ahead: part `part` is in doubt from `since` (before its request is made).
    InDoubt {
        /// The part.
        part: usize,
        /// When the attempt began.
        since: Timestamp,
    },
    /// Part `part` was delivered: progress moves to `part + 1`, with
    /// [`Progress::provider_ids`], and no part is in doubt. Never moves progress backwards.
    Delivered {
        /// The part.
        part: usize,
    },
    /// The attempt at part `part` definitely did not deliver it (an HTTP status, or no
    /// connection made): clear its in-doubt mark, so the next attempt sends it at once.
    /// Unrecorded, the part merely stays in doubt: reconciled, not lost.
    NotInDoubt {
        /// The part.
        part: usize,
    },
}

/// How an attempt at a part failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The platform did not get it: an HTTP status, or no connection was made.
    Definite,
    /// The request may have been written before the failure (a timeout, a reset): its outcome
    /// is unknown.
    InDoubt,
}

/// One message's delivery: its row's state and progress, its number of parts and its
/// channel's [`Reconciliation`]. Ask [`next`](Self::next), do it, record what the step
/// returns, repeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    state: OutboxState,
    progress: Progress,
    parts: usize,
    reconciliation: Reconciliation,
}

impl Delivery {
    /// The delivery of a row in `state` with `progress`, of a message rendered into `parts`
    /// requests, on a channel with `reconciliation`. A [`OutboxState::Dead`] row is delivered
    /// like a pending one (its job runs only after an operator's retry).
    pub fn new(
        state: OutboxState,
        progress: Progress,
        parts: usize,
        reconciliation: Reconciliation,
    ) -> Self {
        Delivery {
            state,
            progress,
            parts,
            reconciliation,
        }
    }

    /// The progress so far (what the row records once every [`Record`] is applied).
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// The part whose receipt [`next`](Self::next) needs: the next part, when its last
    /// attempt is in doubt on a channel with receipts. Look it up under
    /// [`receipt_key`]`(outbox key, part)`.
    pub fn receipt_wanted(&self) -> Option<usize> {
        let part = self.progress.parts_sent();
        let in_doubt = self.progress.in_doubt?;
        (self.state != OutboxState::Sent
            && self.reconciliation == Reconciliation::Receipts
            && part < self.parts
            && in_doubt.part == part)
            .then_some(part)
    }

    /// What to do next, given the receipt of the part [`receipt_wanted`](Self::receipt_wanted)
    /// names (ignored otherwise), the time, and how long after an in-doubt attempt its receipt
    /// is waited for (`window`; zero or less sends it again at once unless a receipt is
    /// already there).
    pub fn next(&self, receipt: Option<&Receipt>, now: Timestamp, window: Span) -> Next {
        if self.state == OutboxState::Sent {
            return Next::Done;
        }
        let part = self.progress.parts_sent();
        if part >= self.parts {
            return Next::Complete {
                provider_ids: self.progress.provider_ids.clone(),
            };
        }
        let send = |resend| Next::Send(SendPart { part, resend });
        let Some(in_doubt) = self.progress.in_doubt else {
            return send(None);
        };
        if self.reconciliation != Reconciliation::Receipts {
            return send(Some(Resend::Unreconciled));
        }
        match receipt {
            Some(r) if r.delivered() => Next::Settled {
                part,
                provider_id: r.provider_id.clone(),
            },
            Some(_) => send(Some(Resend::ReportedFailed)),
            None => {
                let until = in_doubt.since + window.max(Span::ZERO);
                if now < until {
                    Next::Defer { part, until }
                } else {
                    send(Some(Resend::NoReceipt))
                }
            }
        }
    }

    /// An attempt at `part` begins at `now` (call it right before the request): on a channel
    /// with receipts the part is in doubt until its outcome is recorded.
    pub fn attempt(&mut self, part: usize, now: Timestamp) -> Record {
        if !self.reconciliation.writes_ahead() || part != self.progress.parts_sent() {
            return Record::Nothing;
        }
        self.progress.in_doubt = Some(InDoubt { part, since: now });
        Record::InDoubt { part, since: now }
    }

    /// `part` was delivered with `provider_id` (the platform's answer, or a receipt). The last
    /// part is recorded by [`Next::Complete`], which follows.
    pub fn delivered(&mut self, part: usize, provider_id: String) -> Record {
        if part != self.progress.parts_sent() || part >= self.parts {
            debug_assert!(false, "delivered part {part} out of order");
            return Record::Nothing;
        }
        self.progress.provider_ids.push(provider_id);
        self.progress.in_doubt = None;
        if part + 1 == self.parts {
            Record::Nothing
        } else {
            Record::Delivered { part }
        }
    }

    /// The attempt at `part` failed. A definite failure clears the in-doubt mark; an attempt
    /// in doubt keeps it, for the next attempt to reconcile.
    pub fn failed(&mut self, part: usize, failure: Failure) -> Record {
        match (failure, self.progress.in_doubt) {
            (Failure::Definite, Some(d)) if d.part == part => {
                self.progress.in_doubt = None;
                Record::NotInDoubt { part }
            }
            _ => Record::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::ids::ChannelAccount;

    const WINDOW: Span = Span::seconds(60);

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn receipt(id: &str, state: DeliveryState) -> Receipt {
        Receipt {
            provider_id: id.into(),
            state,
        }
    }

    fn in_doubt(parts_sent: usize, since: i64) -> Delivery {
        Delivery::new(
            OutboxState::Pending,
            Progress::new(
                parts_sent,
                vec!["wamid.0".into(); parts_sent],
                Some(InDoubt {
                    part: parts_sent,
                    since: t(since),
                }),
            ),
            3,
            Reconciliation::Receipts,
        )
    }

    #[test]
    fn states_round_trip_through_their_stored_names() {
        for s in OutboxState::ALL {
            assert_eq!(s.as_str().parse::<OutboxState>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in DeliveryState::ALL {
            assert_eq!(s.as_str().parse::<DeliveryState>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(
            "delivering".parse::<OutboxState>(),
            Err(UnknownState::new("outbox", "delivering"))
        );
        assert!("SENT".parse::<DeliveryState>().is_err());
    }

    #[test]
    fn ranks_are_the_stored_ones() {
        // The migrations document these numbers; rows written by earlier versions carry them.
        let ranks: Vec<i64> = DeliveryState::ALL.iter().map(|s| s.rank()).collect();
        assert_eq!(ranks, [1, 3, 3, 2, 3]);
        assert!(!DeliveryState::Failed.proves_delivery());
    }

    #[test]
    fn a_sent_row_is_done_and_an_empty_message_is_complete_at_once() {
        let sent = Delivery::new(
            OutboxState::Sent,
            Progress::default(),
            2,
            Reconciliation::Receipts,
        );
        assert_eq!(sent.next(None, t(0), WINDOW), Next::Done);
        let empty = Delivery::new(
            OutboxState::Pending,
            Progress::default(),
            0,
            Reconciliation::AtLeastOnce,
        );
        assert_eq!(
            empty.next(None, t(0), WINDOW),
            Next::Complete {
                provider_ids: vec![]
            }
        );
    }

    #[test]
    fn a_retry_resumes_at_the_first_undelivered_part() {
        let d = Delivery::new(
            OutboxState::Pending,
            Progress::new(1, vec!["wamid.0".into()], None),
            3,
            Reconciliation::Receipts,
        );
        assert_eq!(d.receipt_wanted(), None);
        assert_eq!(
            d.next(None, t(0), WINDOW),
            Next::Send(SendPart {
                part: 1,
                resend: None
            })
        );
        // A dead row an operator retried goes on the same way.
        let dead = Delivery::new(OutboxState::Dead, d.progress().clone(), 3, d.reconciliation);
        assert_eq!(dead.next(None, t(0), WINDOW), d.next(None, t(0), WINDOW));
    }

    #[test]
    fn an_in_doubt_part_is_settled_by_a_receipt_that_proves_delivery() {
        let d = in_doubt(1, 0);
        assert_eq!(d.receipt_wanted(), Some(1));
        for state in [
            DeliveryState::Sent,
            DeliveryState::Delivered,
            DeliveryState::Read,
        ] {
            assert_eq!(
                d.next(Some(&receipt("wamid.X", state)), t(0), WINDOW),
                Next::Settled {
                    part: 1,
                    provider_id: "wamid.X".into()
                }
            );
        }
    }

    #[test]
    fn an_in_doubt_part_reported_failed_is_sent_again_at_once_forgetting_the_failure() {
        let d = in_doubt(0, 0);
        let next = d.next(
            Some(&receipt("wamid.X", DeliveryState::Failed)),
            t(1),
            WINDOW,
        );
        let Next::Send(send) = next else {
            panic!("{next:?}")
        };
        assert_eq!(send.part, 0);
        assert!(send.forget_receipt());
    }

    #[test]
    fn without_a_receipt_an_in_doubt_part_waits_for_the_window() {
        let d = in_doubt(2, 10_000);
        assert_eq!(
            d.next(None, t(10_000), WINDOW),
            Next::Defer {
                part: 2,
                until: t(70_000)
            }
        );
        assert_eq!(
            d.next(None, t(69_999), WINDOW),
            Next::Defer {
                part: 2,
                until: t(70_000)
            }
        );
        let Next::Send(send) = d.next(None, t(70_000), WINDOW) else {
            panic!()
        };
        assert_eq!(
            (send.part, send.resend, send.forget_receipt()),
            (2, Some(Resend::NoReceipt), false)
        );
        // A zero window sends it again at once.
        assert!(matches!(d.next(None, t(10_000), Span::ZERO), Next::Send(_)));
    }

    #[test]
    fn channels_without_receipts_never_write_ahead_and_resend_an_unknown_outcome() {
        for r in [
            Reconciliation::AtLeastOnce,
            Reconciliation::PlatformDeduplicates,
        ] {
            let mut d = Delivery::new(OutboxState::Pending, Progress::default(), 2, r);
            assert_eq!(d.attempt(0, t(5)), Record::Nothing);
            assert_eq!(d.failed(0, Failure::InDoubt), Record::Nothing);
            // A mark left by an earlier version, say, is not waited on.
            let marked = Delivery::new(
                OutboxState::Pending,
                Progress::new(
                    0,
                    vec![],
                    Some(InDoubt {
                        part: 0,
                        since: t(5),
                    }),
                ),
                2,
                r,
            );
            assert_eq!(marked.receipt_wanted(), None);
            assert_eq!(
                marked.next(None, t(5), WINDOW),
                Next::Send(SendPart {
                    part: 0,
                    resend: Some(Resend::Unreconciled)
                })
            );
        }
        assert_eq!(
            Reconciliation::for_channel(Channel::WhatsApp),
            Reconciliation::Receipts
        );
        assert_eq!(
            Reconciliation::for_channel(Channel::Discord),
            Reconciliation::PlatformDeduplicates
        );
    }

    #[test]
    fn records_write_ahead_progress_and_clear_the_mark() {
        let mut d = Delivery::new(
            OutboxState::Pending,
            Progress::default(),
            2,
            Reconciliation::Receipts,
        );
        assert_eq!(
            d.attempt(0, t(7)),
            Record::InDoubt {
                part: 0,
                since: t(7)
            }
        );
        assert_eq!(d.receipt_wanted(), Some(0));
        assert_eq!(d.failed(0, Failure::InDoubt), Record::Nothing);
        assert_eq!(d.progress().in_doubt().map(|d| d.part), Some(0));
        assert_eq!(
            d.failed(0, Failure::Definite),
            Record::NotInDoubt { part: 0 }
        );
        assert_eq!(d.progress().in_doubt(), None);
        let _ = d.attempt(0, t(8));
        assert_eq!(d.delivered(0, "a".into()), Record::Delivered { part: 0 });
        assert_eq!(d.progress().in_doubt(), None);
        let _ = d.attempt(1, t(9));
        // The last part is recorded with the row's completion.
        assert_eq!(d.delivered(1, "b".into()), Record::Nothing);
        assert_eq!(
            d.next(None, t(9), WINDOW),
            Next::Complete {
                provider_ids: vec!["a".into(), "b".into()]
            }
        );
    }

    #[test]
    fn progress_trusts_the_count_and_drops_a_stale_mark() {
        let p = Progress::new(
            2,
            vec!["a".into()],
            Some(InDoubt {
                part: 1,
                since: t(1),
            }),
        );
        assert_eq!(p.provider_ids(), ["a".to_owned(), String::new()]);
        assert_eq!(p.in_doubt(), None);
        let p = Progress::new(1, vec!["a".into(), "b".into()], None);
        assert_eq!(p.provider_ids(), ["a".to_owned()]);
    }

    #[test]
    fn receipts_come_only_from_statuses_of_our_sends() {
        let ours = receipt_key("reply:turn", 1);
        let mut status = DeliveryStatus {
            channel: Channel::WhatsApp,
            account: ChannelAccount::WhatsAppPhone("1".into()),
            provider_id: "wamid.A".into(),
            recipient: "2".into(),
            state: DeliveryState::Read,
            at: None,
            error: None,
            callback_data: Some(ours.clone()),
        };
        assert_eq!(
            Receipt::from_status(&status),
            Some((ours.as_str(), receipt("wamid.A", DeliveryState::Read)))
        );
        status.callback_data = Some("campaign-42".into());
        assert_eq!(Receipt::from_status(&status), None);
        status.callback_data = None;
        assert_eq!(Receipt::from_status(&status), None);
    }

    fn state() -> impl Strategy<Value = DeliveryState> {
        proptest::sample::select(DeliveryState::ALL.to_vec())
    }

    proptest! {
        /// A receipt never loses to a weaker one, and the kept report is the strongest of all,
        /// whatever order the webhooks arrive in.
        #[test]
        fn a_receipt_never_loses_to_a_weaker_one(states in proptest::collection::vec(state(), 1..12)) {
            let mut kept: Option<Receipt> = None;
            for (i, s) in states.iter().enumerate() {
                let incoming = receipt(&format!("wamid.{i}"), *s);
                let before = kept.clone();
                let after = Receipt::merge(kept.take(), incoming.clone());
                if let Some(before) = &before {
                    prop_assert!(after.state.rank() >= before.state.rank());
                    if incoming.state.rank() <= before.state.rank() {
                        prop_assert_eq!(&after, before);
                    }
                }
                kept = Some(after);
            }
            let max = states.iter().map(|s| s.rank()).max().unwrap_or(0);
            let kept = kept.unwrap();
            prop_assert_eq!(kept.state.rank(), max);
            // The first report of the strongest rank is the one kept.
            let first = states.iter().position(|s| s.rank() == max).unwrap();
            prop_assert_eq!(kept.provider_id, format!("wamid.{first}"));
        }
    }

    /// What befalls one request in the simulation.
    #[derive(Clone, Copy, Debug)]
    enum Fault {
        /// The platform accepts it and answers.
        None,
        /// The platform refuses it (an HTTP status): definite.
        Refused,
        /// No connection: definite, nothing sent.
        NoConnection,
        /// Accepted, but the answer is lost (a timeout after the write): in doubt.
        AnswerLost,
        /// Timed out before the platform read it: in doubt, nothing sent.
        TimedOutUnsent,
        /// The process dies after the write-ahead, before the request.
        CrashBefore,
        /// The process dies after the platform accepted it, before the record.
        CrashAfter,
    }

    fn fault() -> impl Strategy<Value = Fault> {
        prop_oneof![
            3 => Just(Fault::None),
            1 => Just(Fault::Refused),
            1 => Just(Fault::NoConnection),
            1 => Just(Fault::AnswerLost),
            1 => Just(Fault::TimedOutUnsent),
            1 => Just(Fault::CrashBefore),
            1 => Just(Fault::CrashAfter),
        ]
    }

    /// How the platform reports an accepted request: after `delay` ms (or never), first `sent`
    /// then, if `fails`, `failed`, possibly in the other order.
    #[derive(Clone, Copy, Debug)]
    struct Report {
        delay: Option<i64>,
        fails: bool,
        reversed: bool,
    }

    fn report(timely: bool) -> impl Strategy<Value = Report> {
        let window = WINDOW.as_millis();
        let delay = if timely {
            (0..window).prop_map(Some).boxed()
        } else {
            proptest::option::of(0..3 * window).boxed()
        };
        (delay, proptest::bool::weighted(0.2), any::<bool>()).prop_map(
            |(delay, fails, reversed)| Report {
                delay,
                fails,
                reversed,
            },
        )
    }

    fn reconciliation() -> impl Strategy<Value = Reconciliation> {
        prop_oneof![
            Just(Reconciliation::Receipts),
            Just(Reconciliation::PlatformDeduplicates),
            Just(Reconciliation::AtLeastOnce),
        ]
    }

    /// The outbox row, the receipt table and the platform, driven by the adapter's loop.
    struct World {
        parts: usize,
        reconciliation: Reconciliation,
        now: Timestamp,
        // The row.
        state: OutboxState,
        parts_sent: usize,
        provider_ids: Vec<String>,
        in_doubt: Option<InDoubt>,
        // The receipt table, and the reports on their way.
        receipts: BTreeMap<usize, Receipt>,
        in_flight: Vec<(Timestamp, usize, Receipt)>,
        // What the platform accepted: per part, (provider id, failed at the platform).
        accepted: Vec<Vec<(String, bool)>>,
        faults: std::vec::IntoIter<Fault>,
        reports: std::vec::IntoIter<Report>,
    }

    /// How an attempt (one run of the send job) ended.
    enum Ended {
        Complete,
        Deferred(Timestamp),
        Failed,
        Crashed,
    }

    impl World {
        fn apply(&mut self, record: Record, progress: &Progress) {
            match record {
                Record::Nothing => {}
                Record::InDoubt { part, since } => self.in_doubt = Some(InDoubt { part, since }),
                Record::Delivered { part } => {
                    assert!(self.parts_sent <= part, "progress never moves back");
                    self.parts_sent = part + 1;
                    self.provider_ids = progress.provider_ids().to_vec();
                    self.in_doubt = None;
                }
                Record::NotInDoubt { part } => {
                    if self.in_doubt.map(|d| d.part) == Some(part) {
                        self.in_doubt = None;
                    }
                }
            }
        }

        fn arrive_reports(&mut self) {
            let now = self.now;
            let (due, later): (Vec<_>, Vec<_>) =
                self.in_flight.drain(..).partition(|(at, _, _)| *at <= now);
            self.in_flight = later;
            for (_, part, r) in due {
                let kept = Receipt::merge(self.receipts.remove(&part), r);
                self.receipts.insert(part, kept);
            }
        }

        fn accept(&mut self, part: usize) -> String {
            let id = format!("wamid.{part}.{}", self.accepted[part].len());
            let r = self.reports.next().unwrap_or(Report {
                delay: Some(0),
                fails: false,
                reversed: false,
            });
            self.accepted[part].push((id.clone(), r.fails));
            if let Some(delay) = r.delay {
                let mut states = vec![DeliveryState::Sent];
                if r.fails {
                    states.push(DeliveryState::Failed);
                }
                if r.reversed {
                    states.reverse();
                }
                for (i, s) in states.into_iter().enumerate() {
                    let at = self.now + Span::millis(delay + i64::try_from(i).unwrap());
                    self.in_flight.push((at, part, receipt(&id, s)));
                }
            }
            id
        }

        /// One run of the send job: the adapter's loop, with the row read afresh.
        fn attempt(&mut self) -> Ended {
            self.arrive_reports();
            let mut d = Delivery::new(
                self.state,
                Progress::new(self.parts_sent, self.provider_ids.clone(), self.in_doubt),
                self.parts,
                self.reconciliation,
            );
            loop {
                let wanted = d.receipt_wanted();
                let stored = wanted.and_then(|p| self.receipts.get(&p).cloned());
                let next = d.next(stored.as_ref(), self.now, WINDOW);
                match next {
                    Next::Done => return Ended::Complete,
                    Next::Complete { provider_ids } => {
                        assert_eq!(provider_ids.len(), self.parts);
                        self.state = OutboxState::Sent;
                        self.provider_ids = provider_ids;
                        self.parts_sent = self.parts;
                        self.in_doubt = None;
                        return Ended::Complete;
                    }
                    Next::Defer { part, until } => {
                        assert_eq!(self.reconciliation, Reconciliation::Receipts);
                        assert!(stored.is_none() && until > self.now);
                        assert_eq!(self.in_doubt.map(|d| d.part), Some(part));
                        return Ended::Deferred(until);
                    }
                    Next::Settled { part, provider_id } => {
                        let r = stored.expect("settled by a stored receipt");
                        assert!(r.delivered() && r.provider_id == provider_id);
                        let record = d.delivered(part, provider_id);
                        self.apply(record, d.progress());
                    }
                    Next::Send(send) => {
                        let part = send.part;
                        // A delivered part is never sent again.
                        assert_eq!(part, self.parts_sent);
                        assert!(self.state != OutboxState::Sent);
                        if self.reconciliation == Reconciliation::Receipts {
                            if let Some(doubt) = self.in_doubt.filter(|d| d.part == part) {
                                match &stored {
                                    // Without a receipt, only after the window.
                                    None => assert!(self.now >= doubt.since + WINDOW),
                                    Some(r) => assert!(!r.delivered()),
                                }
                            }
                        }
                        if send.forget_receipt() {
                            self.receipts.remove(&part);
                        }
                        let record = d.attempt(part, self.now);
                        self.apply(record, d.progress());
                        let fault = self.faults.next().unwrap_or(Fault::None);
                        let outcome = match fault {
                            Fault::None => Ok(self.accept(part)),
                            Fault::Refused | Fault::NoConnection => Err(Failure::Definite),
                            Fault::AnswerLost => {
                                self.accept(part);
                                Err(Failure::InDoubt)
                            }
                            Fault::TimedOutUnsent => Err(Failure::InDoubt),
                            Fault::CrashBefore => return Ended::Crashed,
                            Fault::CrashAfter => {
                                self.accept(part);
                                return Ended::Crashed;
                            }
                        };
                        match outcome {
                            Ok(id) => {
                                let record = d.delivered(part, id);
                                self.apply(record, d.progress());
                            }
                            Err(failure) => {
                                let record = d.failed(part, failure);
                                self.apply(record, d.progress());
                                return Ended::Failed;
                            }
                        }
                    }
                }
            }
        }
    }

    fn run(
        parts: usize,
        reconciliation: Reconciliation,
        faults: Vec<Fault>,
        reports: Vec<Report>,
    ) -> World {
        let mut w = World {
            parts,
            reconciliation,
            now: t(1_000_000),
            state: OutboxState::Pending,
            parts_sent: 0,
            provider_ids: vec![],
            in_doubt: None,
            receipts: BTreeMap::new(),
            in_flight: vec![],
            accepted: vec![vec![]; parts],
            faults: faults.into_iter(),
            reports: reports.into_iter(),
        };
        for _ in 0..1000 {
            match w.attempt() {
                Ended::Complete => return w,
                Ended::Deferred(until) => w.now = until,
                // A retry with backoff; a crash is rescued once its lease expires.
                Ended::Failed => w.now = w.now + Span::seconds(2),
                Ended::Crashed => w.now = w.now + Span::seconds(30),
            }
        }
        panic!("never completed: {} of {parts} parts", w.parts_sent);
    }

    fn check_nothing_lost(w: &World) {
        // Zero parts lost: the row completes, every part was accepted, and every recorded id
        // is one the platform gave that part.
        assert_eq!(w.state, OutboxState::Sent);
        for (part, id) in w.provider_ids.iter().enumerate() {
            assert!(
                w.accepted[part].iter().any(|(a, _)| a == id),
                "part {part}: {id} not among {:?}",
                w.accepted[part]
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever fails, and however late the reports come (if at all): every part goes out,
        /// a delivered part is never sent again, and without a receipt an in-doubt part is
        /// resent only after the window (asserted at every step in `World::attempt`).
        #[test]
        fn no_part_is_lost_and_none_is_resent_early(
            parts in 0usize..5,
            reconciliation in reconciliation(),
            faults in proptest::collection::vec(fault(), 0..16),
            reports in proptest::collection::vec(report(false), 0..16),
        ) {
            let w = run(parts, reconciliation, faults, reports);
            check_nothing_lost(&w);
        }

        /// On a channel with receipts, when every report arrives within the window, no part
        /// reaches the customer twice: a second acceptance only follows a `failed` one.
        #[test]
        fn with_timely_receipts_each_part_arrives_once(
            parts in 1usize..5,
            faults in proptest::collection::vec(fault(), 0..16),
            reports in proptest::collection::vec(report(true), 0..16),
        ) {
            let w = run(parts, Reconciliation::Receipts, faults, reports);
            check_nothing_lost(&w);
            for (part, accepted) in w.accepted.iter().enumerate() {
                let arrived = accepted.iter().filter(|(_, failed)| !failed).count();
                prop_assert!(arrived <= 1, "part {} arrived {} times: {:?}", part, arrived, accepted);
            }
        }
    }
}
