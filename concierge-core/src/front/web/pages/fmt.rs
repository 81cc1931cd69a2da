//! How the Credits and Conversations pages write money, counts, times and path segments.
//!
//! Money and counts go through ICU4X (`crate::i18n`): `₹1,00,000` in en-IN, `$100,000.00` in
//! en-US. Times are written in UTC (the tenant's time zone is not known yet).

use crate::i18n::UiLocale;
use crate::time::Timestamp;

/// An amount in milli-units of `currency`, in the locale's format.
pub(super) fn format_money(locale: UiLocale, currency: &str, amount_milli: i64) -> String {
    crate::i18n::format_money(locale, currency, amount_milli)
}

/// A count, grouped the locale's way.
pub(super) fn format_count(locale: UiLocale, n: i64) -> String {
    crate::i18n::format_count(locale, n)
}

/// A time as a page shows it: `text` for people, `iso` for `<time datetime>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct When {
    /// `2026-01-01 09:00 UTC`.
    pub text: String,
    /// `2026-01-01T09:00:00Z`.
    pub iso: String,
}

impl When {
    /// `at` in UTC.
    pub(crate) fn of(at: Timestamp) -> When {
        let secs = at.as_secs();
        let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (day_secs / 3600, day_secs % 3600 / 60, day_secs % 60);
        When {
            text: format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC"),
            iso: format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z"),
        }
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `segment` percent-encoded for a URL path (every byte but `A-Z a-z 0-9 - . _ ~`).
pub(super) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path segment percent-decoded; `None` when an escape is malformed or the result is not
/// UTF-8.
pub(super) fn decode_segment(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(When::of(Timestamp::EPOCH).iso, "1970-01-01T00:00:00Z");
        let t = When::of(Timestamp::from_millis(1_767_258_000_000));
        assert_eq!(t.iso, "2026-01-01T09:00:00Z");
        assert_eq!(t.text, "2026-01-01 09:00 UTC");
        assert_eq!(
            When::of(Timestamp::from_secs(951_782_400)).iso,
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            When::of(Timestamp::from_secs(-1)).iso,
            "1969-12-31T23:59:59Z"
        );
    }

    #[test]
    fn segments_round_trip() {
        for raw in ["c_0123abcd", "a b/c?d%e", "ग्राहक", ""] {
            assert_eq!(decode_segment(&encode_segment(raw)).as_deref(), Some(raw));
        }
        assert_eq!(encode_segment("a/b"), "a%2Fb");
        assert_eq!(decode_segment("%zz"), None);
        assert_eq!(decode_segment("%4"), None);
        assert_eq!(decode_segment("%FF"), None);
    }

    #[test]
    fn money_and_counts_follow_the_locale() {
        assert_eq!(
            format_money(UiLocale::EnIn, "INR", 100_000_000),
            "₹1,00,000"
        );
        assert_eq!(format_money(UiLocale::EnUs, "USD", 20), "$0.02");
        assert_eq!(format_count(UiLocale::EnIn, 100_000), "1,00,000");
        assert_eq!(format_count(UiLocale::EnUs, 100_000), "100,000");
    }
}
