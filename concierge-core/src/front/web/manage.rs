//! The operator panel `/manage/*`: every tenant at a glance, the persona reviews waiting for a
//! human (approve or reject as the operator), credit grants, the personas catalog
//! (`/manage/personas`, in [`manage_catalog`](super::manage_catalog)), the price of an AI reply
//! per currency (`/manage/pricing`) and the audit log of management actions (`/manage/audit`).
//!
//! Every state-changing action (sign-in and sign-out included) appends an audit entry as
//! actor `operator:{email}` after it succeeded; a failed append answers 500 (the action stays
//! applied), as in the admin API.
//!
//! Who may enter, where Cloudflare Access is not in front: an **operator account**
//! ([`Operator`](crate::accounts::Operator), created through the admin API's
//! `PUT /api/v1/operators`). `POST /manage/login` takes its email and password (CSRF-protected
//! like every login form; argon2id verified at the same cost whether or not the account
//! exists; failures rate limited per email and per client address, as owners' are) and sets
//! `__Host-concierge_operator`, `{expires}.{epoch}.{email, base64url}.{HMAC-SHA256}` under the
//! deployment's signing key: nothing is stored per session, every request verifies the MAC in
//! constant time and that the account still exists at that session epoch. A session lasts
//! [`OPERATOR_SESSION`]; a new password, "sign out everywhere" (`POST
//! /manage/logout-everywhere`) or removing the account ends every session of it. The session's
//! CSRF token is derived from the same key and checked on every POST. Every action is audited
//! as `operator:{email}`.
//!
//! Behind Cloudflare Access (the Worker with `ACCESS_TEAM_DOMAIN` and `ACCESS_AUD`, or any
//! deployment that sets [`FrontConfig::access`](crate::front::FrontConfig::access)), no
//! operator account signs anyone in: every request must carry the team's RS256 token
//! (`Cf-Access-Jwt-Assertion`, or Access's `CF_Authorization` cookie), verified by
//! [`verify_access_jwt`](crate::front::verify_access_jwt) against the team's key set, fetched
//! through the host and cached ([`AccessGate`](crate::front::AccessGate)); anything else is a
//! 403. Its CSRF token is a MAC of the operator's email under the signing key, and its actions
//! are audited as `operator:{email}` too.

use askama::Template;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::Method;
use sha2::Sha256;

use super::super::reply::{Request, Response};
use super::super::{secret_eq, ApiError, ClientIp, Front};
use super::auth::{
    check_presession, limit_key, login_limited, presession_token, record_login_failures,
    visitor_locale, with_retry_after, EMAIL_LIMIT,
};
use super::form::{Errors, Form};
use super::pages::fmt::When;
use super::pages::persona::Review;
use super::render::{page, redirect, redirect_to, Tr};
use super::{cookies, csrf, is_unsafe};
use crate::accounts;
use crate::audit::{actor, AuditAction, AuditQuery};
use crate::billing::MAX_AI_REPLY_PRICE;
use crate::conversation::FieldError;
use crate::ids::{Currency, Milli, TenantId};
use crate::time::{Span, Timestamp};

/// How long an operator session lasts.
pub(crate) const OPERATOR_SESSION: Span = Span::hours(12);
/// The operator session cookie.
const COOKIE: &str = "__Host-concierge_operator";
/// Failed operator logins from one address within the login window before 429 (those for
/// one email are limited like owners', at [`EMAIL_LIMIT`]).
const OPERATOR_IP_LIMIT: u32 = 10;
/// Audit entries per page of `/manage/audit`.
const AUDIT_PAGE: u32 = 50;

type HmacSha256 = Hmac<Sha256>;

/// The MAC of one operator session's `purpose` (`session`, `csrf`) under the signing key.
fn mac(signing_key: &[u8], purpose: &str, session: &PanelSession) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut m = <HmacSha256 as Mac>::new_from_slice(signing_key).unwrap_or_else(|_| unreachable!());
    m.update(
        format!(
            "concierge-operator\0{purpose}\0{}\0{}\0{}",
            session.email, session.epoch, session.expires
        )
        .as_bytes(),
    );
    m.finalize().into_bytes().to_vec()
}

/// An operator account's panel session, as its cookie carries it. No `Debug`: it names the
/// operator, and its MACs are credentials.
struct PanelSession {
    /// The operator's email (normalized).
    email: String,
    /// The account's session epoch when the session was made.
    epoch: u64,
    /// When it stops working (seconds).
    expires: i64,
}

