//! The Worker's side of the front ([`Host`]): customer messages go on `WORK_QUEUE` (durable
//! once `send` returns), emails and approval decisions run in their conversation's Durable
//! Object; receipts, sealed channel tokens, the outbox and its dead letters (outbox rows in
//! state `dead`) live in D1. Dashboard sessions live in KV under `session:{id-hash}` with a
//! 7-day `expiration_ttl`; randomness is `crypto.getRandomValues`.

use async_trait::async_trait;
use concierge_core::approval::DraftDecision;
use concierge_core::channels::InboundMessage;
use concierge_core::delivery::Receipt;
use concierge_core::engine::{ApprovalOutcome, EngineError};
use concierge_core::front::{
    AcceptedEmail, ApiError, FetchError, Host, RsaKey, WebSession, MAX_FETCH_BYTES, WEB_SESSION_TTL,
};
use concierge_core::ids::TenantId;
use concierge_core::ports::{StoreError, StoreResult};
use concierge_core::secrets::SecretBox;
use concierge_core::Timestamp;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Env;

use super::reply_buffer::{self, ApprovalCall};
use super::store::{CfStore, WorkItem};
use super::Sessions;

/// The Worker as the front's host (one per request).
#[derive(Debug)]
pub(crate) struct WorkerHost {
    env: Env,
    secrets: Option<SecretBox>,
}

impl WorkerHost {
    /// The host over this request's bindings; `secrets` seals channel tokens
    /// (`ENCRYPTION_KEY`, if set).
    pub(crate) fn new(env: Env, secrets: Option<SecretBox>) -> Self {
        WorkerHost { env, secrets }
    }

