//! The operator panel `/manage/*`: every tenant at a glance, the persona reviews waiting for a
//! human (approve or reject as the operator), and credit grants.
//!
//! Who may enter: the deployment's operator, who holds the admin token
//! (`CONCIERGE_ADMIN_TOKEN` / `ADMIN_TOKEN`). `POST /manage/login` takes the token once
//! (CSRF-protected like every login form, failed attempts rate limited per client address) and
//! sets `__Host-concierge_operator`, `{expires}.{HMAC-SHA256(admin token, expires)}`: nothing
//! is stored, every request verifies it in constant time, it lasts [`OPERATOR_SESSION`], and
//! rotating the admin token ends every operator session. The session's CSRF token is derived
//! from the same MAC and checked on every POST.
//!
//! Behind Cloudflare Access (the Worker with `ACCESS_TEAM_DOMAIN` and `ACCESS_AUD`, or any
//! deployment that sets [`FrontConfig::access`](crate::front::FrontConfig::access)), the admin
//! token signs no one in: every request must carry the team's RS256 token
//! (`Cf-Access-Jwt-Assertion`, or Access's `CF_Authorization` cookie), verified by
//! [`verify_access_jwt`](crate::front::verify_access_jwt) against the team's key set, fetched
//! through the host and cached ([`AccessGate`](crate::front::AccessGate)); anything else is a
//! 403. Its CSRF token is a MAC of the operator's email under the signing key.

use askama::Template;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::Method;
use sha2::Sha256;

use super::super::reply::{Request, Response};
use super::super::{secret_eq, ApiError, ClientIp, Front};
use super::auth::{
    check_presession, limit_key, presession_token, retry_after, visitor_locale, with_retry_after,
    LOGIN_WINDOW,
};
use super::form::Form;
use super::pages::persona::Review;
use super::render::{page, redirect, redirect_to, Tr};
use super::{cookies, csrf, is_unsafe};
use crate::ids::{Milli, TenantId};
use crate::time::{Span, Timestamp};

/// How long an operator session lasts.
pub(crate) const OPERATOR_SESSION: Span = Span::hours(12);
/// The operator session cookie.
const COOKIE: &str = "__Host-concierge_operator";
/// Failed operator logins from one address within the login window before 429.
const OPERATOR_LIMIT: u32 = 10;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &str, purpose: &str, expires: i64) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut m =
        <HmacSha256 as Mac>::new_from_slice(key.as_bytes()).unwrap_or_else(|_| unreachable!());
    m.update(format!("concierge-operator\0{purpose}\0{expires}").as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// The session cookie's value for a session ending at `expires` (seconds).
fn session_value(key: &str, expires: i64) -> String {
    format!("{expires}.{}", hex::encode(mac(key, "session", expires)))
}

/// The session's CSRF token (43 base64url characters, like every CSRF token here).
fn session_csrf(key: &str, expires: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac(key, "csrf", expires))
}

/// The CSRF token of an operator admitted by Cloudflare Access: a MAC of their email under
/// the deployment's signing key (stable for the operator, unguessable for another site).
fn access_csrf(signing_key: &[u8], email: &str) -> String {
    let mut m = <HmacSha256 as Mac>::new_from_slice(signing_key).unwrap_or_else(|_| unreachable!());
    m.update(format!("concierge-operator-access\0{email}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
}

/// The operator session a request carries: its expiry, when its MAC verifies and it is live.
fn session(req: &Request, key: &str, now: Timestamp) -> Option<i64> {
    let value = cookies::get(req, COOKIE)?;
    let (expires, _) = value.split_once('.')?;
    let expires: i64 = expires.parse().ok()?;
    (secret_eq(value, &session_value(key, expires)) && now.as_secs() < expires).then_some(expires)
}

/// One tenant's row.
#[derive(Debug)]
struct TenantRow {
    id: String,
    name: String,
    review: Review,
    balance: String,
}

#[derive(Template)]
#[template(path = "web/manage/login.html")]
struct LoginPage<'a> {
    t: Tr,
    csrf: &'a str,
    error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "web/manage/tenants.html")]
struct TenantsPage {
    t: Tr,
    csrf: String,
    tenants: Vec<TenantRow>,
    notice: String,
}

