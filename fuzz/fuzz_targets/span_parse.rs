#![no_main]
//! Fuzz target `span_parse`: `Span::parse` must never panic. `Span` has no `Display`, so the
//! round trip is through milliseconds and through a canonical `{d}d{h}h{m}m{s}s{ms}ms` text,
//! both of which must parse back to the same span. Two spans written one after the other
//! parse to their sum (or fail on overflow, never wrap).
//!
//! Input: two texts separated by the first NUL byte (the second is optional).
use concierge_core::time::Span;
use libfuzzer_sys::fuzz_target;

fn canonical(span: Span) -> String {
    let ms = span.as_millis();
    format!(
        "{}d{}h{}m{}s{}ms",
        ms / 86_400_000,
        ms / 3_600_000 % 24,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn check_one(text: &str) -> Option<Span> {
    let span = Span::parse(text).ok()?;
    assert!(span.as_millis() >= 0, "{text:?} parsed to a negative span");
    assert_eq!(Span::parse(&format!("{}ms", span.as_millis())), Ok(span));
    assert_eq!(Span::parse(&canonical(span)), Ok(span), "{text:?}");
    Some(span)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_once('\0').unwrap_or((&text, ""));
    let first = check_one(a);
    let second = check_one(b);
    if let (Some(x), Some(y)) = (first, second) {
        let joined = format!("{}{}", a.trim(), b.trim());
        match x.as_millis().checked_add(y.as_millis()) {
            Some(sum) => assert_eq!(Span::parse(&joined), Ok(Span::millis(sum)), "{joined:?}"),
            None => assert!(Span::parse(&joined).is_err(), "{joined:?} wrapped"),
        }
    }
});
