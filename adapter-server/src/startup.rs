//! Building and running the application: database, engine, workers and HTTP server.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use concierge_core::engine::EngineConfig;
use concierge_core::engine::{EngineError, IngestOutcome};
use concierge_core::ids::TenantId;
use concierge_core::ports::{AiProvider, Clock, NoAi, Ports};
use concierge_core::tenant::TenantFile;
use concierge_core::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::ai::OpenAiCompatible;
use crate::clock::SystemClock;
use crate::configuration::Settings;
use crate::ingress::{IngressQueue, TenantRoutes};
use crate::jobs::Workers;
use crate::outbound::{OutboxOutbound, Sender, SenderConfig, SenderError};
use concierge_core::front::{DemoLimiter, FrontConfig};

use crate::routes::{router, AppParts, AppState};
use crate::store::{OpenError, RetryPolicy, SecretBox, SqlStore};
use crate::telemetry::Metrics;

/// The application could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database.
    #[error(transparent)]
    Database(#[from] OpenError),
    /// Binding the listener.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The sender.
    #[error(transparent)]
    Sender(#[from] SenderError),
    /// A tenant file given with `--tenant`.
    #[error("tenant file {path}: {message}")]
    TenantFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The local model (`CONCIERGE_LOCAL_MODEL`) could not be loaded.
    #[error("CONCIERGE_LOCAL_MODEL: {0}")]
    LocalModel(String),
    /// The local embedding model (`CONCIERGE_LOCAL_EMBEDDING_MODEL`) could not be loaded.
    #[error("CONCIERGE_LOCAL_EMBEDDING_MODEL: {0}")]
    LocalEmbeddingModel(String),
    /// `--approve-persona` named a tenant that does not exist, or the store failed.
    #[error("approving the persona of {tenant}: {message}")]
    ApprovePersona {
        /// The tenant.
        tenant: String,
        /// Why.
        message: String,
    },
    /// The server failed.
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
}

/// Loads the offline model on a blocking thread (seconds the first time: it is re-quantized).
#[cfg(feature = "local-model")]
async fn load_local_model(
    path: &Path,
    embeddings: bool,
) -> Result<Arc<dyn AiProvider>, StartupError> {
    let owned = path.to_owned();
    let model = tokio::task::spawn_blocking(move || crate::ai::local::LocalModel::load(&owned))
        .await
        .map_err(|e| StartupError::LocalModel(e.to_string()))?
        .map_err(|e| StartupError::LocalModel(e.to_string()))?;
    let info = model.info();
    tracing::info!(
        model = %info.path.display(),
        load_ms = info.load_ms,
        requantized = info.requantized,
        cache = ?info.cache,
        "offline/basic mode: AI replies come from a small local model (demo grade{})",
        if embeddings { "" } else { "; no embeddings, so intent rules are skipped: set CONCIERGE_LOCAL_EMBEDDING_MODEL" }
    );
    Ok(Arc::new(model))
}

/// Without the `local-model` feature the configuration already refuses `CONCIERGE_LOCAL_MODEL`.
#[cfg(not(feature = "local-model"))]
async fn load_local_model(
    path: &Path,
    _embeddings: bool,
) -> Result<Arc<dyn AiProvider>, StartupError> {
    Err(StartupError::LocalModel(format!(
        "{}: this binary was built without the `local-model` feature",
        path.display()
    )))
}

/// Loads the embedding model on a blocking thread and puts it in front of `chat`: chat goes
/// to `chat`, embeddings are computed here.
#[cfg(feature = "local-model")]
async fn with_local_embeddings(
    dir: &Path,
    chat: Arc<dyn AiProvider>,
) -> Result<Arc<dyn AiProvider>, StartupError> {
    use crate::ai::embedding::{LocalEmbedder, WithLocalEmbeddings};
    let owned = dir.to_owned();
    let embedder = tokio::task::spawn_blocking(move || LocalEmbedder::load(&owned))
        .await
        .map_err(|e| StartupError::LocalEmbeddingModel(e.to_string()))?
        .map_err(|e| StartupError::LocalEmbeddingModel(e.to_string()))?;
    let info = embedder.info();
    tracing::info!(
        model = %info.dir.display(),
        dimensions = info.dimensions,
        load_ms = info.load_ms,
        "local embeddings (all-MiniLM-L6-v2 on this CPU): intent rules and the knowledge base's vector search"
    );
    Ok(Arc::new(WithLocalEmbeddings::new(chat, embedder)))
}

/// Without the `local-model` feature the configuration already refuses
/// `CONCIERGE_LOCAL_EMBEDDING_MODEL`.
#[cfg(not(feature = "local-model"))]
async fn with_local_embeddings(
    dir: &Path,
    _chat: Arc<dyn AiProvider>,
) -> Result<Arc<dyn AiProvider>, StartupError> {
    Err(StartupError::LocalEmbeddingModel(format!(
        "{}: this binary was built without the `local-model` feature",
        dir.display()
    )))
}

/// A built application, listening but not yet serving.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    workers: Workers,
    settings: Arc<Settings>,
}

