//! The chaos test: the `concierge-server` binary under load, faults and SIGKILLs.
//!
//! Two thousand-odd signed WhatsApp webhooks (about 30% of them redeliveries of a message
//! already acknowledged), sent by many customers in parallel — most one message per turn,
//! some in bursts inside a reply-buffer window — while a fake Graph API fails about 20% of
//! sends with a 5xx and the server process is killed with SIGKILL and restarted on the same
//! database several times. Then:
//!
//! - every acknowledged message got a reply at the Graph fake: each reply quotes the message
//!   it answers (`context.message_id`, the last message of its batch), so replies are
//!   attributed to turns; unbuffered messages each get one;
//! - the buffered tenant's bursts are answered as the customer sent them, because the buffer
//!   window runs from each message's acknowledgement, not from when a backlogged or restarted
//!   server got to it: each burst gets exactly one reply, quoting its last message, and the
//!   model was asked about exactly that burst — unless the sender's own timing split it (two
//!   consecutive messages acknowledged more than the window apart, because a kill or a slow
//!   ingress held one up), and then only there; bursts are never merged;
//! - each AI turn was charged exactly once (ledger balances through the admin API);
//! - nothing is stuck: the dead-letter list is empty and pending jobs drain.
//!
//! - no reply is sent twice: no inbound wamid is answered twice and no message part (named by
//!   the `biz_opaque_callback_data` each send carries) is accepted twice.
//!
//! The Graph fake behaves like Meta: it takes a little while to answer an accepted send (so a
//! kill can land between Graph accepting a send and the server recording it), and for every
//! accepted send it posts a signed `statuses` webhook (`sent`, with the request's callback
//! data and the wamid it returned) to the server a little later, retrying until it gets a 200
//! (the server may be down between a kill and its restart). The server reconciles the sends a
//! kill left in doubt against those receipts instead of repeating them; the figures (and the
//! reconciliations the server logged) are printed and written under `CARGO_TARGET_TMPDIR`.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::helpers::{database_url, now_secs, Db, ADMIN_TOKEN, META_APP_SECRET};

const PLAIN_PHONE: &str = "200000000000001";
const BURST_PHONE: &str = "200000000000002";
/// Customers of the unbuffered tenant, and messages each.
const PLAIN_CUSTOMERS: usize = 60;
const PLAIN_MESSAGES: usize = 18;
/// Customers of the buffered tenant, bursts each (of 2 or 3 messages).
const BURST_CUSTOMERS: usize = 20;
const BURSTS: usize = 6;
/// The buffered tenant's reply-buffer window.
const BUFFER_SECONDS: u64 = 1;
/// Chance that an acknowledged message is delivered again (≈30% of all deliveries).
const REDELIVER: f64 = 0.43;
/// Chance that the Graph fake fails a send.
const GRAPH_FAILURE: f64 = 0.2;
const KILLS: usize = 5;
const WORKERS: usize = 8;
/// How long the server waits for the receipt of an in-doubt send before sending it again.
const RECONCILE_WINDOW_SECS: u64 = 3;
/// Milli-units charged per AI reply (₹1).
const PRICE: i64 = 1000;
const START_CREDITS: i64 = 100_000;

fn plain_tenant() -> String {
    format!(
        r#"
id = "chaos-plain"
name = "Chaos Plain"
currency = "INR"
starting_credits = "{START_CREDITS}"
persona.custom = "You are the assistant of Chaos Plain, a cake shop."

[channels.whatsapp]
phone_number_id = "{PLAIN_PHONE}"

[channels.whatsapp.replies]
wait_seconds = 0
default_rule = {{ kind = "prompt", text = "Answer briefly." }}

[[channels.whatsapp.replies.rules]]
name = "hours"
match = {{ kind = "keywords", keywords = ["hours"] }}
reply = {{ kind = "canned", text = "We're open 7am to 8pm every day." }}
"#
    )
}

fn burst_tenant() -> String {
    format!(
        r#"
id = "chaos-burst"
name = "Chaos Burst"
currency = "INR"
starting_credits = "{START_CREDITS}"
persona.custom = "You are the assistant of Chaos Burst, a cake shop."

[channels.whatsapp]
phone_number_id = "{BURST_PHONE}"

[channels.whatsapp.replies]
wait_seconds = {BUFFER_SECONDS}
default_rule = {{ kind = "prompt", text = "Answer briefly." }}
"#
    )
}

