//! Sending: the engine's `Outbound` port writes to the outbox; [`Sender`] delivers outbox rows.
//!
//! Requests are built by the core's channel builders (`concierge_core::channels::*`); this
//! module adds credentials, performs the I/O and classifies failures. In dry-run mode nothing
//! leaves the process: the outbox row is marked sent and keeps the message as the record.
//!
//! **Exactly one reply, across crashes.** What to send and when is decided by the core's
//! [`concierge_core::delivery`] state machine: a message's parts are delivered one by one
//! with progress on the outbox row, a WhatsApp part is marked in doubt ahead of its request,
//! and a part found in doubt is settled by its receipt (the status webhooks
//! `/webhook/whatsapp` records) or, without one, sent again only after the reconciliation
//! window. This module applies its decisions: it reads the row and the receipt, writes what
//! each step returns, makes the requests, and tells a definite failure (an HTTP status, no
//! connection) from one whose outcome is unknown (a timeout, a reset).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use concierge_core::channels::discord::parse_create_message_response;
use concierge_core::channels::render::{render, RenderContext, Rendered as CoreRendered};
use concierge_core::channels::{instagram, whatsapp, HttpRequest};
use concierge_core::delivery::{self, Failure, Next, OutboxState, Reconciliation, Record, Resend};
use concierge_core::ports::{Clock, Outbound, OutboundError, OutboundMessage, SendReceipt};
use concierge_core::time::{Span, Timestamp};
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
    /// How long after an in-doubt WhatsApp attempt its status webhook is waited for before
    /// the part is sent again (`CONCIERGE_RECONCILE_WINDOW_SECS`).
    pub reconcile_window: Duration,
}

/// How a delivery ended when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Every part is delivered (or was before, or dry-run mode recorded the message).
    Sent,
    /// A part's last attempt is in doubt and no receipt tells whether it arrived: try again
    /// at `until` (the end of the reconciliation window). Not a failure: no attempt is spent.
    Deferred {
        /// When to look again.
        until: Timestamp,
    },
}

/// A failed request, and whether the platform may have received it all the same.
#[derive(Debug)]
struct Failed {
    error: OutboundError,
    /// The request may have been written before the failure (a timeout, a reset): its
    /// outcome is unknown. A connection never made, or an HTTP status, is definite.
    in_doubt: bool,
}

impl From<OutboundError> for Failed {
    fn from(error: OutboundError) -> Self {
        Failed {
            error,
            in_doubt: false,
        }
    }
}