impl PanelSession {
    /// The cookie's value.
    fn cookie(&self, signing_key: &[u8]) -> String {
        let email = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.email);
        let tag = hex::encode(mac(signing_key, "session", self));
        format!("{}.{}.{email}.{tag}", self.expires, self.epoch)
    }

    /// The session's CSRF token (43 base64url characters, like every CSRF token here).
    fn csrf(&self, signing_key: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac(signing_key, "csrf", self))
    }

    /// The session a request's cookie carries, when its MAC verifies and it has not expired
    /// (the account's epoch is the caller's to check).
    fn from_request(req: &Request, signing_key: &[u8], now: Timestamp) -> Option<Self> {
        let value = cookies::get(req, COOKIE)?;
        let mut parts = value.splitn(4, '.');
        let expires: i64 = parts.next()?.parse().ok()?;
        let epoch: u64 = parts.next()?.parse().ok()?;
        let email = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts.next()?)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())?;
        parts.next()?;
        let session = PanelSession {
            email,
            epoch,
            expires,
        };
        (secret_eq(value, &session.cookie(signing_key)) && now.as_secs() < expires)
            .then_some(session)
    }
}

/// The CSRF token of an operator admitted by Cloudflare Access: a MAC of their email under
/// the deployment's signing key (stable for the operator, unguessable for another site).
fn access_csrf(signing_key: &[u8], email: &str) -> String {
    let mut m = <HmacSha256 as Mac>::new_from_slice(signing_key).unwrap_or_else(|_| unreachable!());
    m.update(format!("concierge-operator-access\0{email}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
}

/// Who is in the panel: the actor their actions are audited as, the CSRF token their forms
/// carry, and their account session (none behind Cloudflare Access). No `Debug`: it holds the
/// CSRF token.
pub(super) struct Admitted {
    /// `operator:{email}`.
    pub(super) actor: String,
    /// The CSRF token of this operator's forms.
    pub(super) csrf: String,
    session: Option<PanelSession>,
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
    email: &'a str,
    error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "web/manage/tenants.html")]
struct TenantsPage {
    t: Tr,
    csrf: String,
    nav: &'static str,
    tenants: Vec<TenantRow>,
    notice: String,
}

/// One currency's card on the pricing page.
#[derive(Debug)]
struct PriceRow {
    currency: String,
    /// The effective price in credits, as the form takes it (`0.25`).
    price: String,
    /// The effective price in the locale's money format.
    formatted: String,
    default: Option<String>,
    updated: Option<When>,
}

#[derive(Template)]
#[template(path = "web/manage/pricing.html")]
struct PricingPage {
    t: Tr,
    csrf: String,
    nav: &'static str,
    rows: Vec<PriceRow>,
    notice: String,
    errors: Errors,
    /// The currency of the form that failed (a row's code, or what was typed in the new one).
    failed: String,
    /// Whether the failed form is the "another currency" one.
    new_failed: bool,
    typed_currency: String,
    typed_price: String,
}

/// One audit entry as the page shows it (escaped by the template).
#[derive(Debug)]
struct AuditRow {
    seq: u64,
    when: When,
    actor: String,
    action: &'static str,
    tenant: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "web/manage/audit.html")]
