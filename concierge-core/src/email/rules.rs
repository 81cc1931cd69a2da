//! Routing rules: glob criteria and actions, compiled once per domain.

use serde::{Deserialize, Serialize};

use super::glob::Glob;
use crate::channels::email::ParsedEmail;

/// What to do with an inbound email.
///
/// Serialized with an `action` tag, so a rule in a tenant's TOML file reads
/// `action = "forward_email"` with `to = "owner@example.com"` beside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum EmailAction {
    /// Discard silently.
    Drop,
    /// Keep it out of every inbox (the engine files it as spam).
    Spam,
    /// Forward to an address, with `From` rewritten to a reverse alias.
    ForwardEmail {
        /// Where to forward.
        to: String,
    },
    /// Post it to a Discord channel of the tenant's guild.
    ForwardDiscord {
        /// The channel id.
        channel_id: String,
    },
    /// Hand it to the AI concierge, which answers on the thread.
    AiReply,
}

/// Glob patterns a message must all match; an unset criterion matches anything.
///
/// Patterns are case-insensitive and match the **whole** field: `*@bank.example` matches any
/// sender at that domain, `*invoice*` is a substring match, `invoice` only an exact subject.
/// Syntax: `*` any run of characters (line breaks included), `?` one character,
/// `[abc]`/`[a-z]`/`[!a-z]` classes, `{a,b}` alternatives, `\*` a literal `*`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchCriteria {
    /// The sender address (`From`, lower-case, without display name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Any recipient: the envelope recipient or any `To`/`Cc` address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The decoded subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The text body (HTML turned into text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Whether the message must (`true`) or must not (`false`) have attachments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_attachment: Option<bool>,
}

/// One routing rule: a name for logs and the dashboard, criteria, and an action.
///
/// In TOML:
///
/// ```toml
/// [[rules]]
/// name = "Invoices to the accountant"
/// match = { subject = "*invoice*", has_attachment = true }
/// action = "forward_email"
/// to = "books@example.com"
/// ```
///
/// `match` may also be spelled `criteria`, and may be left out for a catch-all rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailRule {
    /// A human name, used in logs and error messages.
    pub name: String,
    /// What the message must match.
    #[serde(rename = "match", alias = "criteria", default)]
    pub criteria: MatchCriteria,
    /// What to do with it.
    #[serde(flatten)]
    pub action: EmailAction,
}

/// A rule that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("email rule #{index} `{name}`: invalid {field} `{pattern}`: {reason}")]
pub struct EmailRuleError {
    /// The rule's position in the list, from 0.
    pub index: usize,
    /// The rule's name.
    pub name: String,
    /// Which field: `from`, `to`, `subject`, `body` or `forward_email.to`.
    pub field: &'static str,
    /// The offending pattern or address.
    pub pattern: String,
    /// What is wrong with it (the glob compiler's message for patterns).
    pub reason: String,
}

#[derive(Clone, Debug)]
struct CompiledRule {
    from: Option<Glob>,
    to: Option<Glob>,
    subject: Option<Glob>,
    body: Option<Glob>,
    has_attachment: Option<bool>,
    action: EmailAction,
}

/// A domain's rules with every glob compiled; build once when the rules change, then route
/// every message with [`CompiledRules::route`].
#[derive(Clone, Debug, Default)]
pub struct CompiledRules {
    rules: Vec<CompiledRule>,
}

impl CompiledRules {
    /// Compiles `rules`, keeping their order.
    ///
    /// # Errors
    /// [`EmailRuleError`] for the first invalid glob (e.g. an unclosed `[`) or a
    /// `forward_email` target that is not an address, naming the rule and field.
    pub fn compile(rules: &[EmailRule]) -> Result<CompiledRules, EmailRuleError> {
        let compiled = rules
            .iter()
            .enumerate()
            .map(|(index, rule)| {
                let glob = |field: &'static str, pattern: &Option<String>| {
                    pattern
                        .as_deref()
                        .map(|p| {
                            compile_glob(p).map_err(|reason| EmailRuleError {
                                index,
                                name: rule.name.clone(),
                                field,
                                pattern: p.to_owned(),
                                reason,
                            })
                        })
                        .transpose()
                };
                if let EmailAction::ForwardEmail { to } = &rule.action {
                    let ok = to
                        .trim()
                        .split_once('@')
                        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
                        && !to.trim().contains(char::is_whitespace);
                    if !ok {
                        return Err(EmailRuleError {
                            index,
                            name: rule.name.clone(),
                            field: "forward_email.to",
                            pattern: to.clone(),
                            reason: "not an email address".into(),
                        });
                    }
                }
                let c = &rule.criteria;
                Ok(CompiledRule {
                    from: glob("from", &c.from)?,
                    to: glob("to", &c.to)?,
                    subject: glob("subject", &c.subject)?,
                    body: glob("body", &c.body)?,
                    has_attachment: c.has_attachment,
                    action: rule.action.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CompiledRules { rules: compiled })
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule matching `email` as received by `recipient` (the envelope `RCPT TO`):
    /// its index and action. `None` when no rule matches — the caller applies its default.
    ///
    /// A rule's `to` matches the envelope recipient or any `To`/`Cc` address. Call this only for
    /// messages whose [`ParsedEmail::auto`] is `None`.
    pub fn route(&self, email: &ParsedEmail, recipient: &str) -> Option<(usize, &EmailAction)> {
        if self.rules.is_empty() {
            return None;
        }
        let from = email.from.to_lowercase();
        let subject = email.subject.to_lowercase();
        let body = email.text.to_lowercase();
        let recipients: Vec<String> = std::iter::once(recipient)
            .chain(email.to.iter().map(String::as_str))
            .chain(email.cc.iter().map(String::as_str))
            .map(|a| a.trim().to_lowercase())
            .collect();
        let matches = |m: &Option<Glob>, text: &str| m.as_ref().is_none_or(|m| m.is_match(text));
        self.rules
            .iter()
            .enumerate()
            .find(|(_, r)| {
                r.has_attachment
                    .is_none_or(|want| want == email.has_attachments)
                    && matches(&r.from, &from)
                    && matches(&r.subject, &subject)
                    && r.to
                        .as_ref()
                        .is_none_or(|m| recipients.iter().any(|a| m.is_match(a)))
                    && matches(&r.body, &body)
            })
            .map(|(i, r)| (i, &r.action))
    }
}

/// Compiles one case-insensitive whole-field glob. Both pattern and field are lower-cased
/// (Unicode) before matching, so `ÜBER*` matches `über`.
fn compile_glob(pattern: &str) -> Result<Glob, String> {
    Glob::new(&pattern.to_lowercase()).map_err(|e| e.0.to_owned())
}
