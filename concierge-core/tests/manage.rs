//! The operator panel, sans-IO: sign in with the admin token, review personas, grant credits.

#![allow(clippy::unwrap_used)] // tests may unwrap

use bytes::Bytes;
use concierge_core::front::{DemoLimiter, Front, FrontConfig, Response};
use concierge_core::safety::SafetyStatus;
use concierge_core::testing::{Harness, MemoryHost, EXAMPLE_TENANT};
use futures::executor::block_on;

const ADMIN: &str = "test-admin-token-0123";

struct Panel {
    h: Harness,
    host: MemoryHost,
    config: FrontConfig,
    demo: DemoLimiter,
    cookies: Vec<(String, String)>,
}

struct Served {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

impl Panel {
    fn new() -> Panel {
        let h = Harness::new(EXAMPLE_TENANT);
        let host = MemoryHost::new(h.engine.clone());
        Panel {
            h,
            host,
            config: FrontConfig {
                admin_token: Some(ADMIN.into()),
                ..FrontConfig::default()
            },
            demo: DemoLimiter::new(10),
            cookies: Vec::new(),
        }
    }

    fn send(&mut self, method: &str, uri: &str, form: &str) -> Served {
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
        let req = b.body(Bytes::from(form.to_owned())).unwrap();
        let front = Front::new(&self.h.engine, &self.host, &self.config, &self.demo);
        let response: Response = block_on(front.handle(req));
        let (parts, body) = response.into_parts();
        for value in parts.headers.get_all("set-cookie") {
            let (pair, _) = value.to_str().unwrap().split_once(';').unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !v.is_empty() {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
        Served {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    fn csrf(&self) -> String {
        self.cookies
            .iter()
            .find(|(k, _)| k == "__Host-concierge_csrf")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    fn sign_in(&mut self) {
        self.send("GET", "/manage/login", "");
        let csrf = self.csrf();
        let done = self.send(
            "POST",
            "/manage/login",
            &format!("csrf={csrf}&token={ADMIN}"),
        );
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.headers["location"], "/manage");
    }
}

#[test]
fn the_panel_needs_the_admin_token_and_refuses_a_wrong_one() {
    let mut p = Panel::new();
    let first = p.send("GET", "/manage", "");
    assert_eq!(first.status, 303);
    assert_eq!(first.headers["location"], "/manage/login");
    p.send("GET", "/manage/login", "");
    let csrf = p.csrf();
    let wrong = p.send("POST", "/manage/login", &format!("csrf={csrf}&token=nope"));
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains(r#"id="manage-login-error""#));
    assert_eq!(p.send("GET", "/manage", "").status, 303, "still signed out");
    let no_csrf = p.send("POST", "/manage/login", &format!("token={ADMIN}"));
    assert_eq!(no_csrf.status, 403, "login CSRF refused");
    p.sign_in();
    let page = p.send("GET", "/manage", "");
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"id="tenant-sunrise-bakery""#));
    // A forged or tampered cookie is no session.
    for (k, v) in &mut p.cookies {
        if k == "__Host-concierge_operator" {
            *v = v.replacen('1', "2", 1);
        }
    }
    assert_eq!(p.send("GET", "/manage", "").status, 303);
}

#[test]
fn the_operator_reviews_personas_and_grants_credits_with_csrf() {
    let mut p = Panel::new();
    p.sign_in();
    let reject = p.send(
        "POST",
        "/manage/tenants/sunrise-bakery/persona",
        "action=reject",
    );
    assert_eq!(reject.status, 403, "no CSRF token");
    assert!(p.h.tenant().persona.cleared_for_ai(), "nothing changed");
    let csrf = p.csrf();
    let rejected = p.send(
        "POST",
        "/manage/tenants/sunrise-bakery/persona",
        &format!("csrf={csrf}&action=reject"),
    );
    assert_eq!(rejected.status, 303);
    assert!(matches!(
        p.h.tenant().persona.safety,
        SafetyStatus::Rejected { .. }
    ));
    p.send(
        "POST",
        "/manage/tenants/sunrise-bakery/persona",
        &format!("csrf={csrf}&action=approve"),
    );
    assert!(p.h.tenant().persona.cleared_for_ai());

    let before = p.h.balance();
    let bad = p.send(
        "POST",
        "/manage/tenants/sunrise-bakery/credits",
        &format!("csrf={csrf}&amount=lots"),
    );
    assert_eq!(bad.status, 422);
    assert_eq!(p.h.balance(), before, "nothing granted");
    let granted = p.send(
        "POST",
        "/manage/tenants/sunrise-bakery/credits",
        &format!("csrf={csrf}&amount=5&expires_days=30&reason=launch"),
    );
    assert_eq!(granted.status, 303, "{}", granted.body);
    assert_eq!(p.h.balance().as_milli(), before.as_milli() + 5_000);
    let page = p.send("GET", "/manage?done=granted", "");
    assert!(page.body.contains(r#"id="manage-notice""#));

    p.send("POST", "/manage/logout", &format!("csrf={csrf}"));
    assert_eq!(p.send("GET", "/manage", "").status, 303, "signed out");
}
