//! `/discord/events` and `/discord/interactions` against a fake Discord API.

use concierge_core::ports::{Ledger, TenantStore};
use concierge_core::{Milli, TenantId, Timestamp};
use serde_json::{json, Value};

use crate::admin::SHOP;
use crate::helpers::{eventually, now_secs, on_both_databases, spawn_app, Db, ADMIN_TOKEN};

/// A signed `MESSAGE_CREATE` webhook event in the documented shape.
pub fn message_event(message_id: &str, author: &str, content: &str) -> Vec<u8> {
    json!({
        "version": 1,
        "application_id": "1234560123453231555",
        "type": 1,
        "event": {
            "type": "MESSAGE_CREATE",
            "timestamp": "2025-08-14T18:09:38.063234",
            "data": {
                "type": 0,
                "id": message_id,
                "channel_id": "645027906669510667",
                "guild_id": "290926798626357999",
                "content": format!("<@1234560123453231555> {content}"),
                "mentions": [{ "id": "1234560123453231555", "username": "Concierge", "bot": true }],
                "author": { "id": author, "username": "mason", "global_name": "Mason" },
                "attachments": [],
                "embeds": [],
                "timestamp": "2025-08-14T18:09:37.947000+00:00"
            }
        }
    })
    .to_string()
    .into_bytes()
}

async fn outbox_count(app: &crate::helpers::TestApp) -> usize {
    app.store.outbox_rows("guild-shop").await.unwrap().len()
}

async fn a_mention_gets_one_canned_reply_and_redelivery_changes_nothing(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    assert_eq!(app.import_tenant(SHOP).await.status(), 200);
    let body = message_event(
        "1405614357781544960",
        "53908232506183680",
        "do you deliver?",
    );
    let r = app.post_discord("/discord/events", &body, now_secs()).await;
    assert_eq!(r.status(), 204);
    assert!(
        eventually(10, || async { app.discord.requests().len() == 1 }).await,
        "one reply sent"
    );
    let sent = &app.discord.requests()[0];
    assert_eq!(sent.path, "/api/v10/channels/645027906669510667/messages");
    assert_eq!(
        sent.authorization.as_deref(),
        Some("Bot bot-token-for-tests")
    );
    assert_eq!(sent.body["content"], "Yes, we deliver every day.");
    assert_eq!(
        sent.body["message_reference"]["message_id"],
        "1405614357781544960"
    );
    // Redelivered: acknowledged, nothing new.
    let again = app.post_discord("/discord/events", &body, now_secs()).await;
    assert_eq!(again.status(), 204);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(app.discord.requests().len(), 1);
    assert_eq!(outbox_count(&app).await, 1);
    let row = &app.store.outbox_rows("guild-shop").await.unwrap()[0];
    assert_eq!(row.state, concierge_core::delivery::OutboxState::Sent);
    assert!(
        row.payload.is_empty(),
        "the body is not kept after a real send"
    );
    app.stop().await;
}

