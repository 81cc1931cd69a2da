//! `/dashboard/channels`: connect, change or disconnect WhatsApp (phone number id + token),
//! Instagram (page id + token), Discord (guild and triggers; the bot is shared) and email
//! (domains and their ordered routing rules). Tokens are sealed at rest by the host
//! (AES-256-GCM) and never shown again. The tenant file's validation decides what is valid;
//! nothing is saved when anything is wrong.

use std::collections::BTreeMap;

use askama::Template;
use serde::{Deserialize, Serialize};

use crate::conversation::FieldError;
use crate::email::EmailRule;
use crate::front::reply::{Request, Response};
use crate::front::{retry_conflicts, ApiError, Front};
use crate::ids::{Channel, ChannelAccount};
use crate::rules::{ReplyConfig, ReplyResponse};
use crate::tenant::{
    ChannelConfigs, DiscordConfig, EmailConfig, InstagramConfig, Tenant, WhatsAppConfig,
};

use super::super::form::{Errors, Form};
use super::super::render::{page, redirect_to, Tr};
use super::super::Viewer;

/// The longest token accepted (Meta's long-lived tokens are a few hundred characters).
const MAX_TOKEN_LEN: usize = 4096;

/// The email routing rules as the editor shows them: TOML, `[[rules."domain"]]` tables.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutingRules {
    #[serde(default)]
    rules: BTreeMap<String, Vec<EmailRule>>,
}

/// The page's values: stored, or as typed after an error.
#[derive(Debug, Default)]
struct Values {
    whatsapp: Option<String>,
    instagram: Option<String>,
    discord_guild: Option<String>,
    discord_mentions: bool,
    discord_channels: String,
    email_domains: String,
    email_from: String,
    email_rules: String,
}

impl Values {
    fn of(channels: &ChannelConfigs) -> Values {
        let discord = channels.discord.as_ref();
        let email = channels.email.as_ref();
        Values {
            whatsapp: channels
                .whatsapp
                .as_ref()
                .map(|c| c.phone_number_id.clone()),
            instagram: channels.instagram.as_ref().map(|c| c.page_id.clone()),
            discord_guild: discord.map(|c| c.guild_id.clone()),
            discord_mentions: discord.is_none_or(|c| c.inbound_mentions),
            discord_channels: discord
                .map(|c| c.inbound_channel_ids.join("\n"))
                .unwrap_or_default(),
            email_domains: email.map(|c| c.domains.join("\n")).unwrap_or_default(),
            email_from: email
                .and_then(|c| c.from_address.clone())
                .unwrap_or_default(),
            email_rules: email
                .map(|c| {
                    toml::to_string_pretty(&RoutingRules {
                        rules: c.rules.clone(),
                    })
                    .unwrap_or_default()
                })
                .unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "web/channels.html")]
struct ChannelsPage<'a> {
    t: Tr,
    viewer: &'a Viewer,
    nav: &'static str,
    values: Values,
    errors: Errors,
    saved: String,
}

/// A new channel's replies: the model answers, no rules yet.
fn fresh_replies() -> ReplyConfig {
    ReplyConfig {
        enabled: true,
        rules: Vec::new(),
        default_rule: ReplyResponse::Prompt {
            text: String::new(),
        },
        wait_seconds: 0,
    }
}

fn render(
    viewer: &Viewer,
    values: Values,
    errors: Vec<FieldError>,
    saved: String,
    status: u16,
) -> Result<Response, ApiError> {
    page(
        status,
        &ChannelsPage {
            t: Tr(viewer.locale),
            viewer,
            nav: "channels",
            values,
            errors: Errors::new(errors),
            saved,
        },
    )
}

/// `GET /dashboard/channels`.
pub(super) async fn show(
    front: &Front<'_>,
    viewer: &Viewer,
    req: &Request,
) -> Result<Response, ApiError> {
    let tenant = front.tenant(&viewer.tenant).await?;
    let query = Form::from_bytes(req.uri().query().unwrap_or("").as_bytes());
    let saved = query.text("saved");
    let saved = if Channel::ALL.iter().any(|c| c.as_str() == saved) {
        saved
    } else {
        String::new()
    };
    render(viewer, Values::of(&tenant.channels), Vec::new(), saved, 200)
}

/// A channel token to seal: the account's index key (`wa_phone:…`) and the token.
type Secret = (String, String);

