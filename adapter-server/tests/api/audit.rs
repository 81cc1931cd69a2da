//! The audit log and the prices per currency over HTTP: the admin API and the operator panel.

use concierge_core::audit::AuditQuery;
use concierge_core::ports::{AuditLog, PricingStore};
use concierge_core::Currency;
use serde_json::Value;

use crate::admin::SHOP;
use crate::helpers::{on_both_databases, spawn_app, Db, TestApp, ADMIN_TOKEN};

async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method, format!("{}/api/v1{path}", app.address))
        .body(body.to_owned());
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn actions(log: &Value) -> Vec<String> {
    log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_admin_api_audits_changes_and_sets_prices(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    use reqwest::Method;
    for path in ["/audit", "/pricing"] {
        assert_eq!(admin(&app, Method::GET, path, "", None).await.0, 401);
    }
    let body = r#"{"currency":"INR","price":"2"}"#;
    assert_eq!(
        admin(&app, Method::PUT, "/pricing", body, None).await.0,
        401
    );
    assert!(app.store.stored_prices().await.unwrap().is_empty());

    let (status, bad) = admin(
        &app,
        Method::PUT,
        "/pricing",
        r#"{"currency":"rupee","price":"0"}"#,
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(bad["fields"][0]["field"], "currency");
    assert_eq!(bad["fields"][1]["field"], "price");
    assert!(
        app.store.stored_prices().await.unwrap().is_empty(),
        "nothing saved"
    );
    assert!(app
        .store
        .list_audit(&AuditQuery::latest(10))
        .await
        .unwrap()
        .is_empty());

    assert_eq!(app.import_tenant(SHOP).await.status(), 200);
    let (status, change) = admin(&app, Method::PUT, "/pricing", body, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{change}");
    assert_eq!(change["previous"], "1");
    let inr = Currency::parse("INR").unwrap();
    let stored = app.store.stored_price(&inr).await.unwrap().unwrap();
    assert_eq!(stored.per_ai_reply.as_milli(), 2_000);
    let (_, list) = admin(&app, Method::GET, "/pricing", "", Some(ADMIN_TOKEN)).await;
    let row = list["pricing"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["currency"] == "INR")
        .unwrap()
        .clone();
    assert_eq!(row["per_ai_reply"], "2");
    assert_eq!(row["default"], "1");

    let (status, _) = admin(
        &app,
        Method::POST,
        "/tenants/guild-shop/credits",
        r#"{"grant_id":"g-1","amount":"3"}"#,
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    let (status, log) = admin(&app, Method::GET, "/audit", "", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(
        actions(&log),
        ["credits.grant", "pricing.set", "tenant.put"]
    );
    assert_eq!(log["entries"][0]["tenant"], "guild-shop");
    assert_eq!(log["entries"][0]["actor"], "admin-api");
    assert_eq!(log["entries"][1]["detail"], "INR: 2 per AI reply (was 1)");
    let (_, one) = admin(
        &app,
        Method::GET,
        "/audit?tenant=guild-shop&limit=1",
        "",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(actions(&one), ["credits.grant"]);
    let before = one["next_before"].as_u64().unwrap();
    let (_, rest) = admin(
        &app,
        Method::GET,
        &format!("/audit?tenant=guild-shop&before={before}"),
        "",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(
        actions(&rest),
        ["tenant.put"],
        "the price is about no tenant"
    );
    app.stop().await;
}

/// A signed-in operator over real HTTP: the cookies by hand, as a browser keeps them.
struct Operator {
    client: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

impl Operator {
    fn new(app: &TestApp) -> Operator {
        Operator {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.address.clone(),
            cookies: Vec::new(),
        }
    }

    async fn send(&mut self, method: reqwest::Method, path: &str, form: &str) -> (u16, String) {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("cookie", jar.join("; "));
        }
        if method == reqwest::Method::POST {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.to_owned());
        }
        let r = req.send().await.unwrap();
        for value in r.headers().get_all("set-cookie") {
            let (pair, _) = value.to_str().unwrap().split_once(';').unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !v.is_empty() {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    }

    fn csrf(&self) -> String {
        self.cookies
            .iter()
            .find(|(k, _)| k == "__Host-concierge_csrf")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Posts the login form with the operator account of [`operator_account`].
    async fn log_in(&mut self) -> (u16, String) {
        self.send(reqwest::Method::GET, "/manage/login", "").await;
        let csrf = self.csrf();
        self.send(
            reqwest::Method::POST,
            "/manage/login",
            &format!("csrf={csrf}&email={OPERATOR_EMAIL}&password={OPERATOR_PASSWORD}"),
        )
        .await
    }

    async fn sign_in(&mut self) {
        let (status, body) = self.log_in().await;
        assert_eq!(status, 303, "{body}");
    }
}

const OPERATOR_EMAIL: &str = "ops@concierge.example";
const OPERATOR_PASSWORD: &str = "operator-password-1";

/// Gives the deployment its operator account, straight in the store (the admin API's
/// `PUT /operators` would add an audit entry).
async fn operator_account(app: &crate::helpers::TestApp) {
    use concierge_core::ports::OperatorStore;
    let hash = concierge_core::accounts::hash_password(OPERATOR_PASSWORD, &[7; 16]).unwrap();
    let now = concierge_core::time::Timestamp::from_millis(0);
    app.store
        .put_operator(OPERATOR_EMAIL, &hash, now)
        .await
        .unwrap();
}

async fn the_panel_prices_a_currency_and_shows_the_audit_log(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    use reqwest::Method;
    operator_account(&app).await;
    let mut op = Operator::new(&app);
    let (status, _) = op
        .send(Method::POST, "/manage/pricing", "currency=INR&price=2")
        .await;
    assert_eq!(status, 401, "signed out");
    op.sign_in().await;
    let csrf = op.csrf();
    let (status, _) = op
        .send(Method::POST, "/manage/pricing", "currency=INR&price=2")
        .await;
    assert_eq!(status, 403, "no CSRF token");
    let (status, body) = op
        .send(
            Method::POST,
            "/manage/pricing",
            &format!("csrf={csrf}&currency=INR&price=0"),
        )
        .await;
    assert_eq!(status, 422);
    assert!(body.contains(r#"id="price-error""#));
    let (status, body) = op
        .send(
            Method::POST,
            "/manage/pricing",
            &format!("csrf={csrf}&currency=12&price=1"),
        )
        .await;
    assert_eq!(status, 422);
    assert!(body.contains(r#"id="currency-error""#));
    assert!(
        app.store.stored_prices().await.unwrap().is_empty(),
        "nothing saved"
    );

    let (status, _) = op
        .send(
            Method::POST,
            "/manage/pricing",
            &format!("csrf={csrf}&currency=USD&price=0.03"),
        )
        .await;
    assert_eq!(status, 303);
    let usd = Currency::parse("USD").unwrap();
    let stored = app.store.stored_price(&usd).await.unwrap().unwrap();
    assert_eq!(stored.per_ai_reply.as_milli(), 30);

    let (status, page) = op.send(Method::GET, "/manage/audit", "").await;
    assert_eq!(status, 200);
    let first = page.find(r#"data-action="pricing.set""#).unwrap();
    let login = page.find(r#"data-action="operator.login""#).unwrap();
    assert!(first < login, "newest first");
    assert!(page.contains("USD: 0.03 per AI reply (was 0.02)"));
    let (_, pricing) = op.send(Method::GET, "/manage/pricing", "").await;
    assert!(pricing.contains(r#"id="price-USD""#));
    assert!(pricing.contains(r#"value="0.03""#));
    app.stop().await;
}

/// When the audit write fails the request fails (500, "internal error" only): the change
/// itself stays applied, and an operator sign-in sets no cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_audit_write_fails_the_request() {
    let Some(app) = spawn_app(Db::Sqlite).await else {
        return;
    };
    let raw = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
    sqlx::query("DROP TABLE audit_log")
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    let (status, body) = admin(
        &app,
        reqwest::Method::PUT,
        "/pricing",
        r#"{"currency":"EUR","price":"0.5"}"#,
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(body, serde_json::json!({ "error": "internal error" }));
    let eur = Currency::parse("EUR").unwrap();
    let stored = app.store.stored_price(&eur).await.unwrap();
    assert!(stored.is_some(), "the change stays applied");

    operator_account(&app).await;
    let mut op = Operator::new(&app);
    let (status, _) = op.log_in().await;
    assert_eq!(status, 500);
    assert!(
        !op.cookies
            .iter()
            .any(|(k, _)| k == "__Host-concierge_operator"),
        "an unrecorded sign-in signs no one in"
    );
    app.stop().await;
}

on_both_databases!(
    the_admin_api_audits_changes_and_sets_prices,
    the_panel_prices_a_currency_and_shows_the_audit_log
);
