//! `ReplyBuffer`: one Durable Object per conversation (`{tenant}:{channel}:{sender}`).
//!
//! It owns the conversation's session (and so the reply buffer inside it), runs that
//! conversation's events one at a time (an async lock held across the whole engine call, since a
//! Durable Object otherwise interleaves requests while one awaits a fetch), and its alarm is
//! the buffer's flush: `Engine::flush_buffer`.

// `#[durable_object]` generates undocumented JS glue methods.
#![allow(missing_docs)]

use concierge_core::approval::DraftDecision;
use concierge_core::channels::InboundMessage;
use concierge_core::engine::{EngineError, FlushOutcome};
use concierge_core::ids::{ConversationKey, TenantId};
use concierge_core::time::Timestamp;
use futures::lock::Mutex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::wasm_bindgen::JsValue;
use worker::{
    durable_object, DurableObject, Env, Headers, Method, Request, RequestRedirect, Response,
    Result, State,
};

use super::{engine, now, Sessions};

/// Storage key of the conversation the alarm flushes.
pub(crate) const FLUSH_KEY: &str = "flush_key";

/// The name of a conversation's object.
pub(crate) fn object_name(key: &ConversationKey) -> String {
    key.storage_key()
}

/// An approval decision carried to the draft's conversation object.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ApprovalCall {
    pub(crate) tenant: TenantId,
    pub(crate) decision: DraftDecision,
}

#[derive(Debug, Serialize, Deserialize)]
struct ScheduleCall {
    key: ConversationKey,
    run_at: Timestamp,
}

/// The per-conversation Durable Object (binding `REPLY_BUFFER`).
#[durable_object]
pub struct ReplyBuffer {
    state: State,
    env: Env,
    turn: Mutex<()>,
}

/// The engine's error as a response: 503 when a retry may succeed (the queue retries), else 422.
pub(crate) fn engine_error(e: &EngineError) -> Result<Response> {
    let retry = e.is_retryable();
    worker::console_warn!("engine error (retryable: {retry}): {e}");
    let status = if retry { 503 } else { 422 };
    Ok(
        Response::from_json(&serde_json::json!({ "error": e.to_string(), "retryable": retry }))?
            .with_status(status),
    )
}

impl std::fmt::Debug for ReplyBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyBuffer").finish_non_exhaustive()
    }
}

impl DurableObject for ReplyBuffer {
    fn new(state: State, env: Env) -> Self {
        ReplyBuffer {
            state,
            env,
            turn: Mutex::new(()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let _turn = self.turn.lock().await;
        let engine = engine(&self.env, Sessions::Durable(self.state.storage()))?;
        let path = req.path();
        match path.as_str() {
            "/inbound" => {
                let message: InboundMessage = json_body(&mut req).await?;
                match engine.handle_inbound(message).await {
                    Ok(outcome) => Response::from_json(&outcome),
                    Err(e) => engine_error(&e),
                }
            }
            "/email" => {
                let url = req.inner().url();
                let to = form_urlencoded::parse(query_of(&url).as_bytes())
                    .find(|(k, _)| k == "to")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let raw = req.bytes().await?;
                match engine.handle_email(&raw, &to).await {
                    Ok(outcome) => Response::from_json(&outcome),
                    Err(e) => engine_error(&e),
                }
            }
            "/approval" => {
                let ApprovalCall { tenant, decision } = json_body(&mut req).await?;
                match engine
                    .decide_approval(&tenant, &decision.draft_id, decision.decision)
                    .await
                {
                    Ok(outcome) => Response::from_json(&outcome),
                    Err(e) => engine_error(&e),
                }
            }
            "/schedule" => {
                let call: ScheduleCall = json_body(&mut req).await?;
                let storage = self.state.storage();
                storage
                    .put(FLUSH_KEY, serde_json::to_string(&call.key)?)
                    .await?;
                // An integer alarm time is an offset from now in milliseconds.
                storage
                    .set_alarm(call.run_at.since(super::now()).as_millis().max(1))
                    .await?;
                Response::empty()
            }
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let _turn = self.turn.lock().await;
        let storage = self.state.storage();
        let Some(raw) = storage.get::<String>(FLUSH_KEY).await? else {
            return Response::empty();
        };
        let key: ConversationKey = super::from_json(&raw)?;
        let engine = engine(&self.env, Sessions::Durable(storage))?;
        match engine.flush_buffer(&key).await {
            Ok(FlushOutcome::Turn(_)) => Response::empty(),
            Ok(FlushOutcome::NothingDue) => Response::empty(),
            Ok(FlushOutcome::NotYet { until }) => {
                // The alarm fired before the (re-armed) deadline: wake up again at it.
                let wait = until.as_millis().saturating_sub(now().as_millis()).max(1);
                self.state.storage().set_alarm(wait).await?;
                Response::empty()
            }
            Err(e) if e.is_retryable() => {
                // The runtime retries a failed alarm with backoff; the buffer was kept.
                Err(worker::Error::RustError(format!(
                    "flush failed, will retry: {e}"
                )))
            }
            Err(e) => {
                worker::console_error!("flush dropped: {e}");
                Response::empty()
            }
        }
    }
}

/// A JSON body this Worker sent (`call`'s callers write it with `serde_json`), read back with
/// `serde_json`. Not `Request::json`: that parses with `JSON.parse` and deserializes through
/// serde-wasm-bindgen, a second deserializer for every type in the body (the inbound message
/// and its content: 10 KB of the gzipped bundle), and reads every number as an f64.
async fn json_body<T: DeserializeOwned>(req: &mut Request) -> Result<T> {
    Ok(serde_json::from_slice(&req.bytes().await?)?)
}

/// The query (after `?`, before `#`) of an already-serialized WHATWG URL, the runtime's
/// `Request.url`: what `url::Url::query` returns for it, without linking the `url` crate's
/// parser (see `routes::to_http`).
fn query_of(url: &str) -> &str {
    let Some((_, rest)) = url.split_once('?') else {
        return "";
    };
    rest.split_once('#').map_or(rest, |(query, _)| query)
}

/// POSTs `body` to `path` on the conversation's object.
pub(crate) async fn call(
    env: &Env,
    key: &ConversationKey,
    path: &str,
    query: &str,
    body: JsValue,
) -> Result<Response> {
    let stub = env
        .durable_object("REPLY_BUFFER")?
        .get_by_name(&object_name(key))?;
    let request = super::new_request(
        &format!("https://reply-buffer{path}{query}"),
        &Method::Post,
        &Headers::new(),
        Some(&body),
        RequestRedirect::default(),
    )?;
    stub.fetch_with_request(request).await
}

/// Sets a conversation's flush alarm from outside its object.
pub(crate) async fn schedule_remote(
    env: &Env,
    key: &ConversationKey,
    run_at: Timestamp,
) -> Result<()> {
    let body = serde_json::to_string(&ScheduleCall {
        key: key.clone(),
        run_at,
    })?;
    let response = call(env, key, "/schedule", "", JsValue::from_str(&body)).await?;
    if response.status_code() >= 300 {
        return Err(worker::Error::RustError(format!(
            "scheduling a flush answered HTTP {}",
            response.status_code()
        )));
    }
    Ok(())
}
