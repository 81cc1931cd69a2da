//! `/demo/personas` and `/demo/chat` against the fake model.

use concierge_core::engine::demo_catalog;
use serde_json::{json, Value};

use crate::helpers::{on_both_databases, spawn_app, spawn_app_with, Db};

async fn the_catalog_lists_personas_with_their_exact_prompt(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let r = app
        .client
        .get(format!("{}/demo/personas", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let personas = body["personas"].as_array().unwrap();
    // The seeded catalog, listed by slug.
    let mut catalog = demo_catalog();
    catalog.sort_by(|a, b| a.slug.cmp(&b.slug));
    assert_eq!(personas.len(), catalog.len());
    for (shown, persona) in personas.iter().zip(&catalog) {
        assert_eq!(shown["slug"], persona.slug.as_str());
        assert_eq!(shown["label"], persona.label.as_str());
        assert_eq!(shown["description"], persona.description.as_str());
        assert_eq!(shown["greeting"], persona.greeting.as_str());
        assert_eq!(shown["prompt"], persona.envelope().as_str());
    }
    app.stop().await;
}

async fn a_demo_turn_answers_statelessly_and_bad_input_is_refused(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let url = format!("{}/demo/chat", app.address);
    let post = |body: Value| app.client.post(&url).json(&body).send();
    let ok = post(json!({
        "persona": "bakery",
        "history": [
            { "role": "user", "content": "hi" },
            { "role": "assistant", "content": "Hello! Looking for something sweet?" }
        ],
        "message": "how much is a cake?",
        "handoff": false
    }))
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    let reply: Value = ok.json().await.unwrap();
    assert_eq!(reply["reply"], "A 1 kg cake starts at ₹900.");
    assert_eq!(reply["handoff"], false);
    // The model got the persona's envelope, the history and the new message.
    let sent = app
        .openai
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path == "/v1/chat/completions")
        .unwrap();
    assert_eq!(
        sent.body["messages"][0]["content"],
        demo_catalog()[0].envelope().as_str()
    );
    assert_eq!(sent.body["messages"].as_array().unwrap().len(), 4);
    // The handoff flag travels with the page and stays set.
    let held: Value = post(json!({ "persona": "bakery", "message": "hello?", "handoff": true }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(held["handoff"], true);

    let malformed = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"persona\":")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let no_message = post(json!({ "persona": "bakery" })).await.unwrap();
    assert_eq!(no_message.status(), 400);
    let unknown = post(json!({ "persona": "casino", "message": "hi" }))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 422);
    let fields: Value = unknown.json().await.unwrap();
    assert_eq!(fields["fields"][0]["field"], "persona");
    let empty = post(json!({ "persona": "bakery", "message": "   " }))
        .await
        .unwrap();
    assert_eq!(empty.status(), 422);
    let long = post(json!({ "persona": "bakery", "message": "a".repeat(1001) }))
        .await
        .unwrap();
    assert_eq!(long.status(), 422);
    // Nothing is stored: no tenant, no session, no outbox.
    assert!(app.store.outbox_rows("bakery").await.unwrap().is_empty());
    app.stop().await;
}

async fn the_demo_is_rate_limited_per_client(db: Db) {
    let Some(app) = spawn_app_with(db, |c| c.set("CONCIERGE_DEMO_PER_MINUTE", "2")).await else {
        return;
    };
    let url = format!("{}/demo/chat", app.address);
    let body = json!({ "persona": "dental-clinic", "message": "can I book a cleaning?" });
    for _ in 0..2 {
        let r = app.client.post(&url).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let limited = app.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    app.stop().await;
}

async fn without_a_model_the_demo_says_so(db: Db) {
    let Some(app) = spawn_app_with(db, |c| c.remove("CONCIERGE_AI_URL")).await else {
        return;
    };
    let r = app
        .client
        .post(format!("{}/demo/chat", app.address))
        .json(&json!({ "persona": "concierge", "message": "what do you do?" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("AI provider"));
    app.stop().await;
}

on_both_databases!(
    the_catalog_lists_personas_with_their_exact_prompt,
    a_demo_turn_answers_statelessly_and_bad_input_is_refused,
    the_demo_is_rate_limited_per_client,
    without_a_model_the_demo_says_so
);
