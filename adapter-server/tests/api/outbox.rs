//! Sending exactly once: per-part progress, and in-doubt WhatsApp sends reconciled against
//! the status webhooks Meta posts (with the `biz_opaque_callback_data` each send carried).
//!
//! "In doubt" is what a kill between Graph accepting a send and the server recording it
//! leaves behind. The tests make it for real: the Graph fake records the request and holds
//! its answer, and the server is stopped with a zero shutdown deadline meanwhile (the job is
//! abandoned, as by a crash), then started again on the same database.

use std::time::{Duration, Instant};

use concierge_core::channels::{whatsapp, DeliveryState};
use concierge_core::delivery::OutboxState;
use serde_json::{json, Value};

use crate::helpers::{
    eventually, now_secs, on_both_databases, spawn_app_with, Db, TestApp, ADMIN_TOKEN,
};
use crate::whatsapp::{setup, setup_secret, text_delivery};

const PHONE: &str = "106540352242922";
const CUSTOMER: &str = "16505551234";

/// A Meta `statuses` webhook about one message we sent.
fn status_delivery(wamid: &str, status: &str, callback_data: &str) -> Vec<u8> {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE },
                    "statuses": [{
                        "id": wamid,
                        "status": status,
                        "timestamp": now_secs().to_string(),
                        "recipient_id": CUSTOMER,
                        "biz_opaque_callback_data": callback_data,
                        "pricing": { "billable": false, "pricing_model": "PMP", "category": "service" }
                    }]
                }
            }]
        }]
    })
    .to_string()
    .into_bytes()
}

fn callback_data(request: &Value) -> String {
    request["biz_opaque_callback_data"]
        .as_str()
        .expect("every WhatsApp send carries callback data")
        .to_owned()
}

async fn row(app: &TestApp, tenant: &str) -> concierge_server::store::OutboxRow {
    let rows = app.store.outbox_rows(tenant).await.unwrap();
    assert_eq!(rows.len(), 1, "one outbox row");
    rows.into_iter().next().unwrap()
}

async fn in_state(app: &TestApp, tenant: &str, state: OutboxState) -> bool {
    let rows = app.store.outbox_rows(tenant).await.unwrap();
    rows.first().is_some_and(|r| r.state == state)
}

async fn sent(app: &TestApp, tenant: &str) -> bool {
    in_state(app, tenant, OutboxState::Sent).await
}

/// Posts the customer's message, lets Graph accept the reply but hold its answer, and
/// returns the reply's request once Graph has it.
async fn reply_left_in_doubt(app: &TestApp) -> Value {
    app.graph.delay_next(1, 10_000);
    let body = text_delivery("wamid.in-doubt-1", CUSTOMER, "what are your hours?");
    assert_eq!(app.post_whatsapp(&body).await.status(), 200);
    assert!(eventually(10, || async { app.graph.requests().len() == 1 }).await);
    app.graph.requests()[0].body.clone()
}

async fn an_in_doubt_part_with_a_receipt_is_not_sent_again(db: Db) {
    let Some(app) = spawn_app_with(db, |c| {
        c.set("CONCIERGE_SHUTDOWN_SECONDS", "0");
        c.set("CONCIERGE_RECONCILE_WINDOW_SECS", "600");
    })
    .await
    else {
        return;
    };
    setup(&app).await;
    let request = reply_left_in_doubt(&app).await;
    let data = callback_data(&request);
    assert_eq!(
        data,
        whatsapp::callback_data(&row(&app, "wa-bakery").await.key, 0)
    );
    // Meta reports the message it accepted (the wamid the server never read).
    let status = status_delivery("wamid.accepted-by-meta", "sent", &data);
    assert_eq!(app.post_whatsapp(&status).await.status(), 200);
    // The server dies before recording the send.
    let app = app
        .restart(|c| {
            c.set("CONCIERGE_RECONCILE_WINDOW_SECS", "600");
        })
        .await;
    assert!(
        eventually(10, || sent(&app, "wa-bakery")).await,
        "the in-doubt send is settled by its receipt, without waiting for the window"
    );
    let row = row(&app, "wa-bakery").await;
    assert_eq!(
        row.provider_ids.as_deref(),
        Some(r#"["wamid.accepted-by-meta"]"#),
        "the provider id comes from the receipt"
    );
    assert_eq!((row.parts_sent, row.in_doubt_part), (1, None));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.graph.requests().len(), 1, "the customer got one reply");
    app.stop().await;
}

