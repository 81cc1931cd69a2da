//! Local fakes of third-party APIs, speaking their wire formats: an OpenAI-compatible model
//! server and the Discord REST API. Each is a small axum app on 127.0.0.1:0.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use concierge_core::safety::{INJECTION_CLASSIFIER_PROMPT, PERSONA_CLASSIFIER_PROMPT};
use serde_json::{json, Value};

/// A request a fake received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Clone, Default)]
struct FakeState {
    requests: Arc<Mutex<Vec<Recorded>>>,
    /// Answer this status to the next N requests (0: succeed).
    fail_next: Arc<AtomicUsize>,
    fail_status: Arc<AtomicUsize>,
    ids: Arc<AtomicU64>,
    /// Hold the response to the next N requests for `delay_ms` (the request is recorded and,
    /// for Discord, the message created first, as a server would).
    delay_next: Arc<AtomicUsize>,
    delay_ms: Arc<AtomicU64>,
    /// Answer these statuses to the requests of these positions (0-based, in arrival order).
    fail_at: Arc<Mutex<std::collections::HashMap<usize, u16>>>,
    /// Discord: message id per enforced nonce, as Discord dedupes them.
    nonces: Arc<Mutex<std::collections::HashMap<String, u64>>>,
}

/// A running fake.
#[derive(Clone)]
pub struct Fake {
    pub url: String,
    state: FakeState,
}

impl Fake {
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Holds the responses to the next `n` requests for `ms` milliseconds.
    pub fn delay_next(&self, n: usize, ms: u64) {
        self.state.delay_ms.store(ms, Ordering::SeqCst);
        self.state.delay_next.store(n, Ordering::SeqCst);
    }

    /// Fails the request number `index` (0-based, counting every request this fake
    /// received) with `status`.
    pub fn fail_at(&self, index: usize, status: u16) {
        self.state.fail_at.lock().unwrap().insert(index, status);
    }

    /// Fails the next `n` requests with `status`.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.state
            .fail_status
            .store(usize::from(status), Ordering::SeqCst);
        self.state.fail_next.store(n, Ordering::SeqCst);
    }
}

fn record(state: &FakeState, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Option<StatusCode> {
    let mut requests = state.requests.lock().unwrap();
    let index = requests.len();
    requests.push(Recorded {
        path: uri.path().to_owned(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    });
    drop(requests);
    if let Some(status) = state.fail_at.lock().unwrap().remove(&index) {
        return Some(StatusCode::from_u16(status).unwrap());
    }
    let left = state.fail_next.load(Ordering::SeqCst);
    if left > 0 {
        state.fail_next.store(left - 1, Ordering::SeqCst);
        let status = u16::try_from(state.fail_status.load(Ordering::SeqCst)).unwrap();
        return Some(StatusCode::from_u16(status).unwrap());
    }
    None
}

async fn delay(state: &FakeState) {
    let left = state.delay_next.load(Ordering::SeqCst);
    if left > 0 {
        state.delay_next.store(left - 1, Ordering::SeqCst);
        let ms = state.delay_ms.load(Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    url
}

async fn discord_create(
    State(state): State<FakeState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    if let Some(status) = record(&state, &uri, &headers, &body) {
        return (
            status,
            Json(
                json!({ "code": 0, "message": "fake failure", "retry_after": 0.01, "global": false }),
            ),
        );
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = match (
        request["nonce"].as_str(),
        request["enforce_nonce"].as_bool(),
    ) {
        (Some(nonce), Some(true)) => *state
            .nonces
            .lock()
            .unwrap()
            .entry(nonce.to_owned())
            .or_insert_with(|| {
                1_500_000_000_000_000_000u64 + state.ids.fetch_add(1, Ordering::SeqCst)
            }),
        _ => 1_500_000_000_000_000_000u64 + state.ids.fetch_add(1, Ordering::SeqCst),
    };
    delay(&state).await;
    (
        StatusCode::OK,
        Json(json!({ "id": id.to_string(), "type": 0, "content": "ok" })),
    )
}

/// The Discord REST API: `POST /api/v10/channels/{id}/messages`.
pub async fn discord() -> Fake {
    let state = FakeState::default();
    let app = Router::new()
        .route("/api/v10/channels/{channel}/messages", post(discord_create))
        .with_state(state.clone());
    Fake {
        url: serve(app).await,
        state,
    }
}

async fn chat(
    State(state): State<FakeState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    if let Some(status) = record(&state, &uri, &headers, &body) {
        return (
            status,
            Json(json!({ "error": { "message": "fake failure" } })),
        );
    }
    delay(&state).await;
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let system = request["messages"][0]["content"].as_str().unwrap_or("");
    let answer = if system == INJECTION_CLASSIFIER_PROMPT {
        r#"{"verdict":"allow"}"#.to_owned()
    } else if system == PERSONA_CLASSIFIER_PROMPT {
        r#"{"verdict":"approve"}"#.to_owned()
    } else {
        "A 1 kg cake starts at ₹900.".to_owned()
    };
    (
        StatusCode::OK,
        Json(json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": request["model"],
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": answer },
                "finish_reason": "stop"
            }],
            "usage": { "prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2 }
        })),
    )
}

async fn embeddings(
    State(state): State<FakeState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    record(&state, &uri, &headers, &body);
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let n = request["input"].as_array().map_or(1, Vec::len);
    let data: Vec<Value> = (0..n)
        .map(|i| json!({ "object": "embedding", "index": i, "embedding": [1.0, 0.0, 0.0] }))
        .collect();
    Json(json!({ "object": "list", "data": data, "model": request["model"] }))
}

/// An OpenAI-compatible server: `POST /v1/chat/completions` and `POST /v1/embeddings`.
pub async fn openai() -> Fake {
    let state = FakeState::default();
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings))
        .with_state(state.clone());
    Fake {
        url: format!("{}/v1", serve(app).await),
        state,
    }
}

async fn graph_send(
    State(state): State<FakeState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    if let Some(status) = record(&state, &uri, &headers, &body) {
        return (
            status,
            Json(
                json!({ "error": { "message": "fake failure", "type": "OAuthException", "code": 2, "fbtrace_id": "x" } }),
            ),
        );
    }
    let n = state.ids.fetch_add(1, Ordering::SeqCst);
    // Accepted: a held answer leaves the sender not knowing (as after a timeout or a kill).
    delay(&state).await;
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let to = request["to"]
        .as_str()
        .or(request["recipient"]["id"].as_str())
        .unwrap_or("")
        .to_owned();
    (
        StatusCode::OK,
        Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": to, "wa_id": to }],
            "messages": [{ "id": format!("wamid.fake{n}") }],
            "recipient_id": to,
            "message_id": format!("mid.fake{n}")
        })),
    )
}

/// The Graph API: `POST /{version}/{phone_number_id}/messages` (WhatsApp) and
/// `POST /{version}/me/messages` (Instagram).
pub async fn graph() -> Fake {
    let state = FakeState::default();
    let app = Router::new()
        .route("/{version}/{account}/messages", post(graph_send))
        .with_state(state.clone());
    Fake {
        url: serve(app).await,
        state,
    }
}