fn storage(e: impl std::fmt::Display) -> OutboundError {
    OutboundError::Retryable(format!("outbox: {e}"))
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

impl Rendered {
    /// How many requests the message takes (an email is one).
    fn parts(&self) -> usize {
        match self {
            Rendered::Http { requests, .. } => requests.len(),
            Rendered::Email { .. } => 1,
        }
    }
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

    /// Delivers the outbox row `key` once: a row already sent is not sent again, delivered
    /// parts are not sent again, and an in-doubt WhatsApp part is reconciled first (see the
    /// module documentation).
    ///
    /// # Errors
    /// [`OutboundError::Retryable`] (network, 5xx, 429, storage) or
    /// [`OutboundError::Permanent`] (4xx, missing credentials, unrenderable message).
    pub async fn deliver(&self, key: &str) -> Result<Delivery, OutboundError> {
        let row = self
            .store
            .outbox_row(key)
            .await
            .map_err(storage)?
            .ok_or_else(|| OutboundError::Permanent("outbox row missing".into()))?;
        if row.state == OutboxState::Sent {
            // Its payload is cleared: nothing to render, and nothing left to send.
            return Ok(Delivery::Sent);
        }
        let message: OutboundMessage = serde_json::from_str(&row.payload)
            .map_err(|e| OutboundError::Permanent(format!("outbox payload: {e}")))?;
        if self.config.dry_run {
            // Log metadata only, never the body.
            tracing::info!(key, tenant = %message.tenant, channel = %message.channel, purpose = ?message.purpose, "dry run: send recorded, not performed");
            self.store
                .mark_sent(key, &[], true, self.clock.now())
                .await
                .map_err(storage)?;
            return Ok(Delivery::Sent);
        }
        let rendered = self.render(&message).await?;
        let mut plan = delivery::Delivery::new(
            row.state,
            row.progress(),
            rendered.parts(),
            Reconciliation::for_channel(message.channel),
        );
        loop {
            let receipt = match plan.receipt_wanted() {
                Some(part) => self
                    .store
                    .receipt(&delivery::receipt_key(key, part))
                    .await
                    .map_err(storage)?,
                None => None,
            };
            match plan.next(receipt.as_ref(), self.clock.now(), self.window()) {
                Next::Done => return Ok(Delivery::Sent),
                Next::Complete { provider_ids } => {
                    tracing::info!(key, tenant = %message.tenant, channel = %message.channel, parts = provider_ids.len(), "sent");
                    self.store
                        .mark_sent(key, &provider_ids, false, self.clock.now())
                        .await
                        .map_err(storage)?;
                    return Ok(Delivery::Sent);
                }
                Next::Defer { part, until } => {
                    tracing::info!(key, tenant = %message.tenant, part, "in-doubt part: waiting for its delivery receipt");
                    return Ok(Delivery::Deferred { until });
                }
                Next::Settled { part, provider_id } => {
                    tracing::info!(
                        key,
                        part,
                        "in-doubt part was delivered (status webhook): not sent again"
                    );
                    let record = plan.delivered(part, provider_id);
                    self.record(key, &plan, record).await?;
                }
                Next::Send(send) => {
                    let part = send.part;
                    match send.resend {
                        Some(Resend::ReportedFailed) => tracing::warn!(key, part, "in-doubt part failed at the platform: sending it again"),
                        Some(Resend::NoReceipt) => tracing::warn!(key, part, "no delivery receipt for an in-doubt part within the reconciliation window: sending it again"),
                        Some(Resend::Unreconciled) | None => {}
                    }
                    if send.forget_receipt() {
                        self.store
                            .forget_receipt(&delivery::receipt_key(key, part))
                            .await
                            .map_err(storage)?;
                    }
                    let record = plan.attempt(part, self.clock.now());
                    self.record(key, &plan, record).await?;
                    match self.send_part(&rendered, part, message.channel).await {
                        Ok(id) => {
                            let record = plan.delivered(part, id);
                            self.record(key, &plan, record).await?;
                        }
                        Err(failed) => {
                            let failure = if failed.in_doubt {
                                Failure::InDoubt
                            } else {
                                Failure::Definite
                            };
                            let record = plan.failed(part, failure);
                            if let Err(e) = self.record(key, &plan, record).await {
                                // Unrecorded, the part merely stays in doubt: reconciled, not lost.
                                tracing::warn!(key, part, error = %e, "could not record a definite send failure");
                            }
                            return Err(failed.error);
                        }
                    }
                }
            }
        }
    }

    /// Writes what a step of `plan` returned to the outbox row `key`.
    async fn record(
        &self,
        key: &str,
        plan: &delivery::Delivery,
        record: Record,
    ) -> Result<(), OutboundError> {
        match record {
            Record::Nothing => Ok(()),
            Record::InDoubt { part, since } => self.store.begin_part(key, part, since).await,
            Record::Delivered { part } => {
                self.store
                    .part_sent(key, part, plan.progress().provider_ids())
                    .await
            }
            Record::NotInDoubt { part } => self.store.part_not_sent(key, part).await,
        }
        .map_err(storage)
    }

    /// Sends part `part` of `rendered`, returning the provider's id of it.
    async fn send_part(
        &self,
        rendered: &Rendered,
        part: usize,
        channel: Channel,
    ) -> Result<String, Failed> {
        match rendered {
            Rendered::Http {
                base,
                authorization,
                requests,
            } => {
                let request = requests
                    .get(part)
                    .ok_or_else(|| OutboundError::Permanent(format!("no part {part} to send")))?;
                self.send_http(base, authorization, request, channel).await
            }
            Rendered::Email { envelope, raw } => {
                let smtp = self
                    .smtp
                    .as_ref()
                    .ok_or_else(|| OutboundError::Permanent("no SMTP server configured".into()))?;
                let response = smtp.send_raw(envelope, raw.as_bytes()).await.map_err(|e| {
                    if e.is_permanent() {
                        OutboundError::Permanent(format!("SMTP: {e}"))
                    } else {
                        OutboundError::Retryable(format!("SMTP: {e}"))
                    }
                })?;
                Ok(response.code().to_string())
            }
        }
    }

    fn window(&self) -> Span {
        Span::millis(i64::try_from(self.config.reconcile_window.as_millis()).unwrap_or(i64::MAX))
    }

    async fn send_http(
        &self,
        base: &str,
        authorization: &str,
        request: &HttpRequest,
        channel: Channel,
    ) -> Result<String, Failed> {
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
        let response = builder.send().await.map_err(|e| Failed {
            // No connection: nothing was written. Anything later (a timeout, a reset) may
            // have come after the platform read the request.
            in_doubt: !e.is_connect() && !e.is_builder(),
            error: OutboundError::Retryable(format!(
                "{channel} request failed: {}",
                e.without_url()
            )),
        })?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(classify_status(status, channel.as_str()).into());
        }
        // Accepted: an unreadable body loses the id, not the delivery.
        let body = response.bytes().await.unwrap_or_default();
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
