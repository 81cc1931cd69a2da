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
                .any(|r| r.state == "sent")
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

on_both_databases!(an_email_is_answered_in_a_dry_run);
