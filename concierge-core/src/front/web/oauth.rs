//! Owner sign-in with Google and Facebook: the OAuth 2.0 authorization-code flow, with the
//! code exchange and the profile lookup through the host's outbound HTTP port
//! ([`Host::fetch`](crate::front::Host::fetch)).
//!
//! | route | what |
//! |---|---|
//! | `GET /auth/google`, `GET /auth/facebook` | a new `state` in a 10-minute HttpOnly cookie, 303 to the provider |
//! | `GET /auth/callback` (Google), `GET /auth/facebook/callback` | `state` checked against the cookie (constant time), the code exchanged, the verified email looked up; signed in, 303 to `next` |
//!
//! Accounts are linked by verified email, as the seed says: the owner whose email Google
//! (with `email_verified`) or Facebook (which only shares a confirmed address) reports is
//! signed in, so one business signs in with its password, Google and Facebook alike. An email
//! without an account makes a new business only when sign-up is open; otherwise the login page
//! says to ask the operator. The redirect URI is always `public_base_url` + the callback path
//! and `next` is a local path, so no request can send a browser elsewhere. Neither the code,
//! the provider's token nor the email is logged.

use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Method};
use serde_json::Value;
use sha2::Sha256;

use super::super::reply::{Request, Response};
use super::super::{secret_eq, ApiError, Front};
use super::auth::{self, login_error};
use super::cookies;
use super::render::is_local_path;
use crate::accounts;

/// The cookie that carries a sign-in's `state` (and where to go after) to the callback.
const COOKIE: &str = "__Host-concierge_oauth";
/// How long a started sign-in may take at the provider, in seconds.
const STATE_TTL_SECS: u64 = 600;

/// An identity provider an owner can sign in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthProvider {
    /// Google (OpenID Connect: `openid email` scopes, the userinfo endpoint).
    Google,
    /// Facebook Login (the `email` permission, the Graph `/me` endpoint).
    Facebook,
}

impl OAuthProvider {
    /// The provider's name in paths and cookies (`google`, `facebook`).
    pub fn slug(self) -> &'static str {
        match self {
            OAuthProvider::Google => "google",
            OAuthProvider::Facebook => "facebook",
        }
    }

    /// The callback path registered with the provider (the seed's `/auth/callback` for
    /// Google, `/auth/facebook/callback` for Facebook).
    pub fn callback_path(self) -> &'static str {
        match self {
            OAuthProvider::Google => "/auth/callback",
            OAuthProvider::Facebook => "/auth/facebook/callback",
        }
    }
}

/// One provider's client registration and endpoints.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// The client id (Google) or app id (Facebook).
    pub client_id: String,
    /// The client secret (Google) or app secret (Facebook).
    pub client_secret: String,
    /// Where the browser is sent to consent.
    pub authorize_url: String,
    /// Where the code is exchanged for an access token.
    pub token_url: String,
    /// Where the access token reads the owner's email.
    pub userinfo_url: String,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of every log line.
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("authorize_url", &self.authorize_url)
            .field("token_url", &self.token_url)
            .field("userinfo_url", &self.userinfo_url)
            .finish_non_exhaustive()
    }
}

impl OAuthClient {
    /// Google's production endpoints for `client_id`/`client_secret`.
    pub fn google(client_id: String, client_secret: String) -> Self {
        OAuthClient {
            client_id,
            client_secret,
            authorize_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
            userinfo_url: "https://openidconnect.googleapis.com/v1/userinfo".into(),
        }
    }

    /// Facebook Login for `app_id`/`app_secret`: the dialog on `www.facebook.com`, the token
    /// and `/me` on the Graph API at `graph_base` (e.g. `https://graph.facebook.com/v21.0`).
    pub fn facebook(app_id: String, app_secret: String, graph_base: &str) -> Self {
        let graph = graph_base.trim_end_matches('/');
        let version = graph.rsplit('/').next().filter(|v| v.starts_with('v'));
        let dialog = match version {
            Some(v) => format!("https://www.facebook.com/{v}/dialog/oauth"),
            None => "https://www.facebook.com/dialog/oauth".to_owned(),
        };
        OAuthClient {
            client_id: app_id,
            client_secret: app_secret,
            authorize_url: dialog,
            token_url: format!("{graph}/oauth/access_token"),
            userinfo_url: format!("{graph}/me"),
        }
    }
}