/// The channels after applying one card's form, the token to seal, or field errors.
fn apply(
    tenant: &Tenant,
    channel: Channel,
    form: &Form,
    t: Tr,
) -> Result<(ChannelConfigs, Option<Secret>), Vec<FieldError>> {
    let mut channels = tenant.channels.clone();
    let disconnect = form.text("action") == "disconnect";
    let token = form.text("token");
    if token.len() > MAX_TOKEN_LEN || token.contains(char::is_whitespace) {
        return Err(vec![FieldError::new(
            format!("channels.{channel}.token"),
            t.get("channels-error-token"),
        )]);
    }
    let mut secret = None;
    match channel {
        Channel::WhatsApp if disconnect => channels.whatsapp = None,
        Channel::WhatsApp => {
            let id = form.text("phone_number_id");
            let old = channels.whatsapp.take();
            channels.whatsapp = Some(WhatsAppConfig {
                phone_number_id: id.clone(),
                replies: old
                    .as_ref()
                    .map_or_else(fresh_replies, |c| c.replies.clone()),
                outside_window_template: old.and_then(|c| c.outside_window_template),
            });
            if !token.is_empty() {
                secret = Some((ChannelAccount::WhatsAppPhone(id).index_key(), token));
            }
        }
        Channel::Instagram if disconnect => channels.instagram = None,
        Channel::Instagram => {
            let id = form.text("page_id");
            let replies = channels
                .instagram
                .take()
                .map_or_else(fresh_replies, |c| c.replies);
            channels.instagram = Some(InstagramConfig {
                page_id: id.clone(),
                replies,
            });
            if !token.is_empty() {
                secret = Some((ChannelAccount::InstagramPage(id).index_key(), token));
            }
        }
        Channel::Discord if disconnect => channels.discord = None,
        Channel::Discord => {
            let replies = channels
                .discord
                .take()
                .map_or_else(fresh_replies, |c| c.replies);
            channels.discord = Some(DiscordConfig {
                guild_id: form.text("guild_id"),
                inbound_mentions: form.raw("mentions").is_some(),
                inbound_channel_ids: form.lines("channel_ids"),
                replies,
            });
        }
        Channel::Email if disconnect => channels.email = None,
        Channel::Email => {
            let rules: RoutingRules = toml::from_str(form.raw("rules").unwrap_or(""))
                .map_err(|e| vec![FieldError::new("channels.email.rules", e.to_string())])?;
            let old = channels.email.take();
            channels.email = Some(EmailConfig {
                domains: form
                    .lines("domains")
                    .into_iter()
                    .map(|d| d.to_ascii_lowercase())
                    .collect(),
                from_address: form.optional("from_address"),
                rules: rules.rules,
                replies: old.map_or_else(fresh_replies, |c| c.replies),
            });
        }
        Channel::Web => {
            return Err(vec![FieldError::new(
                "channels",
                t.get("channels-error-web"),
            )])
        }
    }
    Ok((channels, secret))
}

/// `POST /dashboard/channels/{channel}`: save (`action=save`) or disconnect.
pub(super) async fn submit(
    front: &Front<'_>,
    viewer: &Viewer,
    req: &Request,
    raw: &str,
) -> Result<Response, ApiError> {
    let t = Tr(viewer.locale);
    let channel: Channel = raw
        .parse()
        .map_err(|_| ApiError::NotFound(format!("channel {raw}")))?;
    let tenant = front.tenant(&viewer.tenant).await?;
    let form = Form::parse(req);
    let typed = |tenant: &Tenant| {
        let mut values = Values::of(&tenant.channels);
        match channel {
            Channel::WhatsApp => values.whatsapp = Some(form.text("phone_number_id")),
            Channel::Instagram => values.instagram = Some(form.text("page_id")),
            Channel::Discord => {
                values.discord_guild = Some(form.text("guild_id"));
                values.discord_mentions = form.raw("mentions").is_some();
                values.discord_channels = form.raw("channel_ids").unwrap_or("").to_owned();
            }
            Channel::Email => {
                values.email_domains = form.raw("domains").unwrap_or("").to_owned();
                values.email_from = form.raw("from_address").unwrap_or("").to_owned();
                values.email_rules = form.raw("rules").unwrap_or("").to_owned();
            }
            Channel::Web => {}
        }
        values
    };
    let (channels, secret) = match apply(&tenant, channel, &form, t) {
        Ok(next) => next,
        Err(errors) => return render(viewer, typed(&tenant), errors, String::new(), 422),
    };
    let id = viewer.tenant.clone();
    match retry_conflicts(|| front.engine.save_channels(&id, channels.clone())).await {
        Ok(()) => {}
        Err(crate::engine::EngineError::Invalid(errors)) => {
            return render(viewer, typed(&tenant), errors, String::new(), 422)
        }
        Err(e) => return Err(e.into()),
    }
    front.host.tenant_changed().await;
    if let Some((account, token)) = secret {
        front.host.put_secret(&id, &account, &token).await?;
    }
    Ok(redirect_to(format!("/dashboard/channels?saved={channel}")))
}
