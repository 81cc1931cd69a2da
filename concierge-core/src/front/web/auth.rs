//! Owner accounts, login, sessions and CSRF.
//!
//! | route | what |
//! |---|---|
//! | `GET /dashboard/login` | the login form (sets a pre-session CSRF cookie); signed in → `next` |
//! | `POST /dashboard/login` | 303 to `next` with a fresh session; 401 one vague message; 429 when rate limited |
//! | `GET/POST /dashboard/signup` | when `FrontConfig::open_signup`: a new business and its owner, signed in; else 403 |
//! | `POST /dashboard/logout` | deletes this session, clears the cookies, 303 to the login page |
//! | `POST /dashboard/logout-everywhere` | bumps the owner's session epoch: every session stops working |
//!
//! Sessions: 32 random bytes (base64url) in the `__Host-concierge_session` cookie; the host
//! stores only their SHA-256 ([`Host::put_web_session`](crate::front::Host::put_web_session)),
//! with the owner's session epoch and the session's CSRF token. Every login makes a new id
//! (no fixation) and deletes the session the browser came with.
//!
//! Failed logins are counted in the store ([`OwnerStore`](crate::ports::OwnerStore)) per email
//! and per client address, so the limit holds across replicas and isolates: after
//! [`EMAIL_LIMIT`] failures for one email or [`IP_LIMIT`] from one address within
//! [`LOGIN_WINDOW`], logins answer 429 with `Retry-After` until the window closes, without
//! checking the password. GET never changes anything.

use std::collections::BTreeMap;

use askama::Template;
use base64::Engine as _;
use http::Method;
use sha2::{Digest, Sha256};

use super::super::reply::{Request, Response};
use super::super::{header, ApiError, ClientIp, Front};
use super::render::{self, is_local_path, page, Tr};
use super::{cookies, csrf, Viewer};
use crate::accounts::{self, Owner, SALT_BYTES};
use crate::front::{WebSession, WEB_SESSION_TTL};
use crate::i18n::{negotiate, UiLocale};
use crate::ids::{Currency, Locale, TenantId};
use crate::persona::{PersonaBuilder, PersonaSource};
use crate::ports::StoreError;
use crate::tenant::{OnboardingStep, TenantFile};
use crate::time::{Span, Timestamp};

/// The window failed logins are counted in.
pub(crate) const LOGIN_WINDOW: Span = Span::minutes(15);
/// Failed logins for one email within [`LOGIN_WINDOW`] before logins for it answer 429.
pub(crate) const EMAIL_LIMIT: u32 = 5;
/// Failed logins from one client address within [`LOGIN_WINDOW`] before its logins answer
/// 429 (higher than [`EMAIL_LIMIT`]: an office shares one address).
pub(crate) const IP_LIMIT: u32 = 20;
/// Signups from one client address within [`LOGIN_WINDOW`].
pub(crate) const SIGNUP_LIMIT: u32 = 10;
/// The longest business name a signup takes, in characters.
const MAX_BUSINESS_CHARS: usize = 100;

#[derive(Template)]
#[template(path = "web/auth/login.html")]
struct LoginPage<'a> {
    t: Tr,
    csrf: &'a str,
    next: &'a str,
    email: &'a str,
    error: Option<&'static str>,
    signup_open: bool,
    /// `next`, percent-encoded for the identity providers' links.
    next_param: String,
    /// Whether "Continue with Google" is offered.
    google: bool,
    /// Whether "Continue with Facebook" is offered.
    facebook: bool,
}

#[derive(Template)]
#[template(path = "web/auth/signup.html")]
struct SignupPage<'a> {
    t: Tr,
    csrf: &'a str,
    email: &'a str,
    business: &'a str,
    /// `(field, message key)`.
    errors: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "web/auth/signup_closed.html")]
struct SignupClosedPage {
    t: Tr,
}