/// The identity providers this deployment signs owners in with (none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OAuthConfig {
    /// Google, when configured.
    pub google: Option<OAuthClient>,
    /// Facebook, when configured.
    pub facebook: Option<OAuthClient>,
}

impl OAuthConfig {
    /// The client of `provider`, when configured.
    pub fn client(&self, provider: OAuthProvider) -> Option<&OAuthClient> {
        match provider {
            OAuthProvider::Google => self.google.as_ref(),
            OAuthProvider::Facebook => self.facebook.as_ref(),
        }
    }
}

/// Serves `/auth/{rest}`.
pub(crate) async fn route(
    front: &Front<'_>,
    req: &Request,
    rest: &[&str],
) -> Result<Response, ApiError> {
    let (provider, callback) = match rest {
        ["google"] => (OAuthProvider::Google, false),
        ["callback"] => (OAuthProvider::Google, true),
        ["facebook"] => (OAuthProvider::Facebook, false),
        ["facebook", "callback"] => (OAuthProvider::Facebook, true),
        _ => return Err(ApiError::NotFound("route".into())),
    };
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Err(ApiError::MethodNotAllowed("GET"));
    }
    let Some(client) = front.config.oauth.client(provider) else {
        return Err(ApiError::NotFound(format!(
            "sign-in with {} (not configured)",
            provider.slug()
        )));
    };
    if callback {
        finish(front, req, provider, client).await
    } else {
        start(front, req, provider, client)
    }
}

/// The absolute redirect URI of `provider`'s callback on this deployment.
fn redirect_uri(front: &Front<'_>, provider: OAuthProvider) -> String {
    format!(
        "{}{}",
        front.engine.config().public_base_url.trim_end_matches('/'),
        provider.callback_path()
    )
}

/// `GET /auth/{provider}`: a new `state`, kept in a cookie, and 303 to the provider.
fn start(
    front: &Front<'_>,
    req: &Request,
    provider: OAuthProvider,
    client: &OAuthClient,
) -> Result<Response, ApiError> {
    let query = query(req);
    let next = query
        .iter()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.as_str())
        .filter(|n| is_local_path(n) && !n.starts_with("/dashboard/log"))
        .unwrap_or("/dashboard");
    let state = auth::random_token(front)?;
    let scope = match provider {
        OAuthProvider::Google => "openid email",
        OAuthProvider::Facebook => "email",
    };
    let mut url = form_urlencoded::Serializer::new(String::new());
    url.append_pair("response_type", "code")
        .append_pair("client_id", &client.client_id)
        .append_pair("redirect_uri", &redirect_uri(front, provider))
        .append_pair("scope", scope)
        .append_pair("state", &state);
    if provider == OAuthProvider::Google {
        url.append_pair("prompt", "select_account");
    }
    let separator = if client.authorize_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!("{}{separator}{}", client.authorize_url, url.finish());
    let mut response = http::Response::new(Bytes::new());
    *response.status_mut() = http::StatusCode::SEE_OTHER;
    let location =
        HeaderValue::from_str(&location).map_err(|e| ApiError::Internal(e.to_string()))?;
    response.headers_mut().insert(LOCATION, location);
    let next = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(next);
    set_cookie(
        &mut response,
        &format!("{}.{state}.{next}", provider.slug()),
        STATE_TTL_SECS,
    );
    Ok(response)
}

