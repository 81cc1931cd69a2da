//! `concierge kb eval`: how well a tenant's knowledge base answers a set of questions.
//!
//! Each line of the questions file is one JSON object,
//! `{"q","source","heading","must_contain":[[alternatives…],…],"answerable":bool}`. For every
//! question the passages are searched as a turn searches them (keywords, and vectors when an
//! embedding model is configured), and, when a model is configured, the reply a new customer
//! would get is produced by the engine. What is measured:
//!
//! - **retrieval** (answerable questions): the rank of the first passage from `source` whose
//!   heading path is `heading` or ends with `> heading` (an empty or missing heading: any
//!   passage of `source`) among the top 5; hit@1, hit@5 and the mean reciprocal rank;
//! - **answers** (answerable questions, with a model): a reply is right when every
//!   `must_contain` group has one alternative in it, case-insensitively;
//! - **refusals** (unanswerable questions): with a model, the engine reports the reply as not
//!   grounded in the knowledge base (its "I don't know" line, or a reply citing nothing); with
//!   no model, the search finds no passage above the relevance floor (what makes the engine
//!   say it does not know);
//! - **latency** p50 and p95 of the search (the question's embedding included) and of the
//!   whole reply turn, and the ingest of the documents in chunks per second.
//!
//! Nothing here decides how a reply is made: the engine does, as for `concierge ask`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use concierge_core::engine::Reply;
use concierge_core::ports::AiProvider;
use futures::executor::block_on;
use serde::{Deserialize, Serialize};

use crate::error::{read_text, CliError};
use crate::sandbox::{ModelChoice, Sandbox};
use crate::source::TenantSource;

/// How many passages the search returns, and so the depth of hit@k and MRR.
pub const K: usize = 5;

/// One line of a questions file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// The question, as a customer writes it.
    pub q: String,
    /// The document that answers it (required when `answerable`).
    #[serde(default)]
    pub source: Option<String>,
    /// The heading path of the passage that answers it, or its last parts.
    #[serde(default)]
    pub heading: Option<String>,
    /// Groups of alternatives: a right reply contains one alternative of every group.
    #[serde(default)]
    pub must_contain: Vec<Vec<String>>,
    /// Whether the knowledge base answers it.
    pub answerable: bool,
}

/// A question with the line it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number in the questions file.
    pub line: usize,
    /// The question.
    pub question: Question,
}

/// Reads a questions file.
///
/// # Errors
/// [`CliError::BadInput`] naming the file (and the line) when it cannot be read, a line is not
/// a question object (malformed JSON, an unknown or missing field, an empty `q`, an answerable
/// question without `source`, an empty `must_contain` group), or there is no question at all.
pub fn read_questions(path: &Path) -> Result<Vec<Line>, CliError> {
    parse_questions(&path.display().to_string(), &read_text(path)?)
}

/// [`read_questions`] over text; `display` names the file in errors.
///
/// # Errors
/// As [`read_questions`].
pub fn parse_questions(display: &str, text: &str) -> Result<Vec<Line>, CliError> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let bad = |message: String| CliError::bad_input(format!("{display}:{line}: {message}"));
        let question: Question = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
        if question.q.trim().is_empty() {
            return Err(bad("`q` is empty".into()));
        }
        if question.answerable
            && question
                .source
                .as_deref()
                .is_none_or(|s| s.trim().is_empty())
        {
            return Err(bad("an answerable question needs `source`".into()));
        }
        if question
            .must_contain
            .iter()
            .any(|group| group.iter().all(|a| a.trim().is_empty()))
        {
            return Err(bad("a `must_contain` group has no alternative".into()));
        }
        lines.push(Line { line, question });
    }
    if lines.is_empty() {
        return Err(CliError::bad_input(format!("{display}: no questions")));
    }
    Ok(lines)
}

/// The p50 and p95 of a set of durations, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 95th percentile (nearest rank).
    pub p95: f64,
}