struct AuditPage {
    t: Tr,
    csrf: String,
    nav: &'static str,
    rows: Vec<AuditRow>,
    tenant: String,
    /// The next page's link, when this one is full.
    older: Option<String>,
    /// Whether this is a later page (then `newest` links back to the first).
    paged: bool,
    newest: String,
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
        let signing_key = &self.engine.config().signing_key;
        let who = if let Some(gate) = &self.config.access {
            // Behind Cloudflare Access: every request carries the team's signed token; there
            // is no login of our own.
            match gate.operator(self.host, req, now).await? {
                Ok(email) => {
                    if let ["login" | "logout" | "logout-everywhere"] = rest {
                        return Ok(redirect("/manage"));
                    }
                    tracing::debug!("operator admitted by Cloudflare Access");
                    Admitted {
                        actor: actor::operator(&email),
                        csrf: access_csrf(signing_key, &email),
                        session: None,
                    }
                }
                Err(why) => {
                    tracing::info!(reason = %why, "operator panel refused: Cloudflare Access");
                    return Err(ApiError::Forbidden(
                        "the operator panel needs a valid Cloudflare Access sign-in",
                    ));
                }
            }
        } else {
            if let ["login"] = rest {
                return match *method {
                    Method::GET | Method::HEAD => self.operator_login_form(req, "", None, 200),
                    Method::POST => self.operator_login(req).await,
                    _ => Err(ApiError::MethodNotAllowed("GET, POST")),
                };
            }
            let session = match PanelSession::from_request(req, signing_key, now) {
                Some(session) => {
                    let account = self.engine.store().operator(&session.email).await?;
                    account
                        .filter(|a| a.session_epoch == session.epoch)
                        .map(|_| session)
                }
                None => None,
            };
            let Some(session) = session else {
                return Ok(if matches!(*method, Method::GET | Method::HEAD) {
                    redirect("/manage/login")
                } else {
                    ApiError::SignInRequired.into_response()
                });
            };
            Admitted {
                actor: actor::operator(&session.email),
                csrf: session.csrf(signing_key),
                session: Some(session),
            }
        };
        if is_unsafe(method) {
            csrf::same_origin(req, &self.engine.config().public_base_url)?;
            let form = Form::parse(req);
            csrf::check(req, form.raw(csrf::FIELD), &who.csrf)?;
        }
        let t = Tr(visitor_locale(req));
        let mut response = self.operator_route(req, rest, t, &who).await?;
        // Access has no login of ours to set the double-submit cookie: every page does.
        if self.config.access.is_some()
            && cookies::get(req, cookies::CSRF).is_none_or(|c| !csrf::token_eq(c, &who.csrf))
        {
            cookies::set_csrf(&mut response, &who.csrf);
        }
        Ok(response)
    }

    /// The panel's pages and actions, for an admitted operator.
    async fn operator_route(
        &self,
        req: &Request,
        rest: &[&str],
        t: Tr,
        who: &Admitted,
    ) -> Result<Response, ApiError> {
        let method = req.method();
        let csrf_token = who.csrf.as_str();
        match rest {
            [] | [""] => match *method {
                Method::GET => self.operator_tenants(t, csrf_token.to_owned(), req).await,
                _ => Err(ApiError::MethodNotAllowed("GET")),
            },
            ["logout"] => match *method {
                Method::POST => {
                    self.record(&who.actor, AuditAction::OperatorLogout, None, "")
                        .await?;
                    let mut response = redirect("/manage/login");
                    clear(&mut response);
                    Ok(response)
                }
                _ => Err(ApiError::MethodNotAllowed("POST")),
            },
            ["logout-everywhere"] => match (method, &who.session) {
                (&Method::POST, Some(session)) => {
                    // Every cookie of this account names the old epoch: none verifies now.
                    self.engine
                        .store()
                        .bump_operator_epoch(&session.email)
                        .await?;
                    self.record(&who.actor, AuditAction::OperatorLogoutEverywhere, None, "")
                        .await?;
                    let mut response = redirect("/manage/login");
                    clear(&mut response);
                    Ok(response)
                }
                // Behind Access (no session of ours) `manage` answered this path already.
                _ => Err(ApiError::MethodNotAllowed("POST")),
            },
            ["tenants", tenant, "persona"] => match *method {
                Method::POST => self.operator_review(req, tenant, &who.actor).await,
                _ => Err(ApiError::MethodNotAllowed("POST")),
            },
            ["tenants", tenant, "credits"] => match *method {
                Method::POST => self.operator_grant(req, tenant, &who.actor).await,
                _ => Err(ApiError::MethodNotAllowed("POST")),
            },
            ["pricing"] => match *method {
                Method::GET => {
                    self.operator_pricing(t, csrf_token, req, PriceForm::default())
                        .await
                }
                Method::POST => self.operator_set_price(t, who, req).await,
                _ => Err(ApiError::MethodNotAllowed("GET, POST")),
            },
            ["personas", rest @ ..] => self.operator_catalog(req, rest, t, who).await,
            ["audit"] => match *method {
                Method::GET => self.operator_audit(t, csrf_token, req).await,
                _ => Err(ApiError::MethodNotAllowed("GET")),
            },
            _ => Err(ApiError::NotFound("page".into())),
        }
    }

    fn operator_login_form(
        &self,
        req: &Request,
        email: &str,
        error: Option<&'static str>,
        status: u16,
    ) -> Result<Response, ApiError> {
        let (token, fresh) = presession_token(self, req)?;
        let mut response = page(
            status,
            &LoginPage {
                t: Tr(visitor_locale(req)),
                csrf: &token,
                email,
                error,
            },
        )?;
        if fresh {
            cookies::set_csrf(&mut response, &token);
        }
        Ok(response)
    }

    /// `POST /manage/login`: an operator account's email and password.
    async fn operator_login(&self, req: &Request) -> Result<Response, ApiError> {
        let fields = super::auth::form(req);
        check_presession(self, req, &fields)?;
        let now = self.engine.clock().now();
        let email = accounts::normalize_email(fields.get("email").map_or("", String::as_str));
        let password = fields.get("password").map_or("", String::as_str);
        let ip = req
            .extensions()
            .get::<ClientIp>()
            .map_or("unknown", |c| c.0.as_str());
        let email_key = limit_key("operator-email", &email);
        let ip_key = limit_key("operator-ip", ip);
        let store = self.engine.store();
        let limits = [
            (email_key.as_str(), EMAIL_LIMIT),
            (ip_key.as_str(), OPERATOR_IP_LIMIT),
        ];
        if let Some(secs) = login_limited(self, &limits).await? {
            let response =
                self.operator_login_form(req, &email, Some("manage-login-rate-limited"), 429)?;
            return Ok(with_retry_after(response, secs));
        }
        let account = if accounts::check_email(&email).is_ok() {
            store.operator(&email).await?
        } else {
            None
        };
        let hash = account.as_ref().map(|a| a.password_hash.as_str());
        let valid = accounts::verify_or_dummy(password, hash);
        let Some(account) = account.filter(|_| valid) else {
            record_login_failures(self, &[&email_key, &ip_key]).await?;
            tracing::info!("operator login refused");
            return self.operator_login_form(req, &email, Some("manage-login-error"), 401);
        };
        store.clear_login_failures(&email_key).await?;
        // Recorded before the cookie is set: an unrecorded sign-in signs no one in.
        self.record(
            &actor::operator(&account.email),
            AuditAction::OperatorLogin,
            None,
            "",
        )
        .await?;
        let session = PanelSession {
            email: account.email,
            epoch: account.session_epoch,
            expires: (now + OPERATOR_SESSION).as_secs(),
        };
        let signing_key = &self.engine.config().signing_key;
        let mut response = redirect("/manage");
        set(
            &mut response,
            &session.cookie(signing_key),
            OPERATOR_SESSION,
        );
        cookies::set_csrf(&mut response, &session.csrf(signing_key));
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
                nav: "tenants",
                tenants,
                notice,
            },
        )
    }

    async fn operator_review(
        &self,
        req: &Request,
        raw: &str,
        who: &str,
    ) -> Result<Response, ApiError> {
        let id = TenantId::parse(raw).map_err(|_| ApiError::NotFound(format!("tenant {raw}")))?;
        let form = Form::parse(req);
        let (done, action) = match form.text("action").as_str() {
            "approve" => {
                self.engine.approve_persona_as_operator(&id).await?;
                ("approved", AuditAction::PersonaApprove)
            }
            "reject" => {
                self.engine.reject_persona_as_operator(&id).await?;
                ("rejected", AuditAction::PersonaReject)
            }
            _ => return Err(ApiError::field("action", "must be approve or reject")),
        };
        self.host.tenant_changed().await;
        self.record(who, action, Some(&id), "").await?;
        Ok(redirect_to(format!("/manage?done={done}")))
    }

    async fn operator_grant(
        &self,
        req: &Request,
        raw: &str,
        who: &str,
    ) -> Result<Response, ApiError> {
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
        let outcome = self
            .engine
            .grant_credits(&id, &grant_id, amount, expires, &reason)
            .await?;
        if outcome == crate::billing::GrantOutcome::Granted {
            let detail = super::super::admin::grant_detail(&grant_id, amount, expires);
            self.record(who, AuditAction::CreditsGrant, Some(&id), &detail)
                .await?;
        }
        Ok(redirect_to("/manage?done=granted".to_owned()))
    }

    /// `GET /manage/pricing` (and the 422 re-render of a refused `POST`).
    async fn operator_pricing(
        &self,
        t: Tr,
        csrf: &str,
        req: &Request,
        form: PriceForm,
    ) -> Result<Response, ApiError> {
        let money = |currency: &Currency, price: Milli| {
            crate::i18n::format_money(t.0, currency.as_str(), price.as_milli())
        };
        let rows = self
            .engine
            .price_list()
            .await?
            .into_iter()
            .map(|p| PriceRow {
                currency: p.currency.to_string(),
                price: p.per_ai_reply.to_string(),
                formatted: money(&p.currency, p.per_ai_reply),
                default: p.default.map(|d| money(&p.currency, d)),
                updated: p.updated_at.map(When::of),
            })
            .collect::<Vec<_>>();
        let query = Form::from_bytes(req.uri().query().unwrap_or("").as_bytes());
        let notice = if form.errors.is_empty() && query.text("done") == "priced" {
            t.get("manage-done-priced")
        } else {
            String::new()
        };
        let status = if form.errors.is_empty() { 200 } else { 422 };
        let new_failed =
            !form.errors.is_empty() && !rows.iter().any(|r| r.currency == form.currency);
        page(
            status,
            &PricingPage {
                t,
                csrf: csrf.to_owned(),
                nav: "pricing",
                rows,
                notice,
                errors: Errors::new(form.errors),
                failed: if new_failed {
                    String::new()
                } else {
                    form.currency.clone()
                },
                new_failed,
                typed_currency: form.currency,
                typed_price: form.price,
            },
        )
    }

    /// `POST /manage/pricing`: `currency` and `price` (credits per AI reply). A bad code or
    /// price re-renders the page with field errors (422) and saves nothing.
    async fn operator_set_price(
        &self,
        t: Tr,
        who: &Admitted,
        req: &Request,
    ) -> Result<Response, ApiError> {
        let csrf = who.csrf.as_str();
        let form = Form::parse(req);
        let mut typed = PriceForm {
            currency: form.text("currency").trim().to_ascii_uppercase(),
            price: form.text("price").trim().to_owned(),
            errors: Vec::new(),
        };
        let currency = Currency::parse(&typed.currency).ok();
        if currency.is_none() {
            typed
                .errors
                .push(FieldError::new("currency", t.get("manage-error-currency")));
        }
        let price = Milli::parse(&typed.price).ok().filter(|p| *p > Milli::ZERO);
        match price {
            None => typed
                .errors
                .push(FieldError::new("price", t.get("manage-error-price"))),
            Some(p) if p > MAX_AI_REPLY_PRICE => typed
                .errors
                .push(FieldError::new("price", t.get("manage-error-price-high"))),
            Some(_) => {}
        }
        let (Some(currency), Some(price), true) = (currency, price, typed.errors.is_empty()) else {
            return self.operator_pricing(t, csrf, req, typed).await;
        };
        match self.set_price(&who.actor, &currency, price).await {
            Ok(_) => Ok(redirect_to("/manage/pricing?done=priced".to_owned())),
            Err(ApiError::Invalid(errors)) => {
                typed.errors = errors;
                self.operator_pricing(t, csrf, req, typed).await
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /manage/audit?tenant=&before=`: the audit log, newest first, a page at a time.
    async fn operator_audit(&self, t: Tr, csrf: &str, req: &Request) -> Result<Response, ApiError> {
        let query = Form::from_bytes(req.uri().query().unwrap_or("").as_bytes());
        let raw_tenant = query.text("tenant").trim().to_owned();
        let tenant = match raw_tenant.as_str() {
            "" => None,
            raw => {
                Some(TenantId::parse(raw).map_err(|e| ApiError::field("tenant", e.to_string()))?)
            }
        };
        let before = match query.optional("before") {
            None => None,
            Some(raw) => Some(
                raw.parse::<u64>()
                    .map_err(|_| ApiError::field("before", "must be a whole number"))?,
            ),
        };
        let records = self
            .engine
            .store()
            .list_audit(&AuditQuery {
                tenant: tenant.clone(),
                limit: AUDIT_PAGE,
                before,
            })
            .await?;
        let filter = tenant
            .as_ref()
            .map(|t| format!("tenant={t}&"))
            .unwrap_or_default();
        let full = records.len() == usize::try_from(AUDIT_PAGE).unwrap_or(usize::MAX);
        let older = records
            .last()
            .filter(|_| full)
            .map(|r| format!("/manage/audit?{filter}before={}", r.seq));
        let rows = records
            .into_iter()
            .map(|r| AuditRow {
                seq: r.seq,
                when: When::of(r.entry.at),
                actor: r.entry.actor,
                action: r.entry.action.as_str(),
                tenant: r.entry.tenant.map(|t| t.to_string()).unwrap_or_default(),
                detail: r.entry.detail,
            })
            .collect();
        let newest = format!("/manage/audit?{}", filter.trim_end_matches('&'));
        page(
            200,
            &AuditPage {
                t,
                csrf: csrf.to_owned(),
                nav: "audit",
                rows,
                tenant: tenant.map(|t| t.to_string()).unwrap_or_default(),
                older,
                paged: before.is_some(),
                newest: newest.trim_end_matches('?').to_owned(),
            },
        )
    }
}

/// What the pricing form was sent with, and what is wrong with it (empty on a plain GET).
#[derive(Debug, Default)]
struct PriceForm {
    currency: String,
    price: String,
    errors: Vec<FieldError>,
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
