//! Billing: a credit ledger whose balance can never go negative.
//!
//! Only the AI reply step costs money; canned replies, embeddings and classification are free.
//! The engine debits *before* calling the model, keyed by the turn, and refunds on every failure
//! path.
//!
//! Every [`Ledger`](crate::ports::Ledger) implementation works the same way: it reads the
//! tenant's grants and the key's debit row, asks this module for a plan ([`plan_debit`],
//! [`plan_refund`]), and applies the plan's [`LedgerChanges`] atomically (under a mutex, in one
//! SQL transaction holding the rows' locks, or in one D1 batch that aborts unless the rows
//! still hold what was read). So the rules are written once, here:
//!
//! - credits come in [`Grant`]s that may expire; a debit draws from the grants that expire
//!   soonest first (never-expiring ones last), never from an expired one, and remembers what
//!   it drew so a refund puts it back;
//! - a key is charged at most once at any time: debiting a key that is already charged is a
//!   no-op reported as [`DebitOutcome::AlreadyCharged`]; after a refund the key may be charged
//!   again (a retried turn pays once);
//! - a debit row is remembered for [`DEBIT_RECORD_RETENTION`]; an older row counts as absent
//!   (the key may be charged again, a refund finds nothing), whether or not the store has
//!   deleted it yet;
//! - a refund returns what was drawn to the grants it came from; credit drawn from a grant that
//!   has expired since stays expired;
//! - a grant is checked by [`Grant::validate`] before any store writes it, and its id is taken
//!   for as long as its row exists: spent grants are kept, expired ones are purged only
//!   [`DEBIT_RECORD_RETENTION`] after their expiry (when no debit that drew from them can be
//!   refunded any more).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::conversation::FieldError;
use crate::ids::{Currency, Milli};
use crate::time::{Span, Timestamp};

/// How long debit records are kept for idempotency (and refunds) before they count as gone;
/// also how long an expired grant is kept after its expiry.
pub const DEBIT_RECORD_RETENTION: Span = Span::days(30);

/// The grant id of a tenant file's starting credits (granted once).
pub const STARTING_CREDITS_GRANT: &str = "starting-credits";

/// A credit grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The grant's idempotency key (a payment id, `starting-credits`, an operator grant id).
    pub id: String,
    /// The amount granted.
    pub amount: Milli,
    /// What is left of it.
    pub remaining: Milli,
    /// When it was granted.
    pub granted_at: Timestamp,
    /// When what is left of it expires, if ever.
    pub expires_at: Option<Timestamp>,
    /// Why (for the tenant's statement).
    pub reason: String,
}

impl Grant {
    /// A new grant of `amount`.
    pub fn new(
        id: impl Into<String>,
        amount: Milli,
        granted_at: Timestamp,
        expires_at: Option<Timestamp>,
        reason: impl Into<String>,
    ) -> Self {
        Grant {
            id: id.into(),
            amount,
            remaining: amount,
            granted_at,
            expires_at,
            reason: reason.into(),
        }
    }

