//! Channel ingress: verify, parse with the core, record the idempotency key and a durable job
//! in one transaction, answer at once. A redelivery is acknowledged and changes nothing.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use concierge_core::channels::discord::{self, DiscordEvent, IgnoredReason};
use concierge_core::channels::email::{parse_email, recipient_account};
use concierge_core::channels::instagram::{self, InstagramEvent};
use concierge_core::channels::whatsapp::{self, WhatsAppEvent};
use concierge_core::channels::{meta, ChannelError, DeliveryStatus, InboundMessage};
use concierge_core::delivery::Receipt;
use concierge_core::ids::ChannelAccount;
use serde::Deserialize;

use super::{secret_eq, ApiError, AppState};
use crate::configuration::Secret;
use crate::jobs::EmailJob;
use crate::store::{IngressJob, IngressRecord, JobKind};

/// Stores normalized messages as `inbound` jobs, except those whose provider id was seen,
/// sharing one commit with the other webhooks in flight ([`IngressQueue`]). Returns how many
/// were new. When it returns `Ok`, every message is durable and may be acknowledged.
pub(crate) async fn enqueue_inbound(
    state: &AppState,
    messages: Vec<InboundMessage>,
) -> Result<usize, ApiError> {
    let now = state.clock.now();
    let mut records = Vec::with_capacity(messages.len());
    for mut message in messages {
        // The conversation key serializes this turn with the conversation's other jobs
        // (buffer flushes); an account no tenant owns gets its own key (the engine drops it).
        let tenant = state.routes.find(&state.store, &message.account).await?;
        let conversation = match &tenant {
            Some(t) => message.conversation_key(t).storage_key(),
            None => unrouted(&message.account, &message.sender),
        };
        // The acknowledgement time: the reply buffer's window runs from it, however long the
        // job then waits for a worker.
        message.acked_at = Some(now);
        let payload = serde_json::to_string(&message)
            .map_err(|e| ApiError::Internal(format!("serializing an inbound message: {e}")))?;
        records.push(IngressRecord {
            idempotency_key: message.idempotency_key(),
            job: IngressJob {
                kind: JobKind::Inbound,
                conversation: Some(conversation),
                tenant: tenant.map(|t| t.to_string()),
                payload,
                at: now,
            },
        });
    }
    let fresh = state.ingress.submit(records).await?;
    let new = fresh.iter().filter(|f| **f).count();
    for _ in 0..new.min(WAKE_AT_MOST) {
        state.wake.notify_one();
    }
    Ok(new)
}

/// The job lock of a message for an account no tenant owns: per account and sender, so such
/// jobs still run one at a time per would-be conversation (the engine drops them).
fn unrouted(account: &ChannelAccount, sender: &str) -> String {
    format!("unrouted:{}:{sender}", account.index_key())
}

/// Workers woken per webhook: one per new job, up to a handful.
const WAKE_AT_MOST: usize = 4;

/// `GET /webhook/whatsapp`: Meta's subscription handshake.
pub(crate) async fn whatsapp_verify(State(state): State<AppState>, uri: Uri) -> Response {
    meta_verify(state.settings.whatsapp_verify_token.as_ref(), &uri)
}

/// `GET /webhook/instagram`: Meta's subscription handshake.
pub(crate) async fn instagram_verify(State(state): State<AppState>, uri: Uri) -> Response {
    meta_verify(state.settings.instagram_verify_token.as_ref(), &uri)
}

fn meta_verify(token: Option<&Secret>, uri: &Uri) -> Response {
    let Some(token) = token else {
        return ApiError::Unavailable("the webhook verify token is not configured").into_response();
    };
    match meta::verify_subscription(uri.query().unwrap_or(""), token.expose()) {
        Ok(challenge) => (StatusCode::OK, challenge).into_response(),
        Err(e) => ApiError::Channel(e).into_response(),
    }
}

fn verify_meta(secret: Option<&Secret>, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let secret = secret.ok_or(ApiError::Unavailable(
        "the Meta app secret is not configured",
    ))?;
    concierge_core::channels::check_size(body).map_err(ApiError::Channel)?;
    meta::verify_signature(
        secret.expose().as_bytes(),
        body,
        header(headers, meta::SIGNATURE_HEADER),
    )
    .map_err(ApiError::Channel)
}

/// `POST /webhook/whatsapp`: verified, parsed, each message stored as a job; 200 at once.
pub(crate) async fn whatsapp_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    verify_meta(state.settings.whatsapp_app_secret.as_ref(), &headers, &body)?;
    let events = whatsapp::parse_webhook(&body).map_err(ApiError::Channel)?;
    let mut messages = Vec::new();
    for event in events {
        match event {
            WhatsAppEvent::Message(message) => messages.push(message),
            WhatsAppEvent::Status(status) => record_whatsapp_status(&state, &status).await?,
            WhatsAppEvent::Ignored { reason } => tracing::debug!(%reason, "WhatsApp event ignored"),
        }
    }
    let new = enqueue_inbound(&state, messages).await?;
    tracing::debug!(new, "WhatsApp webhook acknowledged");
    Ok(StatusCode::OK.into_response())
}

