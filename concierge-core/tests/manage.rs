//! The operator panel, sans-IO: operator accounts and their sessions, review personas, grant credits,
//! price an AI reply per currency, read the audit log; and the admin API's audit and pricing
//! routes.

#![allow(clippy::unwrap_used)] // tests may unwrap

use concierge_core::audit::{AuditAction, AuditEntry, AuditQuery};
use concierge_core::ports::{AuditLog, Clock, PricingStore};
use concierge_core::safety::SafetyStatus;
use concierge_core::{Currency, TenantId};
use futures::executor::block_on;

#[path = "common/panel.rs"]
mod panel;
use panel::{Panel, ADMIN, OPERATOR_EMAIL, OPERATOR_PASSWORD};

#[test]
fn the_panel_signs_in_operator_accounts_and_refuses_everyone_else() {
    let mut p = Panel::new();
    let first = p.send("GET", "/manage", "");
    assert_eq!(first.status, 303);
    assert_eq!(first.headers["location"], "/manage/login");
    // The admin token is no password, a wrong password and an unknown email sign no one in.
    for (email, password) in [
        (OPERATOR_EMAIL, ADMIN),
        (OPERATOR_EMAIL, "not-the-password"),
        ("nobody@concierge.example", OPERATOR_PASSWORD),
    ] {
        let wrong = p.log_in(email, password);
        assert_eq!(wrong.status, 401, "{email}");
        assert!(wrong.body.contains(r#"id="manage-login-error""#));
        assert_eq!(p.send("GET", "/manage", "").status, 303, "still signed out");
    }
    let no_csrf = p.send(
        "POST",
        "/manage/login",
        &format!("email={OPERATOR_EMAIL}&password={OPERATOR_PASSWORD}"),
    );
    assert_eq!(no_csrf.status, 403, "login CSRF refused");
    // The email is normalized as owners' are.
    let done = p.log_in(" OPS@Concierge.Example ", OPERATOR_PASSWORD);
    assert_eq!(done.status, 303, "{}", done.body);
    let page = p.send("GET", "/manage", "");
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"id="tenant-sunrise-bakery""#));
    let entry = block_on(p.h.store.list_audit(&AuditQuery::latest(1)))
        .unwrap()
        .remove(0);
    assert_eq!(
        (entry.entry.actor.as_str(), entry.entry.action),
        ("operator:ops@concierge.example", AuditAction::OperatorLogin),
        "audited as the operator who signed in"
    );
    // A forged or tampered cookie is no session.
    let jar = p.cookies.clone();
    for (k, v) in &mut p.cookies {
        if k == "__Host-concierge_operator" {
            *v = v.replacen("b3Bz", "b3Bt", 1);
        }
    }
    assert_eq!(p.send("GET", "/manage", "").status, 303, "another email");
    p.cookies = jar;
    assert_eq!(p.send("GET", "/manage", "").status, 200);
}

#[test]
fn a_new_password_sign_out_everywhere_or_a_removed_account_ends_every_session() {
    let mut p = Panel::new();
    p.sign_in();
    let first_browser = std::mem::take(&mut p.cookies);
    p.h.clock.advance(concierge_core::time::Span::seconds(5));
    p.sign_in();
    let csrf = p.csrf();
    let out = p.send("POST", "/manage/logout-everywhere", &format!("csrf={csrf}"));
    assert_eq!(out.status, 303);
    assert_eq!(out.headers["location"], "/manage/login");
    assert_eq!(
        p.send("GET", "/manage", "").status,
        303,
        "this browser is out"
    );
    p.cookies = first_browser;
    assert_eq!(
        p.send("GET", "/manage", "").status,
        303,
        "so is the other one"
    );
    assert_eq!(p.audit_actions()[0], "operator.logout_everywhere");

    // A new password through the admin API ends the session made before it.
    p.sign_in();
    let body = format!(r#"{{"email":"{OPERATOR_EMAIL}","password":"a-brand-new-password"}}"#);
    let (status, answer) = p.json("PUT", "/operators", &body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["created"], false);
    assert_eq!(p.send("GET", "/manage", "").status, 303, "the old session");
    assert_eq!(p.log_in(OPERATOR_EMAIL, OPERATOR_PASSWORD).status, 401);
    assert_eq!(p.log_in(OPERATOR_EMAIL, "a-brand-new-password").status, 303);
    assert_eq!(p.send("GET", "/manage", "").status, 200);

    // Removing the account ends its sessions; removing it again is a 404.
    let gone = p.api(
        "DELETE",
        "/operators/ops%40concierge.example",
        "",
        Some(ADMIN),
    );
    assert_eq!(gone.status, 204, "{}", gone.body);
    assert_eq!(p.send("GET", "/manage", "").status, 303);
    let again = p.api(
        "DELETE",
        "/operators/ops@concierge.example",
        "",
        Some(ADMIN),
    );
    assert_eq!(again.status, 404);
    let actions = p.audit_actions();
    assert_eq!(actions[0], "operator.delete");
    assert!(actions.contains(&"operator.put".to_owned()), "{actions:?}");
}

#[test]
fn the_admin_api_creates_lists_and_refuses_bad_operator_accounts() {
    let mut p = Panel::new();
    let unauthorized = p.api("GET", "/operators", "", None);
    assert_eq!(unauthorized.status, 401);
    let before = p.audit_actions().len();
    for (body, field) in [
        (
            r#"{"email":"not-an-email","password":"long-enough-pw"}"#,
            "email",
        ),
        (
            r#"{"email":"new@concierge.example","password":"short"}"#,
            "password",
        ),
        (r#"{"email":"new@concierge.example"}"#, "password"),
    ] {
        let (status, answer) = p.json("PUT", "/operators", body);
        assert_eq!(status, 422, "{body}: {answer}");
        assert!(answer.to_string().contains(field), "{answer}");
    }
    let (status, _) = p.json("PUT", "/operators", r#"{"email":"x@y.z","role":"root"}"#);
    assert_eq!(status, 400, "unknown fields are refused");
    assert_eq!(p.audit_actions().len(), before, "nothing audited");
    let (status, list) = p.json("GET", "/operators", "");
    assert_eq!(status, 200);
    assert_eq!(
        list["operators"].as_array().unwrap().len(),
        1,
        "nothing saved"
    );

    let body = r#"{"email":"New@Concierge.Example","password":"long-enough-pw"}"#;
    let (status, answer) = p.json("PUT", "/operators", body);
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["operator"]["email"], "new@concierge.example");
    let (_, list) = p.json("GET", "/operators", "");
    let emails: Vec<&str> = list["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["new@concierge.example", OPERATOR_EMAIL]);
    assert!(
        !list.to_string().contains("argon2"),
        "no hash leaves the store"
    );
    assert_eq!(
        p.log_in("new@concierge.example", "long-enough-pw").status,
        303
    );
}

#[test]
fn failed_operator_logins_are_rate_limited_per_email() {
    let mut p = Panel::new();
    for _ in 0..5 {
        assert_eq!(p.log_in(OPERATOR_EMAIL, "wrong-password-x").status, 401);
    }
    let limited = p.log_in(OPERATOR_EMAIL, OPERATOR_PASSWORD);
    assert_eq!(limited.status, 429, "even the right password waits");
    assert!(limited.headers.contains_key("retry-after"));
    p.h.clock.advance(concierge_core::time::Span::minutes(16));
    assert_eq!(p.log_in(OPERATOR_EMAIL, OPERATOR_PASSWORD).status, 303);
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

#[test]
fn every_panel_action_is_in_the_audit_log_newest_first_and_escaped() {
    let mut p = Panel::new();
    p.sign_in();
    let csrf = p.csrf();
    p.send(
        "POST",
        "/manage/tenants/sunrise-bakery/persona",
        &format!("csrf={csrf}&action=reject"),
    );
    p.send(
        "POST",
        "/manage/tenants/sunrise-bakery/persona",
        &format!("csrf={csrf}&action=approve"),
    );
    let granted = p.send(
        "POST",
        "/manage/tenants/sunrise-bakery/credits",
        &format!("csrf={csrf}&amount=5&grant_id=%3Cscript%3Ealert(1)%3C%2Fscript%3E&reason=secret-reason"),
    );
    assert_eq!(granted.status, 303, "{}", granted.body);
    // A refused action records nothing.
    let refused = p.send(
        "POST",
        "/manage/tenants/sunrise-bakery/credits",
        &format!("csrf={csrf}&amount=lots"),
    );
    assert_eq!(refused.status, 422);
    assert_eq!(
        p.audit_actions(),
        [
            "credits.grant",
            "persona.approve",
            "persona.reject",
            "operator.login"
        ]
    );

    let panel = p.send("GET", "/manage", "");
    assert!(
        panel.body.contains(r#"href="/manage/audit""#),
        "linked from the panel"
    );
    assert!(panel.body.contains(r#"href="/manage/pricing""#));
    let page = p.send("GET", "/manage/audit", "");
    assert_eq!(page.status, 200);
    assert_eq!(
        Panel::page_actions(&page.body),
        [
            "credits.grant",
            "persona.approve",
            "persona.reject",
            "operator.login"
        ]
    );
    assert!(page
        .body
        .contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(!page.body.contains("<script>alert(1)"), "escaped");
    assert!(!page.body.contains("secret-reason"), "free text stays out");
    assert!(
        page.body.contains(r#"class="table-wrap""#),
        "scrolls inside at 375 px"
    );
    assert!(page.body.contains("sunrise-bakery"));

    p.send("POST", "/manage/logout", &format!("csrf={csrf}"));
    assert_eq!(p.audit_actions()[0], "operator.logout");
    assert_eq!(p.send("GET", "/manage/audit", "").status, 303, "signed out");
}

#[test]
fn the_audit_page_pages_and_filters_by_tenant() {
    let mut p = Panel::new();
    p.sign_in();
    let other = TenantId::parse("other-shop").unwrap();
    for i in 0..60 {
        let tenant = if i % 2 == 0 {
            Some(other.clone())
        } else {
            None
        };
        let entry = AuditEntry::new(
            p.h.clock.now(),
            "admin-api",
            AuditAction::PricingSet,
            tenant,
            &format!("entry {i}"),
        );
        block_on(p.h.store.append_audit(&entry)).unwrap();
    }
    let first = p.send("GET", "/manage/audit", "");
    assert_eq!(Panel::page_actions(&first.body).len(), 50);
    assert!(first.body.contains("entry 59"));
    assert!(!first.body.contains("entry 9<"));
    let older = first
        .body
        .split(r#"id="audit-older""#)
        .next()
        .unwrap()
        .rsplit("href=\"")
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let second = p.send("GET", &older, "");
    assert_eq!(second.status, 200);
    // 61 entries: the sign-in and 60 more; the second page holds the last 11.
    assert_eq!(Panel::page_actions(&second.body).len(), 11);
    assert!(second.body.contains("entry 0<"));
    assert!(second.body.contains(r#"id="audit-newest""#));
    assert!(!second.body.contains(r#"id="audit-older""#));

    let filtered = p.send("GET", "/manage/audit?tenant=other-shop", "");
    assert_eq!(Panel::page_actions(&filtered.body).len(), 30);
    assert!(
        !filtered.body.contains("entry 59"),
        "odd entries have no tenant"
    );
    let nobody = p.send("GET", "/manage/audit?tenant=sunrise-bakery", "");
    assert!(nobody.body.contains(r#"id="audit-empty""#));
    assert_eq!(
        p.send("GET", "/manage/audit?tenant=Not%20Valid", "").status,
        422
    );
}

#[test]
fn the_operator_prices_a_currency_and_the_next_ai_reply_is_charged_at_it() {
    let mut p = Panel::new();
    p.sign_in();
    let page = p.send("GET", "/manage/pricing", "");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(r#"id="price-INR""#),
        "defaults are listed"
    );
    assert!(page.body.contains(r#"id="price-new-form""#));
    let csrf = p.csrf();
    assert_eq!(
        p.send("POST", "/manage/pricing", "currency=INR&price=2")
            .status,
        403,
        "CSRF as every manage POST"
    );
    for (form, field) in [
        ("currency=rupees&price=2", "currency-error"),
        ("currency=INR&price=0", "price-error"),
        ("currency=INR&price=-1", "price-error"),
        ("currency=INR&price=abc", "price-error"),
        ("currency=INR&price=1.2345", "price-error"),
        ("currency=INR&price=2000000", "price-error"),
        ("currency=&price=", "currency-error"),
    ] {
        let bad = p.send("POST", "/manage/pricing", &format!("csrf={csrf}&{form}"));
        assert_eq!(bad.status, 422, "{form}");
        assert!(bad.body.contains(&format!(r#"id="{field}""#)), "{form}");
        assert!(bad.body.contains(r#"id="pricing-errors""#), "{form}");
    }
    assert!(
        block_on(p.h.store.stored_prices()).unwrap().is_empty(),
        "nothing saved"
    );
    assert!(!p.audit_actions().contains(&"pricing.set".to_owned()));

    p.h.says("tell me about your cakes").expect_charge("1");
    let saved = p.send(
        "POST",
        "/manage/pricing",
        &format!("csrf={csrf}&currency=inr&price=2.5"),
    );
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(saved.headers["location"], "/manage/pricing?done=priced");
    p.h.says("and the chocolate one?").expect_charge("2.5");
    let shown = p.send("GET", "/manage/pricing?done=priced", "");
    assert!(shown.body.contains(r#"id="manage-notice""#));
    assert!(shown.body.contains(r#"value="2.5""#));
    let entry = block_on(p.h.store.list_audit(&AuditQuery::latest(1)))
        .unwrap()
        .remove(0);
    assert_eq!(entry.entry.action, AuditAction::PricingSet);
    assert_eq!(entry.entry.actor, "operator:ops@concierge.example");
    assert_eq!(entry.entry.detail, "INR: 2.5 per AI reply (was 1)");

    // A currency without a default can be priced, and a business may then bill in it.
    let added = p.send(
        "POST",
        "/manage/pricing",
        &format!("csrf={csrf}&currency=GBP&price=0.05"),
    );
    assert_eq!(added.status, 303);
    let page = p.send("GET", "/manage/pricing", "");
    assert!(page.body.contains(r#"id="price-GBP""#));
    assert!(
        block_on(p.h.engine.ai_reply_price(&Currency::parse("GBP").unwrap()))
            .unwrap()
            .is_some()
    );
}

#[test]
fn the_admin_api_lists_the_audit_log_and_sets_prices_with_field_errors() {
    let mut p = Panel::new();
    for path in ["/audit", "/pricing"] {
        assert_eq!(p.api("GET", path, "", None).status, 401, "{path}");
        assert_eq!(p.api("GET", path, "", Some("wrong-token")).status, 401);
    }
    assert_eq!(
        p.api("PUT", "/pricing", r#"{"currency":"INR","price":"3"}"#, None)
            .status,
        401
    );
    assert!(block_on(p.h.store.stored_prices()).unwrap().is_empty());

    let (status, list) = p.json("GET", "/pricing", "");
    assert_eq!(status, 200);
    let inr = list["pricing"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["currency"] == "INR")
        .unwrap()
        .clone();
    assert_eq!(inr["per_ai_reply"], "1");
    assert_eq!(inr["default"], "1");
    assert_eq!(inr["updated_at"], serde_json::Value::Null);

    let (status, bad) = p.json("PUT", "/pricing", r#"{"currency":"inr","price":"0"}"#);
    assert_eq!(status, 422);
    let fields: Vec<&str> = bad["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["currency", "price"]);
    let (status, _) = p.json("PUT", "/pricing", r#"{"currency":"USD","price":-2}"#);
    assert_eq!(status, 422);
    let (status, _) = p.json("PUT", "/pricing", r#"{"currency":"USD","price":"2","x":1}"#);
    assert_eq!(status, 400, "unknown fields are refused");
    assert!(
        block_on(p.h.store.stored_prices()).unwrap().is_empty(),
        "nothing saved"
    );

    let (status, change) = p.json("PUT", "/pricing", r#"{"currency":"INR","price":"3"}"#);
    assert_eq!(status, 200, "{change}");
    assert_eq!(change["previous"], "1");
    assert_eq!(change["per_ai_reply"], "3");
    p.h.says("what cakes do you have?").expect_charge("3");

    // State-changing admin routes are recorded as `admin-api`; secrets never are.
    let token = "EAAG-very-secret-channel-token";
    let account = "wa_phone:106540352242922";
    let sealed = p.api(
        "PUT",
        &format!("/tenants/sunrise-bakery/secrets/{account}"),
        &format!(r#"{{"token":"{token}"}}"#),
        Some(ADMIN),
    );
    assert_eq!(sealed.status, 204);
    let (status, _) = p.json(
        "POST",
        "/tenants/sunrise-bakery/credits",
        r#"{"grant_id":"api-1","amount":"4"}"#,
    );
    assert_eq!(status, 200);
    let (status, _) = p.json(
        "POST",
        "/tenants/sunrise-bakery/credits",
        r#"{"grant_id":"api-1","amount":"4"}"#,
    );
    assert_eq!(
        status, 200,
        "a repeated grant changes nothing and records nothing"
    );
    let (status, _) = p.json(
        "PUT",
        "/tenants/sunrise-bakery/owners",
        r#"{"email":"owner@example.com","password":"a long enough passphrase 42"}"#,
    );
    assert_eq!(status, 201);
    let (status, _) = p.json(
        "PUT",
        "/tenants/sunrise-bakery/conversation",
        r#"{"idle_gap_mins": 300}"#,
    );
    assert_eq!(status, 200);
    let (status, log) = p.json("GET", "/audit", "");
    assert_eq!(status, 200);
    let text = log.to_string();
    assert!(!text.contains(token), "no token in the audit log");
    assert!(!text.contains("passphrase"), "no password in the audit log");
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "conversation.put",
            "owner.put",
            "credits.grant",
            "secret.put",
            "pricing.set"
        ]
    );
    assert!(log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor"] == "admin-api"));
    assert_eq!(
        log["entries"][3]["detail"],
        format!("token sealed for {account}")
    );
    assert_eq!(log["entries"][4]["tenant"], serde_json::Value::Null);
    assert_eq!(log["next_before"], serde_json::Value::Null, "one page");

    let (_, page) = p.json("GET", "/audit?tenant=sunrise-bakery&limit=2", "");
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    let next = page["next_before"].as_u64().unwrap();
    let (_, rest) = p.json(
        "GET",
        &format!("/audit?tenant=sunrise-bakery&limit=2&before={next}"),
        "",
    );
    let rest_actions: Vec<&str> = rest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(rest_actions, ["credits.grant", "secret.put"]);
    let (_, other) = p.json("GET", "/audit?tenant=other-shop", "");
    assert!(other["entries"].as_array().unwrap().is_empty());
    assert_eq!(p.json("GET", "/audit?tenant=Not%20Valid", "").0, 422);
    assert_eq!(p.json("GET", "/audit?limit=many", "").0, 422);
    assert_eq!(p.json("POST", "/audit", "").0, 405);
}
