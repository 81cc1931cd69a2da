//! The operator panel behind Cloudflare Access, sans-IO: the team's RS256 tokens verified
//! against its key set, fetched through the host (a local JWKS) and cached.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use concierge_core::audit::AuditQuery;
use concierge_core::front::{AccessGate, AccessPolicy, DemoLimiter, Front, FrontConfig};
use concierge_core::ports::AuditLog;
use concierge_core::testing::{Harness, MemoryHost, EXAMPLE_TENANT};
use futures::executor::block_on;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::Sha256;

const TEAM: &str = "https://acme.cloudflareaccess.com";
const AUD: &str = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";

/// Two team keys (the second for a rotation), made once: RSA key generation is slow.
fn key(which: usize) -> &'static RsaPrivateKey {
    static KEYS: OnceLock<[RsaPrivateKey; 2]> = OnceLock::new();
    &KEYS.get_or_init(|| {
        let mut rng = rand::thread_rng();
        [
            RsaPrivateKey::new(&mut rng, 2048).unwrap(),
            RsaPrivateKey::new(&mut rng, 2048).unwrap(),
        ]
    })[which]
}

/// The team's key set as `/cdn-cgi/access/certs` publishes it.
fn jwks(keys: &[(usize, &str)]) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(which, kid)| {
            let public = key(*which).to_public_key();
            json!({ "kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig",
                    "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                    "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()) })
        })
        .collect();
    json!({ "keys": keys, "public_cert": { "kid": keys[0]["kid"], "cert": "-----BEGIN CERTIFICATE-----" } })
}

/// A token Access would put in `Cf-Access-Jwt-Assertion`, signed with key `which`.
fn token(which: usize, kid: &str, now: i64, aud: &str) -> String {
    let h = URL_SAFE_NO_PAD.encode(json!({ "alg": "RS256", "kid": kid, "typ": "JWT" }).to_string());
    let p = URL_SAFE_NO_PAD.encode(
        json!({ "aud": [aud], "email": "ops@acme.example", "exp": now + 3600, "iat": now - 5,
                "nbf": now - 5, "iss": TEAM, "sub": "7335d417-61da", "type": "app",
                "identity_nonce": "6ei69kawdKzMIAPF" })
        .to_string(),
    );
    let s = SigningKey::<Sha256>::new(key(which).clone()).sign(format!("{h}.{p}").as_bytes());
    format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(s.to_bytes()))
}

struct Site {
    h: Harness,
    host: MemoryHost,
    config: FrontConfig,
    demo: DemoLimiter,
    certs_fetched: Arc<AtomicUsize>,
    published: Arc<Mutex<Value>>,
}

impl Site {
    fn new() -> Site {
        let h = Harness::new(EXAMPLE_TENANT);
        let certs_fetched = Arc::new(AtomicUsize::new(0));
        let published = Arc::new(Mutex::new(jwks(&[(0, "k1")])));
        let (count, keys) = (certs_fetched.clone(), published.clone());
        let host = MemoryHost::new(h.engine.clone()).with_upstream(Arc::new(move |req| {
            let ok = req.uri().to_string() == format!("{TEAM}/cdn-cgi/access/certs");
            if ok {
                count.fetch_add(1, Ordering::SeqCst);
            }
            http::Response::builder()
                .status(if ok { 200 } else { 404 })
                .header("content-type", "application/json")
                .body(Bytes::from(keys.lock().unwrap().to_string()))
                .unwrap()
        }));
        let config = FrontConfig {
            // Behind Access the admin token signs no one in to the panel.
            admin_token: Some("test-admin-token-0123".into()),
            access: Some(Arc::new(AccessGate::new(AccessPolicy {
                issuer: TEAM.into(),
                audience: AUD.into(),
            }))),
            ..FrontConfig::default()
        };
        Site {
            h,
            host,
            config,
            demo: DemoLimiter::new(10),
            certs_fetched,
            published,
        }
    }

    fn now(&self) -> i64 {
        concierge_core::ports::Clock::now(&self.h.clock).as_secs()
    }

    fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, http::HeaderMap, String) {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        if method == "POST" {
            b = b.header("content-type", "application/x-www-form-urlencoded");
        }
        let front = Front::new(&self.h.engine, &self.host, &self.config, &self.demo);
        let (parts, body) =
            block_on(front.handle(b.body(Bytes::from(body.to_owned())).unwrap())).into_parts();
        (
            parts.status.as_u16(),
            parts.headers,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }
}

