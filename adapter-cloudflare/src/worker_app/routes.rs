//! The HTTP surface: the core's [`Front`] serves every route; this module converts
//! `worker::Request` to `http::Request<Bytes>` and back, and binds the front to the Worker's
//! [`Host`](concierge_core::front::Host) (`host.rs`).

use std::sync::OnceLock;

use concierge_core::front::{ClientIp, DemoLimiter, Front, InternalCause, Response};
use worker::{Env, Request, Result};

use super::host::WorkerHost;
use super::{engine_with, Sessions};

/// The demo's per-client rate limit, per isolate (an isolate serves many requests; a visitor
/// spread over isolates gets at most the rate per isolate: add a Cloudflare rate-limiting rule
/// on `/demo/chat` for a hard global limit).
static DEMO: OnceLock<DemoLimiter> = OnceLock::new();
/// Cloudflare Access's gate for `/manage`, with the team's key set cached per isolate.
static ACCESS: OnceLock<Option<std::sync::Arc<concierge_core::front::AccessGate>>> =
    OnceLock::new();

/// Serves one request. A misconfigured Worker (see [`crate::settings`]) answers every request
/// 503 and logs which setting is wrong: Meta and Discord retry, so nothing is lost while the
/// deployer fixes it.
pub(crate) async fn handle(req: Request, env: Env) -> Result<worker::Response> {
    let config = match super::config::from_env(&env) {
        Ok(config) => config,
        Err(e) => {
            worker::console_error!("{e}");
            return to_worker(misconfigured());
        }
    };
    let request = to_http(req).await?;
    let engine = engine_with(&env, Sessions::Elsewhere, &config)?;
    let host = WorkerHost::new(env.clone(), config.encryption_key.clone());
    let mut front_config = config.front_config();
    front_config.access = ACCESS
        .get_or_init(|| {
            config
                .access
                .clone()
                .map(|p| std::sync::Arc::new(concierge_core::front::AccessGate::new(p)))
        })
        .clone();
    let demo = DEMO.get_or_init(|| DemoLimiter::new(config.demo_per_minute));
    let response = Front::new(&engine, &host, &front_config, demo)
        .handle(request)
        .await;
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        worker::console_error!("internal error: {cause}");
    }
    to_worker(response)
}

fn misconfigured() -> Response {
    concierge_core::front::ApiError::Unavailable("the Worker is misconfigured: see its log")
        .into_response()
}

/// The request as the front takes it: method, URI, headers, the whole body, and the client's
/// address from `cf-connecting-ip`.
///
/// The URI is the runtime's own serialization of the request URL (`Request.url`, WHATWG, so
/// ASCII with the host already in Punycode), given to `http` as it is. Not through
/// `worker::Request::url()`: reparsing it with the `url` crate gives back the same string and
/// is the only use of that crate's parser, which links in IDNA and ICU4X's normalization and
/// property tables (70 KB of the gzipped bundle; docs/benchmarks.md).
async fn to_http(mut req: Request) -> Result<concierge_core::front::Request> {
    let body = req.bytes().await?;
    let url = req.inner().url();
    let mut builder = http::Request::builder()
        .method(req.method().as_ref())
        .uri(url.as_str());
    for (name, value) in req.headers().entries() {
        builder = builder.header(name, value);
    }
    let mut request = builder
        .body(bytes::Bytes::from(body))
        .map_err(|e| worker::Error::RustError(format!("request: {e}")))?;
    if let Some(ip) = req.headers().get("cf-connecting-ip")? {
        request.extensions_mut().insert(ClientIp(ip));
    }
    Ok(request)
}

fn to_worker(response: Response) -> Result<worker::Response> {
    let (parts, body) = response.into_parts();
    let headers = worker::Headers::new();
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            headers.append(name.as_str(), value)?;
        }
    }
    let response = if body.is_empty() {
        worker::Response::empty()?
    } else {
        worker::Response::from_bytes(body.to_vec())?
    };
    Ok(response
        .with_status(parts.status.as_u16())
        .with_headers(headers))
}
