//! `concierge prompt`: exactly what the reply model would receive as its system prompt.
//!
//! The envelope is the core's (`Tenant::system_prompt`): the fixed bookends around the persona's
//! active prompt and the rule's prompt. This module only picks the channel and the rule by name.

use std::path::Path;

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

/// The system prompt for `rule` (a rule name, or `default`) on `channel`, as the core builds it.
///
/// # Errors
/// [`CliError::BadInput`] when the channel or rule does not exist or the rule answers with canned
/// text (the model never sees canned rules).
pub fn system_prompt(
    file: &TenantFile,
    channel: Channel,
    rule: Option<&str>,
) -> Result<String, CliError> {
    file.clone()
        .into_tenant()
        .system_prompt(channel, rule)
        .map_err(|e| CliError::bad_input(e.to_string()))
}

/// Runs `concierge prompt`. For a tenant with `[knowledge] paths` the envelope carries the
/// knowledge section: the passages `question` finds (keywords: the CLI has no embedding
/// model), or the note that none was found when there is no question.
///
/// # Errors
/// [`CliError::BadInput`] for an unreadable or invalid tenant file, channel or rule, or a
/// document that cannot be read.
pub fn run(
    tenant: &Path,
    channel: Option<&str>,
    rule: Option<&str>,
    question: Option<&str>,
) -> Result<String, CliError> {
    use concierge_core::knowledge::retrieval::{Index, SearchOptions};
    let source = load_tenant(tenant)?;
    let channel = pick_channel(&source.file, channel)?;
    // The envelope the configured model gets: compact for the offline model.
    let config = crate::ai::engine_config();
    let build = |section: Option<&concierge_core::prompt::KnowledgeSection<'_>>| {
        source
            .file
            .clone()
            .into_tenant()
            .system_prompt_for(channel, rule, section, config.compact_envelope())
            .map_err(|e| CliError::bad_input(e.to_string()))
    };
    if source.file.knowledge.paths.is_empty() {
        return build(None);
    }
    let knowledge = crate::kb::load(tenant, &source.file.knowledge)?;
    let index = Index::new(knowledge.chunks);
    // As many passages as the turn gives the model (fewer for a small one).
    let options = SearchOptions {
        k: if config.strict_grounding { 3 } else { 5 },
        ..SearchOptions::default()
    };
    let passages: Vec<_> = question
        .map(|q| index.search(q, None, &options))
        .unwrap_or_default()
        .into_iter()
        .map(|hit| hit.chunk.clone())
        .collect();
    let section = concierge_core::prompt::KnowledgeSection {
        passages: &passages,
        when_unknown: source.file.knowledge.when_unknown,
    };
    build(Some(&section))
}