#[test]
fn a_valid_access_token_admits_the_operator_and_forms_need_its_csrf_token() {
    let site = Site::new();
    let jwt = token(0, "k1", site.now(), AUD);
    let (status, headers, page) =
        site.send("GET", "/manage", &[("cf-access-jwt-assertion", &jwt)], "");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"id="tenant-sunrise-bakery""#));
    // The page sets the double-submit cookie its forms' token matches.
    let cookie = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-concierge_csrf="))
        .unwrap();
    let csrf = cookie["__Host-concierge_csrf=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(page.contains(&format!(r#"name="csrf" value="{csrf}""#)));
    // Access's browser cookie works as well as the header.
    let (status, _, _) = site.send(
        "GET",
        "/manage",
        &[("cookie", &format!("CF_Authorization={jwt}"))],
        "",
    );
    assert_eq!(status, 200);

    // A grant with the token and the CSRF pair goes through; without the pair it is refused.
    let grant = "amount=5&reason=launch";
    let jar = format!("__Host-concierge_csrf={csrf}");
    let (status, _, body) = site.send(
        "POST",
        "/manage/tenants/sunrise-bakery/credits",
        &[("cf-access-jwt-assertion", &jwt), ("cookie", &jar)],
        &format!("csrf={csrf}&{grant}"),
    );
    assert_eq!(status, 303, "{body}");
    let (status, _, _) = site.send(
        "POST",
        "/manage/tenants/sunrise-bakery/credits",
        &[("cf-access-jwt-assertion", &jwt)],
        grant,
    );
    assert_eq!(status, 403, "no CSRF token");
    // The grant is audited as the operator Access named.
    let entry = block_on(site.h.store.list_audit(&AuditQuery::latest(1)))
        .unwrap()
        .remove(0);
    assert_eq!(entry.entry.actor, "operator:ops@acme.example");
    // The key set was fetched once and cached.
    assert_eq!(site.certs_fetched.load(Ordering::SeqCst), 1);
    // The panel's own login is not offered behind Access.
    let (status, headers, _) = site.send(
        "GET",
        "/manage/login",
        &[("cf-access-jwt-assertion", &jwt)],
        "",
    );
    assert_eq!(
        (status, &headers["location"]),
        (303, &"/manage".parse::<http::HeaderValue>().unwrap())
    );
}

#[test]
fn missing_forged_foreign_and_admin_token_requests_are_refused() {
    let site = Site::new();
    let now = site.now();
    let refused = |headers: &[(&str, &str)]| {
        let (status, _, body) = site.send("GET", "/manage", headers, "");
        assert_eq!(status, 403, "{body}");
        assert!(!body.contains("tenant-sunrise-bakery"));
    };
    refused(&[]);
    // Signed by a key the team does not have, for another application, or tampered with.
    refused(&[("cf-access-jwt-assertion", &token(1, "k1", now, AUD))]);
    refused(&[(
        "cf-access-jwt-assertion",
        &token(0, "k1", now, "another-app"),
    )]);
    let mut tampered = token(0, "k1", now, AUD);
    tampered.insert(tampered.len() / 2, 'x');
    refused(&[("cf-access-jwt-assertion", &tampered)]);
    // Expired.
    refused(&[("cf-access-jwt-assertion", &token(0, "k1", now - 7200, AUD))]);
    // The admin token's login is not a way in.
    let (status, _, _) = site.send("POST", "/manage/login", &[], "token=test-admin-token-0123");
    assert_eq!(status, 403);
}

#[test]
fn a_rotated_key_is_fetched_again_and_an_unreachable_key_set_is_a_502() {
    let site = Site::new();
    let now = site.now();
    assert_eq!(
        site.send(
            "GET",
            "/manage",
            &[("cf-access-jwt-assertion", &token(0, "k1", now, AUD))],
            ""
        )
        .0,
        200
    );
    // Access rotates: the new key signs, the cached set lacks it.
    *site.published.lock().unwrap() = jwks(&[(1, "k2"), (0, "k1")]);
    let rotated = token(1, "k2", now, AUD);
    assert_eq!(
        site.send(
            "GET",
            "/manage",
            &[("cf-access-jwt-assertion", &rotated)],
            ""
        )
        .0,
        200
    );
    assert_eq!(site.certs_fetched.load(Ordering::SeqCst), 2);

    // No key set to be had: 502, and nothing admitted.
    let mut dark = Site::new();
    dark.host = MemoryHost::new(dark.h.engine.clone());
    let (status, _, body) = dark.send(
        "GET",
        "/manage",
        &[("cf-access-jwt-assertion", &token(0, "k1", now, AUD))],
        "",
    );
    assert_eq!(status, 502, "{body}");
    assert!(!body.contains("tenant-sunrise-bakery"));
}
