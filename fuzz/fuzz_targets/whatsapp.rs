#![no_main]
//! Fuzz target `whatsapp`: the WhatsApp webhook parser, the send-response and Graph error
//! readers and the verification handshake must never panic, whatever the bytes.
use concierge_core::channels::{meta, whatsapp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(events) = whatsapp::parse_webhook(data) {
        for event in events {
            if let whatsapp::WhatsAppEvent::Message(m) = event {
                // Everything the engine calls on a parsed message must hold up too.
                let _ = m.content.text_for_reply();
                let _ = m.idempotency_key();
            }
        }
    }
    let _ = whatsapp::parse_send_response(data);
    let _ = meta::parse_graph_error(data);
    let _ = meta::verify_signature(b"fuzz-app-secret", data, Some("sha256=00"));
    if let Ok(query) = std::str::from_utf8(data) {
        let _ = meta::verify_subscription(query, "fuzz-token");
    }
});
