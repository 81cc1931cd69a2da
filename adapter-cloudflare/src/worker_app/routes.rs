//! The HTTP surface, with the server adapter's paths and status codes: verify and parse with
//! `concierge_core::channels`, hand customer messages to `WORK_QUEUE` (durable, answered in
//! milliseconds), answer Discord interactions inline, and the admin API under `/api/v1`.

use concierge_core::approval::DraftDecision;
use concierge_core::channels::discord::{self, DiscordEvent};
use concierge_core::channels::instagram::{self, InstagramEvent};
use concierge_core::channels::whatsapp::{self, WhatsAppEvent};
use concierge_core::channels::{check_size, meta, ChannelError, InboundMessage};
use concierge_core::conversation::FieldError;
use concierge_core::engine::{
    approval_response, demo_catalog, ApprovalOutcome, DemoChatRequest, EngineError,
    InteractionAnswer,
};
use concierge_core::ids::{ConversationId, ConversationKey, TenantId};
use concierge_core::persona::PersonaSource;
use concierge_core::ports::{AiError, Ledger, MessageLog, StoreError, TenantStore};
use concierge_core::safety::SafetyStatus;
use concierge_core::tenant::{TenantFile, TenantFileError};
use serde_json::json;
use worker::wasm_bindgen::JsValue;
use worker::{Env, Method, Request, Response, Result};

use super::config::text;
use super::reply_buffer::{self, ApprovalCall};
use super::store::{CfStore, WorkItem};
use super::{engine, now, Sessions};