const CANNED: &str = "We're open 7am to 8pm every day.";
const AI_REPLY: &str = "A 1 kg cake starts at ₹900.";

// ---------------------------------------------------------------- the Graph fake

#[derive(Default, Debug)]
struct GraphLog {
    /// 2xx answers per quoted inbound wamid, with the reply text.
    delivered: HashMap<String, Vec<String>>,
    /// 2xx answers per `biz_opaque_callback_data` (one message part each).
    parts: HashMap<String, usize>,
    /// Accepted sends without callback data.
    untagged: usize,
    failed: usize,
    unquoted: usize,
}

#[derive(Default, Debug)]
struct StatusStats {
    /// Status webhooks the server acknowledged.
    acked: AtomicUsize,
    /// Attempts refused or cut off (the server was down).
    refused: AtomicUsize,
}

#[derive(Clone)]
struct Graph {
    log: Arc<Mutex<GraphLog>>,
    rng: Arc<Mutex<StdRng>>,
    ids: Arc<AtomicUsize>,
    /// The server's `/webhook/whatsapp`, where statuses are posted.
    webhook: String,
    client: reqwest::Client,
    statuses: Arc<StatusStats>,
    posters: Arc<Mutex<tokio::task::JoinSet<()>>>,
}

async fn graph_send(
    State(g): State<Graph>,
    Path((_version, phone)): Path<(String, String)>,
    body: Bytes,
) -> impl IntoResponse {
    let (fail, latency, status_delay) = {
        let mut rng = g.rng.lock().unwrap();
        (
            rng.gen_bool(GRAPH_FAILURE),
            Duration::from_millis(rng.gen_range(0..25)),
            Duration::from_millis(rng.gen_range(20..400)),
        )
    };
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let wamid = {
        let mut log = g.log.lock().unwrap();
        if fail {
            log.failed += 1;
            let status = if log.failed % 2 == 0 {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            return (
                status,
                Json(json!({ "error": { "message": "fake failure", "code": 2 } })),
            );
        }
        let text = request["text"]["body"].as_str().unwrap_or("").to_owned();
        match request["context"]["message_id"].as_str() {
            Some(wamid) => log
                .delivered
                .entry(wamid.to_owned())
                .or_default()
                .push(text),
            None => log.unquoted += 1,
        }
        match request["biz_opaque_callback_data"].as_str() {
            Some(data) => *log.parts.entry(data.to_owned()).or_default() += 1,
            None => log.untagged += 1,
        }
        format!("wamid.out{}", g.ids.fetch_add(1, Ordering::SeqCst))
    };
    // Meta reports the accepted message in a status webhook a little later.
    let status = json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": { "display_phone_number": "15550783881", "phone_number_id": phone },
                    "statuses": [{
                        "id": wamid,
                        "status": "sent",
                        "timestamp": now_secs().to_string(),
                        "recipient_id": request["to"],
                        "biz_opaque_callback_data": request["biz_opaque_callback_data"],
                        "conversation": {
                            "id": "4a8e1f1bf8f1a4e6c1a1c0b6d4d6e2a1",
                            "origin": { "type": "service" }
                        },
                        "pricing": { "billable": false, "pricing_model": "PMP", "category": "service" }
                    }]
                }
            }]
        }]
    })
    .to_string()
    .into_bytes();
    {
        let (client, url, stats) = (g.client.clone(), g.webhook.clone(), g.statuses.clone());
        g.posters.lock().unwrap().spawn(async move {
            tokio::time::sleep(status_delay).await;
            post_status(&client, &url, &status, &stats).await;
        });
    }
    // The message is accepted; the answer takes a moment (a kill may land in between).
    tokio::time::sleep(latency).await;
    (
        StatusCode::OK,
        Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": request["to"], "wa_id": request["to"] }],
            "messages": [{ "id": wamid }]
        })),
    )
}

