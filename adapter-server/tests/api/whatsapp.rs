//! `/webhook/whatsapp` against a fake Graph API.

use serde_json::json;

use crate::helpers::{
    eventually, now_secs, on_both_databases, spawn_app, Db, TestApp, ADMIN_TOKEN, META_VERIFY_TOKEN,
};

pub const BAKERY: &str = r#"
id = "wa-bakery"
name = "WA Bakery"
currency = "INR"
starting_credits = "10"
persona.custom = "You are the assistant of WA Bakery."

[channels.whatsapp]
phone_number_id = "106540352242922"

[channels.whatsapp.replies]
default_rule = { kind = "canned", text = "We're open 7am to 8pm every day." }
"#;

/// A WhatsApp Cloud API webhook delivery with one text message, as Meta documents it.
pub fn text_delivery(wamid: &str, from: &str, text: &str) -> Vec<u8> {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": { "display_phone_number": "15550783881", "phone_number_id": "106540352242922" },
                    "contacts": [{ "profile": { "name": "Sheena Nelson" }, "wa_id": from }],
                    "messages": [{
                        "from": from,
                        "id": wamid,
                        "timestamp": now_secs().to_string(),
                        "type": "text",
                        "text": { "body": text }
                    }]
                }
            }]
        }]
    })
    .to_string()
    .into_bytes()
}

pub async fn setup(app: &TestApp) {
    assert_eq!(app.import_tenant(BAKERY).await.status(), 200);
    setup_secret(app).await;
}

