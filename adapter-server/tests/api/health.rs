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

/// A handler that panics answers a JSON 500 with a request id, and the server keeps serving:
/// the layer every route of `routes::router` is wrapped in.
#[tokio::test]
async fn a_panicking_handler_is_a_500_with_a_request_id_not_a_dropped_connection() {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/boom",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("boom");
                }
                "unreachable"
            }),
        )
        .route("/fine", get(|| async { "fine" }))
        .layer(concierge_server::panic_guard::layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let r = client
            .get(format!("{address}/boom"))
            .send()
            .await
            .expect("an HTTP answer");
        assert_eq!(r.status(), 500);
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "internal error");
        assert_eq!(body["request_id"], id.as_str());
        assert!(
            !body.to_string().contains("boom"),
            "the panic message stays in the log"
        );
    }
    let r = client.get(format!("{address}/fine")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "fine");
    server.abort();
}
