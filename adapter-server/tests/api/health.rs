//! `/healthz` and `/metrics`.

use crate::helpers::{on_both_databases, spawn_app, Db};

async fn healthz_checks_the_database(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let r = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok\n");
    app.stop().await;
}

async fn metrics_are_prometheus_text(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    let r = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("concierge_http_requests_total{route=\"/healthz\",status=\"200\"} 1"),
        "{text}"
    );
    app.stop().await;
}

on_both_databases!(healthz_checks_the_database, metrics_are_prometheus_text);