/// A handler failure, rendered like the server's `ApiError`.
#[derive(Debug)]
pub(crate) enum ApiError {
    Channel(ChannelError),
    Invalid(Vec<FieldError>),
    NotFound(String),
    Conflict(String),
    Unauthorized,
    BadRequest(String),
    Unavailable(&'static str),
    Internal(String),
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        ApiError::Internal(e.to_string())
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

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid(errors) => ApiError::Invalid(errors),
            EngineError::Malformed(e) => ApiError::Channel(e),
            EngineError::UnknownTenant(t) => ApiError::NotFound(format!("tenant {t}")),
            EngineError::Store(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl ApiError {
    fn into_response(self) -> Result<Response> {
        let (status, body) = match self {
            ApiError::Channel(e) => (e.status(), json!({ "error": e.to_string() })),
            ApiError::Invalid(errors) => {
                (422, json!({ "error": "invalid input", "fields": errors }))
            }
            ApiError::NotFound(what) => (404, json!({ "error": format!("{what} not found") })),
            ApiError::Conflict(what) => (409, json!({ "error": format!("conflict: {what}") })),
            ApiError::Unauthorized => (401, json!({ "error": "missing or wrong bearer token" })),
            ApiError::BadRequest(m) => (400, json!({ "error": m })),
            ApiError::Unavailable(m) => (503, json!({ "error": m })),
            ApiError::Internal(cause) => {
                worker::console_error!("internal error: {cause}");
                (500, json!({ "error": "internal error" }))
            }
        };
        Ok(Response::from_json(&body)?.with_status(status))
    }
}

type ApiResult = std::result::Result<Response, ApiError>;

/// Serves one request. A misconfigured Worker (see [`crate::settings`]) answers every request
/// 503 and logs which setting is wrong: Meta and Discord retry, so nothing is lost while the
/// deployer fixes it.
pub(crate) async fn handle(req: Request, env: Env) -> Result<Response> {
    if let Err(e) = super::config::from_env(&env) {
        worker::console_error!("{e}");
        return ApiError::Unavailable("the Worker is misconfigured: see its log").into_response();
    }
    match route(req, &env).await {
        Ok(response) => Ok(response),
        Err(e) => e.into_response(),
    }
}

async fn route(mut req: Request, env: &Env) -> ApiResult {
    let path = req.path();
    let method = req.method();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::Get, ["healthz"]) => healthz(env).await,
        (Method::Get, ["webhook", "whatsapp"]) => meta_verify(env, &req, "WHATSAPP_VERIFY_TOKEN"),
        (Method::Get, ["webhook", "instagram"]) => meta_verify(env, &req, "INSTAGRAM_VERIFY_TOKEN"),
        (Method::Post, ["webhook", "whatsapp"]) => {
            let body = req.bytes().await?;
            whatsapp_event(env, &req, &body).await
        }
        (Method::Post, ["webhook", "instagram"]) => {
            let body = req.bytes().await?;
            instagram_event(env, &req, &body).await
        }
        (Method::Post, ["discord", "events"]) => {
            let body = req.bytes().await?;
            discord_events(env, &req, &body).await
        }
        (Method::Post, ["discord", "interactions"]) => {
            let body = req.bytes().await?;
            discord_interactions(env, &req, &body).await
        }
        (Method::Get, ["demo", "personas"]) => demo_personas(),
        (Method::Post, ["demo", "chat"]) => {
            let body = req.bytes().await?;
            demo_chat(env, &body).await
        }
        (method, ["api", "v1", rest @ ..]) => {
            require_admin(env, &req)?;
            let rest: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
            let body = req.bytes().await?;
            admin(env, method, &rest, &body).await
        }
        _ => Ok(Response::error("not found", 404)?),
    }
}

/// `GET /demo/personas`: the vetted catalog, each with the exact system prompt ("View prompt").
fn demo_personas() -> ApiResult {
    let personas: Vec<serde_json::Value> = demo_catalog()
        .iter()
        .map(|p| {
            json!({
                "slug": p.slug,
                "label": p.label,
                "description": p.description,
                "greeting": p.greeting,
                "prompt": p.envelope(),
            })
        })
        .collect();
    Ok(Response::from_json(&json!({ "personas": personas }))?)
}

/// `POST /demo/chat`: one stateless demo turn, with the server's status codes (400 bad JSON,
/// 422 field errors, 503 without a model, 502 when the model fails). Rate-limit the route with a
/// Cloudflare rate-limiting rule: a Worker isolate cannot count per visitor reliably.
async fn demo_chat(env: &Env, body: &[u8]) -> ApiResult {
    let request: DemoChatRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid demo chat request: {e}")))?;
    let engine = engine(env, Sessions::Elsewhere)?;
    match engine.demo_chat(&demo_catalog(), &request).await {
        Ok(reply) => Ok(Response::from_json(&reply)?),
        Err(EngineError::Ai(AiError::NotConfigured)) => Err(ApiError::Unavailable(
            "the demo needs an AI provider (AI_PROVIDER)",
        )),
        Err(EngineError::Ai(e)) => {
            worker::console_warn!("demo chat: the model failed: {e}");
            Ok(
                Response::from_json(&json!({ "error": "the model did not answer: try again" }))?
                    .with_status(502),
            )
        }
        Err(e) => Err(e.into()),
    }
}

async fn healthz(env: &Env) -> ApiResult {
    let store = CfStore::new(env, Sessions::Elsewhere)?;
    match store.ping().await {
        Ok(()) => Ok(Response::ok("ok\n")?),
        Err(e) => {
            worker::console_error!("health check: {e}");
            Ok(Response::error("database unavailable\n", 503)?)
        }
    }
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

fn meta_verify(env: &Env, req: &Request, token_name: &str) -> ApiResult {
    let token = text(env, token_name).ok_or(ApiError::Unavailable(
        "the webhook verify token is not configured",
    ))?;
    let url = req.url()?;
    match meta::verify_subscription(url.query().unwrap_or(""), &token) {
        Ok(challenge) => Ok(Response::ok(challenge)?),
        Err(e) => Err(ApiError::Channel(e)),
    }
}

fn verify_meta(
    env: &Env,
    req: &Request,
    secret_name: &str,
    body: &[u8],
) -> std::result::Result<(), ApiError> {
    let secret = text(env, secret_name).ok_or(ApiError::Unavailable(
        "the Meta app secret is not configured",
    ))?;
    check_size(body).map_err(ApiError::Channel)?;
    meta::verify_signature(
        secret.as_bytes(),
        body,
        header(req, meta::SIGNATURE_HEADER).as_deref(),
    )
    .map_err(ApiError::Channel)
}

/// Puts a customer message on `WORK_QUEUE`; the consumer routes it to its conversation's
/// object, where the engine deduplicates it (D1) and runs the turn. The message carries its
/// acknowledgement time: the reply buffer's window runs from it, not from when the queue
/// delivers it.
async fn enqueue(env: &Env, mut message: InboundMessage) -> std::result::Result<(), ApiError> {
    message.acked_at = Some(now());
    let body = serde_json::to_string(&WorkItem::Inbound { message })
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    env.queue("WORK_QUEUE")?
        .send(worker::MessageBuilder::new(body).build())
        .await?;
    Ok(())
}

async fn whatsapp_event(env: &Env, req: &Request, body: &[u8]) -> ApiResult {
    verify_meta(env, req, "WHATSAPP_APP_SECRET", body)?;
    let events = whatsapp::parse_webhook(body).map_err(ApiError::Channel)?;
    for event in events {
        match event {
            WhatsAppEvent::Message(message) => enqueue(env, message).await?,
            // The receipts that settle in-doubt parts of our sends.
            WhatsAppEvent::Status(status) => super::outbound::record_receipt(env, &status).await?,
            WhatsAppEvent::Ignored { .. } => {}
        }
    }
    Ok(Response::empty()?.with_status(200))
}

async fn instagram_event(env: &Env, req: &Request, body: &[u8]) -> ApiResult {
    verify_meta(env, req, "INSTAGRAM_APP_SECRET", body)?;
    let events = instagram::parse_webhook(body).map_err(ApiError::Channel)?;
    for event in events {
        if let InstagramEvent::Message(message) = event {
            enqueue(env, message).await?;
        }
    }
    Ok(Response::empty()?.with_status(200))
}

fn verify_discord(env: &Env, req: &Request, body: &[u8]) -> std::result::Result<(), ApiError> {
    let key = text(env, "DISCORD_PUBLIC_KEY").ok_or(ApiError::Unavailable(
        "DISCORD_PUBLIC_KEY is not configured",
    ))?;
    discord::verify_request(
        &key,
        header(req, discord::SIGNATURE_HEADER).as_deref(),
        header(req, discord::TIMESTAMP_HEADER).as_deref(),
        body,
        now(),
    )
    .map_err(ApiError::Channel)
}

async fn discord_events(env: &Env, req: &Request, body: &[u8]) -> ApiResult {
    verify_discord(env, req, body)?;
    if let DiscordEvent::Message(message) = discord::parse_event(body).map_err(ApiError::Channel)? {
        let engine = engine(env, Sessions::Elsewhere)?;
        let bot = text(env, "DISCORD_BOT_USER_ID").unwrap_or_default();
        if let Ok(inbound) = engine.discord_inbound(&message, &bot).await? {
            enqueue(env, inbound).await?;
        }
    }
    Ok(Response::empty()?.with_status(204))
}

/// The engine's answer to an interaction. An approval decision runs in the draft's
/// conversation object, serialized with that conversation's turns.
async fn discord_interactions(env: &Env, req: &Request, body: &[u8]) -> ApiResult {
    verify_discord(env, req, body)?;
    let engine = engine(env, Sessions::Elsewhere)?;
    let key = &engine.config().signing_key;
    let interaction = discord::parse_interaction_with_key(body, key).map_err(ApiError::Channel)?;
    let reply = match engine.discord_interaction(&interaction).await? {
        InteractionAnswer::Respond(body) => body,
        InteractionAnswer::Decide { tenant, decision } => {
            let store = CfStore::new(env, Sessions::Elsewhere)?;
            let outcome = match store.peek_draft(&tenant, &decision.draft_id).await? {
                None => ApprovalOutcome::NotFound,
                Some(draft) => decide_in_conversation(env, &draft.key, tenant, decision).await?,
            };
            approval_response(&outcome)
        }
    };
    Ok(Response::from_json(&reply)?)
}

/// Runs an approval decision in the conversation's object.
async fn decide_in_conversation(
    env: &Env,
    key: &ConversationKey,
    tenant: TenantId,
    decision: DraftDecision,
) -> std::result::Result<ApprovalOutcome, ApiError> {
    let payload = serde_json::to_string(&ApprovalCall { tenant, decision })
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut response =
        reply_buffer::call(env, key, "/approval", "", JsValue::from_str(&payload)).await?;
    if response.status_code() != 200 {
        return Err(ApiError::Internal(format!(
            "approval answered HTTP {}",
            response.status_code()
        )));
    }
    Ok(response.json::<ApprovalOutcome>().await?)
}

/// Rejects requests without `Authorization: Bearer CONCIERGE_ADMIN_TOKEN` (off when unset).
fn require_admin(env: &Env, req: &Request) -> std::result::Result<(), ApiError> {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let token = text(env, "CONCIERGE_ADMIN_TOKEN").ok_or(ApiError::Unavailable(
        "the admin API is off: set CONCIERGE_ADMIN_TOKEN",
    ))?;
    let given = header(req, "authorization").unwrap_or_default();
    let given = given.strip_prefix("Bearer ").unwrap_or("");
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(token.as_bytes());
    if bool::from(a.ct_eq(&b)) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

fn tenant_id(raw: &str) -> std::result::Result<TenantId, ApiError> {
    TenantId::parse(raw)
        .map_err(|e| ApiError::Invalid(vec![FieldError::new("tenant", e.to_string())]))
}

/// Runs an engine update again when a concurrent write bumped the tenant's revision.
async fn retry_conflicts<T, F, Fut>(mut op: F) -> std::result::Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, EngineError>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(EngineError::Store(StoreError::Conflict(_))) if attempt < 4 => attempt += 1,
            other => return other.map_err(ApiError::from),
        }
    }
}

