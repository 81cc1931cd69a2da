#![no_main]
//! Fuzz target `email_rule_globs` (being written).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
