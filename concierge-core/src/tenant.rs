//! Tenants: a business's whole configuration, and the TOML tenant file that describes it.
//!
//! A [`TenantFile`] is what people write (see `examples/tenants/`); importing it yields a
//! [`Tenant`], which adds what only Concierge may set: the persona's safety review and the
//! stored revision.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::approval::{ApprovalConfig, NotificationConfig};
use crate::billing::starting_credits;
use crate::conversation::{ConversationConfig, FieldError};
use crate::email::{CompiledRules, EmailRule};
use crate::ids::{Channel, ChannelAccount, Currency, Locale, Milli, TenantId};
use crate::knowledge::{KnowledgeConfig, WhenUnknown};

fn is_default_policy(policy: &WhenUnknown) -> bool {
    *policy == WhenUnknown::default()
}
use crate::persona::{PersonaConfig, PersonaSource};
use crate::rules::ReplyConfig;
use crate::time::Timestamp;

/// WhatsApp Business settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppConfig {
    /// The phone number id (`metadata.phone_number_id`).
    pub phone_number_id: String,
    /// Reply rules.
    pub replies: ReplyConfig,
    /// The approved template to send when the 24-hour window has closed; without one, the
    /// tenant is paged instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outside_window_template: Option<TemplateRef>,
}

/// A WhatsApp message template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateRef {
    /// Template name.
    pub name: String,
    /// Language code (`en_US`).
    pub language: String,
}

/// Instagram settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstagramConfig {
    /// The Instagram business account id webhooks are addressed to.
    pub page_id: String,
    /// Reply rules.
    pub replies: ReplyConfig,
}

/// Discord settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// The guild the bot was installed in.
    pub guild_id: String,
    /// Answer when the bot is @-mentioned.
    #[serde(default = "yes")]
    pub inbound_mentions: bool,
    /// Answer every message in these channels.
    #[serde(default)]
    pub inbound_channel_ids: Vec<String>,
    /// Reply rules.
    pub replies: ReplyConfig,
}

fn yes() -> bool {
    true
}

/// Email settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Domains whose mail this tenant receives (`sunrise.cncg.email`), lower-case.
    pub domains: Vec<String>,
    /// The address replies relayed through reverse aliases come from; default `hello@{first domain}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_address: Option<String>,
    /// Ordered routing rules per domain (`[[channels.email.rules."shop.cncg.email"]]`); the
    /// first match wins; mail no rule matches goes to the AI reply.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rules: BTreeMap<String, Vec<EmailRule>>,
    /// Reply rules for mail routed to `ai_reply`.
    pub replies: ReplyConfig,
}

impl EmailConfig {
    /// The address relayed replies come from.
    pub fn from_address(&self) -> String {
        self.from_address.clone().unwrap_or_else(|| {
            format!(
                "hello@{}",
                self.domains.first().map_or("localhost", String::as_str)
            )
        })
    }
}

/// Web chat settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// The public site key the widget sends.
    pub site_key: String,
    /// Reply rules.
    pub replies: ReplyConfig,
}

/// Per-channel settings; a channel that is absent is not connected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfigs {
    /// WhatsApp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<WhatsAppConfig>,
    /// Instagram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instagram: Option<InstagramConfig>,
    /// Discord.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discord: Option<DiscordConfig>,
    /// Email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailConfig>,
    /// Web chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<WebConfig>,
}

impl ChannelConfigs {
    /// The reply config of `channel`, if connected.
    pub fn replies(&self, channel: Channel) -> Option<&ReplyConfig> {
        match channel {
            Channel::WhatsApp => self.whatsapp.as_ref().map(|c| &c.replies),
            Channel::Instagram => self.instagram.as_ref().map(|c| &c.replies),
            Channel::Discord => self.discord.as_ref().map(|c| &c.replies),
            Channel::Email => self.email.as_ref().map(|c| &c.replies),
            Channel::Web => self.web.as_ref().map(|c| &c.replies),
        }
    }

