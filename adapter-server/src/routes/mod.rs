//! The HTTP surface: axum only converts types. Every route is the core's
//! [`Front`](concierge_core::front::Front); this module binds it to the server's [`Host`]
//! (`host.rs`), counts requests and catches panics.

mod host;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::Router;
use concierge_core::channels::{ChannelError, MAX_BODY_BYTES};
use concierge_core::front::{ApiError, ClientIp, DemoLimiter, Front, FrontConfig, RouteName};
use concierge_core::ports::Clock;
use concierge_core::Engine;
use tokio::sync::{Notify, Semaphore};

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
    /// The front's secrets and switches (from the settings).
    pub front: FrontConfig,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Nudges the workers when a job is queued.
    pub wake: Arc<Notify>,
    /// Seals channel tokens.
    pub secrets: Option<SecretBox>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The demo's per-client rate limit.
    pub demo: DemoLimiter,
    /// The demo's cap on turns in flight.
    pub demo_slots: Arc<Semaphore>,
    /// Group commit for webhook ingress.
    pub ingress: IngressQueue,
    /// Ingress's cache of account → tenant routes.
    pub routes: Arc<TenantRoutes>,
    /// The HTTP client of the front's own requests ([`Host::fetch`](concierge_core::front::Host::fetch)).
    pub front_http: reqwest::Client,
}

impl AppParts {
    /// The core's front over this server.
    pub fn front(&self) -> Front<'_> {
        Front::new(&self.engine, self, &self.front, &self.demo)
    }
}

/// The router: every request goes to the front.
pub fn router(state: AppState) -> Router {
    Router::new()
        .fallback(serve)
        // Inside the handler's request counting, so a caught panic answers its 500 here.
        .layer(crate::panic_guard::layer())
        .with_state(state)
}

/// Reads the body (at most [`MAX_BODY_BYTES`]), runs the front, counts the request.
async fn serve(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| ClientIp(c.0.ip().to_string()));
    let response = match axum::body::to_bytes(body, MAX_BODY_BYTES + 1).await {
        Ok(bytes) => {
            if let Some(client) = client {
                parts.extensions.insert(client);
            }
            let request = http::Request::from_parts(parts, bytes);
            state.front().handle(request).await
        }
        // Over the limit, or the client went away mid-body.
        Err(_) => ApiError::from(ChannelError::TooLarge(MAX_BODY_BYTES + 1)).into_response(),
    };
    let route = response
        .extensions()
        .get::<RouteName>()
        .map_or("unmatched", |r| r.0);
    state.metrics.request(route, response.status().as_u16());
    response.map(Body::from)
}