fn safety_label(status: &SafetyStatus) -> &'static str {
    match status {
        SafetyStatus::Pending => "pending",
        SafetyStatus::Approved { .. } => "approved",
        SafetyStatus::Rejected { .. } => "rejected",
    }
}

async fn admin(env: &Env, method: Method, rest: &[String], body: &[u8]) -> ApiResult {
    let engine = engine(env, Sessions::Elsewhere)?;
    let store = CfStore::new(env, Sessions::Elsewhere)?;
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match (method, rest.as_slice()) {
        (Method::Get, ["tenants"]) => {
            let ids = store.list_tenants().await?;
            Ok(Response::from_json(&json!({ "tenants": ids }))?)
        }
        (Method::Put, ["tenants"]) => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::BadRequest("the tenant file must be UTF-8 TOML".into()))?;
            let file = TenantFile::from_toml(text).map_err(|e| match e {
                TenantFileError::Syntax(m) => ApiError::BadRequest(m),
                TenantFileError::Invalid(errors) => ApiError::Invalid(errors),
            })?;
            let outcome = retry_conflicts(|| engine.import_tenant(file.clone())).await?;
            Ok(Response::from_json(&outcome)?)
        }
        (Method::Get, ["tenants", tenant]) => {
            let id = tenant_id(tenant)?;
            let tenant = store
                .get_tenant(&id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("tenant {id}")))?;
            let toml = TenantFile::from_tenant(&tenant)
                .to_toml()
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let mut response = Response::ok(toml)?;
            response
                .headers_mut()
                .set("content-type", "application/toml; charset=utf-8")?;
            response
                .headers_mut()
                .set("x-persona-status", safety_label(&tenant.persona.safety))?;
            Ok(response)
        }
        (Method::Get, ["tenants", tenant, "persona"]) => {
            let id = tenant_id(tenant)?;
            let tenant = store
                .get_tenant(&id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("tenant {id}")))?;
            Ok(Response::from_json(&json!({
                "status": safety_label(&tenant.persona.safety),
                "safety": tenant.persona.safety,
            }))?)
        }
        (Method::Put, ["tenants", tenant, "persona"]) => {
            let id = tenant_id(tenant)?;
            let source: PersonaSource = serde_json::from_slice(body)
                .map_err(|e| ApiError::BadRequest(format!("invalid JSON: {e}")))?;
            let outcome = retry_conflicts(|| engine.save_persona(&id, source.clone())).await?;
            Ok(Response::from_json(&outcome)?)
        }
        (Method::Get, ["tenants", tenant, "credits"]) => {
            let id = tenant_id(tenant)?;
            let balance = store.balance(&id, now()).await?;
            Ok(Response::from_json(
                &json!({ "tenant": id, "balance": balance }),
            )?)
        }
        (Method::Get, ["tenants", tenant, "conversations", conversation, "messages"]) => {
            let id = tenant_id(tenant)?;
            let conversation = ConversationId::parse(conversation).map_err(|e| {
                ApiError::Invalid(vec![FieldError::new("conversation", e.to_string())])
            })?;
            let rows = store.conversation_messages(&id, &conversation).await?;
            Ok(Response::from_json(&json!({ "messages": rows }))?)
        }
        _ => Ok(Response::error("not found", 404)?),
    }
}
