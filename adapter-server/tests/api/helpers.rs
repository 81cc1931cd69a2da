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

/// Which database a test app runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The bearer token of the admin API in tests.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// The Discord bot's user id in tests (the fixtures mention it).
pub const BOT_USER_ID: &str = "1234560123453231555";
/// The Meta app secret in tests.
pub const META_APP_SECRET: &str = "meta-app-secret-for-tests";
/// The Meta webhook verify token in tests.
pub const META_VERIFY_TOKEN: &str = "meta-verify-token";
/// The shared secret of `/email/inbound` in tests.
pub const EMAIL_SECRET: &str = "email-secret-for-tests";

/// The Discord application's signing key in tests.
pub fn discord_signing_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[42u8; 32])
}

/// A running server with its fakes.
pub struct TestApp {
    pub address: String,
    pub store: concierge_server::store::SqlStore,
    pub client: reqwest::Client,
    pub discord: crate::fakes::Fake,
    pub openai: crate::fakes::Fake,
    pub graph: crate::fakes::Fake,
    /// The database (kept across [`TestApp::restart`]).
    pub database_url: String,
    dir: Option<std::sync::Arc<tempfile::TempDir>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

/// A database URL for a fresh database, or `None` when Postgres tests are skipped.
pub async fn database_url(db: Db) -> Option<(String, Option<tempfile::TempDir>)> {
    match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite:{}", dir.path().join("concierge.db").display());
            Some((url, Some(dir)))
        }
        Db::Postgres => {
            let base = pg_base_url()?;
            let options = fresh_pg_database().await?;
            let name = options.get_database().expect("database name").to_owned();
            let (head, _) = base.rsplit_once('/').expect("URL with a database");
            Some((format!("{head}/{name}"), None))
        }
    }
}

/// The configuration every test app starts from (before its `tweak`).
fn base_config(
    url: &str,
    discord: &crate::fakes::Fake,
    openai: &crate::fakes::Fake,
    graph: &crate::fakes::Fake,
) -> concierge_server::configuration::RawConfig {
    let public_key = hex::encode(discord_signing_key().verifying_key().as_bytes());
    concierge_server::configuration::RawConfig::from_pairs([
        ("DATABASE_URL", url),
        ("CONCIERGE_BIND", "127.0.0.1:0"),
        ("CONCIERGE_ADMIN_TOKEN", ADMIN_TOKEN),
        ("DISCORD_PUBLIC_KEY", public_key.as_str()),
        ("DISCORD_BOT_TOKEN", "bot-token-for-tests"),
        ("DISCORD_BOT_USER_ID", BOT_USER_ID),
        ("CONCIERGE_DISCORD_API_URL", discord.url.as_str()),
        ("CONCIERGE_AI_URL", openai.url.as_str()),
        ("CONCIERGE_GRAPH_API_URL", graph.url.as_str()),
        ("WHATSAPP_APP_SECRET", META_APP_SECRET),
        ("WHATSAPP_VERIFY_TOKEN", META_VERIFY_TOKEN),
        ("ENCRYPTION_KEY", &"11".repeat(32)),
        ("CONCIERGE_EMAIL_SECRET", EMAIL_SECRET),
        ("CONCIERGE_SHUTDOWN_SECONDS", "2"),
    ])
}

/// Starts the server on 127.0.0.1:0 over a fresh database, with fakes for Discord and an
/// OpenAI-compatible model, and `tweak` applied to the configuration.
pub async fn spawn_app_with(
    db: Db,
    tweak: impl FnOnce(&mut concierge_server::configuration::RawConfig),
) -> Option<TestApp> {
    let (url, dir) = database_url(db).await?;
    let discord = crate::fakes::discord().await;
    let openai = crate::fakes::openai().await;
    let graph = crate::fakes::graph().await;
    Some(
        start(
            url,
            dir.map(std::sync::Arc::new),
            discord,
            openai,
            graph,
            tweak,
        )
        .await,
    )
}

async fn start(
    url: String,
    dir: Option<std::sync::Arc<tempfile::TempDir>>,
    discord: crate::fakes::Fake,
    openai: crate::fakes::Fake,
    graph: crate::fakes::Fake,
    tweak: impl FnOnce(&mut concierge_server::configuration::RawConfig),
) -> TestApp {
    let mut raw = base_config(&url, &discord, &openai, &graph);
    tweak(&mut raw);
    let settings = raw.validate().expect("valid test configuration");
    let app = concierge_server::startup::Application::build(settings)
        .await
        .expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let store = app.state().store.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        app.run_until(async move {
            let _ = rx.await;
        })
        .await
        .expect("server ran");
    });
    TestApp {
        address,
        store,
        client: reqwest::Client::new(),
        discord,
        openai,
        graph,
        database_url: url,
        dir,
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

/// [`spawn_app_with`] and the default configuration.
pub async fn spawn_app(db: Db) -> Option<TestApp> {
    spawn_app_with(db, |_| {}).await
}

impl TestApp {
    /// `PUT /api/v1/tenants` with a TOML tenant file.
    pub async fn import_tenant(&self, toml: &str) -> reqwest::Response {
        self.client
            .put(format!("{}/api/v1/tenants", self.address))
            .bearer_auth(ADMIN_TOKEN)
            .body(toml.to_owned())
            .send()
            .await
            .expect("request")
    }

    /// A signed Discord request to `path`.
    pub async fn post_discord(&self, path: &str, body: &[u8], timestamp: i64) -> reqwest::Response {
        use ed25519_dalek::Signer;
        let ts = timestamp.to_string();
        let mut signed = ts.as_bytes().to_vec();
        signed.extend_from_slice(body);
        let signature = hex::encode(discord_signing_key().sign(&signed).to_bytes());
        self.client
            .post(format!("{}{path}", self.address))
            .header("X-Signature-Ed25519", signature)
            .header("X-Signature-Timestamp", ts)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .expect("request")
    }

    /// Stops this server (graceful, within its shutdown deadline: jobs still running then are
    /// abandoned and their leases released, as after a crash) and starts a new one on the same
    /// database and fakes, with `tweak` applied to the configuration.
    pub async fn restart(
        mut self,
        tweak: impl FnOnce(&mut concierge_server::configuration::RawConfig),
    ) -> TestApp {
        self.halt().await;
        let dir = self.dir.take();
        start(
            self.database_url.clone(),
            dir,
            self.discord.clone(),
            self.openai.clone(),
            self.graph.clone(),
            tweak,
        )
        .await
    }

    async fn halt(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }
}

/// Now, in seconds since the epoch.
pub fn now_secs() -> i64 {
    concierge_server::clock::now_millis() / 1000
}

/// Polls `check` until it is true or `secs` pass.
pub async fn eventually<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// Generates `sqlite` and `postgres` test modules calling `super::NAME(Db)` for each name.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Db::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Db::Postgres).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_databases;

/// The `X-Hub-Signature-256` value Meta sends for `body`, signed with `secret`.
pub fn meta_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl TestApp {
    /// A WhatsApp webhook delivery signed with the app secret.
    pub async fn post_whatsapp(&self, body: &[u8]) -> reqwest::Response {
        let signature = meta_signature(META_APP_SECRET, body);
        self.client
            .post(format!("{}/webhook/whatsapp", self.address))
            .header("X-Hub-Signature-256", signature)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .expect("request")
    }
}