    /// Whether the grant still counts at `now`.
    pub fn live_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }

    /// Whether the grant's row may be deleted at `now`: it expired at least
    /// [`DEBIT_RECORD_RETENTION`] ago, so no debit that drew from it can still be refunded.
    /// Spent grants that never expire are kept (their id stays taken).
    pub fn purgeable_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|e| e <= retention_cutoff(now))
    }

    /// The one validation of a grant, used by every store before it writes one and by every
    /// admin path that grants credit: a non-blank id, a positive amount, `remaining` between
    /// zero and the amount, and an expiry (if any) after the grant time. A grant made at `now`
    /// with an expiry at or before `now` is therefore refused.
    ///
    /// # Errors
    /// Every problem, one [`FieldError`] each (fields `grant_id`, `amount`, `remaining`,
    /// `expires_at`).
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.id.trim().is_empty() {
            errors.push(FieldError::new("grant_id", "must not be empty"));
        }
        if self.amount.0 <= 0 {
            errors.push(FieldError::new("amount", "must be positive"));
        }
        if self.amount.0 > 0 && (self.remaining.0 < 0 || self.remaining > self.amount) {
            errors.push(FieldError::new(
                "remaining",
                "must be between zero and the amount",
            ));
        }
        if self.expires_at.is_some_and(|e| e <= self.granted_at) {
            errors.push(FieldError::new("expires_at", "must be in the future"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The grant of a tenant file's starting credits, made at `now`: id
/// [`STARTING_CREDITS_GRANT`], no expiry.
pub fn starting_credits(amount: Milli, now: Timestamp) -> Grant {
    Grant::new(
        STARTING_CREDITS_GRANT,
        amount,
        now,
        None,
        "starting credits",
    )
}

/// Debit rows at or before this time, and grants that expired at or before it, are past
/// retention at `now`.
pub fn retention_cutoff(now: Timestamp) -> Timestamp {
    now - DEBIT_RECORD_RETENTION
}

/// A debit and what it drew from which grant: the row a store keeps per debit key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Debit {
    /// The amount charged.
    pub amount: Milli,
    /// When.
    pub at: Timestamp,
    /// `(grant id, amount)` drawn.
    pub drawn: Vec<(String, Milli)>,
    /// Whether it was refunded.
    pub refunded: bool,
}

impl Debit {
    /// Whether the row still counts at `now` (it is younger than [`DEBIT_RECORD_RETENTION`]).
    /// An older row is treated as absent by the plans, so when a store deletes it is invisible.
    pub fn current_at(&self, now: Timestamp) -> bool {
        self.at > retention_cutoff(now)
    }
}

/// A tenant's credit statement, as [`Ledger::ledger_history`](crate::ports::Ledger::ledger_history) lists it.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LedgerHistory {
    /// Grants, newest first (with what is left of each).
    pub grants: Vec<Grant>,
    /// Debits, newest first; a refunded one says so.
    pub debits: Vec<DebitEntry>,
}

/// One debit row of the statement: a charge under a key (the turn's debit key), and whether it
/// was refunded. The row keeps the charge's time; a refund marks it, it adds no row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebitEntry {
    /// The debit key (one per AI turn).
    pub key: String,
    /// The amount charged.
    pub amount: Milli,
    /// When it was charged.
    pub at: Timestamp,
    /// Whether the charge was returned.
    pub refunded: bool,
}

/// The result of a debit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DebitOutcome {
    /// Charged; the balance after the charge.
    Charged {
        /// Balance after.
        balance: Milli,
    },
    /// The key was already charged (and not refunded): nothing changed.
    AlreadyCharged {
        /// Current balance.
        balance: Milli,
    },
    /// Not enough live credit: nothing changed.
    Insufficient {
        /// Current balance.
        balance: Milli,
    },
}

impl DebitOutcome {
    /// Whether the key is now charged (newly or before).
    pub fn is_charged(&self) -> bool {
        !matches!(self, DebitOutcome::Insufficient { .. })
    }
}

/// The result of a refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundOutcome {
    /// The charge was returned.
    Refunded,
    /// It had been refunded before: nothing changed.
    AlreadyRefunded,
    /// No charge with that key (or only one older than [`DEBIT_RECORD_RETENTION`]): nothing
    /// changed.
    UnknownKey,
}

/// The result of a grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantOutcome {
    /// Added.
    Granted,
    /// A grant with that id exists: nothing changed.
    AlreadyGranted,
}

/// Invalid ledger input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    /// Amounts must be positive.
    #[error("amount must be positive, got {0}")]
    NonPositive(Milli),
    /// A grant failed [`Grant::validate`].
    #[error("invalid grant: {}", field_list(.0))]
    InvalidGrant(Vec<FieldError>),
    /// No price is configured for the tenant's currency.
    #[error("no price configured for currency {0}")]
    NoPrice(Currency),
    /// A price above [`MAX_AI_REPLY_PRICE`].
    #[error("price {0} is above the highest allowed price of one AI reply")]
    TooExpensive(Milli),
}

fn field_list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks a grant with [`Grant::validate`], as an error a store can return.
///
/// # Errors
/// [`BillingError::InvalidGrant`].
pub fn check_grant(grant: &Grant) -> Result<(), BillingError> {
    grant.validate().map_err(BillingError::InvalidGrant)
}

/// One grant whose `remaining` a plan changes, with the value the plan was computed from (a
/// store that writes optimistically checks that the row still holds `from`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantUpdate {
    /// The grant.
    pub grant_id: String,
    /// `remaining` as read.
    pub from: Milli,
    /// `remaining` to write.
    pub to: Milli,
}

/// What a plan deletes: rows past retention. Deleting them changes no outcome (the plans
/// already treat them as gone), so a store may also do it lazily.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purge {
    /// Grants (of those read) that [may be deleted](Grant::purgeable_at). A store that writes
    /// optimistically deletes them only if their expiry is still at or before `through`.
    pub grants: Vec<String>,
    /// Delete the tenant's debit rows whose time is at or before this
    /// ([`retention_cutoff`] of the plan's `now`).
    pub through: Timestamp,
}

/// Every row a plan writes; a store applies all of it in one atomic step or none of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LedgerChanges {
    /// Grants whose `remaining` changes, in the order they were read.
    pub grants: Vec<GrantUpdate>,
    /// The row to store under the key (insert, or replace the row that was read).
    pub debit: Option<Debit>,
    /// Rows past retention to delete.
    pub purge: Option<Purge>,
}

