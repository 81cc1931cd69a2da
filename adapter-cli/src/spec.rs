//! The conversation spec format (YAML) of `concierge test`; documented in `docs/testing.md`.
//!
//! ```yaml
//! name: a burst of messages gets one reply
//! tenant: ../tenants/sunrise-bakery.toml   # relative to this file
//! steps:
//!   - say: hi
//!     expect: { buffered: true, no_reply: true }
//!   - say: do you have cakes?
//!     ai_reply: Yes! Chocolate and lemon today.
//!   - advance: 3s
//!     expect: { reply: Yes! Chocolate and lemon today., charge: "1" }
//! ```
//!
//! With `[knowledge] paths` in the tenant file, its documents are read before the first step,
//! and `cites: faq.md` / `unknown: true` check what a reply rests on.
//!
//! Values are checked while parsing (spans, amounts, regexes, channels), so a mistake is
//! reported at its line and column by the YAML parser.

use std::fmt;
use std::path::{Path, PathBuf};

use concierge_core::time::Span;
use concierge_core::{Channel, Milli};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use crate::error::read_text;
use crate::source::{one_line, Problem};

/// A conversation spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// What the spec checks, for the report.
    #[serde(default)]
    pub name: Option<String>,
    /// The tenant file, relative to the spec file.
    pub tenant: PathBuf,
    /// Which model answers: `scripted` (default) or `real` (`CONCIERGE_AI_URL`).
    #[serde(default)]
    pub ai: AiMode,
    /// Messages containing any of these (case-insensitive) are flagged by the scripted
    /// injection classifier.
    #[serde(default)]
    pub injection_markers: Vec<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// Which model a spec runs with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AiMode {
    /// The core's scripted fake: `ai_reply` per step, else `AI reply to: <message>`.
    #[default]
    Scripted,
    /// The provider configured by `CONCIERGE_AI_URL`.
    Real,
}

/// A scripted model failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The provider times out.
    Timeout,
    /// The provider answers an error.
    Provider,
}

/// Which draft an approval step decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DraftRef {
    /// The most recent draft of the run.
    Last,
    /// A draft id.
    Id(String),
}

impl<'de> Deserialize<'de> for DraftRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(if raw == "last" {
            DraftRef::Last
        } else {
            DraftRef::Id(raw)
        })
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The customer sends a message.
    Say(String),
    /// Time moves forward (`5s`, `61m`, `7h`), running every job that falls due.
    Advance(String),
    /// The platform delivers the last message again.
    Redeliver,
    /// The owner approves a draft.
    Approve(DraftRef),
    /// The owner rejects a draft.
    Reject(DraftRef),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Say(text) => {
                let short: String = text.chars().take(40).collect();
                let cut = if short.len() < text.len() { "…" } else { "" };
                write!(f, "say {:?}", format!("{short}{cut}"))
            }
            Action::Advance(span) => write!(f, "advance {span}"),
            Action::Redeliver => f.write_str("redeliver"),
            Action::Approve(DraftRef::Last) => f.write_str("approve last draft"),
            Action::Approve(DraftRef::Id(id)) => write!(f, "approve {id}"),
            Action::Reject(DraftRef::Last) => f.write_str("reject last draft"),
            Action::Reject(DraftRef::Id(id)) => write!(f, "reject {id}"),
        }
    }
}

/// One step: an action, the model's scripted answers for it, and what to expect.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawStep")]
pub struct Step {
    /// The action.
    pub action: Action,
    /// The channel the customer writes on from this step on.
    pub channel: Option<Channel>,
    /// The customer id that speaks from this step on.
    pub customer: Option<String>,
    /// Model replies queued before the step (scripted model only).
    pub ai_replies: Vec<String>,
    /// A model failure queued before the step (scripted model only).
    pub ai_fails: Option<Failure>,
    /// What must hold after the step.
    pub expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    say: Option<String>,
    advance: Option<SpanText>,
    #[serde(default)]
    redeliver: bool,
    approve: Option<DraftRef>,
    reject: Option<DraftRef>,
    channel: Option<Channel>,
    #[serde(rename = "as")]
    customer: Option<String>,
    ai_reply: Option<String>,
    #[serde(default)]
    ai_replies: Vec<String>,
    ai_fails: Option<Failure>,
    #[serde(default)]
    expect: Expect,
}

