//! The front: every HTTP surface of Concierge, written once and sans-IO.
//!
//! [`Front::handle`] takes an [`http::Request`] with the whole body and returns an
//! [`http::Response`]: the Meta webhooks and handshakes, Discord events and interactions, email
//! ingress, the live demo, `/healthz`, `/metrics` and the admin API `/api/v1`. It owns routing,
//! authentication, verification, validation, rendering, status codes and error bodies; the
//! engine is behind it. What differs per deploy target is the [`Host`] port (durable hand-off,
//! secrets, dead letters, the demo's concurrency cap), never a second router: the server (axum)
//! and the Worker (`worker`) only convert request and response types and do the I/O.
//!
//! Every error answer is JSON `{"error": ...}` ([`ApiError`]); a 5xx never carries database or
//! provider text (its cause rides in the [`InternalCause`] extension for the adapter's log).
//!
//! | route | answer |
//! |---|---|
//! | `GET /healthz` | 200 `ok`, 503 when the database does not answer |
//! | `GET /metrics` | Prometheus text (404 where the target has none) |
//! | `GET /webhook/{whatsapp,instagram}` | Meta's handshake: the challenge, 403 on a wrong token |
//! | `POST /webhook/{whatsapp,instagram}` | 200 once durable; 401 unsigned/tampered, 400 malformed, 413 oversized |
//! | `POST /discord/events` | 204 once durable |
//! | `POST /discord/interactions` | the interaction response (JSON) |
//! | `POST /email/inbound?to=` | 202 once durable; 401 without the email secret |
//! | `GET /demo` | the live demo page (HTML: persona picker and chat dialog) |
//! | `GET /demo/personas`, `POST /demo/chat` | the live demo's API (the chat is rate limited) |
//! | `/api/v1/...` | the admin API (bearer token) |
//! | `/dashboard/...` | the owner's dashboard: login, then pages (session cookie + CSRF) |
//! | `GET/POST /approvals/{tenant}/{draft}/{action}?token=` | the digest's signed links: GET confirms, POST decides |
//! | `/manage/...` | the operator panel (operator accounts sign in, or Cloudflare Access admits; signed cookie + CSRF) |
//! | `GET /assets/{name}` | the pages' stylesheet and scripts |

mod admin;
mod demo;
mod error;
mod host;
mod reply;
mod web;
mod webhooks;

use http::Method;

use crate::channels::discord::DiscordPublicKey;
use crate::channels::{ChannelError, MAX_BODY_BYTES};
use crate::Engine;

pub use admin::retry_conflicts;
pub use demo::DemoLimiter;
pub use error::{ApiError, InternalCause};
pub use host::{
    AcceptedEmail, DemoSlot, FetchError, Host, WebSession, MAX_FETCH_BYTES, WEB_SESSION_TTL,
};
pub use reply::{Request, Response};
pub use web::access::{
    prepare_access_jwt, AccessError, AccessGate, AccessPolicy, RsaKey, SignedToken, ACCESS_KEYS_TTL,
};
#[cfg(feature = "rsa-verify")]
pub use web::access::{verify_access_jwt, verify_rs256};
pub use web::oauth::{OAuthClient, OAuthConfig, OAuthProvider};

use webhooks::MetaApp;

/// The secrets and switches of the front, read by the adapter from its configuration.
/// `Debug` never prints a secret.
#[derive(Clone, Default)]
pub struct FrontConfig {
    /// Meta's `hub.verify_token` for the WhatsApp webhook.
    pub whatsapp_verify_token: Option<String>,
    /// The Meta app secret that signs WhatsApp webhooks.
    pub whatsapp_app_secret: Option<String>,
    /// Meta's `hub.verify_token` for the Instagram webhook.
    pub instagram_verify_token: Option<String>,
    /// The Meta app secret that signs Instagram webhooks.
    pub instagram_app_secret: Option<String>,
    /// The Discord application's public key.
    pub discord_public_key: Option<DiscordPublicKey>,
    /// The shared bot's Discord user id (mentions of it trigger replies).
    pub discord_bot_user_id: String,
    /// The bearer secret of `POST /email/inbound`.
    pub email_secret: Option<String>,
    /// The bearer token of `/api/v1` (the admin API is off without one).
    pub admin_token: Option<String>,
    /// What the demo says when no model is configured, naming the target's setting.
    pub ai_setup_hint: &'static str,
    /// Whether anyone may create an account and a business at `/dashboard/signup` (server
    /// `CONCIERGE_OPEN_SIGNUP=1`, Worker `OPEN_SIGNUP=1`); off, owners are made by the
    /// operator through `PUT /api/v1/tenants/{tenant}/owners`.
    pub open_signup: bool,
    /// The identity providers owners may sign in with (Google, Facebook); none by default.
    pub oauth: OAuthConfig,
    /// Cloudflare Access in front of `/manage` (the gate holds the cached key set: share one
    /// per process); `None` signs operators in with their accounts
    /// ([`OperatorStore`](crate::ports::OperatorStore)).
    pub access: Option<std::sync::Arc<AccessGate>>,
}

impl std::fmt::Debug for FrontConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "set" } else { "unset" };
        f.debug_struct("FrontConfig")
            .field("whatsapp_verify_token", &set(&self.whatsapp_verify_token))
            .field("whatsapp_app_secret", &set(&self.whatsapp_app_secret))
            .field("instagram_verify_token", &set(&self.instagram_verify_token))
            .field("instagram_app_secret", &set(&self.instagram_app_secret))
            .field("discord_public_key", &self.discord_public_key.is_some())
            .field("discord_bot_user_id", &self.discord_bot_user_id)
            .field("email_secret", &set(&self.email_secret))
            .field("admin_token", &set(&self.admin_token))
            .field("open_signup", &self.open_signup)
            .field("oauth", &self.oauth)
            .field("access", &self.access.as_ref().map(|g| g.policy()))
            .finish()
    }
}

