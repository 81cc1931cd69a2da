#![no_main]
//! Fuzz target `instagram`: the Instagram webhook parser and the send-response reader must
//! never panic, whatever the bytes.
use concierge_core::channels::instagram;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(events) = instagram::parse_webhook(data) {
        for event in events {
            if let instagram::InstagramEvent::Message(m) = event {
                let _ = m.content.text_for_reply();
                let _ = m.idempotency_key();
            }
        }
    }
    let _ = instagram::parse_send_response(data);
});
