//! `concierge test`: runs conversation specs on the core's harness and reports each step.
//!
//! The harness's own `expect_*` methods panic, which suits `cargo test`; here every check is
//! made on the [`Step`] data the harness returns, so a failure is reported, not thrown.

use std::fmt::Write as _;
use std::path::Path;

use concierge_core::engine::{ApprovalOutcome, InboundOutcome, KnowledgeUse, Reply};
use concierge_core::testing::{ScriptedAi, ScriptedFailure, Step};
use concierge_core::Milli;

use crate::error::CliError;
use crate::sandbox::{ModelChoice, ReviewNote, Sandbox};
use crate::source::check_tenant;
use crate::spec::{self, Action, AiMode, DraftRef, Expect, Failure, ReplyKind};

/// The result of one step.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// 1-based step number.
    pub number: usize,
    /// What the step did.
    pub action: String,
    /// The first check that failed, as `check: expected ..., got ...`.
    pub failure: Option<String>,
}

/// The result of one spec.
#[derive(Debug, Clone)]
pub struct SpecResult {
    /// The spec file.
    pub file: String,
    /// Its name.
    pub name: Option<String>,
    /// Every step.
    pub steps: Vec<StepResult>,
}

impl SpecResult {
    /// Whether every step passed.
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|s| s.failure.is_none())
    }
}

fn kind_of(reply: &Reply) -> ReplyKind {
    match reply {
        Reply::Canned { .. } => ReplyKind::Canned,
        Reply::Ai { .. } => ReplyKind::Ai,
        Reply::Holding { .. } => ReplyKind::Holding,
        Reply::Drafted { .. } => ReplyKind::Drafted,
        Reply::None { .. } => ReplyKind::None,
    }
}

fn flag(
    expected: Option<bool>,
    actual: bool,
    name: &str,
    detail: impl Fn() -> String,
) -> Result<(), String> {
    match expected {
        Some(want) if want != actual => Err(format!(
            "{name}: expected {want}, got {actual} ({})",
            detail()
        )),
        _ => Ok(()),
    }
}

fn one_reply(replies: &[String], what: &str, ok: impl Fn(&str) -> bool) -> Result<(), String> {
    match replies {
        [one] if ok(one) => Ok(()),
        other => Err(format!("{what}, got {other:?}")),
    }
}

/// Checks a step's expectations; the first difference is the error.
fn check(
    expect: &Expect,
    step: &Step,
    sandbox: &Sandbox,
    scripted_failure: bool,
) -> Result<(), String> {
    let replies = step.replies();
    if !step.errors.is_empty() && !scripted_failure && expect.error != Some(true) {
        return Err(format!("engine error: {}", step.errors.join("; ")));
    }
    flag(expect.error, !step.errors.is_empty(), "error", || {
        format!("{:?}", step.errors)
    })?;
    if let Some(want) = &expect.reply {
        one_reply(&replies, &format!("reply: expected {want:?}"), |r| {
            r == want
        })?;
    }
    if let Some(needle) = &expect.reply_contains {
        one_reply(
            &replies,
            &format!("reply_contains: expected one reply containing {needle:?}"),
            |r| r.contains(needle.as_str()),
        )?;
    }
    if let Some(pattern) = &expect.reply_matches {
        one_reply(
            &replies,
            &format!(
                "reply_matches: expected one reply matching /{}/",
                pattern.0.as_str()
            ),
            |r| pattern.0.is_match(r),
        )?;
    }
    flag(expect.no_reply, replies.is_empty(), "no_reply", || {
        format!("replies {replies:?}")
    })?;
    let last_turn = step.turns.last();
    if let Some(want) = expect.kind {
        let got = last_turn.map_or(ReplyKind::None, |t| kind_of(&t.reply));
        if got != want {
            return Err(format!("kind: expected {want}, got {got}"));
        }
    }
    if let Some(want) = &expect.rule {
        let got = last_turn
            .and_then(|t| t.rule.as_ref())
            .map(|r| r.name().to_owned());
        if got.as_deref() != Some(want.as_str()) {
            return Err(format!(
                "rule: expected {want:?}, got {}",
                got.map_or_else(
                    || "no rule (no turn, or a handoff)".to_owned(),
                    |g| format!("{g:?}")
                )
            ));
        }
    }
    match expect.handoff {
        Some(true) if !step.turns.iter().any(|t| t.handoff && t.paged) => {
            let started = step.turns.iter().any(|t| t.handoff);
            return Err(format!(
                "handoff: expected a handoff with a page to the owner, got {}",
                if started {
                    "a handoff without a page (no notification target?)"
                } else {
                    "none"
                }
            ));
        }
        Some(false) if step.turns.iter().any(|t| t.handoff) => {
            return Err("handoff: expected none, got a handoff".into());
        }
        _ => {}
    }
    if let Some(want) = expect.charge {
        if step.charged() != want.0 {
            return Err(format!(
                "charge: expected {}, charged {}",
                want.0,
                step.charged()
            ));
        }
    }
    flag(expect.free, step.charged() == Milli::ZERO, "free", || {
        format!("charged {}", step.charged())
    })?;
    if let Some(want) = expect.balance {
        let got = sandbox.harness.balance();
        if got != want.0 {
            return Err(format!("balance: expected {}, got {got}", want.0));
        }
    }
    if let Some(needle) = &expect.prompt_contains {
        match sandbox.last_reply_prompt() {
            Some(p) if p.system.contains(needle.as_str()) => {}
            Some(p) => {
                let tail: String = p.system.chars().take(120).collect();
                return Err(format!(
                    "prompt_contains: the last system prompt lacks {needle:?} (it starts {tail:?})"
                ));
            }
            None => return Err("prompt_contains: the model received no reply request".into()),
        }
    }
    let inbound = step.inbound.as_ref();
    flag(
        expect.buffered,
        matches!(inbound, Some(InboundOutcome::Buffered { .. })),
        "buffered",
        || format!("{inbound:?}"),
    )?;
    flag(
        expect.injection_rejected,
        matches!(inbound, Some(InboundOutcome::InjectionRejected)) && step.sent.is_empty(),
        "injection_rejected",
        || format!("{inbound:?}"),
    )?;
    flag(
        expect.duplicate,
        matches!(inbound, Some(InboundOutcome::Duplicate)) && step.sent.is_empty(),
        "duplicate",
        || format!("{inbound:?}"),
    )?;
    let drafted = step
        .turns
        .iter()
        .any(|t| matches!(t.reply, Reply::Drafted { .. }));
    flag(expect.drafted, drafted, "drafted", || {
        format!(
            "replies {:?}",
            step.turns
                .iter()
                .map(|t| kind_of(&t.reply).to_string())
                .collect::<Vec<_>>()
        )
    })?;
    let sent = step
        .approvals
        .iter()
        .any(|a| matches!(a, ApprovalOutcome::Sent { .. }));
    flag(expect.approved_sent, sent, "approved_sent", || {
        format!("{:?}", step.approvals)
    })?;
    if let Some(want) = expect.new_conversation {
        let got = last_turn.is_some_and(|t| t.new_conversation);
        if got != want {
            return Err(format!("new_conversation: expected {want}, got {got}"));
        }
    }
    if let Some(want) = expect.history {
        let got = sandbox.harness.session().map_or(0, |s| s.history().len());
        if got != want {
            return Err(format!("history: expected {want} turns, got {got}"));
        }
    }
    if let Some(want) = expect.owner_messages {
        let got = step.owner_messages().len();
        if got != want {
            return Err(format!("owner_messages: expected {want}, got {got}"));
        }
    }
    check_knowledge(expect, last_turn.and_then(|t| t.knowledge.as_ref()))
}

