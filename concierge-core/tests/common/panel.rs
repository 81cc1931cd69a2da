//! The operator panel driven sans-IO, as a browser would: a cookie jar, the CSRF token the
//! panel sets, sign-in with an operator account; and the admin API beside it. Shared by the
//! panel's test files (`#[path]`-included: not a test crate of its own).

#![allow(dead_code)] // each test file uses part of it

use bytes::Bytes;
use concierge_core::audit::AuditQuery;
use concierge_core::front::{DemoLimiter, Front, FrontConfig, Response};
use concierge_core::ports::{AuditLog, Clock, OperatorStore};
use concierge_core::testing::{Harness, MemoryHost, EXAMPLE_TENANT};
use futures::executor::block_on;

pub const ADMIN: &str = "test-admin-token-0123";
/// The operator account every panel starts with.
pub const OPERATOR_EMAIL: &str = "ops@concierge.example";
/// Its password.
pub const OPERATOR_PASSWORD: &str = "operator-password-1";

pub struct Panel {
    pub h: Harness,
    pub host: MemoryHost,
    pub config: FrontConfig,
    pub demo: DemoLimiter,
    pub cookies: Vec<(String, String)>,
}

pub struct Served {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Panel {
    pub fn new() -> Panel {
        let h = Harness::new(EXAMPLE_TENANT);
        // Straight into the store: the admin API's `PUT /operators` would add an audit entry.
        let hash = concierge_core::accounts::hash_password(OPERATOR_PASSWORD, &[7; 16]).unwrap();
        block_on(h.store.put_operator(OPERATOR_EMAIL, &hash, h.clock.now())).unwrap();
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

    pub fn send(&mut self, method: &str, uri: &str, form: &str) -> Served {
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

    pub fn csrf(&self) -> String {
        self.cookies
            .iter()
            .find(|(k, _)| k == "__Host-concierge_csrf")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Signs in as `email` with `password` from the login form; what the panel answered.
    pub fn log_in(&mut self, email: &str, password: &str) -> Served {
        self.send("GET", "/manage/login", "");
        let csrf = self.csrf();
        let email: String = form_urlencoded::byte_serialize(email.as_bytes()).collect();
        self.send(
            "POST",
            "/manage/login",
            &format!("csrf={csrf}&email={email}&password={password}"),
        )
    }

    pub fn sign_in(&mut self) {
        let done = self.log_in(OPERATOR_EMAIL, OPERATOR_PASSWORD);
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.headers["location"], "/manage");
    }
}

impl Panel {
    pub fn api(&mut self, method: &str, path: &str, body: &str, token: Option<&str>) -> Served {
        let mut b = http::Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"));
        if let Some(token) = token {
            b = b.header("authorization", format!("Bearer {token}"));
        }
        let req = b.body(Bytes::from(body.to_owned())).unwrap();
        let front = Front::new(&self.h.engine, &self.host, &self.config, &self.demo);
        let (parts, body) = block_on(front.handle(req)).into_parts();
        Served {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    pub fn json(&mut self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let served = self.api(method, path, body, Some(ADMIN));
        let value = serde_json::from_str(&served.body).unwrap_or(serde_json::Value::Null);
        (served.status, value)
    }

    /// The audit log's actions, newest first.
    pub fn audit_actions(&self) -> Vec<String> {
        block_on(self.h.store.list_audit(&AuditQuery::latest(500)))
            .unwrap()
            .into_iter()
            .map(|r| r.entry.action.as_str().to_owned())
            .collect()
    }

    /// The `data-action` of every row of an audit page, in page order.
    pub fn page_actions(body: &str) -> Vec<String> {
        body.split("data-action=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().to_owned())
            .collect()
    }
}

impl Panel {
    /// A request with no credentials, its JSON answer (the demo's routes).
    pub fn json_public(&mut self, method: &str, uri: &str) -> (u16, serde_json::Value) {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Bytes::new())
            .unwrap();
        let front = Front::new(&self.h.engine, &self.host, &self.config, &self.demo);
        let (parts, body) = block_on(front.handle(req)).into_parts();
        let value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        (parts.status.as_u16(), value)
    }
}
