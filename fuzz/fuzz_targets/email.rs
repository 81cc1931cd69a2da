#![no_main]
//! Fuzz target `email`: `parse_email` on arbitrary bytes must never panic, and whatever it
//! accepts must normalize, route and answer without panicking either.
use concierge_core::channels::email::{build_email, parse_email, reply_to};
use concierge_core::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(email) = parse_email(data) {
        let _ = email.idempotency_id();
        let _ = email.to_inbound("hello@shop.cncg.email");
        let _ = email.auto.as_ref().map(ToString::to_string);
        let reply = reply_to(&email, "hello@shop.cncg.email", &email.text);
        // Refusing an odd address is fine; panicking is not.
        let _ = build_email(&reply, Timestamp::from_secs(1_700_000_000));
    }
});
