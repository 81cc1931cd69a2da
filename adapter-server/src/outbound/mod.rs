//! Sending: the engine's `Outbound` port writes to the outbox; [`Sender`] delivers outbox rows.
//!
//! Requests are built by the core's channel builders (`concierge_core::channels::*`); this
//! module adds credentials, performs the I/O and classifies failures. In dry-run mode nothing
//! leaves the process: the outbox row is marked sent and keeps the message as the record.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use concierge_core::channels::discord::parse_create_message_response;
use concierge_core::channels::render::{render, RenderContext, Rendered as CoreRendered};
use concierge_core::channels::{instagram, whatsapp, HttpRequest};
use concierge_core::ports::{Clock, Outbound, OutboundError, OutboundMessage, SendReceipt};
use concierge_core::Channel;
use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Notify;

use crate::configuration::Secret;
use crate::store::{SecretBox, SqlStore};

/// The engine's `Outbound` port: an idempotent insert into the outbox (keyed by
/// `OutboundMessage::key`) plus a `send` job, then a nudge to the workers.
#[derive(Clone, Debug)]
pub struct OutboxOutbound {
    store: SqlStore,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
}

impl OutboxOutbound {
    /// The port over `store`; `wake` is notified when work is queued.
    pub fn new(store: SqlStore, clock: Arc<dyn Clock>, wake: Arc<Notify>) -> Self {
        OutboxOutbound { store, clock, wake }
    }
}

#[async_trait]
impl Outbound for OutboxOutbound {
    async fn send(&self, message: &OutboundMessage) -> Result<SendReceipt, OutboundError> {
        let fresh = self
            .store
            .enqueue_outbound(message, self.clock.now())
            .await
            .map_err(|e| OutboundError::Retryable(format!("outbox: {e}")))?;
        if fresh {
            self.wake.notify_one();
        }
        // Delivery happens in the outbox worker; provider ids land on the outbox row.
        Ok(SendReceipt {
            provider_ids: Vec::new(),
        })
    }
}

/// What the sender needs.
#[derive(Clone, Debug)]
pub struct SenderConfig {
    /// Graph API base URL.
    pub graph_api_url: String,
    /// Discord API base URL.
    pub discord_api_url: String,
    /// The shared bot token.
    pub discord_bot_token: Option<Secret>,
    /// SMTP URL.
    pub smtp_url: Option<Secret>,
    /// Sender of system email (pages, digests).
    pub smtp_from: String,
    /// Key for Discord button ids.
    pub signing_key: Vec<u8>,
    /// Record instead of sending.
    pub dry_run: bool,
}

/// A message rendered for the wire.
#[derive(Debug)]
enum Rendered {
    /// HTTP requests to a base URL with an authorization header value.
    Http {
        base: String,
        authorization: String,
        requests: Vec<HttpRequest>,
    },
    /// One email.
    Email { envelope: Envelope, raw: String },
}

/// Delivers outbox rows.
#[derive(Clone)]
pub struct Sender {
    config: SenderConfig,
    store: SqlStore,
    secrets: Option<SecretBox>,
    http: reqwest::Client,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("dry_run", &self.config.dry_run)
            .finish_non_exhaustive()
    }
}

/// The sender could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// The SMTP URL is unusable.
    #[error("CONCIERGE_SMTP_URL: {0}")]
    Smtp(String),
}

fn classify_status(status: u16, what: &str) -> OutboundError {
    if status == 429 || status >= 500 || status == 408 {
        OutboundError::Retryable(format!("{what}: HTTP {status}"))
    } else {
        OutboundError::Permanent(format!("{what}: HTTP {status}"))
    }
}

