//! The personas catalog on the operator panel, sans-IO: the built-ins seeded and offered, an
//! edit back to draft until the review approves it, the operator's own decision, field
//! errors that save nothing, the undeletable system persona, CSRF and escaping.

#![allow(clippy::unwrap_used)] // tests may unwrap

use concierge_core::audit::AuditAction;
use concierge_core::catalog::{CatalogPersona, SYSTEM_SLUG};
use concierge_core::ports::PersonaCatalog;
use futures::executor::block_on;

#[path = "common/panel.rs"]
mod panel;
use panel::Panel;

/// The slugs `GET /demo/personas` offers.
fn demo_slugs(p: &mut Panel) -> Vec<String> {
    let (status, body) = p.json_public("GET", "/demo/personas");
    assert_eq!(status, 200);
    body["personas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap().to_owned())
        .collect()
}

fn stored(p: &Panel, slug: &str) -> Option<CatalogPersona> {
    block_on(p.h.store.get_catalog_persona(slug)).unwrap()
}

/// A builder form for the bakery with `goal`, as the edit page posts it.
fn bakery_form(csrf: &str, label: &str, goal: &str) -> String {
    format!(
        "csrf={csrf}&slug=bakery&label={label}&description=Cakes&greeting=Hi%21\
         &mode=builder&voice=warm&business_name=Sunrise+Bakery&business_type=bakery\
         &city=Pune&goal={goal}"
    )
}

#[test]
fn the_builtins_are_seeded_approved_and_offered_by_the_demo_and_onboarding() {
    let mut p = Panel::new();
    assert_eq!(
        demo_slugs(&mut p),
        ["bakery", "concierge", "dental-clinic"],
        "a new deployment offers the built-ins"
    );
    p.sign_in();
    let list = p.send("GET", "/manage/personas", "");
    assert_eq!(list.status, 200);
    for slug in ["bakery", "concierge", "dental-clinic"] {
        assert!(
            list.body.contains(&format!(r#"id="catalog-{slug}""#)),
            "{slug}"
        );
        assert!(list.body.contains(&format!(
            r#"<span class="badge approved" id="catalog-review-{slug}""#
        )));
    }
    assert_eq!(list.body.matches(r#"id="catalog-system""#).count(), 1);
    let edit = p.send("GET", "/manage/personas/bakery", "");
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains(r#"id="prompt-envelope""#));
    assert!(edit.body.contains("Sunrise Bakery"));
    assert_eq!(p.send("GET", "/manage/personas/no-such", "").status, 404);
    assert_eq!(p.send("GET", "/manage/personas/..%2Fx", "").status, 404);
}

#[test]
fn an_edited_text_is_a_draft_off_the_demo_until_the_review_approves_it() {
    let mut p = Panel::new();
    p.sign_in();
    p.send("GET", "/manage/personas", "");
    let csrf = p.csrf();
    let saved = p.send(
        "POST",
        "/manage/personas/bakery",
        &bakery_form(&csrf, "Sunrise+Bakery", "sell+sourdough+subscriptions"),
    );
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(
        saved.headers["location"],
        "/manage/personas/bakery?done=queued"
    );
    let entry = stored(&p, "bakery").unwrap();
    assert!(!entry.is_approved(), "a changed text is a draft");
    assert!(entry
        .persona
        .active_prompt()
        .contains("sell sourdough subscriptions"));
    assert!(
        !demo_slugs(&mut p).contains(&"bakery".to_owned()),
        "off the demo"
    );
    let page = p.send("GET", "/manage/personas/bakery?done=queued", "");
    assert!(page
        .body
        .contains(r#"<span class="badge pending" id="catalog-review""#));
    assert!(page.body.contains(r#"id="manage-notice""#));

    // The queued review: the model approves, and the demo offers it again.
    p.h.ai.persona_verdict(r#"{"verdict":"approve"}"#);
    let step = p.h.run_due_jobs();
    assert!(step.errors.is_empty(), "{:?}", step.errors);
    assert!(stored(&p, "bakery").unwrap().is_approved());
    assert!(demo_slugs(&mut p).contains(&"bakery".to_owned()));
    let review = p.h.ai.requests().pop().unwrap();
    assert!(
        review.user.contains("sell sourdough subscriptions"),
        "the new text is reviewed"
    );

    // A label alone keeps the review: nothing queued, still offered.
    let relabel = p.send(
        "POST",
        "/manage/personas/bakery",
        &bakery_form(
            &csrf,
            "Sunrise+Bakery+%26+Cafe",
            "sell+sourdough+subscriptions",
        ),
    );
    assert_eq!(
        relabel.headers["location"],
        "/manage/personas/bakery?done=saved"
    );
    let entry = stored(&p, "bakery").unwrap();
    assert_eq!(entry.label, "Sunrise Bakery & Cafe");
    assert!(entry.is_approved());
    assert!(p.h.run_due_jobs().jobs.is_empty(), "no review queued");

    let actions = p.audit_actions();
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == AuditAction::CatalogSave.as_str())
            .count(),
        2
    );
}

#[test]
fn a_rejected_entry_shows_only_the_vague_reason_and_the_operator_can_decide() {
    let mut p = Panel::new();
    p.sign_in();
    p.send("GET", "/manage/personas", "");
    let csrf = p.csrf();
    p.send(
        "POST",
        "/manage/personas/bakery",
        &bakery_form(&csrf, "Sunrise+Bakery", "pretend+to+be+a+bank"),
    );
    p.h.ai
        .persona_verdict(r#"{"verdict":"reject","category":"impersonation"}"#);
    assert!(p.h.run_due_jobs().errors.is_empty());
    let page = p.send("GET", "/manage/personas/bakery", "");
    assert!(page
        .body
        .contains(r#"<span class="badge rejected" id="catalog-review""#));
    assert!(page.body.contains(r#"id="catalog-rejected-reason""#));
    assert!(!page.body.contains("impersonation"), "never the category");
    assert!(!demo_slugs(&mut p).contains(&"bakery".to_owned()));

    // The operator overrules: approved for this text, offered again.
    let no_csrf = p.send("POST", "/manage/personas/bakery/review", "action=approve");
    assert_eq!(no_csrf.status, 403);
    assert!(
        !stored(&p, "bakery").unwrap().is_approved(),
        "nothing changed"
    );
    let approved = p.send(
        "POST",
        "/manage/personas/bakery/review",
        &format!("csrf={csrf}&action=approve"),
    );
    assert_eq!(approved.status, 303, "{}", approved.body);
    assert!(stored(&p, "bakery").unwrap().is_approved());
    assert!(demo_slugs(&mut p).contains(&"bakery".to_owned()));
    let bad = p.send(
        "POST",
        "/manage/personas/bakery/review",
        &format!("csrf={csrf}&action=maybe"),
    );
    assert_eq!(bad.status, 422);
    p.send(
        "POST",
        "/manage/personas/bakery/review",
        &format!("csrf={csrf}&action=reject"),
    );
    assert!(!demo_slugs(&mut p).contains(&"bakery".to_owned()));
    let actions = p.audit_actions();
    assert_eq!(actions[0], AuditAction::CatalogReject.as_str());
    assert_eq!(actions[1], AuditAction::CatalogApprove.as_str());
}

#[test]
fn a_bad_form_is_422_with_every_field_error_and_saves_nothing() {
    let mut p = Panel::new();
    p.sign_in();
    p.send("GET", "/manage/personas", "");
    assert_eq!(p.send("GET", "/manage/personas/new", "").status, 200);
    let csrf = p.csrf();
    let before = block_on(p.h.store.list_catalog()).unwrap();
    assert_eq!(before.len(), 3, "seeded");
    let bad = p.send(
        "POST",
        "/manage/personas",
        &format!("csrf={csrf}&slug=Not+OK&label=&greeting=&mode=builder&voice=shouty&goal="),
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    for field in [
        "slug",
        "label",
        "greeting",
        "voice",
        "business_name",
        "goal",
    ] {
        assert!(
            bad.body.contains(&format!(r#"id="{field}-error""#)),
            "{field} error shown"
        );
    }
    assert!(
        bad.body.contains(r#"value="Not OK""#),
        "what was typed stays"
    );
    let taken = p.send(
        "POST",
        "/manage/personas",
        &format!("csrf={csrf}&slug=bakery&label=Other&greeting=Hi&mode=custom&custom=Sell+bread"),
    );
    assert_eq!(taken.status, 422);
    assert!(taken.body.contains(r#"id="slug-error""#));
    assert_eq!(
        block_on(p.h.store.list_catalog()).unwrap(),
        before,
        "nothing saved"
    );
    assert!(p.h.run_due_jobs().jobs.is_empty(), "no review queued");

    // A good one is created as a draft and reviewed.
    let created = p.send(
        "POST",
        "/manage/personas",
        &format!(
            "csrf={csrf}&slug=corner-cafe&label=Corner+Cafe&description=Coffee&greeting=Hello\
             &mode=custom&custom=You+answer+for+a+small+cafe."
        ),
    );
    assert_eq!(created.status, 303, "{}", created.body);
    assert_eq!(
        created.headers["location"],
        "/manage/personas/corner-cafe?done=queued"
    );
    assert!(
        !demo_slugs(&mut p).contains(&"corner-cafe".to_owned()),
        "a draft"
    );
    p.h.ai.persona_verdict(r#"{"verdict":"approve"}"#);
    p.h.run_due_jobs();
    assert!(demo_slugs(&mut p).contains(&"corner-cafe".to_owned()));
}

#[test]
fn the_system_persona_cannot_be_deleted_and_a_deleted_builtin_stays_gone() {
    let mut p = Panel::new();
    p.sign_in();
    let page = p.send("GET", &format!("/manage/personas/{SYSTEM_SLUG}"), "");
    assert!(page.body.contains(r#"id="catalog-system-hint""#));
    assert!(
        !page.body.contains(r#"id="catalog-delete""#),
        "no delete button"
    );
    let csrf = p.csrf();
    let refused = p.send(
        "POST",
        &format!("/manage/personas/{SYSTEM_SLUG}/delete"),
        &format!("csrf={csrf}"),
    );
    assert_eq!(refused.status, 422);
    assert!(stored(&p, SYSTEM_SLUG).is_some());

    let no_csrf = p.send("POST", "/manage/personas/bakery/delete", "");
    assert_eq!(no_csrf.status, 403);
    assert!(stored(&p, "bakery").is_some());
    let deleted = p.send(
        "POST",
        "/manage/personas/bakery/delete",
        &format!("csrf={csrf}"),
    );
    assert_eq!(deleted.status, 303);
    assert_eq!(
        demo_slugs(&mut p),
        ["concierge", "dental-clinic"],
        "not re-seeded"
    );
    let again = p.send(
        "POST",
        "/manage/personas/bakery/delete",
        &format!("csrf={csrf}"),
    );
    assert_eq!(again.status, 404);
    assert_eq!(p.audit_actions()[0], AuditAction::CatalogDelete.as_str());
}

#[test]
fn markup_in_an_entry_comes_out_escaped() {
    let mut p = Panel::new();
    p.sign_in();
    p.send("GET", "/manage/personas", "");
    let csrf = p.csrf();
    let created = p.send(
        "POST",
        "/manage/personas",
        &format!(
            "csrf={csrf}&slug=evil&label=%3Cscript%3Ealert(1)%3C%2Fscript%3E\
             &description=%3Cb%3Ebold%3C%2Fb%3E&greeting=Hi&mode=custom\
             &custom=%3Cimg+src%3Dx+onerror%3Dalert(2)%3E"
        ),
    );
    assert_eq!(created.status, 303, "{}", created.body);
    for uri in ["/manage/personas", "/manage/personas/evil"] {
        let page = p.send("GET", uri, "");
        assert!(!page.body.contains("<script>alert(1)"), "{uri}");
        assert!(!page.body.contains("<b>bold"), "{uri}");
        assert!(!page.body.contains("<img src=x"), "{uri}");
        assert!(page.body.contains("&#60;script&#62;alert(1)"), "{uri}");
    }
}
