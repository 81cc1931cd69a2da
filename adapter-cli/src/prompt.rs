//! `concierge prompt`: exactly what the reply model would receive as its system prompt.
//!
//! The envelope is the core's: [`prompt::wrap`] around [`prompt::middle`] of the persona's
//! active prompt and the rule's prompt. This module only picks the channel and the rule by name.

use std::path::Path;

use concierge_core::prompt;
use concierge_core::rules::ReplyResponse;
use concierge_core::tenant::TenantFile;
use concierge_core::Channel;

use crate::error::CliError;
use crate::source::load_tenant;

/// Parses a channel name (`whatsapp`, `instagram`, `discord`, `email`, `web`).
///
/// # Errors
/// [`CliError::BadInput`] naming the accepted values.
pub fn parse_channel(name: &str) -> Result<Channel, CliError> {
    name.parse().map_err(|_| {
        CliError::bad_input(format!(
            "unknown channel `{name}`: expected one of whatsapp, instagram, discord, email, web"
        ))
    })
}

/// The channel to use: the one asked for (it must be connected), else the tenant's first.
///
/// # Errors
/// [`CliError::BadInput`] when the channel is not connected or the tenant has none.
pub fn pick_channel(file: &TenantFile, asked: Option<&str>) -> Result<Channel, CliError> {
    let connected: Vec<Channel> = Channel::ALL
        .into_iter()
        .filter(|c| file.channels.replies(*c).is_some())
        .collect();
    let names = || {
        connected
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match asked {
        Some(name) => {
            let channel = parse_channel(name)?;
            if connected.contains(&channel) {
                Ok(channel)
            } else {
                Err(CliError::bad_input(format!(
                    "tenant `{}` has no {channel} channel (it has: {})",
                    file.id,
                    names()
                )))
            }
        }
        None => connected.first().copied().ok_or_else(|| {
            CliError::bad_input(format!("tenant `{}` connects no channel", file.id))
        }),
    }
}

/// The system prompt for `rule` (a rule name, or `default`) on `channel`.
///
/// # Errors
/// [`CliError::BadInput`] when the rule does not exist or answers with canned text (the model
/// never sees canned rules).
pub fn system_prompt(
    file: &TenantFile,
    channel: Channel,
    rule: Option<&str>,
) -> Result<String, CliError> {
    let replies = file
        .channels
        .replies(channel)
        .ok_or_else(|| CliError::bad_input(format!("tenant has no {channel} channel")))?;
    let (name, response) = match rule {
        None | Some("default") => ("default", &replies.default_rule),
        Some(name) => {
            let found = replies
                .rules
                .iter()
                .find(|r| r.name == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = replies.rules.iter().map(|r| r.name.as_str()).collect();
                    CliError::bad_input(format!(
                        "no rule `{name}` on {channel} (rules: {}, default)",
                        names.join(", ")
                    ))
                })?;
            (name, &found.response)
        }
    };
    let rule_prompt = match response {
        ReplyResponse::Prompt { text } => text,
        ReplyResponse::Canned { .. } => {
            return Err(CliError::bad_input(format!(
                "rule `{name}` on {channel} answers with canned text: the model never sees it"
            )))
        }
    };
    let persona = file.clone().into_tenant().persona.active_prompt();
    Ok(prompt::wrap(&prompt::middle(&persona, rule_prompt)))
}

/// Runs `concierge prompt`.
///
/// # Errors
/// [`CliError::BadInput`] for an unreadable or invalid tenant file, channel or rule.
pub fn run(tenant: &Path, channel: Option<&str>, rule: Option<&str>) -> Result<String, CliError> {
    let source = load_tenant(tenant)?;
    let channel = pick_channel(&source.file, channel)?;
    system_prompt(&source.file, channel, rule)
}
