//! The reply buffer's window runs from when the adapter acknowledged each message, not from
//! when a worker processed it: a backlog or a restart between the two changes neither what is
//! batched nor when the reply is due.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use concierge_core::engine::{InboundOutcome, TurnReport};
use concierge_core::ports::{OutboundBody, Purpose};
use concierge_core::testing::{Harness, ScriptedFailure, Step, EXAMPLE_TENANT};
use concierge_core::time::{Span, Timestamp};
use futures::executor::block_on;
use proptest::prelude::*;

/// The example bakery with a reply buffer of `seconds`.
fn bakery_with_buffer(seconds: u32) -> String {
    EXAMPLE_TENANT.replace(
        "default_rule = { kind = \"prompt\", text = \"Answer briefly.\" }",
        &format!(
            "default_rule = {{ kind = \"prompt\", text = \"Answer briefly.\" }}\nwait_seconds = {seconds}"
        ),
    )
}

/// The bakery answering everything with a free canned text, so any number of turns is free.
fn canned_bakery_with_buffer(seconds: u32) -> String {
    EXAMPLE_TENANT.replace(
        "default_rule = { kind = \"prompt\", text = \"Answer briefly.\" }",
        &format!(
            "default_rule = {{ kind = \"canned\", text = \"Thanks, we got it.\" }}\nwait_seconds = {seconds}"
        ),
    )
}

fn secs(s: i64) -> Span {
    Span::seconds(s)
}

/// The provider id each reply to the customer quotes, in send order.
fn quoted(step: &Step) -> Vec<String> {
    step.sent
        .iter()
        .filter(|m| m.purpose == Purpose::Reply && m.to == step.customer())
        .map(|m| match &m.body {
            OutboundBody::Text { reply_to, .. } => reply_to.clone().unwrap_or_default(),
            other => panic!("unexpected reply body {other:?}"),
        })
        .collect()
}

/// The batches answered, as provider ids, in turn order.
fn batches(turns: &[TurnReport]) -> Vec<Vec<String>> {
    turns.iter().map(|t| t.answered.clone()).collect()
}

#[test]
fn two_bursts_acked_30_s_apart_get_two_replies_even_when_processed_back_to_back_after_a_backlog() {
    let mut h = Harness::new(&bakery_with_buffer(5));
    let t0 = h.now();
    let burst = vec![
        h.message_acked_at("hi", t0),
        h.message_acked_at("do you have cakes?", t0 + secs(2)),
        h.message_acked_at("and cupcakes for a party?", t0 + secs(30)),
        h.message_acked_at("for 20 people", t0 + secs(31)),
    ];
    let ids: Vec<String> = burst.iter().map(|m| m.provider_id.clone()).collect();
    // The worker was a minute behind: everything runs now, back to back.
    h.advance("60s").expect_no_reply();
    let step = h.deliver_backlog(burst);

    assert_eq!(
        step.replies(),
        [
            "AI reply to: hi\ndo you have cakes?",
            "AI reply to: and cupcakes for a party?\nfor 20 people"
        ],
        "one reply per burst: {step:#?}"
    );
    assert_eq!(quoted(&step), [ids[1].clone(), ids[3].clone()]);
    assert_eq!(batches(&step.turns), [ids[..2].to_vec(), ids[2..].to_vec()]);
    step.expect_charge("2");
    h.expect_balance("8");
    h.advance("1h").expect_no_reply();
}

#[test]
fn a_burst_acked_within_the_window_but_processed_late_gets_one_reply() {
    let mut h = Harness::new(&bakery_with_buffer(5));
    let t0 = h.now();
    let burst = vec![
        h.message_acked_at("hi", t0),
        h.message_acked_at("do you have", t0 + secs(3)),
        h.message_acked_at("cakes?", t0 + secs(7)),
    ];
    // Processed long after the window closed, one minute apart from each other's processing
    // no less: what counts is that they were acknowledged less than 5 s apart.
    h.advance("60s");
    let step = h.deliver_backlog(burst);
    step.expect_reply("AI reply to: hi\ndo you have\ncakes?")
        .expect_charge("1");
    assert_eq!(step.turns.len(), 1);
    h.advance("1h").expect_no_reply();
}