impl LedgerChanges {
    /// Whether the plan writes nothing (its outcome is read-only).
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty() && self.debit.is_none() && self.purge.is_none()
    }

    /// Applies the grant updates and grant purges to `grants` in place (what a store without
    /// rows does; the key's row and the debit purge are the caller's).
    pub fn apply_to_grants(&self, grants: &mut Vec<Grant>) {
        for update in &self.grants {
            if let Some(g) = grants.iter_mut().find(|g| g.id == update.grant_id) {
                g.remaining = update.to;
            }
        }
        if let Some(purge) = &self.purge {
            grants.retain(|g| {
                !(purge.grants.contains(&g.id) && g.expires_at.is_some_and(|e| e <= purge.through))
            });
        }
    }
}

/// What a debit does: its outcome and the rows to write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebitPlan {
    /// The outcome to report once the changes are applied.
    pub outcome: DebitOutcome,
    /// The rows to write (none unless [`DebitOutcome::Charged`]).
    pub changes: LedgerChanges,
}

/// What a refund does: its outcome and the rows to write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundPlan {
    /// The outcome to report once the changes are applied.
    pub outcome: RefundOutcome,
    /// The rows to write (none unless [`RefundOutcome::Refunded`]).
    pub changes: LedgerChanges,
}

/// Plans a debit of `amount` under a key, purely.
///
/// `grants` are the tenant's grant rows as read (every row; expired and spent ones are
/// skipped), `existing` the key's debit row as read (if any), `now` the time of the debit.
/// The key is charged unless a [current](Debit::current_at), unrefunded row exists
/// ([`DebitOutcome::AlreadyCharged`]) or the live balance is short
/// ([`DebitOutcome::Insufficient`]); both of those change nothing. A charge draws with
/// [`draw`], writes the new row for the key (replacing a refunded or outdated one) and purges
/// what is past retention.
///
/// # Errors
/// [`BillingError::NonPositive`] for a zero or negative amount.
pub fn plan_debit(
    grants: &[Grant],
    existing: Option<&Debit>,
    amount: Milli,
    now: Timestamp,
) -> Result<DebitPlan, BillingError> {
    if amount.0 <= 0 {
        return Err(BillingError::NonPositive(amount));
    }
    let balance = live_balance(grants, now);
    let unchanged = |outcome| DebitPlan {
        outcome,
        changes: LedgerChanges::default(),
    };
    if existing.is_some_and(|d| d.current_at(now) && !d.refunded) {
        return Ok(unchanged(DebitOutcome::AlreadyCharged { balance }));
    }
    let mut after = grants.to_vec();
    let Some(drawn) = draw(&mut after, amount, now) else {
        return Ok(unchanged(DebitOutcome::Insufficient { balance }));
    };
    Ok(DebitPlan {
        outcome: DebitOutcome::Charged {
            balance: live_balance(&after, now),
        },
        changes: LedgerChanges {
            grants: grant_updates(grants, &after),
            debit: Some(Debit {
                amount,
                at: now,
                drawn,
                refunded: false,
            }),
            purge: Some(purge(grants, now)),
        },
    })
}

/// Plans the refund of a key's charge, purely.
///
/// `grants` and `existing` as for [`plan_debit`]. Without a [current](Debit::current_at) row
/// the outcome is [`RefundOutcome::UnknownKey`]; a refunded row gives
/// [`RefundOutcome::AlreadyRefunded`]; both change nothing. Otherwise what the debit drew goes
/// back (with [`restore`]) to those of its grants that still exist and are live, the row is
/// marked refunded and what is past retention is purged.
pub fn plan_refund(grants: &[Grant], existing: Option<&Debit>, now: Timestamp) -> RefundPlan {
    let unchanged = |outcome| RefundPlan {
        outcome,
        changes: LedgerChanges::default(),
    };
    let Some(debit) = existing.filter(|d| d.current_at(now)) else {
        return unchanged(RefundOutcome::UnknownKey);
    };
    if debit.refunded {
        return unchanged(RefundOutcome::AlreadyRefunded);
    }
    let mut after = grants.to_vec();
    restore(&mut after, &debit.drawn, now);
    RefundPlan {
        outcome: RefundOutcome::Refunded,
        changes: LedgerChanges {
            grants: grant_updates(grants, &after),
            debit: Some(Debit {
                refunded: true,
                ..debit.clone()
            }),
            purge: Some(purge(grants, now)),
        },
    }
}

