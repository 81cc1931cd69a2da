//! The outbound port: the core renders the wire requests; this sends them with `Fetch` (Graph,
//! Discord) or the `EMAIL` binding, once per message key (a D1 `outbox` row records the send).

use async_trait::async_trait;
use concierge_core::channels::discord;
use concierge_core::channels::render::{render, RenderContext, Rendered};
use concierge_core::channels::{instagram, meta, whatsapp, HttpRequest};
use concierge_core::ids::Channel;
use concierge_core::ports::{Outbound, OutboundError, OutboundMessage, SendReceipt};
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env, Fetch, Headers, Method, Request, RequestInit};

use super::config::Config;

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

#[derive(Deserialize)]
struct SentRow {
    provider_ids: Option<String>,
}

fn retryable(e: impl std::fmt::Display) -> OutboundError {
    OutboundError::Retryable(e.to_string())
}

impl CfOutbound {
    /// The sender over `DB` (outbox), `Fetch` and `EMAIL`.
    pub(crate) fn new(env: Env, config: Config) -> worker::Result<Self> {
        Ok(CfOutbound {
            db: env.d1("DB")?,
            env,
            config,
        })
    }

    async fn already_sent(&self, key: &str) -> Result<Option<Vec<String>>, OutboundError> {
        let row: Option<SentRow> = self
            .db
            .prepare("SELECT provider_ids FROM outbox WHERE msg_key = ?1 AND state = 'sent'")
            .bind(&[JsValue::from_str(key)])
            .map_err(retryable)?
            .first(None)
            .await
            .map_err(retryable)?;
        Ok(row.map(|r| {
            r.provider_ids
                .and_then(|ids| serde_json::from_str(&ids).ok())
                .unwrap_or_default()
        }))
    }

    #[allow(clippy::cast_precision_loss)]
    async fn record_sent(
        &self,
        message: &OutboundMessage,
        ids: &[String],
    ) -> Result<(), OutboundError> {
        let now = super::now().as_millis() as f64;
        let purpose = serde_json::to_value(message.purpose)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        self.db
            .prepare(
                "INSERT INTO outbox (msg_key, tenant_id, channel, purpose, conversation_id, \
                 payload, state, provider_ids, dry_run, created_at, sent_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, '', 'sent', ?6, 0, ?7, ?7) \
                 ON CONFLICT (msg_key) DO UPDATE SET state = 'sent', \
                 provider_ids = excluded.provider_ids, sent_at = excluded.sent_at, payload = ''",
            )
            .bind(&[
                JsValue::from_str(&message.key),
                JsValue::from_str(message.tenant.as_str()),
                JsValue::from_str(message.channel.as_str()),
                JsValue::from_str(&purpose),
                message
                    .conversation_id
                    .as_ref()
                    .map_or(JsValue::NULL, |c| JsValue::from_str(c.as_str())),
                JsValue::from_str(&ids),
                JsValue::from_f64(now),
            ])
            .map_err(retryable)?
            .run()
            .await
            .map_err(retryable)?;
        Ok(())
    }

    async fn http(
        &self,
        base: &str,
        authorization: &str,
        request: &HttpRequest,
    ) -> Result<(u16, Vec<u8>), OutboundError> {
        let send = async {
            let headers = Headers::new();
            for (name, value) in &request.headers {
                headers.set(name, value)?;
            }
            headers.set("authorization", authorization)?;
            let method = Method::from(request.method.to_ascii_uppercase());
            let mut init = RequestInit::new();
            init.with_method(method).with_headers(headers);
            if !request.body.is_empty() {
                init.with_body(Some(JsValue::from_str(&request.body)));
            }
            let url = format!("{}{}", base.trim_end_matches('/'), request.path);
            let mut response = Fetch::Request(Request::new_with_init(&url, &init)?)
                .send()
                .await?;
            let status = response.status_code();
            Ok::<_, worker::Error>((status, response.bytes().await?))
        };
        send.await.map_err(retryable)
    }

