//! The live demo's HTTP surface: `GET /demo/personas` (the approved entries of the personas
//! catalog, [`Engine::approved_personas`](crate::Engine::approved_personas), each with the
//! exact system prompt the model receives, for "View prompt") and `POST /demo/chat` (one
//! stateless turn through [`Engine::demo_chat`](crate::Engine::demo_chat); the page keeps the
//! history and the handoff flag).
//!
//! The demo is unauthenticated and every turn costs a model call, so it is guarded twice: a
//! token bucket per client ([`DemoLimiter`]: as many turns per minute as configured, refilled
//! continuously) and the host's cap on turns in flight ([`Host::demo_slot`](super::Host::demo_slot)).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::json;

use crate::engine::{DemoChatRequest, EngineError};
use crate::ports::AiError;
use crate::time::Timestamp;

use super::reply::{json_ok, Response};
use super::{ApiError, ClientIp, Front};

/// How many clients' buckets are remembered before full (idle) ones are forgotten.
const MAX_TRACKED_CLIENTS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Timestamp,
}

/// The demo's per-client token bucket: `per_minute` turns per client, refilled continuously.
/// Keep one per process (or isolate) and share it between requests.
#[derive(Debug)]
pub struct DemoLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl DemoLimiter {
    /// `per_minute` turns per client (0: the demo chat is off). The personas come from the
    /// catalog in the store (only approved ones).
    pub fn new(per_minute: u32) -> Self {
        DemoLimiter {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `client`'s bucket; `Err(seconds to wait)` when it is empty.
    fn take(&self, client: &str, now: Timestamp) -> Result<(), u64> {
        let capacity = f64::from(self.per_minute);
        let per_ms = capacity / 60_000.0;
        let refilled = |b: &Bucket| {
            let elapsed = now.as_millis().saturating_sub(b.at.as_millis()).max(0);
            #[allow(clippy::cast_precision_loss)]
            let elapsed = elapsed as f64;
            (b.tokens + elapsed * per_ms).min(capacity)
        };
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(client) {
            // Clients whose bucket has refilled are indistinguishable from new ones.
            buckets.retain(|_, b| refilled(b) < capacity);
            if buckets.len() >= MAX_TRACKED_CLIENTS {
                return Err(1);
            }
        }
        let bucket = buckets.entry(client.to_owned()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        bucket.tokens = refilled(bucket);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = (1.0 - bucket.tokens) / per_ms;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Err(((wait_ms / 1000.0).ceil() as u64).max(1))
        }
    }
}

/// One persona of `GET /demo/personas`.
#[derive(Debug, Serialize)]
struct PersonaView<'a> {
    slug: &'a str,
    label: &'a str,
    description: &'a str,
    greeting: &'a str,
    /// The exact system prompt the model receives ("View prompt").
    prompt: String,
}

/// `GET /demo/personas`.
pub(super) async fn personas(front: &Front<'_>) -> Result<Response, ApiError> {
    let catalog = front.engine.approved_personas().await?;
    let personas: Vec<PersonaView<'_>> = catalog
        .iter()
        .map(|p| PersonaView {
            slug: &p.slug,
            label: &p.label,
            description: &p.description,
            greeting: &p.greeting,
            prompt: p.envelope_for(front.engine.config().compact_envelope()),
        })
        .collect();
    Ok(json_ok(&json!({ "personas": personas })))
}

/// `POST /demo/chat`: `{"persona","history":[{"role","content"}],"message","handoff"}` →
/// `{"reply","handoff"}`. 400 for a body that is not that JSON, 422 with field errors for an
/// unknown persona or a bad message, 429 (with `Retry-After`) past the client's rate, 503 when
/// busy or when no AI provider is configured, 502 when the model fails.
pub(super) async fn chat(
    front: &Front<'_>,
    client: Option<&ClientIp>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let limiter = front.demo;
    if limiter.per_minute == 0 {
        return Err(ApiError::Unavailable(
            "the demo chat is off (demo rate is 0)",
        ));
    }
    let request: DemoChatRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid demo chat request: {e}")))?;
    let client = client.map_or("unknown", |c| c.0.as_str());
    if let Err(wait) = limiter.take(client, front.engine.clock().now()) {
        return Err(ApiError::TooManyRequests {
            message: "too many demo messages: try again in a moment",
            retry_after_secs: wait,
        });
    }
    let Some(_slot) = front.host.demo_slot().await else {
        return Err(ApiError::Unavailable("the demo is busy: try again shortly"));
    };
    let catalog = front.engine.approved_personas().await?;
    match front.engine.demo_chat(&catalog, &request).await {
        Ok(reply) => Ok(json_ok(&reply)),
        Err(EngineError::Ai(AiError::NotConfigured)) => {
            Err(ApiError::Unavailable(front.config.ai_setup_hint))
        }
        Err(EngineError::Ai(e)) => {
            tracing::warn!(error = %e, "demo chat: the model failed");
            Err(ApiError::BadGateway("the model did not answer: try again"))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refills_at_its_rate() {
        let limiter = DemoLimiter::new(2);
        let t0 = Timestamp::from_millis(1_000_000);
        assert!(limiter.take("127.0.0.1", t0).is_ok());
        assert!(limiter.take("127.0.0.1", t0).is_ok());
        let wait = limiter.take("127.0.0.1", t0).unwrap_err();
        assert!((25..=30).contains(&wait), "{wait}");
        // Another client has its own bucket.
        assert!(limiter.take("10.0.0.1", t0).is_ok());
        // Half a minute later one token is back.
        let t1 = Timestamp::from_millis(1_030_000);
        assert!(limiter.take("127.0.0.1", t1).is_ok());
        assert!(limiter.take("127.0.0.1", t1).is_err());
    }
}
