//! `/email/inbound` with a dry run of the reply.

use base64::Engine as _;
use concierge_core::safety::{INJECTION_CLASSIFIER_PROMPT, PERSONA_CLASSIFIER_PROMPT};
use concierge_server::store::JobKind;

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

/// [`AI_MAIL_TENANT`] with a reply buffer of `wait` seconds.
fn buffered_mail_tenant(wait: u32) -> String {
    format!("{AI_MAIL_TENANT}wait_seconds = {wait}\n")
}

/// A mail to `to` from `from`, with this Message-ID and body.
fn mail(from: &str, to: &str, id: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Cakes\r\nMessage-ID: <{id}>\r\n\
         Date: Thu, 13 Nov 2025 10:00:00 +0000\r\n\r\n{body}\r\n"
    )
}

async fn post_mail(app: &crate::helpers::TestApp, to: &str, raw: String) {
    let r = app
        .client
        .post(format!("{}/email/inbound?to={to}", app.address))
        .bearer_auth(EMAIL_SECRET)
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

fn mail_shop_key(sender: &str) -> concierge_core::ids::ConversationKey {
    concierge_core::ids::ConversationKey::new(
        concierge_core::TenantId::parse("mail-shop").unwrap(),
        concierge_core::ids::Channel::Email,
        sender,
    )
}

fn now() -> concierge_core::Timestamp {
    concierge_core::Timestamp::from_millis(concierge_server::clock::now_millis())
}

/// An email job is serialized on the conversation the engine keys that mail's session and
/// reply-buffer flush with (and carries its tenant): a second mail from the same sender is not
/// claimable while the first runs. Alias mail is keyed per tenant and sender; mail for a domain
/// no tenant owns gets an `unrouted:` key.
async fn email_jobs_are_serialized_with_their_conversation(db: Db) {
    // No workers: the test claims the jobs itself.
    let Some(app) = spawn_app_with(db, |c| {
        c.set("CONCIERGE_DRY_RUN", "1");
        c.set("CONCIERGE_WORKERS", "0");
    })
    .await
    else {
        return;
    };
    assert_eq!(
        app.import_tenant(&buffered_mail_tenant(300)).await.status(),
        200
    );
    let jane = "Jane <jane@example.org>";
    let shop = "hello@mail.example.com";
    let alias =
        concierge_core::email::reverse_alias_for("asha@example.in", "mail.example.com", b"k");
    post_mail(
        &app,
        shop,
        mail(jane, shop, "s1@example.org", "Do you have cakes?"),
    )
    .await;
    post_mail(
        &app,
        shop,
        mail(jane, shop, "s2@example.org", "Chocolate ones?"),
    )
    .await;
    post_mail(
        &app,
        &alias,
        mail(
            "owner@mail-owner.example",
            &alias,
            "s3@example.org",
            "Yes we do.",
        ),
    )
    .await;
    post_mail(
        &app,
        "hello@nowhere.example",
        mail(jane, "hello@nowhere.example", "s4@example.org", "Hello?"),
    )
    .await;

    // Every job a worker could take now, by recipient and Message-ID.
    let mut claimed = std::collections::HashMap::new();
    while let Some(job) = app.store.claim_job("probe", now()).await.unwrap() {
        if job.kind == JobKind::Email {
            let payload: serde_json::Value = serde_json::from_str(&job.payload).unwrap();
            let raw = base64::engine::general_purpose::STANDARD
                .decode(payload["raw_b64"].as_str().unwrap())
                .unwrap();
            let id = concierge_core::channels::email::parse_email(&raw)
                .unwrap()
                .idempotency_id();
            claimed.insert(id, job);
        }
    }
    let jane_key = mail_shop_key("jane@example.org").storage_key();
    let first = &claimed["s1@example.org"];
    assert_eq!(first.conversation.as_deref(), Some(jane_key.as_str()));
    assert_eq!(first.tenant.as_deref(), Some("mail-shop"));
    assert!(
        !claimed.contains_key("s2@example.org"),
        "the sender's second mail waits for the first"
    );
    let relay = &claimed["s3@example.org"];
    assert_eq!(
        relay.conversation.as_deref(),
        Some(
            mail_shop_key("owner@mail-owner.example")
                .storage_key()
                .as_str()
        )
    );
    assert_eq!(relay.tenant.as_deref(), Some("mail-shop"));
    let unrouted = &claimed["s4@example.org"];
    assert_eq!(
        unrouted.conversation.as_deref(),
        Some("unrouted:email_domain:nowhere.example:jane@example.org")
    );
    assert_eq!(unrouted.tenant, None);
    let released = app.store.release_leases("probe", now()).await.unwrap();
    assert!(released >= claimed.len() as u64);

    // Run them: both of Jane's mails wait in the buffer, and the flush the engine schedules
    // for them is serialized on the same conversation as her email jobs.
    let app = app.restart(|c| c.set("CONCIERGE_DRY_RUN", "1")).await;
    let key = mail_shop_key("jane@example.org");
    assert!(
        eventually(15, || async {
            use concierge_core::ports::SessionStore;
            app.store
                .load_session(&key)
                .await
                .unwrap()
                .is_some_and(|s| s.buffer().pending.len() == 2)
        })
        .await,
        "both mails buffered"
    );
    // Every email job finished (a job saves the session before it schedules the flush and
    // completes), so nothing of Jane's conversation runs when the probe claims its flush.
    assert!(
        eventually(15, || async {
            let counts = app.store.job_counts().await.unwrap();
            counts
                .iter()
                .filter(|(kind, _, _)| kind == "email")
                .all(|(_, state, _)| state == "done")
        })
        .await,
        "the email jobs finished"
    );
    let later = now() + concierge_core::time::Span::seconds(301);
    let mut flush = None;
    while let Some(job) = app.store.claim_job("probe", later).await.unwrap() {
        let is_flush = job.kind == JobKind::Engine
            && matches!(
                serde_json::from_str(&job.payload),
                Ok(concierge_core::ports::Job::FlushBuffer { .. })
            );
        if is_flush {
            flush = Some(job);
            break;
        }
    }
    let flush = flush.expect("the buffer's flush job");
    assert_eq!(flush.conversation.as_deref(), Some(jane_key.as_str()));
    app.store.release_leases("probe", now()).await.unwrap();
    app.stop().await;
}

/// A mail that arrives while its conversation's reply-buffer flush is waiting for the model
/// runs after that flush, not beside it. Beside it, the mail's job would load the session the
/// flush has not saved yet, answer that batch again (deduplicated by its turn key) and buffer
/// itself, and then the flush's save would overwrite it: the second mail never answered.
/// Serialized, both bursts get one reply each and both exchanges are in the history.
async fn a_mail_during_its_conversations_flush_is_not_lost(db: Db) {
    use concierge_core::ports::{SessionStore, TenantStore};
    let Some(app) = spawn_app_with(db, |c| c.set("CONCIERGE_DRY_RUN", "1")).await else {
        return;
    };
    assert_eq!(
        app.import_tenant(&buffered_mail_tenant(1)).await.status(),
        200
    );
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
    let jane = "Jane <jane@example.org>";
    let shop = "hello@mail.example.com";
    let key = mail_shop_key("jane@example.org");
    // The model holds its next two answers for 3 s: the first mail's injection scan, then the
    // reply its flush asks for. The second mail arrives while that reply is held.
    app.openai.delay_next(2, 3_000);
    post_mail(
        &app,
        shop,
        mail(jane, shop, "f1@example.org", "Do you have cakes?"),
    )
    .await;
    let asked_for_a_reply = || {
        app.openai.requests().iter().any(|r| {
            let system = r.body["messages"][0]["content"].as_str().unwrap_or("");
            system != INJECTION_CLASSIFIER_PROMPT && system != PERSONA_CLASSIFIER_PROMPT
        })
    };
    assert!(
        eventually(15, || async { asked_for_a_reply() }).await,
        "the flush asked the model for the reply"
    );
    post_mail(
        &app,
        shop,
        mail(jane, shop, "f2@example.org", "Chocolate ones?"),
    )
    .await;

    let answered = |s: &concierge_core::conversation::Session| {
        let texts: Vec<&str> = s.history().iter().map(|t| t.content.as_str()).collect();
        texts.iter().any(|t| t.contains("Do you have cakes?"))
            && texts.iter().any(|t| t.contains("Chocolate ones?"))
            && s.history().len() == 4
            && s.buffer().is_empty()
    };
    let done = eventually(30, || async {
        app.store
            .load_session(&key)
            .await
            .unwrap()
            .is_some_and(|s| answered(&s))
    })
    .await;
    let session = app.store.load_session(&key).await.unwrap().unwrap();
    assert!(
        done,
        "both exchanges in the history: {:?}",
        session.history()
    );
    let sent = app.store.outbox_rows("mail-shop").await.unwrap();
    assert_eq!(sent.len(), 2, "one reply per burst: {sent:?}");
    app.stop().await;
}

on_both_databases!(
    an_email_is_answered_in_a_dry_run,
    a_retried_email_job_still_answers,
    a_mail_with_nested_rfc822_parts_and_no_boundary_is_an_answer,
    email_jobs_are_serialized_with_their_conversation,
    a_mail_during_its_conversations_flush_is_not_lost
);
