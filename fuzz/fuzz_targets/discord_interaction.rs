#![no_main]
//! Fuzz target `discord_interaction`: the interactions endpoint's parser and the button
//! `custom_id` verifier must never panic, whatever Discord (or an attacker) sends.
use concierge_core::channels::discord::{parse_interaction_with_key, verify_custom_id};
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"fuzz-button-key";

fuzz_target!(|data: &[u8]| {
    let _ = parse_interaction_with_key(data, KEY);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = verify_custom_id(KEY, text);
    }
});
