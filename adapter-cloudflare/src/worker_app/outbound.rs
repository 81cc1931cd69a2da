//! The outbound port: the core renders the wire requests; this sends them with `Fetch` (Graph,
//! Discord) or the `EMAIL` binding, once per message key and each part once.
//!
//! A D1 `outbox` row (the server's table, from the shared migrations) holds the message and its
//! per-part progress. The core's [`concierge_core::delivery`] state machine decides what to send
//! next, what a WhatsApp receipt settles and when to wait; this module applies its decisions:
//! it reads the row and the receipt, writes what each step returns, and makes the requests.
//!
//! The first attempt runs inside the turn. When it cannot finish — a failure, or a WhatsApp
//! part in doubt waiting for its status webhook — the row stays pending with the message, and a
//! [`WorkItem::Send`] on `WORK_QUEUE` delivers the rest later: after the core's backoff for a
//! failure (dead after [`SEND_ATTEMPTS`]), at the end of the reconcile window for a wait (which
//! spends no attempt). The turn is not run again, and every retry resumes at the first part not
//! delivered. Status webhooks that carry our callback data are stored as receipts
//! ([`record_receipt`]).
//!
//! A row that fails for good (a permanent error, or [`SEND_ATTEMPTS`] failed attempts) is
//! left `dead` with its attempts and last error: a dead letter the admin API lists and
//! [`retry_dead`] puts back on the queue. Graph sends authenticate with the tenant's own
//! token for the account they send from (sealed in `channel_secrets`), else with
//! `META_ACCESS_TOKEN`. With `DRY_RUN=1` nothing is sent: the row is marked sent as a dry run
//! and keeps the message.

use async_trait::async_trait;
use concierge_core::channels::discord;
use concierge_core::channels::render::{render, RenderContext, Rendered};
use concierge_core::channels::{instagram, meta, whatsapp, HttpRequest};
use concierge_core::delivery::{
    self, Delivery, Failure, InDoubt, Next, OutboxState, Progress, Receipt, Reconciliation, Record,
    Resend,
};
use concierge_core::ids::Channel;
use concierge_core::ports::{Outbound, OutboundError, OutboundMessage, SendReceipt};
use concierge_core::time::{Span, Timestamp};
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env, Fetch, Headers, Method, RequestRedirect};

use super::config::Config;
use super::queues::{Done, BACKOFF};
use super::store::WorkItem;

/// Failed attempts of a send before its row is dead (the server's default
/// `CONCIERGE_MAX_ATTEMPTS`). Waiting for a receipt is not an attempt.
pub(crate) const SEND_ATTEMPTS: u32 = 8;

/// The longest last error kept on a dead row, in characters.
const MAX_ERROR_CHARS: usize = 500;

/// How long delivery receipts are kept (Meta retries a webhook for up to 7 days).
const RECEIPT_RETENTION: Span = Span::days(7);

const SELECT_ROW: &str = "SELECT state, payload, provider_ids, parts_sent, in_doubt_part, \
                          in_doubt_since FROM outbox WHERE msg_key = ?1";

/// Sends over the Worker's bindings.
pub(crate) struct CfOutbound {
    env: Env,
    db: D1Database,
    config: Config,
}

impl std::fmt::Debug for CfOutbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CfOutbound").finish_non_exhaustive()
    }
}

/// The columns of an `outbox` row delivery needs (D1 numbers are `f64`).
#[derive(Deserialize)]
struct OutboxRow {
    state: String,
    payload: String,
    provider_ids: Option<String>,
    parts_sent: f64,
    in_doubt_part: Option<f64>,
    in_doubt_since: Option<f64>,
}

impl OutboxRow {
    fn state(&self) -> Result<OutboxState, OutboundError> {
        self.state
            .parse()
            .map_err(|e| OutboundError::Permanent(format!("outbox: {e}")))
    }

