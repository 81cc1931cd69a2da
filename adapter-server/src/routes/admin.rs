//! The admin API under `/api/v1`, behind `Authorization: Bearer CONCIERGE_ADMIN_TOKEN`.

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use concierge_core::conversation::{ConversationConfig, FieldError};
use concierge_core::engine::EngineError;
use concierge_core::ids::{Channel, ConversationId, Milli, TenantId};
use concierge_core::persona::PersonaSource;
use concierge_core::ports::{Ledger, MessageLog, StoreError, TenantStore};
use concierge_core::rules::ReplyConfig;
use concierge_core::tenant::{TenantFile, TenantFileError};
use concierge_core::Timestamp;
use serde::Deserialize;
use serde_json::json;

use super::{secret_eq, ApiError, AppState};

/// Rejects requests without the admin bearer token (the API is off when none is set).
pub(crate) async fn require_admin(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = state.settings.admin_token.as_ref() else {
        return ApiError::Unavailable("the admin API is off: set CONCIERGE_ADMIN_TOKEN")
            .into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !secret_eq(given, token.expose()) {
        return ApiError::Unauthorized.into_response();
    }
    next.run(request).await
}

fn tenant_id(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw)
        .map_err(|e| ApiError::Invalid(vec![FieldError::new("tenant", e.to_string())]))
}

/// Runs an engine update, retrying when a concurrent write (a persona review finishing, another
/// admin) bumped the tenant's revision in between: each attempt re-reads the tenant.
async fn retry_conflicts<T, F, Fut>(mut op: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, EngineError>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(EngineError::Store(StoreError::Conflict(_))) if attempt < 4 => attempt += 1,
            other => return other.map_err(ApiError::from),
        }
    }
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid JSON: {e}")))
}

/// `GET /tenants`: every tenant id.
pub(crate) async fn list_tenants(State(state): State<AppState>) -> Result<Response, ApiError> {
    let ids = state.store.list_tenants().await?;
    Ok(Json(json!({ "tenants": ids })).into_response())
}

/// `PUT /tenants`: imports a TOML tenant file (creates or updates).
pub(crate) async fn import_tenant(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the tenant file must be UTF-8 TOML".into()))?;
    let file = TenantFile::from_toml(text).map_err(|e| match e {
        TenantFileError::Syntax(m) => ApiError::BadRequest(m),
        TenantFileError::Invalid(errors) => ApiError::Invalid(errors),
    })?;
    let outcome = retry_conflicts(|| state.engine.import_tenant(file.clone())).await?;
    // Its accounts may have moved: ingress must route by the new ones at once.
    state.routes.clear();
    state.wake.notify_one();
    Ok(Json(outcome).into_response())
}

/// `GET /tenants/{tenant}`: the tenant file (TOML), with the persona's review status as a
/// header.
pub(crate) async fn export_tenant(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let id = tenant_id(&tenant)?;
    let tenant = state
        .store
        .get_tenant(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("tenant {id}")))?;
    let toml = TenantFile::from_tenant(&tenant)
        .to_toml()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        [(header::CONTENT_TYPE, "application/toml; charset=utf-8")],
        toml,
    )
        .into_response())
}

/// `PUT /tenants/{tenant}/persona`: `{"custom": "..."}` or `{"builder": {...}}`.
pub(crate) async fn save_persona(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = tenant_id(&tenant)?;
    let source: PersonaSource = json_body(&body)?;
    let outcome = retry_conflicts(|| state.engine.save_persona(&id, source.clone())).await?;
    state.wake.notify_one();
    Ok(Json(outcome).into_response())
}

