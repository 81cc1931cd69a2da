//! `concierge-server`: the Concierge engine over HTTP, SQLite or Postgres.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use concierge_server::configuration::RawConfig;
use concierge_server::startup::{shutdown_signal, Application};
use concierge_server::telemetry::init_tracing;

/// mimalloc: a webhook is many small, short-lived allocations (HTTP, JSON, SQL binds); the
/// ingress benchmark measured glibc malloc at over a tenth of the server's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Concierge server. Every setting comes from the environment (see docs/deploy-server.md),
/// optionally from a TOML file with the same keys.
#[derive(Debug, Parser)]
#[command(name = "concierge-server", version)]
struct Cli {
    /// A TOML configuration file (keys as the environment variables, e.g. `database_url`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A tenant file to import (create or update) at start; repeatable.
    #[arg(long = "tenant", value_name = "FILE")]
    tenants: Vec<PathBuf>,
    /// Approve a tenant's current persona as the operator, skipping the model's safety review
    /// (for the offline demo, whose small model is no reliable classifier); repeatable.
    #[arg(long = "approve-persona", value_name = "TENANT_ID")]
    approve_personas: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    concierge_server::panic_guard::install_hook();
    let settings = RawConfig::load(cli.config.as_deref())?.validate()?;
    let app = Application::build(settings)
        .await
        .context("starting concierge-server")?;
    app.import_tenant_files(&cli.tenants).await?;
    for tenant in &cli.approve_personas {
        app.approve_persona(tenant).await?;
    }
    app.run_until(shutdown_signal()).await?;
    Ok(())
}
