//! Sending: the engine's `Outbound` port writes to the outbox; [`Sender`] delivers outbox rows.
//!
//! Requests are built by the core's channel builders (`concierge_core::channels::*`); this
//! module adds credentials, performs the I/O and classifies failures. In dry-run mode nothing
//! leaves the process: the outbox row is marked sent and keeps the message as the record.
//!
//! **Exactly one reply, across crashes.** A message may go out as several requests (a long
//! text split into parts). The outbox row records how many parts were delivered and their
//! provider ids, so a retry resumes at the first undelivered part. Before a WhatsApp part is
//! sent, the row marks it *in doubt* (a write-ahead); the outcome clears the mark. A mark
//! still there on the next attempt means the last attempt's outcome is unknown: the worker
//! was killed, or a network error (a timeout, a reset) came after the request may have been
//! written. The part is then reconciled, not repeated blindly: each WhatsApp request carries
//! `biz_opaque_callback_data` naming its part, Meta echoes it in the status webhooks, and
//! `/webhook/whatsapp` records them as receipts. A receipt (other than `failed`) makes the
//! part delivered; without one the job is deferred, without spending an attempt, until the
//! reconciliation window after the in-doubt attempt has passed, and only then sent again.
//! Discord requests carry a nonce per part with `enforce_nonce`, so Discord itself answers a
//! resend with the message it already created; Instagram and SMTP offer no such mechanism and
//! stay at-least-once for an in-doubt part.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use concierge_core::channels::discord::parse_create_message_response;
use concierge_core::channels::render::{render, RenderContext, Rendered as CoreRendered};
use concierge_core::channels::{instagram, whatsapp, HttpRequest};
use concierge_core::ports::{Clock, Outbound, OutboundError, OutboundMessage, SendReceipt};
use concierge_core::time::{Span, Timestamp};
use concierge_core::Channel;
use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Notify;

use crate::configuration::Secret;
use crate::store::{OutboxRow, SecretBox, SqlStore};

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

/// What the receipts say about an in-doubt part.
enum Receipt {
    /// Accepted by the platform, with this provider id: not to be sent again.
    Delivered(String),
    /// The platform reported a failure: send it again now.
    Failed,
    /// Nothing yet: wait for the reconciliation window, then send it again.
    None,
}

/// Where the parts of a message stand after [`Sender::send_parts`].
enum Progress {
    /// Every part delivered; their provider ids in order.
    Done(Vec<String>),
    /// Waiting for a receipt until then.
    Deferred(Timestamp),
}

fn storage(e: impl std::fmt::Display) -> OutboundError {
    OutboundError::Retryable(format!("outbox: {e}"))
}

/// Whether in-doubt parts of this channel are reconciled against receipts (only WhatsApp
/// echoes our callback data in its status webhooks).
fn reconciles(channel: Channel) -> bool {
    channel == Channel::WhatsApp
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
        if row.state == "sent" {
            return Ok(Delivery::Sent);
        }
        let message: OutboundMessage = serde_json::from_str(&row.payload)
            .map_err(|e| OutboundError::Permanent(format!("outbox payload: {e}")))?;
        let now = self.clock.now();
        if self.config.dry_run {
            // Log metadata only, never the body.
            tracing::info!(key, tenant = %message.tenant, channel = %message.channel, purpose = ?message.purpose, "dry run: send recorded, not performed");
            self.store
                .mark_sent(key, &[], true, now)
                .await
                .map_err(storage)?;
            return Ok(Delivery::Sent);
        }
        let rendered = self.render(&message).await?;
        let ids = match rendered {
            Rendered::Http {
                base,
                authorization,
                requests,
            } => match self
                .send_parts(&row, message.channel, &base, &authorization, &requests)
                .await?
            {
                Progress::Done(ids) => ids,
                Progress::Deferred(until) => {
                    tracing::info!(key, tenant = %message.tenant, part = ?row.in_doubt_part, "in-doubt part: waiting for its delivery receipt");
                    return Ok(Delivery::Deferred { until });
                }
            },
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
            .mark_sent(key, &ids, false, self.clock.now())
            .await
            .map_err(storage)?;
        Ok(Delivery::Sent)
    }

    /// Sends the parts of `row` not delivered yet, in order, recording progress after each
    /// but the last (the caller's `mark_sent` records that one).
    async fn send_parts(
        &self,
        row: &OutboxRow,
        channel: Channel,
        base: &str,
        authorization: &str,
        requests: &[HttpRequest],
    ) -> Result<Progress, OutboundError> {
        let key = row.key.as_str();
        let start = usize::try_from(row.parts_sent)
            .unwrap_or(0)
            .min(requests.len());
        let mut ids: Vec<String> = row
            .provider_ids
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        ids.resize(start, String::new());
        let reconcile = reconciles(channel);
        let in_doubt = row
            .in_doubt_part
            .and_then(|p| usize::try_from(p).ok())
            .filter(|&p| p == start);
        for (i, request) in requests.iter().enumerate().skip(start) {
            let last = i + 1 == requests.len();
            if reconcile {
                if in_doubt == Some(i) {
                    let since = Timestamp::from_millis(row.in_doubt_since.unwrap_or(0));
                    match self.reconcile(key, i).await? {
                        Receipt::Delivered(id) => {
                            ids.push(id);
                            if !last {
                                self.store.part_sent(key, i, &ids).await.map_err(storage)?;
                            }
                            continue;
                        }
                        Receipt::Failed => {}
                        Receipt::None => {
                            let until = since + self.window();
                            if self.clock.now() < until {
                                return Ok(Progress::Deferred(until));
                            }
                            tracing::warn!(key, part = i, "no delivery receipt for an in-doubt part within the reconciliation window: sending it again");
                        }
                    }
                }
                self.store
                    .begin_part(key, i, self.clock.now())
                    .await
                    .map_err(storage)?;
            }
            match self.send_http(base, authorization, request, channel).await {
                Ok(id) => {
                    ids.push(id);
                    if !last {
                        self.store.part_sent(key, i, &ids).await.map_err(storage)?;
                    }
                }
                Err(failed) => {
                    if reconcile && !failed.in_doubt {
                        // Unrecorded, the part merely stays in doubt: reconciled, not lost.
                        if let Err(e) = self.store.part_not_sent(key, i).await {
                            tracing::warn!(key, part = i, error = %e, "could not record a definite send failure");
                        }
                    }
                    return Err(failed.error);
                }
            }
        }
        Ok(Progress::Done(ids))
    }

    /// What the receipts say about in-doubt part `part` of `key`.
    async fn reconcile(&self, key: &str, part: usize) -> Result<Receipt, OutboundError> {
        let data = whatsapp::callback_data(key, part);
        match self.store.receipt(&data).await.map_err(storage)? {
            Some(receipt) if receipt.delivered() => {
                tracing::info!(key, part, state = %receipt.state, "in-doubt part was delivered (status webhook): not sent again");
                Ok(Receipt::Delivered(receipt.provider_id))
            }
            Some(_) => {
                tracing::warn!(
                    key,
                    part,
                    "in-doubt part failed at the platform: sending it again"
                );
                // The resend's own statuses must not meet this failure (a `sent` ranks below
                // it), or a resend left in doubt would be sent once more.
                self.store.forget_receipt(&data).await.map_err(storage)?;
                Ok(Receipt::Failed)
            }
            None => Ok(Receipt::None),
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
