//! The built `concierge` binary on the example tenants, the example specs and the core's
//! recorded webhook fixtures (including malformed ones).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;

use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn path(rel: &str) -> String {
    root().join(rel).display().to_string()
}

const BAKERY: &str = "examples/tenants/sunrise-bakery.toml";
const CLINIC: &str = "examples/tenants/lotus-dental.toml";
const REPLAY_TENANT: &str = "adapter-cli/tests/fixtures/replay-tenant.toml";

fn concierge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_concierge"));
    c.current_dir(root())
        .env_remove("CONCIERGE_AI_URL")
        .env_remove("CONCIERGE_AI_KEY")
        .env_remove("CONCIERGE_LOCAL_MODEL")
        .env_remove("CONCIERGE_LOCAL_EMBEDDING_MODEL")
        .env_remove("CONCIERGE_EMBEDDING_MODEL")
        .env_remove("CONCIERGE_COMPACT_PROMPT");
    c
}

fn run(args: &[&str]) -> Output {
    concierge().args(args).output().unwrap()
}

fn run_with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses its input exits without reading it: the pipe may then be closed
    // (EPIPE), which is not the behaviour under test.
    if let Err(e) = child.stdin.take().unwrap().write_all(input) {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing stdin: {e}"
        );
    }
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit code `code`, and no panic or internal error on the way.
#[track_caller]
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
    let err = stderr(o);
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{err}"
    );
}

