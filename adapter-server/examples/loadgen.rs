//! A bounded load generator for a running `concierge-server` (see `adapter-server/bench/ingress.sh`).
//!
//! It imports a tenant with a canned WhatsApp rule (buffer off), hosts a fake Graph API, and runs:
//!
//! 1. **ingress**: `--requests` signed WhatsApp webhooks, each from a new customer, with
//!    `--concurrency` in flight, for at most `--seconds`: sustained acknowledged req/s and
//!    p50/p99 ack latency;
//! 2. **drain**: waits until every job is done (so all those sessions exist), then reads the
//!    server's RSS (`/proc/PID/status` `VmRSS`) if `--pid` is given;
//! 3. **ack → outbound**: webhooks at a fixed rate (default: half the ingress rate) for
//!    `--latency-seconds`; for each, the time from the 200 to the reply's request arriving at the
//!    Graph fake (replies quote the inbound `wamid`), p50/p99. The default rate is half the
//!    end-to-end rate of phases 1–2 (acknowledged, processed and sent), the pipeline's max.
//!
//! Results are printed as `key=value` lines. Nothing here is a test: no timing is asserted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use clap::Parser;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

const PHONE: &str = "300000000000001";

/// Load generator arguments.
#[derive(Debug, Parser)]
struct Args {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// The server's PID, to read its RSS.
    #[arg(long)]
    pid: Option<u32>,
    /// `CONCIERGE_ADMIN_TOKEN` of the server.
    #[arg(long)]
    admin_token: String,
    /// `WHATSAPP_APP_SECRET` of the server.
    #[arg(long)]
    app_secret: String,
    /// The port to host the Graph fake on (the server's `CONCIERGE_GRAPH_API_URL`).
    #[arg(long)]
    graph_port: u16,
    /// Ingress: how many webhooks at most.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Ingress: requests in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Ingress: at most this long.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Ack → outbound: requests per second (default: half the measured end-to-end rate).
    #[arg(long)]
    rate: Option<f64>,
    /// Ack → outbound: for this long.
    #[arg(long, default_value_t = 15)]
    latency_seconds: u64,
    /// Which phases to run, comma-separated: `ingress`, `drain`, `latency`.
    #[arg(long, default_value = "ingress,drain,latency", value_delimiter = ',')]
    phases: Vec<Phase>,
    /// Numbers this run's wamids and customers (0–9), so runs on one database never collide.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=9))]
    run: u8,
    /// Drain without ingress (another run stored the webhooks): how many customers it sent.
    #[arg(long, default_value_t = 0)]
    customers: usize,
}

/// A phase of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Phase {
    /// Signed webhooks as fast as acknowledged.
    Ingress,
    /// Wait until every job is done; RSS with the sessions.
    Drain,
    /// Ack → outbound request at a fixed rate.
    Latency,
}

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn graph(State(arrivals): State<Arrivals>, body: Bytes) -> Json<Value> {
    let now = Instant::now();
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(wamid) = request["context"]["message_id"].as_str() {
        arrivals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(wamid.to_owned(), now);
    }
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": request["to"], "wa_id": request["to"] }],
        "messages": [{ "id": "wamid.bench" }]
    }))
}

fn delivery(wamid: &str, from: &str) -> Vec<u8> {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550000000", "phone_number_id": PHONE },
            "contacts": [{ "profile": { "name": "Bench" }, "wa_id": from }],
            "messages": [{ "from": from, "id": wamid, "timestamp": ts.to_string(),
                           "type": "text", "text": { "body": "what are your hours?" } }]
        } }] }]
    })
    .to_string()
    .into_bytes()
}

struct Client {
    http: reqwest::Client,
    url: String,
    secret: Vec<u8>,
}