impl TryFrom<RawStep> for Step {
    type Error = String;

    fn try_from(raw: RawStep) -> Result<Self, String> {
        let mut actions = Vec::new();
        if let Some(text) = raw.say {
            actions.push(Action::Say(text));
        }
        if let Some(span) = raw.advance {
            actions.push(Action::Advance(span.0));
        }
        if raw.redeliver {
            actions.push(Action::Redeliver);
        }
        if let Some(d) = raw.approve {
            actions.push(Action::Approve(d));
        }
        if let Some(d) = raw.reject {
            actions.push(Action::Reject(d));
        }
        let action = match actions.len() {
            1 => actions.remove(0),
            0 => {
                return Err(
                    "a step needs one of `say`, `advance`, `redeliver`, `approve`, `reject`".into(),
                )
            }
            _ => {
                return Err(format!(
                    "a step does one thing, this one has {}: {}",
                    actions.len(),
                    actions
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        };
        let mut ai_replies: Vec<String> = raw.ai_reply.into_iter().collect();
        ai_replies.extend(raw.ai_replies);
        Ok(Step {
            action,
            channel: raw.channel,
            customer: raw.customer,
            ai_replies,
            ai_fails: raw.ai_fails,
            expect: raw.expect,
        })
    }
}

/// What must hold after a step. Every field is optional; absent fields are not checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Exactly one reply, equal to this.
    pub reply: Option<String>,
    /// Exactly one reply, containing this.
    pub reply_contains: Option<String>,
    /// Exactly one reply, matching this regular expression.
    pub reply_matches: Option<Pattern>,
    /// `true`: nothing was sent to the customer.
    pub no_reply: Option<bool>,
    /// `canned`, `ai`, `holding`, `drafted` or `none`: the kind of the step's last reply.
    pub kind: Option<ReplyKind>,
    /// The rule that matched in the step's last turn (`default` for the default rule).
    pub rule: Option<String>,
    /// `true`: the model asked for a human and the owner was paged; `false`: no handoff.
    pub handoff: Option<bool>,
    /// The step charged exactly this amount (a decimal of the tenant's currency).
    pub charge: Option<Amount>,
    /// `true`: the step charged nothing.
    pub free: Option<bool>,
    /// The tenant's balance after the step.
    pub balance: Option<Amount>,
    /// The last system prompt the reply model received contains this.
    pub prompt_contains: Option<String>,
    /// `true`: the message waits in the reply buffer.
    pub buffered: Option<bool>,
    /// `true`: the injection scan rejected the message.
    pub injection_rejected: Option<bool>,
    /// `true`: the message was a redelivery and changed nothing.
    pub duplicate: Option<bool>,
    /// `true`: an AI reply was drafted for approval.
    pub drafted: Option<bool>,
    /// `true`: an approval decision sent the draft to the customer.
    pub approved_sent: Option<bool>,
    /// `true`: the engine reported an error in this step (e.g. after `ai_fails`).
    pub error: Option<bool>,
    /// The number of messages sent to the owner (handoff pages, approval requests, digests).
    pub owner_messages: Option<usize>,
    /// `true`: the step's last turn started a new conversation (first contact or idle gap).
    pub new_conversation: Option<bool>,
    /// The number of turns in the customer's session history after the step.
    pub history: Option<usize>,
    /// The step's last reply cites this passage of the tenant's `[knowledge]` documents:
    /// `faq.md`, or `{ source: faq.md, heading: Eggless cakes }` (the heading path, or its
    /// last parts).
    pub cites: Option<CitationRef>,
    /// `true`: the step's last reply rests on no passage (the knowledge base had nothing for
    /// the question: "I don't know"); `false`: it rests on the passages.
    pub unknown: Option<bool>,
}

/// A passage a reply must cite: its document, and optionally where in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitationRef {
    /// The document's source (`faq.md`, `menus/dinner.csv`).
    pub source: String,
    /// The heading path, or its last parts (`Cakes > Eggless cakes`, `Eggless cakes`).
    pub heading: Option<String>,
}

impl CitationRef {
    /// Whether a citation of `source` under `heading` is this one: the same document, and
    /// the heading path equal to the expected one or ending with `> ` and it.
    pub fn matches(&self, source: &str, heading: &str) -> bool {
        source == self.source
            && self
                .heading
                .as_deref()
                .map(str::trim)
                .is_none_or(|want| heading == want || heading.ends_with(&format!(" > {want}")))
    }
}

impl fmt::Display for CitationRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.heading {
            Some(heading) => write!(f, "{} > {heading}", self.source),
            None => f.write_str(&self.source),
        }
    }
}