/// Serves the routes that need no session (`login`, `signup`, `logout`,
/// `logout-everywhere`), or `None` for the rest.
pub(crate) async fn open_route(
    front: &Front<'_>,
    req: &Request,
    rest: &[&str],
) -> Result<Option<Response>, ApiError> {
    let method = req.method();
    let response = match rest {
        ["login"] => match *method {
            Method::GET | Method::HEAD => login_form(front, req).await?,
            Method::POST => login(front, req).await?,
            _ => return Err(ApiError::MethodNotAllowed("GET, POST")),
        },
        ["signup"] => match *method {
            Method::GET | Method::HEAD => signup_form(front, req)?,
            Method::POST => signup(front, req).await?,
            _ => return Err(ApiError::MethodNotAllowed("GET, POST")),
        },
        ["logout"] => match *method {
            Method::POST => logout(front, req, false).await?,
            _ => return Err(ApiError::MethodNotAllowed("POST")),
        },
        ["logout-everywhere"] => match *method {
            Method::POST => logout(front, req, true).await?,
            _ => return Err(ApiError::MethodNotAllowed("POST")),
        },
        _ => return Ok(None),
    };
    Ok(Some(response))
}

/// The signed-in owner behind the request's session cookie, or `None` without a valid
/// session (none, unknown, expired, or made before the owner's last "log out everywhere").
pub(crate) async fn viewer(front: &Front<'_>, req: &Request) -> Result<Option<Viewer>, ApiError> {
    let Some(id) = cookies::get(req, cookies::SESSION).filter(|id| csrf::well_formed(id)) else {
        return Ok(None);
    };
    let key = id_hash(id);
    let now = front.engine.clock().now();
    let Some(session) = front.host.web_session(&key, now).await? else {
        return Ok(None);
    };
    let Some(owner) = front.engine.store().owner_by_id(&session.owner).await? else {
        return Ok(None);
    };
    if owner.session_epoch != session.epoch || owner.tenant != session.tenant {
        return Ok(None);
    }
    let tenant_locale = front
        .engine
        .store()
        .get_tenant(&owner.tenant)
        .await?
        .map(|t| t.locale.as_str().to_owned());
    Ok(Some(Viewer {
        tenant: owner.tenant,
        email: owner.email,
        csrf: session.csrf,
        locale: negotiate(
            tenant_locale.as_deref(),
            header(req, "accept-language"),
            header(req, "cf-ipcountry"),
        ),
        owner: owner.id,
        session: key,
    }))
}

/// Refuses a state-changing request that is cross-site or whose CSRF token (form field
/// `csrf` or header `X-CSRF-Token`, and the CSRF cookie) does not match the session's.
pub(crate) fn check_csrf(
    front: &Front<'_>,
    viewer: &Viewer,
    req: &Request,
) -> Result<(), ApiError> {
    csrf::same_origin(req, &front.engine.config().public_base_url)?;
    // A form with a file input sends `multipart/form-data`: the token is one of its parts.
    if super::multipart::is_multipart(req) {
        let parts = super::multipart::parts(req).unwrap_or_default();
        return csrf::check(
            req,
            super::multipart::text(&parts, csrf::FIELD),
            &viewer.csrf,
        );
    }
    let form = form(req);
    csrf::check(req, form.get(csrf::FIELD).map(String::as_str), &viewer.csrf)
}

/// Where a request without a session goes: a GET to the login page (303, with `next`), an
/// htmx request 401 with `HX-Redirect` there, anything else 401.
pub(crate) fn to_login(req: &Request) -> Response {
    let htmx = header(req, "hx-request").is_some_and(|v| v == "true");
    let here = if htmx {
        header(req, "hx-current-url").and_then(url_path)
    } else {
        None
    }
    .or_else(|| req.uri().path_and_query().map(|p| p.as_str().to_owned()))
    .filter(|p| is_local_path(p))
    .unwrap_or_else(|| "/dashboard".to_owned());
    let login = format!("/dashboard/login?next={}", encode(&here));
    if htmx {
        let mut response = ApiError::SignInRequired.into_response();
        if let Ok(value) = http::HeaderValue::from_str(&login) {
            response.headers_mut().insert("hx-redirect", value);
        }
        response
    } else if matches!(*req.method(), Method::GET | Method::HEAD) {
        render::redirect_to(login)
    } else {
        ApiError::SignInRequired.into_response()
    }
}