impl Sender {
    /// A sender.
    ///
    /// # Errors
    /// [`SenderError::Smtp`] for an unusable SMTP URL.
    pub fn new(
        config: SenderConfig,
        store: SqlStore,
        secrets: Option<SecretBox>,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SenderError> {
        let smtp = match &config.smtp_url {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|e| SenderError::Smtp(e.to_string()))?
                    .timeout(Some(Duration::from_secs(30)))
                    .build(),
            ),
            None => None,
        };
        Ok(Sender {
            config,
            store,
            secrets,
            http,
            smtp,
            clock,
        })
    }

    /// Delivers the outbox row `key` once: a row already sent is not sent again.
    ///
    /// # Errors
    /// [`OutboundError::Retryable`] (network, 5xx, 429, storage) or
    /// [`OutboundError::Permanent`] (4xx, missing credentials, unrenderable message).
    pub async fn deliver(&self, key: &str) -> Result<(), OutboundError> {
        let row = self
            .store
            .outbox_row(key)
            .await
            .map_err(|e| OutboundError::Retryable(format!("outbox: {e}")))?
            .ok_or_else(|| OutboundError::Permanent("outbox row missing".into()))?;
        if row.state == "sent" {
            return Ok(());
        }
        let message: OutboundMessage = serde_json::from_str(&row.payload)
            .map_err(|e| OutboundError::Permanent(format!("outbox payload: {e}")))?;
        let now = self.clock.now();
        if self.config.dry_run {
            // Log metadata only, never the body.
            tracing::info!(key, tenant = %message.tenant, channel = %message.channel, purpose = ?message.purpose, "dry run: send recorded, not performed");
            return self
                .store
                .mark_sent(key, &[], true, now)
                .await
                .map_err(|e| OutboundError::Retryable(format!("outbox: {e}")));
        }
        let rendered = self.render(&message).await?;
        let ids = match rendered {
            Rendered::Http {
                base,
                authorization,
                requests,
            } => {
                let mut ids = Vec::new();
                for request in requests {
                    ids.push(
                        self.send_http(&base, &authorization, &request, message.channel)
                            .await?,
                    );
                }
                ids
            }
            Rendered::Email { envelope, raw } => {
                let smtp = self
                    .smtp
                    .as_ref()
                    .ok_or_else(|| OutboundError::Permanent("no SMTP server configured".into()))?;
                let response = smtp
                    .send_raw(&envelope, raw.as_bytes())
                    .await
                    .map_err(|e| {
                        if e.is_permanent() {
                            OutboundError::Permanent(format!("SMTP: {e}"))
                        } else {
                            OutboundError::Retryable(format!("SMTP: {e}"))
                        }
                    })?;
                vec![response.code().to_string()]
            }
        };
        tracing::info!(key, tenant = %message.tenant, channel = %message.channel, parts = ids.len(), "sent");
        self.store
            .mark_sent(key, &ids, false, now)
            .await
            .map_err(|e| OutboundError::Retryable(format!("outbox: {e}")))
    }

    async fn send_http(
        &self,
        base: &str,
        authorization: &str,
        request: &HttpRequest,
        channel: Channel,
    ) -> Result<String, OutboundError> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| OutboundError::Permanent(format!("bad method {}", request.method)))?;
        let mut builder = self
            .http
            .request(method, format!("{base}{}", request.path))
            .timeout(Duration::from_secs(30))
            .header("authorization", authorization)
            .body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let response = builder.send().await.map_err(|e| {
            OutboundError::Retryable(format!("{channel} request failed: {}", e.without_url()))
        })?;
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(classify_status(status, channel.as_str()));
        }
        Ok(match channel {
            Channel::Discord => parse_create_message_response(&body).unwrap_or_default(),
            Channel::WhatsApp => whatsapp::parse_send_response(&body).unwrap_or_default(),
            Channel::Instagram => instagram::parse_send_response(&body).unwrap_or_default(),
            Channel::Email | Channel::Web => String::new(),
        })
    }

    async fn token_for(&self, message: &OutboundMessage) -> Result<String, OutboundError> {
        let account = message.account.as_ref().ok_or_else(|| {
            OutboundError::Permanent(format!("{} send without an account", message.channel))
        })?;
        let key = account.index_key();
        let secrets = self
            .secrets
            .as_ref()
            .ok_or_else(|| OutboundError::Permanent("ENCRYPTION_KEY is not configured".into()))?;
        let sealed = self
            .store
            .get_secret(message.tenant.as_str(), &key)
            .await
            .map_err(|e| OutboundError::Retryable(format!("secrets: {e}")))?
            .ok_or_else(|| OutboundError::Permanent(format!("no access token stored for {key}")))?;
        secrets
            .open(&key, &sealed)
            .map_err(|e| OutboundError::Permanent(e.to_string()))
    }

    async fn render(&self, message: &OutboundMessage) -> Result<Rendered, OutboundError> {
        let ctx = RenderContext {
            now: self.clock.now(),
            signing_key: &self.config.signing_key,
            system_from: &self.config.smtp_from,
        };
        let rendered =
            render(message, &ctx).map_err(|e| OutboundError::Permanent(e.to_string()))?;
        match rendered {
            CoreRendered::Graph { requests } => {
                let token = self.token_for(message).await?;
                Ok(Rendered::Http {
                    base: self.config.graph_api_url.clone(),
                    authorization: format!("Bearer {token}"),
                    requests,
                })
            }
            CoreRendered::Discord { requests } => {
                let token = self.config.discord_bot_token.as_ref().ok_or_else(|| {
                    OutboundError::Permanent("DISCORD_BOT_TOKEN is not configured".into())
                })?;
                Ok(Rendered::Http {
                    base: self.config.discord_api_url.clone(),
                    authorization: format!("Bot {}", token.expose()),
                    requests,
                })
            }
            CoreRendered::Email { from, to, raw } => {
                let from = from
                    .parse()
                    .map_err(|_| OutboundError::Permanent("bad sender address".into()))?;
                let to = to
                    .iter()
                    .map(|a| a.parse())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| OutboundError::Permanent("bad recipient address".into()))?;
                let envelope = Envelope::new(Some(from), to)
                    .map_err(|e| OutboundError::Permanent(format!("envelope: {e}")))?;
                Ok(Rendered::Email { envelope, raw })
            }
        }
    }
}