async fn an_in_doubt_part_reported_failed_is_sent_again_at_once(db: Db) {
    let Some(app) = spawn_app_with(db, |c| {
        c.set("CONCIERGE_SHUTDOWN_SECONDS", "0");
    })
    .await
    else {
        return;
    };
    setup(&app).await;
    let first = reply_left_in_doubt(&app).await;
    let data = callback_data(&first);
    // Meta accepted the request, then could not deliver it.
    for status in ["sent", "failed"] {
        let body = status_delivery("wamid.undeliverable", status, &data);
        assert_eq!(app.post_whatsapp(&body).await.status(), 200);
    }
    let app = app
        .restart(|c| {
            c.set("CONCIERGE_RECONCILE_WINDOW_SECS", "600");
        })
        .await;
    assert!(
        eventually(10, || sent(&app, "wa-bakery")).await,
        "a failed part is sent again without waiting for the window"
    );
    let requests = app.graph.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].body, first);
    assert_eq!(
        row(&app, "wa-bakery").await.provider_ids.as_deref(),
        Some(r#"["wamid.fake1"]"#)
    );
    // The resend's own status is recorded afresh, not hidden by the earlier failure.
    let body = status_delivery("wamid.fake1", "sent", &data);
    assert_eq!(app.post_whatsapp(&body).await.status(), 200);
    let receipt = app.store.receipt(&data).await.unwrap().unwrap();
    assert_eq!(
        (receipt.provider_id.as_str(), receipt.delivered()),
        ("wamid.fake1", true)
    );
    app.stop().await;
}