    async fn send_graph(
        &self,
        channel: Channel,
        requests: &[HttpRequest],
    ) -> Result<Vec<String>, OutboundError> {
        let token = self
            .config
            .meta_token
            .as_deref()
            .ok_or_else(|| OutboundError::Permanent("META_ACCESS_TOKEN is not set".into()))?;
        let auth = format!("Bearer {token}");
        let mut ids = Vec::new();
        for request in requests {
            let (status, body) = self.http(&self.config.graph_base, &auth, request).await?;
            if (200..300).contains(&status) {
                let id = match channel {
                    Channel::Instagram => instagram::parse_send_response(&body),
                    _ => whatsapp::parse_send_response(&body),
                };
                ids.push(id.map_err(|e| OutboundError::Permanent(e.to_string()))?);
                continue;
            }
            return Err(match meta::parse_graph_error(&body) {
                Some(e) if e.retryable || e.is_rate_limit() => {
                    OutboundError::Retryable(format!("Graph error {}", e.code))
                }
                Some(e) => {
                    OutboundError::Permanent(format!("Graph error {}: {}", e.code, e.message))
                }
                None if status == 429 || status >= 500 => {
                    OutboundError::Retryable(format!("Graph answered HTTP {status}"))
                }
                None => OutboundError::Permanent(format!("Graph answered HTTP {status}")),
            });
        }
        Ok(ids)
    }

    async fn send_discord(&self, requests: &[HttpRequest]) -> Result<Vec<String>, OutboundError> {
        let token = self
            .config
            .discord_bot_token
            .as_deref()
            .ok_or_else(|| OutboundError::Permanent("DISCORD_BOT_TOKEN is not set".into()))?;
        let auth = format!("Bot {token}");
        let mut ids = Vec::new();
        for request in requests {
            let (status, body) = self.http(&self.config.discord_base, &auth, request).await?;
            if (200..300).contains(&status) {
                ids.push(
                    discord::parse_create_message_response(&body)
                        .map_err(|e| OutboundError::Permanent(e.to_string()))?,
                );
            } else if status == 429 || status >= 500 {
                return Err(OutboundError::Retryable(format!(
                    "Discord answered HTTP {status}"
                )));
            } else {
                return Err(OutboundError::Permanent(format!(
                    "Discord answered HTTP {status}"
                )));
            }
        }
        Ok(ids)
    }

    async fn send_email(
        &self,
        from: &str,
        to: &[String],
        raw: &str,
    ) -> Result<Vec<String>, OutboundError> {
        let binding = self
            .env
            .send_email("EMAIL")
            .map_err(|e| OutboundError::Permanent(format!("EMAIL binding: {e}")))?;
        let mut ids = Vec::new();
        for rcpt in to {
            let message = worker::EmailMessage::new(from, rcpt, raw)
                .map_err(|e| OutboundError::Permanent(format!("{e:?}")))?;
            let result = binding
                .send(&message)
                .await
                .map_err(|e| OutboundError::Retryable(format!("{e:?}")))?;
            ids.push(result.message_id());
        }
        Ok(ids)
    }
}

#[async_trait(?Send)]
impl Outbound for CfOutbound {
    async fn send(&self, message: &OutboundMessage) -> Result<SendReceipt, OutboundError> {
        if let Some(provider_ids) = self.already_sent(&message.key).await? {
            return Ok(SendReceipt { provider_ids });
        }
        let ctx = RenderContext {
            now: super::now(),
            signing_key: &self.config.signing_key,
            system_from: &self.config.system_from,
        };
        let rendered =
            render(message, &ctx).map_err(|e| OutboundError::Permanent(e.to_string()))?;
        let provider_ids = match &rendered {
            Rendered::Graph { requests } => self.send_graph(message.channel, requests).await?,
            Rendered::Discord { requests } => self.send_discord(requests).await?,
            Rendered::Email { from, to, raw } => self.send_email(from, to, raw).await?,
        };
        if let Err(e) = self.record_sent(message, &provider_ids).await {
            // Sent already; a missing outbox row can only cause a duplicate on a retry.
            worker::console_warn!("could not record a sent message: {e}");
        }
        Ok(SendReceipt { provider_ids })
    }
}
