//! Dashboard accounts, login, sessions and CSRF, sans-IO: the front over the in-memory host.
//! Assertions are on statuses, fields, cookies and element ids, never on copy (the strings
//! are translated).

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::BTreeMap;

use bytes::Bytes;
use concierge_core::front::{ClientIp, DemoLimiter, Front, FrontConfig, OAuthClient, OAuthConfig};
use concierge_core::ports::{OwnerStore, TenantStore};
use concierge_core::testing::{FakeUpstream, Harness, MemoryHost, EXAMPLE_TENANT};
use concierge_core::time::Span;
use futures::executor::block_on;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const ADMIN: &str = "test-admin-token-0123";
const TENANT: &str = "sunrise-bakery";
const EMAIL: &str = "asha@sunrise.example";
const PASSWORD: &str = "correct horse battery";
const SESSION: &str = "__Host-concierge_session";
const CSRF: &str = "__Host-concierge_csrf";

struct App {
    h: Harness,
    host: MemoryHost,
    config: FrontConfig,
    demo: DemoLimiter,
}

struct Served {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

impl Served {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn location(&self) -> &str {
        self.header("location").unwrap_or("")
    }
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
    fn has_id(&self, id: &str) -> bool {
        self.body.contains(&format!("id=\"{id}\""))
    }
    /// The `value` of the hidden input `name` in the page.
    fn hidden(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(self.body[start..end].to_owned())
    }
}

impl App {
    fn new() -> App {
        App::with(false)
    }

    fn with(open_signup: bool) -> App {
        let h = Harness::new(EXAMPLE_TENANT);
        let host = MemoryHost::new(h.engine.clone());
        App {
            h,
            host,
            config: FrontConfig {
                admin_token: Some(ADMIN.into()),
                open_signup,
                ..FrontConfig::default()
            },
            demo: DemoLimiter::new(10),
        }
    }

    /// Google and Facebook configured, their endpoints played by `upstream`.
    fn with_providers(open_signup: bool, upstream: FakeUpstream) -> App {
        let mut app = App::with(open_signup);
        app.host = MemoryHost::new(app.h.engine.clone()).with_upstream(upstream);
        app.config.oauth = OAuthConfig {
            google: Some(OAuthClient {
                client_id: GOOGLE_ID.into(),
                client_secret: GOOGLE_SECRET.into(),
                authorize_url: "https://accounts.test/o/oauth2/v2/auth".into(),
                token_url: "https://oauth2.test/token".into(),
                userinfo_url: "https://openidconnect.test/v1/userinfo".into(),
            }),
            facebook: Some(OAuthClient::facebook(
                FACEBOOK_ID.into(),
                FACEBOOK_SECRET.into(),
                "https://graph.test/v21.0",
            )),
        };
        app
    }

