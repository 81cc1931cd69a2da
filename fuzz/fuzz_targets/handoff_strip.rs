#![no_main]
//! Stripping the handoff sentinel never panics, leaves no sentinel and is idempotent.
use concierge_core::prompt::{detect_and_strip_handoff, HANDOFF};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (once, _) = detect_and_strip_handoff(&text);
    assert!(!once
        .to_ascii_lowercase()
        .contains(&HANDOFF.to_ascii_lowercase()));
    let (twice, again) = detect_and_strip_handoff(&once);
    assert_eq!(twice, once);
    assert!(!again);
});
