//! The shipped example tenants parse, validate and behave as their comments say.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use concierge_core::engine::Reply;
use concierge_core::tenant::TenantFile;
use concierge_core::testing::Harness;
use concierge_core::Channel;

const BAKERY: &str = include_str!("../../examples/tenants/sunrise-bakery.toml");
const CLINIC: &str = include_str!("../../examples/tenants/lotus-dental.toml");

#[test]
fn every_example_tenant_is_valid() {
    for text in [BAKERY, CLINIC] {
        let file = TenantFile::from_toml(text).unwrap_or_else(|e| panic!("{e}"));
        assert!(!file.channels.accounts().is_empty());
    }
}

#[test]
fn the_bakery_answers_hours_canned_and_cakes_with_the_model() {
    let mut h = Harness::new(BAKERY);
    h.says("what time do you open?").expect_buffered();
    h.advance("3s")
        .expect_rule("hours")
        .expect_reply_contains("7am to 8pm")
        .expect_free();
    h.says("I'd like to order a birthday cake for my daughter's celebration on Friday");
    h.advance("3s")
        .expect_rule("celebration-cakes")
        .expect_charge("1");
    h.expect_prompt_contains("48 hours' notice");
}

#[test]
fn the_clinic_drafts_every_ai_reply_but_sends_emergencies_at_once() {
    let mut h = Harness::new(CLINIC);
    h.says("I have severe pain and swelling")
        .expect_rule("emergency")
        .expect_reply_contains("911");
    let step = h.says("can I move my appointment to Tuesday?");
    step.expect_no_reply();
    assert!(matches!(step.reply_outcome(), Reply::Drafted { .. }));
    h.on(Channel::Email)
        .says("Do you take Delta Dental PPO?")
        .expect_draft();
}
