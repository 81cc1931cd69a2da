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

/// Google's OAuth endpoints (`/o/oauth2/v2/auth`, `/token`, `/v1/userinfo`) and Facebook
/// Login's (`/dialog/oauth`, Graph `/{version}/oauth/access_token` and `/{version}/me`) on
/// one local server. Consent is automatic: the dialog redirects back to `redirect_uri` with
/// a fresh single-use code for `email`, as the providers do.
#[derive(Clone)]
pub struct IdentityProviders {
    pub url: String,
    codes: Arc<Mutex<std::collections::HashMap<String, &'static str>>>,
    issued: Arc<AtomicU64>,
    email: &'static str,
}

pub const GOOGLE_CLIENT_ID: &str = "1234-abc.apps.googleusercontent.com";
pub const GOOGLE_CLIENT_SECRET: &str = "GOCSPX-test-secret";
pub const FACEBOOK_APP_ID: &str = "987654321";
pub const FACEBOOK_APP_SECRET: &str = "facebook-app-secret-for-tests";

pub async fn identity_providers(email: &'static str) -> IdentityProviders {
    use axum::routing::get;
    let mut fake = IdentityProviders {
        url: String::new(),
        codes: Arc::default(),
        issued: Arc::default(),
        email,
    };
    let app = Router::new()
        .route("/o/oauth2/v2/auth", get(idp_consent))
        .route("/dialog/oauth", get(idp_consent))
        .route("/token", post(google_token))
        .route("/v1/userinfo", get(google_userinfo))
        .route("/{version}/oauth/access_token", get(facebook_token))
        .route("/{version}/me", get(facebook_me))
        .with_state(fake.clone());
    fake.url = serve(app).await;
    fake
}

fn query_map(text: &str) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn idp_consent(State(idp): State<IdentityProviders>, uri: Uri) -> impl IntoResponse {
    let q = query_map(uri.query().unwrap_or(""));
    let n = idp.issued.fetch_add(1, Ordering::SeqCst);
    let code = format!("4/0Ab-code-{n}");
    idp.codes.lock().unwrap().insert(code.clone(), idp.email);
    let back = format!(
        "{}?code={}&state={}",
        q["redirect_uri"],
        form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>(),
        form_urlencoded::byte_serialize(q["state"].as_bytes()).collect::<String>()
    );
    (StatusCode::FOUND, [(axum::http::header::LOCATION, back)])
}

/// Google: RFC 6749 §4.1.3, a form POST with the client's credentials in the body.
async fn google_token(State(idp): State<IdentityProviders>, body: Bytes) -> impl IntoResponse {
    let form = query_map(std::str::from_utf8(&body).unwrap_or(""));
    let known = form
        .get("code")
        .and_then(|c| idp.codes.lock().unwrap().remove(c));
    let ok = known.is_some()
        && form.get("grant_type").map(String::as_str) == Some("authorization_code")
        && form.get("client_id").map(String::as_str) == Some(GOOGLE_CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(GOOGLE_CLIENT_SECRET)
        && form
            .get("redirect_uri")
            .is_some_and(|r| r.ends_with("/auth/callback"));
    if !ok {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant", "error_description": "Bad Request" })),
        );
    }
    (
        StatusCode::OK,
        Json(json!({
            "access_token": format!("ya29.{}", known.unwrap_or_default()),
            "expires_in": 3599,
            "scope": "openid https://www.googleapis.com/auth/userinfo.email",
            "token_type": "Bearer",
            "id_token": "eyJhbGciOiJSUzI1NiJ9.e30.signature"
        })),
    )
}

async fn google_userinfo(headers: HeaderMap) -> impl IntoResponse {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ya29."));
    match bearer {
        Some(email) => (
            StatusCode::OK,
            Json(json!({ "sub": "110169484474386276334", "email": email, "email_verified": true })),
        ),
        None => (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_token", "error_description": "Invalid Credentials" })),
        ),
    }
}

/// Facebook: a GET with the parameters in the query.
async fn facebook_token(State(idp): State<IdentityProviders>, uri: Uri) -> impl IntoResponse {
    let q = query_map(uri.query().unwrap_or(""));
    let known = q
        .get("code")
        .and_then(|c| idp.codes.lock().unwrap().remove(c));
    let ok = known.is_some()
        && q.get("client_id").map(String::as_str) == Some(FACEBOOK_APP_ID)
        && q.get("client_secret").map(String::as_str) == Some(FACEBOOK_APP_SECRET)
        && q.get("redirect_uri")
            .is_some_and(|r| r.ends_with("/auth/facebook/callback"));
    if !ok {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": {
                "message": "This authorization code has been used.",
                "type": "OAuthException", "code": 100, "fbtrace_id": "A1b2C3"
            }})),
        );
    }
    (
        StatusCode::OK,
        Json(json!({
            "access_token": format!("EAAB{}", known.unwrap_or_default()),
            "token_type": "bearer",
            "expires_in": 5_183_944
        })),
    )
}

async fn facebook_me(headers: HeaderMap, uri: Uri) -> impl IntoResponse {
    use hmac::Mac;
    let q = query_map(uri.query().unwrap_or(""));
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(FACEBOOK_APP_SECRET.as_bytes())
        .expect("any key length");
    mac.update(token.as_bytes());
    let proof = hex::encode(mac.finalize().into_bytes());
    match token.strip_prefix("EAAB") {
        Some(email) if q.get("appsecret_proof") == Some(&proof) => (
            StatusCode::OK,
            Json(json!({ "id": "10160000000000001", "email": email })),
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": {
                "message": "Invalid appsecret_proof provided in the API argument",
                "type": "GraphMethodException", "code": 100
            }})),
        ),
    }
}
