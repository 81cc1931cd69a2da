//! Billing: a credit ledger whose balance can never go negative.
//!
//! Only the AI reply step costs money; canned replies, embeddings and classification are free.
//! The engine debits *before* calling the model, keyed by the turn, and refunds on every failure
//! path. [`LedgerBook`] is the pure arithmetic every [`Ledger`](crate::ports::Ledger)
//! implementation applies inside its own atomic section (a mutex, a SQL transaction, a Durable
//! Object), so the rules are written once:
//!
//! - credits come in [`Grant`]s that may expire; a debit draws from the grants that expire
//!   soonest first, and remembers what it drew so a refund puts it back;
//! - a key is charged at most once at any time: debiting a key that is already charged is a
//!   no-op reported as [`DebitOutcome::AlreadyCharged`]; after a refund the key may be charged
//!   again (a retried turn pays once).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::conversation::FieldError;
use crate::ids::{Currency, Milli};
use crate::time::{Span, Timestamp};

/// How long settled debit records are kept for idempotency before they are pruned.
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

/// A debit and what it drew from which grant.
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
    /// No charge with that key: nothing changed.
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

/// Draws `amount` from `grants`, soonest-expiring first (never-expiring last), and returns what
/// was drawn from which grant; `None`, with nothing changed, when the live balance is short.
///
/// This is the ledger's only arithmetic: [`LedgerBook`] uses it, and a SQL store applies it to
/// the tenant's live grant rows inside its transaction (then inserts the debit row), so no
/// adapter re-implements billing.
pub fn draw(grants: &mut [Grant], amount: Milli, now: Timestamp) -> Option<Vec<(String, Milli)>> {
    if amount.0 <= 0 || live_balance(grants, now) < amount {
        return None;
    }
    let mut order: Vec<usize> = (0..grants.len())
        .filter(|&i| grants[i].live_at(now) && grants[i].remaining.0 > 0)
        .collect();
    order.sort_by_key(|&i| (grants[i].expires_at.is_none(), grants[i].expires_at, i));
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

/// Puts what a debit drew back into the grants it came from (a refund). Grants that are gone
/// are skipped.
pub fn restore(grants: &mut [Grant], drawn: &[(String, Milli)]) {
    for (grant_id, amount) in drawn {
        if let Some(g) = grants.iter_mut().find(|g| &g.id == grant_id) {
            g.remaining.0 = (g.remaining.0 + amount.0).min(g.amount.0);
        }
    }
}

/// One tenant's ledger state.
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

    /// Charges `amount` under `key` if the live balance covers it, drawing from the grants that
    /// expire soonest first (never-expiring grants last).
    ///
    /// # Errors
    /// [`BillingError::NonPositive`] for zero or negative amounts.
    pub fn try_debit(
        &mut self,
        key: &str,
        amount: Milli,
        now: Timestamp,
    ) -> Result<DebitOutcome, BillingError> {
        if amount.0 <= 0 {
            return Err(BillingError::NonPositive(amount));
        }
        let balance = self.balance(now);
        if let Some(d) = self.debits.get(key) {
            if !d.refunded {
                return Ok(DebitOutcome::AlreadyCharged { balance });
            }
        }
        if balance < amount {
            return Ok(DebitOutcome::Insufficient { balance });
        }
        let Some(drawn) = draw(&mut self.grants, amount, now) else {
            return Ok(DebitOutcome::Insufficient { balance });
        };
        self.debits.insert(
            key.to_owned(),
            Debit {
                amount,
                at: now,
                drawn,
                refunded: false,
            },
        );
        Ok(DebitOutcome::Charged {
            balance: self.balance(now),
        })
    }

    /// Returns the charge made under `key` to the grants it was drawn from. Credit drawn from a
    /// grant that has expired since stays expired.
    pub fn refund(&mut self, key: &str) -> RefundOutcome {
        let Some(debit) = self.debits.get_mut(key) else {
            return RefundOutcome::UnknownKey;
        };
        if debit.refunded {
            return RefundOutcome::AlreadyRefunded;
        }
        debit.refunded = true;
        restore(&mut self.grants, &debit.drawn);
        RefundOutcome::Refunded
    }

    /// Whether `key` is currently charged.
    pub fn is_charged(&self, key: &str) -> bool {
        self.debits.get(key).is_some_and(|d| !d.refunded)
    }

    /// Drops debit records older than [`DEBIT_RECORD_RETENTION`] and spent or expired grants that
    /// no retained debit refers to, so the book stays small.
    pub fn prune(&mut self, now: Timestamp) {
        self.debits
            .retain(|_, d| now.since(d.at) < DEBIT_RECORD_RETENTION);
        let referenced: std::collections::BTreeSet<&str> = self
            .debits
            .values()
            .flat_map(|d| d.drawn.iter().map(|(id, _)| id.as_str()))
            .collect();
        let keep: Vec<bool> = self
            .grants
            .iter()
            .map(|g| referenced.contains(g.id.as_str()) || (g.remaining.0 > 0 && g.live_at(now)))
            .collect();
        let mut it = keep.into_iter();
        self.grants.retain(|_| it.next().unwrap_or(true));
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

impl Pricing {
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
        assert_eq!(b.refund("t1"), RefundOutcome::Refunded);
        assert_eq!(b.balance(Timestamp(10)), Milli(7_000));
        assert_eq!(b.refund("t1"), RefundOutcome::AlreadyRefunded);
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
        b.refund("k");
        assert!(matches!(
            b.try_debit("k", Milli(3), Timestamp(0)).unwrap(),
            DebitOutcome::Charged { .. }
        ));
        assert_eq!(b.balance(Timestamp(0)), Milli(7));
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

    #[derive(Debug, Clone)]
    enum Op {
        Grant(u8, i64, Option<i64>),
        Debit(u8, i64),
        Refund(u8),
        Advance(i64),
        Prune,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..4, 1i64..50, proptest::option::of(1i64..200))
                .prop_map(|(g, a, e)| Op::Grant(g, a, e)),
            (0u8..6, 1i64..30).prop_map(|(k, a)| Op::Debit(k, a)),
            (0u8..6).prop_map(Op::Refund),
            (0i64..50).prop_map(Op::Advance),
            Just(Op::Prune),
        ]
    }

    proptest! {
        #[test]
        fn never_negative_and_never_charges_a_key_twice(ops in proptest::collection::vec(op(), 0..80)) {
            let mut b = LedgerBook::default();
            let mut now = Timestamp(0);
            // Net charge per key, tracked independently of the book.
            let mut net: BTreeMap<String, i64> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Grant(g, a, e) => {
                        let _ = b.grant(Grant::new(format!("g{g}"), Milli(a), now, e.map(|e| Timestamp(now.0 + e)), ""));
                    }
                    Op::Debit(k, a) => {
                        let key = format!("k{k}");
                        if let DebitOutcome::Charged { .. } = b.try_debit(&key, Milli(a), now).unwrap() {
                            *net.entry(key).or_default() += a;
                        }
                    }
                    Op::Refund(k) => {
                        let key = format!("k{k}");
                        let amount = b.debits.get(&key).map(|d| d.amount.0);
                        if b.refund(&key) == RefundOutcome::Refunded {
                            *net.entry(key).or_default() -= amount.unwrap_or(0);
                        }
                    }
                    Op::Advance(d) => now = Timestamp(now.0 + d),
                    Op::Prune => b.prune(now),
                }
                prop_assert!(b.balance(now).0 >= 0);
                for g in &b.grants {
                    prop_assert!(g.remaining.0 >= 0 && g.remaining <= g.amount);
                }
                for (key, n) in &net {
                    let amount = b.debits.get(key).map_or(0, |d| d.amount.0);
                    prop_assert!(*n == 0 || *n == amount, "key {} net {} amount {}", key, n, amount);
                }
            }
        }
    }
}