fn grant_updates(before: &[Grant], after: &[Grant]) -> Vec<GrantUpdate> {
    before
        .iter()
        .zip(after)
        .filter(|(b, a)| b.remaining != a.remaining)
        .map(|(b, a)| GrantUpdate {
            grant_id: b.id.clone(),
            from: b.remaining,
            to: a.remaining,
        })
        .collect()
}

fn purge(grants: &[Grant], now: Timestamp) -> Purge {
    Purge {
        grants: grants
            .iter()
            .filter(|g| g.purgeable_at(now))
            .map(|g| g.id.clone())
            .collect(),
        through: retention_cutoff(now),
    }
}

/// The live balance of `grants` at `now`: what remains of the unexpired ones.
pub fn live_balance(grants: &[Grant], now: Timestamp) -> Milli {
    Milli(
        grants
            .iter()
            .filter(|g| g.live_at(now))
            .map(|g| g.remaining.0)
            .sum(),
    )
}

/// Draws `amount` from `grants`, soonest-expiring first (never-expiring last; among equal
/// expiries the oldest grant, then the smallest id), and returns what was drawn from which
/// grant; `None`, with nothing changed, when the live balance is short. Expired grants are
/// never drawn from.
///
/// This and [`restore`] are the ledger's only arithmetic; [`plan_debit`] uses it.
pub fn draw(grants: &mut [Grant], amount: Milli, now: Timestamp) -> Option<Vec<(String, Milli)>> {
    if amount.0 <= 0 || live_balance(grants, now) < amount {
        return None;
    }
    let mut order: Vec<usize> = (0..grants.len())
        .filter(|&i| grants[i].live_at(now) && grants[i].remaining.0 > 0)
        .collect();
    // Soonest expiry first, then oldest grant, then id: the order rows were read in (by id in
    // SQL, by insertion in memory) never matters.
    crate::sort::by(&mut order, |&a, &b| {
        let key = |g: &Grant| (g.expires_at.is_none(), g.expires_at, g.granted_at);
        let (ga, gb) = (&grants[a], &grants[b]);
        key(ga).cmp(&key(gb)).then_with(|| ga.id.cmp(&gb.id))
    });
    let mut left = amount.0;
    let mut drawn = Vec::new();
    for i in order {
        if left == 0 {
            break;
        }
        let g = &mut grants[i];
        let take = left.min(g.remaining.0);
        g.remaining.0 -= take;
        left -= take;
        drawn.push((g.id.clone(), Milli(take)));
    }
    Some(drawn)
}

/// Puts what a debit drew back into the grants it came from (a refund), never above a grant's
/// amount. Grants that are gone, or expired at `now`, are skipped: expired credit stays
/// expired.
pub fn restore(grants: &mut [Grant], drawn: &[(String, Milli)], now: Timestamp) {
    for (grant_id, amount) in drawn {
        if let Some(g) = grants
            .iter_mut()
            .find(|g| &g.id == grant_id && g.live_at(now))
        {
            g.remaining.0 = (g.remaining.0 + amount.0).min(g.amount.0);
        }
    }
}

/// One tenant's ledger held in memory: the grants and the debit rows, changed only through the
/// plans (what [`MemoryStore`](crate::memory::MemoryStore) keeps per tenant).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LedgerBook {
    /// Grants, in the order they were made.
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// Debits by key.
    #[serde(default)]
    pub debits: BTreeMap<String, Debit>,
}

impl LedgerBook {
    /// The live balance at `now`: what remains of unexpired grants.
    pub fn balance(&self, now: Timestamp) -> Milli {
        live_balance(&self.grants, now)
    }

    /// Adds a grant unless one with the same id exists.
    ///
    /// # Errors
    /// [`BillingError::InvalidGrant`] when [`Grant::validate`] refuses it.
    pub fn grant(&mut self, grant: Grant) -> Result<GrantOutcome, BillingError> {
        check_grant(&grant)?;
        if self.grants.iter().any(|g| g.id == grant.id) {
            return Ok(GrantOutcome::AlreadyGranted);
        }
        self.grants.push(grant);
        Ok(GrantOutcome::Granted)
    }

    /// Plans and applies a debit of `amount` under `key` ([`plan_debit`]).
    ///
    /// # Errors
    /// [`BillingError::NonPositive`] for zero or negative amounts.
    pub fn try_debit(
        &mut self,
        key: &str,
        amount: Milli,
        now: Timestamp,
    ) -> Result<DebitOutcome, BillingError> {
        let plan = plan_debit(&self.grants, self.debits.get(key), amount, now)?;
        self.apply(key, &plan.changes);
        Ok(plan.outcome)
    }

