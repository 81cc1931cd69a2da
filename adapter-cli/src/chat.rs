//! `concierge chat`: talk to a tenant as a customer, on a virtual clock.
//!
//! Lines are customer messages; lines starting with `/` are commands (`/help`). Each reply shows
//! the rule that matched, canned or AI, the charge, the credits left and the handoff state, all
//! read from the engine's turn report and the session it saved.

use std::io::{BufRead, Write};
use std::sync::Arc;

use concierge_core::conversation::{HandoffPhase, Role};
use concierge_core::engine::{InboundOutcome, NoReplyReason, Reply, TurnReport};
use concierge_core::testing::{ScriptedAi, Step};
use concierge_core::time::{Span, Timestamp};
use concierge_core::{Channel, EngineConfig};

use crate::error::CliError;
use crate::sandbox::{ModelChoice, ReviewNote, Sandbox};
use crate::source::TenantSource;

/// Options of a chat session.
#[derive(Debug, Clone)]
pub struct ChatOptions {
    /// The channel the customer writes on.
    pub channel: Channel,
    /// Keep buffered messages waiting until `/advance` (to try bursts); by default the clock
    /// moves to the buffer's deadline at once.
    pub hold: bool,
    /// Approve the persona as the operator instead of trusting the model's review
    /// (`--approve-persona`: a small offline model is no reliable safety reviewer).
    pub approve_persona: bool,
}

const HELP: &str = "\
commands:
  /advance SPAN   move the virtual clock (5s, 61m, 7h), running what falls due
  /session        show the conversation session (id, history, summary, handoff)
  /reset          start over: fresh store, credits and clock
  /as ID          speak as another customer id
  /help           this list
  /quit           leave (end of input works too)
anything else is a customer message";

/// Which model the chat uses, as chosen from the environment.
#[derive(Debug, Clone)]
pub enum ChatModel {
    /// An OpenAI-compatible provider.
    Provider(Arc<dyn concierge_core::ports::AiProvider>),
    /// None: canned rules only.
    None,
    /// The scripted fake (for tests of the REPL itself).
    Scripted(ScriptedAi),
}

fn model_choice(model: &ChatModel) -> ModelChoice {
    match model {
        ChatModel::Provider(p) => ModelChoice::Provider(p.clone()),
        ChatModel::None => ModelChoice::None,
        ChatModel::Scripted(ai) => ModelChoice::Scripted(ai.clone()),
    }
}

/// Formats a span like `1h 2m 3s`.
pub fn format_span(span: Span) -> String {
    let total = span.as_millis() / 1000;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s}s"));
    }
    parts.join(" ")
}

fn reason_text(reason: &NoReplyReason, no_model: bool) -> String {
    match reason {
        NoReplyReason::HandoffSilence => "handed off: silent until the idle gap".into(),
        NoReplyReason::PersonaNotApproved if no_model => {
            "an AI rule matched, but no AI provider is configured (set CONCIERGE_AI_URL)".into()
        }
        NoReplyReason::PersonaNotApproved => {
            "the persona is not approved: AI replies blocked".into()
        }
        NoReplyReason::InsufficientCredit { balance } => {
            format!("not enough credit ({balance} left)")
        }
        NoReplyReason::NoAiProvider => "no AI provider is configured (set CONCIERGE_AI_URL)".into(),
        NoReplyReason::Unpriced => "the tenant's currency has no price".into(),
        NoReplyReason::OutsideWindow { .. } => "the 24-hour window is closed".into(),
        NoReplyReason::SendFailed { error } => format!("send failed: {error}"),
    }
}

/// A chat session over one tenant.
#[derive(Debug)]
pub struct Chat {
    source: TenantSource,
    model: ChatModel,
    options: ChatOptions,
    sandbox: Sandbox,
    start: Timestamp,
    customer: String,
}

impl Chat {
    /// Starts a session.
    ///
    /// # Errors
    /// [`CliError::BadInput`] if the core refuses the tenant.
    pub fn new(
        source: TenantSource,
        model: ChatModel,
        options: ChatOptions,
    ) -> Result<Self, CliError> {
        let sandbox = Self::sandbox(&source, &model, &options)?;
        let start = sandbox.harness.now();
        Ok(Chat {
            source,
            model,
            options,
            sandbox,
            start,
            customer: "15550001111".into(),
        })
    }

