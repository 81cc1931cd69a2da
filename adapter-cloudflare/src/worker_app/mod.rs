//! The Worker: configuration, the engine over Cloudflare's bindings, and the event handlers
//! (`fetch`, `queue`, `email`) plus the per-conversation Durable Object.

mod ai;
mod config;
#[cfg(feature = "store-contract")]
mod contract_probe;
mod email;
mod host;
mod outbound;
mod queues;
mod reply_buffer;
mod routes;
mod secrets;
mod store;

use std::sync::Arc;

use concierge_core::ports::{Clock, Ports};
use concierge_core::{Engine, Timestamp};
use worker::wasm_bindgen::JsValue;
use worker::{web_sys, Env, Result};

#[cfg(feature = "store-contract")]
pub use contract_probe::ContractProbe;
pub use reply_buffer::ReplyBuffer;

/// Time from the Workers runtime (`Date.now()`; it advances across I/O).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WorkerClock;

impl Clock for WorkerClock {
    fn now(&self) -> Timestamp {
        now()
    }
}

/// Now, from `Date.now()`.
pub(crate) fn now() -> Timestamp {
    Timestamp::from_millis(i64::try_from(worker::Date::now().as_millis()).unwrap_or(i64::MAX))
}

/// JSON text read back (documents in D1, KV and Durable Object storage, queue bodies):
/// `serde_json::from_slice` on its bytes, which reads valid UTF-8 exactly as `from_str` does.
/// The core parses webhooks from bytes, so every JSON read in the Worker shares one
/// deserializer per type; a `from_str` anywhere would link a second copy of each type's
/// deserializer (docs/benchmarks.md, "Worker bundle").
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> serde_json::Result<T> {
    serde_json::from_slice(text.as_bytes())
}

/// A Fetch API request, built as `worker::Request::new_with_init` builds one: the headers
/// when there are any, the method, the redirect mode, the body when given. Not through
/// `new_with_init` itself: it also converts a `RequestInit`'s `cf` options (image resizing and
/// the rest, serialized with serde-wasm-bindgen), which this Worker never sets, and that
/// conversion was ~3 KB of the gzipped bundle (docs/benchmarks.md, "Worker bundle").
pub(crate) fn new_request(
    url: &str,
    method: &worker::Method,
    headers: &worker::Headers,
    body: Option<&JsValue>,
    redirect: worker::RequestRedirect,
) -> Result<worker::Request> {
    let init = web_sys::RequestInit::new();
    if !headers.is_empty() {
        init.set_headers(headers.as_ref());
    }
    init.set_method(method.as_ref());
    init.set_redirect(redirect.into());
    if let Some(body) = body {
        init.set_body(body);
    }
    web_sys::Request::new_with_str_and_init(url, &init)
        .map(worker::Request::from)
        .map_err(|e| {
            worker::Error::JsError(
                e.as_string()
                    .unwrap_or_else(|| "invalid URL or options for Request".to_string()),
            )
        })
}

/// Where the engine keeps conversation sessions in this context.
#[derive(Debug)]
pub(crate) enum Sessions {
    /// Inside the conversation's Durable Object: its own storage (one writer by construction).
    Durable(worker::Storage),
    /// Outside any Durable Object (routes, queue consumers): session calls are refused, since
    /// only the conversation's object may touch its session.
    Elsewhere,
}

/// The engine over this Worker's bindings.
pub(crate) fn engine(env: &Env, sessions: Sessions) -> Result<Engine> {
    engine_with(env, sessions, &config::from_env(env)?)
}

/// The engine over this Worker's bindings, with settings already read.
pub(crate) fn engine_with(
    env: &Env,
    sessions: Sessions,
    config: &config::Config,
) -> Result<Engine> {
    let clock: Arc<dyn Clock> = Arc::new(WorkerClock);
    let store = Arc::new(store::CfStore::new(env, sessions)?);
    let ports = Ports {
        store,
        ai: ai::provider(env, config)?,
        outbound: Arc::new(outbound::CfOutbound::new(env.clone(), config.clone())?),
        clock,
    };
    Ok(Engine::new(ports, config.engine_config()))
}

/// `fetch`: the HTTP routes (and, in a `store-contract` build only, the contract probe).
#[worker::event(fetch)]
pub(crate) async fn fetch(
    req: worker::Request,
    env: Env,
    _ctx: worker::Context,
) -> Result<worker::Response> {
    #[cfg(feature = "store-contract")]
    if req.path().starts_with(contract_probe::PREFIX) {
        return contract_probe::handle(req, env).await;
    }
    routes::handle(req, env).await
}

/// `queue`: `WORK_QUEUE` and `SAFETY_QUEUE` consumers.
#[worker::event(queue)]
pub(crate) async fn queue(
    batch: worker::MessageBatch<String>,
    env: Env,
    _ctx: worker::Context,
) -> Result<()> {
    queues::consume(batch, env).await
}

/// `email`: Email Routing deliveries.
#[worker::event(email)]
pub(crate) async fn email(
    message: worker::ForwardableEmailMessage,
    env: Env,
    _ctx: worker::Context,
) -> Result<()> {
    email::receive(message, env).await
}
