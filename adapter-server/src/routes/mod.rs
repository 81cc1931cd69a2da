//! The HTTP surface: webhooks, the admin API, health and metrics.

mod admin;
mod demo;
mod health;
mod webhooks;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use concierge_core::channels::discord::DiscordPublicKey;
use concierge_core::channels::{ChannelError, MAX_BODY_BYTES};
use concierge_core::engine::EngineError;
use concierge_core::ports::{Clock, StoreError};
use concierge_core::Engine;
use serde_json::json;
use tokio::sync::Notify;

pub use demo::DemoGuard;

use crate::configuration::Settings;
use crate::ingress::{IngressQueue, TenantRoutes};
use crate::store::{SecretBox, SqlStore};
use crate::telemetry::Metrics;

/// What every handler can reach: one shared [`AppParts`], so the clone axum makes per request
/// is one reference count, not one per part.
#[derive(Clone, Debug)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    /// The state over `parts`.
    pub fn new(parts: AppParts) -> Self {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct AppParts {
    /// Storage.
    pub store: SqlStore,
    /// The engine.
    pub engine: Engine,
    /// Settings.
    pub settings: Arc<Settings>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Nudges the workers when a job is queued.
    pub wake: Arc<Notify>,
    /// Seals channel tokens.
    pub secrets: Option<SecretBox>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The parsed Discord public key.
    pub discord_key: Option<DiscordPublicKey>,
    /// The demo's catalog and abuse guards.
    pub demo: Arc<DemoGuard>,
    /// Group commit for webhook ingress.
    pub ingress: IngressQueue,
    /// Ingress's cache of account → tenant routes.
    pub routes: Arc<TenantRoutes>,
}

/// The router with every route.
pub fn router(state: AppState) -> Router {
    let admin = Router::new()
        .route(
            "/tenants",
            get(admin::list_tenants).put(admin::import_tenant),
        )
        .route("/tenants/{tenant}", get(admin::export_tenant))
        .route("/tenants/{tenant}/persona", put(admin::save_persona))
        .route("/tenants/{tenant}/rules/{channel}", put(admin::save_rules))
        .route(
            "/tenants/{tenant}/conversation",
            put(admin::conversation_settings),
        )
        .route(
            "/tenants/{tenant}/credits",
            get(admin::balance).post(admin::grant_credits),
        )
        .route(
            "/tenants/{tenant}/secrets/{account}",
            put(admin::put_secret),
        )
        .route(
            "/tenants/{tenant}/conversations/{conversation}/messages",
            get(admin::conversation_messages),
        )
        .route("/tenants/{tenant}/outbox", get(admin::outbox))
        .route("/dead-letters", get(admin::dead_letters))
        .route("/dead-letters/{id}/retry", post(admin::retry_dead_letter))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            admin::require_admin,
        ));
    Router::new()
        .route(
            "/webhook/whatsapp",
            get(webhooks::whatsapp_verify).post(webhooks::whatsapp_event),
        )
        .route(
            "/webhook/instagram",
            get(webhooks::instagram_verify).post(webhooks::instagram_event),
        )
        .route("/discord/events", post(webhooks::discord_events))
        .route(
            "/discord/interactions",
            post(webhooks::discord_interactions),
        )
        .route("/email/inbound", post(webhooks::email_inbound))
        .route("/demo/personas", get(demo::personas))
        .route("/demo/chat", post(demo::chat))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .nest("/api/v1", admin)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Inside the request counter, so a caught panic is counted as the 500 it answers.
        .layer(crate::panic_guard::layer())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.request(&route, response.status().as_u16());
    response
}

/// An error answer. Internal details are logged, never sent.
#[derive(Debug)]
pub enum ApiError {
    /// A channel request was refused (signature, size, shape).
    Channel(ChannelError),
    /// 422 with field errors.
    Invalid(Vec<concierge_core::conversation::FieldError>),
    /// 404.
    NotFound(String),
    /// 409.
    Conflict(String),
    /// 401.
    Unauthorized,
    /// 400 with a message.
    BadRequest(String),
    /// 503 with a message.
    Unavailable(&'static str),
    /// 500; the cause is logged.
    Internal(String),
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid(errors) => ApiError::Invalid(errors),
            EngineError::UnknownTenant(t) => ApiError::NotFound(format!("tenant {t}")),
            // One mapping for store errors, whether the engine or a handler met them (and the
            // same as the Worker's): NotFound 404, Conflict 409, the rest 500.
            EngineError::Store(e) => e.into(),
            EngineError::Malformed(c) => ApiError::Channel(c),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ApiError::Conflict(what),
            StoreError::NotFound(what) => ApiError::NotFound(what),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::Channel(e) => (
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
                json!({ "error": e.to_string() }),
            ),
            ApiError::Invalid(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": "invalid input", "fields": errors }),
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                json!({ "error": format!("{what} not found") }),
            ),
            ApiError::Conflict(what) => (
                StatusCode::CONFLICT,
                json!({ "error": format!("conflict: {what}") }),
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({ "error": "missing or wrong bearer token" }),
            ),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, json!({ "error": m })),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, json!({ "error": m })),
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "error": "internal error" }),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}

/// Compares two secrets in constant time (over their SHA-256, so lengths do not leak).
pub(crate) fn secret_eq(given: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Serves one route answering `error` and returns the status and JSON body a client gets.
    async fn over_http(error: EngineError) -> (u16, serde_json::Value) {
        let error = std::sync::Mutex::new(Some(error));
        let error = Arc::new(error);
        let app = Router::new().route(
            "/x",
            get(move || {
                let error = error.lock().unwrap().take().unwrap();
                async move { Err::<Response, ApiError>(error.into()) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let response = reqwest::get(&url).await.unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap();
        server.abort();
        (status, body)
    }

    #[tokio::test]
    async fn an_engine_store_not_found_is_a_404_as_on_the_worker() {
        let (status, body) =
            over_http(EngineError::Store(StoreError::NotFound("draft d-1".into()))).await;
        assert_eq!(status, 404);
        assert_eq!(body, json!({ "error": "draft d-1 not found" }));
        let (status, _) =
            over_http(EngineError::Store(StoreError::Conflict("tenant t".into()))).await;
        assert_eq!(status, 409);
        let (status, body) = over_http(EngineError::Store(StoreError::backend(
            "connection refused to 10.0.0.5",
        )))
        .await;
        assert_eq!(status, 500);
        assert_eq!(
            body,
            json!({ "error": "internal error" }),
            "no database text"
        );
    }
}