    fn sandbox(
        source: &TenantSource,
        model: &ChatModel,
        options: &ChatOptions,
    ) -> Result<Sandbox, CliError> {
        let config: EngineConfig = crate::ai::engine_config();
        let mut sandbox = Sandbox::new(&source.text, &source.file, model_choice(model), config)?;
        sandbox.harness.on(options.channel);
        if options.approve_persona && !matches!(model, ChatModel::None) {
            sandbox.approve_persona()?;
        }
        for skipped in sandbox.learn_from_files(&source.path, &source.file.knowledge)? {
            eprintln!("skipped {}: not a document kind", skipped.display());
        }
        Ok(sandbox)
    }

    /// The banner: tenant, channel, model and persona review state.
    pub fn banner(&self) -> String {
        let mut out = format!(
            "chatting with {} ({}) on {} as customer {}; /help for commands\n",
            self.source.file.name, self.source.file.id, self.options.channel, self.customer
        );
        match (&self.model, &self.sandbox.review) {
            (ChatModel::None, _) => out.push_str(
                "notice: no AI provider (CONCIERGE_AI_URL is not set): canned rules only; AI rules \
                 will not answer, and the persona review cannot run\n",
            ),
            (_, ReviewNote::Approved) => out.push_str("persona: approved\n"),
            (_, ReviewNote::ApprovedByOperator) => {
                out.push_str("persona: approved by you (--approve-persona), without a model review\n");
            }
            (_, ReviewNote::Rejected(reason)) => {
                out.push_str(&format!("notice: persona rejected by the review ({reason}): AI replies are blocked\n"));
            }
            (_, ReviewNote::NotRun(why)) => {
                out.push_str(&format!("notice: persona review did not run ({why}): AI replies are blocked\n"));
            }
        }
        out.push_str(&format!(
            "credits: {} {}\n",
            self.sandbox.harness.balance(),
            self.source.file.currency
        ));
        out
    }

    fn handoff_state(&self) -> String {
        let h = &self.sandbox.harness;
        match h.session() {
            Some(s) => match s.handoff_phase(h.now(), &self.source.file.conversation) {
                HandoffPhase::None => "none".into(),
                HandoffPhase::Holding => "handed off (holding pattern during the cooldown)".into(),
                HandoffPhase::Silent => "handed off (silent until the idle gap)".into(),
            },
            None => "none".into(),
        }
    }

    fn render_turn(&self, turn: &TurnReport, out: &mut String) {
        let no_model = matches!(self.model, ChatModel::None);
        let (line, kind) = match &turn.reply {
            Reply::Canned { text } => (format!("bot: {text}"), "canned".to_owned()),
            Reply::Ai { text } => (format!("bot: {text}"), "AI".to_owned()),
            Reply::Holding { text } => (format!("bot: {text}"), "AI, holding pattern".to_owned()),
            Reply::Drafted { draft_id, text } => (
                format!("draft (waiting for the owner's approval): {text}"),
                format!("AI draft {draft_id}"),
            ),
            Reply::None { reason } => (
                format!("(no reply: {})", reason_text(reason, no_model)),
                "no reply".to_owned(),
            ),
        };
        out.push_str(&line);
        out.push('\n');
        let rule = turn.rule.as_ref().map_or("none (handoff)", |r| r.name());
        let charge = turn
            .charged
            .map_or_else(|| "free".to_owned(), |c| format!("charged {c}"));
        let mut meta = format!(
            "     [rule {rule} · {kind} · {charge} · credits {} {} · handoff: {}",
            self.sandbox.harness.balance(),
            self.source.file.currency,
            self.handoff_state()
        );
        if turn.handoff {
            meta.push_str(if turn.paged {
                " (owner paged)"
            } else {
                " (no owner target to page)"
            });
        }
        if turn.new_conversation {
            meta.push_str(" · new conversation");
        }
        meta.push(']');
        out.push_str(&meta);
        out.push('\n');
    }