impl Front<'_> {
    /// Routes `/manage/{rest}`.
    pub(in crate::front) async fn manage(
        &self,
        req: &Request,
        rest: &[&str],
    ) -> Result<Response, ApiError> {
        let method = req.method();
        let now = self.engine.clock().now();
        // Who the operator is, and the CSRF token their forms carry.
        let csrf_token = if let Some(gate) = &self.config.access {
            // Behind Cloudflare Access: every request carries the team's signed token; there
            // is no login of our own.
            match gate.operator(self.host, req, now).await? {
                Ok(email) => {
                    if let ["login" | "logout"] = rest {
                        return Ok(redirect("/manage"));
                    }
                    tracing::debug!("operator admitted by Cloudflare Access");
                    access_csrf(&self.engine.config().signing_key, &email)
                }
                Err(why) => {
                    tracing::info!(reason = %why, "operator panel refused: Cloudflare Access");
                    return Err(ApiError::Forbidden(
                        "the operator panel needs a valid Cloudflare Access sign-in",
                    ));
                }
            }
        } else {
            let key = self
                .config
                .admin_token
                .clone()
                .ok_or(ApiError::Unavailable(
                    "the operator panel is off: set CONCIERGE_ADMIN_TOKEN",
                ))?;
            if let ["login"] = rest {
                return match *method {
                    Method::GET | Method::HEAD => self.operator_login_form(req, None, 200),
                    Method::POST => self.operator_login(req, &key).await,
                    _ => Err(ApiError::MethodNotAllowed("GET, POST")),
                };
            }
            let Some(expires) = session(req, &key, now) else {
                return Ok(if matches!(*method, Method::GET | Method::HEAD) {
                    redirect("/manage/login")
                } else {
                    ApiError::SignInRequired.into_response()
                });
            };
            session_csrf(&key, expires)
        };
        if is_unsafe(method) {
            csrf::same_origin(req, &self.engine.config().public_base_url)?;
            let form = Form::parse(req);
            csrf::check(req, form.raw(csrf::FIELD), &csrf_token)?;
        }
        let t = Tr(visitor_locale(req));
        let mut response = self.operator_route(req, rest, t, &csrf_token).await?;
        // Access has no login of ours to set the double-submit cookie: every page does.
        if self.config.access.is_some()
            && cookies::get(req, cookies::CSRF).is_none_or(|c| !csrf::token_eq(c, &csrf_token))
        {
            cookies::set_csrf(&mut response, &csrf_token);
        }
        Ok(response)
    }

    /// The panel's pages and actions, for an admitted operator whose forms carry `csrf`.
    async fn operator_route(
        &self,
        req: &Request,
        rest: &[&str],
        t: Tr,
        csrf_token: &str,
    ) -> Result<Response, ApiError> {
        let method = req.method();
        match rest {
            [] | [""] => match *method {
                Method::GET => self.operator_tenants(t, csrf_token.to_owned(), req).await,
                _ => Err(ApiError::MethodNotAllowed("GET")),
            },
            ["logout"] => match *method {
                Method::POST => {
                    let mut response = redirect("/manage/login");
                    clear(&mut response);
                    Ok(response)
                }
                _ => Err(ApiError::MethodNotAllowed("POST")),
            },
            ["tenants", tenant, "persona"] => match *method {
                Method::POST => self.operator_review(req, tenant).await,
                _ => Err(ApiError::MethodNotAllowed("POST")),
            },
            ["tenants", tenant, "credits"] => match *method {
                Method::POST => self.operator_grant(req, tenant).await,
                _ => Err(ApiError::MethodNotAllowed("POST")),
            },
            _ => Err(ApiError::NotFound("page".into())),
        }
    }

    fn operator_login_form(
        &self,
        req: &Request,
        error: Option<&'static str>,
        status: u16,
    ) -> Result<Response, ApiError> {
        let (token, fresh) = presession_token(self, req)?;
        let mut response = page(
            status,
            &LoginPage {
                t: Tr(visitor_locale(req)),
                csrf: &token,
                error,
            },
        )?;
        if fresh {
            cookies::set_csrf(&mut response, &token);
        }
        Ok(response)
    }

    async fn operator_login(&self, req: &Request, key: &str) -> Result<Response, ApiError> {
        let fields = super::auth::form(req);
        check_presession(self, req, &fields)?;
        let now = self.engine.clock().now();
        let ip = req
            .extensions()
            .get::<ClientIp>()
            .map_or("unknown", |c| c.0.as_str());
        let limit = limit_key("operator-ip", ip);
        let store = self.engine.store();
        let failures = store.login_failures(&limit, now, LOGIN_WINDOW).await?;
        if failures.count >= OPERATOR_LIMIT {
            let response = self.operator_login_form(req, Some("manage-login-rate-limited"), 429)?;
            return Ok(with_retry_after(
                response,
                retry_after(failures.window_start, now),
            ));
        }
        let given = fields.get("token").map_or("", String::as_str);
        if !secret_eq(given, key) {
            store
                .record_login_failure(&limit, now, LOGIN_WINDOW)
                .await?;
            tracing::info!("operator login refused");
            return self.operator_login_form(req, Some("manage-login-error"), 401);
        }
        store.clear_login_failures(&limit).await?;
        let expires = (now + OPERATOR_SESSION).as_secs();
        let mut response = redirect("/manage");
        set(
            &mut response,
            &session_value(key, expires),
            OPERATOR_SESSION,
        );
        cookies::set_csrf(&mut response, &session_csrf(key, expires));
        tracing::info!("operator signed in");
        Ok(response)
    }

    async fn operator_tenants(
        &self,
        t: Tr,
        csrf: String,
        req: &Request,
    ) -> Result<Response, ApiError> {
        let store = self.engine.store();
        let now = self.engine.clock().now();
        let mut tenants = Vec::new();
        for id in store.list_tenants().await? {
            if let Some(tenant) = store.get_tenant(&id).await? {
                let balance = store.balance(&id, now).await?;
                tenants.push(TenantRow {
                    id: id.to_string(),
                    name: tenant.name.clone(),
                    review: Review::of(&tenant.persona),
                    balance: crate::i18n::format_money(
                        t.0,
                        tenant.currency.as_str(),
                        balance.as_milli(),
                    ),
                });
            }
        }
        let query = Form::from_bytes(req.uri().query().unwrap_or("").as_bytes());
        let notice = match query.text("done").as_str() {
            "approved" => t.get("manage-done-approved"),
            "rejected" => t.get("manage-done-rejected"),
            "granted" => t.get("manage-done-granted"),
            _ => String::new(),
        };
        page(
            200,
            &TenantsPage {
                t,
                csrf,
                tenants,
                notice,
            },
        )
    }

    async fn operator_review(&self, req: &Request, raw: &str) -> Result<Response, ApiError> {
        let id = TenantId::parse(raw).map_err(|_| ApiError::NotFound(format!("tenant {raw}")))?;
        let form = Form::parse(req);
        let done = match form.text("action").as_str() {
            "approve" => {
                self.engine.approve_persona_as_operator(&id).await?;
                "approved"
            }
            "reject" => {
                self.engine.reject_persona_as_operator(&id).await?;
                "rejected"
            }
            _ => return Err(ApiError::field("action", "must be approve or reject")),
        };
        self.host.tenant_changed().await;
        Ok(redirect_to(format!("/manage?done={done}")))
    }

    async fn operator_grant(&self, req: &Request, raw: &str) -> Result<Response, ApiError> {
        let id = TenantId::parse(raw).map_err(|_| ApiError::NotFound(format!("tenant {raw}")))?;
        let form = Form::parse(req);
        let amount = Milli::parse(&form.text("amount")).map_err(|_| {
            ApiError::field("amount", "must be a number of credits, e.g. 10 or 2.5")
        })?;
        let now = self.engine.clock().now();
        let expires = match form.optional("expires_days") {
            None => None,
            Some(days) => match days.parse::<i64>() {
                Ok(d) if (1..=3650).contains(&d) => Some(now + Span::days(d)),
                _ => {
                    return Err(ApiError::field(
                        "expires_days",
                        "must be 1 to 3650 days, or empty",
                    ))
                }
            },
        };
        let grant_id = form
            .optional("grant_id")
            .unwrap_or_else(|| format!("operator-{}", now.as_millis()));
        let reason = form
            .optional("reason")
            .unwrap_or_else(|| "operator grant".into());
        self.engine
            .grant_credits(&id, &grant_id, amount, expires, &reason)
            .await?;
        Ok(redirect_to("/manage?done=granted".to_owned()))
    }
}

/// Sets the operator cookie for `ttl`.
fn set(response: &mut Response, value: &str, ttl: Span) {
    if let Ok(v) = http::HeaderValue::from_str(&format!(
        "{COOKIE}={value}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={}",
        ttl.as_millis() / 1000
    )) {
        response.headers_mut().append(http::header::SET_COOKIE, v);
    }
}

/// Expires the operator cookie.
fn clear(response: &mut Response) {
    set(response, "", Span::seconds(0));
}