impl Latency {
    /// The percentiles of `samples` (nearest rank); `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Latency> {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let at = |p: f64| {
            let rank = (p * ms.len() as f64).ceil() as usize;
            ms.get(rank.saturating_sub(1)).copied()
        };
        Some(Latency {
            p50: at(0.50)?,
            p95: at(0.95)?,
        })
    }
}

/// Latencies of the search and of the reply.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Latencies {
    /// The search (with the question's embedding when vectors are used).
    pub retrieval: Option<Latency>,
    /// The whole reply turn (`None` with no model).
    pub reply: Option<Latency>,
}

/// The documents read into the knowledge base.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ingest {
    /// How many documents.
    pub documents: usize,
    /// How many passages they were cut into.
    pub chunks: usize,
    /// Wall time of reading, chunking, embedding and indexing them.
    pub seconds: f64,
    /// `chunks / seconds`.
    pub chunks_per_second: f64,
}

/// One question's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    /// Its line in the questions file.
    pub line: usize,
    /// The question.
    pub q: String,
    /// Whether the knowledge base answers it.
    pub answerable: bool,
    /// The 1-based rank of the expected passage in the top 5 (answerable questions).
    pub rank: Option<usize>,
    /// How many passages the search found.
    pub passages: usize,
    /// Whether the reply contains every `must_contain` group (answerable, with a model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct: Option<bool>,
    /// Whether the question was refused: see the module's documentation.
    pub refused: bool,
    /// The reply (with a model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// How the reply was made when not by the model alone, or why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What `concierge kb eval --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The tenant.
    pub tenant: String,
    /// Whether replies were produced (a model is configured).
    pub model: bool,
    /// The embedding model of the passages' vectors; `None`: keywords only.
    pub embedding_model: Option<String>,
    /// How many questions.
    pub questions: usize,
    /// How many of them are answerable.
    pub answerable: usize,
    /// How many are not.
    pub unanswerable: usize,
    /// Share of answerable questions whose passage ranks first.
    pub hit_at_1: Option<f64>,
    /// Share of answerable questions whose passage is in the top 5.
    pub hit_at_5: Option<f64>,
    /// Mean reciprocal rank over the top 5 (0 for a miss).
    pub mrr: Option<f64>,
    /// Share of answerable questions answered right (`None` with no model).
    pub answer_accuracy: Option<f64>,
    /// Share of unanswerable questions refused.
    pub refusal_accuracy: Option<f64>,
    /// What a refusal was judged by: `reply` (the engine's grounding) or `retrieval`.
    pub refusal_basis: &'static str,
    /// Latencies, in milliseconds.
    pub latency_ms: Latencies,
    /// The ingest of the documents.
    pub ingest: Ingest,
    /// Every question's outcome, in file order.
    pub results: Vec<Outcome>,
}

/// Whether `reply` has one alternative of every group, case-insensitively.
pub fn contains_all(reply: &str, groups: &[Vec<String>]) -> bool {
    let reply = reply.to_lowercase();
    groups.iter().all(|group| {
        group
            .iter()
            .any(|a| !a.trim().is_empty() && reply.contains(&a.to_lowercase()))
    })
}

/// Whether a found passage is the one `question` expects.
fn is_expected(question: &Question, source: &str, heading: &str) -> bool {
    if question.source.as_deref() != Some(source) {
        return false;
    }
    match question.heading.as_deref().map(str::trim) {
        None | Some("") => true,
        Some(expected) => heading == expected || heading.ends_with(&format!(" > {expected}")),
    }
}

