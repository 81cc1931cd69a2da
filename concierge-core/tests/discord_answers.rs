//! The Discord answers every adapter renders: each interaction (PING, slash command, every
//! approval button, autocomplete, modal) parsed as the adapters parse it and answered by the
//! engine, and `MESSAGE_CREATE` events turned into customer messages for the guild's tenant.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use concierge_core::approval::{ApprovalDecision, DraftDecision};
use concierge_core::channels::discord::{
    parse_event, parse_interaction_with_key, sign_custom_id, ButtonAction, DiscordEvent,
    DiscordMessage, IgnoredReason, Interaction,
};
use concierge_core::engine::{approval_response, ApprovalOutcome, InteractionAnswer};
use concierge_core::persona::PersonaSource;
use concierge_core::ports::{Purpose, TenantStore};
use concierge_core::testing::Harness;
use futures::executor::block_on;
use serde_json::{json, Value};

const CLINIC: &str = include_str!("../../examples/tenants/lotus-dental.toml");
const GUILD: &str = "1180000000000000000";
const APPROVALS_CHANNEL: &str = "1180000000000000002";

fn parse(h: &Harness, body: &Value) -> Interaction {
    parse_interaction_with_key(body.to_string().as_bytes(), &h.engine.config().signing_key).unwrap()
}

fn command(h: &Harness, guild: Option<&str>, name: &str) -> Interaction {
    let mut body = json!({
        "type": 2, "id": "1180000000000000101", "application_id": "1170000000000000000",
        "token": "cmd-token", "version": 1, "channel_id": "1180000000000000010",
        "member": { "user": { "id": "1160000000000000001" } },
        "data": { "id": "1150000000000000001", "name": name, "type": 1 },
    });
    if let Some(guild) = guild {
        body["guild_id"] = json!(guild);
    }
    parse(h, &body)
}

fn click_custom_id(h: &Harness, guild: Option<&str>, custom_id: &str) -> Interaction {
    let mut body = json!({
        "type": 3, "id": "1180000000000000102", "application_id": "1170000000000000000",
        "token": "btn-token", "version": 1, "channel_id": APPROVALS_CHANNEL,
        "member": { "user": { "id": "1160000000000000001" } },
        "message": { "id": "1300000000000000001", "channel_id": APPROVALS_CHANNEL },
        "data": { "custom_id": custom_id, "component_type": 2 },
    });
    if let Some(guild) = guild {
        body["guild_id"] = json!(guild);
    }
    parse(h, &body)
}

fn click(h: &Harness, action: ButtonAction, draft: &str) -> Interaction {
    let custom_id = sign_custom_id(&h.engine.config().signing_key, action, draft);
    click_custom_id(h, Some(GUILD), &custom_id)
}

fn answer(h: &Harness, interaction: &Interaction) -> Value {
    block_on(h.engine.discord_interaction_response(interaction)).unwrap()
}

/// The content of an ephemeral message answer.
fn ephemeral_text(body: &Value) -> &str {
    assert_eq!(body["type"], 4, "CHANNEL_MESSAGE_WITH_SOURCE: {body}");
    assert_eq!(body["data"]["flags"], 64, "ephemeral: {body}");
    body["data"]["content"].as_str().unwrap()
}

/// The content of a card update (the decision ran, the buttons are gone).
fn update_text(body: &Value) -> &str {
    assert_eq!(body["type"], 7, "UPDATE_MESSAGE: {body}");
    assert_eq!(
        body["data"]["components"],
        json!([]),
        "buttons removed: {body}"
    );
    body["data"]["content"].as_str().unwrap()
}

fn replies_sent(h: &Harness) -> Vec<String> {
    h.outbound
        .sent()
        .iter()
        .filter(|m| m.purpose == Purpose::Reply)
        .map(|m| format!("{:?}", m.body))
        .collect()
}

#[test]
fn a_ping_is_answered_with_pong() {
    let h = Harness::new(CLINIC);
    let ping = parse(
        &h,
        &json!({ "type": 1, "id": "1", "application_id": "2", "token": "t", "version": 1 }),
    );
    assert_eq!(answer(&h, &ping), json!({ "type": 1 }));
}

