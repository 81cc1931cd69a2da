//! Inbound email: loop prevention, reverse-alias relays and the tenant's routing rules.

use super::outcome::{EmailOutcome, InboundOutcome};
use super::turn::excerpt;
use super::{Engine, EngineError};
use crate::channels::email::{parse_email, ParsedEmail};
use crate::channels::ReplyRoute;
use crate::email::{
    deliver_reply_via_alias, forward, is_reverse_alias, reverse_alias_for, CompiledRules,
    EmailAction, ReverseAlias,
};
use crate::ids::{Channel, ChannelAccount};
use crate::ports::{OutboundBody, OutboundError, OutboundMessage, Purpose};
use crate::tenant::Tenant;
use crate::time::Timestamp;

impl Engine {
    /// Handles one raw RFC 5322 message delivered to `recipient` (the envelope `RCPT TO`).
    ///
    /// Order: parse → idempotency on the Message-ID (or content hash) → never answer
    /// auto-replies, bounces, list mail or our own forwards → replies to a reverse alias are
    /// relayed to the customer → the tenant's routing rules for the recipient's domain, first
    /// match wins (drop, spam, forward by email from a reverse alias, post to Discord, AI reply)
    /// → no match: the AI reply.
    ///
    /// # Errors
    /// [`EngineError::Malformed`] for input that is not an email (reject it: 4xx / `setReject`);
    /// other errors as [`handle_inbound`](Self::handle_inbound), with the same retry contract.
    pub async fn handle_email(
        &self,
        raw: &[u8],
        recipient: &str,
    ) -> Result<EmailOutcome, EngineError> {
        let parsed = parse_email(raw)?;
        let recipient = recipient.trim().to_ascii_lowercase();
        let domain = recipient
            .rsplit_once('@')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_default();
        let key = format!("email:{}", parsed.idempotency_id());
        let now = self.clock().now();
        if !self
            .store()
            .first_seen(&key, now, self.config.idempotency_ttl)
            .await?
        {
            return Ok(EmailOutcome::Duplicate);
        }
        match self.route_email(&parsed, &recipient, &domain, now).await {
            Err(e) if e.is_retryable() => {
                if let Err(forget) = self.store().forget(&key).await {
                    tracing::warn!(error = %forget, "could not release idempotency key");
                }
                Err(e)
            }
            other => other,
        }
    }

    /// [`handle_email`](Self::handle_email) without the idempotency check, for adapters that
    /// deduplicate durably themselves (the server stores the message and a job in one
    /// transaction, then the job calls this; a retried job must not see its own email as a
    /// duplicate).
    ///
    /// # Errors
    /// As [`handle_email`](Self::handle_email).
    pub async fn process_email(
        &self,
        raw: &[u8],
        recipient: &str,
    ) -> Result<EmailOutcome, EngineError> {
        let parsed = parse_email(raw)?;
        let recipient = recipient.trim().to_ascii_lowercase();
        let domain = recipient
            .rsplit_once('@')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_default();
        self.route_email(&parsed, &recipient, &domain, self.clock().now())
            .await
    }