    /// The reply config of `channel`, mutably.
    pub fn replies_mut(&mut self, channel: Channel) -> Option<&mut ReplyConfig> {
        match channel {
            Channel::WhatsApp => self.whatsapp.as_mut().map(|c| &mut c.replies),
            Channel::Instagram => self.instagram.as_mut().map(|c| &mut c.replies),
            Channel::Discord => self.discord.as_mut().map(|c| &mut c.replies),
            Channel::Email => self.email.as_mut().map(|c| &mut c.replies),
            Channel::Web => self.web.as_mut().map(|c| &mut c.replies),
        }
    }

    /// Every account these channels receive on (the reverse-index entries).
    pub fn accounts(&self) -> Vec<ChannelAccount> {
        let mut out = Vec::new();
        if let Some(c) = &self.whatsapp {
            out.push(ChannelAccount::WhatsAppPhone(c.phone_number_id.clone()));
        }
        if let Some(c) = &self.instagram {
            out.push(ChannelAccount::InstagramPage(c.page_id.clone()));
        }
        if let Some(c) = &self.discord {
            out.push(ChannelAccount::DiscordGuild(c.guild_id.clone()));
        }
        if let Some(c) = &self.email {
            out.extend(
                c.domains
                    .iter()
                    .map(|d| ChannelAccount::EmailDomain(d.to_ascii_lowercase())),
            );
        }
        if let Some(c) = &self.web {
            out.push(ChannelAccount::WebSite(c.site_key.clone()));
        }
        out
    }
}

/// A tenant as stored and used by the engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// The id.
    pub id: TenantId,
    /// The business's display name.
    pub name: String,
    /// Its locale.
    pub locale: Locale,
    /// The currency it is billed in.
    pub currency: Currency,
    /// The persona and its safety review.
    pub persona: PersonaConfig,
    /// Conversation knobs.
    pub conversation: ConversationConfig,
    /// Whether AI drafts wait for approval.
    pub approval: ApprovalConfig,
    /// Where the owner is reached.
    pub notifications: NotificationConfig,
    /// Connected channels.
    pub channels: ChannelConfigs,
    /// What a reply does when the knowledge base has nothing relevant (`[knowledge]
    /// when_unknown`); the documents themselves are in the store
    /// ([`KnowledgeStore`](crate::ports::KnowledgeStore)).
    #[serde(default, skip_serializing_if = "is_default_policy")]
    pub when_unknown: WhenUnknown,
    /// Where the owner is in the onboarding wizard (`onboarding:{tenant}` in the seed);
    /// `None` once finished (and for tenants imported from a file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onboarding: Option<OnboardingStep>,
    /// The stored revision (0 for a tenant not stored yet).
    #[serde(default)]
    pub revision: u64,
}

/// The onboarding wizard's steps, in order: business details → persona → channels →
/// conversation timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnboardingStep {
    /// Name, locale and currency.
    Business,
    /// A curated archetype, the builder or custom text.
    Persona,
    /// WhatsApp, Instagram, Discord, email.
    Channels,
    /// The Conversation Timing card.
    Timing,
}

impl OnboardingStep {
    /// Every step, in order.
    pub const ALL: [OnboardingStep; 4] = [
        OnboardingStep::Business,
        OnboardingStep::Persona,
        OnboardingStep::Channels,
        OnboardingStep::Timing,
    ];

    /// The step after this one, `None` after the last.
    pub fn next(self) -> Option<OnboardingStep> {
        let i = Self::ALL.iter().position(|s| *s == self)?;
        Self::ALL.get(i + 1).copied()
    }

    /// The step's name (`business`).
    pub fn as_str(self) -> &'static str {
        match self {
            OnboardingStep::Business => "business",
            OnboardingStep::Persona => "persona",
            OnboardingStep::Channels => "channels",
            OnboardingStep::Timing => "timing",
        }
    }
}