/// Runs every question against the tenant: the search (with `provider`'s embeddings when it
/// has them), and the reply when `replies` (`provider` has a chat model).
///
/// The persona is approved as the operator (`--approve-persona`): the evaluation is of the
/// knowledge base and the replies, not of the persona review.
///
/// # Errors
/// [`CliError::BadInput`] when the tenant lists no documents or one cannot be read;
/// [`CliError::Failed`] when the engine fails outside a turn (the store).
pub fn run(
    source: &TenantSource,
    provider: Option<Arc<dyn AiProvider>>,
    replies: bool,
    questions: &[Line],
) -> Result<Report, CliError> {
    if source.file.knowledge.paths.is_empty() {
        return Err(CliError::bad_input(format!(
            "{}: no documents: list files or folders in [knowledge] paths",
            source.path.display()
        )));
    }
    let config = crate::ai::engine_config();
    let has_model = replies && provider.is_some();
    let model = provider.map_or(ModelChoice::None, ModelChoice::Provider);
    let mut sandbox = Sandbox::new(&source.text, &source.file, model, config)?;
    if has_model {
        sandbox.approve_persona()?;
    }
    let started = Instant::now();
    for skipped in sandbox.learn_from_files(&source.path, &source.file.knowledge)? {
        eprintln!("skipped {}: not a document kind", skipped.display());
    }
    let tenant = sandbox.harness.tenant_id().clone();
    let index = block_on(sandbox.harness.engine.knowledge_index(&tenant))
        .map_err(|e| CliError::Failed(format!("reading the knowledge base: {e}")))?;
    let seconds = started.elapsed().as_secs_f64();
    let Some(index) = index else {
        return Err(CliError::bad_input(format!(
            "{}: no documents in [knowledge] paths",
            source.path.display()
        )));
    };
    let chunks = index.chunks().len();
    let mut documents: Vec<&str> = index.chunks().iter().map(|c| c.source.as_str()).collect();
    documents.dedup();
    let ingest = Ingest {
        documents: documents.len(),
        chunks,
        seconds,
        chunks_per_second: if seconds > 0.0 {
            chunks as f64 / seconds
        } else {
            0.0
        },
    };
    let embedding_model = index.embedding_model().map(str::to_owned);

    let (mut search_times, mut reply_times) = (Vec::new(), Vec::new());
    let mut results = Vec::with_capacity(questions.len());
    for (n, Line { line, question }) in questions.iter().enumerate() {
        let at = Instant::now();
        let found = block_on(
            sandbox
                .harness
                .engine
                .search_knowledge(&tenant, &question.q, K),
        )
        .map_err(|e| CliError::Failed(format!("searching the knowledge base: {e}")))?;
        search_times.push(at.elapsed());
        let rank = question
            .answerable
            .then(|| {
                found
                    .iter()
                    .position(|r| is_expected(question, &r.source, &r.heading))
                    .map(|i| i + 1)
            })
            .flatten();
        let mut outcome = Outcome {
            line: *line,
            q: question.q.clone(),
            answerable: question.answerable,
            rank,
            passages: found.len(),
            correct: None,
            refused: found.is_empty(),
            reply: None,
            note: None,
        };
        if has_model {
            // A new customer for every question: no history carries over.
            sandbox.harness.as_customer(&format!("1555{n:07}"));
            let at = Instant::now();
            let step = sandbox.says_and_flush(&question.q);
            reply_times.push(at.elapsed());
            let turn = step.turns.last();
            let reply = step.replies().join("\n");
            let knowledge = turn.and_then(|t| t.knowledge.as_ref());
            outcome.refused = knowledge.is_some_and(|k| !k.grounded);
            outcome.note = match (step.errors.first(), turn.map(|t| &t.reply)) {
                (Some(error), _) => Some(format!("error: {error}")),
                (None, Some(Reply::None { reason })) => Some(format!("no reply: {reason:?}")),
                (None, Some(Reply::Canned { .. })) => Some("canned".into()),
                _ => knowledge.and_then(|k| k.fallback.clone()),
            };
            outcome.correct = question
                .answerable
                .then(|| !reply.is_empty() && contains_all(&reply, &question.must_contain));
            outcome.reply = Some(reply);
        }
        results.push(outcome);
    }

    let answerable: Vec<&Outcome> = results.iter().filter(|o| o.answerable).collect();
    let unanswerable: Vec<&Outcome> = results.iter().filter(|o| !o.answerable).collect();
    let share = |hits: usize, of: usize| (of > 0).then(|| hits as f64 / of as f64);
    let hits_at = |k: usize| {
        answerable
            .iter()
            .filter(|o| o.rank.is_some_and(|r| r <= k))
            .count()
    };
    let reciprocal: f64 = answerable
        .iter()
        .filter_map(|o| o.rank)
        .map(|r| 1.0 / r as f64)
        .sum();
    Ok(Report {
        tenant: tenant.to_string(),
        model: has_model,
        embedding_model,
        questions: results.len(),
        answerable: answerable.len(),
        unanswerable: unanswerable.len(),
        hit_at_1: share(hits_at(1), answerable.len()),
        hit_at_5: share(hits_at(K), answerable.len()),
        mrr: (!answerable.is_empty()).then(|| reciprocal / answerable.len() as f64),
        answer_accuracy: if has_model {
            share(
                answerable
                    .iter()
                    .filter(|o| o.correct == Some(true))
                    .count(),
                answerable.len(),
            )
        } else {
            None
        },
        refusal_accuracy: share(
            unanswerable.iter().filter(|o| o.refused).count(),
            unanswerable.len(),
        ),
        refusal_basis: if has_model { "reply" } else { "retrieval" },
        latency_ms: Latencies {
            retrieval: Latency::of(&search_times),
            reply: Latency::of(&reply_times),
        },
        ingest,
        results,
    })
}