    fn provider_ids(&self) -> Vec<String> {
        self.provider_ids
            .as_deref()
            .and_then(|ids| super::from_json(ids).ok())
            .unwrap_or_default()
    }

    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // small integers from D1
    fn progress(&self) -> Progress {
        let in_doubt = self
            .in_doubt_part
            .filter(|p| *p >= 0.0)
            .map(|part| InDoubt {
                part: part as usize,
                since: Timestamp::from_millis(self.in_doubt_since.unwrap_or(0.0) as i64),
            });
        Progress::new(
            self.parts_sent.max(0.0) as usize,
            self.provider_ids(),
            in_doubt,
        )
    }

    /// The message the row holds (cleared once sent).
    fn message(&self) -> Option<OutboundMessage> {
        super::from_json(&self.payload).ok()
    }
}

#[derive(Deserialize)]
struct ReceiptRow {
    provider_id: String,
    state: String,
}

/// A failed request, and whether the platform may have received it all the same.
struct Failed {
    error: OutboundError,
    /// The request may have been written before the failure: `fetch` failed after it was
    /// made (workerd does not tell a refused connection from a reset, so every `fetch` error
    /// counts). An HTTP status is definite.
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

/// How a delivery ended when it did not fail.
enum Delivered {
    /// Every part is delivered; their provider ids in order.
    Sent(Vec<String>),
    /// A part waits for its receipt until `until`; the ids of the parts delivered so far.
    Deferred {
        until: Timestamp,
        provider_ids: Vec<String>,
    },
}

fn retryable(e: impl std::fmt::Display) -> OutboundError {
    OutboundError::Retryable(e.to_string())
}

fn storage(e: impl std::fmt::Display) -> OutboundError {
    OutboundError::Retryable(format!("outbox: {e}"))
}

fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

#[allow(clippy::cast_precision_loss)] // times in ms and part counts stay far below 2^53
fn num(v: i64) -> JsValue {
    JsValue::from_f64(v as f64)
}

fn index(part: usize) -> JsValue {
    num(i64::try_from(part).unwrap_or(i64::MAX))
}

fn parts(rendered: &Rendered) -> usize {
    match rendered {
        Rendered::Graph { requests } | Rendered::Discord { requests } => requests.len(),
        // One send per recipient.
        Rendered::Email { to, .. } => to.len(),
    }
}

fn graph_failure(status: u16, body: &[u8]) -> OutboundError {
    match meta::parse_graph_error(body) {
        Some(e) if e.retryable || e.is_rate_limit() => {
            OutboundError::Retryable(format!("Graph error {}", e.code))
        }
        Some(e) => OutboundError::Permanent(format!("Graph error {}: {}", e.code, e.message)),
        None if status == 429 || status >= 500 => {
            OutboundError::Retryable(format!("Graph answered HTTP {status}"))
        }
        None => OutboundError::Permanent(format!("Graph answered HTTP {status}")),
    }
}

impl CfOutbound {
    /// The sender over `DB` (outbox, receipts), `WORK_QUEUE`, `Fetch` and `EMAIL`.
    pub(crate) fn new(env: Env, config: Config) -> worker::Result<Self> {
        Ok(CfOutbound {
            db: env.d1("DB")?,
            env,
            config,
        })
    }

    async fn row(&self, key: &str) -> Result<Option<OutboxRow>, OutboundError> {
        self.db
            .prepare(SELECT_ROW)
            .bind(&[s(key)])
            .map_err(storage)?
            .first(None)
            .await
            .map_err(storage)
    }

    /// The row of `message`, inserted pending and holding the message if there is none yet:
    /// one D1 batch, one round trip.
    async fn row_or_insert(&self, message: &OutboundMessage) -> Result<OutboxRow, OutboundError> {
        let payload = serde_json::to_string(message)
            .map_err(|e| OutboundError::Permanent(format!("outbox payload: {e}")))?;
        let purpose = serde_json::to_value(message.purpose)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let insert = self
            .db
            .prepare(
                "INSERT INTO outbox (msg_key, tenant_id, channel, purpose, conversation_id, \
                 payload, state, dry_run, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7) \
                 ON CONFLICT (msg_key) DO NOTHING",
            )
            .bind(&[
                s(&message.key),
                s(message.tenant.as_str()),
                s(message.channel.as_str()),
                s(&purpose),
                message
                    .conversation_id
                    .as_ref()
                    .map_or(JsValue::NULL, |c| s(c.as_str())),
                s(&payload),
                num(super::now().as_millis()),
            ])
            .map_err(storage)?;
        let select = self
            .db
            .prepare(SELECT_ROW)
            .bind(&[s(&message.key)])
            .map_err(storage)?;
        let results = self.db.batch(vec![insert, select]).await.map_err(storage)?;
        results
            .get(1)
            .map(|r| r.results::<OutboxRow>())
            .transpose()
            .map_err(storage)?
            .and_then(|rows| rows.into_iter().next())
            .ok_or_else(|| storage("the row just written is missing"))
    }