/// Why a callback signs no one in: the login page's message key and status.
struct Refusal(u16, &'static str);

/// `GET /auth/callback`, `GET /auth/facebook/callback`.
async fn finish(
    front: &Front<'_>,
    req: &Request,
    provider: OAuthProvider,
    client: &OAuthClient,
) -> Result<Response, ApiError> {
    let mut response = match callback(front, req, provider, client).await {
        Ok(Ok(response)) => response,
        Ok(Err(Refusal(status, key))) => login_error(front, req, status, key)?,
        Err(e) => return Err(e),
    };
    // The state is single-use, whatever happened.
    set_cookie(&mut response, "", 0);
    Ok(response)
}

async fn callback(
    front: &Front<'_>,
    req: &Request,
    provider: OAuthProvider,
    client: &OAuthClient,
) -> Result<Result<Response, Refusal>, ApiError> {
    let query = query(req);
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    // The cookie binds the callback to the browser that started the sign-in (login CSRF).
    let Some((next, state)) = cookies::get(req, COOKIE).and_then(|value| {
        let mut parts = value.splitn(3, '.');
        let (slug, state, next) = (parts.next()?, parts.next()?, parts.next()?);
        let next = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(next)
            .ok()
            .and_then(|n| String::from_utf8(n).ok())
            .filter(|n| is_local_path(n))?;
        (slug == provider.slug()).then(|| (next, state.to_owned()))
    }) else {
        return Ok(Err(Refusal(403, "oauth-error-state")));
    };
    if !param("state").is_some_and(|given| secret_eq(given, &state)) {
        tracing::info!(
            provider = provider.slug(),
            "oauth callback refused: state mismatch"
        );
        return Ok(Err(Refusal(403, "oauth-error-state")));
    }
    if param("error").is_some() {
        return Ok(Err(Refusal(401, "oauth-error-cancelled")));
    }
    let Some(code) = param("code").filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return Ok(Err(Refusal(400, "oauth-error-provider")));
    };
    let email = match verified_email(front, provider, client, code).await {
        Ok(Some(email)) => email,
        Ok(None) => return Ok(Err(Refusal(403, "oauth-error-no-email"))),
        Err(why) => {
            tracing::warn!(provider = provider.slug(), error = %why, "oauth sign-in failed at the provider");
            return Ok(Err(Refusal(502, "oauth-error-provider")));
        }
    };
    let email = accounts::normalize_email(&email);
    if accounts::check_email(&email).is_err() {
        return Ok(Err(Refusal(403, "oauth-error-no-email")));
    }
    let store = front.engine.store();
    if let Some(owner) = store.owner_by_email(&email).await? {
        tracing::info!(provider = provider.slug(), tenant = %owner.tenant, "owner signed in with an identity provider");
        return Ok(Ok(auth::sign_in(front, req, &owner, next).await?));
    }
    if !front.config.open_signup {
        return Ok(Err(Refusal(403, "oauth-error-no-account")));
    }
    // A new business, named after the address until the wizard's first step renames it.
    let business = email.split('@').next().unwrap_or("business").to_owned();
    let tenant = auth::create_tenant(front, req, &business).await?;
    let owner = match auth::new_owner_with_hash(front, &tenant, &email, accounts::NO_PASSWORD).await
    {
        Ok(owner) => owner,
        Err(ApiError::Conflict(_)) => match store.owner_by_email(&email).await? {
            // Another sign-in made the account between the lookup and the write.
            Some(owner) => owner,
            None => return Err(ApiError::Conflict("owner email".into())),
        },
        Err(e) => return Err(e),
    };
    front.host.tenant_changed().await;
    tracing::info!(provider = provider.slug(), tenant = %owner.tenant, "signup with an identity provider: a new business and its owner");
    Ok(Ok(auth::sign_in(
        front,
        req,
        &owner,
        "/dashboard/welcome".to_owned(),
    )
    .await?))
}

