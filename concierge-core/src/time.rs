//! Time as a plain value.
//!
//! The core never reads the system clock: every entry point receives `now` from the
//! [`Clock`](crate::ports::Clock) port, so tests drive time by hand and are deterministic.

use std::fmt;
use std::ops::{Add, Sub};

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since the Unix epoch (UTC).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Timestamp(pub(crate) i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// A timestamp from milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// A timestamp from whole seconds since the epoch (as Meta and Discord send them).
    pub const fn from_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch.
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// The span from `earlier` to `self`; negative when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Span {
        Span(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// A signed length of time in milliseconds.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Span(pub(crate) i64);

impl Span {
    /// No time at all.
    pub const ZERO: Span = Span(0);

    /// A span of `ms` milliseconds.
    pub const fn millis(ms: i64) -> Self {
        Span(ms)
    }
    /// A span of `s` seconds.
    pub const fn seconds(s: i64) -> Self {
        Span(s.saturating_mul(1000))
    }
    /// A span of `m` minutes.
    pub const fn minutes(m: i64) -> Self {
        Span(m.saturating_mul(60_000))
    }
    /// A span of `h` hours.
    pub const fn hours(h: i64) -> Self {
        Span(h.saturating_mul(3_600_000))
    }
    /// A span of `d` days.
    pub const fn days(d: i64) -> Self {
        Span(d.saturating_mul(86_400_000))
    }
    /// The span in milliseconds.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Parses a human span such as `250ms`, `90s`, `15m`, `7h`, `2d` or `1h30m`.
    ///
    /// # Errors
    /// [`SpanParseError`] when the text is empty, has no unit, an unknown unit or overflows.
    pub fn parse(text: &str) -> Result<Span, SpanParseError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SpanParseError(text.to_owned()));
        }
        let mut total: i64 = 0;
        let mut digits = String::new();
        let mut chars = text.chars().peekable();
        while let Some(ch) = chars.next() {
            if ch.is_ascii_digit() {
                digits.push(ch);
                continue;
            }
            let n: i64 = digits
                .parse()
                .map_err(|_| SpanParseError(text.to_owned()))?;
            digits.clear();
            let unit = match ch {
                'm' if chars.peek() == Some(&'s') => {
                    chars.next();
                    1
                }
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                _ => return Err(SpanParseError(text.to_owned())),
            };
            total = n
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| SpanParseError(text.to_owned()))?;
        }
        if !digits.is_empty() {
            return Err(SpanParseError(text.to_owned()));
        }
        Ok(Span(total))
    }
}

/// A span text that [`Span::parse`] could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a duration; use a number with a unit, e.g. 250ms, 90s, 15m, 7h, 2d")]
pub struct SpanParseError(pub String);

impl Add<Span> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Span) -> Timestamp {
        Timestamp(self.0.saturating_add(rhs.0))
    }
}

impl Sub<Span> for Timestamp {
    type Output = Timestamp;
    fn sub(self, rhs: Span) -> Timestamp {
        Timestamp(self.0.saturating_sub(rhs.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_with_units() {
        assert_eq!(Span::parse("7h"), Ok(Span::hours(7)));
        assert_eq!(Span::parse("1h30m"), Ok(Span::minutes(90)));
        assert_eq!(Span::parse("90s"), Ok(Span::seconds(90)));
        assert_eq!(Span::parse("1s500ms"), Ok(Span::millis(1500)));
        assert!(Span::parse("7").is_err());
        assert!(Span::parse("7x").is_err());
        assert!(Span::parse("").is_err());
    }

    #[test]
    fn timestamps_do_arithmetic_with_spans() {
        let t = Timestamp::from_secs(100);
        assert_eq!((t + Span::seconds(5)).as_secs(), 105);
        assert_eq!((t + Span::seconds(5)).since(t), Span::seconds(5));
    }
}