#[test]
fn slash_commands_answer_for_the_guilds_tenant_ephemerally() {
    let h = Harness::new(CLINIC);
    let status = answer(&h, &command(&h, Some(GUILD), "status"));
    let text = ephemeral_text(&status);
    assert!(text.contains("Lotus Dental Clinic"), "{text}");
    assert!(text.contains("Persona: approved"), "{text}");

    let dm = answer(&h, &command(&h, None, "status"));
    assert_eq!(
        ephemeral_text(&dm),
        "Concierge commands work inside your server only."
    );
    let stranger = answer(&h, &command(&h, Some("999"), "status"));
    assert_eq!(
        ephemeral_text(&stranger),
        "This server is not connected to a Concierge account yet."
    );
    let unknown = answer(&h, &command(&h, Some(GUILD), "frobnicate"));
    assert!(ephemeral_text(&unknown).contains("not a Concierge command"));
    assert!(h.outbound.sent().is_empty(), "commands send nothing");
}

#[test]
fn status_reports_a_persona_changed_since_its_review() {
    let h = Harness::new(CLINIC);
    // The text changes but the stored review is still the old text's approval: AI replies are
    // off until the new text is reviewed, and /status says so.
    let mut tenant = h.tenant();
    tenant.persona.source = PersonaSource::Custom("You are a pirate dentist.".into());
    assert!(!tenant.persona.cleared_for_ai());
    block_on(h.store.put_tenant(&tenant, Some(tenant.revision))).unwrap();
    let status = answer(&h, &command(&h, Some(GUILD), "status"));
    let text = ephemeral_text(&status);
    assert!(
        text.contains("Persona: waiting for review (AI replies are off)"),
        "{text}"
    );
}

#[test]
fn the_approve_button_sends_the_draft_once() {
    let mut h = Harness::new(CLINIC);
    h.ai.reply("Friday at 10 works.");
    let draft = h.says("Can I move my cleaning to Friday?").expect_draft();
    let approve = click(&h, ButtonAction::Approve, &draft);
    assert_eq!(
        block_on(h.engine.discord_interaction(&approve)).unwrap(),
        InteractionAnswer::Decide {
            tenant: h.tenant_id().clone(),
            decision: DraftDecision {
                draft_id: draft.clone(),
                decision: ApprovalDecision::Approve,
            },
        },
        "deciding is separate from applying (the Worker applies it in the conversation's object)"
    );
    assert!(replies_sent(&h).is_empty(), "planning sends nothing");
    assert_eq!(update_text(&answer(&h, &approve)), "Approved and sent.");
    let sent = replies_sent(&h);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].contains("Friday at 10 works."), "{sent:?}");
    assert_eq!(
        update_text(&answer(&h, &approve)),
        "This draft was already decided or has expired."
    );
    assert_eq!(replies_sent(&h).len(), 1, "a second click sends nothing");
}

#[test]
fn reject_and_drop_send_nothing() {
    for action in [ButtonAction::Reject, ButtonAction::Drop] {
        let mut h = Harness::new(CLINIC);
        let draft = h.says("Can I move my cleaning to Friday?").expect_draft();
        assert_eq!(
            update_text(&answer(&h, &click(&h, action, &draft))),
            "Rejected: nothing was sent.",
            "{action:?}"
        );
        assert!(replies_sent(&h).is_empty(), "{action:?}");
        assert!(
            matches!(h.approve(&draft).approvals[0], ApprovalOutcome::NotFound),
            "{action:?} decided the draft"
        );
    }
}

