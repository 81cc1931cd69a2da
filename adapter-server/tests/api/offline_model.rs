//! The README's first command, end to end: the `concierge-server` binary built with
//! `--features local-model`, started as `scripts/run-demo.sh` starts it (SQLite, dry run, the
//! demo bakery, `--approve-persona`, `CONCIERGE_LOCAL_MODEL`, `CONCIERGE_LOCAL_EMBEDDING_MODEL`),
//! answers a signed WhatsApp message with the offline model, charges one AI reply, and answers
//! a canned question for free. And the local embeddings alone, with no chat model: the bakery's
//! passages are stored with vectors and found by meaning.
//!
//! Needs the GGUF of `scripts/fetch-model.sh` in `CONCIERGE_TEST_LOCAL_MODEL` and the directory
//! of `scripts/fetch-model.sh --embedding` in `CONCIERGE_TEST_LOCAL_EMBEDDING_MODEL`. Without
//! them the tests say they skipped — unless `CONCIERGE_REQUIRE_LOCAL_MODEL=1` (set by
//! `scripts/test.sh`), where a missing model fails them.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{eventually, meta_signature, now_secs};

const SECRET: &str = "offline-demo-secret";
const ADMIN: &str = "offline-demo-admin-token";
const TENANT: &str = "sunrise-bakery";
const PHONE: &str = "106540352242922";
const CANNED_HOURS: &str = "We're open 7am to 8pm every day (closed on Diwali). See you soon! 🥐";

struct Server {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `concierge-server` as run-demo.sh starts it, with `models` (the model variables), data
    /// in `work`; waits until it answers `/healthz`.
    async fn start(work: &Path, models: &[(&str, &OsString)]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let tenant_file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/tenants/sunrise-bakery.toml"
        );
        let log = work.join("server.log");
        let out = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_concierge-server"));
        command
            .args(["--tenant", tenant_file, "--approve-persona", TENANT])
            .env_clear()
            .env(
                "DATABASE_URL",
                format!("sqlite:{}", work.join("demo.db").display()),
            )
            .env("CONCIERGE_BIND", format!("127.0.0.1:{port}"))
            .env("CONCIERGE_DRY_RUN", "1")
            .env("CONCIERGE_INJECTION_SCAN", "0")
            .env("CANDLE_NUM_THREADS", "1")
            .env("WHATSAPP_APP_SECRET", SECRET)
            .env("CONCIERGE_ADMIN_TOKEN", ADMIN)
            .env("ENCRYPTION_KEY", "44".repeat(32))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (key, value) in models {
            command.env(key, value);
        }
        let server = Server {
            child: command.spawn().expect("start concierge-server"),
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let client = reqwest::Client::new();
        let up = eventually(120, || async {
            client
                .get(format!("{}/healthz", server.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        assert!(up, "the server did not start:\n{}", server.log());
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The variable `name` of the test's environment, or `None` (with a notice) when it is unset
/// and `CONCIERGE_REQUIRE_LOCAL_MODEL` is not.
fn model_var(name: &str, what: &str) -> Option<OsString> {
    let value = std::env::var_os(name);
    if value.is_none() {
        assert!(
            std::env::var_os("CONCIERGE_REQUIRE_LOCAL_MODEL").is_none(),
            "CONCIERGE_REQUIRE_LOCAL_MODEL is set but {name} is not"
        );
        eprintln!("skipped: set {name} to {what}");
    }
    value
}

fn delivery(wamid: &str, from: &str, text: &str) -> Vec<u8> {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE },
            "contacts": [{ "profile": { "name": "Sheena" }, "wa_id": from }],
            "messages": [{ "from": from, "id": wamid, "timestamp": now_secs().to_string(),
                           "type": "text", "text": { "body": text } }]
        } }] }]
    })
    .to_string()
    .into_bytes()
}