    fn render_step(&self, step: &Step) -> String {
        let mut out = String::new();
        match &step.inbound {
            Some(InboundOutcome::InjectionRejected) => {
                out.push_str("(rejected by the injection scan: no rule, no reply)\n");
            }
            Some(InboundOutcome::Ignored { reason }) => {
                out.push_str(&format!("(ignored: {reason:?})\n"))
            }
            Some(InboundOutcome::Buffered { until, .. }) if step.turns.is_empty() => {
                let wait = until.since(self.sandbox.harness.now());
                out.push_str(&format!(
                    "(buffered: the reply waits {} for more messages; /advance {}s to fire it)\n",
                    format_span(wait),
                    (wait.as_millis() + 999) / 1000
                ));
            }
            _ => {}
        }
        for turn in &step.turns {
            self.render_turn(turn, &mut out);
        }
        for e in &step.errors {
            out.push_str(&format!("(engine error: {e})\n"));
        }
        out
    }

    /// The customer sends `text`.
    pub fn say(&mut self, text: &str) -> String {
        let step = if self.options.hold {
            self.sandbox.harness.says(text)
        } else {
            self.sandbox.says_and_flush(text)
        };
        self.render_step(&step)
    }

    /// Handles one input line; `None` means quit.
    pub fn line(&mut self, line: &str) -> Option<String> {
        let line = line.trim();
        if line.is_empty() {
            return Some(String::new());
        }
        let Some(command) = line.strip_prefix('/') else {
            return Some(self.say(line));
        };
        let (name, arg) = command
            .split_once(char::is_whitespace)
            .unwrap_or((command, ""));
        let arg = arg.trim();
        Some(match name {
            "quit" | "exit" | "q" => return None,
            "help" => format!("{HELP}\n"),
            "advance" => match Span::parse(arg) {
                Ok(span) if span.as_millis() >= 0 => {
                    let step = self.sandbox.harness.advance(arg);
                    let mut out = format!(
                        "(clock +{} → {} since start)\n",
                        format_span(span),
                        format_span(self.sandbox.harness.now().since(self.start))
                    );
                    out.push_str(&self.render_step(&step));
                    out
                }
                _ => format!("usage: /advance SPAN (e.g. 5s, 61m, 7h); `{arg}` is not a span\n"),
            },
            "session" => self.session_text(),
            "reset" => match Self::sandbox(&self.source, &self.model, &self.options) {
                Ok(sandbox) => {
                    self.sandbox = sandbox;
                    self.sandbox.harness.as_customer(&self.customer);
                    self.start = self.sandbox.harness.now();
                    format!("(reset)\n{}", self.banner())
                }
                Err(e) => format!("(reset failed: {e})\n"),
            },
            "as" if !arg.is_empty() => {
                arg.clone_into(&mut self.customer);
                self.sandbox.harness.as_customer(arg);
                format!("(now speaking as {arg})\n")
            }
            _ => format!("unknown command /{name}\n{HELP}\n"),
        })
    }

    fn session_text(&self) -> String {
        let h = &self.sandbox.harness;
        let Some(s) = h.session() else {
            return "(no session yet: say something)\n".into();
        };
        let now = h.now();
        let mut out = format!(
            "conversation {}\n  started {} ago, last message {} ago (virtual clock {} since start)\n  handoff: {}\n  buffered messages: {}\n  history ({} turns):\n",
            s.conversation_id(),
            format_span(now.since(s.started_at())),
            format_span(now.since(s.last_inbound_at())),
            format_span(now.since(self.start)),
            self.handoff_state(),
            s.buffer().pending.len(),
            s.history().len()
        );
        for turn in s.history() {
            let who = match turn.role {
                Role::User => "customer",
                Role::Assistant => "bot",
            };
            out.push_str(&format!("    {who}: {}\n", turn.content));
        }
        if let Some(summary) = s.summary() {
            out.push_str(&format!(
                "  summary ({} older turns, updated {} ago):\n    {}\n",
                summary.turns,
                format_span(now.since(summary.updated_at)),
                summary.text.replace('\n', "\n    ")
            ));
        }
        out
    }

    /// Runs the REPL over `input` until `/quit` or the end of input.
    ///
    /// # Errors
    /// [`CliError::BadInput`] when the input cannot be read.
    pub fn run(&mut self, input: impl BufRead, output: &mut impl Write) -> Result<(), CliError> {
        let _ = write!(output, "{}", self.banner());
        for line in input.lines() {
            let line = line.map_err(|e| CliError::bad_input(format!("reading input: {e}")))?;
            match self.line(&line) {
                Some(text) => {
                    let _ = write!(output, "{text}");
                    let _ = output.flush();
                }
                None => break,
            }
        }
        Ok(())
    }
}