    fn serve(&self, request: http::Request<Bytes>) -> Served {
        let response = block_on(
            Front::new(&self.h.engine, &self.host, &self.config, &self.demo).handle(request),
        );
        let (parts, body) = response.into_parts();
        Served {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    fn admin_owner(&self, tenant: &str, body: Value) -> Served {
        self.serve(
            http::Request::builder()
                .method("PUT")
                .uri(format!("/api/v1/tenants/{tenant}/owners"))
                .header("authorization", format!("Bearer {ADMIN}"))
                .body(Bytes::from(body.to_string()))
                .unwrap(),
        )
    }

    fn with_owner() -> App {
        let app = App::new();
        let r = app.admin_owner(TENANT, json!({ "email": EMAIL, "password": PASSWORD }));
        assert_eq!(r.status, 201, "{}", r.body);
        app
    }

    fn epoch(&self) -> u64 {
        block_on(self.h.store.owner_by_email(EMAIL))
            .unwrap()
            .unwrap()
            .session_epoch
    }
}

/// A browser: a cookie jar, and the requests a page makes.
#[derive(Default, Clone)]
struct Browser {
    cookies: BTreeMap<String, String>,
    ip: Option<&'static str>,
}

impl Browser {
    fn from(ip: &'static str) -> Browser {
        Browser {
            ip: Some(ip),
            ..Browser::default()
        }
    }

    fn request(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> http::Request<Bytes> {
        let mut b = http::Request::builder().method(method).uri(uri);
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            b = b.header("cookie", jar.join("; "));
        }
        if method == "POST" {
            b = b.header("content-type", "application/x-www-form-urlencoded");
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let mut req = b.body(Bytes::from(body.to_owned())).unwrap();
        if let Some(ip) = self.ip {
            req.extensions_mut().insert(ClientIp(ip.to_owned()));
        }
        req
    }

    fn send(&mut self, app: &App, req: http::Request<Bytes>) -> Served {
        let served = app.serve(req);
        for cookie in served.set_cookies() {
            let pair = cookie.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if cookie.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        served
    }

    fn get(&mut self, app: &App, uri: &str) -> Served {
        let req = self.request("GET", uri, &[], "");
        self.send(app, req)
    }

    fn post(&mut self, app: &App, uri: &str, form: &[(&str, &str)]) -> Served {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = self.request("POST", uri, &[], &body);
        self.send(app, req)
    }

    fn csrf(&self) -> String {
        self.cookies.get(CSRF).cloned().unwrap_or_default()
    }

    /// Opens the login page and signs in.
    fn login(&mut self, app: &App, email: &str, password: &str) -> Served {
        let form = self.get(app, "/dashboard/login");
        assert_eq!(form.status, 200);
        let csrf = form.hidden("csrf").unwrap();
        self.post(
            app,
            "/dashboard/login",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
    }

    fn signed_in(&mut self, app: &App) -> bool {
        let page = self.get(app, "/dashboard");
        match page.status {
            200 => true,
            303 => false,
            other => panic!("GET /dashboard → {other}"),
        }
    }
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[test]
fn the_admin_api_creates_owners_and_refuses_bad_input_saving_nothing() {
    let app = App::new();
    let bad = app.admin_owner(
        TENANT,
        json!({ "email": "not-an-email", "password": "short" }),
    );
    assert_eq!(bad.status, 422);
    let body = bad.json();
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password"]);
    let missing = app.admin_owner(TENANT, json!({}));
    assert_eq!(missing.status, 422, "missing fields are field errors");
    assert!(!missing.body.contains("short"), "no password echoed");
    assert_eq!(
        block_on(app.h.store.owner_by_email("not-an-email")).unwrap(),
        None
    );

    assert_eq!(
        app.admin_owner("nobody", json!({ "email": EMAIL, "password": PASSWORD }))
            .status,
        404
    );
    let anonymous = app.serve(
        http::Request::builder()
            .method("PUT")
            .uri(format!("/api/v1/tenants/{TENANT}/owners"))
            .body(Bytes::from(
                json!({ "email": EMAIL, "password": PASSWORD }).to_string(),
            ))
            .unwrap(),
    );
    assert_eq!(anonymous.status, 401);
    assert_eq!(block_on(app.h.store.owner_by_email(EMAIL)).unwrap(), None);

    let created = app.admin_owner(
        TENANT,
        json!({ "email": "  Asha@Sunrise.Example ", "password": PASSWORD }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["owner"]["email"], EMAIL, "normalized");
    assert_eq!(created.json()["created"], true);
    let owner = block_on(app.h.store.owner_by_email(EMAIL))
        .unwrap()
        .unwrap();
    assert!(owner.password_hash.starts_with("$argon2id$"));
    assert!(!owner.password_hash.contains(PASSWORD));

    let again = app.admin_owner(
        TENANT,
        json!({ "email": EMAIL, "password": "another long password" }),
    );
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["created"], false);
    assert_eq!(app.epoch(), 1, "a new password signs every session out");
    let wrong_method = app.serve(
        http::Request::builder()
            .method("GET")
            .uri(format!("/api/v1/tenants/{TENANT}/owners"))
            .header("authorization", format!("Bearer {ADMIN}"))
            .body(Bytes::new())
            .unwrap(),
    );
    assert_eq!(wrong_method.status, 405);
}

#[test]
fn login_makes_a_fresh_session_with_secure_cookies_and_stores_only_its_hash() {
    let app = App::with_owner();
    let mut b = Browser::default();
    let form = b.get(&app, "/dashboard/login");
    assert_eq!(form.status, 200);
    assert!(form.has_id("login-form") && form.has_id("email") && form.has_id("password"));
    let presession = b.csrf();
    assert_eq!(presession.len(), 43, "a pre-session CSRF cookie");
    assert_eq!(form.hidden("csrf").unwrap(), presession);
    assert!(form.set_cookies()[0].contains("Secure; SameSite=Lax; Path=/"));
    assert!(
        !form.set_cookies()[0].contains("HttpOnly"),
        "the page reads it"
    );
    assert!(app.host.web_sessions().is_empty(), "GET made no session");

    let ok = b.post(
        &app,
        "/dashboard/login",
        &[
            ("csrf", &presession),
            ("email", EMAIL),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(ok.status, 303);
    assert_eq!(ok.location(), "/dashboard");
    let cookies = ok.set_cookies();
    let session = cookies.iter().find(|c| c.starts_with(SESSION)).unwrap();
    assert!(
        session.ends_with("; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=604800"),
        "{session}"
    );
    let csrf = cookies.iter().find(|c| c.starts_with(CSRF)).unwrap();
    assert!(!csrf.contains("HttpOnly"));
    assert_ne!(b.csrf(), presession, "the session has its own CSRF token");

    let id = b.cookies[SESSION].clone();
    assert_eq!(id.len(), 43, "32 random bytes, base64url");
    let stored = app.host.web_sessions();
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        [&sha256_hex(&id)],
        "only the hash"
    );
    assert!(stored.values().all(|s| s.csrf == b.csrf()));

    let dashboard = b.get(&app, "/dashboard");
    assert_eq!(dashboard.status, 200);
    assert_eq!(
        dashboard.hidden("csrf").unwrap(),
        b.csrf(),
        "every form carries the token"
    );
    assert!(
        dashboard.body.contains("hx-headers="),
        "htmx sends it as a header"
    );

    // Signing in again makes a new session and ends the one the browser came with.
    let old = b.clone();
    let csrf = b.csrf();
    let again = b.post(
        &app,
        "/dashboard/login",
        &[("csrf", &csrf), ("email", EMAIL), ("password", PASSWORD)],
    );
    assert_eq!(again.status, 303);
    assert_ne!(
        b.cookies[SESSION], id,
        "no fixation: a new id at every login"
    );
    assert!(b.signed_in(&app));
    assert!(!old.clone().signed_in(&app), "the old session is gone");
    assert_eq!(app.host.web_sessions().len(), 1);
}

#[test]
fn a_planted_session_id_is_never_adopted() {
    let app = App::with_owner();
    let mut b = Browser::default();
    let planted = "A".repeat(43);
    b.cookies.insert(SESSION.to_owned(), planted.clone());
    assert_eq!(b.login(&app, EMAIL, PASSWORD).status, 303);
    assert_ne!(b.cookies[SESSION], planted);
    assert!(!app.host.web_sessions().contains_key(&sha256_hex(&planted)));
}

#[test]
fn a_wrong_password_and_an_unknown_email_get_the_same_vague_401() {
    let app = App::with_owner();
    let mut b = Browser::default();
    let wrong = b.login(&app, EMAIL, "not the password");
    let unknown = b.login(&app, "nobody@sunrise.example", "not the password");
    let malformed = b.login(&app, "nobody", "x");
    for r in [&wrong, &unknown, &malformed] {
        assert_eq!(r.status, 401);
        assert!(r.has_id("login-error") && r.has_id("login-form"));
        assert!(r.set_cookies().iter().all(|c| !c.starts_with(SESSION)));
    }
    assert_eq!(
        wrong.body.replace(EMAIL, ""),
        unknown.body.replace("nobody@sunrise.example", ""),
        "one message for both"
    );
    assert!(app.host.web_sessions().is_empty());
    let long = "x".repeat(300);
    assert_eq!(b.login(&app, EMAIL, &long).status, 401);
}

#[test]
fn csrf_missing_or_wrong_is_refused_with_403_and_changes_nothing() {
    let app = App::with_owner();
    // The login form's own double submit: no login CSRF.
    let mut b = Browser::default();
    b.get(&app, "/dashboard/login");
    let token = b.csrf();
    for form in [
        vec![("email", EMAIL), ("password", PASSWORD)],
        vec![
            ("csrf", "B".repeat(43).leak() as &str),
            ("email", EMAIL),
            ("password", PASSWORD),
        ],
    ] {
        let r = b.post(&app, "/dashboard/login", &form);
        assert_eq!(r.status, 403);
    }
    let mut cookieless = Browser::default();
    let r = cookieless.post(
        &app,
        "/dashboard/login",
        &[("csrf", &token), ("email", EMAIL), ("password", PASSWORD)],
    );
    assert_eq!(r.status, 403, "the form's token without the cookie");
    assert!(app.host.web_sessions().is_empty(), "no session was made");

    assert_eq!(b.login(&app, EMAIL, PASSWORD).status, 303);
    let csrf = b.csrf();
    for form in [vec![], vec![("csrf", token.as_str())]] {
        let r = b.post(&app, "/dashboard/logout", &form);
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(r.json()["error"], "missing or wrong CSRF token");
    }
    let r = b.post(&app, "/dashboard/logout-everywhere", &[]);
    assert_eq!(r.status, 403);
    assert_eq!(app.epoch(), 0, "nothing changed");
    assert!(b.signed_in(&app), "still signed in");

    // The header htmx sends must match too, and the cookie must be there.
    let wrong_header = b.request("POST", "/dashboard/logout", &[("x-csrf-token", &token)], "");
    assert_eq!(b.send(&app, wrong_header).status, 403);
    let mut no_cookie = b.clone();
    no_cookie.cookies.remove(CSRF);
    let body = format!("csrf={csrf}");
    let req = no_cookie.request("POST", "/dashboard/logout", &[], &body);
    assert_eq!(
        no_cookie.send(&app, req).status,
        403,
        "the double submit needs the cookie"
    );
    assert!(b.signed_in(&app));

    // Any unsafe method under /dashboard.
    for method in ["PUT", "DELETE", "PATCH"] {
        let req = b.request(method, "/dashboard", &[], "");
        assert_eq!(b.send(&app, req).status, 403, "{method}");
    }

    let ok = b.request("POST", "/dashboard/logout", &[("x-csrf-token", &csrf)], "");
    assert_eq!(b.send(&app, ok).status, 303);
    assert!(!b.signed_in(&app));
}

#[test]
fn cross_site_requests_are_refused_even_with_the_right_token() {
    let app = App::with_owner();
    let mut b = Browser::default();
    b.get(&app, "/dashboard/login");
    let token = b.csrf();
    let body = format!("csrf={token}&email={EMAIL}&password=correct+horse+battery");
    let evil = b.request(
        "POST",
        "/dashboard/login",
        &[("origin", "https://evil.example"), ("host", "shop.example")],
        &body,
    );
    assert_eq!(b.send(&app, evil).status, 403);
    let same = b.request(
        "POST",
        "/dashboard/login",
        &[
            ("origin", "https://shop.example"),
            ("host", "shop.example"),
            ("sec-fetch-site", "same-origin"),
        ],
        &body,
    );
    assert_eq!(b.send(&app, same).status, 303);

    let csrf = b.csrf();
    let form = format!("csrf={csrf}");
    let cross = b.request(
        "POST",
        "/dashboard/logout",
        &[("sec-fetch-site", "cross-site")],
        &form,
    );
    assert_eq!(b.send(&app, cross).status, 403);
    let null = b.request("POST", "/dashboard/logout", &[("origin", "null")], &form);
    assert_eq!(b.send(&app, null).status, 403);
    assert!(b.signed_in(&app));
}

#[test]
fn logout_ends_one_session_and_logout_everywhere_ends_them_all() {
    let app = App::with_owner();
    let mut phone = Browser::default();
    let mut laptop = Browser::default();
    let mut tablet = Browser::default();
    for b in [&mut phone, &mut laptop, &mut tablet] {
        assert_eq!(b.login(&app, EMAIL, PASSWORD).status, 303);
    }
    let csrf = phone.csrf();
    let out = phone.post(&app, "/dashboard/logout", &[("csrf", &csrf)]);
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), "/dashboard/login");
    assert!(out.set_cookies().iter().all(|c| c.contains("Max-Age=0")));
    assert!(!phone.signed_in(&app));
    assert!(laptop.signed_in(&app) && tablet.signed_in(&app));

    let stolen = tablet.clone();
    let csrf = laptop.csrf();
    let everywhere = laptop.post(&app, "/dashboard/logout-everywhere", &[("csrf", &csrf)]);
    assert_eq!(everywhere.status, 303);
    assert_eq!(app.epoch(), 1);
    assert!(!laptop.signed_in(&app));
    assert!(
        !tablet.signed_in(&app),
        "sessions from the old epoch stop working"
    );
    assert!(!stolen.clone().signed_in(&app));

    assert_eq!(tablet.login(&app, EMAIL, PASSWORD).status, 303);
    assert!(tablet.signed_in(&app), "a new login works");
    // Logging out without a session only clears cookies.
    let mut nobody = Browser::default();
    assert_eq!(nobody.post(&app, "/dashboard/logout", &[]).status, 303);
    assert_eq!(
        nobody
            .post(&app, "/dashboard/logout-everywhere", &[])
            .status,
        401
    );
}

#[test]
fn failed_logins_are_rate_limited_per_email_and_per_address() {
    let app = App::with_owner();
    let mut b = Browser::from("203.0.113.7");
    for _ in 0..5 {
        assert_eq!(b.login(&app, EMAIL, "wrong password!").status, 401);
    }
    let limited = b.login(&app, EMAIL, PASSWORD);
    assert_eq!(limited.status, 429, "even the right password waits");
    assert!(limited.has_id("login-error"));
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    // Another address is limited for this email too (the email's counter), not for others.
    let mut other = Browser::from("198.51.100.9");
    assert_eq!(other.login(&app, EMAIL, PASSWORD).status, 429);
    assert!(app.host.web_sessions().is_empty());

    app.h.clock.advance(Span::minutes(15));
    assert_eq!(
        b.login(&app, EMAIL, PASSWORD).status,
        303,
        "the window closed"
    );

    // One address guessing many emails.
    let mut spray = Browser::from("192.0.2.44");
    for i in 0..20 {
        let email = format!("guess{i}@sunrise.example");
        assert_eq!(spray.login(&app, &email, "wrong password!").status, 401);
    }
    assert_eq!(
        spray.login(&app, "guess99@sunrise.example", "x").status,
        429
    );
    assert_eq!(spray.login(&app, EMAIL, PASSWORD).status, 429);
    let mut elsewhere = Browser::from("198.51.100.10");
    assert_eq!(elsewhere.login(&app, EMAIL, PASSWORD).status, 303);
}

#[test]
fn no_redirect_leaves_the_site_and_signed_out_requests_go_to_login() {
    let app = App::with_owner();
    let mut b = Browser::default();
    let page = b.get(&app, "/dashboard/rules?channel=whatsapp");
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location(),
        "/dashboard/login?next=%2Fdashboard%2Frules%3Fchannel%3Dwhatsapp"
    );
    let htmx = b.request("GET", "/dashboard/rules", &[("hx-request", "true")], "");
    let htmx = b.send(&app, htmx);
    assert_eq!(htmx.status, 401);
    assert_eq!(
        htmx.header("hx-redirect"),
        Some("/dashboard/login?next=%2Fdashboard%2Frules")
    );
    let post = b.request("POST", "/dashboard/persona", &[], "");
    let post = b.send(&app, post);
    assert_eq!(
        (post.status, post.json()["error"].as_str()),
        (401, Some("sign in required"))
    );

    for (next, expected) in [
        ("/dashboard/persona", "/dashboard/persona"),
        ("//evil.example", "/dashboard"),
        ("https://evil.example/x", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
    ] {
        let mut b = Browser::default();
        let form = b.get(&app, &format!("/dashboard/login?next={}", urlencode(next)));
        assert_eq!(form.status, 200);
        let hidden = form.hidden("next").unwrap();
        let csrf = b.csrf();
        let r = b.post(
            &app,
            "/dashboard/login",
            &[
                ("csrf", &csrf),
                ("email", EMAIL),
                ("password", PASSWORD),
                ("next", next),
            ],
        );
        assert_eq!(r.status, 303);
        assert_eq!(r.location(), expected, "{next}");
        assert!(hidden == expected || hidden.contains("&#"), "{hidden}");
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn get_requests_change_nothing() {
    let app = App::with_owner();
    let mut b = Browser::default();
    assert_eq!(b.login(&app, EMAIL, PASSWORD).status, 303);
    let before = app.host.web_sessions();
    let cookies = b.cookies.clone();
    for uri in ["/dashboard/logout", "/dashboard/logout-everywhere"] {
        let r = b.get(&app, uri);
        assert_eq!(r.status, 405, "{uri}");
        assert_eq!(r.header("allow"), Some("POST"));
    }
    let again = b.get(&app, "/dashboard/login");
    assert_eq!(
        (again.status, again.location()),
        (303, "/dashboard"),
        "already signed in"
    );
    assert!(again.set_cookies().is_empty());
    b.get(&app, "/dashboard/signup");
    b.get(&app, "/dashboard");
    assert_eq!(app.host.web_sessions(), before);
    assert_eq!(b.cookies, cookies);
    assert_eq!(app.epoch(), 0);
}

#[test]
fn signup_is_closed_unless_the_deployment_opens_it() {
    let closed = App::new();
    let mut b = Browser::default();
    let page = b.get(&closed, "/dashboard/signup");
    assert_eq!(page.status, 403);
    assert!(page.has_id("signup-closed"));
    let post = b.post(&closed, "/dashboard/signup", &[("email", EMAIL)]);
    assert_eq!(post.status, 403);
    let login = b.get(&closed, "/dashboard/login");
    assert!(!login.has_id("signup-link"));
    assert_eq!(
        block_on(closed.h.store.list_tenants()).unwrap().len(),
        1,
        "nothing created"
    );
}

#[test]
fn an_open_signup_makes_a_business_and_its_owner_and_signs_in() {
    let app = App::with(true);
    let mut b = Browser::from("203.0.113.50");
    let form = b.get(&app, "/dashboard/signup");
    assert_eq!(form.status, 200);
    assert!(form.has_id("signup-form") && form.has_id("business"));
    let csrf = b.csrf();
    let bad = b.post(
        &app,
        "/dashboard/signup",
        &[
            ("csrf", &csrf),
            ("email", "nope"),
            ("password", "short"),
            ("business", ""),
        ],
    );
    assert_eq!(bad.status, 422);
    for id in [
        "signup-error-email",
        "signup-error-password",
        "signup-error-business",
    ] {
        assert!(bad.has_id(id), "{id}");
    }
    assert!(!bad.body.contains("short"), "the password is not echoed");
    let no_csrf = b.post(
        &app,
        "/dashboard/signup",
        &[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("business", "Sunrise Bakery"),
        ],
    );
    assert_eq!(no_csrf.status, 403);
    assert_eq!(block_on(app.h.store.list_tenants()).unwrap().len(), 1);

    let ok = b.post(
        &app,
        "/dashboard/signup",
        &[
            ("csrf", &csrf),
            ("email", EMAIL),
            ("password", PASSWORD),
            ("business", "Sunrise Bakery"),
        ],
    );
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(
        ok.location(),
        "/dashboard/welcome",
        "a new owner starts the wizard"
    );
    let owner = block_on(app.h.store.owner_by_email(EMAIL))
        .unwrap()
        .unwrap();
    assert_eq!(
        owner.tenant.as_str(),
        "sunrise-bakery-2",
        "a free slug of the name"
    );
    let tenant = block_on(app.h.store.get_tenant(&owner.tenant))
        .unwrap()
        .unwrap();
    assert_eq!(tenant.name, "Sunrise Bakery");
    assert_eq!(
        tenant.onboarding,
        Some(concierge_core::tenant::OnboardingStep::Business)
    );
    assert!(b.get(&app, "/dashboard/welcome").has_id("welcome-business"));
    assert!(b.signed_in(&app));

    let mut other = Browser::from("203.0.113.51");
    other.get(&app, "/dashboard/signup");
    let csrf = other.csrf();
    let taken = other.post(
        &app,
        "/dashboard/signup",
        &[
            ("csrf", &csrf),
            ("email", EMAIL),
            ("password", PASSWORD),
            ("business", "Another"),
        ],
    );
    assert_eq!(taken.status, 422);
    assert!(taken.has_id("signup-error-email"));
    assert_eq!(block_on(app.h.store.list_tenants()).unwrap().len(), 2);
}

#[test]
fn pages_speak_the_visitors_language_then_the_tenants() {
    let app = App::with_owner();
    let mut b = Browser::from("203.0.113.77");
    let hindi = b.send(
        &app,
        b.request(
            "GET",
            "/dashboard/login",
            &[("accept-language", "hi-IN,hi;q=0.9,en;q=0.5")],
            "",
        ),
    );
    assert!(
        hindi.body.contains(r#"<html lang="hi-IN">"#),
        "{}",
        hindi.body
    );
    let us = b.send(
        &app,
        b.request("GET", "/dashboard/login", &[("cf-ipcountry", "US")], ""),
    );
    assert!(us.body.contains(r#"<html lang="en-US">"#));
    // Signed in, the tenant's own locale (en-IN here) comes first.
    b.login(&app, EMAIL, PASSWORD);
    let page = b.send(
        &app,
        b.request("GET", "/dashboard", &[("accept-language", "hi-IN")], ""),
    );
    assert!(
        page.body.contains(r#"<html lang="en-IN">"#),
        "{}",
        page.body
    );
}

// ---- Google and Facebook sign-in, against fakes of their endpoints ----

const GOOGLE_ID: &str = "1234-abc.apps.googleusercontent.com";
const GOOGLE_SECRET: &str = "GOCSPX-google-secret";
const FACEBOOK_ID: &str = "987654321";
const FACEBOOK_SECRET: &str = "facebook-app-secret";
const OAUTH: &str = "__Host-concierge_oauth";
const CALLBACK_GOOGLE: &str = "http://127.0.0.1:8080/auth/callback";
const CALLBACK_FACEBOOK: &str = "http://127.0.0.1:8080/auth/facebook/callback";

/// What the fake providers know: the one code they issued and the profile behind it.
#[derive(Clone)]
struct Profile {
    email: &'static str,
    verified: bool,
}

fn json_response(status: u16, body: Value) -> http::Response<Bytes> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(Bytes::from(body.to_string()))
        .unwrap()
}

fn params(text: &str) -> BTreeMap<String, String> {
    form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Google's token and userinfo endpoints and Facebook's Graph `oauth/access_token` and `/me`,
/// in their wire formats: the code `good-code` is valid once per provider for `profile`.
fn providers(profile: Profile) -> FakeUpstream {
    std::sync::Arc::new(move |req: &http::Request<Bytes>| {
        let uri = req.uri();
        let query = params(uri.query().unwrap_or(""));
        let bearer = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match (req.method().as_str(), uri.host(), uri.path()) {
            ("POST", Some("oauth2.test"), "/token") => {
                let form = params(std::str::from_utf8(req.body()).unwrap());
                let expected = [
                    ("grant_type", "authorization_code"),
                    ("code", "good-code"),
                    ("client_id", GOOGLE_ID),
                    ("client_secret", GOOGLE_SECRET),
                    ("redirect_uri", CALLBACK_GOOGLE),
                ];
                if expected
                    .iter()
                    .all(|(k, v)| form.get(*k).map(String::as_str) == Some(*v))
                {
                    json_response(
                        200,
                        json!({
                            "access_token": "ya29.a0-google-token",
                            "expires_in": 3599,
                            "scope": "openid https://www.googleapis.com/auth/userinfo.email",
                            "token_type": "Bearer",
                            "id_token": "eyJhbGciOiJSUzI1NiJ9.e30.sig"
                        }),
                    )
                } else {
                    json_response(
                        400,
                        json!({ "error": "invalid_grant", "error_description": "Bad Request" }),
                    )
                }
            }
            ("GET", Some("openidconnect.test"), "/v1/userinfo") => {
                if bearer == "Bearer ya29.a0-google-token" {
                    json_response(
                        200,
                        json!({
                            "sub": "110169484474386276334",
                            "email": profile.email,
                            "email_verified": profile.verified,
                            "picture": "https://lh3.googleusercontent.com/a/x"
                        }),
                    )
                } else {
                    json_response(401, json!({ "error": "invalid_token" }))
                }
            }
            ("GET", Some("graph.test"), "/v21.0/oauth/access_token") => {
                let ok = query.get("code").map(String::as_str) == Some("good-code")
                    && query.get("client_id").map(String::as_str) == Some(FACEBOOK_ID)
                    && query.get("client_secret").map(String::as_str) == Some(FACEBOOK_SECRET)
                    && query.get("redirect_uri").map(String::as_str) == Some(CALLBACK_FACEBOOK);
                if ok {
                    json_response(
                        200,
                        json!({
                            "access_token": "EAAB-facebook-token",
                            "token_type": "bearer",
                            "expires_in": 5_183_944
                        }),
                    )
                } else {
                    json_response(
                        400,
                        json!({ "error": {
                            "message": "Invalid verification code format.",
                            "type": "OAuthException", "code": 100,
                            "fbtrace_id": "AbCdEf"
                        }}),
                    )
                }
            }
            ("GET", Some("graph.test"), "/v21.0/me") => {
                use hmac::Mac;
                let mut mac =
                    hmac::Hmac::<Sha256>::new_from_slice(FACEBOOK_SECRET.as_bytes()).unwrap();
                mac.update(b"EAAB-facebook-token");
                let proof = hex::encode(mac.finalize().into_bytes());
                if bearer == "Bearer EAAB-facebook-token"
                    && query.get("appsecret_proof") == Some(&proof)
                {
                    let mut me = json!({ "id": "10160000000000001" });
                    if profile.verified {
                        me["email"] = json!(profile.email);
                    }
                    json_response(200, me)
                } else {
                    json_response(
                        400,
                        json!({ "error": { "message": "Invalid appsecret_proof", "type": "GraphMethodException", "code": 100 }}),
                    )
                }
            }
            _ => json_response(404, json!({ "error": "no such endpoint" })),
        }
    })
}

impl Browser {
    /// Starts a sign-in with `provider` and returns the `state` the provider would echo.
    fn start_oauth(&mut self, app: &App, provider: &str, next: &str) -> String {
        let r = self.get(app, &format!("/auth/{provider}?next={}", urlencode(next)));
        assert_eq!(r.status, 303, "{}", r.body);
        let cookie = r
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with(OAUTH))
            .unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("Secure"));
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        let location = r.location().to_owned();
        let query = params(location.split_once('?').unwrap().1);
        query["state"].clone()
    }
}

/// An app with both providers configured, their fakes knowing `email` (`verified` or not).
fn idp_app(open_signup: bool, email: &'static str, verified: bool) -> App {
    App::with_providers(open_signup, providers(Profile { email, verified }))
}

fn callback(provider: &str) -> &'static str {
    if provider == "google" {
        "/auth/callback"
    } else {
        "/auth/facebook/callback"
    }
}

#[test]
fn the_start_sends_the_browser_to_the_provider_with_a_state_and_our_callback() {
    let app = idp_app(false, EMAIL, true);
    let mut b = Browser::default();
    let r = b.get(&app, "/auth/google");
    assert_eq!(r.status, 303);
    let (base, query) = r.location().split_once('?').unwrap();
    assert_eq!(base, "https://accounts.test/o/oauth2/v2/auth");
    let q = params(query);
    assert_eq!(q["client_id"], GOOGLE_ID);
    assert_eq!(q["redirect_uri"], CALLBACK_GOOGLE);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "openid email");
    assert!(q["state"].len() >= 43, "a 256-bit state");
    assert!(!r.location().contains(GOOGLE_SECRET));

    let r = b.get(&app, "/auth/facebook");
    let (base, query) = r.location().split_once('?').unwrap();
    assert_eq!(base, "https://www.facebook.com/v21.0/dialog/oauth");
    assert_eq!(params(query)["redirect_uri"], CALLBACK_FACEBOOK);
    assert_eq!(params(query)["scope"], "email");

    // Two starts, two states.
    let again = Browser::default().start_oauth(&app, "google", "/dashboard");
    assert_ne!(again, b.start_oauth(&app, "google", "/dashboard"));
    // The login page offers both.
    let login = Browser::default().get(&app, "/dashboard/login");
    assert!(login.has_id("login-google") && login.has_id("login-facebook"));
}

#[test]
fn google_and_facebook_sign_in_the_owner_whose_verified_email_matches() {
    let app = idp_app(false, EMAIL, true);
    let r = app.admin_owner(TENANT, json!({ "email": EMAIL, "password": PASSWORD }));
    assert_eq!(r.status, 201);
    for provider in ["google", "facebook"] {
        let mut b = Browser::default();
        let state = b.start_oauth(&app, provider, "/dashboard/rules");
        let r = b.get(
            &app,
            &format!("{}?code=good-code&state={state}", callback(provider)),
        );
        assert_eq!(r.status, 303, "{provider}: {}", r.body);
        assert_eq!(r.location(), "/dashboard/rules");
        assert!(b.cookies.contains_key(SESSION), "{provider}");
        assert!(!b.cookies.contains_key(OAUTH), "the state is used up");
        assert!(b.signed_in(&app), "{provider}");
        // The same business behind both providers.
        let sessions = app.host.web_sessions();
        let session = &sessions[&sha256_hex(&b.cookies[SESSION])];
        assert_eq!(session.tenant.as_str(), TENANT, "{provider}");

        // The state is single-use: replaying the callback signs no one in.
        let mut replay = Browser::default();
        let r = replay.get(
            &app,
            &format!("{}?code=good-code&state={state}", callback(provider)),
        );
        assert_eq!(r.status, 403);
        assert!(!replay.cookies.contains_key(SESSION));
    }
    // The secrets went in the token request, never in a URL the browser saw.
    let fetched = app.host.fetched();
    assert_eq!(fetched.len(), 4, "token + profile per provider");
    assert_eq!(fetched[0].method, http::Method::POST);
    assert!(std::str::from_utf8(&fetched[0].body)
        .unwrap()
        .contains("client_secret="));
    assert!(!fetched[0].uri.contains(GOOGLE_SECRET));
}

#[test]
fn a_callback_without_the_matching_state_cookie_is_refused_before_any_exchange() {
    let app = idp_app(false, EMAIL, true);
    app.admin_owner(TENANT, json!({ "email": EMAIL, "password": PASSWORD }));
    // No cookie at all (a forged link: login CSRF).
    let mut b = Browser::default();
    let r = b.get(&app, "/auth/callback?code=good-code&state=forged");
    assert_eq!(r.status, 403);
    assert!(r.has_id("login-error"));
    // A cookie, but another state.
    let mut b = Browser::default();
    b.start_oauth(&app, "google", "/dashboard");
    let r = b.get(&app, "/auth/callback?code=good-code&state=other");
    assert_eq!(r.status, 403);
    // A Google state replayed at the Facebook callback.
    let mut b = Browser::default();
    let state = b.start_oauth(&app, "google", "/dashboard");
    let r = b.get(
        &app,
        &format!("/auth/facebook/callback?code=good-code&state={state}"),
    );
    assert_eq!(r.status, 403);
    assert!(!b.cookies.contains_key(SESSION));
    assert!(app.host.fetched().is_empty(), "no code was exchanged");
    assert!(app.host.web_sessions().is_empty());
}

#[test]
fn provider_failures_an_unverified_email_and_a_cancel_sign_no_one_in() {
    let app = idp_app(false, EMAIL, false);
    app.admin_owner(TENANT, json!({ "email": EMAIL, "password": PASSWORD }));
    for (provider, query, status) in [
        // Google says the address is not verified; Facebook shares none.
        ("google", "code=good-code", 403),
        ("facebook", "code=good-code", 403),
        // The provider refuses the code.
        ("google", "code=stale-code", 502),
        ("facebook", "code=stale-code", 502),
        // The owner pressed Cancel.
        ("google", "error=access_denied", 401),
        // No code.
        ("facebook", "", 400),
    ] {
        let mut b = Browser::default();
        let state = b.start_oauth(&app, provider, "/dashboard");
        let r = b.get(
            &app,
            &format!("{}?{query}&state={state}", callback(provider)),
        );
        assert_eq!(r.status, status, "{provider} {query}: {}", r.body);
        assert!(r.has_id("login-error"), "{provider} {query}");
        assert!(!b.cookies.contains_key(SESSION), "{provider} {query}");
        assert!(!r.body.contains("ya29") && !r.body.contains("EAAB"));
    }
    assert!(app.host.web_sessions().is_empty());
}

#[test]
fn an_unknown_email_needs_open_signup_and_then_gets_a_business_without_a_password() {
    const NEW: &str = "ravi@chai.example";
    // Closed: the login page says to ask the operator; nothing is made.
    let app = idp_app(false, NEW, true);
    let mut b = Browser::default();
    let state = b.start_oauth(&app, "google", "/dashboard");
    let r = b.get(
        &app,
        &format!("/auth/callback?code=good-code&state={state}"),
    );
    assert_eq!(r.status, 403);
    assert!(block_on(app.h.store.owner_by_email(NEW)).unwrap().is_none());

    // Open: a new business and its owner, into the wizard.
    let app = idp_app(true, NEW, true);
    let before = block_on(app.h.store.list_tenants()).unwrap().len();
    let mut b = Browser::default();
    let state = b.start_oauth(&app, "facebook", "/dashboard");
    let r = b.get(
        &app,
        &format!("/auth/facebook/callback?code=good-code&state={state}"),
    );
    assert_eq!((r.status, r.location()), (303, "/dashboard/welcome"));
    let owner = block_on(app.h.store.owner_by_email(NEW)).unwrap().unwrap();
    assert_eq!(
        block_on(app.h.store.list_tenants()).unwrap().len(),
        before + 1
    );
    assert!(b.signed_in(&app));
    // No password signs in to it, not even an empty one.
    for password in ["", "!no-password", PASSWORD] {
        let r = Browser::default().login(&app, NEW, password);
        assert_eq!(r.status, 401, "{password:?}");
    }
    // Signing in again with Google finds the same owner.
    let mut again = Browser::default();
    let state = again.start_oauth(&app, "google", "/dashboard");
    let r = again.get(
        &app,
        &format!("/auth/callback?code=good-code&state={state}"),
    );
    assert_eq!((r.status, r.location()), (303, "/dashboard"));
    let session = &app.host.web_sessions()[&sha256_hex(&again.cookies[SESSION])];
    assert_eq!(session.owner, owner.id);
}

#[test]
fn oauth_routes_refuse_foreign_next_unconfigured_providers_and_other_methods() {
    let app = idp_app(false, EMAIL, true);
    app.admin_owner(TENANT, json!({ "email": EMAIL, "password": PASSWORD }));
    for next in [
        "https://evil.example/x",
        "//evil.example",
        "/\\evil.example",
    ] {
        let mut b = Browser::default();
        let state = b.start_oauth(&app, "google", next);
        let r = b.get(
            &app,
            &format!("/auth/callback?code=good-code&state={state}"),
        );
        assert_eq!((r.status, r.location()), (303, "/dashboard"), "{next}");
    }
    let r = Browser::default().post(&app, "/auth/google", &[]);
    assert_eq!(r.status, 405);
    // Without providers: 404, and the login page offers none.
    let plain = App::with_owner();
    assert_eq!(Browser::default().get(&plain, "/auth/google").status, 404);
    assert_eq!(Browser::default().get(&plain, "/auth/callback").status, 404);
    let login = Browser::default().get(&plain, "/dashboard/login");
    assert!(!login.has_id("login-google") && !login.has_id("login-facebook"));
}