    async fn route_email(
        &self,
        parsed: &ParsedEmail,
        recipient: &str,
        domain: &str,
        now: Timestamp,
    ) -> Result<EmailOutcome, EngineError> {
        if let Some(reason) = &parsed.auto {
            tracing::info!(%reason, "email not answered");
            return Ok(EmailOutcome::NotAnswered {
                reason: reason.clone(),
            });
        }
        let account = ChannelAccount::EmailDomain(domain.to_owned());
        let tenant = match self.store().find_tenant(&account).await? {
            Some(id) => self.store().get_tenant(&id).await?,
            None => None,
        };
        let Some(tenant) = tenant else {
            tracing::info!(domain, "email for an unknown domain dropped");
            return Ok(EmailOutcome::UnknownDomain {
                domain: domain.to_owned(),
            });
        };
        let Some(config) = tenant.channels.email.as_ref() else {
            return Ok(EmailOutcome::UnknownDomain {
                domain: domain.to_owned(),
            });
        };

        if is_reverse_alias(recipient) {
            let Some(alias) = self.store().get_alias(&tenant.id, recipient, now).await? else {
                return Ok(EmailOutcome::UnknownAlias);
            };
            let mail = deliver_reply_via_alias(parsed, &alias, &config.from_address());
            let to = alias.original_sender.clone();
            self.send_forward(
                &tenant,
                &account,
                Channel::Email,
                &to,
                OutboundBody::FullEmail(mail),
                parsed,
                "relay",
            )
            .await?;
            return Ok(EmailOutcome::Relayed { to });
        }

        let rules = config
            .rules
            .iter()
            .find(|(d, _)| d.eq_ignore_ascii_case(domain))
            .map(|(_, r)| r);
        let compiled = match rules.map(|r| CompiledRules::compile(r)).transpose() {
            Ok(c) => c,
            Err(e) => {
                // Validated on save; a stored invalid rule set must not swallow mail.
                tracing::error!(tenant = %tenant.id, error = %e, "invalid email rules; answering with the AI");
                None
            }
        };
        let matched = compiled.as_ref().and_then(|c| c.route(parsed, recipient));
        let rule_name = |i: usize| {
            rules
                .and_then(|r| r.get(i))
                .map_or_else(|| format!("#{i}"), |r| r.name.clone())
        };
        match matched {
            Some((i, EmailAction::Drop)) => Ok(EmailOutcome::Dropped { rule: rule_name(i) }),
            Some((i, EmailAction::Spam)) => {
                tracing::info!(tenant = %tenant.id, rule = %rule_name(i), "email filed as spam");
                Ok(EmailOutcome::Spam { rule: rule_name(i) })
            }
            Some((i, EmailAction::ForwardEmail { to })) => {
                let customer = parsed
                    .reply_to
                    .clone()
                    .unwrap_or_else(|| parsed.from.clone());
                let alias = reverse_alias_for(&customer, domain, &self.config.signing_key);
                self.store()
                    .put_alias(&tenant.id, &ReverseAlias::new(&alias, &customer, now))
                    .await?;
                let mail = forward(parsed, &alias, to, now);
                self.send_forward(
                    &tenant,
                    &account,
                    Channel::Email,
                    to,
                    OutboundBody::FullEmail(mail),
                    parsed,
                    "forward",
                )
                .await?;
                Ok(EmailOutcome::Forwarded {
                    rule: rule_name(i),
                    to: to.clone(),
                    alias,
                })
            }
            Some((i, EmailAction::ForwardDiscord { channel_id })) => {
                let text = format!(
                    "📧 Email from {} to {}\n**{}**\n\n{}",
                    parsed.from,
                    recipient,
                    parsed.subject,
                    excerpt(&parsed.text, 1500)
                );
                let guild = tenant
                    .channels
                    .discord
                    .as_ref()
                    .map(|d| ChannelAccount::DiscordGuild(d.guild_id.clone()));
                self.send_forward(
                    &tenant,
                    guild.as_ref().unwrap_or(&account),
                    Channel::Discord,
                    channel_id,
                    OutboundBody::Text {
                        text,
                        reply_to: None,
                    },
                    parsed,
                    "discord",
                )
                .await?;
                Ok(EmailOutcome::PostedToDiscord {
                    rule: rule_name(i),
                    channel_id: channel_id.clone(),
                })
            }
            Some((_, EmailAction::AiReply)) | None => {
                let outcome: InboundOutcome =
                    self.process_inbound(parsed.to_inbound(recipient)).await?;
                Ok(EmailOutcome::Answered { inbound: outcome })
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_forward(
        &self,
        tenant: &Tenant,
        account: &ChannelAccount,
        channel: Channel,
        to: &str,
        body: OutboundBody,
        parsed: &ParsedEmail,
        kind: &str,
    ) -> Result<(), EngineError> {
        let message = OutboundMessage {
            key: format!("{kind}:{}:{to}", parsed.idempotency_id()),
            tenant: tenant.id.clone(),
            channel,
            account: Some(account.clone()),
            to: to.to_owned(),
            route: ReplyRoute::Direct,
            body,
            purpose: Purpose::Forward,
            conversation_id: None,
        };
        match self.outbound().send(&message).await {
            Ok(_) => Ok(()),
            Err(OutboundError::Permanent(reason)) => {
                tracing::error!(tenant = %tenant.id, %reason, "forward refused");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}