/// A metric below its floor, for the caller to report (exit 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Shortfall {
    /// The metric's name, as in the JSON.
    pub metric: &'static str,
    /// Its value (`None`: not measured).
    pub value: Option<f64>,
    /// The floor.
    pub floor: f64,
}

/// The metrics of `report` below their floors (`None`: no floor for that metric).
pub fn shortfalls(report: &Report, floors: &[(&'static str, Option<f64>)]) -> Vec<Shortfall> {
    floors
        .iter()
        .filter_map(|&(metric, floor)| {
            let floor = floor?;
            let value = match metric {
                "hit_at_1" => report.hit_at_1,
                "hit_at_5" => report.hit_at_5,
                "mrr" => report.mrr,
                "answer_accuracy" => report.answer_accuracy,
                "refusal_accuracy" => report.refusal_accuracy,
                _ => None,
            };
            (value.is_none_or(|v| v < floor)).then_some(Shortfall {
                metric,
                value,
                floor,
            })
        })
        .collect()
}

fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}"))
}

fn latency(value: Option<Latency>) -> String {
    value.map_or_else(
        || "n/a".to_owned(),
        |l| format!("p50 {:.2} ms, p95 {:.2} ms", l.p50, l.p95),
    )
}

/// The report as a person reads it: the figures, then every question that missed.
pub fn render(report: &Report) -> String {
    let count = |pred: &dyn Fn(&Outcome) -> bool| report.results.iter().filter(|o| pred(o)).count();
    let mut out = format!(
        "{}: {} questions ({} answerable, {} unanswerable); retrieval by {}; replies {}\n",
        report.tenant,
        report.questions,
        report.answerable,
        report.unanswerable,
        report.embedding_model.as_deref().map_or_else(
            || "keywords".to_owned(),
            |m| format!("keywords + vectors ({m})")
        ),
        if report.model {
            "by the configured model"
        } else {
            "not made (no model: CONCIERGE_AI_URL or CONCIERGE_LOCAL_MODEL)"
        },
    );
    out.push_str(&format!(
        "ingest      {} documents, {} chunks in {:.2} s ({:.0} chunks/s)\n",
        report.ingest.documents,
        report.ingest.chunks,
        report.ingest.seconds,
        report.ingest.chunks_per_second
    ));
    out.push_str(&format!(
        "retrieval   hit@1 {}  hit@5 {}  MRR {}  ({})\n",
        ratio(report.hit_at_1),
        ratio(report.hit_at_5),
        ratio(report.mrr),
        latency(report.latency_ms.retrieval)
    ));
    if report.model {
        out.push_str(&format!(
            "answers     accuracy {} ({}/{})  ({})\n",
            ratio(report.answer_accuracy),
            count(&|o| o.correct == Some(true)),
            report.answerable,
            latency(report.latency_ms.reply)
        ));
    } else {
        out.push_str("answers     not measured: no model is configured\n");
    }
    out.push_str(&format!(
        "refusals    accuracy {} ({}/{}, judged by the {})\n",
        ratio(report.refusal_accuracy),
        count(&|o| !o.answerable && o.refused),
        report.unanswerable,
        report.refusal_basis
    ));
    let misses: Vec<&Outcome> = report
        .results
        .iter()
        .filter(|o| {
            if o.answerable {
                o.rank.is_none_or(|r| r > 1) || o.correct == Some(false)
            } else {
                !o.refused
            }
        })
        .collect();
    if !misses.is_empty() {
        out.push_str("misses:\n");
        for o in misses {
            let what = if o.answerable {
                let rank = o
                    .rank
                    .map_or_else(|| "not in the top 5".to_owned(), |r| format!("rank {r}"));
                match o.correct {
                    Some(false) => format!("{rank}, wrong answer"),
                    _ => rank,
                }
            } else {
                format!("answered, not refused ({} passages)", o.passages)
            };
            out.push_str(&format!("  line {}: {:?}: {what}\n", o.line, o.q));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_group_needs_one_alternative_case_insensitively() {
        let groups = vec![
            vec!["2pm".to_owned(), "14:00".to_owned()],
            vec!["Check-in".to_owned()],
        ];
        assert!(contains_all("CHECK-IN is from 2PM.", &groups));
        assert!(!contains_all("Check-in is from noon.", &groups));
        assert!(contains_all("anything", &[]));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let ms: Vec<Duration> = (1..=20).map(Duration::from_millis).collect();
        let l = Latency::of(&ms).unwrap();
        assert!(
            (l.p50 - 10.0).abs() < 1e-9 && (l.p95 - 19.0).abs() < 1e-9,
            "{l:?}"
        );
        assert_eq!(Latency::of(&[]), None);
    }

    #[test]
    fn a_heading_matches_whole_or_by_its_last_parts() {
        let q = Question {
            q: "x".into(),
            source: Some("faq.md".into()),
            heading: Some("Cakes > Eggless".into()),
            must_contain: vec![],
            answerable: true,
        };
        assert!(is_expected(&q, "faq.md", "Bakery > Cakes > Eggless"));
        assert!(is_expected(&q, "faq.md", "Cakes > Eggless"));
        assert!(!is_expected(&q, "faq.md", "Bakery > No Cakes > Eggless x"));
        assert!(!is_expected(&q, "menu.csv", "Cakes > Eggless"));
        let any = Question { heading: None, ..q };
        assert!(is_expected(&any, "faq.md", "whatever"));
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        let err = |text: &str| match parse_questions("q.jsonl", text) {
            Err(CliError::BadInput(m)) => m,
            other => panic!("{other:?}"),
        };
        let ok = r#"{"q":"hours","source":"faq.md","answerable":true}"#;
        assert!(err(&format!("{ok}\n\n{{\"q\":")).starts_with("q.jsonl:3: "));
        assert!(err(r#"{"q":"x","answerable":false,"sauce":1}"#).contains("unknown field `sauce`"));
        assert!(err(r#"{"q":"x"}"#).contains("missing field `answerable`"));
        assert!(err(r#"{"q":"x","answerable":true}"#).contains("needs `source`"));
        assert!(err(r#"{"q":" ","answerable":false}"#).contains("`q` is empty"));
        assert!(
            err(r#"{"q":"x","source":"a","must_contain":[[]],"answerable":true}"#)
                .contains("no alternative")
        );
        assert_eq!(err("\n  \n"), "q.jsonl: no questions");
        assert_eq!(parse_questions("q", ok).unwrap()[0].line, 1);
    }
}
