//! Memory past the history cap: a long conversation's older turns are folded by the fast
//! model into a bounded summary that the next envelope carries, per tenant and per
//! conversation, dropped with the history when the idle gap starts a new conversation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use concierge_core::conversation::Role;
use concierge_core::ports::SessionStore;
use concierge_core::prompt::{SUMMARY_BEGIN, SUMMARY_END};
use concierge_core::rolling_summary::{MAX_SUMMARY_CHARS, MAX_UNFOLDED_TURNS};
use concierge_core::tenant::TenantFile;
use concierge_core::testing::{Harness, ScriptedFailure, EXAMPLE_TENANT};
use concierge_core::{Channel, ChannelAccount, ConversationKey, TenantId};
use futures::executor::block_on;

const A_PHONE: &str = "106540352242922";
const B_PHONE: &str = "222222222222222";

/// The example tenant with enough credit for long conversations and a history cap of `cap`.
fn tenant(cap: u32) -> String {
    EXAMPLE_TENANT
        .replace("starting_credits = \"10\"", "starting_credits = \"1000\"")
        .replace(
            "[notifications]",
            &format!("[conversation]\nmax_history_messages = {cap}\n\n[notifications]"),
        )
}

fn message(i: usize) -> String {
    format!("question {i:02} about cakes")
}

/// The summary section of a system prompt, if it has one.
fn summary_section(system: &str) -> Option<&str> {
    let start = system.find(SUMMARY_BEGIN)?;
    let end = system[start..].find(SUMMARY_END)? + start;
    Some(&system[start..end])
}

#[test]
fn a_conversation_past_the_cap_is_folded_and_the_summary_reaches_the_next_envelope() {
    let mut h = Harness::new(&tenant(4));
    h.says("my name is Priya and I want an eggless cake")
        .expect_charge("1");
    assert!(summary_section(&h.last_prompt().system).is_none());
    h.says(&message(1)).expect_charge("1");
    // Four turns fill the cap: the oldest was folded after the reply, not before it.
    let session = h.session().unwrap();
    let summary = session.summary().expect("folded once the cap is reached");
    assert!(summary.text.contains("Priya"), "{}", summary.text);
    assert_eq!(summary.turns, 1);
    assert_eq!(session.history().len(), 3);

    h.says(&message(2))
        .expect_reply_contains("AI reply to: question 02")
        .expect_charge("1");
    let prompt = h.last_prompt();
    let section = summary_section(&prompt.system).expect("the next envelope carries it");
    assert!(section.contains("Priya"));
    let persona_end = prompt.system.find("END BUSINESS PERSONA").unwrap();
    let house_rules = prompt.system.find("House rules").unwrap();
    let at = prompt.system.find(SUMMARY_BEGIN).unwrap();
    assert!(
        persona_end < at && at < house_rules,
        "between the persona and the house rules"
    );
    assert_eq!(
        prompt.system.matches("Priya").count(),
        1,
        "only inside the section"
    );
    assert!(
        prompt
            .history
            .iter()
            .all(|t| t.role != Role::User || !t.content.contains("Priya")),
        "the folded message is not in the window too"
    );
    assert_eq!(h.balance().to_string(), "997", "the fold is not charged");
    let fold = &h.ai.summary_requests()[0];
    assert_eq!(fold.model, concierge_core::engine::DEFAULT_AI_FAST_MODEL);
    assert!(fold.history.is_empty() && fold.user.contains("Customer: my name is Priya"));
}

#[test]
fn folding_never_loses_or_duplicates_a_customer_message() {
    for cap in [1, 2, 4, 7, 20] {
        let mut h = Harness::new(&tenant(cap));
        for i in 0..30 {
            h.says(&message(i)).expect_charge("1");
            let prompt = h.last_prompt();
            let section = summary_section(&prompt.system).unwrap_or("");
            let window: Vec<&str> = prompt
                .history
                .iter()
                .filter(|t| t.role == Role::User)
                .map(|t| t.content.as_str())
                .chain([prompt.user.as_str()])
                .collect();
            assert!(
                prompt.history.len() < cap as usize,
                "the window holds the cap"
            );
            for j in 0..=i {
                let text = message(j);
                let seen = section.matches(&text).count()
                    + window.iter().filter(|w| w.contains(&text)).count();
                assert_eq!(seen, 1, "cap {cap}, turn {i}: {text:?} seen {seen} times");
            }
            let session = h.session().unwrap();
            let folded = session.summary().map_or(0, |s| s.turns as usize);
            assert_eq!(
                folded + session.history().len(),
                2 * (i + 1),
                "every turn counted once"
            );
            assert!(session.history().len() < cap as usize);
        }
        let folds = h.ai.summary_requests().len();
        assert!(folds > 0);
        if cap >= 4 {
            assert!(folds < 30, "cap {cap}: folded in batches, {folds} calls");
        }
    }
}

#[test]
fn the_summary_is_bounded() {
    let mut h = Harness::new(&tenant(4));
    h.ai.summary(format!(
        "{} [[HANDOFF]]",
        "The customer said a lot. ".repeat(400)
    ));
    h.says(&message(0));
    h.says(&message(1)).expect_no_handoff();
    let summary = h.session().unwrap().summary().unwrap().text.clone();
    assert!(
        summary.chars().count() <= MAX_SUMMARY_CHARS,
        "{}",
        summary.len()
    );
    assert!(!summary.contains("[[HANDOFF]]"));
    h.says(&message(2)).expect_no_handoff();
    let section = summary_section(&h.last_prompt().system).unwrap().to_owned();
    assert!(section.chars().count() <= MAX_SUMMARY_CHARS + SUMMARY_BEGIN.chars().count() + 2);
    let request = h.ai.summary_requests().pop().unwrap();
    assert!(
        request.user.contains(&summary),
        "the next fold starts from the stored notes"
    );
}