/// Records the status of a message Concierge sent (it carries our callback data) as the
/// delivery receipt of that part: one upsert, which the sender reads when it must decide
/// whether an in-doubt part arrived. Other statuses are only logged.
async fn record_whatsapp_status(state: &AppState, status: &DeliveryStatus) -> Result<(), ApiError> {
    tracing::debug!(provider_id = %status.provider_id, state = ?status.state, "WhatsApp delivery status");
    let Some((key, receipt)) = Receipt::from_status(status) else {
        return Ok(());
    };
    state
        .store
        .record_receipt(key, &receipt, state.clock.now())
        .await?;
    Ok(())
}

/// `POST /webhook/instagram`: verified, parsed, each message stored as a job; 200 at once.
pub(crate) async fn instagram_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    verify_meta(
        state.settings.instagram_app_secret.as_ref(),
        &headers,
        &body,
    )?;
    let events = instagram::parse_webhook(&body).map_err(ApiError::Channel)?;
    let mut messages = Vec::new();
    for event in events {
        match event {
            InstagramEvent::Message(message) => messages.push(message),
            InstagramEvent::Status(status) => {
                tracing::debug!(provider_id = %status.provider_id, state = ?status.state, "Instagram status")
            }
            InstagramEvent::Echo { .. } => {}
            InstagramEvent::Standby { reason } | InstagramEvent::Ignored { reason } => {
                tracing::debug!(%reason, "Instagram event not answered")
            }
        }
    }
    enqueue_inbound(&state, messages).await?;
    Ok(StatusCode::OK.into_response())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn verify_discord(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let key = state.discord_key.as_ref().ok_or(ApiError::Unavailable(
        "DISCORD_PUBLIC_KEY is not configured",
    ))?;
    discord::verify_request_with_key(
        key,
        header(headers, discord::SIGNATURE_HEADER),
        header(headers, discord::TIMESTAMP_HEADER),
        body,
        state.clock.now(),
    )
    .map_err(ApiError::Channel)
}

/// `POST /discord/events`: application webhook events; a `MESSAGE_CREATE` the engine accepts
/// as a customer message is stored as a job. `204` for every verified event.
pub(crate) async fn discord_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    verify_discord(&state, &headers, &body)?;
    if let DiscordEvent::Message(message) =
        discord::parse_event(&body).map_err(ApiError::Channel)?
    {
        let bot = &state.settings.discord_bot_user_id;
        match state.engine.discord_inbound(&message, bot).await? {
            Ok(inbound) => {
                enqueue_inbound(&state, vec![inbound]).await?;
            }
            Err(IgnoredReason::NotConnected) => {
                tracing::info!(guild = ?message.guild_id, "Discord message for an unknown guild dropped");
            }
            Err(reason) => tracing::debug!(%reason, "Discord message not answered"),
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /discord/interactions`: the engine's answer to pings, slash commands and approval
/// buttons (a decision runs here, inline).
pub(crate) async fn discord_interactions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    verify_discord(&state, &headers, &body)?;
    let key = &state.engine.config().signing_key;
    let interaction = discord::parse_interaction_with_key(&body, key).map_err(ApiError::Channel)?;
    let reply = state
        .engine
        .discord_interaction_response(&interaction)
        .await?;
    Ok(Json(reply).into_response())
}

/// The envelope recipient of an inbound email.
#[derive(Debug, Deserialize)]
pub(crate) struct EmailQuery {
    to: Option<String>,
}

/// `POST /email/inbound?to=ADDRESS`: a raw RFC 5322 message, authenticated with
/// `Authorization: Bearer CONCIERGE_EMAIL_SECRET`.
pub(crate) async fn email_inbound(
    State(state): State<AppState>,
    Query(query): Query<EmailQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let secret = state
        .settings
        .email_secret
        .as_ref()
        .ok_or(ApiError::Unavailable(
            "CONCIERGE_EMAIL_SECRET is not configured",
        ))?;
    let given = header(&headers, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !secret_eq(given, secret.expose()) {
        return Err(ApiError::Channel(ChannelError::BadSignature));
    }
    let recipient = query
        .to
        .or_else(|| header(&headers, "x-envelope-to").map(str::to_owned))
        .filter(|r| r.contains('@') && !r.contains(char::is_whitespace))
        .ok_or_else(|| {
            ApiError::BadRequest("the envelope recipient (?to=address) is required".into())
        })?;
    let parsed = parse_email(&body).map_err(ApiError::Channel)?;
    // Serialized with the conversation's other jobs (the next mail from this sender, the
    // reply-buffer flush): the core names the account and the conversation key.
    let account = recipient_account(&recipient);
    let tenant = state.routes.find(&state.store, &account).await?;
    let conversation = match &tenant {
        Some(t) => parsed.conversation_key(t).storage_key(),
        None => unrouted(&account, parsed.sender()),
    };
    let payload = serde_json::to_string(&EmailJob {
        recipient,
        raw_b64: base64::engine::general_purpose::STANDARD.encode(&body),
    })
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    // Our own ingress key (the engine keeps `email:{id}` for its own dedupe).
    let key = format!("ingress:email:{}", parsed.idempotency_id());
    let fresh = state
        .store
        .enqueue_once(
            &key,
            state.engine.config().idempotency_ttl,
            IngressJob {
                kind: JobKind::Email,
                conversation: Some(conversation),
                tenant: tenant.map(|t| t.to_string()),
                payload,
                at: state.clock.now(),
            },
        )
        .await?;
    if fresh {
        state.wake.notify_one();
    }
    Ok(StatusCode::ACCEPTED.into_response())
}