#[test]
fn the_reply_is_due_a_window_after_the_last_acknowledgement_not_after_processing() {
    let mut h = Harness::new(&bakery_with_buffer(5));
    let t0 = h.now();
    let burst = vec![
        h.message_acked_at("hi", t0),
        h.message_acked_at("do you have cakes?", t0 + secs(3)),
    ];
    // Processed 1 s after the last acknowledgement: due at t0 + 8 s, not at t0 + 9 s.
    h.advance("4s");
    let step = h.deliver_backlog(burst);
    step.expect_buffered().expect_no_reply();
    assert!(matches!(
        step.inbound,
        Some(InboundOutcome::Buffered { until, .. }) if until == t0 + secs(8)
    ));
    h.advance("3999ms").expect_no_reply();
    h.advance("1ms")
        .expect_reply("AI reply to: hi\ndo you have cakes?");
}

#[test]
fn without_an_acknowledgement_time_the_window_runs_from_processing_as_before() {
    let mut h = Harness::new(&bakery_with_buffer(5));
    // Messages without an ack time that queued up and run back to back count as arriving now:
    // one batch, due a window after they are processed.
    h.advance("60s");
    let burst = vec![h.message("hi"), h.message("do you have cakes?")];
    assert!(burst.iter().all(|m| m.acked_at.is_none()));
    h.deliver_backlog(burst).expect_buffered().expect_no_reply();
    h.advance("4s").expect_no_reply();
    h.advance("1s")
        .expect_reply("AI reply to: hi\ndo you have cakes?")
        .expect_charge("1");
    // And live, message by message, bursts behave as they always did.
    h.says("one more thing");
    h.advance("3s").expect_no_reply();
    h.says("is there parking?");
    h.advance("4s").expect_no_reply();
    h.advance("1s")
        .expect_reply("AI reply to: one more thing\nis there parking?");
}

#[test]
fn a_message_acked_after_the_deadline_closes_the_waiting_batch_even_before_its_flush_runs() {
    let mut h = Harness::new(&bakery_with_buffer(5));
    let t0 = h.now();
    let first = h.message_acked_at("hi, do you have cakes?", t0);
    let second = h.message_acked_at("and cupcakes?", t0 + secs(30));
    let (first_id, second_id) = (first.provider_id.clone(), second.provider_id.clone());
    h.advance("60s");
    // The adapter runs the second message before the first batch's flush job (a flush that
    // failed and waits for its retry, or a runtime that wakes the alarm late).
    let outcome = block_on(h.engine.handle_inbound(first)).unwrap();
    assert!(matches!(
        outcome,
        InboundOutcome::Buffered { closed: None, .. }
    ));
    assert!(h.outbound.sent().is_empty());
    let outcome = block_on(h.engine.handle_inbound(second)).unwrap();
    let InboundOutcome::Buffered {
        closed: Some(turn),
        until,
        ..
    } = outcome
    else {
        panic!("expected the first batch closed: {outcome:?}")
    };
    assert_eq!(turn.answered, [first_id]);
    assert_eq!(until, t0 + secs(35));
    // The flush then answers the second batch on its own.
    let step = h.run_due_jobs();
    step.expect_reply("AI reply to: and cupcakes?");
    assert_eq!(quoted(&step), [second_id]);
    let replies: Vec<_> = h.outbound.sent().into_iter().map(|m| m.key).collect();
    assert_eq!(replies.len(), 2, "{replies:?}");
    h.expect_balance("8");
    assert_eq!(
        h.session().unwrap().history().len(),
        4,
        "two user turns, two replies"
    );
}

#[test]
fn a_failed_turn_for_the_closed_batch_keeps_both_messages_for_the_retry() {
    let mut h = Harness::new(&bakery_with_buffer(5));
    let t0 = h.now();
    let first = h.message_acked_at("hi, do you have cakes?", t0);
    let second = h.message_acked_at("and cupcakes?", t0 + secs(30));
    h.advance("60s");
    block_on(h.engine.process_inbound(first)).unwrap();
    h.ai.fail_next_reply(ScriptedFailure::Timeout);
    let err = block_on(h.engine.process_inbound(second.clone())).unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(h.outbound.sent().is_empty());
    h.expect_balance("10");
    assert_eq!(
        h.session().unwrap().buffer().pending.len(),
        1,
        "nothing saved for the failed message"
    );
    // The job is retried: the first batch is answered, then the second, each once.
    block_on(h.engine.process_inbound(second)).unwrap();
    let step = h.run_due_jobs();
    step.expect_reply("AI reply to: and cupcakes?");
    assert_eq!(h.outbound.sent().len(), 2);
    h.expect_balance("8");
}