/// Posts a status webhook like Meta: signed, again and again until acknowledged.
async fn post_status(client: &reqwest::Client, url: &str, body: &[u8], stats: &StatusStats) {
    let signature = sign(body);
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        let sent = client
            .post(url)
            .header("X-Hub-Signature-256", &signature)
            .header("content-type", "application/json")
            .timeout(Duration::from_secs(10))
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 200 => {
                stats.acked.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(r) if r.status().is_client_error() => {
                panic!("a status webhook was refused with {}", r.status())
            }
            _ => {
                stats.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn graph_fake(seed: u64, webhook: String, client: reqwest::Client) -> (String, Graph) {
    let g = Graph {
        log: Arc::default(),
        rng: Arc::new(Mutex::new(StdRng::seed_from_u64(seed))),
        ids: Arc::default(),
        webhook,
        client,
        statuses: Arc::default(),
        posters: Arc::default(),
    };
    let app = Router::new()
        .route("/{version}/{account}/messages", post(graph_send))
        .with_state(g.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, g)
}

// ---------------------------------------------------------------- the server process

struct ServerProcess {
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    base: String,
    starts: usize,
}

impl ServerProcess {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_concierge-server"))
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start concierge-server");
        self.child = Some(child);
        self.starts += 1;
    }

    /// SIGKILL: no shutdown, no lease release.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }

    async fn wait_ready(&self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the server did not come up (log: {})",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------- load

fn delivery(phone: &str, wamid: &str, from: &str, text: &str) -> Vec<u8> {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": { "display_phone_number": "15550783881", "phone_number_id": phone },
                    "contacts": [{ "profile": { "name": "Chaos Customer" }, "wa_id": from }],
                    "messages": [{
                        "from": from, "id": wamid, "timestamp": now_secs().to_string(),
                        "type": "text", "text": { "body": text }
                    }]
                }
            }]
        }]
    })
    .to_string()
    .into_bytes()
}

fn sign(body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(META_APP_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Default)]
struct LoadStats {
    /// Deliveries the server acknowledged (first deliveries and redeliveries).
    acked: AtomicUsize,
    /// Redeliveries of an acknowledged message that were acknowledged.
    redelivered: AtomicUsize,
    /// Attempts that got no 200 (server down, killed mid-request, overloaded).
    refused: AtomicUsize,
}