#[test]
fn buttons_that_decide_nothing_leave_the_card_and_the_draft() {
    let mut h = Harness::new(CLINIC);
    let draft = h.says("Can I move my cleaning to Friday?").expect_draft();
    let key = h.engine.config().signing_key.clone();
    let signed = sign_custom_id(&key, ButtonAction::Approve, &draft);
    let cases = [
        (
            click(&h, ButtonAction::Reply, &draft),
            "Writing another reply is not supported yet.",
        ),
        (
            click_custom_id(
                &h,
                Some(GUILD),
                &sign_custom_id(b"another deployment", ButtonAction::Approve, &draft),
            ),
            "This button has expired.",
        ),
        (
            click_custom_id(&h, None, &signed),
            "Approvals work inside your server only.",
        ),
        (
            click_custom_id(&h, Some("999"), &signed),
            "This server is not connected to a Concierge account yet.",
        ),
    ];
    for (interaction, expected) in &cases {
        assert_eq!(ephemeral_text(&answer(&h, interaction)), *expected);
    }
    assert!(replies_sent(&h).is_empty());
    assert!(
        matches!(h.approve(&draft).approvals[0], ApprovalOutcome::Sent { .. }),
        "the draft was still there"
    );
}

#[test]
fn autocomplete_and_modals_get_an_answer_not_an_error() {
    let h = Harness::new(CLINIC);
    let autocomplete = parse(
        &h,
        &json!({
            "type": 4, "id": "1", "application_id": "2", "token": "t", "guild_id": GUILD,
            "member": { "user": { "id": "3" } },
            "data": { "name": "rules", "options": [{ "name": "list", "type": 1, "options": [
                { "name": "channel", "type": 3, "value": "gen", "focused": true }
            ] }] },
        }),
    );
    assert_eq!(
        answer(&h, &autocomplete),
        json!({ "type": 8, "data": { "choices": [] } })
    );
    let modal = parse(
        &h,
        &serde_json::from_str(include_str!(
            "fixtures/discord/interaction_modal_submit.json"
        ))
        .unwrap(),
    );
    assert_eq!(
        ephemeral_text(&answer(&h, &modal)),
        "This action is not available."
    );
}

#[test]
fn the_approval_response_renders_each_outcome_as_a_card_update() {
    assert_eq!(
        update_text(&approval_response(&ApprovalOutcome::NotFound)),
        "This draft was already decided or has expired."
    );
}

fn mention_in(guild: &str) -> DiscordMessage {
    let raw = include_bytes!("fixtures/discord/event_message_mention.json");
    let DiscordEvent::Message(mut message) = parse_event(raw).unwrap() else {
        panic!("a message event")
    };
    message.guild_id = Some(guild.to_owned());
    *message
}

const BOT: &str = "1234560123453231555";

#[test]
fn a_mention_in_a_connected_guild_is_a_customer_message() {
    let h = Harness::new(CLINIC);
    let message = mention_in(GUILD);
    let inbound = block_on(h.engine.discord_inbound(&message, BOT))
        .unwrap()
        .unwrap();
    assert_eq!(
        inbound.account.index_key(),
        format!("discord_guild:{GUILD}")
    );
    assert_eq!(inbound.provider_id, message.id);
    assert_eq!(
        block_on(h.engine.discord_inbound(&mention_in("999"), BOT)).unwrap(),
        Err(IgnoredReason::NotConnected)
    );
    // The tenant's triggers decide: with mentions off, a mention outside the trigger channels
    // is not answered.
    let mut tenant = h.tenant();
    tenant.channels.discord.as_mut().unwrap().inbound_mentions = false;
    block_on(h.store.put_tenant(&tenant, Some(tenant.revision))).unwrap();
    assert_eq!(
        block_on(h.engine.discord_inbound(&message, BOT)).unwrap(),
        Err(IgnoredReason::NotTriggered)
    );
}

#[test]
fn bots_and_direct_messages_are_refused_before_any_tenant_lookup() {
    let h = Harness::new(CLINIC);
    // In a guild no tenant connected: refused as a bot's, not as unknown.
    let mut ours = mention_in("999");
    ours.author.id = BOT.to_owned();
    assert_eq!(
        block_on(h.engine.discord_inbound(&ours, BOT)).unwrap(),
        Err(IgnoredReason::FromBot)
    );
    let mut dm = mention_in(GUILD);
    dm.guild_id = None;
    assert_eq!(
        block_on(h.engine.discord_inbound(&dm, BOT)).unwrap(),
        Err(IgnoredReason::DirectMessage)
    );
}