impl<'de> Deserialize<'de> for CitationRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            source: String,
            #[serde(default)]
            heading: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Source(String),
            Full(Full),
        }
        let (source, heading) = match Raw::deserialize(d).map_err(|_| {
            D::Error::custom("`cites` is a document (`faq.md`) or `{ source, heading }`")
        })? {
            Raw::Source(source) => (source, None),
            Raw::Full(Full { source, heading }) => (source, heading),
        };
        if source.trim().is_empty() {
            return Err(D::Error::custom("`cites` needs a document's source"));
        }
        Ok(CitationRef {
            source,
            heading: heading.filter(|h| !h.trim().is_empty()),
        })
    }
}

/// The kind of reply a turn produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyKind {
    /// A canned rule's text.
    Canned,
    /// A model reply.
    Ai,
    /// The holding pattern during a handoff cooldown.
    Holding,
    /// A draft waiting for approval.
    Drafted,
    /// Nothing.
    None,
}

impl fmt::Display for ReplyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReplyKind::Canned => "canned",
            ReplyKind::Ai => "ai",
            ReplyKind::Holding => "holding",
            ReplyKind::Drafted => "drafted",
            ReplyKind::None => "none",
        })
    }
}

/// A time span as written (`3s`, `7h`), checked with the core's parser.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SpanText(String);

impl<'de> Deserialize<'de> for SpanText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Span::parse(&raw).map_err(|e| D::Error::custom(format!("`{raw}`: {e}")))?;
        Ok(SpanText(raw))
    }
}

/// A money amount (`"1"`, `"0.02"`, or a number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(pub Milli);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(i64),
            Float(f64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
        };
        Milli::parse(&text)
            .map(Amount)
            .map_err(|e| D::Error::custom(format!("`{text}` is not an amount: {e}")))
    }
}

/// A regular expression, compiled while parsing.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        regex::Regex::new(&raw)
            .map(Pattern)
            .map_err(|e| D::Error::custom(one_line(&format!("bad regex `{raw}`: {e}"))))
    }
}

/// Parses a spec's text; the problem carries the YAML parser's location.
///
/// # Errors
/// The problem when the text is not a valid spec.
pub fn parse(display: &str, text: &str) -> Result<Spec, Problem> {
    serde_yaml_ng::from_str::<Spec>(text).map_err(|e| {
        let location = e.location();
        let mut message = e.to_string();
        // The location is reported separately; drop the parser's " at line X column Y".
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        let (field, message) = match message.split_once(": ") {
            Some((path, rest)) if !path.contains(' ') => (Some(path.to_owned()), rest.to_owned()),
            _ => (None, message),
        };
        Problem {
            file: display.to_owned(),
            line: location.as_ref().map(serde_yaml_ng::Location::line),
            column: location.as_ref().map(serde_yaml_ng::Location::column),
            field,
            message,
        }
    })
}

/// A spec read from disk, with its tenant path resolved.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    /// The spec file, as given.
    pub path: PathBuf,
    /// The spec.
    pub spec: Spec,
    /// The tenant file, resolved against the spec's directory.
    pub tenant_path: PathBuf,
}