#[test]
fn a_job_retried_after_its_message_was_answered_does_not_answer_it_again() {
    let mut h = Harness::new(&bakery_with_buffer(5));
    let t0 = h.now();
    let a = h.message_acked_at("hi", t0);
    let b = h.message_acked_at("do you have cakes?", t0 + secs(1));
    h.advance("60s");
    // The server's path: ingress already deduplicated, so jobs call `process_inbound`.
    block_on(h.engine.process_inbound(a.clone())).unwrap();
    // A crash before the job was marked done: the retry runs the same message again while it
    // waits — the window does not move.
    let retried = block_on(h.engine.process_inbound(a.clone())).unwrap();
    assert!(matches!(
        retried,
        InboundOutcome::Buffered { until, closed: None, .. } if until == t0 + secs(5)
    ));
    block_on(h.engine.process_inbound(b.clone())).unwrap();
    h.run_due_jobs()
        .expect_reply("AI reply to: hi\ndo you have cakes?")
        .expect_charge("1");
    // The flush ran first; then the retried jobs of both messages run: nothing happens.
    for m in [a, b] {
        let outcome = block_on(h.engine.process_inbound(m)).unwrap();
        assert_eq!(outcome, InboundOutcome::Duplicate);
    }
    h.advance("1h").expect_no_reply().expect_free();
    assert_eq!(h.outbound.sent().len(), 1);
    h.expect_balance("9");
}

#[test]
fn an_idle_gap_is_measured_between_acknowledgements() {
    let mut h = Harness::new(&bakery_with_buffer(5));
    let t0 = h.now();
    let before = h.message_acked_at("hi", t0);
    let after = h.message_acked_at("hello again", t0 + Span::minutes(361));
    // Both processed back to back after a long outage: still two conversations.
    h.advance("362m");
    let step = h.deliver_backlog(vec![before, after]);
    assert_eq!(step.turns.len(), 2);
    assert!(
        step.turns[1].new_conversation,
        "361 minutes apart is past the default 6-hour idle gap"
    );
    assert_ne!(step.turns[0].conversation_id, step.turns[1].conversation_id);
    assert_eq!(
        h.session().unwrap().history().len(),
        2,
        "the new conversation starts empty"
    );
}

#[test]
fn an_acknowledgement_in_the_future_counts_as_now() {
    let mut h = Harness::new(&bakery_with_buffer(5));
    let now = h.now();
    // Another machine's clock runs an hour ahead.
    let skewed = h.message_acked_at("hi", now + Span::hours(1));
    let step = h.deliver_backlog(vec![skewed]);
    assert!(matches!(
        step.inbound,
        Some(InboundOutcome::Buffered { until, .. }) if until == now + secs(5)
    ));
    h.advance("5s").expect_reply("AI reply to: hi");
}

/// How a generated conversation is processed.
#[derive(Clone, Debug)]
struct Schedule {
    /// Milliseconds between consecutive acknowledgements.
    gaps: Vec<i64>,
    /// The buffer window in seconds.
    wait: u32,
    /// For each message: whether it ends a chunk the worker picks up at once, and how far behind
    /// the chunk's last acknowledgement the worker then is (milliseconds; it catches up before
    /// the next message is acknowledged).
    chunks: Vec<(bool, i64)>,
    /// Whether the adapter gives acknowledgement times; without, messages are delivered live.
    acked: bool,
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (1usize..14, 1u32..8).prop_flat_map(|(n, wait)| {
        (
            proptest::collection::vec(prop_oneof![0i64..(i64::from(wait) * 1000), 0i64..20_000], n),
            Just(wait),
            proptest::collection::vec((any::<bool>(), 0i64..60_000), n),
            prop_oneof![4 => Just(true), 1 => Just(false)],
        )
            .prop_map(|(gaps, wait, chunks, acked)| Schedule {
                gaps,
                wait,
                chunks,
                acked,
            })
    })
}