    async fn run(&self, sql: &str, args: &[JsValue]) -> Result<(), OutboundError> {
        self.db
            .prepare(sql)
            .bind(args)
            .map_err(storage)?
            .run()
            .await
            .map_err(storage)?;
        Ok(())
    }

    /// Writes what a step of `plan` returned to the row `key`.
    async fn record(
        &self,
        key: &str,
        plan: &Delivery,
        record: Record,
    ) -> Result<(), OutboundError> {
        match record {
            Record::Nothing => Ok(()),
            Record::InDoubt { part, since } => {
                self.run(
                    "UPDATE outbox SET in_doubt_part = ?2, in_doubt_since = ?3 \
                     WHERE msg_key = ?1 AND state <> 'sent'",
                    &[s(key), index(part), num(since.as_millis())],
                )
                .await
            }
            Record::Delivered { part } => {
                let ids = serde_json::to_string(plan.progress().provider_ids())
                    .unwrap_or_else(|_| "[]".into());
                self.run(
                    "UPDATE outbox SET parts_sent = ?2 + 1, provider_ids = ?3, \
                     in_doubt_part = NULL, in_doubt_since = NULL \
                     WHERE msg_key = ?1 AND state <> 'sent' AND parts_sent <= ?2",
                    &[s(key), index(part), s(&ids)],
                )
                .await
            }
            Record::NotInDoubt { part } => {
                self.run(
                    "UPDATE outbox SET in_doubt_part = NULL, in_doubt_since = NULL \
                     WHERE msg_key = ?1 AND in_doubt_part = ?2",
                    &[s(key), index(part)],
                )
                .await
            }
        }
    }

    /// Every part delivered: the row is sent, and the message is cleared.
    async fn mark_sent(&self, key: &str, provider_ids: &[String]) -> Result<(), OutboundError> {
        let ids = serde_json::to_string(provider_ids).unwrap_or_else(|_| "[]".into());
        self.run(
            "UPDATE outbox SET state = 'sent', provider_ids = ?2, sent_at = ?3, updated_at = ?3, \
             parts_sent = ?4, in_doubt_part = NULL, in_doubt_since = NULL, payload = '' \
             WHERE msg_key = ?1",
            &[
                s(key),
                s(&ids),
                num(super::now().as_millis()),
                index(provider_ids.len()),
            ],
        )
        .await
    }

    /// A dry run: the row is sent as a record, keeping the message; nothing left the Worker.
    async fn mark_dry_run(&self, key: &str) -> Result<(), OutboundError> {
        self.run(
            "UPDATE outbox SET state = 'sent', provider_ids = '[]', dry_run = 1, sent_at = ?2, \
             updated_at = ?2, in_doubt_part = NULL, in_doubt_since = NULL WHERE msg_key = ?1",
            &[s(key), num(super::now().as_millis())],
        )
        .await
    }

    /// The row is a dead letter after `attempts` failed attempts, the last with `error`.
    async fn mark_dead(&self, key: &str, attempts: u32, error: &OutboundError) {
        let error = error.to_string();
        let error = match error.char_indices().nth(MAX_ERROR_CHARS) {
            Some((cut, _)) => &error[..cut],
            None => &error,
        };
        if let Err(e) = self
            .run(
                "UPDATE outbox SET state = 'dead', attempts = ?2, last_error = ?3, updated_at = ?4 \
                 WHERE msg_key = ?1 AND state = 'pending'",
                &[
                    s(key),
                    num(i64::from(attempts)),
                    s(error),
                    num(super::now().as_millis()),
                ],
            )
            .await
        {
            worker::console_warn!("could not mark outbox row {key} dead: {e}");
        }
    }

