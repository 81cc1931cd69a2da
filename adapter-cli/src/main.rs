//! `concierge`: prompt, validate, test, chat and replay over the Concierge engine, offline.
//!
//! Exit codes: 0 ok, 1 an expectation failed (`test`), 2 bad input. Errors are one line on
//! stderr.

use std::io::{BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use concierge_cli::chat::{Chat, ChatModel, ChatOptions};
use concierge_cli::error::{read_file, EXIT_BAD_INPUT, EXIT_FAILED};
use concierge_cli::replay::{ReplayChannel, ReplayInput, ReplayModel};
use concierge_cli::{ai, ask, eval, kb, prompt, replay, runner, source, validate, CliError};

/// Concierge from the command line: everything runs in memory, with no channel and no network
/// unless CONCIERGE_AI_URL points at a model.
#[derive(Debug, Parser)]
#[command(name = "concierge", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum KbCommand {
    /// The passages a reply would get for a question, best first (keywords: the CLI has no
    /// embedding model yet).
    Search {
        /// The tenant file (TOML) whose `[knowledge] paths` list the documents.
        #[arg(long, value_name = "FILE")]
        tenant: PathBuf,
        /// Print `{"results":[{"source","heading","score","text"}]}`.
        #[arg(long)]
        json: bool,
        /// At most this many passages.
        #[arg(short, long, default_value_t = 5)]
        k: usize,
        /// The question, as a customer would write it.
        question: String,
    },
    /// Score the knowledge base on a questions file: hit@1, hit@5 and MRR of the search,
    /// answer accuracy of the replies (with the configured model: CONCIERGE_AI_URL or
    /// CONCIERGE_LOCAL_MODEL), refusal accuracy on unanswerable questions, latency p50/p95.
    ///
    /// Each line: {"q","source","heading","must_contain":[[alternatives…],…],"answerable":bool}.
    /// Exit 1 when a metric is below its --min-* floor, 2 on bad input.
    Eval {
        /// The tenant file (TOML) whose `[knowledge] paths` list the documents.
        #[arg(long, value_name = "FILE")]
        tenant: PathBuf,
        /// Print the figures and every question's outcome as JSON.
        #[arg(long)]
        json: bool,
        /// Fail (exit 1) when hit@5 is below this share (0..=1).
        #[arg(long, value_name = "SHARE")]
        min_hit_at_5: Option<f64>,
        /// Fail (exit 1) when answer accuracy is below this share (needs a model).
        #[arg(long, value_name = "SHARE")]
        min_answer_accuracy: Option<f64>,
        /// Fail (exit 1) when refusal accuracy is below this share.
        #[arg(long, value_name = "SHARE")]
        min_refusal_accuracy: Option<f64>,
        /// The questions file (JSON Lines).
        #[arg(value_name = "QUESTIONS")]
        questions: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print exactly what the reply model receives as its system prompt for a rule.
    Prompt {
        /// The tenant file (TOML).
        #[arg(long, value_name = "FILE")]
        tenant: PathBuf,
        /// The channel (default: the tenant's first connected channel).
        #[arg(long, value_name = "CH")]
        channel: Option<String>,
        /// The rule name (default: the default rule).
        #[arg(long, value_name = "NAME")]
        rule: Option<String>,
        /// A customer's message: the knowledge section shows the passages it finds.
        #[arg(long, value_name = "TEXT")]
        question: Option<String>,
    },
    /// Check tenant files (.toml) and conversation specs (.yaml), with line and field of each
    /// problem.
    Validate {
        /// Files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Run conversation specs (YAML): a table of steps each; exit 1 if a step fails.
    Test {
        /// Spec files.
        #[arg(required = true, value_name = "SPEC")]
        specs: Vec<PathBuf>,
    },
    /// Talk to a tenant as a customer on a virtual clock (/help inside for commands).
    ///
    /// AI: CONCIERGE_AI_URL (an OpenAI-compatible API base) and CONCIERGE_AI_KEY; without them,
    /// canned rules only.
    Chat {
        /// The tenant file (TOML).
        #[arg(long, value_name = "FILE")]
        tenant: PathBuf,
        /// The channel (default: the tenant's first connected channel).
        #[arg(long, value_name = "CH")]
        channel: Option<String>,
        /// Keep buffered messages waiting until /advance (to try bursts).
        #[arg(long)]
        hold: bool,
        /// Approve the persona yourself instead of trusting the model's safety review (a
        /// small offline model is no reliable reviewer), as `concierge-server
        /// --approve-persona` does.
        #[arg(long)]
        approve_persona: bool,
    },
    /// The reply a customer would get to one question, with the configured model
    /// (CONCIERGE_AI_URL or CONCIERGE_LOCAL_MODEL) and the tenant's knowledge base.
    Ask {
        /// The tenant file (TOML).
        #[arg(long, value_name = "FILE")]
        tenant: PathBuf,
        /// Print `{"reply","citations":[{"source","heading"}],"handoff","grounded"}`.
        #[arg(long)]
        json: bool,
        /// Approve the persona yourself instead of trusting the model's safety review.
        #[arg(long)]
        approve_persona: bool,
        /// The question, as a customer would write it.
        question: String,
    },
    /// The tenant's knowledge base: the documents its `[knowledge] paths` name.
    Kb {
        #[command(subcommand)]
        command: KbCommand,
    },
    /// Run one recorded webhook body or raw email through signature check, parser and engine;
    /// print the outcome as JSON. Exit 0 handled (ignored included), 2 rejected.
    Replay {
        /// The tenant file (TOML).
        #[arg(long, value_name = "FILE")]
        tenant: PathBuf,
        /// What the payload is.
        #[arg(long, value_enum)]
        channel: ReplayChannel,
        /// The payload file (`-` for standard input).
        #[arg(value_name = "PAYLOAD")]
        payload: PathBuf,
        /// Check the signature: the Meta app secret, or the Discord application public key (hex).
        #[arg(long, value_name = "S")]
        secret: Option<String>,
        /// A request header, `Name: value` (X-Hub-Signature-256, X-Signature-Ed25519,
        /// X-Signature-Timestamp); repeatable.
        #[arg(long = "header", value_name = "K: V")]
        headers: Vec<String>,
        /// The time for Discord's replay window, in Unix seconds (default: now).
        #[arg(long, value_name = "SECS")]
        now: Option<i64>,
        /// The envelope recipient of an email (default: hello@ the tenant's first email domain).
        #[arg(long, value_name = "ADDR")]
        recipient: Option<String>,
        /// The bot's user id, for Discord mentions (default: the event's application_id).
        #[arg(long, value_name = "ID")]
        bot_user_id: Option<String>,
        /// Answer AI rules with this text from the scripted model instead of a real one.
        #[arg(long, value_name = "TEXT")]
        ai_reply: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Input never panics the command; if a bug does, say so in one line and exit 2.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map_or_else(String::new, |l| format!(" at {}:{}", l.file(), l.line()));
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!(
            "error: internal error (a bug; please report it){at}: {}",
            one_line(&what)
        );
    }));
    let Ok(result) = std::panic::catch_unwind(|| run(cli)) else {
        return ExitCode::from(EXIT_BAD_INPUT);
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let code = e
                .downcast_ref::<CliError>()
                .map_or(EXIT_BAD_INPUT, CliError::exit_code);
            eprintln!("error: {}", one_line(&format!("{e:#}")));
            ExitCode::from(code)
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn model_from_env() -> Result<Option<Arc<dyn concierge_core::ports::AiProvider>>, CliError> {
    ai::provider_from_env()
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Prompt {
            tenant,
            channel,
            rule,
            question,
        } => {
            let text = prompt::run(
                &tenant,
                channel.as_deref(),
                rule.as_deref(),
                question.as_deref(),
            )?;
            writeln!(stdout, "{text}").context("writing to stdout")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { files } => {
            let mut bad = 0usize;
            for file in &files {
                let problems = validate::check_file(file);
                if problems.is_empty() {
                    writeln!(stdout, "ok {}", file.display()).context("writing to stdout")?;
                } else {
                    bad += 1;
                    for p in problems {
                        eprintln!("{p}");
                    }
                }
            }
            Ok(if bad == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_BAD_INPUT)
            })
        }
        Command::Test { specs } => {
            let all_passed = runner::run(&specs, &mut stdout)?;
            Ok(if all_passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILED)
            })
        }
        Command::Chat {
            tenant,
            channel,
            hold,
            approve_persona,
        } => {
            let source = source::load_tenant(&tenant)?;
            let channel = prompt::pick_channel(&source.file, channel.as_deref())?;
            let model = match model_from_env()? {
                Some(p) => ChatModel::Provider(p),
                None => ChatModel::None,
            };
            let options = ChatOptions {
                channel,
                hold,
                approve_persona,
            };
            let mut chat = Chat::new(source, model, options)?;
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("(type a message, or /help)");
            }
            chat.run(BufReader::new(stdin.lock()), &mut stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ask {
            tenant,
            json,
            approve_persona,
            question,
        } => {
            let source = source::load_tenant(&tenant)?;
            let answer = ask::ask(&source, model_from_env()?, approve_persona, &question)?;
            let text = if json {
                serde_json::to_string_pretty(&answer).context("rendering JSON")?
            } else {
                ask::render(&answer)
            };
            writeln!(stdout, "{}", text.trim_end()).context("writing to stdout")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Kb {
            command:
                KbCommand::Search {
                    tenant,
                    json,
                    k,
                    question,
                },
        } => {
            let source = source::load_tenant(&tenant)?;
            let knowledge = kb::load(&tenant, &source.file.knowledge)?;
            if knowledge.documents.is_empty() {
                return Err(CliError::bad_input(format!(
                    "{}: no documents: list files or folders in [knowledge] paths",
                    tenant.display()
                ))
                .into());
            }
            for skipped in &knowledge.skipped {
                eprintln!("skipped {}: not a document kind", skipped.display());
            }
            let results = kb::search(&knowledge, &question, k);
            let text = if json {
                serde_json::to_string_pretty(&serde_json::json!({ "results": results }))
                    .context("rendering JSON")?
            } else {
                kb::render(&results)
            };
            writeln!(stdout, "{}", text.trim_end()).context("writing to stdout")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Kb {
            command:
                KbCommand::Eval {
                    tenant,
                    json,
                    min_hit_at_5,
                    min_answer_accuracy,
                    min_refusal_accuracy,
                    questions,
                },
        } => {
            let floors = [
                ("hit_at_5", min_hit_at_5),
                ("answer_accuracy", min_answer_accuracy),
                ("refusal_accuracy", min_refusal_accuracy),
            ];
            for (name, floor) in floors {
                if floor.is_some_and(|f| !(0.0..=1.0).contains(&f)) {
                    return Err(CliError::bad_input(format!(
                        "--min-{}: a share between 0 and 1",
                        name.replace('_', "-")
                    ))
                    .into());
                }
            }
            let source = source::load_tenant(&tenant)?;
            let lines = eval::read_questions(&questions)?;
            let model = model_from_env()?;
            let replies = ai::chat_model_configured();
            if min_answer_accuracy.is_some() && !replies {
                return Err(CliError::bad_input(
                    "--min-answer-accuracy needs a model (CONCIERGE_AI_URL or CONCIERGE_LOCAL_MODEL)",
                )
                .into());
            }
            let report = eval::run(&source, model, replies, &lines)?;
            let text = if json {
                serde_json::to_string_pretty(&report).context("rendering JSON")?
            } else {
                eval::render(&report)
            };
            writeln!(stdout, "{}", text.trim_end()).context("writing to stdout")?;
            let short = eval::shortfalls(&report, &floors);
            for s in &short {
                eprintln!(
                    "below the floor: {} {} < {}",
                    s.metric,
                    s.value
                        .map_or_else(|| "n/a".to_owned(), |v| format!("{v:.3}")),
                    s.floor
                );
            }
            Ok(if short.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILED)
            })
        }
        Command::Replay {
            tenant,
            channel,
            payload,
            secret,
            headers,
            now,
            recipient,
            bot_user_id,
            ai_reply,
        } => {
            let tenant = source::load_tenant(&tenant)?;
            let payload = if payload.as_os_str() == "-" {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                    .map_err(|e| CliError::bad_input(format!("reading standard input: {e}")))?;
                buf
            } else {
                read_file(&payload)?
            };
            let headers = headers
                .iter()
                .map(|h| replay::parse_header(h))
                .collect::<Result<Vec<_>, _>>()?;
            let model = match (ai_reply, model_from_env()?) {
                (Some(text), _) => ReplayModel::Scripted(text),
                (None, Some(p)) => ReplayModel::Provider(p),
                (None, None) => ReplayModel::None,
            };
            let outcome = replay::run(&ReplayInput {
                tenant,
                channel,
                payload,
                secret,
                headers,
                now_secs: now,
                recipient,
                bot_user_id,
                model,
            })?;
            let text = serde_json::to_string_pretty(&outcome).context("rendering JSON")?;
            writeln!(stdout, "{text}").context("writing to stdout")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