/// Stores the WhatsApp token of the tenants of this module.
pub async fn setup_secret(app: &TestApp) {
    let r = app
        .client
        .put(format!(
            "{}/api/v1/tenants/wa-bakery/secrets/wa_phone:106540352242922",
            app.address
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "token": "EAAG-system-user-token" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

async fn a_signed_message_gets_one_reply_through_graph(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    setup(&app).await;
    let body = text_delivery(
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        "16505551234",
        "what are your hours?",
    );
    assert_eq!(app.post_whatsapp(&body).await.status(), 200);
    assert!(eventually(10, || async { app.graph.requests().len() == 1 }).await);
    let sent = &app.graph.requests()[0];
    assert!(
        sent.path.ends_with("/106540352242922/messages"),
        "{}",
        sent.path
    );
    assert_eq!(
        sent.authorization.as_deref(),
        Some("Bearer EAAG-system-user-token")
    );
    assert_eq!(sent.body["to"], "16505551234");
    assert_eq!(
        sent.body["text"]["body"],
        "We're open 7am to 8pm every day."
    );
    // Redelivered by Meta: acknowledged, no second reply.
    assert_eq!(app.post_whatsapp(&body).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(app.graph.requests().len(), 1);
    let rows = app.store.outbox_rows("wa-bakery").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0]
        .provider_ids
        .as_deref()
        .unwrap_or("")
        .contains("wamid.fake"));
    app.stop().await;
}

async fn bad_webhooks_are_refused_and_store_nothing(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    setup(&app).await;
    let body = text_delivery("wamid.bad1", "16505551234", "hello");
    let url = format!("{}/webhook/whatsapp", app.address);
    let unsigned = app
        .client
        .post(&url)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let forged = app
        .client
        .post(&url)
        .header("X-Hub-Signature-256", format!("sha256={}", "0".repeat(64)))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let malformed = app
        .post_whatsapp(b"{\"object\":\"whatsapp_business_account\",")
        .await;
    assert_eq!(malformed.status(), 400);
    let oversized = app.post_whatsapp(&vec![b' '; 3 * 1024 * 1024 + 1]).await;
    assert_eq!(oversized.status(), 413);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(app.graph.requests().is_empty());
    assert!(app.store.outbox_rows("wa-bakery").await.unwrap().is_empty());
    let counts = app.store.job_counts().await.unwrap();
    assert!(
        counts.iter().all(|(kind, _, _)| kind != "inbound"),
        "{counts:?}"
    );
    app.stop().await;
}

async fn the_subscription_handshake(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let ok = app
        .client
        .get(format!(
            "{}/webhook/whatsapp?hub.mode=subscribe&hub.verify_token={META_VERIFY_TOKEN}&hub.challenge=1158201444",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let wrong = app
        .client
        .get(format!(
            "{}/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    app.stop().await;
}

on_both_databases!(
    a_signed_message_gets_one_reply_through_graph,
    bad_webhooks_are_refused_and_store_nothing,
    the_subscription_handshake,
    bursts_in_a_buffer_window_get_one_reply_each,
    bursts_acknowledged_during_a_backlog_are_still_answered_one_reply_each
);

pub const BURSTY: &str = r#"
id = "wa-bakery"
name = "WA Bakery"
currency = "INR"
starting_credits = "10"
persona.custom = "You are the assistant of WA Bakery."

[channels.whatsapp]
phone_number_id = "106540352242922"

[channels.whatsapp.replies]
wait_seconds = 1
default_rule = { kind = "canned", text = "We're open 7am to 8pm every day." }
"#;

async fn bursts_in_a_buffer_window_get_one_reply_each(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    assert_eq!(app.import_tenant(BURSTY).await.status(), 200);
    setup_secret(&app).await;
    for burst in 0..2 {
        for i in 0..3 {
            let body = text_delivery(&format!("wamid.burst{burst}.{i}"), "16505551234", "hi");
            assert_eq!(app.post_whatsapp(&body).await.status(), 200);
        }
        tokio::time::sleep(std::time::Duration::from_millis(1800)).await;
    }
    assert!(
        eventually(10, || async { app.graph.requests().len() == 2 }).await,
        "{:?}",
        app.graph.requests()
    );
    let quoted: Vec<_> = app
        .graph
        .requests()
        .iter()
        .map(|r| r.body["context"]["message_id"].clone())
        .collect();
    assert_eq!(quoted, vec!["wamid.burst0.2", "wamid.burst1.2"]);
    app.stop().await;
}

/// Holds the conversation's job lock (a job of it "running" on a worker that is not ours), as
/// a backlog does: its messages are acknowledged but wait. Returns the blocker's job id.
async fn block_conversation(app: &TestApp, sender: &str) -> i64 {
    use concierge_core::ids::{Channel, ConversationKey};
    use concierge_core::time::Span;
    use concierge_core::TenantId;
    use concierge_server::store::{IngressJob, JobKind};
    let key = ConversationKey::new(
        TenantId::parse("wa-bakery").unwrap(),
        Channel::WhatsApp,
        sender,
    );
    let later = concierge_core::Timestamp::from_millis(concierge_server::clock::now_millis())
        + Span::hours(1);
    app.store
        .enqueue_once(
            "test:blocker",
            Span::days(1),
            IngressJob {
                kind: JobKind::Inbound,
                conversation: Some(key.storage_key()),
                tenant: Some("wa-bakery".into()),
                payload: "blocker".into(),
                at: later,
            },
        )
        .await
        .unwrap();
    // Claim it as of an hour from now, once the server's own jobs (the persona review) are
    // done; one still about is handed back, due at once.
    let tenant = TenantId::parse("wa-bakery").unwrap();
    assert!(
        eventually(10, || async {
            use concierge_core::ports::TenantStore;
            app.store
                .get_tenant(&tenant)
                .await
                .unwrap()
                .is_some_and(|t| t.persona.cleared_for_ai())
        })
        .await,
        "persona reviewed"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let job = app
            .store
            .claim_job("blocker", later)
            .await
            .unwrap()
            .unwrap();
        if job.payload == "blocker" {
            return job.id;
        }
        let now = concierge_core::Timestamp::from_millis(concierge_server::clock::now_millis());
        app.store.release_leases("blocker", now).await.unwrap();
        assert!(
            std::time::Instant::now() < deadline,
            "could not take the conversation's lock"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn bursts_acknowledged_during_a_backlog_are_still_answered_one_reply_each(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    assert_eq!(app.import_tenant(BURSTY).await.status(), 200);
    setup_secret(&app).await;
    let customer = "16505559876";
    let blocker = block_conversation(&app, customer).await;
    for burst in 0..2 {
        for i in 0..3 {
            let body = text_delivery(&format!("wamid.backlog{burst}.{i}"), customer, "hi");
            assert_eq!(app.post_whatsapp(&body).await.status(), 200);
        }
        // Longer than the 1 s window.
        tokio::time::sleep(std::time::Duration::from_millis(1800)).await;
    }
    assert!(
        app.graph.requests().is_empty(),
        "nothing runs while the conversation is behind"
    );
    // The backlog clears: all six run back to back, long after both windows closed.
    let later = concierge_core::Timestamp::from_millis(concierge_server::clock::now_millis())
        + concierge_core::time::Span::hours(1);
    assert!(app
        .store
        .complete_job(blocker, "blocker", later)
        .await
        .unwrap());
    assert!(
        eventually(10, || async { app.graph.requests().len() >= 2 }).await,
        "{:?}",
        app.graph.requests()
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let quoted: Vec<_> = app
        .graph
        .requests()
        .iter()
        .map(|r| r.body["context"]["message_id"].clone())
        .collect();
    assert_eq!(
        quoted,
        vec!["wamid.backlog0.2", "wamid.backlog1.2"],
        "one reply per burst, as the customer sent them"
    );
    app.stop().await;
}