    /// The `Authorization` of Graph sends of `message`: the tenant's own token for the
    /// account it sends from, else `META_ACCESS_TOKEN`. The token is never logged.
    async fn graph_authorization(
        &self,
        message: &OutboundMessage,
    ) -> Result<String, OutboundError> {
        if let Some(account) = &message.account {
            let stored = super::secrets::token(
                &self.db,
                self.config.encryption_key.as_ref(),
                &message.tenant,
                &account.index_key(),
            )
            .await?;
            if let Some(token) = stored {
                return Ok(format!("Bearer {token}"));
            }
        }
        let token = self.config.meta_token.as_deref().ok_or_else(|| {
            OutboundError::Permanent(
                "no access token stored for the account and META_ACCESS_TOKEN is not set".into(),
            )
        })?;
        Ok(format!("Bearer {token}"))
    }

    async fn receipt(&self, callback_data: &str) -> Result<Option<Receipt>, OutboundError> {
        let row: Option<ReceiptRow> = self
            .db
            .prepare("SELECT provider_id, state FROM send_receipts WHERE callback_data = ?1")
            .bind(&[s(callback_data)])
            .map_err(storage)?
            .first(None)
            .await
            .map_err(storage)?;
        row.map(|r| {
            Ok(Receipt {
                provider_id: r.provider_id,
                state: r
                    .state
                    .parse()
                    .map_err(|e| storage(format!("send_receipts: {e}")))?,
            })
        })
        .transpose()
    }

    /// Puts a [`WorkItem::Send`] for `key` on `WORK_QUEUE`, due at `at`.
    async fn enqueue_send(
        &self,
        key: &str,
        attempt: u32,
        at: Timestamp,
    ) -> Result<(), OutboundError> {
        let body = serde_json::to_string(&WorkItem::Send {
            key: key.to_owned(),
            attempt,
        })
        .map_err(retryable)?;
        // Whole seconds, rounded up; Queues delay at most 12 hours.
        let ms = at.since(super::now()).as_millis().max(0);
        let delay = u32::try_from(((ms + 999) / 1000).min(43_200)).unwrap_or(43_200);
        let mut message = worker::MessageBuilder::new(body);
        if delay > 0 {
            message = message.delay_seconds(delay);
        }
        self.env
            .queue("WORK_QUEUE")
            .map_err(retryable)?
            .send(message.build())
            .await
            .map_err(retryable)
    }

