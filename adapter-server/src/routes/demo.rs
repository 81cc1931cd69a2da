//! The live demo: `GET /demo/personas` (the vetted catalog, with each persona's exact system
//! prompt for "View prompt") and `POST /demo/chat` (one stateless turn through
//! `Engine::demo_chat`; the page keeps the history and the `{handoff}` flag).
//!
//! The demo is unauthenticated and every turn costs a model call, so it is guarded twice:
//! a token bucket per client IP (`CONCIERGE_DEMO_PER_MINUTE`, refilled continuously, as many
//! tokens as turns per minute) and a global cap on turns in flight
//! (`CONCIERGE_DEMO_CONCURRENCY`). The client IP is the TCP peer: behind a reverse proxy every
//! visitor shares the proxy's bucket, so rate-limit per visitor at the proxy instead.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use concierge_core::engine::{demo_catalog, DemoChatRequest, DemoPersona, EngineError};
use concierge_core::ports::AiError;
use serde::Serialize;
use serde_json::json;
use tokio::sync::Semaphore;

use super::{ApiError, AppState};

/// How many clients' buckets are remembered before idle (full) ones are forgotten.
const MAX_TRACKED_CLIENTS: usize = 10_000;
/// How long a turn waits for a free slot under the concurrency cap.
const QUEUE_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The demo's abuse guards: a per-IP token bucket and a global concurrency cap.
#[derive(Debug)]
pub struct DemoGuard {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
    slots: Arc<Semaphore>,
    catalog: Vec<DemoPersona>,
}

impl DemoGuard {
    /// `per_minute` turns per client IP (0: the demo chat is off) and `concurrency` turns in
    /// flight at once.
    pub fn new(per_minute: u32, concurrency: usize) -> Self {
        DemoGuard {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            catalog: demo_catalog(),
        }
    }

    /// Takes one token from `ip`'s bucket; `Err(wait)` when it is empty.
    fn take(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(&ip) {
            // Forget clients whose bucket has refilled: they are indistinguishable from new.
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second < capacity
            });
            if buckets.len() >= MAX_TRACKED_CLIENTS {
                return Err(Duration::from_secs(1));
            }
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
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

/// `GET /demo/personas`: the catalog.
pub(crate) async fn personas(State(state): State<AppState>) -> Response {
    let personas: Vec<PersonaView<'_>> = state
        .demo
        .catalog
        .iter()
        .map(|p| PersonaView {
            slug: &p.slug,
            label: &p.label,
            description: &p.description,
            greeting: &p.greeting,
            prompt: p.envelope(),
        })
        .collect();
    Json(json!({ "personas": personas })).into_response()
}

/// `POST /demo/chat`: `{"persona","history":[{"role","content"}],"message","handoff"}` →
/// `{"reply","handoff"}`. 400 for a body that is not that JSON, 422 with field errors for an
/// unknown persona or a bad message, 429 (with `Retry-After`) past the client's rate, 503 when
/// busy or when no AI provider is configured, 502 when the model fails.
pub(crate) async fn chat(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let guard = &state.demo;
    if guard.per_minute == 0 {
        return Err(ApiError::Unavailable(
            "the demo chat is off (CONCIERGE_DEMO_PER_MINUTE=0)",
        ));
    }
    let request: DemoChatRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid demo chat request: {e}")))?;
    if let Err(wait) = guard.take(peer.ip(), Instant::now()) {
        let secs = wait.as_secs().max(1).to_string();
        return Ok((
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs)],
            Json(json!({ "error": "too many demo messages: try again in a moment" })),
        )
            .into_response());
    }
    let slots = guard.slots.clone();
    let _slot = match tokio::time::timeout(QUEUE_WAIT, slots.acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        _ => return Err(ApiError::Unavailable("the demo is busy: try again shortly")),
    };
    match state.engine.demo_chat(&guard.catalog, &request).await {
        Ok(reply) => Ok(Json(reply).into_response()),
        Err(EngineError::Ai(AiError::NotConfigured)) => Err(ApiError::Unavailable(
            "the demo needs an AI provider (CONCIERGE_AI_URL)",
        )),
        Err(EngineError::Ai(e)) => {
            tracing::warn!(error = %e, "demo chat: the model failed");
            Ok((
                StatusCode::BAD_GATEWAY,
                Json(json!({ "error": "the model did not answer: try again" })),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refills_at_its_rate() {
        let guard = DemoGuard::new(2, 1);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let t0 = Instant::now();
        assert!(guard.take(ip, t0).is_ok());
        assert!(guard.take(ip, t0).is_ok());
        let wait = guard.take(ip, t0).unwrap_err();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30));
        // Another client has its own bucket.
        assert!(guard.take([10, 0, 0, 1].into(), t0).is_ok());
        // Half a minute later one token is back.
        let t1 = t0 + Duration::from_secs(30);
        assert!(guard.take(ip, t1).is_ok());
        assert!(guard.take(ip, t1).is_err());
    }
}