/// The `cites` and `unknown` checks, on how the step's last reply used the knowledge base.
fn check_knowledge(expect: &Expect, used: Option<&KnowledgeUse>) -> Result<(), String> {
    if expect.cites.is_none() && expect.unknown.is_none() {
        return Ok(());
    }
    let Some(used) = used else {
        return Err(
            "cites/unknown: the step's last turn made no reply over the knowledge base \
             (no turn, a canned reply, or a tenant without `[knowledge]` documents)"
                .into(),
        );
    };
    let cited = || {
        if used.citations.is_empty() {
            "none".to_owned()
        } else {
            used.citations
                .iter()
                .map(|c| format!("{} > {}", c.source, c.heading))
                .collect::<Vec<_>>()
                .join("; ")
        }
    };
    if let Some(want) = &expect.cites {
        if !used
            .citations
            .iter()
            .any(|c| want.matches(&c.source, &c.heading))
        {
            return Err(format!(
                "cites: expected {want}, the reply cites {}",
                cited()
            ));
        }
    }
    if let Some(want) = expect.unknown {
        let got = !used.grounded && used.citations.is_empty();
        if got != want {
            return Err(format!(
                "unknown: expected {want}, got {got} ({} passages found, cites {})",
                used.passages,
                cited()
            ));
        }
    }
    Ok(())
}

