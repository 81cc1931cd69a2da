//! `/email/inbound` with a dry run of the reply.

use crate::admin::SHOP;
use crate::helpers::{eventually, on_both_databases, spawn_app_with, Db, EMAIL_SECRET};

const MAIL: &str = "From: Jane <jane@example.org>\r\nTo: hello@shop.example.com\r\nSubject: Opening hours\r\nMessage-ID: <m1@example.org>\r\nDate: Thu, 13 Nov 2025 10:00:00 +0000\r\n\r\nWhen are you open?\r\n";

async fn an_email_is_answered_in_a_dry_run(db: Db) {
    let Some(app) = spawn_app_with(db, |c| c.set("CONCIERGE_DRY_RUN", "1")).await else {
        return;
    };
    assert_eq!(app.import_tenant(SHOP).await.status(), 200);
    let url = format!("{}/email/inbound?to=hello@shop.example.com", app.address);
    let unauthenticated = app.client.post(&url).body(MAIL).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let wrong = app
        .client
        .post(&url)
        .bearer_auth("nope")
        .body(MAIL)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let no_recipient = app
        .client
        .post(format!("{}/email/inbound", app.address))
        .bearer_auth(EMAIL_SECRET)
        .body(MAIL)
        .send()
        .await
        .unwrap();
    assert_eq!(no_recipient.status(), 400);
    let malformed = app
        .client
        .post(&url)
        .bearer_auth(EMAIL_SECRET)
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert!(app
        .store
        .outbox_rows("guild-shop")
        .await
        .unwrap()
        .is_empty());

    for _ in 0..2 {
        let ok = app
            .client
            .post(&url)
            .bearer_auth(EMAIL_SECRET)
            .body(MAIL)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 202);
    }
    assert!(
        eventually(10, || async {
            app.store
                .outbox_rows("guild-shop")
                .await
                .unwrap()
                .iter()
                .any(|r| r.state == concierge_core::delivery::OutboxState::Sent)
        })
        .await
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let rows = app.store.outbox_rows("guild-shop").await.unwrap();
    assert_eq!(rows.len(), 1, "one reply for a redelivered email");
    assert!(rows[0].dry_run);
    assert!(rows[0].payload.contains("Thanks for your email"));
    app.stop().await;
}

const AI_MAIL_TENANT: &str = r#"
id = "mail-shop"
name = "Mail Shop"
currency = "INR"
starting_credits = "10"
persona.custom = "You are the assistant of Mail Shop, a cake shop."

[channels.email]
domains = ["mail.example.com"]

[channels.email.replies]
default_rule = { kind = "prompt", text = "Answer briefly." }
"#;

const AI_MAIL: &str = "From: Jane <jane@example.org>\r\nTo: hello@mail.example.com\r\nSubject: Cakes\r\nMessage-ID: <m2@example.org>\r\nDate: Thu, 13 Nov 2025 10:00:00 +0000\r\n\r\nHow much is a cake?\r\n";

/// An email job that fails (the model is down) is retried and then answered: the retry must
/// not take its own email for a duplicate.
async fn a_retried_email_job_still_answers(db: Db) {
    use concierge_core::ports::TenantStore;
    let Some(app) = spawn_app_with(db, |c| {
        c.set("CONCIERGE_DRY_RUN", "1");
        c.set("CONCIERGE_RETRY_BASE_MS", "50");
    })
    .await
    else {
        return;
    };
    assert_eq!(app.import_tenant(AI_MAIL_TENANT).await.status(), 200);
    let id = concierge_core::TenantId::parse("mail-shop").unwrap();
    assert!(
        eventually(10, || async {
            app.store
                .get_tenant(&id)
                .await
                .unwrap()
                .is_some_and(|t| t.persona.cleared_for_ai())
        })
        .await,
        "the persona review approves"
    );
    let before = app.openai.requests().len();
    app.openai.fail_next(2, 500);
    let ok = app
        .client
        .post(format!(
            "{}/email/inbound?to=hello@mail.example.com",
            app.address
        ))
        .bearer_auth(EMAIL_SECRET)
        .body(AI_MAIL)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 202);
    assert!(
        eventually(15, || async {
            app.store
                .outbox_rows("mail-shop")
                .await
                .unwrap()
                .iter()
                .any(|r| r.state == concierge_core::delivery::OutboxState::Sent)
        })
        .await,
        "answered after the retry"
    );
    assert!(
        app.openai.requests().len() >= before + 3,
        "the model failed, then answered"
    );
    let rows = app.store.outbox_rows("mail-shop").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].payload.contains("A 1 kg cake starts at"));
    app.stop().await;
}

/// The 190-byte repro that tripped mail-parser's `debug_assert!` and dropped the connection: a
/// clear 400 and nothing queued; the same structure with a sender is accepted and answered.
async fn a_mail_with_nested_rfc822_parts_and_no_boundary_is_an_answer(db: Db) {
    let Some(app) = spawn_app_with(db, |c| c.set("CONCIERGE_DRY_RUN", "1")).await else {
        return;
    };
    assert_eq!(app.import_tenant(SHOP).await.status(), 200);
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../concierge-core/tests/fixtures/email/nested_rfc822_no_boundary.eml"
    ))
    .unwrap();
    let url = format!("{}/email/inbound?to=hello@shop.example.com", app.address);
    for _ in 0..2 {
        let r = app
            .client
            .post(&url)
            .bearer_auth(EMAIL_SECRET)
            .body(raw.clone())
            .send()
            .await
            .expect("an HTTP answer, not a dropped connection");
        assert_eq!(r.status(), 400);
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("no sender address"),
            "{body}"
        );
    }
    let email_jobs = app.store.job_counts().await.unwrap();
    assert!(
        email_jobs.iter().all(|(kind, _, _)| kind != "email"),
        "nothing queued: {email_jobs:?}"
    );

    let mut with_sender =
        b"From: Asha <asha@example.in>\r\nTo: hello@shop.example.com\r\nSubject: Hello\r\n"
            .to_vec();
    with_sender.extend_from_slice(&raw);
    let r = app
        .client
        .post(&url)
        .bearer_auth(EMAIL_SECRET)
        .body(with_sender)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(
        eventually(10, || async {
            app.store
                .outbox_rows("guild-shop")
                .await
                .unwrap()
                .iter()
                .any(|r| {
                    r.state == concierge_core::delivery::OutboxState::Sent
                        && r.payload.contains("asha@example.in")
                })
        })
        .await,
        "the mail is processed and answered"
    );
    app.stop().await;
}

on_both_databases!(
    an_email_is_answered_in_a_dry_run,
    a_retried_email_job_still_answers,
    a_mail_with_nested_rfc822_parts_and_no_boundary_is_an_answer
);