/// `PUT /tenants/{tenant}/rules/{channel}`: a channel's `ReplyConfig` as JSON.
pub(crate) async fn save_rules(
    State(state): State<AppState>,
    Path((tenant, channel)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = tenant_id(&tenant)?;
    let channel: Channel = channel.parse().map_err(|e: concierge_core::ids::IdError| {
        ApiError::Invalid(vec![FieldError::new("channel", e.to_string())])
    })?;
    let config: ReplyConfig = json_body(&body)?;
    let unembedded =
        retry_conflicts(|| state.engine.save_reply_config(&id, channel, config.clone())).await?;
    Ok(Json(json!({ "saved": true, "unembedded_rules": unembedded })).into_response())
}

/// `PUT /tenants/{tenant}/conversation`: the conversation knobs; 422 with field errors.
pub(crate) async fn conversation_settings(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = tenant_id(&tenant)?;
    let config: ConversationConfig = json_body(&body)?;
    retry_conflicts(|| state.engine.update_conversation_settings(&id, config)).await?;
    Ok(Json(json!({ "saved": true })).into_response())
}

/// A credit grant.
#[derive(Debug, Deserialize)]
pub(crate) struct GrantRequest {
    grant_id: String,
    amount: Milli,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /tenants/{tenant}/credits`: `{"grant_id","amount":"10.5","expires_at"?,"reason"?}`.
pub(crate) async fn grant_credits(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = tenant_id(&tenant)?;
    let grant: GrantRequest = json_body(&body)?;
    let outcome = state
        .engine
        .grant_credits(
            &id,
            &grant.grant_id,
            grant.amount,
            grant.expires_at.map(Timestamp),
            grant.reason.as_deref().unwrap_or("operator grant"),
        )
        .await?;
    let balance = state.store.balance(&id, state.clock.now()).await?;
    Ok(Json(json!({ "outcome": outcome, "balance": balance })).into_response())
}

/// `GET /tenants/{tenant}/credits`: the live balance.
pub(crate) async fn balance(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let id = tenant_id(&tenant)?;
    let balance = state.store.balance(&id, state.clock.now()).await?;
    Ok(Json(json!({ "tenant": id, "balance": balance })).into_response())
}

/// A channel token to seal.
#[derive(Debug, Deserialize)]
pub(crate) struct SecretRequest {
    token: String,
}

/// `PUT /tenants/{tenant}/secrets/{account}`: stores a channel token (e.g. for
/// `wa_phone:106540352242922`) sealed with `ENCRYPTION_KEY`.
pub(crate) async fn put_secret(
    State(state): State<AppState>,
    Path((tenant, account)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = tenant_id(&tenant)?;
    let secrets = state
        .secrets
        .as_ref()
        .ok_or(ApiError::Unavailable("ENCRYPTION_KEY is not configured"))?;
    let request: SecretRequest = json_body(&body)?;
    let tenant = state
        .store
        .get_tenant(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("tenant {id}")))?;
    if !tenant
        .channels
        .accounts()
        .iter()
        .any(|a| a.index_key() == account)
    {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "account",
            "not one of the tenant's channel accounts",
        )]));
    }
    let sealed = secrets
        .seal(&account, &request.token)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    state
        .store
        .put_secret(id.as_str(), &account, &sealed)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /tenants/{tenant}/conversations/{conversation}/messages`: metadata rows.
pub(crate) async fn conversation_messages(
    State(state): State<AppState>,
    Path((tenant, conversation)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = tenant_id(&tenant)?;
    let conversation = ConversationId::parse(&conversation)
        .map_err(|e| ApiError::Invalid(vec![FieldError::new("conversation", e.to_string())]))?;
    let rows = state
        .store
        .conversation_messages(&id, &conversation)
        .await?;
    Ok(Json(json!({ "messages": rows })).into_response())
}

/// `GET /tenants/{tenant}/outbox`: what was sent (or recorded, in dry-run mode).
pub(crate) async fn outbox(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let id = tenant_id(&tenant)?;
    let rows = state.store.outbox_rows(id.as_str()).await?;
    let rows: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            let mut v = json!(r);
            // Dry-run records keep the message so a developer can see the reply.
            if r.dry_run {
                if let Ok(message) = serde_json::from_str::<serde_json::Value>(&r.payload) {
                    v["message"] = message;
                }
            }
            v
        })
        .collect();
    Ok(Json(json!({ "outbox": rows })).into_response())
}

/// Dead-letter filter.
#[derive(Debug, Deserialize)]
pub(crate) struct DeadQuery {
    tenant: Option<String>,
    limit: Option<i64>,
}

/// `GET /dead-letters?tenant=&limit=`.
pub(crate) async fn dead_letters(
    State(state): State<AppState>,
    Query(query): Query<DeadQuery>,
) -> Result<Response, ApiError> {
    let jobs = state
        .store
        .dead_jobs(
            query.tenant.as_deref(),
            query.limit.unwrap_or(100).clamp(1, 1000),
        )
        .await?;
    Ok(Json(json!({ "dead_letters": jobs })).into_response())
}

/// `POST /dead-letters/{id}/retry`.
pub(crate) async fn retry_dead_letter(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    if state
        .store
        .retry_dead_job(id, None, state.clock.now())
        .await?
    {
        state.wake.notify_one();
        Ok(Json(json!({ "retried": id })).into_response())
    } else {
        Err(ApiError::NotFound(format!("dead letter {id}")))
    }
}
