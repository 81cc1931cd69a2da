//! How failed work is retried: exponential backoff with a cap, the same on every deploy target.
//!
//! The server's job table counts attempts and asks [`Backoff::delay`] for the next one; a
//! Cloudflare Queue message does not tell the Worker its attempt count (worker 0.8 exposes only
//! the time it was first sent), so the Worker infers it with [`Backoff::attempt_after`] from how
//! long the message has waited. Jitter is an input (the core has no random source): pass a
//! number in `[0, 1)`.

use crate::time::Span;

/// Exponential backoff: `base`, `2 × base`, `4 × base`, … up to `cap`, each ±25% by the jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the first retry.
    pub base: Span,
    /// The longest delay.
    pub cap: Span,
}

impl Default for Backoff {
    /// 2 s, doubling, at most 15 minutes.
    fn default() -> Self {
        Backoff {
            base: Span::seconds(2),
            cap: Span::minutes(15),
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1-based; 0 counts as 1). `jitter` in `[0, 1)`
    /// spreads it over 75%–125% of the exponential value (clamped into that range), so retries
    /// of work that failed together do not arrive together.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Span {
        let base = self.base.as_millis().max(1);
        let cap = self.cap.as_millis().max(base);
        let exp = attempt.saturating_sub(1).min(40);
        let raw = base.saturating_mul(1i64 << exp).min(cap);
        let jitter = if jitter.is_nan() {
            0.5
        } else {
            jitter.clamp(0.0, 1.0)
        };
        let factor = 0.75 + 0.5 * jitter;
        // `raw` ≤ cap, far inside f64's exact integer range.
        let jittered = (raw as f64 * factor).round() as i64;
        Span::millis(jittered.max(1))
    }

    /// The attempt a message is on after waiting `age` since it was first sent, assuming every
    /// earlier attempt waited the un-jittered delay: attempt 1 at age 0, attempt 2 after
    /// `base`, attempt 3 after `3 × base`, …, and one more per `cap` once the cap is reached.
    pub fn attempt_after(&self, age: Span) -> u32 {
        let base = self.base.as_millis().max(1);
        let cap = self.cap.as_millis().max(base);
        let age = age.as_millis().max(0);
        let mut attempt: u32 = 1;
        let mut waited: i64 = 0;
        let mut delay = base;
        loop {
            if waited.saturating_add(delay) > age || attempt == u32::MAX {
                return attempt;
            }
            waited = waited.saturating_add(delay);
            attempt += 1;
            if delay < cap {
                delay = delay.saturating_mul(2).min(cap);
            } else {
                // Past the cap the delays are equal: skip ahead in one step.
                let more = (age - waited) / cap;
                let more = u32::try_from(more).unwrap_or(u32::MAX);
                return attempt.saturating_add(more);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn delays_double_from_the_base_up_to_the_cap() {
        let b = Backoff::default();
        let secs = |attempt| b.delay(attempt, 0.5).as_millis() / 1000;
        assert_eq!(
            (1..=11).map(secs).collect::<Vec<_>>(),
            [2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
        );
        assert_eq!(secs(0), 2, "attempt 0 counts as the first");
        assert_eq!(secs(u32::MAX), 900);
    }

    #[test]
    fn jitter_spreads_a_quarter_either_way() {
        let b = Backoff::default();
        assert_eq!(b.delay(1, 0.0), Span::millis(1500));
        assert_eq!(b.delay(1, 0.999_999), Span::millis(2500));
        assert_eq!(b.delay(1, -3.0), Span::millis(1500), "clamped");
        assert_eq!(b.delay(1, f64::NAN), Span::seconds(2), "NaN is no jitter");
    }

    #[test]
    fn the_attempt_is_read_back_from_the_age() {
        let b = Backoff::default();
        assert_eq!(b.attempt_after(Span::ZERO), 1);
        assert_eq!(b.attempt_after(Span::millis(1999)), 1);
        assert_eq!(b.attempt_after(Span::seconds(2)), 2);
        assert_eq!(b.attempt_after(Span::seconds(6)), 3);
        assert_eq!(b.attempt_after(Span::seconds(14)), 4);
        assert_eq!(
            b.attempt_after(Span::millis(-5)),
            1,
            "a clock skew is age 0"
        );
        // 2+4+…+512 = 1022 s, then 900 s per attempt.
        assert_eq!(b.attempt_after(Span::seconds(1022)), 10);
        assert_eq!(b.attempt_after(Span::seconds(1022 + 900)), 11);
        assert_eq!(b.attempt_after(Span::seconds(1022 + 9000)), 20);
        assert!(
            b.attempt_after(Span::millis(i64::MAX)) > 1_000_000,
            "no overflow"
        );
    }

    proptest! {
        /// Waiting the un-jittered delays attempt after attempt reads back every attempt.
        #[test]
        fn waiting_each_delay_reads_back_each_attempt(base_ms in 1i64..5_000, cap_factor in 1i64..1_000, attempts in 1u32..40) {
            let b = Backoff { base: Span::millis(base_ms), cap: Span::millis(base_ms * cap_factor) };
            let mut age = 0i64;
            for attempt in 1..=attempts {
                prop_assert_eq!(b.attempt_after(Span::millis(age)), attempt);
                age += b.delay(attempt, 0.5).as_millis();
            }
        }

        /// Delays never exceed 125% of the cap and never shrink from one attempt to the next.
        #[test]
        fn delays_are_bounded_and_monotonic(attempt in 1u32..100, jitter in 0.0f64..1.0) {
            let b = Backoff::default();
            let d = b.delay(attempt, jitter).as_millis();
            prop_assert!(d <= b.cap.as_millis() * 5 / 4);
            prop_assert!(b.delay(attempt + 1, 0.5) >= b.delay(attempt, 0.5));
        }
    }
}