async fn an_in_doubt_part_without_a_receipt_waits_for_the_window_then_is_sent_again(db: Db) {
    // Two attempts per job (the budget is set when the job is queued).
    let Some(app) = spawn_app_with(db, |c| {
        c.set("CONCIERGE_SHUTDOWN_SECONDS", "0");
        c.set("CONCIERGE_MAX_ATTEMPTS", "2");
    })
    .await
    else {
        return;
    };
    setup(&app).await;
    let first = reply_left_in_doubt(&app).await;
    let stopped = Instant::now();
    // No status webhook comes (the request never reached Meta's queue, say). Two attempts in
    // all, and the resend's first try fails: waiting for the receipt must not spend one.
    let app = app
        .restart(|c| {
            c.set("CONCIERGE_RECONCILE_WINDOW_SECS", "3");
            c.set("CONCIERGE_MAX_ATTEMPTS", "2");
            c.set("CONCIERGE_RETRY_BASE_MS", "100");
        })
        .await;
    app.graph.fail_at(1, 503);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        app.graph.requests().len(),
        1,
        "nothing resent inside the window"
    );
    let waiting = row(&app, "wa-bakery").await;
    assert_eq!(
        (waiting.state, waiting.in_doubt_part),
        (OutboxState::Pending, Some(0))
    );
    assert!(eventually(15, || async { app.graph.requests().len() >= 2 }).await);
    assert!(
        stopped.elapsed() >= Duration::from_secs(2),
        "resent only after the window ({:?})",
        stopped.elapsed()
    );
    assert!(
        eventually(15, || sent(&app, "wa-bakery")).await,
        "sent after the window despite a failed try: the wait spent no attempt"
    );
    let requests = app.graph.requests();
    assert_eq!(requests.len(), 3, "in doubt, 503, accepted");
    for r in &requests {
        assert_eq!(r.body, first, "the same part, with the same callback data");
    }
    // The first request's answer never arrived; the resend's did.
    let row = row(&app, "wa-bakery").await;
    assert_eq!(row.provider_ids.as_deref(), Some(r#"["wamid.fake1"]"#));
    let dead = app.store.dead_jobs(None, 10).await.unwrap();
    assert!(dead.is_empty(), "{dead:?}");
    app.stop().await;
}

/// A tenant whose canned reply is several WhatsApp messages long.
const LONG: &str = r#"
id = "wa-bakery"
name = "WA Bakery"
currency = "INR"
starting_credits = "10"
persona.custom = "You are the assistant of WA Bakery."

[channels.whatsapp]
phone_number_id = "106540352242922"

[channels.whatsapp.replies]
default_rule = { kind = "canned", text = "MENU" }
"#;

fn long_menu() -> String {
    // About 10 000 characters: three messages of at most 4096.
    (0..1300).map(|i| format!("cake{i} ")).collect()
}

async fn a_multi_part_reply_resumes_at_the_part_that_failed(db: Db) {
    let Some(app) = spawn_app_with(db, |c| {
        c.set("CONCIERGE_RETRY_BASE_MS", "100");
    })
    .await
    else {
        return;
    };
    let menu = long_menu();
    assert_eq!(
        app.import_tenant(&LONG.replace("MENU", &menu))
            .await
            .status(),
        200
    );
    setup_secret(&app).await;
    // Part 2 fails once with a 503.
    app.graph.fail_at(1, 503);
    let body = text_delivery("wamid.menu-1", CUSTOMER, "send me the menu");
    assert_eq!(app.post_whatsapp(&body).await.status(), 200);
    assert!(eventually(15, || sent(&app, "wa-bakery")).await);
    let requests = app.graph.requests();
    let data: Vec<String> = requests.iter().map(|r| callback_data(&r.body)).collect();
    let key = row(&app, "wa-bakery").await.key;
    let part = |i| whatsapp::callback_data(&key, i);
    assert_eq!(
        data,
        vec![part(0), part(1), part(1), part(2)],
        "part 1 once, part 2 retried, then part 3 (and no other part)"
    );
    let texts: Vec<&str> = [0, 2, 3]
        .iter()
        .map(|&i| requests[i].body["text"]["body"].as_str().unwrap())
        .collect();
    assert!(texts
        .concat()
        .split_whitespace()
        .eq(menu.split_whitespace()));
    let row = row(&app, "wa-bakery").await;
    assert_eq!(row.parts_sent, 3);
    assert_eq!(
        row.provider_ids.as_deref(),
        Some(r#"["wamid.fake0","wamid.fake1","wamid.fake2"]"#)
    );
    app.stop().await;
}

async fn a_dead_lettered_multi_part_reply_resumes_where_it_stopped(db: Db) {
    let Some(app) = spawn_app_with(db, |_| {}).await else {
        return;
    };
    assert_eq!(
        app.import_tenant(&LONG.replace("MENU", &long_menu()))
            .await
            .status(),
        200
    );
    setup_secret(&app).await;
    // Graph refuses part 2 (a permanent 400): dead-lettered after part 1 went out.
    app.graph.fail_at(1, 400);
    let body = text_delivery("wamid.menu-2", CUSTOMER, "send me the menu");
    assert_eq!(app.post_whatsapp(&body).await.status(), 200);
    assert!(eventually(10, || in_state(&app, "wa-bakery", OutboxState::Dead)).await);
    assert_eq!(row(&app, "wa-bakery").await.parts_sent, 1);
    let dead = app.store.dead_jobs(None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    // The operator fixes the cause and retries: the reply goes on from part 2.
    let r = app
        .client
        .post(format!(
            "{}/api/v1/dead-letters/{}/retry",
            app.address, dead[0].id
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert!(eventually(10, || sent(&app, "wa-bakery")).await);
    let key = row(&app, "wa-bakery").await.key;
    let data: Vec<String> = app
        .graph
        .requests()
        .iter()
        .map(|r| callback_data(&r.body))
        .collect();
    let part = |i| whatsapp::callback_data(&key, i);
    assert_eq!(data, vec![part(0), part(1), part(1), part(2)]);
    app.stop().await;
}

async fn status_webhooks_record_the_strongest_receipt_of_our_sends_only(db: Db) {
    let Some(app) = spawn_app_with(db, |_| {}).await else {
        return;
    };
    setup(&app).await;
    let ours = whatsapp::callback_data("reply:some-turn", 0);
    for (status, wamid) in [
        ("sent", "wamid.A"),
        ("read", "wamid.A"),
        ("delivered", "wamid.A"),
        ("sent", "wamid.A"),
    ] {
        let body = status_delivery(wamid, status, &ours);
        assert_eq!(app.post_whatsapp(&body).await.status(), 200);
    }
    let receipt = app.store.receipt(&ours).await.unwrap().unwrap();
    assert_eq!(
        (receipt.provider_id.as_str(), receipt.state),
        ("wamid.A", DeliveryState::Read),
        "a late, weaker status does not undo a stronger one"
    );
    assert!(receipt.delivered());
    // A failure is not a delivery, and a later `sent` does not hide it.
    let failed = whatsapp::callback_data("reply:other-turn", 0);
    for status in ["sent", "failed", "sent"] {
        let body = status_delivery("wamid.B", status, &failed);
        assert_eq!(app.post_whatsapp(&body).await.status(), 200);
    }
    assert!(!app
        .store
        .receipt(&failed)
        .await
        .unwrap()
        .unwrap()
        .delivered());
    // Statuses of messages another tool sent through the number are not ours to record.
    let body = status_delivery("wamid.C", "sent", "campaign-42");
    assert_eq!(app.post_whatsapp(&body).await.status(), 200);
    assert_eq!(app.store.receipt("campaign-42").await.unwrap(), None);
    app.stop().await;
}

on_both_databases!(
    an_in_doubt_part_with_a_receipt_is_not_sent_again,
    an_in_doubt_part_reported_failed_is_sent_again_at_once,
    an_in_doubt_part_without_a_receipt_waits_for_the_window_then_is_sent_again,
    a_multi_part_reply_resumes_at_the_part_that_failed,
    a_dead_lettered_multi_part_reply_resumes_where_it_stopped,
    status_webhooks_record_the_strongest_receipt_of_our_sends_only,
);