/// An error exit: exactly one line on stderr.
#[track_caller]
fn assert_one_line_error(o: &Output, code: i32) -> String {
    assert_exit(o, code);
    let err = stderr(o);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    err
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["prompt", "validate", "test", "chat", "replay", "kb"] {
        let o = run(&[sub, "--help"]);
        assert_exit(&o, 0);
        assert!(
            stdout(&o).contains("Usage: concierge"),
            "{sub}: {}",
            stdout(&o)
        );
    }
    assert_exit(&run(&["--help"]), 0);
    let o = run(&["kb", "eval", "--help"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("--min-hit-at-5"), "{}", stdout(&o));
    // clap's own usage errors are bad input too.
    assert_exit(&run(&["prompt"]), 2);
    assert_exit(&run(&["frobnicate"]), 2);
}

#[test]
fn prompt_prints_the_wrapped_envelope() {
    let o = run(&["prompt", "--tenant", BAKERY, "--rule", "celebration-cakes"]);
    assert_exit(&o, 0);
    let text = stdout(&o);
    assert!(text.starts_with("You are the reply assistant of a small business."));
    assert!(text.contains("BEGIN BUSINESS PERSONA\n"));
    assert!(text.contains("You are Asha, the assistant of Sunrise Bakery"));
    assert!(text.contains("remind them of the 48 hours' notice."));
    assert!(text.contains("Never explain the token and never use it otherwise.\n"));
    // The bakery has documents: the house rules end with the one on passages.
    assert!(text
        .trim_end()
        .ends_with("with a team member; never guess."));

    let o = run(&["prompt", "--tenant", BAKERY, "--channel", "instagram"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("at most two sentences"));

    let err = assert_one_line_error(&run(&["prompt", "--tenant", BAKERY, "--rule", "hours"]), 2);
    assert!(err.contains("canned text"), "{err}");
    let err = assert_one_line_error(&run(&["prompt", "--tenant", BAKERY, "--rule", "nope"]), 2);
    assert!(err.contains("no rule `nope`"), "{err}");
    let err = assert_one_line_error(&run(&["prompt", "--tenant", BAKERY, "--channel", "fax"]), 2);
    assert!(err.contains("unknown channel"), "{err}");
    let err = assert_one_line_error(&run(&["prompt", "--tenant", "missing.toml"]), 2);
    assert!(err.contains("missing.toml"), "{err}");
}

#[test]
fn validate_accepts_the_examples_and_points_at_problems() {
    let specs = std::fs::read_dir(root().join("examples/specs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>();
    let mut args = vec!["validate", BAKERY, CLINIC];
    args.extend(specs.iter().map(String::as_str));
    let o = run(&args);
    assert_exit(&o, 0);
    assert_eq!(stdout(&o).lines().count(), 2 + specs.len());

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(root().join(BAKERY))
        .unwrap()
        .replace("idle_gap_mins = 360", "idle_gap_mins = 2")
        .replace("name = \"address\"", "name = \"hours\"");
    std::fs::write(&bad, text).unwrap();
    let o = run(&["validate", bad.to_str().unwrap()]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("bad.toml:37:1: conversation.idle_gap_mins: must be between 5 and 1440"),
        "{err}"
    );
    assert!(
        err.contains(":58:1: channels.whatsapp.replies.rules[1].name: `hours` is used twice"),
        "{err}"
    );

    let syntax = dir.path().join("syntax.toml");
    std::fs::write(&syntax, "id = \"x\"\nname = 3\n").unwrap();
    let err = stderr(&run(&["validate", syntax.to_str().unwrap()]));
    assert!(
        err.contains("syntax.toml:2:8: invalid type: integer `3`"),
        "{err}"
    );

    let spec = dir.path().join("bad.yaml");
    std::fs::write(
        &spec,
        "tenant: x.toml\nsteps:\n  - say: hi\n    expect:\n      charge: lots\n",
    )
    .unwrap();
    let o = run(&["validate", spec.to_str().unwrap()]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("bad.yaml:5:7:"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("`lots` is not an amount"),
        "{}",
        stderr(&o)
    );

    let o = run(&["validate", "README.md"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("unknown kind of file"));
}

#[test]
fn the_example_specs_pass() {
    let mut args = vec!["test".to_owned()];
    for entry in std::fs::read_dir(root().join("examples/specs")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "yaml") {
            args.push(p.display().to_string());
        }
    }
    assert!(
        args.len() >= 8,
        "burst, idle gap, handoff, billing, approval, injection, knowledge"
    );
    let o = concierge().args(&args).output().unwrap();
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(!out.contains("FAIL"), "{out}");
    assert!(out.trim_end().ends_with(" 0 failed"), "{out}");
}

#[test]
fn a_failing_spec_exits_1_with_the_first_difference() {
    let o = run(&["test", "adapter-cli/tests/fixtures/failing.yaml"]);
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains("FAIL adapter-cli/tests/fixtures/failing.yaml"),
        "{out}"
    );
    assert!(
        out.contains("first difference at step 2 (advance 3s): reply: expected \"We're open all night!\", got [\"We're open 7am"),
        "{out}"
    );
    assert!(out.contains("steps: 2 passed, 1 failed"), "{out}");

    // A spec that cannot run at all is bad input.
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("orphan.yaml");
    std::fs::write(&spec, "tenant: nowhere.toml\nsteps:\n  - say: hi\n").unwrap();
    let o = run(&["test", spec.to_str().unwrap()]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("nowhere.toml"), "{}", stderr(&o));
}

#[test]
fn kb_search_uses_the_configured_models_embeddings() {
    let tenant = path("examples/tenants/sunrise-bakery.toml");
    let args = [
        "kb",
        "search",
        "--json",
        "--tenant",
        tenant.as_str(),
        "do you sell pizza",
    ];
    let results = |o: &Output| -> Vec<Value> {
        assert_exit(o, 0);
        let out: Value = serde_json::from_str(&stdout(o)).unwrap();
        out["results"].as_array().unwrap().clone()
    };
    // By keywords, nothing in the bakery's documents is about pizza.
    assert!(results(&run(&args)).is_empty());
    // The fake endpoint embeds every text as the same vector: with its embeddings every
    // passage is "close", so results prove the vectors were used, as a turn uses them.
    let o = concierge()
        .args(args)
        .env("CONCIERGE_AI_URL", fake_model_with(true))
        .output()
        .unwrap();
    assert_eq!(results(&o).len(), 5, "{}", stdout(&o));
    // An endpoint without embeddings: keywords only, as in a turn.
    let o = concierge()
        .args(args)
        .env("CONCIERGE_AI_URL", fake_model_with(false))
        .output()
        .unwrap();
    assert!(results(&o).is_empty(), "{}", stdout(&o));
}

#[test]
fn a_spec_checks_citations_and_refusals_against_the_tenants_documents() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("kb.yaml");
    let tenant = path("examples/tenants/sunrise-bakery.toml");
    std::fs::write(
        &spec,
        format!(
            "tenant: {tenant}\nsteps:\n\
             - say: Do you have eggless cakes?\n  ai_reply: \"Yes, all of them [1].\"\n\
             - advance: 3s\n  expect: {{ cites: faq.md, unknown: false }}\n\
             - say: Do you have eggless cakes?\n  ai_reply: \"Yes, all of them [1].\"\n\
             - advance: 3s\n  expect: {{ cites: {{ source: faq.md, heading: Opening hours }} }}\n\
             - say: Do you sell pizza?\n  ai_reply: \"We do!\"\n\
             - advance: 3s\n  expect: {{ unknown: false }}\n"
        ),
    )
    .unwrap();
    let o = run(&["test", spec.to_str().unwrap()]);
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(out.contains("    2  advance 3s"), "{out}");
    assert!(
        out.contains("cites: expected faq.md > Opening hours, the reply cites faq.md > Sunrise Bakery: questions customers ask > Cakes > Eggless cakes"),
        "{out}"
    );
    assert!(
        out.contains("unknown: expected false, got true (0 passages found, cites none)"),
        "{out}"
    );
    assert!(out.contains("steps: 4 passed, 2 failed"), "{out}");

    // A citation check on a tenant without documents says why it cannot hold.
    std::fs::write(
        &spec,
        format!(
            "tenant: {}\nsteps:\n  - say: hi\n  - advance: 3s\n    expect: {{ cites: faq.md }}\n",
            path("examples/tenants/lotus-dental.toml")
        ),
    )
    .unwrap();
    let o = run(&["test", spec.to_str().unwrap()]);
    assert_exit(&o, 1);
    assert!(
        stdout(&o).contains("no reply over the knowledge base"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn chat_without_ai_answers_canned_rules_and_says_why_ai_is_silent() {
    let mut cmd = concierge();
    cmd.args(["chat", "--tenant", BAKERY]);
    let o = run_with_stdin(
        cmd,
        b"what are your hours?\ncan you bake a cake?\n/session\n/advance 7h\nwhere are you?\n/advance nonsense\n/reset\n/quit\nnot read\n",
    );
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("notice: no AI provider"), "{out}");
    assert!(out.contains("persona review cannot run"), "{out}");
    assert!(
        out.contains("bot: We're open 7am to 8pm every day"),
        "{out}"
    );
    assert!(
        out.contains("[rule hours · canned · free · credits 500 INR · handoff: none"),
        "{out}"
    );
    assert!(out.contains("no AI provider is configured"), "{out}");
    assert!(out.contains("history (3 turns)"), "{out}");
    assert!(out.contains("(clock +7h"), "{out}");
    assert!(out.contains("bot: We're at 12 FC Road"), "{out}");
    assert!(out.contains("new conversation"), "{out}");
    assert!(out.contains("`nonsense` is not a span"), "{out}");
    assert!(out.contains("(reset)"), "{out}");

    let mut cmd = concierge();
    cmd.args(["chat", "--tenant", BAKERY, "--hold"]);
    let out = stdout(&run_with_stdin(cmd, b"hours?\n/advance 3s\n"));
    assert!(out.contains("(buffered: the reply waits 3s"), "{out}");
    assert!(out.contains("bot: We're open"), "{out}");
}

#[test]
fn chat_refuses_the_offline_model_and_bad_channels() {
    let mut cmd = concierge();
    cmd.env("CONCIERGE_LOCAL_MODEL", "model.gguf")
        .args(["chat", "--tenant", BAKERY]);
    let o = run_with_stdin(cmd, b"hi\n");
    let err = assert_one_line_error(&o, 2);
    if cfg!(feature = "local-model") {
        assert!(
            err.contains("model.gguf"),
            "the missing file is named: {err}"
        );
    } else {
        assert!(err.contains("not supported in this build"), "{err}");
    }
    let mut cmd = concierge();
    cmd.args(["chat", "--tenant", BAKERY, "--channel", "discord"]);
    assert_one_line_error(&run_with_stdin(cmd, b""), 2);
}

/// With the `local-model` feature and `CONCIERGE_TEST_LOCAL_MODEL` pointing at a GGUF (the one
/// `scripts/run-demo.sh` fetches), `chat` answers with the offline model.
#[cfg(feature = "local-model")]
#[test]
fn chat_answers_with_the_offline_model() {
    let Ok(model) = std::env::var("CONCIERGE_TEST_LOCAL_MODEL") else {
        assert!(
            std::env::var_os("CONCIERGE_REQUIRE_LOCAL_MODEL").is_none(),
            "CONCIERGE_REQUIRE_LOCAL_MODEL is set but CONCIERGE_TEST_LOCAL_MODEL is not"
        );
        eprintln!(
            "skipped: set CONCIERGE_TEST_LOCAL_MODEL to a GGUF file to run the offline model"
        );
        return;
    };
    let mut cmd = concierge();
    cmd.env("CONCIERGE_LOCAL_MODEL", model)
        .env("CANDLE_NUM_THREADS", "1")
        // The 135M model's safety verdict differs between CPUs: approve the persona as the
        // operator, as run-demo.sh does for the server.
        .args(["chat", "--tenant", BAKERY, "--approve-persona"]);
    let o = run_with_stdin(cmd, b"Do you have eggless cakes?\n/advance 5s\n/quit\n");
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains("bot: ") && out.contains("AI"),
        "an AI reply from the offline model:\n{out}"
    );
}

/// With an API chat model that has no embeddings and the local embedding model of
/// `CONCIERGE_TEST_LOCAL_EMBEDDING_MODEL`, the bakery's intent rule matches by meaning; without
/// the local model it cannot (the rule is skipped and the default rule answers).
#[cfg(feature = "local-model")]
#[test]
fn chat_matches_intent_rules_with_the_local_model_for_embeddings() {
    let Ok(dir) = std::env::var("CONCIERGE_TEST_LOCAL_EMBEDDING_MODEL") else {
        assert!(
            std::env::var_os("CONCIERGE_REQUIRE_LOCAL_MODEL").is_none(),
            "CONCIERGE_REQUIRE_LOCAL_MODEL is set but CONCIERGE_TEST_LOCAL_EMBEDDING_MODEL is not"
        );
        eprintln!("skipped: set CONCIERGE_TEST_LOCAL_EMBEDDING_MODEL to the directory of scripts/fetch-model.sh --embedding");
        return;
    };
    let url = fake_model_with(false);
    let chat = |local_embeddings: bool| {
        let mut cmd = concierge();
        cmd.env("CONCIERGE_AI_URL", &url)
            .env("CANDLE_NUM_THREADS", "1")
            .args(["chat", "--tenant", BAKERY]);
        if local_embeddings {
            cmd.env("CONCIERGE_LOCAL_EMBEDDING_MODEL", &dir);
        }
        // all-MiniLM-L6-v2 puts this at a cosine of 0.76 from the rule's "order a birthday or
        // celebration cake for a date" (the rule's threshold: 0.72).
        let o = run_with_stdin(cmd, b"I want to order a birthday cake for Saturday\n");
        assert_exit(&o, 0);
        stdout(&o)
    };
    let with = chat(true);
    assert!(with.contains("[rule celebration-cakes · AI"), "{with}");
    let without = chat(false);
    assert!(without.contains("[rule default · AI"), "{without}");
}

/// A fake OpenAI-compatible server: classifiers allow/approve, embeddings are constant, replies
/// end with a handoff when the customer complains.
fn fake_model() -> String {
    fake_model_with(true)
}

/// [`fake_model`], with embeddings or without (its `/embeddings` answers 404, as a provider
/// without an embedding model does). With a knowledge section in the prompt it answers as a
/// model that follows the house rules: citing the first passage, or "I don't know".
fn fake_model_with(embeddings: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim_end().is_empty() {
                    break;
                }
                if let Some((n, v)) = h.split_once(':') {
                    if n.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap();
                    }
                }
            }
            let mut raw = vec![0; length];
            reader.read_exact(&mut raw).unwrap();
            let body: Value = serde_json::from_slice(&raw).unwrap();
            if line.contains("/embeddings") && !embeddings {
                let mut stream = reader.into_inner();
                let _ = write!(
                    stream,
                    "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
                );
                continue;
            }
            let answer = if line.contains("/embeddings") {
                let n = body["input"].as_array().map_or(0, Vec::len);
                let data: Vec<Value> = (0..n)
                    .map(|i| serde_json::json!({ "index": i, "embedding": [1.0, 0.0, 0.0] }))
                    .collect();
                serde_json::json!({ "data": data })
            } else {
                let system = body["messages"][0]["content"].as_str().unwrap_or("");
                let user = body["messages"].as_array().unwrap().last().unwrap()["content"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                let content = if system.starts_with("You are a security filter") {
                    r#"{"verdict":"allow"}"#.to_owned()
                } else if system.starts_with("You review the persona") {
                    r#"{"verdict":"approve"}"#.to_owned()
                } else if system.starts_with("You keep the notes") {
                    "Notes: the customer is Priya and wants a cake.".to_owned()
                } else if user.contains("complaint") {
                    "Sorry! Someone will call you. [[HANDOFF]]".to_owned()
                } else if system.contains("BEGIN KNOWLEDGE\n") {
                    if system.contains("(No passage of the business's documents answers") {
                        "I don't know that, sorry. Shall I ask the team?".to_owned()
                    } else {
                        format!("Real model answering: {user} [1]")
                    }
                } else {
                    format!("Real model answering: {user}")
                };
                serde_json::json!({ "choices": [{ "message": { "role": "assistant", "content": content } }] })
            };
            let text = answer.to_string();
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    url
}

#[test]
fn chat_shows_the_rolling_summary_past_the_history_cap() {
    let url = fake_model();
    let dir = tempfile::tempdir().unwrap();
    let tenant = dir.path().join("short-memory.toml");
    let toml = std::fs::read_to_string(path(REPLAY_TENANT)).unwrap();
    std::fs::write(
        &tenant,
        format!("{toml}\n[conversation]\nmax_history_messages = 2\n"),
    )
    .unwrap();
    let mut cmd = concierge();
    cmd.env("CONCIERGE_AI_URL", &url)
        .args(["chat", "--tenant", tenant.to_str().unwrap()]);
    let o = run_with_stdin(
        cmd,
        b"my name is Priya\nI want a cake\nfor Sunday\n/session\n",
    );
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains("bot: Real model answering: for Sunday"),
        "{out}"
    );
    assert!(out.contains("summary (5 older turns, updated"), "{out}");
    assert!(
        out.contains("Notes: the customer is Priya and wants a cake."),
        "{out}"
    );
}

#[test]
fn chat_with_an_openai_compatible_model() {
    let url = fake_model();
    let mut cmd = concierge();
    cmd.env("CONCIERGE_AI_URL", &url)
        .env("CONCIERGE_AI_KEY", "sk-test")
        .args(["chat", "--tenant", BAKERY]);
    let o = run_with_stdin(
        cmd,
        b"do you have croissants?\nI have a complaint\nhello?\n",
    );
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("persona: approved"), "{out}");
    assert!(
        out.contains("bot: Real model answering: do you have croissants?"),
        "{out}"
    );
    assert!(out.contains("· AI · charged 1 · credits 499 INR"), "{out}");
    assert!(
        out.contains("bot: Sorry! Someone will call you.\n"),
        "{out}"
    );
    assert!(out.contains("(owner paged)"), "{out}");
    assert!(out.contains("AI, holding pattern"), "{out}");
}

#[test]
fn a_spec_can_run_on_a_real_model() {
    let url = fake_model();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("real.yaml");
    std::fs::write(
        &spec,
        format!(
            "tenant: {}\nai: real\nsteps:\n  - say: got rye bread?\n  - advance: 3s\n    expect: {{ reply_contains: rye bread, charge: 1, rule: celebration-cakes, prompt_contains: 48 hours' notice }}\n",
            path(BAKERY)
        ),
    )
    .unwrap();
    let mut cmd = concierge();
    cmd.env("CONCIERGE_AI_URL", &url)
        .args(["test", spec.to_str().unwrap()]);
    let o = cmd.output().unwrap();
    assert_exit(&o, 0);
    // Without the URL, `ai: real` is bad input.
    // (Every text embeds the same with this fake, so the intent rule matches: the rules were
    // embedded again by the real model, not the scripted one.)
    let o = run(&["test", spec.to_str().unwrap()]);
    assert_exit(&o, 2);
    assert!(stdout(&o).contains("CONCIERGE_AI_URL"), "{}", stdout(&o));
}

fn fixture(rel: &str) -> String {
    path(&format!("concierge-core/tests/fixtures/{rel}"))
}

fn replay(channel: &str, payload: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "replay",
        "--tenant",
        REPLAY_TENANT,
        "--channel",
        channel,
        payload,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

fn meta_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[test]
fn replay_whatsapp_with_and_without_a_valid_signature() {
    let payload = fixture("whatsapp/text.json");
    let body = std::fs::read(&payload).unwrap();
    let sig = format!(
        "X-Hub-Signature-256: {}",
        meta_signature("app-secret", &body)
    );
    let o = replay(
        "whatsapp",
        &payload,
        &[
            "--secret",
            "app-secret",
            "--header",
            &sig,
            "--ai-reply",
            "Yes, in blue too!",
        ],
    );
    assert_exit(&o, 0);
    let v = json_of(&o);
    assert_eq!(v["signature"], "verified");
    assert_eq!(v["tenant"], "fixture-bakery");
    let event = &v["events"][0];
    assert_eq!(event["event"], "message");
    assert_eq!(event["outcome"]["outcome"], "turn");
    assert_eq!(event["turns"][0]["reply"]["kind"], "ai");
    assert_eq!(event["charged"], "1");
    let request = &event["sent"][0]["wire"]["requests"][0];
    assert_eq!(request["path"], "/v21.0/106540352242922/messages");
    assert_eq!(request["body"]["text"]["body"], "Yes, in blue too!");

    // Without a model the AI rule cannot answer: still handled.
    let o = replay("whatsapp", &payload, &[]);
    assert_exit(&o, 0);
    assert_eq!(json_of(&o)["signature"], "not checked (no --secret)");

    let bad = "X-Hub-Signature-256: sha256=00";
    let err = assert_one_line_error(
        &replay(
            "whatsapp",
            &payload,
            &["--secret", "app-secret", "--header", bad],
        ),
        2,
    );
    assert!(err.contains("signature does not match"), "{err}");
    let err = assert_one_line_error(
        &replay("whatsapp", &payload, &["--secret", "app-secret"]),
        2,
    );
    assert!(
        err.contains("missing signature header `X-Hub-Signature-256`"),
        "{err}"
    );
    let err = assert_one_line_error(&replay("whatsapp", &payload, &["--header", "no colon"]), 2);
    assert!(err.contains("--header"), "{err}");
}

#[test]
fn replay_instagram_discord_and_email() {
    let o = replay("instagram", &fixture("instagram/text.json"), &[]);
    assert_exit(&o, 0);
    let v = json_of(&o);
    assert_eq!(
        v["events"][0]["turns"][0]["reply"]["text"],
        "Thanks for your DM! We'll reply soon."
    );
    assert_eq!(
        v["events"][0]["sent"][0]["wire"]["requests"][0]["path"],
        "/v21.0/me/messages"
    );

    // A Discord event signed with the application's key.
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let public = hex::encode(key.verifying_key().to_bytes());
    let payload = fixture("discord/event_message_trigger_channel.json");
    let body = std::fs::read(&payload).unwrap();
    let ts = "1755194978";
    let mut signed = ts.as_bytes().to_vec();
    signed.extend_from_slice(&body);
    let sig = hex::encode(key.sign(&signed).to_bytes());
    let (h_sig, h_ts) = (
        format!("X-Signature-Ed25519: {sig}"),
        format!("X-Signature-Timestamp: {ts}"),
    );
    let o = replay(
        "discord-event",
        &payload,
        &[
            "--secret", &public, "--header", &h_sig, "--header", &h_ts, "--now", ts,
        ],
    );
    assert_exit(&o, 0);
    let v = json_of(&o);
    assert_eq!(v["signature"], "verified");
    assert_eq!(
        v["events"][0]["turns"][0]["reply"]["text"],
        "Hi from the bakery bot!"
    );
    assert!(v["events"][0]["sent"][0]["wire"]["requests"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("/channels/1345046959593095214/messages"));
    // The same request an hour later is a replay: rejected.
    let late = (ts.parse::<i64>().unwrap() + 3600).to_string();
    let err = assert_one_line_error(
        &replay(
            "discord-event",
            &payload,
            &[
                "--secret", &public, "--header", &h_sig, "--header", &h_ts, "--now", &late,
            ],
        ),
        2,
    );
    assert!(err.contains("replay window"), "{err}");

    let o = replay(
        "discord-interaction",
        &fixture("discord/interaction_ping.json"),
        &[],
    );
    assert_exit(&o, 0);
    assert_eq!(json_of(&o)["events"][0]["response"]["type"], 1);
    // Slash commands get the engine's answer, as on the server and the Worker.
    let o = replay(
        "discord-interaction",
        &fixture("discord/interaction_status.json"),
        &[],
    );
    assert_exit(&o, 0);
    let status = &json_of(&o)["events"][0]["response"];
    assert_eq!(status["data"]["flags"], 64, "{status}");
    assert!(
        status["data"]["content"]
            .as_str()
            .unwrap()
            .contains("**Fixture Bakery**"),
        "{status}"
    );

    let o = replay("email", &fixture("email/gmail_alternative.eml"), &[]);
    assert_exit(&o, 0);
    let v = json_of(&o);
    assert_eq!(v["events"][0]["outcome"]["outcome"], "answered");
    assert_eq!(v["events"][0]["outcome"]["inbound"]["outcome"], "turn");
    assert!(v["events"][0]["sent"][0]["wire"]["raw"]
        .as_str()
        .unwrap()
        .contains("Thanks for your email"));
    let o = replay("email", &fixture("email/auto_replied.eml"), &[]);
    assert_exit(&o, 0);
    assert_eq!(
        json_of(&o)["events"][0]["outcome"]["outcome"],
        "not_answered"
    );
}

#[test]
fn replay_never_panics_on_any_fixture_or_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let garbage: [(&str, &[u8]); 5] = [
        ("empty", b""),
        ("not-json", b"{{{"),
        ("wrong-object", br#"{"object":"page","entry":[]}"#),
        ("binary", &[0xff, 0xfe, 0x00, 0x01]),
        ("deep", br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{}}]}]}"#),
    ];
    let mut payloads: Vec<String> = Vec::new();
    for (name, bytes) in garbage {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        payloads.push(p.display().to_string());
    }
    for sub in ["whatsapp", "instagram", "discord", "email"] {
        for entry in
            std::fs::read_dir(root().join("concierge-core/tests/fixtures").join(sub)).unwrap()
        {
            payloads.push(entry.unwrap().path().display().to_string());
        }
    }
    let channels = [
        "whatsapp",
        "instagram",
        "discord-event",
        "discord-interaction",
        "email",
    ];
    for payload in &payloads {
        for channel in channels {
            let o = replay(channel, payload, &[]);
            let code = o.status.code();
            assert!(
                matches!(code, Some(0 | 2)),
                "{channel} {payload}: {code:?} {}",
                stderr(&o)
            );
            assert!(
                !stderr(&o).contains("internal error"),
                "{channel} {payload}: {}",
                stderr(&o)
            );
            if code == Some(0) {
                json_of(&o);
            } else {
                assert_eq!(stderr(&o).trim_end().lines().count(), 1, "{}", stderr(&o));
            }
        }
    }
}