    /// Delivers what is left of the row `key` holding `message`, applying the core's
    /// decisions part by part.
    async fn deliver(
        &self,
        key: &str,
        message: &OutboundMessage,
        row: &OutboxRow,
    ) -> Result<Delivered, OutboundError> {
        let state = row.state()?;
        if state == OutboxState::Sent {
            // Its message is cleared: nothing to render, and nothing left to send.
            return Ok(Delivered::Sent(row.provider_ids()));
        }
        if self.config.dry_run {
            // Metadata only, never the body.
            worker::console_log!(
                "outbox {key}: dry run: {} {} send recorded, not performed",
                message.tenant,
                message.channel
            );
            self.mark_dry_run(key).await?;
            return Ok(Delivered::Sent(Vec::new()));
        }
        let ctx = RenderContext {
            now: super::now(),
            signing_key: &self.config.signing_key,
            system_from: &self.config.system_from,
        };
        let rendered =
            render(message, &ctx).map_err(|e| OutboundError::Permanent(e.to_string()))?;
        let mut plan = Delivery::new(
            state,
            row.progress(),
            parts(&rendered),
            Reconciliation::for_channel(message.channel),
        );
        // Looked up before the first request, once per delivery.
        let mut graph_auth: Option<String> = None;
        loop {
            let receipt = match plan.receipt_wanted() {
                Some(part) => self.receipt(&delivery::receipt_key(key, part)).await?,
                None => None,
            };
            match plan.next(receipt.as_ref(), super::now(), self.config.reconcile_window) {
                Next::Done => return Ok(Delivered::Sent(plan.progress().provider_ids().to_vec())),
                Next::Complete { provider_ids } => {
                    self.mark_sent(key, &provider_ids).await?;
                    return Ok(Delivered::Sent(provider_ids));
                }
                Next::Defer { part, until } => {
                    worker::console_log!(
                        "outbox {key}: part {part} in doubt, waiting for its delivery receipt"
                    );
                    return Ok(Delivered::Deferred {
                        until,
                        provider_ids: plan.progress().provider_ids().to_vec(),
                    });
                }
                Next::Settled { part, provider_id } => {
                    worker::console_log!(
                        "outbox {key}: in-doubt part {part} was delivered (status webhook): not sent again"
                    );
                    let record = plan.delivered(part, provider_id);
                    self.record(key, &plan, record).await?;
                }
                Next::Send(send) => {
                    let part = send.part;
                    match send.resend {
                        Some(Resend::ReportedFailed) => worker::console_warn!(
                            "outbox {key}: in-doubt part {part} failed at the platform: sending it again"
                        ),
                        Some(Resend::NoReceipt) => worker::console_warn!(
                            "outbox {key}: no delivery receipt for in-doubt part {part} within the reconcile window: sending it again"
                        ),
                        Some(Resend::Unreconciled) | None => {}
                    }
                    if send.forget_receipt() {
                        self.run(
                            "DELETE FROM send_receipts WHERE callback_data = ?1",
                            &[s(&delivery::receipt_key(key, part))],
                        )
                        .await?;
                    }
                    if graph_auth.is_none() && matches!(rendered, Rendered::Graph { .. }) {
                        graph_auth = Some(self.graph_authorization(message).await?);
                    }
                    let record = plan.attempt(part, super::now());
                    self.record(key, &plan, record).await?;
                    match self
                        .send_part(&rendered, part, message.channel, graph_auth.as_deref())
                        .await
                    {
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
                                worker::console_warn!(
                                    "outbox {key}: could not record a definite send failure: {e}"
                                );
                            }
                            return Err(failed.error);
                        }
                    }
                }
            }
        }
    }

    /// A run of the send job for `key` after `attempt` failed attempts.
    async fn deliver_job(&self, key: &str, attempt: u32) -> Done {
        let row = match self.row(key).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                worker::console_error!("outbox row {key} is missing: send dropped");
                return Done::Ack;
            }
            Err(e) => {
                worker::console_warn!("outbox {key}: {e}");
                return Done::Retry;
            }
        };
        let result = match row.state() {
            Ok(OutboxState::Sent) => return Done::Ack,
            Ok(_) => match row.message() {
                Some(message) => self.deliver(key, &message, &row).await,
                None => Err(OutboundError::Permanent("outbox payload unreadable".into())),
            },
            Err(e) => Err(e),
        };
        let requeue = |attempt, at| async move {
            match self.enqueue_send(key, attempt, at).await {
                Ok(()) => Done::Ack,
                Err(e) => {
                    worker::console_warn!("outbox {key}: could not queue the next attempt: {e}");
                    Done::Retry
                }
            }
        };
        match result {
            Ok(Delivered::Sent(_)) => Done::Ack,
            Ok(Delivered::Deferred { until, .. }) => requeue(attempt, until).await,
            Err(OutboundError::Retryable(e)) if attempt + 1 < SEND_ATTEMPTS => {
                worker::console_warn!("outbox {key}: send failed, will retry: {e}");
                let delay = BACKOFF.delay(attempt + 1, worker::js_sys::Math::random());
                requeue(attempt + 1, super::now() + delay).await
            }
            Err(e) => {
                worker::console_error!(
                    "outbox {key}: send dead after {} attempts: {e}",
                    attempt + 1
                );
                self.mark_dead(key, attempt + 1, &e).await;
                Done::Ack
            }
        }
    }

    async fn http(
        &self,
        base: &str,
        authorization: &str,
        request: &HttpRequest,
    ) -> Result<(u16, Vec<u8>), Failed> {
        let build = || {
            let headers = Headers::new();
            for (name, value) in &request.headers {
                headers.set(name, value)?;
            }
            headers.set("authorization", authorization)?;
            let method = Method::from(request.method.to_ascii_uppercase());
            let body = (!request.body.is_empty()).then(|| JsValue::from_str(&request.body));
            let url = format!("{}{}", base.trim_end_matches('/'), request.path);
            super::new_request(
                &url,
                &method,
                &headers,
                body.as_ref(),
                RequestRedirect::default(),
            )
        };
        let built = build().map_err(retryable)?;
        let mut response = Fetch::Request(built).send().await.map_err(|e| Failed {
            error: retryable(format!("request failed: {e}")),
            in_doubt: true,
        })?;
        let status = response.status_code();
        // Accepted: an unreadable body loses the id, not the delivery.
        Ok((status, response.bytes().await.unwrap_or_default()))
    }

    /// Sends part `part` of `rendered` (Graph requests with `graph_auth`), returning the
    /// platform's id of it.
    async fn send_part(
        &self,
        rendered: &Rendered,
        part: usize,
        channel: Channel,
        graph_auth: Option<&str>,
    ) -> Result<String, Failed> {
        let missing = || OutboundError::Permanent(format!("no part {part} to send"));
        match rendered {
            Rendered::Graph { requests } => {
                let auth = graph_auth
                    .ok_or_else(|| OutboundError::Permanent("no Graph authorization".into()))?;
                let request = requests.get(part).ok_or_else(missing)?;
                let (status, body) = self.http(&self.config.graph_base, auth, request).await?;
                if !(200..300).contains(&status) {
                    return Err(graph_failure(status, &body).into());
                }
                Ok(match channel {
                    Channel::Instagram => instagram::parse_send_response(&body),
                    _ => whatsapp::parse_send_response(&body),
                }
                .unwrap_or_default())
            }
            Rendered::Discord { requests } => {
                let token = self.config.discord_bot_token.as_deref().ok_or_else(|| {
                    OutboundError::Permanent("DISCORD_BOT_TOKEN is not set".into())
                })?;
                let request = requests.get(part).ok_or_else(missing)?;
                let auth = format!("Bot {token}");
                let (status, body) = self.http(&self.config.discord_base, &auth, request).await?;
                if (200..300).contains(&status) {
                    Ok(discord::parse_create_message_response(&body).unwrap_or_default())
                } else if status == 429 || status >= 500 {
                    Err(OutboundError::Retryable(format!("Discord answered HTTP {status}")).into())
                } else {
                    Err(OutboundError::Permanent(format!("Discord answered HTTP {status}")).into())
                }
            }
            Rendered::Email { from, to, raw } => {
                let rcpt = to.get(part).ok_or_else(missing)?;
                let binding = self
                    .env
                    .send_email("EMAIL")
                    .map_err(|e| OutboundError::Permanent(format!("EMAIL binding: {e}")))?;
                let message = worker::EmailMessage::new(from, rcpt, raw)
                    .map_err(|e| OutboundError::Permanent(format!("{e:?}")))?;
                let result = binding.send(&message).await.map_err(|e| Failed {
                    error: OutboundError::Retryable(format!("{e:?}")),
                    in_doubt: true,
                })?;
                Ok(result.message_id())
            }
        }
    }
}

