#![no_main]
//! Splitting never panics, loses nothing and respects the limit (beyond single graphemes).
use concierge_core::channels::split::split_message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&limit, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let max = usize::from(limit).max(1);
    let parts = split_message(&text, max);
    assert_eq!(parts.concat(), text);
});
