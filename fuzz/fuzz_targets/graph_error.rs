#![no_main]
//! Fuzz target `graph_error`: reading a Graph API error body must never panic; what it reads
//! must be consistent (a rate limit is retryable), display, and survive a JSON round trip.
use concierge_core::channels::meta::{parse_graph_error, GraphError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(error) = parse_graph_error(data) else {
        return;
    };
    if error.is_rate_limit() {
        assert!(error.retryable, "rate limit {} not retryable", error.code);
    }
    let _ = error.is_outside_window();
    let _ = error.to_string();
    let json = serde_json::to_vec(&error).expect("a GraphError serializes");
    let back: GraphError = serde_json::from_slice(&json).expect("and deserializes");
    assert_eq!(back, error);
});
