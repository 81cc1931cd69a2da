#![no_main]
//! Fuzz target `reply_split` (being written).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
