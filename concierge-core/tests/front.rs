//! The HTTP front, sans-IO: the same requests the adapters serve, against the in-memory host.
//! (The cross-target HTTP contract suite runs the real server and the Worker.)

#![allow(clippy::unwrap_used)] // tests may unwrap

use bytes::Bytes;
use concierge_core::front::{DemoLimiter, Front, FrontConfig, Response};
use concierge_core::testing::{Harness, MemoryHost, EXAMPLE_TENANT};
use futures::executor::block_on;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const APP_SECRET: &str = "test-meta-app-secret";
const ADMIN: &str = "test-admin-token-0123";
const WHATSAPP_TEXT: &str = include_str!("fixtures/whatsapp/text.json");

fn config() -> FrontConfig {
    FrontConfig {
        whatsapp_app_secret: Some(APP_SECRET.into()),
        whatsapp_verify_token: Some("verify-me".into()),
        admin_token: Some(ADMIN.into()),
        ai_setup_hint: "no model",
        ..FrontConfig::default()
    }
}

struct Served {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Served {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

fn serve(h: &Harness, config: &FrontConfig, request: http::Request<Bytes>) -> Served {
    let host = MemoryHost::new(h.engine.clone());
    let demo = DemoLimiter::new(10);
    let response: Response = block_on(Front::new(&h.engine, &host, config, &demo).handle(request));
    let (parts, body) = response.into_parts();
    Served {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

fn request(method: &str, uri: &str) -> http::request::Builder {
    http::Request::builder().method(method).uri(uri)
}

fn signed(body: &str) -> http::Request<Bytes> {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    request("POST", "/webhook/whatsapp")
        .header("x-hub-signature-256", signature)
        .body(Bytes::from(body.to_owned()))
        .unwrap()
}

fn admin(method: &str, path: &str, body: &str) -> http::Request<Bytes> {
    request(method, &format!("/api/v1{path}"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Bytes::from(body.to_owned()))
        .unwrap()
}

#[test]
fn unknown_paths_and_wrong_methods_get_json_answers() {
    let h = Harness::new(EXAMPLE_TENANT);
    let c = config();
    let missing = serve(&h, &c, request("GET", "/nope").body(Bytes::new()).unwrap());
    assert_eq!(
        (missing.status, missing.json()),
        (404, json!({ "error": "route not found" }))
    );
    let wrong = serve(
        &h,
        &c,
        request("DELETE", "/webhook/whatsapp")
            .body(Bytes::new())
            .unwrap(),
    );
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.headers["allow"], "GET, POST");
    let health = serve(
        &h,
        &c,
        request("GET", "/healthz").body(Bytes::new()).unwrap(),
    );
    assert_eq!((health.status, &health.body[..]), (200, &b"ok\n"[..]));
}

#[test]
fn a_signed_whatsapp_message_is_answered_once_and_a_tampered_one_changes_nothing() {
    let h = Harness::new(EXAMPLE_TENANT);
    let c = config();
    let mut tampered = signed(WHATSAPP_TEXT);
    *tampered.body_mut() = Bytes::from(WHATSAPP_TEXT.replace("another color", "free cakes"));
    assert_eq!(serve(&h, &c, tampered).status, 401);
    assert!(h.outbound.sent().is_empty(), "nothing ran");

    assert_eq!(serve(&h, &c, signed(WHATSAPP_TEXT)).status, 200);
    assert_eq!(h.outbound.sent().len(), 1, "one reply");
    // Meta redelivers: acknowledged, no second reply.
    assert_eq!(serve(&h, &c, signed(WHATSAPP_TEXT)).status, 200);
    assert_eq!(h.outbound.sent().len(), 1);

    let malformed = serve(&h, &c, signed("{not json"));
    assert_eq!(malformed.status, 400);
    let oversized = "x".repeat(concierge_core::channels::MAX_BODY_BYTES + 1);
    assert_eq!(serve(&h, &c, signed(&oversized)).status, 413);
}

#[test]
fn the_meta_handshake_answers_the_challenge_only_for_the_right_token() {
    let h = Harness::new(EXAMPLE_TENANT);
    let c = config();
    let uri = "/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=42";
    let ok = serve(&h, &c, request("GET", uri).body(Bytes::new()).unwrap());
    assert_eq!((ok.status, &ok.body[..]), (200, &b"42"[..]));
    let wrong = uri.replace("verify-me", "guess");
    assert_eq!(
        serve(&h, &c, request("GET", &wrong).body(Bytes::new()).unwrap()).status,
        403
    );
}

#[test]
fn the_admin_api_needs_its_token_and_validates_before_saving() {
    let h = Harness::new(EXAMPLE_TENANT);
    let off = FrontConfig {
        admin_token: None,
        ..config()
    };
    assert_eq!(serve(&h, &off, admin("GET", "/tenants", "")).status, 503);
    let c = config();
    let mut wrong = admin("GET", "/tenants", "");
    wrong
        .headers_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    let refused = serve(&h, &c, wrong);
    assert_eq!(
        (refused.status, refused.json()),
        (401, json!({ "error": "missing or wrong bearer token" }))
    );

    let list = serve(&h, &c, admin("GET", "/tenants", ""));
    assert_eq!(list.json(), json!({ "tenants": ["sunrise-bakery"] }));

    let bad = serve(
        &h,
        &c,
        admin(
            "PUT",
            "/tenants/sunrise-bakery/conversation",
            r#"{"idle_gap_mins": 2}"#,
        ),
    );
    assert_eq!(bad.status, 422);
    assert_eq!(bad.json()["fields"][0]["field"], "idle_gap_mins");
    assert_eq!(h.tenant().conversation.idle_gap_mins, None, "nothing saved");

    let missing = serve(&h, &c, admin("GET", "/tenants/no-such-shop", ""));
    assert_eq!(
        (missing.status, missing.json()),
        (404, json!({ "error": "tenant no-such-shop not found" }))
    );
    let toml = serve(&h, &c, admin("GET", "/tenants/sunrise-bakery", ""));
    assert_eq!(toml.status, 200);
    assert_eq!(toml.headers["x-persona-status"], "approved");
    assert_eq!(
        serve(&h, &c, admin("PUT", "/tenants", "not = [toml")).status,
        400
    );
}

#[test]
fn the_demo_lists_personas_with_their_exact_prompt_and_refuses_bad_turns() {
    let h = Harness::new(EXAMPLE_TENANT);
    let c = config();
    let personas = serve(
        &h,
        &c,
        request("GET", "/demo/personas").body(Bytes::new()).unwrap(),
    );
    let list = personas.json();
    assert!(list["personas"].as_array().is_some_and(|p| !p.is_empty()));
    assert!(list["personas"][0]["prompt"]
        .as_str()
        .is_some_and(|p| !p.is_empty()));
    let chat = |body: &str| {
        serve(
            &h,
            &c,
            request("POST", "/demo/chat")
                .body(Bytes::from(body.to_owned()))
                .unwrap(),
        )
    };
    assert_eq!(chat("{").status, 400);
    let unknown = chat(r#"{"persona":"nobody","message":"hi"}"#);
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.json()["fields"][0]["field"], "persona");
}

#[test]
fn the_admin_api_uploads_lists_searches_and_deletes_documents() {
    let h = Harness::new(EXAMPLE_TENANT);
    let c = config();
    let base = "/tenants/sunrise-bakery/knowledge";
    let faq = "# Cakes\n## Eggless cakes\nEvery cake can be made eggless at no extra cost.\n";
    let put = serve(
        &h,
        &c,
        admin("PUT", &format!("{base}/faq/cakes%20and%20more.md"), faq),
    );
    assert_eq!(put.status, 201, "{:?}", put.json());
    assert_eq!(put.json()["outcome"], "stored");
    assert_eq!(put.json()["chunks"], 1);
    let again = serve(
        &h,
        &c,
        admin("PUT", &format!("{base}/faq/cakes%20and%20more.md"), faq),
    );
    assert_eq!(
        (again.status, again.json()["outcome"].clone()),
        (200, json!("unchanged"))
    );

    let list = serve(&h, &c, admin("GET", base, "")).json();
    assert_eq!(list["documents"][0]["source"], "faq/cakes and more.md");
    assert_eq!(list["documents"][0]["kind"], "markdown");

    let found = serve(
        &h,
        &c,
        admin("GET", &format!("{base}/search?q=eggless%20cakes%3F"), ""),
    )
    .json();
    assert_eq!(found["results"][0]["heading"], "Cakes > Eggless cakes");
    assert_eq!(found["results"][0]["source"], "faq/cakes and more.md");
    let none = serve(&h, &c, admin("GET", &format!("{base}/search?q=pizza"), "")).json();
    assert_eq!(none, json!({ "results": [] }));

    // Bad input: a clear error each, and nothing stored.
    for (path, body, status, field) in [
        (format!("{base}/photo.png"), "x", 422, "document"),
        (format!("{base}/empty.md"), "  \n", 422, "document"),
        (format!("{base}/a/../b.md"), faq, 422, "document"),
        (format!("{base}/search"), "", 422, "q"),
    ] {
        let method = if path.ends_with("search") {
            "GET"
        } else {
            "PUT"
        };
        let r = serve(&h, &c, admin(method, &path, body));
        assert_eq!(r.status, status, "{path}: {:?}", r.json());
        assert_eq!(r.json()["fields"][0]["field"], field, "{path}");
    }
    let binary = serve(
        &h,
        &c,
        http::Request::builder()
            .method("PUT")
            .uri(format!("/api/v1{base}/menu.csv"))
            .header("authorization", format!("Bearer {ADMIN}"))
            .body(Bytes::from_static(b"\x00\x01\x02binary"))
            .unwrap(),
    );
    assert_eq!(binary.status, 422);
    assert_eq!(
        serve(&h, &c, admin("GET", base, "")).json()["documents"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing of the refused uploads was stored"
    );
    let unknown = serve(
        &h,
        &c,
        admin("PUT", "/tenants/no-such-shop/knowledge/a.md", faq),
    );
    assert_eq!(unknown.status, 404);

    assert_eq!(
        serve(
            &h,
            &c,
            admin("DELETE", &format!("{base}/faq/cakes%20and%20more.md"), "")
        )
        .status,
        204
    );
    assert_eq!(
        serve(
            &h,
            &c,
            admin("DELETE", &format!("{base}/faq/cakes%20and%20more.md"), "")
        )
        .status,
        404
    );
    assert_eq!(serve(&h, &c, admin("POST", base, "")).status, 405);
}