/// Why [`Tenant::system_prompt`] has no prompt to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SystemPromptError {
    /// The tenant has not connected the channel.
    #[error("the tenant has no {0} channel")]
    NoChannel(Channel),
    /// No rule by that name.
    #[error("no rule `{rule}` on {channel} (rules: {known})")]
    NoRule {
        /// The channel.
        channel: Channel,
        /// The name asked for.
        rule: String,
        /// The names that exist, comma-separated, then `default`.
        known: String,
    },
    /// The rule answers with canned text, which the model never sees.
    #[error("rule `{rule}` on {channel} answers with canned text: the model never sees it")]
    Canned {
        /// The channel.
        channel: Channel,
        /// The rule.
        rule: String,
    },
}

impl Tenant {
    /// Exactly what the reply model receives as its system prompt when `rule` (a rule name, or
    /// `None` / `"default"` for the default rule) answers on `channel`: the envelope around the
    /// persona and the rule's prompt. The "what you see is what the model sees" view.
    ///
    /// # Errors
    /// [`SystemPromptError`] when the channel or rule does not exist or the rule is canned.
    pub fn system_prompt(
        &self,
        channel: Channel,
        rule: Option<&str>,
    ) -> Result<String, SystemPromptError> {
        self.system_prompt_with(channel, rule, None)
    }

    /// [`system_prompt`](Self::system_prompt) with the knowledge section a tenant with
    /// documents gets: the passages found for a message (or none), exactly as the turn
    /// builds it.
    ///
    /// # Errors
    /// As [`system_prompt`](Self::system_prompt).
    pub fn system_prompt_with(
        &self,
        channel: Channel,
        rule: Option<&str>,
        knowledge: Option<&crate::prompt::KnowledgeSection<'_>>,
    ) -> Result<String, SystemPromptError> {
        self.system_prompt_for(channel, rule, knowledge, false)
    }

    /// [`system_prompt_with`](Self::system_prompt_with), in the compact envelope
    /// ([`crate::prompt::compact`]) when `compact` is set, as an engine with
    /// [`EngineConfig::compact_prompt`](crate::engine::EngineConfig::compact_prompt) builds it.
    ///
    /// # Errors
    /// As [`system_prompt`](Self::system_prompt).
    pub fn system_prompt_for(
        &self,
        channel: Channel,
        rule: Option<&str>,
        knowledge: Option<&crate::prompt::KnowledgeSection<'_>>,
        compact: bool,
    ) -> Result<String, SystemPromptError> {
        let replies = self
            .channels
            .replies(channel)
            .ok_or(SystemPromptError::NoChannel(channel))?;
        let (name, response) = match rule {
            None | Some("default") => ("default", &replies.default_rule),
            Some(name) => {
                let found = replies
                    .rules
                    .iter()
                    .find(|r| r.name == name)
                    .ok_or_else(|| SystemPromptError::NoRule {
                        channel,
                        rule: name.to_owned(),
                        known: replies
                            .rules
                            .iter()
                            .map(|r| r.name.as_str())
                            .chain(["default"])
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?;
                (name, &found.response)
            }
        };
        match response {
            crate::rules::ReplyResponse::Prompt { text } => {
                let middle = crate::prompt::middle(&self.persona.active_prompt(), text);
                Ok(match knowledge {
                    _ if compact => crate::prompt::compact::wrap_compact(&middle, knowledge),
                    Some(section) => crate::prompt::wrap_grounded(&middle, section),
                    None => crate::prompt::wrap(&middle),
                })
            }
            crate::rules::ReplyResponse::Canned { .. } => Err(SystemPromptError::Canned {
                channel,
                rule: name.to_owned(),
            }),
        }
    }
}

/// The tenant file: a whole tenant in one TOML document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantFile {
    /// The id (`a-z0-9-_`, at most 64).
    pub id: TenantId,
    /// The business's display name.
    pub name: String,
    /// BCP-47 locale.
    #[serde(default)]
    pub locale: Locale,
    /// Billing currency (ISO 4217).
    pub currency: Currency,
    /// Credit granted once on first import (as a decimal amount of `currency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_credits: Option<Milli>,
    /// The persona: `[persona.builder]` fields or `persona.custom = "..."`.
    pub persona: PersonaSource,
    /// Conversation knobs.
    #[serde(default)]
    pub conversation: ConversationConfig,
    /// Approval relay.
    #[serde(default)]
    pub approval: ApprovalConfig,
    /// Where the owner gets handoff pages and approval requests.
    #[serde(default)]
    pub notifications: NotificationConfig,
    /// Connected channels.
    #[serde(default)]
    pub channels: ChannelConfigs,
    /// The business's documents (`[knowledge] paths`), read by whoever imports the file.
    #[serde(default, skip_serializing_if = "KnowledgeConfig::is_empty")]
    pub knowledge: KnowledgeConfig,
}

/// A tenant file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantFileError {
    /// Not valid TOML, or fields of the wrong type / unknown fields (the message names the line).
    #[error("{0}")]
    Syntax(String),
    /// Well-formed but invalid values.
    #[error("invalid tenant file: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
}