    /// Plans and applies the refund of the charge made under `key` ([`plan_refund`]).
    pub fn refund(&mut self, key: &str, now: Timestamp) -> RefundOutcome {
        let plan = plan_refund(&self.grants, self.debits.get(key), now);
        self.apply(key, &plan.changes);
        plan.outcome
    }

    /// Whether `key` is currently charged.
    pub fn is_charged(&self, key: &str, now: Timestamp) -> bool {
        self.debits
            .get(key)
            .is_some_and(|d| d.current_at(now) && !d.refunded)
    }

    /// The statement at `now`, at most `limit` grants and `limit` debits, newest first: what
    /// [`Ledger::ledger_history`](crate::ports::Ledger::ledger_history) promises.
    pub fn history(&self, now: Timestamp, limit: u32) -> LedgerHistory {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut grants: Vec<Grant> = self
            .grants
            .iter()
            .filter(|g| !g.purgeable_at(now))
            .cloned()
            .collect();
        grants.sort_by(|a, b| (b.granted_at, &b.id).cmp(&(a.granted_at, &a.id)));
        grants.truncate(limit);
        let mut debits: Vec<DebitEntry> = self
            .debits
            .iter()
            .filter(|(_, d)| d.current_at(now))
            .map(|(key, d)| DebitEntry {
                key: key.clone(),
                amount: d.amount,
                at: d.at,
                refunded: d.refunded,
            })
            .collect();
        debits.sort_by(|a, b| (b.at, &b.key).cmp(&(a.at, &a.key)));
        debits.truncate(limit);
        LedgerHistory { grants, debits }
    }

    /// Applies a plan's changes for `key`. Debit rows past retention are dropped whenever the
    /// number of rows reaches a power of two, which keeps a debit O(log n) amortized; the plans
    /// treat such rows as absent, so when they go makes no difference.
    pub fn apply(&mut self, key: &str, changes: &LedgerChanges) {
        changes.apply_to_grants(&mut self.grants);
        if let Some(debit) = &changes.debit {
            self.debits.insert(key.to_owned(), debit.clone());
        }
        if let Some(purge) = &changes.purge {
            if self.debits.len().is_power_of_two() {
                self.debits.retain(|_, d| d.at > purge.through);
            }
        }
    }
}

/// The flat per-AI-reply price in each currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pricing {
    /// Price of one AI reply, per currency.
    pub per_ai_reply: BTreeMap<Currency, Milli>,
}

impl Default for Pricing {
    fn default() -> Self {
        let mut per_ai_reply = BTreeMap::new();
        for (code, price) in [
            ("INR", Milli(1_000)),
            ("USD", Milli(20)),
            ("EUR", Milli(20)),
        ] {
            if let Ok(c) = Currency::parse(code) {
                per_ai_reply.insert(c, price);
            }
        }
        Pricing { per_ai_reply }
    }
}

/// The highest price of one AI reply the operator may set: 1,000,000 units (a typo guard).
pub const MAX_AI_REPLY_PRICE: Milli = Milli(1_000_000_000);

/// Checks a price the operator sets for one AI reply: positive and at most
/// [`MAX_AI_REPLY_PRICE`].
///
/// # Errors
/// [`BillingError::NonPositive`] for zero or less; [`BillingError::TooExpensive`] above the cap.
pub fn check_price(price: Milli) -> Result<(), BillingError> {
    if price <= Milli::ZERO {
        Err(BillingError::NonPositive(price))
    } else if price > MAX_AI_REPLY_PRICE {
        Err(BillingError::TooExpensive(price))
    } else {
        Ok(())
    }
}

impl Pricing {
    /// These defaults with `stored` prices over them (a stored price wins for its currency).
    pub fn with_stored(&self, stored: impl IntoIterator<Item = (Currency, Milli)>) -> Pricing {
        let mut per_ai_reply = self.per_ai_reply.clone();
        per_ai_reply.extend(stored);
        Pricing { per_ai_reply }
    }