/// The path (and query) of an absolute URL.
fn url_path(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    rest.find('/').map(|i| rest[i..].to_owned())
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The fields of an `application/x-www-form-urlencoded` body (the last of a repeated name).
pub(crate) fn form(req: &Request) -> BTreeMap<String, String> {
    urlencoded(req.body())
}

/// `application/x-www-form-urlencoded` pairs by name, the last of a repeated name: one
/// function for bodies and queries (each `collect` into a map compiles a sort of its own).
fn urlencoded(input: &[u8]) -> BTreeMap<String, String> {
    form_urlencoded::parse(input)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The hex SHA-256 a session is stored under.
fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// A limiter key that does not keep the email or address itself.
pub(crate) fn limit_key(kind: &str, value: &str) -> String {
    format!("{kind}:{}", hex::encode(Sha256::digest(value.as_bytes())))
}

pub(crate) fn random_token(front: &Front<'_>) -> Result<String, ApiError> {
    // Session ids and CSRF tokens alike.
    let mut bytes = [0u8; csrf::TOKEN_BYTES];
    front.host.fill_random(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// `next` from a query or form: a local path, else the dashboard.
fn next_or_default(next: Option<&str>) -> String {
    next.filter(|n| is_local_path(n) && !n.starts_with("/dashboard/log"))
        .unwrap_or("/dashboard")
        .to_owned()
}

fn query(req: &Request) -> BTreeMap<String, String> {
    urlencoded(req.uri().query().unwrap_or("").as_bytes())
}

/// The pre-session CSRF token: the browser's CSRF cookie when it has one, else a new one
/// (and whether the response must set it).
pub(crate) fn presession_token(
    front: &Front<'_>,
    req: &Request,
) -> Result<(String, bool), ApiError> {
    match cookies::get(req, cookies::CSRF).filter(|t| csrf::well_formed(t)) {
        Some(token) => Ok((token.to_owned(), false)),
        None => Ok((random_token(front)?, true)),
    }
}

/// The locale of a visitor without a session: `Accept-Language`, then `cf-ipcountry`, then
/// `en-IN` (the seed's chain, without a tenant yet).
pub(crate) fn visitor_locale(req: &Request) -> UiLocale {
    negotiate(
        None,
        header(req, "accept-language"),
        header(req, "cf-ipcountry"),
    )
}

fn tr(req: &Request) -> Tr {
    Tr(visitor_locale(req))
}

async fn login_form(front: &Front<'_>, req: &Request) -> Result<Response, ApiError> {
    let query = query(req);
    let next = next_or_default(query.get("next").map(String::as_str));
    if viewer(front, req).await?.is_some() {
        return Ok(render::redirect_to(next));
    }
    let (token, fresh) = presession_token(front, req)?;
    let mut response = page(
        200,
        &LoginPage {
            t: tr(req),
            csrf: &token,
            next: &next,
            next_param: encode(&next),
            email: "",
            error: None,
            signup_open: front.config.open_signup,
            google: front.config.oauth.google.is_some(),
            facebook: front.config.oauth.facebook.is_some(),
        },
    )?;
    if fresh {
        cookies::set_csrf(&mut response, &token);
    }
    Ok(response)
}

/// The login form again, with `error` and `status` (401, 429).
fn login_refused(
    front: &Front<'_>,
    req: &Request,
    token: &str,
    next: &str,
    email: &str,
    status: u16,
    error: &'static str,
) -> Result<Response, ApiError> {
    page(
        status,
        &LoginPage {
            t: tr(req),
            csrf: token,
            next,
            next_param: encode(next),
            email,
            error: Some(error),
            signup_open: front.config.open_signup,
            google: front.config.oauth.google.is_some(),
            facebook: front.config.oauth.facebook.is_some(),
        },
    )
}

/// The login page with `error` (a message key) and `status`, for a refusal that did not come
/// from the form (an identity provider's callback).
pub(crate) fn login_error(
    front: &Front<'_>,
    req: &Request,
    status: u16,
    error: &'static str,
) -> Result<Response, ApiError> {
    let (token, fresh) = presession_token(front, req)?;
    let mut response = login_refused(front, req, &token, "/dashboard", "", status, error)?;
    if fresh {
        cookies::set_csrf(&mut response, &token);
    }
    Ok(response)
}

/// The pre-session double submit of the login and signup forms: the form's token must
/// equal the CSRF cookie (the login CSRF defence), and the request must be same-origin.
pub(crate) fn check_presession(
    front: &Front<'_>,
    req: &Request,
    form: &BTreeMap<String, String>,
) -> Result<String, ApiError> {
    csrf::same_origin(req, &front.engine.config().public_base_url)?;
    let cookie = cookies::get(req, cookies::CSRF).unwrap_or("").to_owned();
    csrf::check(req, form.get(csrf::FIELD).map(String::as_str), &cookie)?;
    Ok(cookie)
}

/// Seconds until the login may be tried again, when any of `limits` (a limiter key and the
/// failures it allows in [`LOGIN_WINDOW`]) is reached; `None` when none is.
pub(crate) async fn login_limited(
    front: &Front<'_>,
    limits: &[(&str, u32)],
) -> Result<Option<u64>, ApiError> {
    let store = front.engine.store();
    let now = front.engine.clock().now();
    let mut wait = None;
    for (key, limit) in limits {
        let failures = store.login_failures(key, now, LOGIN_WINDOW).await?;
        if failures.count >= *limit {
            wait = wait.max(Some(retry_after(failures.window_start, now)));
        }
    }
    Ok(wait)
}

/// Counts one failed login under each of `keys`.
pub(crate) async fn record_login_failures(
    front: &Front<'_>,
    keys: &[&str],
) -> Result<(), ApiError> {
    let now = front.engine.clock().now();
    for key in keys {
        front
            .engine
            .store()
            .record_login_failure(key, now, LOGIN_WINDOW)
            .await?;
    }
    Ok(())
}

/// Seconds until a window that started at `start` closes, at least 1.
pub(crate) fn retry_after(start: Timestamp, now: Timestamp) -> u64 {
    let left = (start + LOGIN_WINDOW).as_millis() - now.as_millis();
    u64::try_from((left + 999) / 1000).unwrap_or(1).max(1)
}

pub(crate) fn with_retry_after(mut response: Response, secs: u64) -> Response {
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
    response
}

async fn login(front: &Front<'_>, req: &Request) -> Result<Response, ApiError> {
    let form = form(req);
    let token = check_presession(front, req, &form)?;
    let next = next_or_default(form.get("next").map(String::as_str));
    let email = accounts::normalize_email(form.get("email").map_or("", String::as_str));
    let password = form.get("password").map_or("", String::as_str);
    let store = front.engine.store();
    let ip = req
        .extensions()
        .get::<ClientIp>()
        .map_or("unknown", |c| c.0.as_str());
    let email_key = limit_key("login-email", &email);
    let ip_key = limit_key("login-ip", ip);

    let limits = [
        (email_key.as_str(), EMAIL_LIMIT),
        (ip_key.as_str(), IP_LIMIT),
    ];
    if let Some(secs) = login_limited(front, &limits).await? {
        tracing::info!("login refused: too many failed attempts");
        let response = login_refused(
            front,
            req,
            &token,
            &next,
            &email,
            429,
            "login-error-rate-limited",
        )?;
        return Ok(with_retry_after(response, secs));
    }

    let owner = if accounts::check_email(&email).is_ok() {
        store.owner_by_email(&email).await?
    } else {
        None
    };
    let hash = owner.as_ref().map(|o| o.password_hash.as_str());
    let valid = accounts::verify_or_dummy(password, hash);
    let owner = match owner {
        Some(owner) if valid => owner,
        _ => {
            record_login_failures(front, &[&email_key, &ip_key]).await?;
            return login_refused(
                front,
                req,
                &token,
                &next,
                &email,
                401,
                "login-error-credentials",
            );
        }
    };
    store.clear_login_failures(&email_key).await?;
    sign_in(front, req, &owner, next).await
}

/// Makes a new session for `owner` (new id, new CSRF token), deletes the one the browser came
/// with, and answers 303 to `next` with both cookies.
pub(crate) async fn sign_in(
    front: &Front<'_>,
    req: &Request,
    owner: &Owner,
    next: String,
) -> Result<Response, ApiError> {
    if let Some(old) = cookies::get(req, cookies::SESSION).filter(|id| csrf::well_formed(id)) {
        front.host.delete_web_session(&id_hash(old)).await?;
    }
    let id = random_token(front)?;
    let token = random_token(front)?;
    let now = front.engine.clock().now();
    let session = WebSession {
        owner: owner.id.clone(),
        tenant: owner.tenant.clone(),
        epoch: owner.session_epoch,
        csrf: token.clone(),
        created_at: now,
        expires_at: now + WEB_SESSION_TTL,
    };
    front.host.put_web_session(&id_hash(&id), &session).await?;
    let mut response = render::redirect_to(next);
    cookies::set_session(&mut response, &id);
    cookies::set_csrf(&mut response, &token);
    Ok(response)
}

async fn logout(front: &Front<'_>, req: &Request, everywhere: bool) -> Result<Response, ApiError> {
    let Some(viewer) = viewer(front, req).await? else {
        if everywhere {
            return Ok(to_login(req));
        }
        // Nobody is signed in: nothing to protect, only stale cookies to clear.
        let mut response = render::redirect("/dashboard/login");
        cookies::clear(&mut response);
        return Ok(response);
    };
    check_csrf(front, &viewer, req)?;
    if everywhere {
        front
            .engine
            .store()
            .bump_session_epoch(&viewer.owner)
            .await?;
    }
    front.host.delete_web_session(&viewer.session).await?;
    let mut response = render::redirect("/dashboard/login");
    cookies::clear(&mut response);
    Ok(response)
}

fn signup_closed(req: &Request) -> Result<Response, ApiError> {
    page(403, &SignupClosedPage { t: tr(req) })
}

fn signup_form(front: &Front<'_>, req: &Request) -> Result<Response, ApiError> {
    if !front.config.open_signup {
        return signup_closed(req);
    }
    let (token, fresh) = presession_token(front, req)?;
    let mut response = page(
        200,
        &SignupPage {
            t: tr(req),
            csrf: &token,
            email: "",
            business: "",
            errors: Vec::new(),
        },
    )?;
    if fresh {
        cookies::set_csrf(&mut response, &token);
    }
    Ok(response)
}

async fn signup(front: &Front<'_>, req: &Request) -> Result<Response, ApiError> {
    if !front.config.open_signup {
        return signup_closed(req);
    }
    let form = form(req);
    let token = check_presession(front, req, &form)?;
    let email = accounts::normalize_email(form.get("email").map_or("", String::as_str));
    let password = form.get("password").map_or("", String::as_str);
    let business = form.get("business").map_or("", |b| b.trim());
    let again = |status: u16, errors: Vec<(&'static str, &'static str)>| {
        page(
            status,
            &SignupPage {
                t: tr(req),
                csrf: &token,
                email: &email,
                business,
                errors,
            },
        )
    };

    let store = front.engine.store();
    let now = front.engine.clock().now();
    let ip = req
        .extensions()
        .get::<ClientIp>()
        .map_or("unknown", |c| c.0.as_str());
    let ip_key = limit_key("signup-ip", ip);
    let attempts = store.login_failures(&ip_key, now, LOGIN_WINDOW).await?;
    if attempts.count >= SIGNUP_LIMIT {
        let response = again(429, vec![("form", "signup-error-rate-limited")])?;
        return Ok(with_retry_after(
            response,
            retry_after(attempts.window_start, now),
        ));
    }

    let mut errors = Vec::new();
    if accounts::check_email(&email).is_err() {
        errors.push(("email", "signup-error-email"));
    }
    if accounts::check_password(password).is_err() {
        errors.push(("password", "signup-error-password"));
    }
    if business.is_empty() || business.chars().count() > MAX_BUSINESS_CHARS {
        errors.push(("business", "signup-error-business"));
    }
    if errors.is_empty() && store.owner_by_email(&email).await?.is_some() {
        errors.push(("email", "signup-error-email-taken"));
    }
    if !errors.is_empty() {
        return again(422, errors);
    }
    store
        .record_login_failure(&ip_key, now, LOGIN_WINDOW)
        .await?;

    let tenant = create_tenant(front, req, business).await?;
    let owner = match new_owner(front, &tenant, &email, password).await {
        Ok(owner) => owner,
        Err(ApiError::Conflict(_)) => {
            // Another signup took the email between the check and the write.
            tracing::warn!(tenant = %tenant, "signup lost a race for its email: tenant left without owner");
            return again(422, vec![("email", "signup-error-email-taken")]);
        }
        Err(e) => return Err(e),
    };
    front.host.tenant_changed().await;
    tracing::info!(tenant = %owner.tenant, "signup: a new business and its owner");
    sign_in(front, req, &owner, "/dashboard/welcome".to_owned()).await
}

/// Creates a tenant named `business` under a free slug of its name (`-2`, `-3`, ... then a
/// random suffix), with the deployment defaults (en-IN, INR, a persona from the name; its
/// review runs when the owner first saves the persona).
pub(crate) async fn create_tenant(
    front: &Front<'_>,
    req: &Request,
    business: &str,
) -> Result<TenantId, ApiError> {
    let base = accounts::slug(business);
    // Set once at signup from the visitor's locale; the wizard's first step changes both.
    let ui = visitor_locale(req);
    let code = if ui == UiLocale::EnUs { "USD" } else { "INR" };
    let currency = Currency::parse(code).map_err(|e| ApiError::Internal(e.to_string()))?;
    let locale = Locale::parse(ui.tag()).map_err(|e| ApiError::Internal(e.to_string()))?;
    for attempt in 0..12u32 {
        let candidate = match attempt {
            0 => base.clone(),
            1..=9 => format!("{base}-{}", attempt + 1),
            _ => {
                let mut bytes = [0u8; 4];
                front.host.fill_random(&mut bytes)?;
                format!("{base}-{}", hex::encode(bytes))
            }
        };
        let id = TenantId::parse(&candidate).map_err(|e| ApiError::Internal(e.to_string()))?;
        let file = TenantFile {
            id: id.clone(),
            name: business.to_owned(),
            locale: locale.clone(),
            currency: currency.clone(),
            starting_credits: None,
            persona: PersonaSource::Builder(PersonaBuilder {
                business_name: business.to_owned(),
                ..PersonaBuilder::default()
            }),
            conversation: Default::default(),
            approval: Default::default(),
            notifications: Default::default(),
            channels: Default::default(),
            knowledge: Default::default(),
        };
        let mut tenant = file.into_tenant();
        // A new business starts in the onboarding wizard.
        tenant.onboarding = Some(OnboardingStep::Business);
        match front.engine.store().put_tenant(&tenant, None).await {
            Ok(_) => return Ok(id),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict(
        "no free id for this business name".into(),
    ))
}

/// Creates an owner of `tenant` with a new id and a salted argon2id hash of `password`
/// (already checked against the policy); [`ApiError::Conflict`] when the email is taken.
pub(crate) async fn new_owner(
    front: &Front<'_>,
    tenant: &TenantId,
    email: &str,
    password: &str,
) -> Result<Owner, ApiError> {
    let password_hash = hash(front, password)?;
    new_owner_with_hash(front, tenant, email, &password_hash).await
}

/// Creates an owner of `tenant` with a new id and `password_hash` (a PHC string, or
/// [`accounts::NO_PASSWORD`] for an owner who signs in only with an identity provider);
/// [`ApiError::Conflict`] when the email is taken.
pub(crate) async fn new_owner_with_hash(
    front: &Front<'_>,
    tenant: &TenantId,
    email: &str,
    password_hash: &str,
) -> Result<Owner, ApiError> {
    let mut id = [0u8; 16];
    front.host.fill_random(&mut id)?;
    let owner = Owner {
        id: format!("own_{}", hex::encode(id)),
        tenant: tenant.clone(),
        email: email.to_owned(),
        password_hash: password_hash.to_owned(),
        session_epoch: 0,
        created_at: front.engine.clock().now(),
    };
    front.engine.store().create_owner(&owner).await?;
    Ok(owner)
}

/// A salted argon2id hash of `password`, the salt from the host.
pub(crate) fn hash(front: &Front<'_>, password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; SALT_BYTES];
    front.host.fill_random(&mut salt)?;
    accounts::hash_password(password, &salt).map_err(|e| ApiError::Internal(e.to_string()))
}
