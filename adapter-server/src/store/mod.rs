//! SQL storage: every `concierge_core::ports` storage trait over SQLite or PostgreSQL.
//!
//! One [`SqlStore`] wraps either pool. The SQL text is shared where both dialects agree
//! (`$1` placeholders, `ON CONFLICT`, `RETURNING`, partial unique indexes); where they do not,
//! the code says so (`FOR UPDATE SKIP LOCKED` only on Postgres, `BEGIN IMMEDIATE` on SQLite).
//!
//! **Architecture Invariant:** the store does I/O only. A debit or refund reads the tenant's
//! grant rows and the key's debit row under lock, and applies the plan the core computes from
//! them ([`plan_debit`](concierge_core::billing::plan_debit) /
//! [`plan_refund`](concierge_core::billing::plan_refund)) inside the same write transaction (one
//! row per grant, one per debit key); the store never decides what a message means.

mod audit;
mod catalog;
mod jobs;
mod knowledge;
mod operators;
mod owners;
mod ports;
mod secrets;

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use concierge_core::ports::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use jobs::{
    ClaimedJob, DeadJob, IngressJob, IngressRecord, JobKind, JobState, OutboxRow, RetryPolicy,
};
pub use secrets::{SecretBox, SecretError};

/// The SQLite migrations, embedded (D1 applies the same files).
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "email aliases",
        include_str!("../../migrations/sqlite/0002_email_aliases.sql"),
    ),
    (
        3,
        "ledger rows",
        include_str!("../../migrations/sqlite/0003_ledger_rows.sql"),
    ),
    (
        4,
        "send progress",
        include_str!("../../migrations/sqlite/0004_send_progress.sql"),
    ),
    (
        5,
        "outbox dead letters",
        include_str!("../../migrations/sqlite/0005_outbox_dead_letters.sql"),
    ),
    (
        6,
        "dedupe index skips null",
        include_str!("../../migrations/sqlite/0006_dedupe_index_skips_null.sql"),
    ),
    (
        7,
        "owners",
        include_str!("../../migrations/sqlite/0007_owners.sql"),
    ),
    (
        8,
        "messages tenant conversation index",
        include_str!("../../migrations/sqlite/0008_messages_tenant_conversation_index.sql"),
    ),
    (
        9,
        "audit log and pricing",
        include_str!("../../migrations/sqlite/0009_audit_log_and_pricing.sql"),
    ),
    (
        10,
        "persona catalog",
        include_str!("../../migrations/sqlite/0010_persona_catalog.sql"),
    ),
    (
        11,
        "operators",
        include_str!("../../migrations/sqlite/0011_operators.sql"),
    ),
    (
        12,
        "knowledge",
        include_str!("../../migrations/sqlite/0012_knowledge.sql"),
    ),
];

/// The PostgreSQL migrations, embedded.
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "email aliases",
        include_str!("../../migrations/postgres/0002_email_aliases.sql"),
    ),
    (
        3,
        "ledger rows",
        include_str!("../../migrations/postgres/0003_ledger_rows.sql"),
    ),
    (
        4,
        "send progress",
        include_str!("../../migrations/postgres/0004_send_progress.sql"),
    ),
    (
        5,
        "outbox dead letters",
        include_str!("../../migrations/postgres/0005_outbox_dead_letters.sql"),
    ),
    (
        6,
        "dedupe index skips null",
        include_str!("../../migrations/postgres/0006_dedupe_index_skips_null.sql"),
    ),
    (
        7,
        "owners",
        include_str!("../../migrations/postgres/0007_owners.sql"),
    ),
    (
        8,
        "messages tenant conversation index",
        include_str!("../../migrations/postgres/0008_messages_tenant_conversation_index.sql"),
    ),
    (
        9,
        "audit log and pricing",
        include_str!("../../migrations/postgres/0009_audit_log_and_pricing.sql"),
    ),
    (
        10,
        "persona catalog",
        include_str!("../../migrations/postgres/0010_persona_catalog.sql"),
    ),
    (
        11,
        "operators",
        include_str!("../../migrations/postgres/0011_operators.sql"),
    ),
    (
        12,
        "knowledge",
        include_str!("../../migrations/postgres/0012_knowledge.sql"),
    ),
];

/// Which database a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (embedded, one process).
    Sqlite,
    /// PostgreSQL (several replicas).
    Postgres,
}

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool and `$pg` to whether it is Postgres.
/// The body is type-checked once per backend, so the same sqlx calls serve both.
macro_rules! on_pool {
    ($self:expr, |$pool:ident, $pg:ident| $body:expr) => {
        match &$self.pool {
            $crate::store::Pool::Sqlite($pool) => {
                #[allow(unused_variables)]
                let $pg = false;
                $body
            }
            $crate::store::Pool::Postgres($pool) => {
                #[allow(unused_variables)]
                let $pg = true;
                $body
            }
        }
    };
}
pub(crate) use on_pool;