/// Runs one spec file. Setup problems (unreadable spec or tenant, no AI for `ai: real`) are
/// errors; step failures are in the result.
///
/// # Errors
/// [`CliError::BadInput`] when the spec cannot run at all.
pub fn run_spec(path: &Path) -> Result<SpecResult, CliError> {
    let loaded = spec::load(path).map_err(|p| CliError::bad_input(p.to_string()))?;
    let tenant_text = crate::error::read_text(&loaded.tenant_path)?;
    let display = loaded.tenant_path.display().to_string();
    let file = check_tenant(&display, &tenant_text).map_err(|problems| {
        CliError::bad_input(
            problems
                .first()
                .map_or_else(|| display.clone(), ToString::to_string),
        )
    })?;
    let scripted = ScriptedAi::new();
    for marker in &loaded.spec.injection_markers {
        scripted.flag_injection(marker.clone());
    }
    let model = match loaded.spec.ai {
        AiMode::Scripted => ModelChoice::Scripted(scripted.clone()),
        AiMode::Real => match crate::ai::provider_from_env()? {
            Some(provider) => ModelChoice::Provider(provider),
            None => {
                return Err(CliError::bad_input(format!(
                    "{}: `ai: real` needs {} (an OpenAI-compatible API base URL) or {} (an offline model file)",
                    path.display(),
                    crate::ai::ENV_URL,
                    crate::ai::ENV_LOCAL_MODEL
                )))
            }
        },
    };
    let config = crate::ai::engine_config();
    let mut sandbox = Sandbox::new(&tenant_text, &file, model, config)?;
    for skipped in sandbox.learn_from_files(&loaded.tenant_path, &file.knowledge)? {
        eprintln!(
            "note: {}: skipped {}: not a document kind",
            path.display(),
            skipped.display()
        );
    }
    if let ReviewNote::Rejected(reason) | ReviewNote::NotRun(reason) = &sandbox.review {
        eprintln!(
            "note: {}: persona not approved ({reason}); AI rules will not answer",
            path.display()
        );
    }

    let mut last_draft: Option<String> = None;
    let mut said = false;
    let mut results = Vec::new();
    for (i, step) in loaded.spec.steps.iter().enumerate() {
        if let Some(channel) = step.channel {
            sandbox.harness.on(channel);
        }
        if let Some(customer) = &step.customer {
            sandbox.harness.as_customer(customer);
        }
        for reply in &step.ai_replies {
            scripted.reply(reply.clone());
        }
        if let Some(f) = step.ai_fails {
            scripted.fail_next_reply(match f {
                Failure::Timeout => ScriptedFailure::Timeout,
                Failure::Provider => ScriptedFailure::Provider,
            });
        }
        let h = &mut sandbox.harness;
        let outcome: Result<Step, String> = match &step.action {
            Action::Say(text) => {
                let connected = h.tenant().channels.replies(h.key().channel).is_some();
                if connected {
                    said = true;
                    Ok(h.says(text))
                } else {
                    Err(format!("the tenant has no {} channel", h.key().channel))
                }
            }
            Action::Advance(span) => Ok(h.advance(span)),
            Action::Redeliver => {
                if said {
                    Ok(h.redeliver())
                } else {
                    Err("nothing to redeliver yet".to_owned())
                }
            }
            Action::Approve(d) | Action::Reject(d) => {
                let id = match d {
                    DraftRef::Last => last_draft.clone(),
                    DraftRef::Id(id) => Some(id.clone()),
                };
                match id {
                    Some(id) if matches!(step.action, Action::Approve(_)) => Ok(h.approve(&id)),
                    Some(id) => Ok(h.reject(&id)),
                    None => Err("no draft so far to decide on".to_owned()),
                }
            }
        };
        let failure = match outcome {
            Ok(done) => {
                for t in &done.turns {
                    if let Reply::Drafted { draft_id, .. } = &t.reply {
                        last_draft = Some(draft_id.clone());
                    }
                }
                check(&step.expect, &done, &sandbox, step.ai_fails.is_some()).err()
            }
            Err(e) => Some(e),
        };
        results.push(StepResult {
            number: i + 1,
            action: step.action.to_string(),
            failure,
        });
    }
    Ok(SpecResult {
        file: path.display().to_string(),
        name: loaded.spec.name,
        steps: results,
    })
}

/// Renders a spec's table of steps.
pub fn render(result: &SpecResult) -> String {
    let mut out = String::new();
    let status = if result.passed() { "PASS" } else { "FAIL" };
    let _ = write!(out, "{status} {}", result.file);
    if let Some(name) = &result.name {
        let _ = write!(out, " — {name}");
    }
    out.push('\n');
    let width = result
        .steps
        .iter()
        .map(|s| s.action.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(out, "  {:>3}  {:<width$}  result", "#", "step");
    for s in &result.steps {
        let verdict = match &s.failure {
            None => "ok".to_owned(),
            Some(f) => format!("FAILED  {f}"),
        };
        let _ = writeln!(out, "  {:>3}  {:<width$}  {verdict}", s.number, s.action);
    }
    if let Some(first) = result.steps.iter().find(|s| s.failure.is_some()) {
        let _ = writeln!(
            out,
            "  first difference at step {} ({}): {}",
            first.number,
            first.action,
            first.failure.as_deref().unwrap_or_default()
        );
    }
    out
}

/// Runs `concierge test`: every spec, a table each, then a summary line. Returns whether all
/// steps passed.
///
/// # Errors
/// [`CliError::BadInput`] for the first spec that cannot run at all (after the others ran).
pub fn run(paths: &[std::path::PathBuf], out: &mut impl std::io::Write) -> Result<bool, CliError> {
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut setup_error = None;
    for path in paths {
        match run_spec(path) {
            Ok(result) => {
                let _ = write!(out, "{}", render(&result));
                for s in &result.steps {
                    if s.failure.is_some() {
                        failed += 1;
                    } else {
                        passed += 1;
                    }
                }
            }
            Err(e) => {
                let _ = writeln!(out, "ERROR {}: {e}", path.display());
                setup_error.get_or_insert(e);
            }
        }
    }
    let _ = writeln!(out, "steps: {passed} passed, {failed} failed");
    match setup_error {
        Some(e) => Err(e),
        None => Ok(failed == 0),
    }
}