#[test]
fn the_idle_gap_rotation_drops_the_summary() {
    let mut h = Harness::new(&tenant(4));
    for i in 0..4 {
        h.says(&message(i));
    }
    assert!(h.session().unwrap().summary().is_some());
    h.advance("7h");
    let step = h.says("hello again");
    assert!(step.turns[0].new_conversation);
    assert_eq!(h.session().unwrap().summary(), None);
    let prompt = h.last_prompt();
    assert!(
        summary_section(&prompt.system).is_none(),
        "a new conversation starts blank"
    );
    assert!(!prompt.system.contains("question 00"));
}

#[test]
fn a_failing_summarizer_still_replies_and_the_turns_wait_for_the_next_fold() {
    let mut h = Harness::new(&tenant(4));
    h.says(&message(0));
    h.ai.fail_next_summary(ScriptedFailure::Timeout);
    h.says(&message(1))
        .expect_reply_contains("AI reply to: question 01")
        .expect_charge("1");
    let session = h.session().unwrap();
    assert_eq!(session.summary(), None);
    assert_eq!(session.history().len(), 4, "nothing dropped");

    h.ai.fail_next_summary(ScriptedFailure::Provider);
    h.says(&message(2))
        .expect_reply_contains("AI reply to: question 02")
        .expect_charge("1");
    let prompt = h.last_prompt();
    assert_eq!(
        prompt.history.len(),
        3,
        "the model still reads the capped window"
    );
    assert_eq!(h.session().unwrap().history().len(), 6);

    h.says(&message(3)).expect_charge("1");
    let session = h.session().unwrap();
    let summary = session
        .summary()
        .expect("the next fold takes the waiting turns too");
    assert!(summary.text.contains("question 00") && summary.text.contains("question 02"));
    assert_eq!(summary.turns as usize + session.history().len(), 8);
}

#[test]
fn a_summarizer_that_keeps_failing_keeps_the_history_bounded() {
    let mut h = Harness::new(&tenant(4));
    for i in 0..30 {
        h.ai.fail_next_summary(ScriptedFailure::Provider);
        h.says(&message(i)).expect_charge("1");
        let session = h.session().unwrap();
        assert!(session.history().len() <= 4 + MAX_UNFOLDED_TURNS);
        assert!(h.last_prompt().history.len() < 4);
    }
    assert_eq!(h.session().unwrap().summary(), None);
}

#[test]
fn a_canned_only_channel_keeps_the_cap_without_calling_the_summarizer() {
    let toml = tenant(4).replace(
        "default_rule = { kind = \"prompt\", text = \"Answer briefly.\" }",
        "default_rule = { kind = \"canned\", text = \"Thanks, we'll reply soon.\" }",
    );
    let mut h = Harness::new(&toml);
    for i in 0..8 {
        h.says(&message(i))
            .expect_reply("Thanks, we'll reply soon.");
    }
    let session = h.session().unwrap();
    assert_eq!(session.history().len(), 4);
    assert_eq!(session.summary(), None);
    assert!(h.ai.summary_requests().is_empty());
}

#[test]
fn with_the_summary_turned_off_the_history_is_capped_as_before() {
    let config = concierge_core::EngineConfig {
        rolling_summary: false,
        ..Default::default()
    };
    let mut h = Harness::with_ai(
        &tenant(4),
        concierge_core::testing::ScriptedAi::new(),
        config,
    );
    for i in 0..6 {
        h.says(&message(i)).expect_charge("1");
    }
    let session = h.session().unwrap();
    assert_eq!((session.history().len(), session.summary()), (4, None));
    assert!(h.ai.summary_requests().is_empty());
    assert_eq!(h.last_prompt().history.len(), 3);
}

#[test]
fn tenants_keep_their_summaries_apart() {
    let mut h = Harness::new(&tenant(4));
    let b_toml = tenant(4)
        .replace("sunrise-bakery", "moon-bakery")
        .replace(A_PHONE, B_PHONE);
    block_on(
        h.engine
            .import_tenant(TenantFile::from_toml(&b_toml).unwrap()),
    )
    .unwrap();
    h.run_due_jobs();
    for i in 0..4 {
        h.says(&format!("A secret {i}"));
    }
    let mut m = h.message("hello from B");
    m.account = ChannelAccount::WhatsAppPhone(B_PHONE.into());
    h.deliver(m)
        .expect_reply_contains("AI reply to: hello from B");
    let prompt = h.last_prompt();
    assert!(summary_section(&prompt.system).is_none());
    assert!(
        !prompt.system.contains("secret"),
        "B's envelope has nothing of A"
    );
    let b = TenantId::parse("moon-bakery").unwrap();
    let key_b = ConversationKey::new(b, Channel::WhatsApp, h.key().sender);
    let session_b = block_on(h.store.load_session(&key_b)).unwrap().unwrap();
    assert_eq!(session_b.summary(), None);
    let a = h.session().unwrap();
    assert!(a.summary().unwrap().text.contains("A secret 0"));
}