/// `concierge kb search --tenant BAKERY --json QUESTION`, which must succeed, as JSON.
fn kb_search_json(question: &str) -> Value {
    let o = run(&["kb", "search", "--tenant", BAKERY, "--json", question]);
    assert_exit(&o, 0);
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
fn kb_search_finds_the_bakerys_passages_and_nothing_for_what_it_does_not_sell() {
    let v = kb_search_json("Do you have eggless cakes?");
    let results = v["results"].as_array().unwrap();
    assert!(!results.is_empty() && results.len() <= 5, "{v}");
    assert_eq!(results[0]["source"], "faq.md");
    assert_eq!(
        results[0]["heading"],
        "Sunrise Bakery: questions customers ask > Cakes > Eggless cakes"
    );
    assert!(results[0]["text"]
        .as_str()
        .unwrap()
        .contains("can be made eggless"));
    assert!(results[0]["score"].as_f64().unwrap() > 0.0);

    let v = kb_search_json("how much is the sourdough");
    assert_eq!(v["results"][0]["source"], "menu.csv", "{v}");
    assert!(
        v["results"][0]["text"].as_str().unwrap().contains("₹180"),
        "{v}"
    );

    let v = kb_search_json("do you sell pizza");
    assert_eq!(v["results"], serde_json::json!([]), "{v}");

    let o = run(&[
        "kb",
        "search",
        "--tenant",
        BAKERY,
        "-k",
        "1",
        "delivery charges",
    ]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.starts_with("1. faq.md > "), "{out}");
    assert!(!out.contains("\n2. "), "{out}");
}

#[test]
fn kb_search_refuses_a_tenant_without_documents_or_with_a_broken_one() {
    let o = run(&["kb", "search", "--tenant", CLINIC, "opening hours"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("[knowledge] paths"), "{}", stderr(&o));

    let dir = tempfile::tempdir().unwrap();
    let tenant = std::fs::read_to_string(root().join(BAKERY))
        .unwrap()
        .replace("paths = [\"sunrise-bakery-kb/\"]", "paths = [\"kb/\"]");
    std::fs::write(dir.path().join("t.toml"), tenant).unwrap();
    let t = dir.path().join("t.toml").display().to_string();
    let o = run(&["kb", "search", "--tenant", &t, "cakes"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("knowledge.paths[0]"), "{}", stderr(&o));

    std::fs::create_dir(dir.path().join("kb")).unwrap();
    std::fs::write(
        dir.path().join("kb/menu.csv"),
        b"Item,Price\n\0\x01\x02binary",
    )
    .unwrap();
    std::fs::write(dir.path().join("kb/photo.png"), b"\x89PNG").unwrap();
    let o = run(&["kb", "search", "--tenant", &t, "cakes"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("menu.csv"), "{}", stderr(&o));
}

/// `concierge ask --tenant BAKERY --json QUESTION` against a model without embeddings.
fn ask_json(question: &str, extra_env: &[(&str, &str)]) -> Value {
    let url = fake_model_with(false);
    let mut cmd = concierge();
    cmd.env("CONCIERGE_AI_URL", &url)
        .args(["ask", "--tenant", BAKERY, "--json", question]);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    assert_exit(&o, 0);
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
fn ask_answers_from_the_knowledge_base_and_cites_it() {
    let v = ask_json("Do you have eggless cakes?", &[]);
    assert_eq!(
        v["reply"], "Real model answering: Do you have eggless cakes?",
        "{v}"
    );
    assert_eq!(
        v["citations"],
        serde_json::json!([{
            "source": "faq.md",
            "heading": "Sunrise Bakery: questions customers ask > Cakes > Eggless cakes"
        }])
    );
    assert_eq!(v["grounded"], true);
    assert_eq!(v["handoff"], false);
}

#[test]
fn ask_says_it_does_not_know_what_the_documents_do_not_say() {
    let v = ask_json("Do you sell pizza?", &[]);
    assert_eq!(
        v["reply"], "I don't know that, sorry. Shall I ask the team?",
        "{v}"
    );
    assert_eq!(v["grounded"], false);
    assert_eq!(v["citations"], serde_json::json!([]));
    // Strict grounding does not ask the model at all.
    let v = ask_json("Do you sell pizza?", &[("CONCIERGE_STRICT_GROUNDING", "1")]);
    assert!(
        v["reply"]
            .as_str()
            .unwrap()
            .starts_with("I'm sorry, I don't know that"),
        "{v}"
    );
    assert_eq!(v["note"], "unknown");
}

#[test]
fn prompt_shows_the_passages_a_question_finds() {
    let o = run(&[
        "prompt",
        "--tenant",
        BAKERY,
        "--question",
        "Do you have eggless cakes?",
    ]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("BEGIN KNOWLEDGE\n"), "{out}");
    assert!(
        out.contains("[1] faq.md > Sunrise Bakery: questions customers ask > Cakes > Eggless cakes\nEvery cake"),
        "{out}"
    );
    let o = run(&["prompt", "--tenant", BAKERY]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("(No passage of the business's documents answers"));
    let o = run(&["prompt", "--tenant", CLINIC]);
    assert!(
        !stdout(&o).contains("BEGIN KNOWLEDGE"),
        "no documents, no section"
    );
}

#[test]
fn prompt_shows_the_compact_envelope_a_small_model_gets() {
    // CONCIERGE_COMPACT_PROMPT=1 is what the offline model turns on: `prompt` shows what the
    // engine would send, passages and all.
    let o = concierge()
        .env("CONCIERGE_COMPACT_PROMPT", "1")
        .args([
            "prompt",
            "--tenant",
            BAKERY,
            "--question",
            "Do you have eggless cakes?",
        ])
        .output()
        .unwrap();
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.starts_with("You are the chat assistant of a small business"),
        "{out}"
    );
    assert!(out.contains("BEGIN BUSINESS PERSONA\nYou are Asha, the assistant of Sunrise Bakery"));
    assert!(
        out.contains("\n[1] Eggless cakes: Every cake on our menu can be made eggless"),
        "{out}"
    );
    assert!(!out.contains("House rules"), "{out}");
    assert!(out
        .trim_end()
        .ends_with("offer to connect the customer with a team member."));
    let full = run(&[
        "prompt",
        "--tenant",
        BAKERY,
        "--question",
        "Do you have eggless cakes?",
    ]);
    assert!(
        stdout(&full).len() * 4 > out.len() * 5,
        "the compact one is shorter (the same five passages, cut and on one line each)"
    );
}

/// A tiny evaluation set on the bakery: two answerable questions (one the keywords find first,
/// one they miss) and two unanswerable ones (one refused, one that finds a passage).
const BAKERY_EVAL: &str = r#"{"q":"Do you have eggless cakes?","source":"faq.md","heading":"Cakes > Eggless cakes","must_contain":[["eggless"],["cakes","cake"]],"answerable":true}
{"q":"Can I get a cake without eggs?","source":"faq.md","heading":"Eggless cakes","must_contain":[["eggless"]],"answerable":true}

{"q":"Do you sell pizza?","answerable":false}
{"q":"Do you deliver pizza?","answerable":false}
"#;

fn eval_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("questions.jsonl");
    std::fs::write(&file, text).unwrap();
    let file = file.display().to_string();
    (dir, file)
}

#[test]
fn kb_eval_scores_retrieval_by_keywords_without_a_model() {
    let (_dir, file) = eval_file(BAKERY_EVAL);
    let o = run(&["kb", "eval", "--tenant", BAKERY, "--json", &file]);
    assert_exit(&o, 0);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (v["questions"].as_u64(), v["answerable"].as_u64()),
        (Some(4), Some(2))
    );
    // "without eggs" shares no keyword with "eggless": rank 1 and a miss.
    assert_eq!(v["results"][0]["rank"], 1, "{v}");
    assert_eq!(v["results"][1]["rank"], Value::Null, "{v}");
    assert_eq!(v["results"][2]["line"], 4, "blank lines keep the numbering");
    assert_eq!(v["hit_at_1"], 0.5);
    assert_eq!(v["hit_at_5"], 0.5);
    assert_eq!(v["mrr"], 0.5);
    assert_eq!(v["answer_accuracy"], Value::Null);
    // Without a model a refusal is a search that finds nothing: "pizza" alone finds nothing,
    // "deliver" finds the delivery passage.
    assert_eq!(v["refusal_basis"], "retrieval");
    assert_eq!(v["results"][2]["refused"], true, "{v}");
    assert_eq!(v["results"][3]["refused"], false, "{v}");
    assert_eq!(v["refusal_accuracy"], 0.5);
    assert_eq!(v["ingest"]["documents"], 2);
    assert!(v["ingest"]["chunks"].as_u64().unwrap() > 2, "{v}");

    // A floor that is not met fails the run (exit 1), naming the metric; one that is, passes.
    let o = run(&[
        "kb",
        "eval",
        "--tenant",
        BAKERY,
        "--min-hit-at-5",
        "0.9",
        &file,
    ]);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("hit_at_5 0.500 < 0.9"),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains("hit@1 0.50  hit@5 0.50  MRR 0.50"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("line 2: \"Can I get a cake without eggs?\": not in the top 5"));
    let o = run(&[
        "kb",
        "eval",
        "--tenant",
        BAKERY,
        "--min-hit-at-5",
        "0.5",
        &file,
    ]);
    assert_exit(&o, 0);
}

#[test]
fn kb_eval_scores_the_replies_of_the_configured_model() {
    let (_dir, file) = eval_file(BAKERY_EVAL);
    let url = fake_model_with(false);
    let mut cmd = concierge();
    cmd.env("CONCIERGE_AI_URL", &url)
        .args(["kb", "eval", "--tenant", BAKERY, "--json", &file]);
    let o = cmd.output().unwrap();
    assert_exit(&o, 0);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    // The fake cites passage 1 and echoes the question: the first reply has "eggless" and
    // "cakes"; the second's passages are other cakes, and its reply does not say "eggless".
    assert_eq!(v["results"][0]["correct"], true, "{v}");
    assert_eq!(v["results"][1]["correct"], false, "{v}");
    assert_eq!(v["answer_accuracy"], 0.5);
    // Refusals are the engine's: the "I don't know" reply is not grounded; the pizza delivery
    // reply cites the delivery passage, so it counts as answered.
    assert_eq!(v["refusal_basis"], "reply");
    assert_eq!(v["results"][2]["refused"], true, "{v}");
    assert_eq!(v["results"][3]["refused"], false, "{v}");
    assert_eq!(v["refusal_accuracy"], 0.5);
    assert!(v["latency_ms"]["reply"]["p50"].as_f64().is_some(), "{v}");

    let mut cmd = concierge();
    cmd.env("CONCIERGE_AI_URL", &url).args([
        "kb",
        "eval",
        "--tenant",
        BAKERY,
        "--min-answer-accuracy",
        "0.7",
        &file,
    ]);
    let o = cmd.output().unwrap();
    assert_exit(&o, 1);
    assert!(
        stdout(&o).contains("answers     accuracy 0.50 (1/2)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn kb_eval_refuses_bad_input_with_file_and_line() {
    let eval = |tenant: &str, file: &str, extra: &[&str]| {
        let mut args = vec!["kb", "eval", "--tenant", tenant, file];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert_one_line_error(&o, 2)
    };
    let err = eval(BAKERY, "no/such/questions.jsonl", &[]);
    assert!(err.contains("no/such/questions.jsonl"), "{err}");

    let (_d, file) = eval_file("{\"q\":\"hours\",\"answerable\":false}\n{\"q\": \"cakes\"\n");
    let err = eval(BAKERY, &file, &[]);
    assert!(err.contains("questions.jsonl:2: "), "{err}");

    let (_d, file) = eval_file("{\"q\":\"hours\",\"answerable\":false,\"expected\":\"x\"}\n");
    let err = eval(BAKERY, &file, &[]);
    assert!(err.contains(":1: unknown field `expected`"), "{err}");

    let (_d, file) = eval_file("\n\n");
    let err = eval(BAKERY, &file, &[]);
    assert!(err.contains("no questions"), "{err}");

    let (_d, file) = eval_file(BAKERY_EVAL);
    let err = eval(CLINIC, &file, &[]);
    assert!(err.contains("[knowledge] paths"), "{err}");
    let err = eval(BAKERY, &file, &["--min-hit-at-5", "90"]);
    assert!(err.contains("between 0 and 1"), "{err}");
    let err = eval(BAKERY, &file, &["--min-answer-accuracy", "0.7"]);
    assert!(err.contains("needs a model"), "{err}");
}