async fn an_ai_rule_asks_the_model_and_charges_once(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    assert_eq!(app.import_tenant(SHOP).await.status(), 200);
    let tenant = TenantId::parse("guild-shop").unwrap();
    // The persona review runs as a job against the fake model.
    assert!(
        eventually(10, || async {
            let r = app
                .client
                .get(format!("{}/api/v1/tenants/guild-shop", app.address))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap();
            r.status() == 200
                && app
                    .openai
                    .requests()
                    .iter()
                    .any(|r| r.path == "/v1/chat/completions")
        })
        .await
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let before = app
        .store
        .balance(
            &tenant,
            Timestamp::from_millis(concierge_server::clock::now_millis()),
        )
        .await
        .unwrap();
    assert_eq!(before, Milli::from_milli(10_000));
    let body = message_event(
        "1405614357781544961",
        "53908232506183680",
        "what is the price?",
    );
    assert_eq!(
        app.post_discord("/discord/events", &body, now_secs())
            .await
            .status(),
        204
    );
    assert!(eventually(10, || async { app.discord.requests().len() == 1 }).await);
    assert_eq!(
        app.discord.requests()[0].body["content"],
        "A 1 kg cake starts at ₹900."
    );
    let reply_request = app
        .openai
        .requests()
        .into_iter()
        .rev()
        .find(|r| {
            r.body["messages"][0]["content"]
                .as_str()
                .unwrap_or("")
                .contains("Guild Shop")
        })
        .expect("the reply request");
    assert_eq!(
        reply_request.body["messages"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["role"],
        "user"
    );
    let after = app
        .store
        .balance(
            &tenant,
            Timestamp::from_millis(concierge_server::clock::now_millis()),
        )
        .await
        .unwrap();
    assert_eq!(after, Milli::from_milli(9_000), "one AI reply at ₹1");
    app.stop().await;
}

async fn bad_requests_are_refused_and_store_nothing(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    assert_eq!(app.import_tenant(SHOP).await.status(), 200);
    let body = message_event("1405614357781544962", "53908232506183680", "hello");
    let url = format!("{}/discord/events", app.address);
    // Unsigned.
    let unsigned = app
        .client
        .post(&url)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    // Tampered: signed, then changed.
    let mut tampered = body.clone();
    let signed_ts = now_secs();
    let signature = {
        use ed25519_dalek::Signer;
        let mut m = signed_ts.to_string().into_bytes();
        m.extend_from_slice(&body);
        hex::encode(crate::helpers::discord_signing_key().sign(&m).to_bytes())
    };
    tampered.extend_from_slice(b" ");
    let r = app
        .client
        .post(&url)
        .header("X-Signature-Ed25519", signature)
        .header("X-Signature-Timestamp", signed_ts.to_string())
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Replayed: a genuine signature on an old timestamp.
    let stale = app
        .post_discord("/discord/events", &body, now_secs() - 3600)
        .await;
    assert_eq!(stale.status(), 401);
    // Malformed but signed.
    let malformed = app
        .post_discord("/discord/events", b"{\"type\":1,\"event\":", now_secs())
        .await;
    assert_eq!(malformed.status(), 400);
    // Oversized.
    let huge = vec![b' '; 3 * 1024 * 1024 + 10];
    let oversized = app.post_discord("/discord/events", &huge, now_secs()).await;
    assert_eq!(oversized.status(), 413);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(outbox_count(&app).await, 0);
    assert!(app.discord.requests().is_empty());
    let counts = app.store.job_counts().await.unwrap();
    assert!(
        counts.iter().all(|(kind, _, _)| kind != "inbound"),
        "no inbound job stored: {counts:?}"
    );
    app.stop().await;
}

async fn interactions_answer_pings(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let r = app
        .post_discord(
            "/discord/interactions",
            br#"{"type":1,"id":"1","application_id":"1234560123453231555","token":"t","version":1}"#,
            now_secs(),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], 1);
    let unsigned = app
        .client
        .post(format!("{}/discord/interactions", app.address))
        .body(r#"{"type":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    app.stop().await;
}

async fn failed_sends_are_retried_then_dead_lettered_and_retryable(db: Db) {
    let Some(app) = crate::helpers::spawn_app_with(db, |c| {
        c.set("CONCIERGE_MAX_ATTEMPTS", "1");
    })
    .await
    else {
        return;
    };
    assert_eq!(app.import_tenant(SHOP).await.status(), 200);
    app.discord.fail_next(1, 500);
    let body = message_event(
        "1405614357781544963",
        "53908232506183680",
        "do you deliver?",
    );
    assert_eq!(
        app.post_discord("/discord/events", &body, now_secs())
            .await
            .status(),
        204
    );
    let list = || async {
        let v: Value = app
            .client
            .get(format!(
                "{}/api/v1/dead-letters?tenant=guild-shop",
                app.address
            ))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["dead_letters"].as_array().cloned().unwrap_or_default()
    };
    assert!(eventually(10, || async { list().await.len() == 1 }).await);
    let dead = list().await;
    assert_eq!(dead[0]["kind"], "send");
    assert!(dead[0]["last_error"].as_str().unwrap().contains("500"));
    let id = dead[0]["id"].as_i64().unwrap();
    let retry = app
        .client
        .post(format!("{}/api/v1/dead-letters/{id}/retry", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 200);
    assert!(eventually(10, || async { app.discord.requests().len() == 2 }).await);
    assert!(eventually(5, || async { list().await.is_empty() }).await);
    assert_eq!(
        app.store.outbox_rows("guild-shop").await.unwrap()[0].state,
        concierge_core::delivery::OutboxState::Sent
    );
    app.stop().await;
}

const STATUS: &[u8] =
    include_bytes!("../../../concierge-core/tests/fixtures/discord/interaction_status.json");
const DOMAINS_LIST: &[u8] =
    include_bytes!("../../../concierge-core/tests/fixtures/discord/interaction_domains_list.json");
const UNKNOWN_COMMAND: &[u8] = include_bytes!(
    "../../../concierge-core/tests/fixtures/discord/interaction_unknown_command.json"
);

async fn slash_commands_are_answered_inline_and_ephemeral(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    // Before the tenant exists, the guild is not connected.
    let r = app
        .post_discord("/discord/interactions", STATUS, now_secs())
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], 4);
    assert_eq!(body["data"]["flags"], 64, "ephemeral");
    assert!(body["data"]["content"]
        .as_str()
        .unwrap()
        .contains("not connected"));

    assert_eq!(app.import_tenant(SHOP).await.status(), 200);
    let status: Value = app
        .post_discord("/discord/interactions", STATUS, now_secs())
        .await
        .json()
        .await
        .unwrap();
    let text = status["data"]["content"].as_str().unwrap();
    assert!(text.contains("Guild Shop"), "{text}");
    assert!(text.contains("Credit: 10"), "{text}");
    assert_eq!(status["data"]["flags"], 64);

    let domains: Value = app
        .post_discord("/discord/interactions", DOMAINS_LIST, now_secs())
        .await
        .json()
        .await
        .unwrap();
    assert!(domains["data"]["content"]
        .as_str()
        .unwrap()
        .contains("shop.example.com"));
    let unknown: Value = app
        .post_discord("/discord/interactions", UNKNOWN_COMMAND, now_secs())
        .await
        .json()
        .await
        .unwrap();
    assert!(unknown["data"]["content"]
        .as_str()
        .unwrap()
        .contains("not a Concierge command"));
    // In a DM there is no guild to answer for.
    let mut dm: Value = serde_json::from_slice(STATUS).unwrap();
    let obj = dm.as_object_mut().unwrap();
    obj.remove("guild_id");
    obj.remove("guild");
    obj.insert("user".into(), obj["member"]["user"].clone());
    obj.remove("member");
    let dm_answer: Value = app
        .post_discord(
            "/discord/interactions",
            dm.to_string().as_bytes(),
            now_secs(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(dm_answer["data"]["content"]
        .as_str()
        .unwrap()
        .contains("inside your server"));
    // A command with a bad signature is refused before anything runs.
    let unsigned = app
        .client
        .post(format!("{}/discord/interactions", app.address))
        .body(STATUS.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    // Slash commands send nothing through the bot.
    assert!(app.discord.requests().is_empty());
    app.stop().await;
}

async fn a_resend_after_a_crash_carries_the_same_nonce(db: Db) {
    let Some(app) = crate::helpers::spawn_app_with(db, |c| {
        c.set("CONCIERGE_SHUTDOWN_SECONDS", "0");
    })
    .await
    else {
        return;
    };
    assert_eq!(app.import_tenant(SHOP).await.status(), 200);
    // Discord creates the message but the answer never reaches the server: it stops first.
    app.discord.delay_next(1, 10_000);
    let body = message_event(
        "1405614357781544970",
        "53908232506183680",
        "do you deliver?",
    );
    assert_eq!(
        app.post_discord("/discord/events", &body, now_secs())
            .await
            .status(),
        204
    );
    assert!(eventually(10, || async { app.discord.requests().len() == 1 }).await);
    let app = app.restart(|_| {}).await;
    assert!(
        eventually(10, || async { app.discord.requests().len() == 2 }).await,
        "the unfinished send is sent again after the restart"
    );
    let requests = app.discord.requests();
    let nonce = requests[0].body["nonce"].as_str().unwrap().to_owned();
    assert_eq!(nonce.len(), 25);
    assert_eq!(requests[1].body["nonce"], nonce.as_str(), "same nonce");
    assert_eq!(requests[1].body["enforce_nonce"], true);
    assert_eq!(requests[0].body, requests[1].body);
    // Discord answered the resend with the message it had created: one message, one id.
    assert!(
        eventually(10, || async {
            app.store.outbox_rows("guild-shop").await.unwrap()[0].state
                == concierge_core::delivery::OutboxState::Sent
        })
        .await
    );
    let row = &app.store.outbox_rows("guild-shop").await.unwrap()[0];
    assert_eq!(
        row.provider_ids.as_deref(),
        Some("[\"1500000000000000000\"]")
    );
    app.stop().await;
}

/// The shop with AI drafts waiting for approval on its `#approvals` channel.
fn shop_with_approval() -> String {
    SHOP.replace(
        "[channels.discord]",
        "[approval]\nrequired = true\n\n[notifications]\ndiscord_channel_id = \"645027906669510999\"\n\n[channels.discord]",
    )
}

fn button_click(custom_id: &str, token: &str) -> Vec<u8> {
    json!({
        "type": 3, "id": "1418572602737299570", "application_id": "1234560123453231555",
        "token": token, "version": 1,
        "guild_id": "290926798626357999", "channel_id": "645027906669510999",
        "member": { "user": { "id": "53908232506183680", "username": "mason" } },
        "message": { "id": "1405614459183038464", "channel_id": "645027906669510999" },
        "data": { "custom_id": custom_id, "component_type": 2 },
    })
    .to_string()
    .into_bytes()
}

async fn the_approve_button_sends_the_draft_once(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    assert_eq!(app.import_tenant(&shop_with_approval()).await.status(), 200);
    let tenant = TenantId::parse("guild-shop").unwrap();
    assert!(
        eventually(10, || async {
            app.store
                .get_tenant(&tenant)
                .await
                .unwrap()
                .is_some_and(|t| t.persona.cleared_for_ai())
        })
        .await,
        "the persona review approves"
    );
    let body = message_event(
        "1405614357781544980",
        "53908232506183680",
        "what is the price?",
    );
    assert_eq!(
        app.post_discord("/discord/events", &body, now_secs())
            .await
            .status(),
        204
    );
    let card = || {
        app.discord.requests().into_iter().find(|r| {
            r.path == "/api/v10/channels/645027906669510999/messages"
                && r.body.get("components").is_some()
        })
    };
    assert!(
        eventually(10, || async { card().is_some() }).await,
        "the approval card"
    );
    let card = card().unwrap();
    let buttons = card.body["components"][0]["components"].as_array().unwrap();
    let approve = buttons.iter().find(|b| b["label"] == "Approve").unwrap();
    let approve = approve["custom_id"].as_str().unwrap();
    let to_customer = || {
        app.discord
            .requests()
            .into_iter()
            .filter(|r| r.path == "/api/v10/channels/645027906669510667/messages")
            .count()
    };
    assert_eq!(to_customer(), 0, "nothing sent before approval");

    let r = app
        .post_discord(
            "/discord/interactions",
            &button_click(approve, "a"),
            now_secs(),
        )
        .await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["type"], 7, "the card is updated: {answer}");
    assert_eq!(answer["data"]["content"], "Approved and sent.");
    assert_eq!(
        answer["data"]["components"],
        json!([]),
        "its buttons removed"
    );
    assert!(
        eventually(10, || async { to_customer() == 1 }).await,
        "the draft goes to the customer"
    );
    let sent = app
        .discord
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v10/channels/645027906669510667/messages")
        .unwrap();
    assert_eq!(sent.body["content"], "A 1 kg cake starts at ₹900.");

    let again: Value = app
        .post_discord(
            "/discord/interactions",
            &button_click(approve, "b"),
            now_secs(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["data"]["content"],
        "This draft was already decided or has expired."
    );
    // A button signed under another key is not ours (or no longer valid).
    let forged = approve.replacen("v1:a:", "v1:x:", 1);
    let expired: Value = app
        .post_discord(
            "/discord/interactions",
            &button_click(&forged, "c"),
            now_secs(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(expired["data"]["content"], "This button has expired.");
    assert_eq!(expired["data"]["flags"], 64, "ephemeral");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(to_customer(), 1, "sent once");
    app.stop().await;
}

on_both_databases!(
    the_approve_button_sends_the_draft_once,
    slash_commands_are_answered_inline_and_ephemeral,
    a_resend_after_a_crash_carries_the_same_nonce,
    a_mention_gets_one_canned_reply_and_redelivery_changes_nothing,
    an_ai_rule_asks_the_model_and_charges_once,
    bad_requests_are_refused_and_store_nothing,
    interactions_answer_pings,
    failed_sends_are_retried_then_dead_lettered_and_retryable
);
