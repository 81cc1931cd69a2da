//! The admin API.

use serde_json::{json, Value};

use crate::helpers::{on_both_databases, spawn_app, Db, ADMIN_TOKEN};

pub const SHOP: &str = r#"
id = "guild-shop"
name = "Guild Shop"
currency = "INR"
starting_credits = "10"
persona.custom = "You are the assistant of Guild Shop, a cake shop."

[channels.discord]
guild_id = "290926798626357999"
inbound_mentions = true

[channels.discord.replies]
default_rule = { kind = "canned", text = "Yes, we deliver every day." }

[[channels.discord.replies.rules]]
name = "price"
match = { kind = "keywords", keywords = ["price", "cost"] }
reply = { kind = "prompt", text = "Answer briefly." }

[channels.email]
domains = ["shop.example.com"]

[channels.email.replies]
default_rule = { kind = "canned", text = "Thanks for your email, we will answer soon." }
"#;

async fn admin_routes_need_the_token(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let url = format!("{}/api/v1/tenants", app.address);
    let none = app.client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = app
        .client
        .get(&url)
        .bearer_auth("not-the-token-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = app
        .client
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    app.stop().await;
}

async fn tenants_import_export_and_settings(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let r = app.import_tenant(SHOP).await;
    assert_eq!(r.status(), 200);
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(outcome["created"], true);
    assert_eq!(outcome["credits_granted"], true);
    // Importing again updates, grants nothing twice.
    let again: Value = app.import_tenant(SHOP).await.json().await.unwrap();
    assert_eq!(again["created"], false);
    assert_eq!(again["credits_granted"], false);

    let broken = app.import_tenant("id = \"x\"\nname = 3\n").await;
    assert_eq!(broken.status(), 400);
    let invalid = app
        .import_tenant(&SHOP.replace("name = \"Guild Shop\"", "name = \"\""))
        .await;
    assert_eq!(invalid.status(), 422);

    let export = app
        .client
        .get(format!("{}/api/v1/tenants/guild-shop", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    let toml = export.text().await.unwrap();
    assert!(toml.contains("guild_id = \"290926798626357999\""), "{toml}");

    let settings = format!("{}/api/v1/tenants/guild-shop/conversation", app.address);
    let bad = app
        .client
        .put(&settings)
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "idle_gap_mins": 2, "handoff_cooldown_mins": 5000, "max_history_messages": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.unwrap();
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"idle_gap_mins"), "{body}");
    assert!(fields.contains(&"max_history_messages"), "{body}");
    let good = app
        .client
        .put(&settings)
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "idle_gap_mins": 120, "handoff_cooldown_mins": 30, "max_history_messages": 10 }))
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 200);

    let missing = app
        .client
        .put(format!(
            "{}/api/v1/tenants/nobody/conversation",
            app.address
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    app.stop().await;
}

async fn credits_are_granted_once(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    assert_eq!(app.import_tenant(SHOP).await.status(), 200);
    let url = format!("{}/api/v1/tenants/guild-shop/credits", app.address);
    let grant = json!({ "grant_id": "pay_1", "amount": "5", "reason": "payment" });
    let first: Value = app
        .client
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .json(&grant)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["outcome"], "granted");
    let second: Value = app
        .client
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .json(&grant)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["outcome"], "already_granted");
    assert_eq!(first["balance"], second["balance"]);
    let negative = app
        .client
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "grant_id": "zero", "amount": "0" }))
        .send()
        .await
        .unwrap();
    assert_eq!(negative.status(), 422);
    // A tenant that does not exist has no balance, outbox or messages: 404, not an empty 200.
    for path in [
        "tenants/nobody-shop/credits",
        "tenants/nobody-shop/outbox",
        "tenants/nobody-shop/conversations/c_1/messages",
    ] {
        let r = app
            .client
            .get(format!("{}/api/v1/{path}", app.address))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body, json!({ "error": "tenant nobody-shop not found" }));
    }
    let dead: Value = app
        .client
        .get(format!("{}/api/v1/dead-letters", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dead["dead_letters"], json!([]), "{dead}");
    // A dead letter id is opaque: one that names none is a 404, whatever it looks like.
    for id in ["999999", "reply:turn:whatsapp:wamid.x"] {
        let r = app
            .client
            .post(format!("{}/api/v1/dead-letters/{id}/retry", app.address))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{id}");
    }
    app.stop().await;
}

on_both_databases!(
    admin_routes_need_the_token,
    tenants_import_export_and_settings,
    credits_are_granted_once
);