/// The dry-run outbox rows' reply texts, oldest first.
async fn replies(client: &reqwest::Client, base: &str) -> Vec<String> {
    let outbox: Value = client
        .get(format!("{base}/api/v1/tenants/{TENANT}/outbox"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut rows: Vec<&Value> = outbox["outbox"].as_array().unwrap().iter().collect();
    rows.sort_by_key(|r| r["key"].as_str().unwrap_or("").to_owned());
    rows.iter()
        .filter(|r| r["dry_run"] == true)
        .map(|r| {
            r["message"]["body"]["text"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

async fn balance(client: &reqwest::Client, base: &str) -> Value {
    client
        .get(format!("{base}/api/v1/tenants/{TENANT}/credits"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["balance"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_answers_with_the_offline_model() {
    let Some(model) = model_var(
        "CONCIERGE_TEST_LOCAL_MODEL",
        "the GGUF of scripts/fetch-model.sh",
    ) else {
        return;
    };
    let embedding = model_var(
        "CONCIERGE_TEST_LOCAL_EMBEDDING_MODEL",
        "the directory of scripts/fetch-model.sh --embedding",
    );
    let work = tempfile::tempdir().unwrap();
    let mut models = vec![("CONCIERGE_LOCAL_MODEL", &model)];
    if let Some(dir) = &embedding {
        models.push(("CONCIERGE_LOCAL_EMBEDDING_MODEL", dir));
    }
    let server = Server::start(work.path(), &models).await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let server_log = || server.log();
    let before = balance(&client, &base).await;

    let post = |wamid: &'static str, text: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let body = delivery(wamid, "16505551234", text);
            client
                .post(format!("{base}/webhook/whatsapp"))
                .header("X-Hub-Signature-256", meta_signature(SECRET, &body))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // A question no canned rule answers: the model writes the reply (after the 3 s buffer).
    assert_eq!(
        post("wamid.offline.1", "Do you have eggless cakes?").await,
        200
    );
    let answered = eventually(240, || async { replies(&client, &base).await.len() == 1 }).await;
    assert!(
        answered,
        "no reply from the offline model:\n{}",
        server_log()
    );
    let ai_reply = replies(&client, &base).await.remove(0);
    assert!(
        !ai_reply.trim().is_empty() && ai_reply != CANNED_HOURS,
        "the model's reply: {ai_reply:?}"
    );
    assert!(
        !ai_reply.contains("[[HANDOFF]]"),
        "the marker never reaches the customer"
    );
    let after_ai = balance(&client, &base).await;
    assert_ne!(after_ai, before, "an AI reply is metered");

    // A canned question: answered by the rule, free.
    assert_eq!(
        post("wamid.offline.2", "What are your opening hours?").await,
        200
    );
    let answered = eventually(60, || async { replies(&client, &base).await.len() == 2 }).await;
    assert!(answered, "no canned reply:\n{}", server_log());
    let texts = replies(&client, &base).await;
    assert!(texts.contains(&CANNED_HOURS.to_owned()), "{texts:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        balance(&client, &base).await,
        after_ai,
        "canned replies are free"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_embeddings_alone_find_passages_by_meaning() {
    let Some(dir) = model_var(
        "CONCIERGE_TEST_LOCAL_EMBEDDING_MODEL",
        "the directory of scripts/fetch-model.sh --embedding",
    ) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    // No chat model: embeddings only.
    let server = Server::start(work.path(), &[("CONCIERGE_LOCAL_EMBEDDING_MODEL", &dir)]).await;
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        let url = format!("{}/api/v1/tenants/{TENANT}{path}", server.base);
        async move {
            client
                .get(url)
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    // The import embedded the bakery's documents with the local model, under its id.
    let documents = get("/knowledge".into()).await;
    let documents = documents["documents"].as_array().unwrap();
    assert_eq!(documents.len(), 2, "{documents:?}\n{}", server.log());
    for d in documents {
        assert_eq!(
            d["embedding_model"],
            "all-MiniLM-L6-v2",
            "{d}\n{}",
            server.log()
        );
    }
    // "eggs" is no word of the FAQ's answer ("eggless"): its vector finds it.
    let found =
        get("/knowledge/search?q=Can%20I%20get%20a%20cake%20without%20eggs%3F".into()).await;
    let results = found["results"].as_array().unwrap();
    assert!(
        results.iter().any(|r| r["text"]
            .as_str()
            .unwrap_or("")
            .contains("can be made eggless")),
        "{found}"
    );
    let nothing = get("/knowledge/search?q=Do%20you%20sell%20pizza%3F".into()).await;
    assert_eq!(nothing["results"], json!([]), "{nothing}");
}