#[async_trait(?Send)]
impl Outbound for CfOutbound {
    async fn send(&self, message: &OutboundMessage) -> Result<SendReceipt, OutboundError> {
        let key = message.key.as_str();
        let row = self.row_or_insert(message).await?;
        // The first version of a key wins: a retried turn (a new model answer, say) goes on
        // with the parts of the message already partly sent, not with new ones.
        let stored = row.message();
        match self
            .deliver(key, stored.as_ref().unwrap_or(message), &row)
            .await
        {
            Ok(Delivered::Sent(provider_ids)) => Ok(SendReceipt { provider_ids }),
            Ok(Delivered::Deferred {
                until,
                provider_ids,
            }) => {
                self.enqueue_send(key, 0, until).await?;
                Ok(SendReceipt { provider_ids })
            }
            Err(OutboundError::Retryable(e)) => {
                // The row holds the message: the send job finishes it, and the turn (the
                // model call, the charge) is not run again. If even the job cannot be queued,
                // the error retries the turn, which resumes at the same part.
                worker::console_warn!("outbox {key}: send failed, will retry: {e}");
                let delay = BACKOFF.delay(1, worker::js_sys::Math::random());
                self.enqueue_send(key, 1, super::now() + delay).await?;
                Ok(SendReceipt {
                    provider_ids: Vec::new(),
                })
            }
            Err(e) => {
                self.mark_dead(key, 1, &e).await;
                Err(e)
            }
        }
    }
}