fn signing_key(settings: &Settings) -> Vec<u8> {
    if let Some(k) = &settings.signing_key {
        return k.expose().as_bytes().to_vec();
    }
    if let Some(k) = &settings.encryption_key {
        // Stable across restarts and replicas, and distinct from the encryption key.
        let mut h = Sha256::new();
        h.update(b"concierge approval signing key\0");
        h.update(k.expose().as_bytes());
        return h.finalize().to_vec();
    }
    tracing::warn!("neither CONCIERGE_SIGNING_KEY nor ENCRYPTION_KEY is set: approval links, buttons and operator panel sessions are valid until this process stops");
    let mut key = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    key
}

impl Application {
    /// Opens and migrates the database, builds the engine and binds the listener.
    ///
    /// # Errors
    /// [`StartupError`].
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let settings = Arc::new(settings);
        let store = SqlStore::open(&settings.database_url, 16)
            .await?
            .with_retry_policy(RetryPolicy {
                max_attempts: settings.max_attempts,
                base_delay: Duration::from_millis(settings.retry_base_ms),
                lease: Duration::from_secs(settings.lease_seconds),
                ..RetryPolicy::default()
            });
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let wake = Arc::new(Notify::new());
        let metrics = Arc::new(Metrics::default());
        let secrets = settings
            .encryption_key
            .as_ref()
            .and_then(|k| SecretBox::from_config(k.expose()).ok());
        let http = reqwest::Client::builder()
            .user_agent(concat!("concierge-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StartupError::Sender(SenderError::Smtp(e.to_string())))?;
        let local_embeddings = settings.local_embedding_model.as_deref();
        let mut ai: Arc<dyn AiProvider> = match (&settings.ai_url, &settings.local_model) {
            (Some(url), _) => Arc::new(OpenAiCompatible::new(
                http.clone(),
                url,
                settings.ai_key.clone(),
            )),
            (None, Some(path)) => load_local_model(path, local_embeddings.is_some()).await?,
            (None, None) => {
                tracing::info!("no AI provider configured (CONCIERGE_AI_URL or CONCIERGE_LOCAL_MODEL): canned rules answer, AI rules record `no AI provider`");
                Arc::new(NoAi)
            }
        };
        if let Some(dir) = local_embeddings {
            ai = with_local_embeddings(dir, ai).await?;
        }
        let key = signing_key(&settings);
        let mut config = EngineConfig {
            signing_key: key.clone(),
            public_base_url: settings.public_url.clone(),
            injection_scan: settings.injection_scan,
            strict_grounding: settings.strict_grounding,
            compact_prompt: settings.compact_prompt,
            ..EngineConfig::default()
        };
        if let Some(m) = &settings.ai_model {
            config.reply_model.clone_from(m);
        }
        if let Some(m) = &settings.ai_fast_model {
            config.fast_model.clone_from(m);
        }
        config.rolling_summary = settings.rolling_summary;
        if let Some(m) = &settings.embedding_model {
            config.embedding_model.clone_from(m);
        } else if local_embeddings.is_some() {
            crate::ai::LOCAL_EMBEDDING_MODEL_ID.clone_into(&mut config.embedding_model);
        }
        let outbound = Arc::new(OutboxOutbound::new(
            store.clone(),
            clock.clone(),
            wake.clone(),
        ));
        let engine = Engine::new(
            Ports {
                store: Arc::new(store.clone()),
                ai,
                outbound,
                clock: clock.clone(),
            },
            config,
        );
        let sender = Sender::new(
            SenderConfig {
                graph_api_url: settings.graph_api_url.clone(),
                discord_api_url: settings.discord_api_url.clone(),
                discord_bot_token: settings.discord_bot_token.clone(),
                smtp_url: settings.smtp_url.clone(),
                smtp_from: settings.smtp_from.clone(),
                signing_key: key,
                dry_run: settings.dry_run,
                reconcile_window: Duration::from_secs(settings.reconcile_window_secs),
            },
            store.clone(),
            secrets.clone(),
            http,
            clock.clone(),
        )?;
        let workers = Workers::new(
            store.clone(),
            engine.clone(),
            sender,
            clock.clone(),
            wake.clone(),
            metrics.clone(),
        );
        let front = front_config(&settings);
        // The front's own requests (OAuth code exchange, profile): no redirects followed.
        let front_http = reqwest::Client::builder()
            .user_agent(concat!("concierge-server/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| StartupError::Sender(SenderError::Smtp(e.to_string())))?;
        let ingress = IngressQueue::start(store.clone(), engine.config().idempotency_ttl);
        let state = AppState::new(AppParts {
            store,
            engine,
            settings: settings.clone(),
            front,
            metrics,
            wake,
            secrets,
            clock,
            demo: DemoLimiter::new(settings.demo_per_minute),
            demo_slots: Arc::new(tokio::sync::Semaphore::new(
                settings.demo_concurrency.max(1),
            )),
            ingress,
            routes: Arc::new(TenantRoutes::default()),
            front_http,
        });
        let listener =
            TcpListener::bind(settings.bind)
                .await
                .map_err(|source| StartupError::Bind {
                    addr: settings.bind.to_string(),
                    source,
                })?;
        Ok(Application {
            listener,
            state,
            workers,
            settings,
        })
    }

    /// The port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The shared state (tests reach the store through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Imports tenant files (creating or updating the tenants).
    ///
    /// # Errors
    /// [`StartupError::TenantFile`] naming the file and every problem.
    pub async fn import_tenant_files(&self, paths: &[PathBuf]) -> Result<(), StartupError> {
        for path in paths {
            self.import_tenant_file(path).await?;
        }
        Ok(())
    }

    async fn import_tenant_file(&self, path: &Path) -> Result<(), StartupError> {
        let fail = |message: String| StartupError::TenantFile {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let file = TenantFile::from_toml(&text).map_err(|e| fail(e.to_string()))?;
        let id = file.id.clone();
        // Every document is read before anything is imported: a broken one fails the start
        // with its name, and the tenant is left as it was.
        let documents = crate::knowledge_files::read(path, &file.knowledge).map_err(fail)?;
        let outcome = self
            .state
            .engine
            .import_tenant(file)
            .await
            .map_err(|e| fail(e.to_string()))?;
        self.state.routes.clear();
        tracing::info!(tenant = %id, created = outcome.created, revision = outcome.revision, "tenant imported");
        if let Some(documents) = documents {
            let report = self
                .state
                .engine
                .sync_knowledge(&id, documents)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let stored = report
                .documents
                .iter()
                .filter(|d| matches!(d, IngestOutcome::Stored { .. }))
                .count();
            tracing::info!(tenant = %id, documents = report.documents.len(), stored, removed = report.removed.len(), "knowledge base synced");
        }
        Ok(())
    }

    /// Approves a tenant's current persona as the operator, without the model's safety review
    /// (meant for the offline demo, whose small model is no reliable classifier). The approval
    /// is bound to the persona's current hash: a later edit needs a review again. A safety job
    /// still queued for this text then finds it already reviewed.
    ///
    /// # Errors
    /// [`StartupError::ApprovePersona`] for an unknown tenant or a storage failure.
    pub async fn approve_persona(&self, tenant: &str) -> Result<(), StartupError> {
        let fail = |message: String| StartupError::ApprovePersona {
            tenant: tenant.to_owned(),
            message,
        };
        let id = TenantId::parse(tenant).map_err(|e| fail(e.to_string()))?;
        match self.state.engine.approve_persona_as_operator(&id).await {
            Ok(_) => Ok(()),
            Err(EngineError::UnknownTenant(_)) => {
                Err(fail("no such tenant (import it with --tenant)".into()))
            }
            Err(e) => Err(fail(e.to_string())),
        }
    }

    /// Serves until `shutdown` resolves, then stops intake, lets workers finish their job
    /// within `CONCIERGE_SHUTDOWN_SECONDS`, and releases the leases of what is left.
    ///
    /// # Errors
    /// [`StartupError::Serve`].
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut workers = self.workers.spawn(self.settings.workers, stop_rx);
        let addr = self
            .listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(%addr, database = ?self.state.store.dialect(), dry_run = self.settings.dry_run, "concierge-server listening on http://{addr}");
        if self.settings.workers == 0 {
            tracing::warn!("CONCIERGE_WORKERS=0: ingress only, this process runs no jobs (another replica must)");
        }
        let app = router(self.state.clone());
        let served = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: no new requests");
            let _ = stop_tx.send(true);
        })
        .await;
        let deadline = Duration::from_secs(self.settings.shutdown_seconds);
        if tokio::time::timeout(deadline, async {
            while workers.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!("shutdown deadline passed: abandoning jobs in flight");
            workers.abort_all();
        }
        self.workers.release().await;
        self.state.store.close().await;
        served.map_err(StartupError::Serve)
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// The front's secrets and switches from the settings (the Discord key was validated when the
/// settings were read).
fn front_config(settings: &Settings) -> FrontConfig {
    let expose =
        |s: &Option<crate::configuration::Secret>| s.as_ref().map(|s| s.expose().to_owned());
    FrontConfig {
        whatsapp_verify_token: expose(&settings.whatsapp_verify_token),
        whatsapp_app_secret: expose(&settings.whatsapp_app_secret),
        instagram_verify_token: expose(&settings.instagram_verify_token),
        instagram_app_secret: expose(&settings.instagram_app_secret),
        discord_public_key: settings
            .discord_public_key
            .as_deref()
            .and_then(|k| concierge_core::channels::discord::DiscordPublicKey::parse(k).ok()),
        discord_bot_user_id: settings.discord_bot_user_id.clone(),
        email_secret: expose(&settings.email_secret),
        admin_token: expose(&settings.admin_token),
        ai_setup_hint: "the demo needs an AI provider (CONCIERGE_AI_URL)",
        open_signup: settings.open_signup,
        oauth: settings.oauth.clone(),
        // The server's operators sign in with their accounts (no Cloudflare Access).
        access: None,
    }
}