/// Reads and parses a spec file.
///
/// # Errors
/// The problem (unreadable file, YAML error, invalid value), located.
pub fn load(path: &Path) -> Result<LoadedSpec, Problem> {
    let display = path.display().to_string();
    let text = read_text(path).map_err(|e| Problem {
        file: display.clone(),
        line: None,
        column: None,
        field: None,
        message: e
            .to_string()
            .trim_start_matches(&format!("{display}: "))
            .to_owned(),
    })?;
    let spec = parse(&display, &text)?;
    if spec.steps.is_empty() {
        return Err(Problem {
            file: display,
            line: None,
            column: None,
            field: Some("steps".into()),
            message: "a spec needs at least one step".into(),
        });
    }
    let tenant_path = path
        .parent()
        .map_or_else(|| spec.tenant.clone(), |dir| dir.join(&spec.tenant));
    Ok(LoadedSpec {
        path: path.to_owned(),
        spec,
        tenant_path,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn cites_takes_a_document_or_a_document_and_heading() {
        let spec = parse(
            "s.yaml",
            "tenant: t.toml\nsteps:\n  - say: a\n    expect: { cites: faq.md, unknown: false }\n  - say: b\n    expect: { cites: { source: faq.md, heading: Eggless cakes } }\n",
        )
        .unwrap();
        let first = spec.steps[0].expect.cites.clone().unwrap();
        assert_eq!(first.heading, None);
        assert!(first.matches("faq.md", "Anything > at all"));
        assert!(!first.matches("menu.csv", ""));
        assert_eq!(spec.steps[0].expect.unknown, Some(false));
        let second = spec.steps[1].expect.cites.clone().unwrap();
        assert!(second.matches("faq.md", "Bakery > Cakes > Eggless cakes"));
        assert!(second.matches("faq.md", "Eggless cakes"));
        assert!(!second.matches("faq.md", "Bakery > Not eggless cakes"));
        assert_eq!(second.to_string(), "faq.md > Eggless cakes");

        for bad in ["[1]", "{ heading: x }", "\"\"", "{ source: a, page: 2 }"] {
            let problem = parse(
                "s.yaml",
                &format!("tenant: t.toml\nsteps:\n  - say: a\n    expect: {{ cites: {bad} }}\n"),
            )
            .unwrap_err();
            assert_eq!(problem.line, Some(4), "{bad}: {problem}");
            assert!(problem.message.contains("`cites`"), "{bad}: {problem}");
        }
    }

    #[test]
    fn a_spec_parses_with_every_action() {
        let spec = parse(
            "s.yaml",
            "tenant: t.toml\nsteps:\n  - say: hi\n    channel: instagram\n    as: cust-1\n    ai_reply: hello\n    expect: { reply: hello, charge: 1, kind: ai }\n  - advance: 7h\n  - redeliver: true\n  - approve: last\n  - reject: d_1\n",
        )
        .unwrap();
        assert_eq!(spec.steps.len(), 5);
        assert_eq!(spec.steps[0].channel, Some(Channel::Instagram));
        assert_eq!(
            spec.steps[0].expect.charge,
            Some(Amount(Milli::from_milli(1_000)))
        );
        assert_eq!(spec.steps[3].action, Action::Approve(DraftRef::Last));
    }

    #[test]
    fn mistakes_are_located() {
        let p = parse("s.yaml", "tenant: t.toml\nsteps:\n  - advance: soon\n").unwrap_err();
        assert_eq!(p.line, Some(3), "{p}");
        assert!(p.message.contains("soon"), "{p}");
        let p = parse(
            "s.yaml",
            "tenant: t.toml\nsteps:\n  - say: hi\n    expect: { reply_matches: '(' }\n",
        )
        .unwrap_err();
        assert_eq!(p.line, Some(4), "{p}");
        let p = parse(
            "s.yaml",
            "tenant: t.toml\nsteps:\n  - say: hi\n    advance: 1s\n",
        )
        .unwrap_err();
        assert!(p.message.contains("one thing"), "{p}");
        let p = parse(
            "s.yaml",
            "tenant: t.toml\nsteps:\n  - say: hi\n    expect: { replly: x }\n",
        )
        .unwrap_err();
        assert!(p.message.contains("replly"), "{p}");
        assert_eq!(p.line, Some(4), "{p}");
    }
}
