//! Answers to the Discord slash commands (`/status`, `/domains list`, `/rules list`).

use std::fmt::Write as _;

use super::discord::NOT_CONNECTED;
use super::{Engine, EngineError};
use crate::channels::discord::SlashCommand;
use crate::email::EmailAction;
use crate::ids::{Channel, ChannelAccount};
use crate::safety::SafetyStatus;

impl Engine {
    /// The text answering a slash command used in `guild_id`, for the tenant that installed the
    /// bot there. Unknown guilds and commands get a polite explanation, not an error.
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn discord_command(
        &self,
        guild_id: &str,
        command: &SlashCommand,
    ) -> Result<String, EngineError> {
        let account = ChannelAccount::DiscordGuild(guild_id.to_owned());
        let tenant = match self.store().find_tenant(&account).await? {
            Some(id) => self.store().get_tenant(&id).await?,
            None => None,
        };
        let Some(tenant) = tenant else {
            return Ok(NOT_CONNECTED.to_owned());
        };
        let mut out = String::new();
        match command {
            SlashCommand::Status => {
                let now = self.clock().now();
                let balance = self.store().balance(&tenant.id, now).await?;
                let drafts = self.store().list_drafts(&tenant.id, now).await?.len();
                let persona = match &tenant.persona.safety {
                    SafetyStatus::Approved { .. } if tenant.persona.cleared_for_ai() => "approved",
                    SafetyStatus::Rejected { .. } => "rejected (AI replies are off)",
                    _ => "waiting for review (AI replies are off)",
                };
                let _ = writeln!(out, "**{}**", tenant.name);
                let channels: Vec<&str> = Channel::ALL
                    .into_iter()
                    .filter(|c| tenant.channels.replies(*c).is_some())
                    .map(Channel::as_str)
                    .collect();
                let _ = writeln!(
                    out,
                    "Channels: {}",
                    if channels.is_empty() {
                        "none".to_owned()
                    } else {
                        channels.join(", ")
                    }
                );
                let _ = writeln!(out, "Persona: {persona}");
                let _ = writeln!(out, "Credit: {balance} {}", tenant.currency);
                let _ = write!(out, "Drafts waiting for approval: {drafts}");
            }
            SlashCommand::DomainsList => match &tenant.channels.email {
                Some(email) if !email.domains.is_empty() => {
                    out.push_str("Email domains:");
                    for d in &email.domains {
                        let rules = email.rules.get(d).map_or(0, Vec::len);
                        let _ = write!(
                            out,
                            "\n• {d} ({rules} rule{})",
                            if rules == 1 { "" } else { "s" }
                        );
                    }
                }
                _ => out.push_str("No email domains are connected."),
            },
            SlashCommand::RulesList { channel } => {
                let Some(email) = &tenant.channels.email else {
                    return Ok("No email domains are connected.".to_owned());
                };
                let mut listed = 0;
                for (domain, rules) in &email.rules {
                    for (i, rule) in rules.iter().enumerate() {
                        let target = match &rule.action {
                            EmailAction::ForwardDiscord { channel_id } => {
                                if channel.as_ref().is_some_and(|c| c != channel_id) {
                                    continue;
                                }
                                format!("post to <#{channel_id}>")
                            }
                            _ if channel.is_some() => continue,
                            EmailAction::Drop => "drop".to_owned(),
                            EmailAction::Spam => "spam".to_owned(),
                            EmailAction::ForwardEmail { to } => format!("forward to {to}"),
                            EmailAction::AiReply => "AI reply".to_owned(),
                        };
                        let _ = write!(
                            out,
                            "{}{domain} #{}: {} → {target}",
                            if listed == 0 { "" } else { "\n" },
                            i + 1,
                            rule.name
                        );
                        listed += 1;
                    }
                }
                if listed == 0 {
                    out.push_str(if channel.is_some() {
                        "No rule posts to that channel."
                    } else {
                        "No email rules yet: every email gets an AI reply."
                    });
                }
            }
            SlashCommand::Unknown { name } => {
                let _ = write!(out, "`/{name}` is not a Concierge command. Try /status, /domains list or /rules list.");
            }
        }
        Ok(out)
    }
}
