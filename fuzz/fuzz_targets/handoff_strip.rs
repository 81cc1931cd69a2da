#![no_main]
//! Fuzz target `handoff_strip` (being written).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
