//! Shared test helpers: runtimes, fresh databases (SQLite in a temp dir, Postgres in a fresh
//! database of the cluster named by `CONCIERGE_TEST_DATABASE_URL`).

use std::future::Future;
use std::str::FromStr;
use std::sync::Once;

use concierge_server::store::SqlStore;
use rand::Rng;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

/// Runs a future on a fresh multi-threaded tokio runtime (the contract-test runner).
pub fn run<F: Future<Output = ()>>(future: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future);
}

/// A fresh, migrated SQLite store in its own temporary directory.
pub async fn sqlite_store() -> SqlStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqlStore::open_sqlite(&dir.path().join("concierge.db"))
        .await
        .expect("open sqlite");
    store.keep_alive(dir)
}

static PG_NOTICE: Once = Once::new();

/// The test cluster's URL, or `None` (with a notice printed once) when Postgres tests are
/// skipped. `adapter-server/scripts/with-postgres.sh` sets it.
pub fn pg_base_url() -> Option<String> {
    match std::env::var("CONCIERGE_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            PG_NOTICE.call_once(|| {
                eprintln!(
                    "NOTICE: CONCIERGE_TEST_DATABASE_URL is not set: Postgres tests are skipped \
                     (run under adapter-server/scripts/with-postgres.sh to include them)"
                );
            });
            None
        }
    }
}

/// Creates a fresh database on the test cluster and returns its connect options.
pub async fn fresh_pg_database() -> Option<PgConnectOptions> {
    let base = pg_base_url()?;
    let options = PgConnectOptions::from_str(&base).expect("CONCIERGE_TEST_DATABASE_URL");
    let name = format!("concierge_test_{:016x}", rand::thread_rng().gen::<u64>());
    let mut conn = options
        .connect()
        .await
        .expect("connect to the test cluster");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    conn.close().await.ok();
    Some(options.database(&name))
}

/// A fresh, migrated Postgres store, or `None` when Postgres tests are skipped.
pub async fn pg_store() -> Option<SqlStore> {
    let options = fresh_pg_database().await?;
    Some(
        SqlStore::open_postgres(options, 8)
            .await
            .expect("open postgres"),
    )
}