/// The client's address as the adapter knows it (the TCP peer, or `cf-connecting-ip`), put in
/// the request's extensions; the demo's rate limit counts per client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIp(pub String);

/// The route a response answered (`"/webhook/whatsapp"`, `"/api/v1"`, `"unmatched"`), set as a
/// response extension for the adapter's request metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteName(pub &'static str);

/// The front over one engine and one host, for one request or many.
#[derive(Debug, Clone, Copy)]
pub struct Front<'a> {
    engine: &'a Engine,
    host: &'a dyn Host,
    config: &'a FrontConfig,
    demo: &'a DemoLimiter,
}

impl<'a> Front<'a> {
    /// The front over `engine`, with the target's `host`, `config` and the demo's limiter (keep
    /// one limiter per process or isolate).
    pub fn new(
        engine: &'a Engine,
        host: &'a dyn Host,
        config: &'a FrontConfig,
        demo: &'a DemoLimiter,
    ) -> Self {
        Front {
            engine,
            host,
            config,
            demo,
        }
    }

    /// Serves one request. Never panics on any input; every refusal is an [`ApiError`]
    /// response.
    pub async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().to_owned();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (route, result) = if req.body().len() > MAX_BODY_BYTES {
            (
                "oversized",
                Err(ChannelError::TooLarge(req.body().len()).into()),
            )
        } else {
            self.route(&req, &segments).await
        };
        let mut response = result.unwrap_or_else(ApiError::into_response);
        response.extensions_mut().insert(RouteName(route));
        response
    }

    async fn route(
        &self,
        req: &Request,
        segments: &[&str],
    ) -> (&'static str, Result<Response, ApiError>) {
        let method = req.method();
        let get = method == Method::GET;
        let post = method == Method::POST;
        let wrong = |allow| Err(ApiError::MethodNotAllowed(allow));
        match segments {
            ["healthz"] => (
                "/healthz",
                if get {
                    Ok(self.healthz().await)
                } else {
                    wrong("GET")
                },
            ),
            ["metrics"] => (
                "/metrics",
                if get {
                    self.metrics().await
                } else {
                    wrong("GET")
                },
            ),
            ["webhook", "whatsapp"] => (
                "/webhook/whatsapp",
                match *method {
                    Method::GET => self.meta_verify(MetaApp::WhatsApp, req),
                    Method::POST => self.whatsapp_event(req).await,
                    _ => wrong("GET, POST"),
                },
            ),
            ["webhook", "instagram"] => (
                "/webhook/instagram",
                match *method {
                    Method::GET => self.meta_verify(MetaApp::Instagram, req),
                    Method::POST => self.instagram_event(req).await,
                    _ => wrong("GET, POST"),
                },
            ),
            ["discord", "events"] => (
                "/discord/events",
                if post {
                    self.discord_events(req).await
                } else {
                    wrong("POST")
                },
            ),
            ["discord", "interactions"] => (
                "/discord/interactions",
                if post {
                    self.discord_interactions(req).await
                } else {
                    wrong("POST")
                },
            ),
            ["email", "inbound"] => (
                "/email/inbound",
                if post {
                    self.email_inbound(req).await
                } else {
                    wrong("POST")
                },
            ),
            ["demo"] => (
                "/demo",
                if get {
                    web::demo_page::show(self, req).await
                } else {
                    wrong("GET")
                },
            ),
            ["demo", "personas"] => (
                "/demo/personas",
                if get {
                    demo::personas(self).await
                } else {
                    wrong("GET")
                },
            ),
            ["demo", "chat"] => (
                "/demo/chat",
                if post {
                    demo::chat(self, req.extensions().get::<ClientIp>(), req.body()).await
                } else {
                    wrong("POST")
                },
            ),
            ["api", "v1", rest @ ..] => ("/api/v1", self.admin(req, rest).await),
            ["dashboard", rest @ ..] => ("/dashboard", self.dashboard(req, rest).await),
            ["auth", rest @ ..] => ("/auth", web::oauth::route(self, req, rest).await),
            ["manage", rest @ ..] => ("/manage", self.manage(req, rest).await),
            ["approvals", tenant, draft, action] => (
                "/approvals",
                web::approval_link::serve(self, req, tenant, draft, action).await,
            ),
            ["assets", name] => (
                "/assets",
                if get {
                    web::assets::serve(name)
                } else {
                    wrong("GET")
                },
            ),
            _ => ("unmatched", Err(ApiError::NotFound("route".into()))),
        }
    }

    async fn healthz(&self) -> Response {
        match self.host.ping().await {
            Ok(()) => reply::text_response(200, "ok\n"),
            Err(e) => {
                tracing::error!(error = %e, "health check: database unavailable");
                let mut response = reply::text_response(503, "database unavailable\n");
                response
                    .extensions_mut()
                    .insert(InternalCause(format!("health check: {e}")));
                response
            }
        }
    }

    async fn metrics(&self) -> Result<Response, ApiError> {
        match self.host.metrics().await {
            Some(text) => Ok(reply::typed_response(
                200,
                "text/plain; version=0.0.4",
                text,
            )),
            None => Err(ApiError::NotFound("route".into())),
        }
    }
}

/// A header's value, when present and text.
fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Compares two secrets in constant time (over their SHA-256, so lengths do not leak).
pub fn secret_eq(given: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}