/// Why the provider gave no email (for the log; never shown).
#[derive(Debug, thiserror::Error)]
enum ProviderError {
    #[error("request: {0}")]
    Fetch(#[from] crate::front::FetchError),
    #[error("{step} answered {status}")]
    Status { step: &'static str, status: u16 },
    #[error("{0} answered something that is not the expected JSON")]
    Shape(&'static str),
    #[error("building the request: {0}")]
    Build(String),
}

/// Exchanges `code` for an access token and reads the owner's verified email (`None` when the
/// provider has none to share: unverified, or the permission was declined).
async fn verified_email(
    front: &Front<'_>,
    provider: OAuthProvider,
    client: &OAuthClient,
    code: &str,
) -> Result<Option<String>, ProviderError> {
    let redirect = redirect_uri(front, provider);
    let token_request = match provider {
        // RFC 6749 §4.1.3: a form POST, the client authenticated in the body.
        OAuthProvider::Google => {
            let body = form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", &redirect)
                .append_pair("client_id", &client.client_id)
                .append_pair("client_secret", &client.client_secret)
                .finish();
            http::Request::post(&client.token_url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(ACCEPT, "application/json")
                .body(Bytes::from(body))
        }
        // Facebook's documented exchange: a GET with the parameters in the query.
        OAuthProvider::Facebook => {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", &client.client_id)
                .append_pair("redirect_uri", &redirect)
                .append_pair("client_secret", &client.client_secret)
                .append_pair("code", code)
                .finish();
            http::Request::get(format!("{}?{query}", client.token_url))
                .header(ACCEPT, "application/json")
                .body(Bytes::new())
        }
    }
    .map_err(|e| ProviderError::Build(e.to_string()))?;
    let token = json(front, token_request, "the token endpoint").await?;
    let access_token = token
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or(ProviderError::Shape("the token endpoint"))?;

    let profile_request = match provider {
        OAuthProvider::Google => http::Request::get(&client.userinfo_url)
            .header(AUTHORIZATION, format!("Bearer {access_token}"))
            .header(ACCEPT, "application/json")
            .body(Bytes::new()),
        OAuthProvider::Facebook => {
            // `appsecret_proof` (HMAC-SHA256 of the token under the app secret) proves the
            // call comes from the app's server.
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(client.client_secret.as_bytes())
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            mac.update(access_token.as_bytes());
            let proof = hex::encode(mac.finalize().into_bytes());
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("fields", "id,email")
                .append_pair("appsecret_proof", &proof)
                .finish();
            http::Request::get(format!("{}?{query}", client.userinfo_url))
                .header(AUTHORIZATION, format!("Bearer {access_token}"))
                .header(ACCEPT, "application/json")
                .body(Bytes::new())
        }
    }
    .map_err(|e| ProviderError::Build(e.to_string()))?;
    let profile = json(front, profile_request, "the profile endpoint").await?;
    let email = profile.get("email").and_then(Value::as_str);
    let verified = match provider {
        // OpenID Connect's claim: a boolean (some accounts have sent the string "true").
        OAuthProvider::Google => {
            matches!(profile.get("email_verified"), Some(Value::Bool(true)))
                || profile.get("email_verified").and_then(Value::as_str) == Some("true")
        }
        // Facebook shares only a confirmed primary address.
        OAuthProvider::Facebook => true,
    };
    Ok(email.filter(|_| verified).map(str::to_owned))
}

/// Sends `request` and parses a 2xx JSON object answer.
async fn json(
    front: &Front<'_>,
    request: http::Request<Bytes>,
    step: &'static str,
) -> Result<Value, ProviderError> {
    let response = front.host.fetch(request).await?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(ProviderError::Status { step, status });
    }
    serde_json::from_slice::<Value>(response.body())
        .ok()
        .filter(Value::is_object)
        .ok_or(ProviderError::Shape(step))
}

fn query(req: &Request) -> Vec<(String, String)> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Sets (or, with `max_age` 0, clears) the state cookie: `SameSite=Lax`, since the callback
/// is a top-level navigation from the provider's site.
fn set_cookie(response: &mut Response, value: &str, max_age: u64) {
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}={value}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age={max_age}"
    )) {
        response.headers_mut().append(http::header::SET_COOKIE, v);
    }
}
