//! The dashboard pages, sans-IO: a signed-in owner (a hand-made [`Viewer`]) against the
//! in-memory host. Login, sessions and CSRF have their own tests; these call the pages' router
//! directly, as `front::web` does once a request is authenticated.

#![allow(clippy::unwrap_used)] // tests may unwrap

use bytes::Bytes;
use futures::executor::block_on;

use crate::approval::sign_link_token;
use crate::front::{DemoLimiter, Front, FrontConfig};
use crate::i18n::UiLocale;
use crate::ids::Channel;
use crate::testing::{Harness, MemoryHost, EXAMPLE_TENANT};

use super::super::Viewer;

struct Page {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

fn viewer(h: &Harness) -> Viewer {
    Viewer {
        tenant: h.tenant_id().clone(),
        email: "owner@sunrise.example".into(),
        csrf: "csrf-token".into(),
        locale: UiLocale::EnIn,
        owner: "owner-1".into(),
        session: "session-hash".into(),
    }
}

fn call(h: &Harness, method: &str, path: &str, form: &str, htmx: bool) -> Page {
    call_on(
        h,
        &MemoryHost::new(h.engine.clone()),
        method,
        path,
        form,
        htmx,
    )
}

fn call_on(
    h: &Harness,
    host: &MemoryHost,
    method: &str,
    path: &str,
    form: &str,
    htmx: bool,
) -> Page {
    let config = FrontConfig::default();
    let demo = DemoLimiter::new(10);
    let front = Front::new(&h.engine, host, &config, &demo);
    let mut builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded");
    if htmx {
        builder = builder.header("hx-request", "true");
    }
    let req = builder.body(Bytes::from(form.to_owned())).unwrap();
    let uri_path = req.uri().path().to_owned();
    let segments: Vec<&str> = uri_path.trim_matches('/').split('/').collect();
    let response = block_on(async {
        match segments.as_slice() {
            ["approvals", tenant, draft, action] => {
                super::super::approval_link::serve(&front, &req, tenant, draft, action).await
            }
            ["dashboard", rest @ ..] => super::route(&front, &viewer(h), &req, rest).await,
            _ => panic!("not a dashboard path: {path}"),
        }
    })
    .unwrap_or_else(crate::front::ApiError::into_response);
    let (parts, body) = response.into_parts();
    Page {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn get(h: &Harness, path: &str) -> Page {
    call(h, "GET", path, "", false)
}

fn location(page: &Page) -> &str {
    page.headers["location"].to_str().unwrap()
}

#[test]
fn pages_carry_the_security_headers_and_the_csrf_token() {
    let h = Harness::new(EXAMPLE_TENANT);
    for path in [
        "/dashboard",
        "/dashboard/persona",
        "/dashboard/settings",
        "/dashboard/approvals",
        "/dashboard/rules/whatsapp",
    ] {
        let page = get(&h, path);
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert_eq!(page.headers["cache-control"], "no-store");
        assert!(
            page.body.contains(r#"name="csrf" value="csrf-token""#),
            "{path}: every page's forms carry the CSRF token"
        );
    }
    assert_eq!(get(&h, "/dashboard/nope").status, 404);
    assert_eq!(
        call(&h, "DELETE", "/dashboard/persona", "", false).status,
        405
    );
}

#[test]
fn timing_card_shows_defaults_and_saves_valid_values() {
    let h = Harness::new(EXAMPLE_TENANT);
    let page = get(&h, "/dashboard/settings");
    for (field, default) in [
        ("idle_gap_mins", 360),
        ("handoff_cooldown_mins", 60),
        ("max_history_messages", 20),
    ] {
        assert!(
            page.body.contains(&format!(r#"name="{field}" value="""#))
                && page.body.contains(&format!(r#"placeholder="{default}""#)),
            "{field}: empty, with the default as placeholder"
        );
    }
    let saved = call(
        &h,
        "PUT",
        "/dashboard/settings/conversation",
        "csrf=csrf-token&idle_gap_mins=120&handoff_cooldown_mins=&max_history_messages=40",
        true,
    );
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains(r#"id="timing-saved""#));
    assert!(
        saved.body.starts_with("<section"),
        "htmx gets the card only"
    );
    let conversation = h.tenant().conversation;
    assert_eq!(conversation.idle_gap_mins, Some(120));
    assert_eq!(
        conversation.handoff_cooldown_mins, None,
        "blank = the default"
    );
    assert_eq!(conversation.max_history_messages, Some(40));
}

#[test]
fn timing_card_shows_each_error_inline_and_saves_nothing() {
    let h = Harness::new(EXAMPLE_TENANT);
    let before = h.tenant();
    for (form, bad) in [
        // the idle gap must be longer than the cooldown
        (
            "idle_gap_mins=30&handoff_cooldown_mins=60",
            vec!["idle_gap_mins"],
        ),
        (
            "idle_gap_mins=4&max_history_messages=500",
            vec!["idle_gap_mins", "max_history_messages"],
        ),
        ("handoff_cooldown_mins=abc", vec!["handoff_cooldown_mins"]),
        ("max_history_messages=-1", vec!["max_history_messages"]),
    ] {
        let page = call(&h, "PUT", "/dashboard/settings/conversation", form, true);
        assert_eq!(page.status, 422, "{form}");
        for field in &bad {
            assert!(
                page.body.contains(&format!(r#"id="{field}-error""#)),
                "{form}: {field}"
            );
        }
        assert!(page.body.contains(r#"aria-invalid="true""#));
        assert_eq!(
            h.tenant().conversation,
            before.conversation,
            "{form}: nothing saved"
        );
        assert_eq!(h.tenant().revision, before.revision);
    }
    // What was typed stays in the field.
    let page = call(
        &h,
        "PUT",
        "/dashboard/settings/conversation",
        "idle_gap_mins=30",
        true,
    );
    assert!(page.body.contains(r#"name="idle_gap_mins" value="30""#));
    // Without JavaScript the whole page comes back, and a valid save redirects.
    let page = call(
        &h,
        "POST",
        "/dashboard/settings/conversation",
        "idle_gap_mins=30",
        false,
    );
    assert_eq!(page.status, 422);
    assert!(page.body.starts_with("<!doctype html>"));
    let page = call(
        &h,
        "POST",
        "/dashboard/settings/conversation",
        "idle_gap_mins=90",
        false,
    );
    assert_eq!(page.status, 303);
    assert_eq!(location(&page), "/dashboard/settings?saved=1");
}

#[test]
fn persona_page_shows_the_compact_envelope_a_small_model_gets() {
    let config = crate::engine::EngineConfig {
        compact_prompt: true,
        ..crate::engine::EngineConfig::default()
    };
    let mut h = Harness::with_ai(EXAMPLE_TENANT, crate::testing::ScriptedAi::new(), config);
    let page = get(&h, "/dashboard/persona");
    let envelope = h
        .tenant()
        .system_prompt_for(Channel::WhatsApp, None, None, true)
        .unwrap();
    assert!(envelope.starts_with(crate::prompt::compact::COMPACT_PREAMBLE));
    let escaped = askama::filters::escape(&envelope, askama::filters::Html)
        .unwrap()
        .to_string();
    assert!(page.body.contains(&escaped), "{}", page.body);
    // And the engine sends exactly that.
    h.ai.reply("Hello!");
    h.says("Hello there");
    assert_eq!(h.last_prompt().system, envelope);
}

#[test]
fn persona_page_shows_the_review_and_the_exact_envelope() {
    let mut h = Harness::new(EXAMPLE_TENANT);
    let page = get(&h, "/dashboard/persona");
    assert!(
        page.body.contains(r#"class="badge approved""#),
        "{}",
        page.body
    );
    let envelope = h.tenant().system_prompt(Channel::WhatsApp, None).unwrap();
    let escaped = askama::filters::escape(&envelope, askama::filters::Html)
        .unwrap()
        .to_string();
    assert!(
        page.body.contains(&escaped),
        "View prompt shows exactly what the model receives"
    );
    assert!(page
        .body
        .contains(r#"name="business_name" value="Sunrise Bakery""#));

    // A changed text goes to review: Pending until the review approves it.
    let saved = call(
        &h,
        "POST",
        "/dashboard/persona",
        "mode=custom&custom=You+are+Asha+of+Sunrise+Bakery.+Speak+briefly.",
        false,
    );
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(location(&saved), "/dashboard/persona?saved=1");
    let page = get(&h, "/dashboard/persona?saved=1");
    assert!(page.body.contains(r#"class="badge pending""#));
    assert!(page.body.contains(r#"id="persona-saved""#));
    assert!(page
        .body
        .contains("You are Asha of Sunrise Bakery. Speak briefly."));
    h.run_due_jobs();
    let page = get(&h, "/dashboard/persona");
    assert!(page.body.contains(r#"class="badge approved""#), "reviewed");
}

#[test]
fn persona_errors_save_nothing_and_output_is_escaped() {
    let h = Harness::new(EXAMPLE_TENANT);
    let before = h.tenant();
    let page = call(
        &h,
        "POST",
        "/dashboard/persona",
        "mode=builder&voice=warm&business_name=%3Cscript%3Ealert(1)%3C%2Fscript%3E&business_type=&goal=",
        false,
    );
    assert_eq!(page.status, 422);
    assert!(page.body.contains(r#"id="business_type-error""#));
    assert!(page.body.contains(r#"id="goal-error""#));
    assert!(
        !page.body.contains("<script>alert(1)"),
        "typed text is escaped"
    );
    assert!(
        page.body.contains("&#60;script&#62;alert(1)")
            || page.body.contains("&lt;script&gt;alert(1)")
    );
    assert_eq!(h.tenant().persona, before.persona, "nothing saved");
    let page = call(
        &h,
        "POST",
        "/dashboard/persona",
        "mode=custom&custom=+",
        false,
    );
    assert_eq!(page.status, 422);
    assert!(page.body.contains(r#"id="custom-error""#));
    let page = call(
        &h,
        "POST",
        "/dashboard/persona",
        "mode=builder&voice=shouty&business_name=a&business_type=b&goal=c",
        false,
    );
    assert_eq!(page.status, 422, "an unknown voice is refused");
    assert_eq!(h.tenant().persona, before.persona);
}

fn approval_harness() -> Harness {
    let toml = EXAMPLE_TENANT.replace(
        "[notifications]",
        "[approval]\nrequired = true\n\n[notifications]",
    );
    let h = Harness::new(&toml);
    h.ai.reply("Yes, we have eggless cakes!");
    h
}

#[test]
fn approvals_queue_decides_a_draft_once() {
    let mut h = approval_harness();
    let draft = h.says("Do you have eggless cakes?").expect_draft();
    let page = get(&h, "/dashboard/approvals");
    assert!(
        page.body.contains(&format!(r#"id="draft-{draft}""#)),
        "{}",
        page.body
    );
    assert!(page.body.contains("Yes, we have eggless cakes!"));
    let before = h.outbound.sent().len();
    let decided = call(
        &h,
        "POST",
        &format!("/dashboard/approvals/{draft}"),
        "action=approve",
        false,
    );
    assert_eq!(decided.status, 303);
    assert_eq!(location(&decided), "/dashboard/approvals?done=sent");
    let sent = h.outbound.sent();
    assert_eq!(sent.len(), before + 1, "sent once");
    let again = call(
        &h,
        "POST",
        &format!("/dashboard/approvals/{draft}"),
        "action=approve",
        false,
    );
    assert_eq!(location(&again), "/dashboard/approvals?done=not-found");
    assert_eq!(h.outbound.sent().len(), before + 1, "never twice");
    let page = get(&h, "/dashboard/approvals?done=sent");
    assert!(page.body.contains(r#"id="approvals-empty""#));
    assert!(page.body.contains(r#"id="approval-outcome""#));
    assert_eq!(
        call(
            &h,
            "POST",
            &format!("/dashboard/approvals/{draft}"),
            "action=shout",
            false
        )
        .status,
        422
    );
}

#[test]
fn an_edited_draft_sends_the_edit_and_an_empty_edit_is_refused() {
    let mut h = approval_harness();
    let draft = h.says("Do you have eggless cakes?").expect_draft();
    let empty = call(
        &h,
        "POST",
        &format!("/dashboard/approvals/{draft}"),
        "action=edit&text=+",
        false,
    );
    assert_eq!(empty.status, 422);
    assert!(
        get(&h, "/dashboard/approvals")
            .body
            .contains(&format!("draft-{draft}")),
        "kept"
    );
    let edited = call(
        &h,
        "POST",
        &format!("/dashboard/approvals/{draft}"),
        "action=edit&text=Yes%2C+three+kinds.",
        false,
    );
    assert_eq!(location(&edited), "/dashboard/approvals?done=sent");
    assert!(h
        .outbound
        .sent()
        .iter()
        .any(|m| format!("{:?}", m.body).contains("Yes, three kinds.")));
}

#[test]
fn a_signed_link_confirms_on_get_and_decides_on_post_once() {
    let mut h = approval_harness();
    let draft = h.says("Do you have eggless cakes?").expect_draft();
    let tenant = h.tenant_id().clone();
    let expires = h.engine.clock().now() + crate::time::Span::hours(24);
    let token = sign_link_token(&h.engine.config().signing_key, &draft, "approve", expires);
    let path = format!("/approvals/{tenant}/{draft}/approve?token={token}");
    let before = h.outbound.sent().len();
    for _ in 0..3 {
        let page = get(&h, &path);
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(r#"id="approval-link-confirm""#));
    }
    assert_eq!(
        h.outbound.sent().len(),
        before,
        "a GET (a mail scanner) decides nothing"
    );
    let page = call(&h, "POST", &path, "", false);
    assert_eq!(page.status, 200);
    assert_eq!(h.outbound.sent().len(), before + 1);
    let page = call(&h, "POST", &path, "", false);
    assert_eq!(page.status, 200);
    assert_eq!(h.outbound.sent().len(), before + 1, "decided once");
    // The token names one draft and one action.
    let forged = format!("/approvals/{tenant}/{draft}/reject?token={token}");
    assert_eq!(call(&h, "POST", &forged, "", false).status, 403);
    assert_eq!(
        get(
            &h,
            &format!("/approvals/{tenant}/{draft}/approve?token=1.ab")
        )
        .status,
        403
    );
}

#[test]
fn rules_rows_move_without_saving_and_save_all_or_nothing() {
    let h = Harness::new(EXAMPLE_TENANT);
    let index = get(&h, "/dashboard/rules");
    assert_eq!(location(&index), "/dashboard/rules/whatsapp");
    let page = get(&h, "/dashboard/rules/whatsapp");
    assert!(page.body.contains(r#"name="rule-0-name" value="hours""#));
    let before = h.tenant();
    let base = "rows=1&rule-0-name=hours&rule-0-matcher=keywords&rule-0-keywords=hours%2C+open\
                &rule-0-reply=canned&rule-0-text=We+are+open&default_reply=prompt&default_text=Answer+briefly.\
                &enabled=1&wait_seconds=0";
    let added = call(
        &h,
        "POST",
        "/dashboard/rules/whatsapp",
        &format!("{base}&action=add"),
        false,
    );
    assert_eq!(added.status, 200);
    assert!(added.body.contains(r#"id="rule-1""#) && added.body.contains(r#"id="rules-unsaved""#));
    assert_eq!(
        h.tenant().channels,
        before.channels,
        "a row action saves nothing"
    );
    // The new row left empty: every error inline, nothing saved.
    let two = format!("{base}&rows=2&rule-1-name=&rule-1-matcher=keywords&rule-1-keywords=&rule-1-reply=canned&rule-1-text=");
    let refused = call(
        &h,
        "POST",
        "/dashboard/rules/whatsapp",
        &format!("{}&action=save", two.replacen("rows=1&", "", 1)),
        false,
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    for field in ["rule-1-name", "rule-1-keywords", "rule-1-text"] {
        assert!(
            refused.body.contains(&format!(r#"id="{field}""#)),
            "{field}"
        );
    }
    assert!(refused.body.contains("must not be empty"));
    assert_eq!(h.tenant().channels, before.channels, "nothing saved");
    // A valid second rule, moved to the top, saved.
    let valid = "rows=2&rule-0-name=hours&rule-0-matcher=keywords&rule-0-keywords=hours\
                 &rule-0-reply=canned&rule-0-text=We+are+open&rule-1-name=cakes&rule-1-matcher=keywords\
                 &rule-1-keywords=cake&rule-1-reply=prompt&rule-1-text=Talk+about+cakes\
                 &default_reply=prompt&default_text=Answer+briefly.&enabled=1&wait_seconds=3";
    let moved = call(
        &h,
        "POST",
        "/dashboard/rules/whatsapp",
        &format!("{valid}&action=up-1"),
        false,
    );
    let first = moved.body.find(r#"value="cakes""#).unwrap();
    let second = moved.body.find(r#"value="hours""#).unwrap();
    assert!(first < second, "moved up");
    let saved = call(
        &h,
        "POST",
        "/dashboard/rules/whatsapp",
        &format!("{valid}&action=save"),
        false,
    );
    assert_eq!(saved.status, 303, "{}", saved.body);
    let replies = h
        .tenant()
        .channels
        .replies(Channel::WhatsApp)
        .cloned()
        .unwrap();
    assert_eq!(replies.rules.len(), 2);
    assert_eq!(replies.wait_seconds, 3);
    assert_eq!(
        get(&h, "/dashboard/rules/discord").status,
        404,
        "not connected"
    );
}

#[test]
fn rule_names_are_escaped() {
    let h = Harness::new(EXAMPLE_TENANT);
    let form = "rows=1&rule-0-name=%3Cscript%3Ex%3C%2Fscript%3E&rule-0-matcher=keywords&rule-0-keywords=a\
                &rule-0-reply=canned&rule-0-text=b&default_reply=prompt&default_text=&enabled=1&action=add";
    let page = call(&h, "POST", "/dashboard/rules/whatsapp", form, false);
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("<script>x"));
}

#[test]
fn channels_connect_with_a_sealed_token_and_refuse_bad_accounts() {
    let h = Harness::new(EXAMPLE_TENANT);
    let host = MemoryHost::new(h.engine.clone());
    let page = get(&h, "/dashboard/channels");
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains(r#"name="phone_number_id" value="106540352242922""#));
    // A new number and its token: routed at once, the token sealed by the host, never shown.
    let saved = call_on(
        &h,
        &host,
        "POST",
        "/dashboard/channels/whatsapp",
        "action=save&phone_number_id=555000111&token=EAAG-secret-token",
        false,
    );
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(location(&saved), "/dashboard/channels?saved=whatsapp");
    let tenant = h.tenant();
    assert_eq!(
        tenant.channels.whatsapp.as_ref().unwrap().phone_number_id,
        "555000111"
    );
    assert!(
        !tenant
            .channels
            .whatsapp
            .as_ref()
            .unwrap()
            .replies
            .rules
            .is_empty(),
        "rules kept"
    );
    let routed = block_on(h.engine.store().find_tenant(
        &crate::ids::ChannelAccount::WhatsAppPhone("555000111".into()),
    ))
    .unwrap();
    assert_eq!(routed.as_ref(), Some(h.tenant_id()));
    assert_eq!(
        host.secret("sunrise-bakery", "wa_phone:555000111")
            .as_deref(),
        Some("EAAG-secret-token")
    );
    assert!(
        !get(&h, "/dashboard/channels")
            .body
            .contains("EAAG-secret-token"),
        "never shown again"
    );

    let before = h.tenant();
    for form in [
        "action=save&phone_number_id=5550+00111",
        "action=save&phone_number_id=",
        "action=save&phone_number_id=1&token=has+space",
    ] {
        let page = call_on(
            &h,
            &host,
            "POST",
            "/dashboard/channels/whatsapp",
            form,
            false,
        );
        assert_eq!(page.status, 422, "{form}");
        assert!(page.body.contains(r#"id="channels-errors""#));
        assert_eq!(
            h.tenant().channels,
            before.channels,
            "{form}: nothing saved"
        );
    }
    let page = call_on(
        &h,
        &host,
        "POST",
        "/dashboard/channels/email",
        "action=save&domains=sunrise.cncg.email&rules=%5B%5Brules",
        false,
    );
    assert_eq!(page.status, 422, "broken TOML");
    let page = call_on(
        &h,
        &host,
        "POST",
        "/dashboard/channels/email",
        "action=save&domains=not+a+domain",
        false,
    );
    assert_eq!(page.status, 422);
    assert_eq!(h.tenant().channels, before.channels);
    let ok = call_on(&h, &host, "POST", "/dashboard/channels/email",
        "action=save&domains=Sunrise.cncg.email&rules=%5B%5Brules.%22sunrise.cncg.email%22%5D%5D%0Aname+%3D+%22spam%22%0Amatch+%3D+%7B+subject+%3D+%22*lottery*%22+%7D%0Aaction+%3D+%22drop%22", false);
    assert_eq!(ok.status, 303, "{}", ok.body);
    let email = h.tenant().channels.email.unwrap();
    assert_eq!(email.domains, vec!["sunrise.cncg.email"]);
    assert_eq!(email.rules["sunrise.cncg.email"].len(), 1);
    let off = call_on(
        &h,
        &host,
        "POST",
        "/dashboard/channels/email",
        "action=disconnect",
        false,
    );
    assert_eq!(off.status, 303);
    assert!(h.tenant().channels.email.is_none());
}

#[test]
fn the_wizard_walks_business_persona_channels_timing_and_resumes() {
    let h = Harness::new(EXAMPLE_TENANT);
    assert_eq!(
        location(&get(&h, "/dashboard/welcome")),
        "/dashboard",
        "not onboarding"
    );
    block_on(
        h.engine
            .set_onboarding(h.tenant_id(), Some(crate::tenant::OnboardingStep::Business)),
    )
    .unwrap();
    assert!(get(&h, "/dashboard")
        .body
        .contains(r#"id="continue-setup""#));
    let page = get(&h, "/dashboard/welcome");
    assert!(page.body.contains(r#"id="welcome-business""#));
    // Bad input: every error, nothing saved, the wizard stays.
    let before = h.tenant();
    let bad = call(
        &h,
        "POST",
        "/dashboard/welcome",
        "step=business&action=next&name=&locale=xx&currency=GBP",
        false,
    );
    assert_eq!(bad.status, 422);
    for id in ["name-error", "locale-error", "currency-error"] {
        assert!(bad.body.contains(&format!(r#"id="{id}""#)), "{id}");
    }
    assert_eq!(h.tenant(), before);
    let ok = call(
        &h,
        "POST",
        "/dashboard/welcome",
        "step=business&action=next&name=Rise+%26+Shine&locale=hi-IN&currency=INR",
        false,
    );
    assert_eq!(location(&ok), "/dashboard/welcome");
    let tenant = h.tenant();
    assert_eq!(tenant.name, "Rise & Shine");
    assert_eq!(tenant.locale.as_str(), "hi-IN");
    assert_eq!(
        tenant.onboarding,
        Some(crate::tenant::OnboardingStep::Persona)
    );
    // A stale form for a finished step does not move the wizard.
    call(
        &h,
        "POST",
        "/dashboard/welcome",
        "step=business&action=skip",
        false,
    );
    assert_eq!(
        h.tenant().onboarding,
        Some(crate::tenant::OnboardingStep::Persona)
    );
    // An archetype, renamed for this business, goes to review.
    let page = get(&h, "/dashboard/welcome");
    assert!(page.body.contains(r#"value="bakery""#), "{}", page.body);
    call(
        &h,
        "POST",
        "/dashboard/welcome",
        "step=persona&action=next&archetype=bakery",
        false,
    );
    let tenant = h.tenant();
    assert!(tenant.persona.active_prompt().contains("Rise & Shine"));
    assert!(!tenant.persona.cleared_for_ai(), "pending review");
    call(
        &h,
        "POST",
        "/dashboard/welcome",
        "step=channels&action=skip",
        false,
    );
    let done = call(
        &h,
        "POST",
        "/dashboard/welcome",
        "step=timing&action=next",
        false,
    );
    assert_eq!(location(&done), "/dashboard");
    assert_eq!(h.tenant().onboarding, None);
}