/// The simple truth: a new batch starts wherever a message was acknowledged at least a window
/// after the previous one.
fn oracle(acks: &[Timestamp], wait: Span) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (i, at) in acks.iter().enumerate() {
        match out.last_mut() {
            Some(batch) if at.since(acks[i - 1]) < wait => batch.push(i),
            _ => out.push(vec![i]),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    /// Whatever the backlog, every batch is a run of messages acknowledged less than a window
    /// apart, and gets exactly one reply quoting its last message.
    #[test]
    fn batches_follow_acknowledgement_gaps_whatever_the_backlog(s in schedule()) {
        let mut h = Harness::new(&canned_bakery_with_buffer(s.wait));
        let wait = Span::seconds(i64::from(s.wait));
        let t0 = h.now() + secs(1);
        let mut acks = Vec::new();
        let mut at = t0;
        for g in &s.gaps {
            at = at + Span::millis(*g);
            acks.push(at);
        }
        let mut messages = Vec::new();
        for (i, at) in acks.iter().enumerate() {
            let text = format!("question {i}");
            messages.push(if s.acked { h.message_acked_at(&text, *at) } else { h.message(&text) });
        }
        let ids: Vec<String> = messages.iter().map(|m| m.provider_id.clone()).collect();
        let mut turns = Vec::new();
        let mut sent = Vec::new();
        let mut keep = |step: Step| {
            sent.extend(quoted(&step));
            turns.extend(step.turns);
        };
        if s.acked {
            // Chunks of messages picked up by a worker that is behind by a random lag.
            let mut chunk = Vec::new();
            for (i, message) in messages.into_iter().enumerate() {
                chunk.push(message);
                let (ends, lag) = s.chunks[i];
                // The worker runs the chunk at `run_at`, when everything acknowledged so far is
                // in it (a backlog is all that queued up): before the next acknowledgement.
                let run_at = match acks.get(i + 1) {
                    None => acks[i] + Span::millis(lag),
                    Some(next) if ends && *next > acks[i] => {
                        (acks[i] + Span::millis(lag)).min(*next - Span::millis(1))
                    }
                    Some(_) => continue,
                };
                let first = chunk[0].acked_at.unwrap();
                if h.now() < first {
                    // Idle until the chunk's first message: due flushes run at their time.
                    keep(h.advance(&format!("{}ms", first.since(h.now()).as_millis())));
                }
                h.clock.set(run_at);
                keep(h.deliver_backlog(std::mem::take(&mut chunk)));
            }
        } else {
            // No acknowledgement times: delivered live, at the times they were sent.
            for (i, message) in messages.into_iter().enumerate() {
                if h.now() < acks[i] {
                    keep(h.advance(&format!("{}ms", acks[i].since(h.now()).as_millis())));
                }
                keep(h.deliver(message));
            }
        }
        keep(h.advance("1h"));

        let expected: Vec<Vec<String>> = oracle(&acks, wait)
            .into_iter()
            .map(|batch| batch.into_iter().map(|i| ids[i].clone()).collect())
            .collect();
        prop_assert_eq!(batches(&turns), expected.clone());
        let last_of_each: Vec<String> = expected.iter().map(|b| b.last().unwrap().clone()).collect();
        prop_assert_eq!(sent, last_of_each, "one reply per batch, quoting its last message");
    }
}

#[test]
fn payloads_stored_before_the_ack_time_existed_still_parse() {
    let mut h = Harness::new(&bakery_with_buffer(5));
    let plain = h.message("hi");
    let json = serde_json::to_value(&plain).unwrap();
    assert!(
        json.get("acked_at").is_none(),
        "no ack time, no field: {json}"
    );
    let back: concierge_core::channels::InboundMessage = serde_json::from_value(json).unwrap();
    assert_eq!(back, plain);
    let acked = h.message_acked_at("hi", Timestamp::from_millis(1_767_258_000_123));
    let json = serde_json::to_value(&acked).unwrap();
    assert_eq!(json["acked_at"], 1_767_258_000_123_i64);
}