/// The statement that opens a write transaction: `BEGIN IMMEDIATE` takes SQLite's write lock
/// up front (no deadlock on upgrade); Postgres locks rows with `FOR UPDATE` instead.
pub(crate) fn begin_statement(pg: bool) -> &'static str {
    if pg {
        "BEGIN"
    } else {
        "BEGIN IMMEDIATE"
    }
}

/// A failure opening or migrating the database.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL is not a `sqlite:` or `postgres:` URL.
    #[error("unsupported DATABASE_URL scheme (expected sqlite: or postgres:)")]
    UnsupportedUrl,
    /// Could not connect.
    #[error("could not open the database: {0}")]
    Connect(#[source] sqlx::Error),
    /// Migrations failed.
    #[error("could not migrate the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// Every storage port over SQL.
#[derive(Clone)]
pub struct SqlStore {
    pub(crate) pool: Pool,
    policy: RetryPolicy,
    /// Keeps something alive as long as the store (a temp dir in tests).
    keepalive: Option<Arc<dyn Any + Send + Sync>>,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &self.dialect())
            .finish_non_exhaustive()
    }
}

impl SqlStore {
    /// Opens (and migrates) the database named by a URL: `sqlite:path/to/file.db`,
    /// `sqlite://…`, or `postgres://…` / `postgresql://…`. SQLite files are created if missing.
    ///
    /// # Errors
    /// [`OpenError`].
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, OpenError> {
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(OpenError::Connect)?;
            Self::open_postgres(options, max_connections).await
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url).map_err(OpenError::Connect)?;
            Self::open_sqlite_with(options, max_connections).await
        } else {
            Err(OpenError::UnsupportedUrl)
        }
    }

    /// Opens (and migrates) a PostgreSQL database.
    ///
    /// # Errors
    /// [`OpenError`].
    pub async fn open_postgres(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> Result<Self, OpenError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        Self::from_pool(Pool::Postgres(pool)).await
    }

    /// Opens (creating if needed) a SQLite database file.
    ///
    /// # Errors
    /// [`OpenError`].
    pub async fn open_sqlite(path: &Path) -> Result<Self, OpenError> {
        Self::open_sqlite_with(SqliteConnectOptions::new().filename(path), 4).await
    }

    async fn open_sqlite_with(
        options: SqliteConnectOptions,
        max_connections: u32,
    ) -> Result<Self, OpenError> {
        // Pragmas belong to the connection, not the migrations (D1 manages its own).
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(15))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.clamp(1, 8))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        Self::from_pool(Pool::Sqlite(pool)).await
    }

    async fn from_pool(pool: Pool) -> Result<Self, OpenError> {
        let store = SqlStore {
            pool,
            policy: RetryPolicy::default(),
            keepalive: None,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Keeps `value` alive as long as any clone of this store (a temporary directory).
    pub fn keep_alive(mut self, value: impl Any + Send + Sync) -> Self {
        self.keepalive = Some(Arc::new(value));
        self
    }

    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        match self.pool {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    async fn migrate(&self) -> Result<(), OpenError> {
        let files = match self.pool {
            Pool::Sqlite(_) => SQLITE_MIGRATIONS,
            Pool::Postgres(_) => POSTGRES_MIGRATIONS,
        };
        let migrations: Vec<Migration> = files
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                )
            })
            .collect();
        // `locking` takes an advisory lock on Postgres, so replicas starting together
        // migrate once.
        let migrator = Migrator {
            migrations: Cow::Owned(migrations),
            ..Migrator::DEFAULT
        };
        on_pool!(self, |pool, pg| migrator.run(pool).await).map_err(OpenError::Migrate)
    }

    /// Checks that the database answers (for `/healthz`).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |pool, pg| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(db_err))
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        on_pool!(self, |pool, pg| pool.close().await);
    }
}

/// Maps a driver error: unique violations are conflicts, the rest backend errors.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    if let Some(d) = e.as_database_error() {
        if d.is_unique_violation() {
            return StoreError::Conflict(d.message().to_owned());
        }
    }
    StoreError::backend(e)
}

/// Serializes a document for a TEXT column.
pub(crate) fn to_doc<T: Serialize>(key: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

/// Reads a document from a TEXT column.
pub(crate) fn from_doc<T: DeserializeOwned>(key: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}
