//! Logging and metrics.
//!
//! Logs never carry message bodies or secrets: only ids, outcomes and errors. Metrics are a
//! small hand-rolled registry rendered in the Prometheus text format at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber (`RUST_LOG`, default `info`). Safe to call twice.
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

/// Counters by name and label set.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
}

impl Metrics {
    /// Adds one to a counter with a rendered label set (`kind="inbound",outcome="turn"`).
    pub fn inc(&self, name: &'static str, labels: String) {
        let mut c = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *c.entry((name, labels)).or_default() += 1;
    }

    /// Counts an HTTP request by route and status.
    pub fn request(&self, route: &str, status: u16) {
        self.inc(
            "concierge_http_requests_total",
            format!("route=\"{route}\",status=\"{status}\""),
        );
    }

    /// Counts a finished job attempt by kind and outcome.
    pub fn job_finished(&self, kind: &str, outcome: &str) {
        self.inc(
            "concierge_jobs_finished_total",
            format!("kind=\"{kind}\",outcome=\"{outcome}\""),
        );
    }

    /// Renders the counters, plus `gauges` (name, labels, value), as Prometheus text.
    pub fn render(&self, gauges: &[(&str, String, i64)]) -> String {
        let c = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::new();
        let mut last = "";
        for ((name, labels), value) in c.iter() {
            if *name != last {
                let _ = writeln!(out, "# TYPE {name} counter");
                last = name;
            }
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
        let mut last = String::new();
        for (name, labels, value) in gauges {
            if *name != last {
                let _ = writeln!(out, "# TYPE {name} gauge");
                last = (*name).to_owned();
            }
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
        out
    }
}