impl Client {
    /// Posts one signed delivery; the time to its 200.
    async fn post(&self, wamid: &str, from: &str) -> anyhow::Result<Duration> {
        let body = delivery(wamid, from);
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.secret)?;
        mac.update(&body);
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let t = Instant::now();
        let r = self
            .http
            .post(&self.url)
            .header("X-Hub-Signature-256", signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = r.status();
        let _ = r.bytes().await?;
        if status != 200 {
            bail!("HTTP {status}");
        }
        Ok(t.elapsed())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn unfinished_jobs(http: &reqwest::Client, base: &str) -> anyhow::Result<i64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| {
            l.starts_with("concierge_jobs{")
                && (l.contains("state=\"pending\"") || l.contains("state=\"running\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
        .sum())
}

async fn setup(args: &Args, http: &reqwest::Client) -> anyhow::Result<()> {
    let tenant = format!(
        r#"
id = "bench"
name = "Bench Bakery"
currency = "INR"
persona.custom = "You are the assistant of Bench Bakery."

[channels.whatsapp]
phone_number_id = "{PHONE}"

[channels.whatsapp.replies]
wait_seconds = 0
default_rule = {{ kind = "canned", text = "We're open 7am to 8pm every day." }}
"#
    );
    let r = http
        .put(format!("{}/api/v1/tenants", args.base))
        .bearer_auth(&args.admin_token)
        .body(tenant)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("tenant import: HTTP {}", r.status());
    }
    let r = http
        .put(format!(
            "{}/api/v1/tenants/bench/secrets/wa_phone:{PHONE}",
            args.base
        ))
        .bearer_auth(&args.admin_token)
        .json(&json!({ "token": "EAAG-bench" }))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("secret: HTTP {}", r.status());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency.max(64))
        .timeout(Duration::from_secs(30))
        .build()?;
    let arrivals: Arrivals = Arc::default();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.graph_port))
        .await
        .context("binding the Graph fake")?;
    let app = Router::new()
        .route("/{version}/{account}/messages", post(graph))
        .with_state(arrivals.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    setup(&args, &http).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Some(pid) = args.pid {
        println!("rss_idle_kib={}", rss_kib(pid).unwrap_or(0));
    }
    let client = Arc::new(Client {
        http: http.clone(),
        url: format!("{}/webhook/whatsapp", args.base),
        secret: args.app_secret.as_bytes().to_vec(),
    });
    let errors = Arc::new(AtomicUsize::new(0));

    // 1. Ingress.
    let mut customers = args.customers;
    let mut ingress_wall = 0.0;
    if args.phases.contains(&Phase::Ingress) {
        let (count, wall) = ingress_phase(&args, &client, &errors).await?;
        customers = count;
        ingress_wall = wall;
    }

    // 2. Drain, then RSS with one session per ingress customer.
    let mut end_to_end = 0.0;
    if args.phases.contains(&Phase::Drain) {
        let drain = Instant::now();
        loop {
            if unfinished_jobs(&http, &args.base).await? == 0 {
                break;
            }
            if drain.elapsed() > Duration::from_secs(600) {
                bail!("jobs did not drain in 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let drain_seconds = drain.elapsed().as_secs_f64();
        println!("drain_seconds={drain_seconds:.1}");
        // What the whole pipeline sustains: acknowledged, processed and sent.
        end_to_end = customers as f64 / (ingress_wall + drain_seconds);
        println!("end_to_end_rps={end_to_end:.0}");
        println!(
            "replies_at_graph={}",
            arrivals
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .len()
        );
        if let Some(pid) = args.pid {
            println!("sessions={customers}");
            println!("rss_sessions_kib={}", rss_kib(pid).unwrap_or(0));
        }
    }
    if !args.phases.contains(&Phase::Latency) {
        println!("errors_total={}", errors.load(Ordering::Relaxed));
        return Ok(());
    }

    // 3. Ack → outbound at a fixed rate: half of what the pipeline sustains end to end (at
    // half the ingress rate alone the workers fall behind and the figure measures the queue).
    let rate = args.rate.unwrap_or(end_to_end / 2.0).max(1.0);
    let period = Duration::from_secs_f64(1.0 / rate);
    let acks: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = Instant::now() + Duration::from_secs(args.latency_seconds);
    let mut sent = 0usize;
    let mut inflight = tokio::task::JoinSet::new();
    while Instant::now() < end {
        ticker.tick().await;
        let (client, acks, errors) = (client.clone(), acks.clone(), errors.clone());
        let wamid = format!("wamid.bench.r{}.l{sent}", args.run);
        let from = format!("{}2{sent:010}", args.run);
        inflight.spawn(async move {
            match client.post(&wamid, &from).await {
                Ok(_) => {
                    acks.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(wamid, Instant::now());
                }
                Err(_) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        sent += 1;
    }
    while inflight.join_next().await.is_some() {}
    let wait = Instant::now();
    let acks = acks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    loop {
        let arrived = {
            let a = arrivals
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            acks.keys().filter(|w| a.contains_key(*w)).count()
        };
        if arrived == acks.len() || wait.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let a = arrivals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut e2e: Vec<Duration> = acks
        .iter()
        .filter_map(|(w, ack)| Some(a.get(w)?.saturating_duration_since(*ack)))
        .collect();
    e2e.sort();
    println!("latency_rate_rps={rate:.0}");
    println!("latency_sent={sent}");
    println!("latency_acked={}", acks.len());
    println!("latency_replied={}", e2e.len());
    println!("ack_to_outbound_p50_ms={:.2}", percentile(&e2e, 0.50));
    println!("ack_to_outbound_p99_ms={:.2}", percentile(&e2e, 0.99));
    println!("errors_total={}", errors.load(Ordering::Relaxed));
    Ok(())
}

/// Phase 1: signed webhooks as fast as they are acknowledged. Returns (acknowledged, seconds).
async fn ingress_phase(
    args: &Args,
    client: &Arc<Client>,
    errors: &Arc<AtomicUsize>,
) -> anyhow::Result<(usize, f64)> {
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (client, next, errors) = (client.clone(), next.clone(), errors.clone());
        let total = args.requests;
        let run = args.run;
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || Instant::now() >= deadline {
                    return latencies;
                }
                match client
                    .post(
                        &format!("wamid.bench.r{run}.i{i}"),
                        &format!("{run}1{i:010}"),
                    )
                    .await
                {
                    Ok(d) => latencies.push(d),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    let mut latencies = Vec::new();
    while let Some(r) = tasks.join_next().await {
        latencies.extend(r?);
    }
    let wall = started.elapsed().as_secs_f64();
    latencies.sort();
    let rate = latencies.len() as f64 / wall;
    println!("ingress_requests={}", latencies.len());
    println!("ingress_errors={}", errors.load(Ordering::Relaxed));
    println!("ingress_seconds={wall:.2}");
    println!("ingress_rps={rate:.0}");
    println!("ingress_p50_ms={:.2}", percentile(&latencies, 0.50));
    println!("ingress_p99_ms={:.2}", percentile(&latencies, 0.99));

    Ok((latencies.len(), wall))
}