impl TenantFile {
    /// Parses and validates a TOML tenant file.
    ///
    /// # Errors
    /// [`TenantFileError::Syntax`] with the line and column of a parse error, or
    /// [`TenantFileError::Invalid`] with every invalid field.
    pub fn from_toml(text: &str) -> Result<Self, TenantFileError> {
        let file: TenantFile =
            toml::from_str(text).map_err(|e| TenantFileError::Syntax(e.to_string()))?;
        file.validate().map_err(TenantFileError::Invalid)?;
        Ok(file)
    }

    /// Serializes to TOML.
    ///
    /// # Errors
    /// Only if a value cannot be represented in TOML.
    pub fn to_toml(&self) -> Result<String, TenantFileError> {
        toml::to_string_pretty(self).map_err(|e| TenantFileError::Syntax(e.to_string()))
    }

    /// Checks every field; returns all problems.
    ///
    /// # Errors
    /// One [`FieldError`] per problem, with a dotted path to the field.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(FieldError::new("name", "must not be empty"));
        }
        if let PersonaSource::Builder(b) = &self.persona {
            for (field, value) in [
                ("persona.builder.business_name", &b.business_name),
                ("persona.builder.business_type", &b.business_type),
                ("persona.builder.goal", &b.goal),
            ] {
                if value.trim().is_empty() {
                    errors.push(FieldError::new(field, "must not be empty"));
                }
            }
        } else if let PersonaSource::Custom(text) = &self.persona {
            if text.trim().is_empty() {
                errors.push(FieldError::new("persona.custom", "must not be empty"));
            }
        }
        if let Err(e) = self.conversation.validate() {
            errors.extend(
                e.into_iter()
                    .map(|e| FieldError::new(format!("conversation.{}", e.field), e.message)),
            );
        }
        if let Some(email) = &self.notifications.email {
            if !email.contains('@') || email.contains(char::is_whitespace) {
                errors.push(FieldError::new(
                    "notifications.email",
                    "must be an email address",
                ));
            }
        }
        if let Some(channel) = &self.notifications.discord_channel_id {
            if channel.trim().is_empty() {
                errors.push(FieldError::new(
                    "notifications.discord_channel_id",
                    "must not be empty",
                ));
            }
        }
        errors.extend(
            self.knowledge
                .problems()
                .into_iter()
                .map(|(field, message)| FieldError::new(field, message)),
        );
        if self.approval.required && self.notifications.is_empty() {
            errors.push(FieldError::new(
                "approval.required",
                "needs notifications.discord_channel_id or notifications.email to send drafts to",
            ));
        }
        if !(5..=1440).contains(&self.approval.digest_cadence_mins) {
            errors.push(FieldError::new(
                "approval.digest_cadence_mins",
                "must be between 5 and 1440 minutes",
            ));
        }
        if let Some(credits) = self.starting_credits {
            // The ledger's own grant validation, on the grant the import will make.
            if let Err(problems) = starting_credits(credits, Timestamp::EPOCH).validate() {
                errors.extend(
                    problems
                        .into_iter()
                        .map(|p| FieldError::new("starting_credits", p.message)),
                );
            }
        }
        let ch = &self.channels;
        let mut account = |path: &str, id: &str| {
            if id.trim().is_empty() || id.len() > 128 || id.contains(char::is_whitespace) {
                errors.push(FieldError::new(
                    path,
                    "must be a non-empty id without spaces",
                ));
            }
        };
        if let Some(c) = &ch.whatsapp {
            account("channels.whatsapp.phone_number_id", &c.phone_number_id);
        }
        if let Some(c) = &ch.instagram {
            account("channels.instagram.page_id", &c.page_id);
        }
        if let Some(c) = &ch.discord {
            account("channels.discord.guild_id", &c.guild_id);
        }
        if let Some(c) = &ch.web {
            account("channels.web.site_key", &c.site_key);
        }
        if let Some(c) = &ch.email {
            if c.domains.is_empty() {
                errors.push(FieldError::new(
                    "channels.email.domains",
                    "needs at least one domain",
                ));
            }
            for (i, d) in c.domains.iter().enumerate() {
                let ok = d.contains('.')
                    && d.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                    && !d.starts_with('.')
                    && !d.ends_with('.');
                if !ok {
                    errors.push(FieldError::new(
                        format!("channels.email.domains[{i}]"),
                        format!("`{d}` is not a domain name"),
                    ));
                }
            }
            for (domain, rules) in &c.rules {
                let path = format!("channels.email.rules.\"{domain}\"");
                if !c.domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
                    errors.push(FieldError::new(
                        &path,
                        "is not one of channels.email.domains",
                    ));
                }
                if let Err(e) = CompiledRules::compile(rules) {
                    errors.push(FieldError::new(
                        format!("{path}[{}].{}", e.index, e.field),
                        e.to_string(),
                    ));
                }
            }
        }
        for channel in Channel::ALL {
            if let Some(replies) = ch.replies(channel) {
                if let Err(e) = replies.validate() {
                    errors.extend(
                        e.into_iter()
                            .map(|msg| split_field(&format!("channels.{channel}.replies."), &msg)),
                    );
                }
                if replies.wait_seconds > 300 {
                    errors.push(FieldError::new(
                        format!("channels.{channel}.replies.wait_seconds"),
                        "must be at most 300 seconds",
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The tenant this file describes, with a fresh (pending) persona review.
    pub fn into_tenant(self) -> Tenant {
        Tenant {
            id: self.id,
            name: self.name,
            locale: self.locale,
            currency: self.currency,
            persona: PersonaConfig::new(self.persona),
            conversation: self.conversation,
            approval: self.approval,
            notifications: self.notifications,
            channels: self.channels,
            when_unknown: self.knowledge.when_unknown,
            onboarding: None,
            revision: 0,
        }
    }

    /// The file that describes `tenant` (the safety review and revision are not part of it).
    pub fn from_tenant(tenant: &Tenant) -> Self {
        TenantFile {
            id: tenant.id.clone(),
            name: tenant.name.clone(),
            locale: tenant.locale.clone(),
            currency: tenant.currency.clone(),
            starting_credits: None,
            persona: tenant.persona.source.clone(),
            conversation: tenant.conversation,
            approval: tenant.approval,
            notifications: tenant.notifications.clone(),
            channels: tenant.channels.clone(),
            // The paths are the file's; the documents they named are in the store.
            knowledge: KnowledgeConfig {
                paths: Vec::new(),
                when_unknown: tenant.when_unknown,
            },
        }
    }
}

fn split_field(prefix: &str, message: &str) -> FieldError {
    match message.split_once(": ") {
        Some((field, rest)) => FieldError::new(format!("{prefix}{field}"), rest),
        None => FieldError::new(prefix.trim_end_matches('.'), message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
id = "corner-cafe"
name = "Corner Cafe"
currency = "USD"
starting_credits = "5"
persona.custom = "You are the Corner Cafe's assistant."

[channels.whatsapp]
phone_number_id = "1234"
[channels.whatsapp.replies]
default_rule = { kind = "prompt" }
"#;

    #[test]
    fn a_minimal_file_parses_with_defaults() {
        let f = TenantFile::from_toml(MINIMAL).unwrap();
        assert_eq!(f.locale.as_str(), "en-IN");
        assert_eq!(f.starting_credits, Some(Milli(5_000)));
        let replies = f.channels.replies(Channel::WhatsApp).unwrap();
        assert!(replies.enabled);
        assert_eq!(replies.wait_seconds, 0);
        let t = f.into_tenant();
        assert_eq!(
            t.channels.accounts(),
            vec![ChannelAccount::WhatsAppPhone("1234".into())]
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = TenantFile::from_toml("id = \"x\"\nname = 3\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = TenantFile::from_toml(&MINIMAL.replace("currency", "curency")).unwrap_err();
        assert!(err.to_string().contains("curency"), "{err}");
    }

    #[test]
    fn invalid_values_are_reported_per_field() {
        let text = MINIMAL.replace(
            "persona.custom",
            "conversation.idle_gap_mins = 2\npersona.custom",
        );
        let TenantFileError::Invalid(errors) = TenantFile::from_toml(&text).unwrap_err() else {
            panic!("expected field errors")
        };
        assert_eq!(errors[0].field, "conversation.idle_gap_mins");
    }

    #[test]
    fn the_system_prompt_is_the_envelope_around_persona_and_rule() {
        let t = TenantFile::from_toml(MINIMAL).unwrap().into_tenant();
        let prompt = t.system_prompt(Channel::WhatsApp, None).unwrap();
        assert_eq!(
            prompt,
            crate::prompt::wrap("You are the Corner Cafe's assistant.")
        );
        assert!(matches!(
            t.system_prompt(Channel::Discord, None),
            Err(SystemPromptError::NoChannel(_))
        ));
        assert!(matches!(
            t.system_prompt(Channel::WhatsApp, Some("nope")),
            Err(SystemPromptError::NoRule { .. })
        ));
    }

    #[test]
    fn a_file_round_trips_through_toml() {
        let f = TenantFile::from_toml(MINIMAL).unwrap();
        let again = TenantFile::from_toml(&f.to_toml().unwrap()).unwrap();
        assert_eq!(f, again);
    }

    #[test]
    fn the_knowledge_table_lists_documents_and_the_policy_for_unknowns() {
        use crate::knowledge::WhenUnknown;
        let f = TenantFile::from_toml(MINIMAL).unwrap();
        assert!(
            f.knowledge.is_empty(),
            "no [knowledge]: no documents, offer a person"
        );
        assert!(!f.to_toml().unwrap().contains("[knowledge]"));
        let text = format!(
            "{MINIMAL}\n[knowledge]\npaths = [\"kb/\", \"menu.csv\"]\nwhen_unknown = \"handoff\"\n"
        );
        let f = TenantFile::from_toml(&text).unwrap();
        assert_eq!(f.knowledge.paths, ["kb/", "menu.csv"]);
        assert_eq!(f.knowledge.when_unknown, WhenUnknown::Handoff);
        assert_eq!(TenantFile::from_toml(&f.to_toml().unwrap()).unwrap(), f);

        let bad = format!("{MINIMAL}\n[knowledge]\npaths = [\"\", \"/etc/kb\"]\n");
        let TenantFileError::Invalid(errors) = TenantFile::from_toml(&bad).unwrap_err() else {
            panic!("expected field errors")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["knowledge.paths[0]", "knowledge.paths[1]"]);
        let unknown = format!("{MINIMAL}\n[knowledge]\nwhen_unknown = \"guess\"\n");
        assert!(matches!(
            TenantFile::from_toml(&unknown),
            Err(TenantFileError::Syntax(_))
        ));
    }
}