/// Runs the send job of outbox row `key` (a [`WorkItem::Send`]) after `attempt` failed
/// attempts: delivers what is left, queues the next attempt with backoff (or at the end of the
/// reconcile window), or marks the row dead after [`SEND_ATTEMPTS`].
///
/// # Errors
/// The Worker is misconfigured or `DB` is unbound.
pub(crate) async fn deliver_queued(env: &Env, key: &str, attempt: u32) -> worker::Result<Done> {
    let outbound = CfOutbound::new(env.clone(), super::config::from_env(env)?)?;
    Ok(outbound.deliver_job(key, attempt).await)
}

/// An operator's retry of the dead letter `key` (`POST /api/v1/dead-letters/{key}/retry`): the
/// dead row is pending again with a fresh attempt budget, and a [`WorkItem::Send`] delivers
/// what is left of it (parts already delivered are not sent again). `false` when no dead row
/// has that key.
///
/// # Errors
/// D1 or `WORK_QUEUE` failed; a row whose job could not be queued is left dead.
pub(crate) async fn retry_dead(env: &Env, key: &str) -> worker::Result<bool> {
    let db = env.d1("DB")?;
    let queue = env.queue("WORK_QUEUE")?;
    let result = db
        .prepare(
            "UPDATE outbox SET state = 'pending', attempts = 0, updated_at = ?2 \
             WHERE msg_key = ?1 AND state = 'dead'",
        )
        .bind(&[s(key), num(super::now().as_millis())])?
        .run()
        .await?;
    if result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 0 {
        return Ok(false);
    }
    let body = serde_json::to_string(&WorkItem::Send {
        key: key.to_owned(),
        attempt: 0,
    })?;
    if let Err(e) = queue.send(worker::MessageBuilder::new(body).build()).await {
        // Still a dead letter, to be retried again.
        db.prepare("UPDATE outbox SET state = 'dead' WHERE msg_key = ?1 AND state = 'pending'")
            .bind(&[s(key)])?
            .run()
            .await?;
        return Err(e);
    }
    Ok(true)
}

/// Stores a WhatsApp status about a part Concierge sent (its callback data names the part) as
/// that part's receipt: one upsert that keeps the strongest report
/// ([`concierge_core::channels::DeliveryState::rank`]), in one D1 batch with the purge of
/// receipts older than seven days. Other statuses are ignored. No bodies, no recipients.
///
/// # Errors
/// D1 failed: the webhook is answered 5xx and Meta delivers it again.
pub(crate) async fn record_receipt(
    env: &Env,
    callback_data: &str,
    receipt: &Receipt,
) -> worker::Result<()> {
    let db = env.d1("DB")?;
    let now = super::now();
    let upsert = db
        .prepare(
            "INSERT INTO send_receipts (callback_data, provider_id, state, state_rank, recorded_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (callback_data) DO UPDATE SET \
             provider_id = excluded.provider_id, state = excluded.state, \
             state_rank = excluded.state_rank, recorded_at = excluded.recorded_at \
             WHERE excluded.state_rank > send_receipts.state_rank",
        )
        .bind(&[
            s(callback_data),
            s(&receipt.provider_id),
            s(receipt.state.as_str()),
            num(receipt.state.rank()),
            num(now.as_millis()),
        ])?;
    let purge = db
        .prepare("DELETE FROM send_receipts WHERE recorded_at < ?1")
        .bind(&[num((now - RECEIPT_RETENTION).as_millis())])?;
    db.batch(vec![upsert, purge]).await?;
    Ok(())
}