    /// The price of one AI reply in `currency`.
    ///
    /// # Errors
    /// [`BillingError::NoPrice`] when the operator has not priced that currency.
    pub fn ai_reply(&self, currency: &Currency) -> Result<Milli, BillingError> {
        self.per_ai_reply
            .get(currency)
            .copied()
            .ok_or_else(|| BillingError::NoPrice(currency.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: Span = Span::days(1);

    #[test]
    fn debits_draw_from_the_soonest_expiring_grant_and_refunds_restore_it() {
        let mut b = LedgerBook::default();
        b.grant(Grant::new("forever", Milli(5_000), Timestamp(0), None, ""))
            .unwrap();
        b.grant(Grant::new(
            "promo",
            Milli(2_000),
            Timestamp(0),
            Some(Timestamp(100)),
            "",
        ))
        .unwrap();
        assert_eq!(
            b.try_debit("t1", Milli(3_000), Timestamp(10)).unwrap(),
            DebitOutcome::Charged {
                balance: Milli(4_000)
            }
        );
        assert_eq!(b.grants[1].remaining, Milli(0), "promo used first");
        assert_eq!(b.refund("t1", Timestamp(10)), RefundOutcome::Refunded);
        assert_eq!(b.balance(Timestamp(10)), Milli(7_000));
        assert_eq!(
            b.refund("t1", Timestamp(10)),
            RefundOutcome::AlreadyRefunded
        );
    }

    #[test]
    fn expired_credit_does_not_count() {
        let mut b = LedgerBook::default();
        b.grant(Grant::new(
            "promo",
            Milli(2_000),
            Timestamp(0),
            Some(Timestamp(100)),
            "",
        ))
        .unwrap();
        assert_eq!(b.balance(Timestamp(100)), Milli(0));
        assert_eq!(
            b.try_debit("k", Milli(1), Timestamp(100)).unwrap(),
            DebitOutcome::Insufficient { balance: Milli(0) }
        );
    }

    #[test]
    fn a_refund_after_expiry_leaves_the_expired_part_expired() {
        let mut b = LedgerBook::default();
        b.grant(Grant::new("forever", Milli(5_000), Timestamp(0), None, ""))
            .unwrap();
        b.grant(Grant::new(
            "promo",
            Milli(2_000),
            Timestamp(0),
            Some(Timestamp(100)),
            "",
        ))
        .unwrap();
        b.try_debit("k", Milli(3_000), Timestamp(10)).unwrap();
        let plan = plan_refund(&b.grants, b.debits.get("k"), Timestamp(200));
        assert_eq!(plan.outcome, RefundOutcome::Refunded);
        assert_eq!(
            plan.changes.grants,
            vec![GrantUpdate {
                grant_id: "forever".into(),
                from: Milli(4_000),
                to: Milli(5_000)
            }],
            "nothing is written back into the expired promo"
        );
        b.apply("k", &plan.changes);
        assert_eq!(b.balance(Timestamp(200)), Milli(5_000));
    }

    #[test]
    fn a_key_is_charged_once_until_refunded() {
        let mut b = LedgerBook::default();
        b.grant(Grant::new("g", Milli(10), Timestamp(0), None, ""))
            .unwrap();
        assert!(matches!(
            b.try_debit("k", Milli(3), Timestamp(0)).unwrap(),
            DebitOutcome::Charged { .. }
        ));
        assert!(matches!(
            b.try_debit("k", Milli(3), Timestamp(0)).unwrap(),
            DebitOutcome::AlreadyCharged { .. }
        ));
        assert_eq!(b.balance(Timestamp(0)), Milli(7));
        b.refund("k", Timestamp(0));
        assert!(matches!(
            b.try_debit("k", Milli(3), Timestamp(0)).unwrap(),
            DebitOutcome::Charged { .. }
        ));
        assert_eq!(b.balance(Timestamp(0)), Milli(7));
    }

    #[test]
    fn a_debit_row_counts_for_the_retention_period_only() {
        let grants = vec![Grant::new("g", Milli(10), Timestamp(0), None, "")];
        let row = Debit {
            amount: Milli(3),
            at: Timestamp(0),
            drawn: vec![("g".into(), Milli(3))],
            refunded: false,
        };
        let just_before = Timestamp(0) + DEBIT_RECORD_RETENTION - Span::millis(1);
        let at_retention = Timestamp(0) + DEBIT_RECORD_RETENTION;
        assert!(matches!(
            plan_debit(&grants, Some(&row), Milli(3), just_before)
                .unwrap()
                .outcome,
            DebitOutcome::AlreadyCharged { .. }
        ));
        assert!(matches!(
            plan_debit(&grants, Some(&row), Milli(3), at_retention)
                .unwrap()
                .outcome,
            DebitOutcome::Charged { .. }
        ));
        assert_eq!(
            plan_refund(&grants, Some(&row), just_before).outcome,
            RefundOutcome::Refunded
        );
        assert_eq!(
            plan_refund(&grants, Some(&row), at_retention).outcome,
            RefundOutcome::UnknownKey
        );
    }

    #[test]
    fn expired_grants_are_purged_only_after_retention_and_spent_ones_never() {
        let now = Timestamp(0) + DEBIT_RECORD_RETENTION + Span::days(2);
        let grants = vec![
            Grant::new(
                "old-promo",
                Milli(5),
                Timestamp(0),
                Some(Timestamp(0) + DAY),
                "",
            ),
            Grant::new("recent-promo", Milli(5), Timestamp(0), Some(now - DAY), ""),
            Grant {
                remaining: Milli(0),
                ..Grant::new("spent", Milli(5), Timestamp(0), None, "")
            },
            Grant::new("live", Milli(5), Timestamp(0), None, ""),
        ];
        let plan = plan_debit(&grants, None, Milli(1), now).unwrap();
        assert_eq!(
            plan.changes.purge,
            Some(Purge {
                grants: vec!["old-promo".into()],
                through: now - DEBIT_RECORD_RETENTION
            })
        );
        let refused = plan_debit(&grants, None, Milli(50), now).unwrap();
        assert!(refused.changes.is_empty(), "a refused debit writes nothing");
    }

    #[test]
    fn grants_are_idempotent_and_validated() {
        let mut b = LedgerBook::default();
        assert_eq!(
            b.grant(Grant::new("g", Milli(1), Timestamp(0), None, "")),
            Ok(GrantOutcome::Granted)
        );
        assert_eq!(
            b.grant(Grant::new("g", Milli(1), Timestamp(0), None, "")),
            Ok(GrantOutcome::AlreadyGranted)
        );
        let fields = |g: Grant| -> Vec<String> {
            g.validate()
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(
            fields(Grant::new("h", Milli(0), Timestamp(0), None, "")),
            ["amount"]
        );
        assert_eq!(
            fields(Grant::new(
                " ",
                Milli(-1),
                Timestamp(5),
                Some(Timestamp(5)),
                ""
            )),
            ["grant_id", "amount", "expires_at"]
        );
        assert_eq!(
            fields(Grant {
                remaining: Milli(2),
                ..Grant::new("h", Milli(1), Timestamp(0), None, "")
            }),
            ["remaining"]
        );
        assert!(matches!(
            b.grant(Grant::new("h", Milli(0), Timestamp(0), None, "")),
            Err(BillingError::InvalidGrant(_))
        ));
        assert_eq!(b.grants.len(), 1);
    }

    fn grant_strategy(i: usize) -> impl Strategy<Value = Grant> {
        (1i64..60, 0i64..=100, proptest::option::of(-40i64..40)).prop_map(
            move |(amount, left_pct, expiry_days)| Grant {
                remaining: Milli(amount * left_pct / 100),
                ..Grant::new(
                    format!("g{i}"),
                    Milli(amount),
                    Timestamp(0),
                    expiry_days.map(|d| NOW + Span::days(d)),
                    "",
                )
            },
        )
    }

    fn grants_strategy() -> impl Strategy<Value = Vec<Grant>> {
        (0usize..6).prop_flat_map(|n| (0..n).map(grant_strategy).collect::<Vec<_>>())
    }

    fn row_strategy() -> impl Strategy<Value = Option<Debit>> {
        proptest::option::of((1i64..30, 0i64..40, any::<bool>()).prop_map(
            |(amount, age_days, refunded)| Debit {
                amount: Milli(amount),
                at: NOW - Span::days(age_days),
                drawn: vec![("g0".into(), Milli(amount))],
                refunded,
            },
        ))
    }

    const NOW: Timestamp = Timestamp(10_000_000_000);

    proptest! {
        /// A debit plan never overdraws, never touches an expired grant, draws exactly the
        /// amount, charges only when no current charge exists, and writes nothing otherwise.
        #[test]
        fn debit_plans_are_sound(
            grants in grants_strategy(),
            row in row_strategy(),
            amount in -5i64..150,
        ) {
            let balance = live_balance(&grants, NOW);
            let plan = match plan_debit(&grants, row.as_ref(), Milli(amount), NOW) {
                Err(e) => {
                    prop_assert!(amount <= 0);
                    prop_assert_eq!(e, BillingError::NonPositive(Milli(amount)));
                    return Ok(());
                }
                Ok(plan) => plan,
            };
            let charged_now = row.as_ref().is_some_and(|d| d.current_at(NOW) && !d.refunded);
            for purged in plan.changes.purge.iter().flat_map(|p| &p.grants) {
                let g = grants.iter().find(|g| &g.id == purged).unwrap();
                prop_assert!(!g.live_at(NOW) && g.purgeable_at(NOW));
            }
            match plan.outcome {
                DebitOutcome::Charged { balance: after } => {
                    prop_assert!(!charged_now, "charged twice");
                    prop_assert!(balance.0 >= amount);
                    prop_assert_eq!(after.0, balance.0 - amount);
                    let mut taken = 0;
                    for u in &plan.changes.grants {
                        let g = grants.iter().find(|g| g.id == u.grant_id).unwrap();
                        prop_assert!(g.live_at(NOW), "drew from expired {}", g.id);
                        prop_assert_eq!(u.from, g.remaining);
                        prop_assert!(u.to.0 >= 0 && u.to < u.from);
                        taken += u.from.0 - u.to.0;
                    }
                    prop_assert_eq!(taken, amount);
                    let debit = plan.changes.debit.as_ref().unwrap();
                    prop_assert_eq!(debit.drawn.iter().map(|(_, m)| m.0).sum::<i64>(), amount);
                    prop_assert!(!debit.refunded && debit.at == NOW && debit.amount.0 == amount);
                    let mut after_grants = grants.clone();
                    plan.changes.apply_to_grants(&mut after_grants);
                    prop_assert_eq!(live_balance(&after_grants, NOW), after);
                }
                DebitOutcome::AlreadyCharged { balance: b } => {
                    prop_assert!(charged_now);
                    prop_assert_eq!(b, balance);
                    prop_assert!(plan.changes.is_empty());
                }
                DebitOutcome::Insufficient { balance: b } => {
                    prop_assert!(!charged_now);
                    prop_assert!(balance.0 < amount);
                    prop_assert_eq!(b, balance);
                    prop_assert!(plan.changes.is_empty());
                }
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Grant(u8, i64, Option<i64>),
        Debit(u8, i64),
        Refund(u8),
        Advance(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..4, 1i64..50, proptest::option::of(1i64..200))
                .prop_map(|(g, a, e)| Op::Grant(g, a, e)),
            (0u8..6, 1i64..30).prop_map(|(k, a)| Op::Debit(k, a)),
            (0u8..6).prop_map(Op::Refund),
            (0i64..50).prop_map(Op::Advance),
            // Past the retention of debit rows and expired grants.
            Just(Op::Advance(DEBIT_RECORD_RETENTION.0)),
        ]
    }

    proptest! {
        /// Plans applied in sequence: the balance never goes negative, a key's net charge is
        /// zero or its amount (charged at most once unless refunded), a refund gives back
        /// exactly what was drawn from the grants still live, and expired credit is never drawn.
        #[test]
        fn plans_in_sequence_keep_the_ledger_invariants(ops in proptest::collection::vec(op(), 0..80)) {
            let mut b = LedgerBook::default();
            let mut now = Timestamp(0);
            // Net charge per key since its row was (re)written, tracked beside the book.
            let mut net: BTreeMap<String, i64> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Grant(g, a, e) => {
                        let _ = b.grant(Grant::new(format!("g{g}"), Milli(a), now, e.map(|e| Timestamp(now.0 + e)), ""));
                    }
                    Op::Debit(k, a) => {
                        let key = format!("k{k}");
                        let plan = plan_debit(&b.grants, b.debits.get(&key), Milli(a), now).unwrap();
                        for u in &plan.changes.grants {
                            let g = b.grants.iter().find(|g| g.id == u.grant_id).unwrap();
                            prop_assert!(g.live_at(now), "an expired grant was drawn");
                        }
                        if let DebitOutcome::Charged { .. } = plan.outcome {
                            prop_assert!(
                                !b.is_charged(&key, now),
                                "a key was charged twice without a refund"
                            );
                            // A charge after the row aged out starts the key afresh.
                            net.insert(key.clone(), a);
                        }
                        b.apply(&key, &plan.changes);
                    }
                    Op::Refund(k) => {
                        let key = format!("k{k}");
                        let before = b.balance(now);
                        let row = b.debits.get(&key).cloned();
                        let plan = plan_refund(&b.grants, row.as_ref(), now);
                        b.apply(&key, &plan.changes);
                        if plan.outcome == RefundOutcome::Refunded {
                            let row = row.unwrap();
                            let back: i64 = row.drawn.iter()
                                .filter(|(id, _)| b.grants.iter().any(|g| &g.id == id && g.live_at(now)))
                                .map(|(_, m)| m.0)
                                .sum();
                            prop_assert_eq!(b.balance(now).0, before.0 + back, "refund restores what was drawn");
                            *net.entry(key).or_default() -= row.amount.0;
                        }
                    }
                    Op::Advance(d) => now = Timestamp(now.0 + d),
                }
                prop_assert!(b.balance(now).0 >= 0);
                for g in &b.grants {
                    prop_assert!(g.remaining.0 >= 0 && g.remaining <= g.amount);
                }
                for (key, n) in &net {
                    let current = b.debits.get(key).filter(|d| d.current_at(now));
                    if let Some(d) = current {
                        let expected = if d.refunded { 0 } else { d.amount.0 };
                        prop_assert_eq!(*n, expected, "key {} net {} row {:?}", key, n, d);
                    }
                }
            }
        }
    }
}
