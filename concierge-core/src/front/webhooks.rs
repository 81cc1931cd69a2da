//! Channel ingress: verify, parse with [`crate::channels`], hand customer messages to the
//! host's durable work, answer at once. A redelivery is acknowledged and changes nothing.

use crate::channels::discord::{self, DiscordEvent, IgnoredReason};
use crate::channels::email::parse_email;
use crate::channels::instagram::{self, InstagramEvent};
use crate::channels::whatsapp::{self, WhatsAppEvent};
use crate::channels::{check_size, meta, ChannelError, InboundMessage};
use crate::delivery::Receipt;
use crate::engine::{approval_response, InteractionAnswer};

use super::host::{stamp, AcceptedEmail};
use super::reply::{empty, json_ok, text_response, Request, Response};
use super::{header, secret_eq, ApiError, Front};

/// Which Meta webhook: its verify token and app secret.
#[derive(Clone, Copy, Debug)]
pub(super) enum MetaApp {
    WhatsApp,
    Instagram,
}

impl Front<'_> {
    async fn hand_off(&self, mut messages: Vec<InboundMessage>) -> Result<usize, ApiError> {
        if messages.is_empty() {
            return Ok(0);
        }
        stamp(&mut messages, self.engine.clock().now());
        Ok(self.host.accept_messages(messages).await?)
    }

    fn meta_secrets(&self, app: MetaApp) -> (Option<&str>, Option<&str>) {
        let c = self.config;
        match app {
            MetaApp::WhatsApp => (
                c.whatsapp_verify_token.as_deref(),
                c.whatsapp_app_secret.as_deref(),
            ),
            MetaApp::Instagram => (
                c.instagram_verify_token.as_deref(),
                c.instagram_app_secret.as_deref(),
            ),
        }
    }

    /// `GET /webhook/{whatsapp,instagram}`: Meta's subscription handshake.
    pub(super) fn meta_verify(&self, app: MetaApp, req: &Request) -> Result<Response, ApiError> {
        let token = self.meta_secrets(app).0.ok_or(ApiError::Unavailable(
            "the webhook verify token is not configured",
        ))?;
        let challenge = meta::verify_subscription(req.uri().query().unwrap_or(""), token)?;
        Ok(text_response(200, challenge))
    }

    fn verify_meta(&self, app: MetaApp, req: &Request) -> Result<(), ApiError> {
        let secret = self.meta_secrets(app).1.ok_or(ApiError::Unavailable(
            "the Meta app secret is not configured",
        ))?;
        check_size(req.body())?;
        meta::verify_signature(
            secret.as_bytes(),
            req.body(),
            header(req, meta::SIGNATURE_HEADER),
        )?;
        Ok(())
    }

    /// `POST /webhook/whatsapp`: verified, parsed; messages handed off, delivery statuses of
    /// our sends stored as receipts; 200 once durable.
    pub(super) async fn whatsapp_event(&self, req: &Request) -> Result<Response, ApiError> {
        self.verify_meta(MetaApp::WhatsApp, req)?;
        let mut messages = Vec::new();
        for event in whatsapp::parse_webhook(req.body())? {
            match event {
                WhatsAppEvent::Message(message) => messages.push(message),
                WhatsAppEvent::Status(status) => {
                    tracing::debug!(provider_id = %status.provider_id, state = ?status.state, "WhatsApp delivery status");
                    // Only statuses of parts Concierge sent carry our callback data.
                    if let Some((key, receipt)) = Receipt::from_status(&status) {
                        self.host.record_receipt(key.to_owned(), receipt).await?;
                    }
                }
                WhatsAppEvent::Ignored { reason } => {
                    tracing::debug!(%reason, "WhatsApp event ignored");
                }
            }
        }
        let new = self.hand_off(messages).await?;
        tracing::debug!(new, "WhatsApp webhook acknowledged");
        Ok(empty(200))
    }

    /// `POST /webhook/instagram`: verified, parsed, messages handed off; 200 once durable.
    pub(super) async fn instagram_event(&self, req: &Request) -> Result<Response, ApiError> {
        self.verify_meta(MetaApp::Instagram, req)?;
        let mut messages = Vec::new();
        for event in instagram::parse_webhook(req.body())? {
            match event {
                InstagramEvent::Message(message) => messages.push(message),
                InstagramEvent::Status(status) => {
                    tracing::debug!(provider_id = %status.provider_id, state = ?status.state, "Instagram status");
                }
                InstagramEvent::Echo { .. } => {}
                InstagramEvent::Standby { reason } | InstagramEvent::Ignored { reason } => {
                    tracing::debug!(%reason, "Instagram event not answered");
                }
            }
        }
        self.hand_off(messages).await?;
        Ok(empty(200))
    }

    fn verify_discord(&self, req: &Request) -> Result<(), ApiError> {
        let key = self
            .config
            .discord_public_key
            .as_ref()
            .ok_or(ApiError::Unavailable(
                "DISCORD_PUBLIC_KEY is not configured",
            ))?;
        discord::verify_request_with_key(
            key,
            header(req, discord::SIGNATURE_HEADER),
            header(req, discord::TIMESTAMP_HEADER),
            req.body(),
            self.engine.clock().now(),
        )?;
        Ok(())
    }

    /// `POST /discord/events`: application webhook events; a `MESSAGE_CREATE` the engine accepts
    /// as a customer message is handed off. 204 for every verified event.
    pub(super) async fn discord_events(&self, req: &Request) -> Result<Response, ApiError> {
        self.verify_discord(req)?;
        if let DiscordEvent::Message(message) = discord::parse_event(req.body())? {
            let bot = &self.config.discord_bot_user_id;
            match self.engine.discord_inbound(&message, bot).await? {
                Ok(inbound) => {
                    self.hand_off(vec![inbound]).await?;
                }
                Err(IgnoredReason::NotConnected) => {
                    tracing::info!(guild = ?message.guild_id, "Discord message for an unknown guild dropped");
                }
                Err(reason) => tracing::debug!(%reason, "Discord message not answered"),
            }
        }
        Ok(empty(204))
    }

    /// `POST /discord/interactions`: the engine's answer to pings, slash commands and approval
    /// buttons (a decision runs inline, where the host runs the draft's conversation).
    pub(super) async fn discord_interactions(&self, req: &Request) -> Result<Response, ApiError> {
        self.verify_discord(req)?;
        let key = &self.engine.config().signing_key;
        let interaction = discord::parse_interaction_with_key(req.body(), key)?;
        let body = match self.engine.discord_interaction(&interaction).await? {
            InteractionAnswer::Respond(body) => body,
            InteractionAnswer::Decide { tenant, decision } => {
                let outcome = self.host.decide_approval(tenant, decision).await?;
                approval_response(&outcome)
            }
        };
        Ok(json_ok(&body))
    }

    /// `POST /email/inbound?to=ADDRESS`: a raw RFC 5322 message, authenticated with
    /// `Authorization: Bearer` the email secret; 202 once durable.
    pub(super) async fn email_inbound(&self, req: &Request) -> Result<Response, ApiError> {
        let secret = self
            .config
            .email_secret
            .as_deref()
            .ok_or(ApiError::Unavailable(
                "CONCIERGE_EMAIL_SECRET is not configured",
            ))?;
        let given = header(req, "authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !secret_eq(given, secret) {
            return Err(ChannelError::BadSignature.into());
        }
        let query_to = req.uri().query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "to")
                .map(|(_, v)| v.into_owned())
        });
        let recipient = query_to
            .or_else(|| header(req, "x-envelope-to").map(str::to_owned))
            .filter(|r| r.contains('@') && !r.contains(char::is_whitespace))
            .ok_or_else(|| {
                ApiError::BadRequest("the envelope recipient (?to=address) is required".into())
            })?;
        check_size(req.body())?;
        let parsed = parse_email(req.body())?;
        self.host
            .accept_email(AcceptedEmail {
                recipient,
                raw: req.body().clone(),
                parsed,
            })
            .await?;
        Ok(empty(202))
    }
}