    fn store(&self) -> StoreResult<CfStore> {
        CfStore::new(&self.env, Sessions::Elsewhere).map_err(StoreError::backend)
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::backend(e.to_string())
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// An `outbox` row as D1 returns it (numbers are `f64`).
#[derive(Debug, Deserialize)]
struct OutboxRow {
    msg_key: String,
    tenant_id: String,
    channel: String,
    purpose: String,
    conversation_id: Option<String>,
    state: String,
    provider_ids: Option<String>,
    /// The message, selected for dry-run rows only.
    payload: Option<String>,
    dry_run: f64,
    parts_sent: f64,
    in_doubt_part: Option<f64>,
    in_doubt_since: Option<f64>,
}

/// A dead `outbox` row, as `GET /dead-letters` lists it.
#[derive(Debug, Deserialize)]
struct DeadRow {
    msg_key: String,
    tenant_id: String,
    attempts: f64,
    last_error: Option<String>,
    updated_at: Option<f64>,
    created_at: f64,
}

#[allow(clippy::cast_possible_truncation)] // whole numbers from D1
fn whole(n: f64) -> i64 {
    n as i64
}

#[async_trait(?Send)]
impl Host for WorkerHost {
    async fn accept_messages(&self, messages: Vec<InboundMessage>) -> StoreResult<usize> {
        // The consumer routes each message to its conversation's object, where the engine
        // deduplicates it (D1) and runs the turn.
        let queue = self.env.queue("WORK_QUEUE").map_err(backend)?;
        let count = messages.len();
        for message in messages {
            let body = serde_json::to_string(&WorkItem::Inbound { message }).map_err(backend)?;
            queue
                .send(worker::MessageBuilder::new(body).build())
                .await
                .map_err(backend)?;
        }
        Ok(count)
    }

    async fn accept_email(&self, email: AcceptedEmail) -> Result<bool, ApiError> {
        // Processed now, in the conversation's object (as the `email` event does): a failure
        // answers 5xx and the sender delivers it again.
        let recipient = email.recipient.trim().to_ascii_lowercase();
        let status = super::email::deliver(&self.env, &email.raw, &recipient, &email.parsed)
            .await
            .map_err(internal)?;
        match status {
            200..=299 => Ok(true),
            400..=499 => Err(ApiError::BadRequest("the email was refused".into())),
            other => Err(ApiError::Internal(format!(
                "email processing answered HTTP {other}"
            ))),
        }
    }

    async fn record_receipt(&self, key: String, receipt: Receipt) -> StoreResult<()> {
        super::outbound::record_receipt(&self.env, &key, &receipt)
            .await
            .map_err(backend)
    }

    async fn decide_approval(
        &self,
        tenant: TenantId,
        decision: DraftDecision,
    ) -> Result<ApprovalOutcome, EngineError> {
        // Run in the draft's conversation object, serialized with that conversation's turns.
        let store = self.store()?;
        let Some(draft) = store.peek_draft(&tenant, &decision.draft_id).await? else {
            return Ok(ApprovalOutcome::NotFound);
        };
        let payload = serde_json::to_string(&ApprovalCall { tenant, decision })
            .map_err(|e| EngineError::Store(backend(e)))?;
        let mut response = reply_buffer::call(
            &self.env,
            &draft.key,
            "/approval",
            "",
            JsValue::from_str(&payload),
        )
        .await
        .map_err(|e| EngineError::Store(backend(e)))?;
        if response.status_code() != 200 {
            return Err(EngineError::Store(backend(format!(
                "approval answered HTTP {}",
                response.status_code()
            ))));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| EngineError::Store(backend(e)))?;
        serde_json::from_slice::<ApprovalOutcome>(&body).map_err(|e| EngineError::Store(backend(e)))
    }

    async fn ping(&self) -> StoreResult<()> {
        self.store()?.ping().await
    }

    async fn put_secret(
        &self,
        tenant: &TenantId,
        account: &str,
        token: &str,
    ) -> Result<(), ApiError> {
        let db = self.env.d1("DB").map_err(internal)?;
        super::secrets::put(&db, self.secrets.as_ref(), tenant, account, token).await
    }

    async fn outbox(&self, tenant: &TenantId) -> Result<Vec<Value>, ApiError> {
        let db = self.env.d1("DB").map_err(internal)?;
        let rows: Vec<OutboxRow> = db
            .prepare(
                "SELECT msg_key, tenant_id, channel, purpose, conversation_id, state, \
                 provider_ids, CASE WHEN dry_run = 1 THEN payload END AS payload, dry_run, \
                 parts_sent, in_doubt_part, in_doubt_since FROM outbox \
                 WHERE tenant_id = ?1 ORDER BY created_at, msg_key",
            )
            .bind(&[JsValue::from_str(tenant.as_str())])
            .map_err(internal)?
            .all()
            .await
            .map_err(internal)?
            .results()
            .map_err(internal)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mut row = json!({
                    "key": r.msg_key,
                    "tenant": r.tenant_id,
                    "channel": r.channel,
                    "purpose": r.purpose,
                    "conversation_id": r.conversation_id,
                    "state": r.state,
                    "provider_ids": r.provider_ids,
                    "dry_run": r.dry_run != 0.0,
                    "parts_sent": whole(r.parts_sent),
                    "in_doubt_part": r.in_doubt_part.map(whole),
                    "in_doubt_since": r.in_doubt_since.map(whole),
                });
                // Dry-run records keep the message so a developer can see the reply (as on
                // the server).
                if let Some(message) = r
                    .payload
                    .as_deref()
                    .and_then(|p| super::from_json::<Value>(p).ok())
                {
                    row["message"] = message;
                }
                row
            })
            .collect())
    }

    async fn dead_letters(&self, tenant: Option<&str>, limit: i64) -> Result<Vec<Value>, ApiError> {
        // The server's field names; the id is the outbox key (retry with it).
        let db = self.env.d1("DB").map_err(internal)?;
        #[allow(clippy::cast_precision_loss)] // 1..=1000
        let limit = JsValue::from_f64(limit as f64);
        let rows: Vec<DeadRow> = db
            .prepare(
                "SELECT msg_key, tenant_id, attempts, last_error, updated_at, created_at \
                 FROM outbox WHERE state = 'dead' AND (?1 IS NULL OR tenant_id = ?1) \
                 ORDER BY COALESCE(updated_at, created_at) DESC, msg_key DESC LIMIT ?2",
            )
            .bind(&[tenant.map_or(JsValue::NULL, JsValue::from_str), limit])
            .map_err(internal)?
            .all()
            .await
            .map_err(internal)?
            .results()
            .map_err(internal)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                json!({
                    "id": r.msg_key,
                    "kind": "send",
                    "tenant": r.tenant_id,
                    "attempts": whole(r.attempts),
                    "last_error": r.last_error,
                    "updated_at": whole(r.updated_at.unwrap_or(r.created_at)),
                })
            })
            .collect())
    }

    async fn retry_dead_letter(&self, id: &str) -> Result<bool, ApiError> {
        super::outbound::retry_dead(&self.env, id)
            .await
            .map_err(internal)
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), ApiError> {
        super::secrets::fill_random(buf)
    }

    async fn put_web_session(&self, id_hash: &str, session: &WebSession) -> Result<(), ApiError> {
        let kv = self.env.kv("KV").map_err(internal)?;
        let doc = serde_json::to_string(session).map_err(internal)?;
        let ttl = u64::try_from(WEB_SESSION_TTL.as_millis() / 1000).unwrap_or(604_800);
        kv.put(&session_key(id_hash), doc)
            .map_err(internal)?
            .expiration_ttl(ttl)
            .execute()
            .await
            .map_err(internal)
    }

    async fn web_session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<WebSession>, ApiError> {
        let kv = self.env.kv("KV").map_err(internal)?;
        let Some(doc) = kv
            .get(&session_key(id_hash))
            .text()
            .await
            .map_err(internal)?
        else {
            return Ok(None);
        };
        let session: WebSession = super::from_json(&doc).map_err(internal)?;
        // KV expires keys lazily and edge caches may lag: the stored expiry decides.
        Ok(Some(session).filter(|s| s.expires_at > now))
    }

    async fn delete_web_session(&self, id_hash: &str) -> Result<(), ApiError> {
        let kv = self.env.kv("KV").map_err(internal)?;
        kv.delete(&session_key(id_hash)).await.map_err(internal)
    }

    async fn fetch(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, FetchError> {
        fetch(request).await
    }

    async fn verify_rs256(
        &self,
        key: &RsaKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, ApiError> {
        verify_rs256(key, message, signature)
            .await
            .map_err(|e| ApiError::Internal(format!("WebCrypto RS256: {e:?}")))
    }
}

/// RS256 with WebCrypto (`crypto.subtle.importKey` of the JWK, then `crypto.subtle.verify`
/// with RSASSA-PKCS1-v1_5 / SHA-256): the runtime's verifier, so no RSA code is in the bundle.
async fn verify_rs256(key: &RsaKey, message: &[u8], signature: &[u8]) -> Result<bool, JsValue> {
    use base64::Engine as _;
    use worker::js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
    let get = |target: &JsValue, name: &str| Reflect::get(target, &JsValue::from_str(name));
    let set = |target: &Object, name: &str, value: &JsValue| {
        Reflect::set(target, &JsValue::from_str(name), value).map(|_| ())
    };
    let b64 = |bytes: &[u8]| {
        JsValue::from_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    };
    let subtle = get(&get(&worker::js_sys::global(), "crypto")?, "subtle")?;
    let call = |method: &str, args: &Array| -> Result<Promise, JsValue> {
        let f: Function = get(&subtle, method)?.dyn_into()?;
        f.apply(&subtle, args)?.dyn_into()
    };
    let jwk = Object::new();
    set(&jwk, "kty", &JsValue::from_str("RSA"))?;
    set(&jwk, "n", &b64(&key.n))?;
    set(&jwk, "e", &b64(&key.e))?;
    set(&jwk, "alg", &JsValue::from_str("RS256"))?;
    set(&jwk, "ext", &JsValue::TRUE)?;
    let algorithm = Object::new();
    set(&algorithm, "name", &JsValue::from_str("RSASSA-PKCS1-v1_5"))?;
    set(&algorithm, "hash", &JsValue::from_str("SHA-256"))?;
    let usages = Array::of1(&JsValue::from_str("verify"));
    let import = Array::of5(
        &JsValue::from_str("jwk"),
        &jwk,
        &algorithm,
        &JsValue::FALSE,
        &usages,
    );
    let crypto_key = JsFuture::from(call("importKey", &import)?).await?;
    let verify = Array::of4(
        &JsValue::from_str("RSASSA-PKCS1-v1_5"),
        &crypto_key,
        &Uint8Array::from(signature),
        &Uint8Array::from(message),
    );
    let verdict = JsFuture::from(call("verify", &verify)?).await?;
    Ok(verdict.as_bool() == Some(true))
}

/// [`Host::fetch`] over the Fetch API: no redirects followed, the body capped at
/// [`MAX_FETCH_BYTES`].
async fn fetch(
    request: http::Request<bytes::Bytes>,
) -> Result<http::Response<bytes::Bytes>, FetchError> {
    let failed = |e: worker::Error| FetchError::Failed(e.to_string());
    let headers = worker::Headers::new();
    for (name, value) in request.headers() {
        let value = value
            .to_str()
            .map_err(|e| FetchError::Failed(e.to_string()))?;
        headers.set(name.as_str(), value).map_err(failed)?;
    }
    let body = (!request.body().is_empty())
        .then(|| JsValue::from(worker::js_sys::Uint8Array::from(request.body().as_ref())));
    let built = super::new_request(
        &request.uri().to_string(),
        &worker::Method::from(request.method().as_str().to_owned()),
        &headers,
        body.as_ref(),
        worker::RequestRedirect::Manual,
    )
    .map_err(failed)?;
    let mut response = worker::Fetch::Request(built).send().await.map_err(failed)?;
    let body = response.bytes().await.map_err(failed)?;
    if body.len() > MAX_FETCH_BYTES {
        return Err(FetchError::TooLarge);
    }
    let mut out = http::Response::builder().status(response.status_code());
    for (name, value) in response.headers().entries() {
        out = out.header(name, value);
    }
    out.body(bytes::Bytes::from(body))
        .map_err(|e| FetchError::Failed(e.to_string()))
}

/// The KV key of a dashboard session (the seed's `session:*`, distinct from `convsession:*`).
fn session_key(id_hash: &str) -> String {
    format!("session:{id_hash}")
}