/// Posts like Meta: again and again until acknowledged with a 200.
async fn deliver(client: &reqwest::Client, url: &str, body: &[u8], stats: &LoadStats) {
    let signature = sign(body);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let sent = client
            .post(url)
            .header("X-Hub-Signature-256", &signature)
            .header("content-type", "application/json")
            .timeout(Duration::from_secs(10))
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 200 => {
                stats.acked.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(r) if r.status().is_client_error() => {
                panic!("a valid delivery was refused with {}", r.status())
            }
            _ => {
                stats.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        assert!(
            Instant::now() < deadline,
            "a delivery was never acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

/// One message of the load, in send order per customer.
#[derive(Clone, Debug)]
struct Sent {
    wamid: String,
    customer: String,
    text: String,
    ai: bool,
    /// When the first delivery attempt started (the server acknowledged it later).
    started: Option<Instant>,
    /// When the server's 200 came back (it had acknowledged it earlier).
    acked: Option<Instant>,
}

struct Load {
    client: reqwest::Client,
    url: String,
    stats: Arc<LoadStats>,
    sent: Arc<Mutex<Vec<Sent>>>,
    redeliveries: Arc<Mutex<tokio::task::JoinSet<()>>>,
}

impl Load {
    async fn send(&self, phone: &str, mut message: Sent, rng: &mut StdRng) {
        let body = Arc::new(delivery(
            phone,
            &message.wamid,
            &message.customer,
            &message.text,
        ));
        message.started = Some(Instant::now());
        deliver(&self.client, &self.url, &body, &self.stats).await;
        message.acked = Some(Instant::now());
        self.sent.lock().unwrap().push(message);
        if rng.gen_bool(REDELIVER) {
            let wait = Duration::from_millis(rng.gen_range(0..1500));
            let (client, url, stats) = (self.client.clone(), self.url.clone(), self.stats.clone());
            self.redeliveries.lock().unwrap().spawn(async move {
                tokio::time::sleep(wait).await;
                deliver(&client, &url, &body, &stats).await;
                stats.redelivered.fetch_add(1, Ordering::Relaxed);
            });
        }
    }
}

async fn plain_customer(load: Arc<Load>, n: usize) {
    let mut rng = StdRng::seed_from_u64(1000 + n as u64);
    let customer = format!("1650{:07}", n);
    for seq in 0..PLAIN_MESSAGES {
        let wamid = format!("wamid.chaos.p{n}.{seq}");
        let ai = rng.gen_bool(0.6);
        let text = if ai {
            format!("tell me about your cakes please ({wamid})")
        } else {
            format!("what are your hours? ({wamid})")
        };
        let message = Sent {
            wamid,
            customer: customer.clone(),
            text,
            ai,
            started: None,
            acked: None,
        };
        load.send(PLAIN_PHONE, message, &mut rng).await;
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..40))).await;
    }
}

async fn burst_customer(load: Arc<Load>, n: usize) {
    let mut rng = StdRng::seed_from_u64(2000 + n as u64);
    let customer = format!("1651{:07}", n);
    tokio::time::sleep(Duration::from_millis(rng.gen_range(0..1000))).await;
    for burst in 0..BURSTS {
        for i in 0..rng.gen_range(2..=3) {
            let wamid = format!("wamid.chaos.b{n}.{burst}.{i}");
            let message = Sent {
                text: format!("a question in a burst ({wamid})"),
                wamid,
                customer: customer.clone(),
                ai: true,
                started: None,
                acked: None,
            };
            load.send(BURST_PHONE, message, &mut rng).await;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        // Longer than the buffer window after the burst's last acknowledgement: the next burst
        // is acknowledged more than a window later, so it is a new batch.
        tokio::time::sleep(Duration::from_millis(rng.gen_range(1600..2400))).await;
    }
}

// ---------------------------------------------------------------- admin API

async fn admin(client: &reqwest::Client, base: &str, path: &str) -> Value {
    client
        .get(format!("{base}/api/v1{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn balance_milli(client: &reqwest::Client, base: &str, tenant: &str) -> i64 {
    let v = admin(client, base, &format!("/tenants/{tenant}/credits")).await;
    let text = v["balance"].as_str().expect("balance").to_owned();
    (text.parse::<f64>().unwrap() * 1000.0).round() as i64
}

/// Jobs not finished yet (pending, including delayed retries, or running), from `/metrics`.
async fn unfinished_jobs(client: &reqwest::Client, base: &str) -> Option<i64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(
        text.lines()
            .filter(|l| {
                l.starts_with("concierge_jobs{")
                    && (l.contains("state=\"pending\"") || l.contains("state=\"running\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
            .sum(),
    )
}

// ---------------------------------------------------------------- the test

async fn chaos(db: Db) {
    let Some((db_url, dir)) = database_url(db).await else {
        return;
    };
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let (graph_url, graph) =
        graph_fake(7, format!("{base}/webhook/whatsapp"), client.clone()).await;
    let openai = crate::fakes::openai().await;
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", db_url.as_str()),
        ("CONCIERGE_BIND", &format!("127.0.0.1:{port}")),
        ("CONCIERGE_ADMIN_TOKEN", ADMIN_TOKEN),
        ("WHATSAPP_APP_SECRET", META_APP_SECRET),
        ("ENCRYPTION_KEY", &"22".repeat(32)),
        ("CONCIERGE_AI_URL", &openai.url),
        ("CONCIERGE_GRAPH_API_URL", &graph_url),
        ("CONCIERGE_WORKERS", &WORKERS.to_string()),
        ("CONCIERGE_LEASE_SECONDS", "2"),
        ("CONCIERGE_RETRY_BASE_MS", "100"),
        ("CONCIERGE_SHUTDOWN_SECONDS", "1"),
        (
            "CONCIERGE_RECONCILE_WINDOW_SECS",
            &RECONCILE_WINDOW_SECS.to_string(),
        ),
        // The sender's reconciliations are counted from the log.
        ("RUST_LOG", "warn,concierge_server::outbound=info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let log = work.path().join("server.log");
    let mut server = ServerProcess {
        env,
        log: log.clone(),
        child: None,
        base: base.clone(),
        starts: 0,
    };
    server.start();
    server.wait_ready(&client).await;

    // Tenants, their Graph tokens, and approved personas (the review runs on the fake model).
    for (tenant, phone, file) in [
        ("chaos-plain", PLAIN_PHONE, plain_tenant()),
        ("chaos-burst", BURST_PHONE, burst_tenant()),
    ] {
        let r = client
            .put(format!("{base}/api/v1/tenants"))
            .bearer_auth(ADMIN_TOKEN)
            .body(file)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let r = client
            .put(format!(
                "{base}/api/v1/tenants/{tenant}/secrets/wa_phone:{phone}"
            ))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "token": "EAAG-chaos" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    let store = concierge_server::store::SqlStore::open(&db_url, 2)
        .await
        .unwrap();
    assert!(
        crate::helpers::eventually(30, || async {
            let mut ok = true;
            for t in ["chaos-plain", "chaos-burst"] {
                use concierge_core::ports::TenantStore;
                let id = concierge_core::TenantId::parse(t).unwrap();
                ok &= store
                    .get_tenant(&id)
                    .await
                    .unwrap()
                    .is_some_and(|t| t.persona.cleared_for_ai());
            }
            ok
        })
        .await,
        "personas approved"
    );
    store.close().await;

    // The load, with SIGKILLs and restarts alongside.
    let load = Arc::new(Load {
        client: client.clone(),
        url: format!("{base}/webhook/whatsapp"),
        stats: Arc::default(),
        sent: Arc::default(),
        redeliveries: Arc::default(),
    });
    let load_started = Instant::now();
    let mut customers = tokio::task::JoinSet::new();
    for n in 0..PLAIN_CUSTOMERS {
        customers.spawn(plain_customer(load.clone(), n));
    }
    for n in 0..BURST_CUSTOMERS {
        customers.spawn(burst_customer(load.clone(), n));
    }
    let killer = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(99);
            let mut downtime = Duration::ZERO;
            let kills = std::env::var("CHAOS_KILLS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(KILLS);
            for _ in 0..kills {
                tokio::time::sleep(Duration::from_millis(rng.gen_range(1500..3000))).await;
                let t = Instant::now();
                server.kill();
                server.start();
                server.wait_ready(&client).await;
                downtime += t.elapsed();
            }
            (server, downtime)
        })
    };
    while let Some(r) = customers.join_next().await {
        r.expect("customer task");
    }
    let redeliveries = std::mem::take(&mut *load.redeliveries.lock().unwrap());
    let mut redeliveries = redeliveries;
    while let Some(r) = redeliveries.join_next().await {
        r.expect("redelivery task");
    }
    let load_time = load_started.elapsed();
    let (server, downtime) = killer.await.expect("killer");

    // Drain: every job finished (retries of failed sends included).
    let drain_started = Instant::now();
    let drained = crate::helpers::eventually(120, || async {
        unfinished_jobs(&client, &base).await == Some(0)
    })
    .await;
    let drain_time = drain_started.elapsed();
    graph.posters.lock().unwrap().abort_all();

    // ------------------------------------------------------------ the verdict
    let sent = load.sent.lock().unwrap().clone();
    let log_g = std::mem::take(&mut *graph.log.lock().unwrap());
    let mut problems = Vec::new();
    let mut duplicates = Vec::new();
    let copies = |wamid: &str| log_g.delivered.get(wamid).map_or(0, Vec::len);

    // Unbuffered tenant: one reply per message, of the right kind.
    let plain: Vec<&Sent> = sent.iter().filter(|m| m.wamid.contains(".p")).collect();
    for m in &plain {
        match copies(&m.wamid) {
            0 => problems.push(format!("no reply to {}", m.wamid)),
            1 => {}
            n => duplicates.push(format!("{} answered {n} times", m.wamid)),
        }
        if let Some(texts) = log_g.delivered.get(&m.wamid) {
            let want = if m.ai { AI_REPLY } else { CANNED };
            if texts.iter().any(|t| t != want) {
                problems.push(format!("{} got {texts:?}, wanted {want:?}", m.wamid));
            }
        }
    }
    // Buffered tenant: a reply quotes the last message of its batch, and the window runs from
    // when the server acknowledged each message, however late a worker runs it (backlog,
    // SIGKILL and restart). The sender guarantees, per customer:
    // - a burst's next message is posted only after the previous one was acknowledged, then
    //   30 ms; the next burst starts 1.6-2.4 s after the burst's last 200, so more than the
    //   window after its last acknowledgement: bursts are never merged, every burst's last
    //   message gets a reply;
    // - inside a burst, two consecutive messages `m`, `next` were acknowledged between
    //   `m.started` and `next.acked`; if that is less than the window, they were acknowledged
    //   within it and must share a batch. A burst is split (a reply quoting `m`) only where a
    //   kill, a restart or a slow ingress stretched that span past the window.
    // Each batch is answered once, and the model saw exactly the batch's messages.
    let window = Duration::from_secs(BUFFER_SECONDS);
    let burst: Vec<&Sent> = sent.iter().filter(|m| m.wamid.contains(".b")).collect();
    let mut burst_customers: HashMap<&str, Vec<&Sent>> = HashMap::new();
    for m in &burst {
        burst_customers.entry(&m.customer).or_default().push(m);
    }
    let group = |m: &Sent| m.wamid.rsplit_once('.').map(|p| p.0.to_owned());
    let mut burst_replies = 0usize;
    let mut burst_ends = 0usize;
    let mut splits = 0usize;
    let mut batches: Vec<Vec<&str>> = Vec::new();
    for messages in burst_customers.values() {
        let mut batch: Vec<&str> = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let n = copies(&m.wamid);
            batch.push(&m.wamid);
            if n > 0 {
                burst_replies += 1;
                batches.push(std::mem::take(&mut batch));
            }
            if n > 1 {
                duplicates.push(format!("{} answered {n} times", m.wamid));
            }
            match messages.get(i + 1) {
                Some(next) if group(next) == group(m) => {
                    if n > 0 {
                        splits += 1;
                        let span = next.acked.zip(m.started).map(|(a, s)| a - s);
                        if span.is_none_or(|span| span < window) {
                            problems.push(format!(
                                "burst split after {} although {} was acknowledged within \
                                 {span:?} of it (window {window:?})",
                                m.wamid, next.wamid
                            ));
                        }
                    }
                }
                _ => {
                    burst_ends += 1;
                    if n == 0 {
                        problems.push(format!("no reply to the end of burst {}", m.wamid));
                    }
                }
            }
        }
    }
    let prompts: Vec<String> = openai
        .requests()
        .iter()
        .filter_map(|r| {
            r.body["messages"]
                .as_array()?
                .last()?
                .get("content")?
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let mut seen_by_model: HashSet<&str> = HashSet::new();
    let mut asked: Vec<HashSet<&str>> = Vec::new();
    for p in &prompts {
        let mut in_prompt = HashSet::new();
        for m in &burst {
            if p.contains(&format!("({})", m.wamid)) {
                seen_by_model.insert(&m.wamid);
                in_prompt.insert(m.wamid.as_str());
            }
        }
        asked.push(in_prompt);
    }
    for m in &burst {
        if !seen_by_model.contains(m.wamid.as_str()) {
            problems.push(format!("{} never reached the model", m.wamid));
        }
    }
    for b in &batches {
        let want: HashSet<&str> = b.iter().copied().collect();
        if !asked.contains(&want) {
            let near: Vec<Vec<&str>> = asked
                .iter()
                .filter(|a| !a.is_disjoint(&want))
                .map(|a| {
                    let mut v: Vec<&str> = a.iter().copied().collect();
                    v.sort_unstable();
                    v
                })
                .collect();
            problems.push(format!(
                "no model request asked about exactly the batch {b:?}; requests about it: {near:?}"
            ));
        }
    }
    let strangers: Vec<&String> = log_g
        .delivered
        .keys()
        .filter(|w| !sent.iter().any(|m| &m.wamid == *w))
        .collect();
    // No message part accepted twice (the callback data names outbox key and part).
    for (data, n) in &log_g.parts {
        if *n > 1 {
            duplicates.push(format!("part {data} sent {n} times"));
        }
    }
    if log_g.untagged > 0 {
        problems.push(format!(
            "{} sends without biz_opaque_callback_data",
            log_g.untagged
        ));
    }
    if !strangers.is_empty() || log_g.unquoted > 0 {
        problems.push(format!(
            "replies to unknown messages {strangers:?}, {} unquoted",
            log_g.unquoted
        ));
    }

    // One charge per AI turn.
    let plain_ai = plain.iter().filter(|m| m.ai).count() as i64;
    let plain_charged = START_CREDITS * 1000 - balance_milli(&client, &base, "chaos-plain").await;
    if plain_charged != plain_ai * PRICE {
        problems.push(format!(
            "chaos-plain charged {plain_charged} milli for {plain_ai} AI turns"
        ));
    }
    let outbox = admin(&client, &base, "/tenants/chaos-burst/outbox").await;
    let rows = outbox["outbox"].as_array().cloned().unwrap_or_default();
    let burst_turns = rows.len() as i64;
    if rows.iter().any(|r| r["state"] != "sent") {
        problems.push("a chaos-burst outbox row is not sent".into());
    }
    if burst_turns != burst_replies as i64 {
        problems.push(format!(
            "chaos-burst: {burst_turns} turns in the outbox, {burst_replies} answered at Graph"
        ));
    }
    let burst_charged = START_CREDITS * 1000 - balance_milli(&client, &base, "chaos-burst").await;
    if burst_charged != burst_turns * PRICE {
        problems.push(format!(
            "chaos-burst charged {burst_charged} milli for {burst_turns} AI turns"
        ));
    }

    // Nothing stuck.
    let dead = admin(&client, &base, "/dead-letters").await;
    let dead = dead["dead_letters"].as_array().cloned().unwrap_or_default();
    if !dead.is_empty() {
        problems.push(format!("dead letters: {dead:?}"));
    }
    if !drained {
        problems.push(format!(
            "jobs still unfinished after 120 s: {:?}",
            unfinished_jobs(&client, &base).await
        ));
    }

    let stats = &load.stats;
    let mut report = String::new();
    let _ = writeln!(report, "chaos test ({db:?})");
    let _ = writeln!(
        report,
        "  messages: {} ({} unbuffered; {} buffered, in {burst_ends} bursts answered in \
         {burst_turns} turns: {splits} splits where a burst's acknowledgements were more \
         than the {BUFFER_SECONDS} s window apart)",
        sent.len(),
        plain.len(),
        burst.len(),
    );
    let _ = writeln!(
        report,
        "  deliveries acknowledged: {} ({} redeliveries of acknowledged messages = {:.0}%), \
         {} attempts refused or cut off by kills",
        stats.acked.load(Ordering::Relaxed),
        stats.redelivered.load(Ordering::Relaxed),
        100.0 * stats.redelivered.load(Ordering::Relaxed) as f64
            / stats.acked.load(Ordering::Relaxed).max(1) as f64,
        stats.refused.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        report,
        "  SIGKILLs: {} (starts: {}, downtime {:.1} s); Graph 5xx answers: {}",
        server.starts - 1,
        server.starts,
        downtime.as_secs_f64(),
        log_g.failed
    );
    let _ = writeln!(
        report,
        "  AI turns charged: {plain_ai} unbuffered + {burst_turns} buffered",
    );
    let server_log = std::fs::read_to_string(&log).unwrap_or_default();
    let logged = |what: &str| server_log.lines().filter(|l| l.contains(what)).count();
    let _ = writeln!(
        report,
        "  status webhooks acknowledged: {} ({} attempts refused or cut off by kills)",
        graph.statuses.acked.load(Ordering::Relaxed),
        graph.statuses.refused.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        report,
        "  in-doubt sends: {} found delivered by their receipt (not resent), {} deferred for a \
         receipt, {} resent after the {RECONCILE_WINDOW_SECS} s window",
        logged("in-doubt part was delivered"),
        logged("waiting for its delivery receipt"),
        logged("within the reconciliation window"),
    );
    let _ = writeln!(report, "  duplicate replies: {}", duplicates.len());
    for d in &duplicates {
        let _ = writeln!(report, "    {d}");
    }
    let _ = writeln!(
        report,
        "  load {:.1} s, drain {:.1} s, total {:.1} s; server log {}",
        load_time.as_secs_f64(),
        drain_time.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        log.display()
    );
    eprintln!("{report}");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("chaos-{db:?}.txt"));
    let _ = std::fs::write(&out, &report);
    drop(server);
    if std::env::var_os("CHAOS_KEEP").is_some() {
        eprintln!(
            "keeping the database {db_url} and {}",
            work.path().display()
        );
        std::mem::forget(dir);
        std::mem::forget(work);
        return;
    }
    if !duplicates.is_empty() {
        problems.push(format!("{} duplicate replies", duplicates.len()));
    }
    if !problems.is_empty() {
        // Keep the server log for a look.
        let kept = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("chaos-{db:?}.log"));
        let _ = std::fs::copy(&log, &kept);
        panic!(
            "{} problems (server log copied to {}):\n{}",
            problems.len(),
            kept.display(),
            problems
                .iter()
                .take(40)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    chaos(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    chaos(Db::Postgres).await;
}
