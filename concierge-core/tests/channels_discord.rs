//! Discord wire formats, driven by payloads shaped like Discord's documentation.
#![allow(clippy::unwrap_used)]

use concierge_core::channels::discord::*;
use concierge_core::channels::split::DISCORD_MAX_CHARS;
use concierge_core::channels::{
    ChannelError, MediaKind, MessageContent, ReplyRoute, MAX_BODY_BYTES,
};
use concierge_core::time::Timestamp;
use concierge_core::{Channel, ChannelAccount};
use ed25519_dalek::{Signer, SigningKey};
use expect_test::expect;
use proptest::prelude::*;
use serde_json::{json, Value};

const APP: &str = "1234560123453231555"; // application id, also the bot's user id
const GUILD: &str = "290926798626357999";
const CHANNEL: &str = "645027906669510667";
const APPROVAL_CHANNEL: &str = "645027906669510999";
const TRIGGER_CHANNEL: &str = "1345046959593095214";
const CUSTOMER: &str = "53908232506183680";
const BUTTON_KEY: &[u8] = b"test-button-key-0123456789abcdef";
const DRAFT: &str = "drf_01J8ZQ4X5W7T9K2M3N4P5Q6R7S";

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/discord/", $name)).as_slice()
    };
}

// --- Signatures -----------------------------------------------------------------------------

/// RFC 8032 section 7.1, test 1: a fixed, published keypair.
const RFC8032_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const RFC8032_EMPTY_SIG: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

fn signing_key() -> SigningKey {
    let mut secret = [0u8; 32];
    hex::decode_to_slice(RFC8032_SECRET, &mut secret).unwrap();
    SigningKey::from_bytes(&secret)
}

/// Signs like Discord: Ed25519 over the timestamp header followed by the raw body.
fn discord_sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
    let mut msg = timestamp.as_bytes().to_vec();
    msg.extend_from_slice(body);
    hex::encode(key.sign(&msg).to_bytes())
}

const TS: &str = "1755194978";
fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(secs)
}

#[test]
fn the_test_keypair_is_rfc8032_vector_1() {
    assert_eq!(
        hex::encode(signing_key().verifying_key().as_bytes()),
        RFC8032_PUBLIC
    );
    assert_eq!(
        hex::encode(signing_key().sign(b"").to_bytes()),
        RFC8032_EMPTY_SIG
    );
    assert!(DiscordPublicKey::parse(RFC8032_PUBLIC).is_ok());
}

#[test]
fn a_request_signed_by_discord_is_accepted() {
    let body = fixture!("interaction_ping.json");
    let sig = discord_sign(&signing_key(), TS, body);
    let now = at(1_755_194_978);
    assert_eq!(
        verify_request(RFC8032_PUBLIC, Some(&sig), Some(TS), body, now),
        Ok(())
    );
    // Upper-case hex from a client library is fine too.
    let upper = sig.to_uppercase();
    assert_eq!(
        verify_request(RFC8032_PUBLIC, Some(&upper), Some(TS), body, now),
        Ok(())
    );
}

#[test]
fn a_changed_body_or_timestamp_or_foreign_key_is_refused() {
    let body = fixture!("interaction_ping.json");
    let sig = discord_sign(&signing_key(), TS, body);
    let now = at(1_755_194_978);
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert_eq!(
        verify_request(RFC8032_PUBLIC, Some(&sig), Some(TS), &tampered, now),
        Err(ChannelError::BadSignature)
    );
    assert_eq!(
        verify_request(RFC8032_PUBLIC, Some(&sig), Some("1755194979"), body, now),
        Err(ChannelError::BadSignature)
    );
    let other = SigningKey::from_bytes(&[7u8; 32]);
    let foreign = discord_sign(&other, TS, body);
    assert_eq!(
        verify_request(RFC8032_PUBLIC, Some(&foreign), Some(TS), body, now),
        Err(ChannelError::BadSignature)
    );
    let err = verify_request(RFC8032_PUBLIC, Some(&foreign), Some(TS), body, now).unwrap_err();
    assert_eq!(err.status(), 401);
}

#[test]
fn signatures_that_are_not_64_hex_bytes_are_refused() {
    let body = b"{}";
    let sig = discord_sign(&signing_key(), TS, body);
    let now = at(1_755_194_978);
    for bad in [
        &sig[..126],
        "zz",
        "",
        &format!("{sig}00"),
        &sig.replace('a', "g"),
    ] {
        assert_eq!(
            verify_request(RFC8032_PUBLIC, Some(bad), Some(TS), body, now),
            Err(ChannelError::BadSignature),
            "{bad}"
        );
    }
}

#[test]
fn timestamps_outside_five_minutes_are_replays() {
    let body = fixture!("event_ping.json");
    let sig = discord_sign(&signing_key(), TS, body);
    let signed_at = 1_755_194_978;
    let verify = |now| verify_request(RFC8032_PUBLIC, Some(&sig), Some(TS), body, now);
    assert_eq!(verify(at(signed_at + 300)), Ok(()));
    assert_eq!(verify(at(signed_at - 300)), Ok(()));
    assert_eq!(
        verify(at(signed_at + 301)),
        Err(ChannelError::StaleTimestamp)
    );
    assert_eq!(
        verify(at(signed_at - 301)),
        Err(ChannelError::StaleTimestamp)
    );
    assert_eq!(REPLAY_WINDOW.as_millis(), 300_000);
    assert_eq!(ChannelError::StaleTimestamp.status(), 401);
}

#[test]
fn a_signed_timestamp_that_is_not_a_number_is_refused() {
    let body = b"{}";
    let sig = discord_sign(&signing_key(), "yesterday", body);
    assert_eq!(
        verify_request(RFC8032_PUBLIC, Some(&sig), Some("yesterday"), body, at(0)),
        Err(ChannelError::BadSignature)
    );
}

#[test]
fn missing_headers_are_named() {
    let body = b"{}";
    let sig = discord_sign(&signing_key(), TS, body);
    let now = at(1_755_194_978);
    assert_eq!(
        verify_request(RFC8032_PUBLIC, None, Some(TS), body, now),
        Err(ChannelError::MissingSignature("X-Signature-Ed25519"))
    );
    assert_eq!(
        verify_request(RFC8032_PUBLIC, Some(&sig), None, body, now),
        Err(ChannelError::MissingSignature("X-Signature-Timestamp"))
    );
}

#[test]
fn a_misconfigured_public_key_fails_closed() {
    let body = b"{}";
    let sig = discord_sign(&signing_key(), TS, body);
    let now = at(1_755_194_978);
    assert_eq!(DiscordPublicKey::parse("not hex"), Err(InvalidPublicKey));
    assert_eq!(
        DiscordPublicKey::parse(&RFC8032_PUBLIC[..62]),
        Err(InvalidPublicKey)
    );
    assert_eq!(
        verify_request("not hex", Some(&sig), Some(TS), body, now),
        Err(ChannelError::BadSignature)
    );
    let key = DiscordPublicKey::parse(RFC8032_PUBLIC).unwrap();
    assert_eq!(
        verify_request_with_key(&key, Some(&sig), Some(TS), body, now),
        Ok(())
    );
}

#[test]
fn oversized_bodies_are_refused_before_anything_else() {
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    let err = verify_request(RFC8032_PUBLIC, None, None, &body, at(0)).unwrap_err();
    assert_eq!(err, ChannelError::TooLarge(MAX_BODY_BYTES + 1));
    assert_eq!(err.status(), 413);
    assert_eq!(
        parse_interaction(&body),
        Err(ChannelError::TooLarge(MAX_BODY_BYTES + 1))
    );
    assert_eq!(
        parse_event(&body),
        Err(ChannelError::TooLarge(MAX_BODY_BYTES + 1))
    );
}

// --- Interactions ---------------------------------------------------------------------------

fn parse_ok(body: &[u8]) -> Interaction {
    parse_interaction_with_key(body, BUTTON_KEY).unwrap()
}

#[test]
fn a_ping_is_answered_with_a_pong() {
    let body = fixture!("interaction_ping.json");
    // As the adapter does it: verify, then parse, then answer.
    let sig = discord_sign(&signing_key(), TS, body);
    verify_request(
        RFC8032_PUBLIC,
        Some(&sig),
        Some(TS),
        body,
        at(1_755_194_978),
    )
    .unwrap();
    assert_eq!(parse_ok(body), Interaction::Ping);
    assert_eq!(pong(), json!({ "type": 1 }));
}

#[test]
fn slash_status_is_recognised_with_its_context() {
    assert_eq!(
        parse_ok(fixture!("interaction_status.json")),
        Interaction::Command {
            id: "1418572602737299559".into(),
            token: "aW50ZXJhY3Rpb2461418572602737299559:dGVzdHRva2Vu".into(),
            application_id: APP.into(),
            guild_id: Some(GUILD.into()),
            channel_id: CHANNEL.into(),
            user_id: CUSTOMER.into(),
            name: "status".into(),
            options: vec![],
            command: SlashCommand::Status,
        }
    );
}

fn command_of(body: &[u8]) -> (String, Vec<CommandOption>, SlashCommand) {
    match parse_ok(body) {
        Interaction::Command {
            name,
            options,
            command,
            ..
        } => (name, options, command),
        other => panic!("not a command: {other:?}"),
    }
}

#[test]
fn subcommands_are_followed_to_their_options() {
    let (name, _, command) = command_of(fixture!("interaction_domains_list.json"));
    assert_eq!(
        (name.as_str(), command),
        ("domains list", SlashCommand::DomainsList)
    );

    let (name, options, command) = command_of(fixture!("interaction_rules_list.json"));
    assert_eq!(name, "rules list");
    assert_eq!(
        command,
        SlashCommand::RulesList {
            channel: Some(TRIGGER_CHANNEL.into())
        }
    );
    assert_eq!(
        options,
        vec![CommandOption {
            name: "channel".into(),
            value: TRIGGER_CHANNEL.into()
        }]
    );

    let (_, _, command) = command_of(fixture!("interaction_rules_list_all.json"));
    assert_eq!(command, SlashCommand::RulesList { channel: None });
}

#[test]
fn an_unknown_subcommand_keeps_its_path_and_values() {
    let (name, options, command) = command_of(fixture!("interaction_unknown_command.json"));
    assert_eq!(
        command,
        SlashCommand::Unknown {
            name: "domains add".into()
        }
    );
    assert_eq!(name, "domains add");
    assert_eq!(
        options,
        vec![
            CommandOption {
                name: "domain".into(),
                value: "shop.example".into()
            },
            CommandOption {
                name: "primary".into(),
                value: "true".into()
            },
        ]
    );
}

#[test]
fn an_approve_click_carries_the_verified_draft() {
    let body = fixture!("interaction_button_approve.json");
    let expected_custom_id = sign_custom_id(BUTTON_KEY, ButtonAction::Approve, DRAFT);
    assert_eq!(
        parse_ok(body),
        Interaction::Component {
            id: "1418572602737299570".into(),
            token: "aW50ZXJhY3Rpb2461418572602737299570:dGVzdHRva2Vu".into(),
            application_id: APP.into(),
            guild_id: Some(GUILD.into()),
            channel_id: APPROVAL_CHANNEL.into(),
            user_id: CUSTOMER.into(),
            message_id: "1405614459183038464".into(),
            custom_id: expected_custom_id,
            button: Some(ButtonRef {
                action: ButtonAction::Approve,
                draft_id: DRAFT.into()
            }),
        }
    );
}

fn button_of(interaction: Interaction) -> Option<ButtonRef> {
    match interaction {
        Interaction::Component { button, .. } => button,
        other => panic!("not a component: {other:?}"),
    }
}

#[test]
fn a_tampered_or_foreign_button_is_not_trusted() {
    let body = std::str::from_utf8(fixture!("interaction_button_approve.json")).unwrap();
    // Someone rewrites the draft id (or turns Approve into Drop) but cannot re-sign it.
    let other_draft = body.replace(
        "v1:a:drf_01J8ZQ4X5W7T9K2M3N4P5Q6R7S",
        "v1:a:drf_SOMEONE_ELSES_DRAFT",
    );
    assert_eq!(button_of(parse_ok(other_draft.as_bytes())), None);
    let other_action = body.replace("v1:a:drf_", "v1:d:drf_");
    assert_eq!(button_of(parse_ok(other_action.as_bytes())), None);
    // Signed with a key we no longer use (rotation), or parsed without a key.
    assert_eq!(
        button_of(parse_interaction_with_key(body.as_bytes(), b"rotated-key").unwrap()),
        None
    );
    assert_eq!(button_of(parse_interaction(body.as_bytes()).unwrap()), None);

    let tampered = sign_custom_id(BUTTON_KEY, ButtonAction::Approve, DRAFT).replace("drf_", "drg_");
    assert_eq!(
        verify_custom_id(BUTTON_KEY, &tampered),
        Err(ChannelError::BadSignature)
    );
    assert!(matches!(
        verify_custom_id(BUTTON_KEY, "approve_123"),
        Err(ChannelError::Malformed(_))
    ));
}

#[test]
fn autocomplete_reports_the_focused_option() {
    match parse_ok(fixture!("interaction_autocomplete.json")) {
        Interaction::Autocomplete {
            name,
            focused,
            user_id,
            guild_id,
            ..
        } => {
            assert_eq!(name, "rules list");
            assert_eq!(
                focused,
                Some(FocusedOption {
                    name: "domain".into(),
                    value: "sho".into()
                })
            );
            assert_eq!(user_id, CUSTOMER);
            assert_eq!(guild_id.as_deref(), Some(GUILD));
        }
        other => panic!("not autocomplete: {other:?}"),
    }
}

#[test]
fn modal_submits_and_future_types_are_unsupported_not_errors() {
    assert_eq!(
        parse_ok(fixture!("interaction_modal_submit.json")),
        Interaction::Unsupported { kind: 5 }
    );
    assert_eq!(
        parse_ok(br#"{"type":9,"id":"1","token":"t"}"#),
        Interaction::Unsupported { kind: 9 }
    );
}

#[test]
fn broken_interactions_are_malformed() {
    for body in [
        &b"not json"[..],
        b"",
        b"[]",
        br#"{"type":"2"}"#,
        br#"{"type":2,"id":"1","token":"t"}"#, // no user, no data
        br#"{"type":3,"id":"1","token":"t","application_id":"1","channel_id":"2","user":{"id":"3"},"data":{"component_type":2}}"#, // no custom_id
    ] {
        let err = parse_interaction(body).unwrap_err();
        assert!(matches!(err, ChannelError::Malformed(_)), "{err:?}");
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn responses_have_discords_shapes() {
    assert_eq!(
        message_response("Your channels: WhatsApp, Discord", true),
        json!({
            "type": 4,
            "data": {
                "content": "Your channels: WhatsApp, Discord",
                "flags": 64,
                "allowed_mentions": { "parse": [] },
            }
        })
    );
    assert!(message_response("hi", false)["data"].get("flags").is_none());
    assert_eq!(deferred_response(), json!({ "type": 5 }));
    assert_eq!(
        update_message("✅ Approved by <@53908232506183680>"),
        json!({
            "type": 7,
            "data": {
                "content": "✅ Approved by <@53908232506183680>",
                "components": [],
                "allowed_mentions": { "parse": [] },
            }
        })
    );
    let long = "x".repeat(2500);
    let content = message_response(&long, false)["data"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(content.chars().count(), DISCORD_MAX_CHARS);
    assert!(content.ends_with('…'));
}

#[test]
fn autocomplete_answers_at_most_25_choices() {
    let choices: Vec<(String, String)> = (0..30)
        .map(|i| (format!("shop{i}.example"), format!("shop{i}.example")))
        .collect();
    let answer = autocomplete_result(&choices);
    assert_eq!(answer["type"], 8);
    let listed = answer["data"]["choices"].as_array().unwrap();
    assert_eq!(listed.len(), AUTOCOMPLETE_MAX_CHOICES);
    assert_eq!(
        listed[0],
        json!({ "name": "shop0.example", "value": "shop0.example" })
    );
    assert_eq!(
        autocomplete_result(&[]),
        json!({ "type": 8, "data": { "choices": [] } })
    );
}

#[test]
fn followups_go_to_the_interaction_webhook() {
    let req = followup_request(APP, "aW50ZXJhY3Rpb24:abc", "Done.");
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.path,
        "/api/v10/webhooks/1234560123453231555/aW50ZXJhY3Rpb24%3Aabc"
    );
    let body: Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(
        body,
        json!({ "content": "Done.", "allowed_mentions": { "parse": [] } })
    );
}

// --- Custom ids -----------------------------------------------------------------------------

#[test]
fn custom_ids_are_stable() {
    // The fixture's custom_id was signed by an independent HMAC implementation.
    expect!["v1:a:drf_01J8ZQ4X5W7T9K2M3N4P5Q6R7S:5YQlijB923HsKCkJ-AQTVA"]
        .assert_eq(&sign_custom_id(BUTTON_KEY, ButtonAction::Approve, DRAFT));
}

#[test]
fn the_longest_allowed_draft_id_fits_discords_limit() {
    let draft = "d".repeat(MAX_DRAFT_ID_LEN);
    let id = sign_custom_id(BUTTON_KEY, ButtonAction::Reject, &draft);
    assert_eq!(id.chars().count(), CUSTOM_ID_MAX_CHARS);
    assert_eq!(
        verify_custom_id(BUTTON_KEY, &id),
        Ok(ButtonRef {
            action: ButtonAction::Reject,
            draft_id: draft
        })
    );
}

// --- Webhook events -------------------------------------------------------------------------

fn triggers() -> DiscordTriggers {
    DiscordTriggers {
        bot_user_id: APP.into(),
        inbound_mentions: true,
        inbound_channel_ids: vec![TRIGGER_CHANNEL.into()],
    }
}

#[test]
fn a_tenants_triggers_are_its_discord_settings_with_the_shared_bot() {
    let lotus = include_str!("../../examples/tenants/lotus-dental.toml");
    let tenant = concierge_core::tenant::TenantFile::from_toml(lotus)
        .unwrap()
        .into_tenant();
    assert_eq!(
        DiscordTriggers::for_tenant(&tenant, APP),
        Some(DiscordTriggers {
            bot_user_id: APP.into(),
            inbound_mentions: true,
            inbound_channel_ids: vec!["1180000000000000010".into()],
        })
    );
    let mut without = tenant;
    without.channels.discord = None;
    assert_eq!(DiscordTriggers::for_tenant(&without, APP), None);
}

fn message_of(body: &[u8]) -> DiscordMessage {
    match parse_event(body).unwrap() {
        DiscordEvent::Message(m) => *m,
        other => panic!("not a message: {other:?}"),
    }
}

#[test]
fn event_pings_and_other_events_are_recognised() {
    assert_eq!(
        parse_event(fixture!("event_ping.json")),
        Ok(DiscordEvent::Ping)
    );
    assert_eq!(
        parse_event(fixture!("event_application_authorized.json")),
        Ok(DiscordEvent::Other {
            event_type: "APPLICATION_AUTHORIZED".into()
        })
    );
}

#[test]
fn a_mention_becomes_a_customer_message_without_the_mention() {
    let msg = message_of(fixture!("event_message_mention.json"));
    assert_eq!(msg.mentions, vec![APP.to_owned()]);
    assert!(!msg.author.bot);
    let inbound = message_to_inbound(&msg, &triggers()).unwrap();
    assert_eq!(inbound.channel, Channel::Discord);
    assert_eq!(inbound.account, ChannelAccount::DiscordGuild(GUILD.into()));
    assert_eq!(inbound.sender, CUSTOMER);
    assert_eq!(inbound.sender_name.as_deref(), Some("mason"));
    assert_eq!(inbound.provider_id, "1405614357781544960");
    assert_eq!(inbound.idempotency_key(), "discord:1405614357781544960");
    // 2025-08-14T18:09:37.947Z, read from the snowflake.
    assert_eq!(
        inbound.sent_at,
        Some(Timestamp::from_millis(1_755_194_977_947))
    );
    assert_eq!(
        inbound.content,
        MessageContent::Text {
            body: "do you deliver on Sundays?".into()
        }
    );
    assert_eq!(inbound.reply_to, None);
    assert_eq!(
        inbound.route,
        ReplyRoute::DiscordChannel {
            channel_id: CHANNEL.into(),
            message_id: "1405614357781544960".into(),
        }
    );
}

#[test]
fn mentions_only_trigger_when_the_tenant_wants_them() {
    let msg = message_of(fixture!("event_message_mention.json"));
    let off = DiscordTriggers {
        inbound_mentions: false,
        ..triggers()
    };
    assert_eq!(
        message_to_inbound(&msg, &off),
        Err(IgnoredReason::NotTriggered)
    );
}

#[test]
fn every_message_in_a_trigger_channel_is_answered() {
    let msg = message_of(fixture!("event_message_trigger_channel.json"));
    let no_mentions = DiscordTriggers {
        inbound_mentions: false,
        ..triggers()
    };
    let inbound = message_to_inbound(&msg, &no_mentions).unwrap();
    assert_eq!(
        inbound.content,
        MessageContent::Text {
            body: "Hi! Is the sourdough available today?".into()
        }
    );
    assert_eq!(inbound.reply_to.as_deref(), Some("1405614357781545021"));
    assert_eq!(
        inbound.route,
        ReplyRoute::DiscordChannel {
            channel_id: TRIGGER_CHANNEL.into(),
            message_id: msg.id.clone(),
        }
    );
}

#[test]
fn messages_that_must_not_be_answered_say_why() {
    let cases = [
        (
            fixture!("event_message_no_trigger.json"),
            IgnoredReason::NotTriggered,
        ),
        (fixture!("event_message_bot.json"), IgnoredReason::FromBot),
        (
            fixture!("event_message_dm.json"),
            IgnoredReason::DirectMessage,
        ),
    ];
    for (body, reason) in cases {
        let msg = message_of(body);
        assert_eq!(message_to_inbound(&msg, &triggers()), Err(reason));
    }

    // Our own bot, even if Discord did not flag it as a bot.
    let mut own = message_of(fixture!("event_message_bot.json"));
    own.author.bot = false;
    assert_eq!(
        message_to_inbound(&own, &triggers()),
        Err(IgnoredReason::FromBot)
    );

    // A webhook posting in a trigger channel.
    let mut hook = message_of(fixture!("event_message_trigger_channel.json"));
    hook.webhook_id = Some("223704706495545344".into());
    assert_eq!(
        message_to_inbound(&hook, &triggers()),
        Err(IgnoredReason::FromBot)
    );

    // A bare mention leaves nothing to answer.
    let mut bare = message_of(fixture!("event_message_mention.json"));
    bare.content = format!("<@!{APP}>  ");
    assert_eq!(
        message_to_inbound(&bare, &triggers()),
        Err(IgnoredReason::EmptyContent)
    );

    // "X joined the server" in a trigger channel.
    let mut join = message_of(fixture!("event_message_trigger_channel.json"));
    join.kind = 7;
    join.content.clear();
    assert_eq!(
        message_to_inbound(&join, &triggers()),
        Err(IgnoredReason::SystemMessage { kind: 7 })
    );
}

#[test]
fn ignored_reasons_read_well_in_logs() {
    assert_eq!(
        IgnoredReason::DirectMessage.to_string(),
        "direct message (no guild to route to a tenant)"
    );
    assert_eq!(
        IgnoredReason::NotTriggered.to_string(),
        "bot not mentioned and channel is not a trigger channel"
    );
}

#[test]
fn an_attachment_becomes_media_with_the_text_as_caption() {
    let msg = message_of(fixture!("event_message_attachment.json"));
    let inbound = message_to_inbound(&msg, &triggers()).unwrap();
    match inbound.content {
        MessageContent::Media {
            media,
            reference,
            mime_type,
            caption,
        } => {
            assert_eq!(media, MediaKind::Image);
            assert!(reference
                .unwrap()
                .starts_with("https://cdn.discordapp.com/attachments/"));
            assert_eq!(mime_type.as_deref(), Some("image/png"));
            assert_eq!(caption.as_deref(), Some("is this cake available?"));
        }
        other => panic!("not media: {other:?}"),
    }
}

#[test]
fn a_bare_message_object_parses_like_the_event() {
    // A Gateway MESSAGE_CREATE dispatch carries the same object as the webhook event's `data`.
    let event: Value = serde_json::from_slice(fixture!("event_message_mention.json")).unwrap();
    let data = serde_json::to_vec(&event["event"]["data"]).unwrap();
    assert_eq!(
        parse_message(&data),
        Ok(message_of(fixture!("event_message_mention.json")))
    );
    assert!(matches!(
        parse_message(b"{}"),
        Err(ChannelError::Malformed(_))
    ));
}

#[test]
fn broken_events_are_malformed() {
    for body in [
        &b"{"[..],
        br#"{"version":1,"application_id":"1","type":1}"#,
        br#"{"version":1,"application_id":"1","type":1,"event":{"type":"MESSAGE_CREATE","timestamp":"2024-10-18T14:42:53.064834"}}"#,
        br#"{"version":1,"application_id":"1","type":1,"event":{"type":"MESSAGE_CREATE","timestamp":"x","data":{"id":"1","channel_id":"2"}}}"#,
    ] {
        let err = parse_event(body).unwrap_err();
        assert!(matches!(err, ChannelError::Malformed(_)), "{err:?}");
        assert_eq!(err.status(), 400);
    }
}

// --- Outbound -------------------------------------------------------------------------------

fn body_of(req: &concierge_core::channels::HttpRequest) -> Value {
    serde_json::from_str(&req.body).unwrap()
}

#[test]
fn a_short_reply_is_one_message_referencing_the_customer() {
    let reqs = channel_message(
        CHANNEL,
        "Yes, we deliver on Sundays from 9 to 1.",
        Some("1405614357781544960"),
    );
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(
        reqs[0].path,
        "/api/v10/channels/645027906669510667/messages"
    );
    assert_eq!(
        reqs[0].headers,
        vec![("content-type".to_owned(), "application/json".to_owned())]
    );
    expect![[r#"
        {
          "allowed_mentions": {
            "parse": [],
            "replied_user": true
          },
          "content": "Yes, we deliver on Sundays from 9 to 1.",
          "message_reference": {
            "fail_if_not_exists": false,
            "message_id": "1405614357781544960"
          }
        }"#]]
    .assert_eq(&serde_json::to_string_pretty(&body_of(&reqs[0])).unwrap());
}

#[test]
fn a_long_reply_is_split_and_only_the_first_part_is_a_reply() {
    let text = "Our menu today: sourdough, rye, croissants. ".repeat(100); // 4400 chars
    let reqs = channel_message(CHANNEL, &text, Some("1405614357781544960"));
    assert_eq!(reqs.len(), 3);
    let bodies: Vec<Value> = reqs.iter().map(body_of).collect();
    assert!(bodies[0].get("message_reference").is_some());
    assert!(bodies[1..]
        .iter()
        .all(|b| b.get("message_reference").is_none()));
    assert!(bodies
        .iter()
        .all(|b| b["allowed_mentions"]["parse"] == json!([])));
    let parts: Vec<&str> = bodies
        .iter()
        .map(|b| b["content"].as_str().unwrap())
        .collect();
    assert!(parts.iter().all(|p| p.chars().count() <= DISCORD_MAX_CHARS));
    assert_eq!(parts.concat(), text);

    assert!(channel_message(CHANNEL, "", None).is_empty());
    let plain = channel_message(CHANNEL, "hello", None);
    assert_eq!(
        body_of(&plain[0]),
        json!({ "content": "hello", "allowed_mentions": { "parse": [] } })
    );
}

fn card() -> ApprovalCard {
    ApprovalCard {
        draft_id: DRAFT.into(),
        customer_channel: "whatsapp".into(),
        customer: "Priya (+91 98xxxxxx21)".into(),
        inbound_excerpt: "Hi, do you deliver on Sundays? I need a cake for 12.".into(),
        draft_text: "Yes! We deliver on Sundays from 9 to 1. A cake for 12 costs ₹1,800.".into(),
        conversation_id: Some("c_3f9a1b2c4d5e6f708192a3b4".into()),
    }
}

#[test]
fn the_approval_card_is_an_embed_with_signed_buttons() {
    let req = approval_request(APPROVAL_CHANNEL, &card(), BUTTON_KEY);
    assert_eq!(req.path, "/api/v10/channels/645027906669510999/messages");
    expect![[r#"
        {
          "allowed_mentions": {
            "parse": []
          },
          "components": [
            {
              "components": [
                {
                  "custom_id": "v1:a:drf_01J8ZQ4X5W7T9K2M3N4P5Q6R7S:5YQlijB923HsKCkJ-AQTVA",
                  "label": "Approve",
                  "style": 3,
                  "type": 2
                },
                {
                  "custom_id": "v1:x:drf_01J8ZQ4X5W7T9K2M3N4P5Q6R7S:fSassEH8fq9jdZEk8DPdXQ",
                  "label": "Reject",
                  "style": 4,
                  "type": 2
                },
                {
                  "custom_id": "v1:d:drf_01J8ZQ4X5W7T9K2M3N4P5Q6R7S:dHl-49Mc-o7IbyOv6zd42w",
                  "label": "Drop",
                  "style": 2,
                  "type": 2
                }
              ],
              "type": 1
            }
          ],
          "embeds": [
            {
              "color": 15844367,
              "description": "Yes! We deliver on Sundays from 9 to 1. A cake for 12 costs ₹1,800.",
              "fields": [
                {
                  "inline": true,
                  "name": "Customer",
                  "value": "Priya (+91 98xxxxxx21)"
                },
                {
                  "inline": true,
                  "name": "Channel",
                  "value": "whatsapp"
                },
                {
                  "inline": true,
                  "name": "Conversation",
                  "value": "c_3f9a1b2c4d5e6f708192a3b4"
                },
                {
                  "inline": false,
                  "name": "Their message",
                  "value": "Hi, do you deliver on Sundays? I need a cake for 12."
                }
              ],
              "footer": {
                "text": "Draft drf_01J8ZQ4X5W7T9K2M3N4P5Q6R7S"
              },
              "title": "Reply waiting for approval"
            }
          ]
        }"#]]
    .assert_eq(&serde_json::to_string_pretty(&body_of(&req)).unwrap());
}

#[test]
fn an_engine_draft_becomes_a_card() {
    use concierge_core::approval::Draft;
    use concierge_core::{ConversationId, ConversationKey, TenantId};
    let key = ConversationKey::new(
        TenantId::parse("bakery").unwrap(),
        Channel::WhatsApp,
        "919800000021",
    );
    let draft = Draft {
        id: "d_0123456789abcdef01234567".into(),
        conversation_id: ConversationId::derive(&key, Timestamp::from_secs(1)),
        key,
        account: ChannelAccount::WhatsAppPhone("106540352242922".into()),
        route: ReplyRoute::Direct,
        reply_to: None,
        inbound_excerpt: "Do you deliver on Sundays?".into(),
        text: "Yes, from 9 to 1.".into(),
        turn_key: "t".into(),
        created_at: Timestamp::from_secs(1),
    };
    let card = ApprovalCard::from_draft(&draft);
    assert_eq!(card.draft_id, draft.id);
    assert_eq!(card.customer_channel, "whatsapp");
    assert_eq!(card.customer, "919800000021");
    assert_eq!(card.draft_text, "Yes, from 9 to 1.");
    assert_eq!(
        card.conversation_id.as_deref(),
        Some(draft.conversation_id.as_str())
    );
}

#[test]
fn the_approval_buttons_verify_back_to_the_draft() {
    let body = body_of(&approval_request(APPROVAL_CHANNEL, &card(), BUTTON_KEY));
    let buttons = body["components"][0]["components"].as_array().unwrap();
    let decoded: Vec<(u64, ButtonRef)> = buttons
        .iter()
        .map(|b| {
            let id = b["custom_id"].as_str().unwrap();
            assert!(id.chars().count() <= CUSTOM_ID_MAX_CHARS);
            (
                b["style"].as_u64().unwrap(),
                verify_custom_id(BUTTON_KEY, id).unwrap(),
            )
        })
        .collect();
    let action = |a| ButtonRef {
        action: a,
        draft_id: DRAFT.into(),
    };
    assert_eq!(
        decoded,
        vec![
            (3, action(ButtonAction::Approve)),
            (4, action(ButtonAction::Reject)),
            (2, action(ButtonAction::Drop)),
        ]
    );
}

#[test]
fn a_huge_draft_is_cut_to_the_embed_limits() {
    let huge = ApprovalCard {
        draft_text: "word ".repeat(3000),
        inbound_excerpt: "q".repeat(5000),
        customer: "".into(),
        ..card()
    };
    let body = body_of(&approval_request(APPROVAL_CHANNEL, &huge, BUTTON_KEY));
    let embed = &body["embeds"][0];
    let description = embed["description"].as_str().unwrap();
    assert!(description.chars().count() <= EMBED_DESCRIPTION_MAX_CHARS);
    assert!(description.ends_with('…'));
    let fields = embed["fields"].as_array().unwrap();
    assert!(fields.iter().all(|f| {
        let v = f["value"].as_str().unwrap();
        !v.is_empty() && v.chars().count() <= 1024
    }));
    let total: usize = [
        &embed["title"],
        &embed["description"],
        &embed["footer"]["text"],
    ]
    .iter()
    .map(|v| v.as_str().unwrap().chars().count())
    .sum::<usize>()
        + fields
            .iter()
            .map(|f| {
                f["name"].as_str().unwrap().chars().count()
                    + f["value"].as_str().unwrap().chars().count()
            })
            .sum::<usize>();
    assert!(total <= EMBED_TOTAL_MAX_CHARS, "{total}");
}

#[test]
fn discords_answers_are_read() {
    assert_eq!(
        parse_create_message_response(fixture!("create_message_response.json")),
        Ok("1405616966860931072".into())
    );
    assert!(matches!(
        parse_create_message_response(b"<html>502</html>"),
        Err(ChannelError::Malformed(_))
    ));

    let limited = parse_api_error(fixture!("api_error_rate_limit.json")).unwrap();
    assert_eq!(limited.code, 0);
    assert_eq!(limited.retry_after, Some(64.57));
    assert!(!limited.global);
    assert_eq!(
        limited.retry_after_span(),
        Some(concierge_core::time::Span::millis(64_570))
    );

    let access = parse_api_error(fixture!("api_error_missing_access.json")).unwrap();
    assert_eq!(
        (access.code, access.message.as_str()),
        (50001, "Missing Access")
    );
    assert_eq!(access.retry_after_span(), None);
    assert_eq!(
        access.to_string(),
        "Discord API error 50001: Missing Access"
    );

    let form = parse_api_error(fixture!("api_error_invalid_form.json")).unwrap();
    assert_eq!(form.code, 50035);

    assert!(matches!(
        parse_api_error(b"Bad Gateway"),
        Err(ChannelError::Malformed(_))
    ));
}

// --- Properties -----------------------------------------------------------------------------

fn any_action() -> impl Strategy<Value = ButtonAction> {
    prop_oneof![
        Just(ButtonAction::Reply),
        Just(ButtonAction::Approve),
        Just(ButtonAction::Reject),
        Just(ButtonAction::Drop),
    ]
}

proptest! {
    #[test]
    fn custom_ids_round_trip_and_fit(
        key in proptest::collection::vec(any::<u8>(), 0..64),
        action in any_action(),
        draft in "\\PC{1,48}",
    ) {
        let id = sign_custom_id(&key, action, &draft);
        prop_assert!(id.chars().count() <= CUSTOM_ID_MAX_CHARS);
        prop_assert_eq!(
            verify_custom_id(&key, &id),
            Ok(ButtonRef { action, draft_id: draft.clone() })
        );
    }

    #[test]
    fn any_single_character_change_is_detected(
        action in any_action(),
        draft in "[A-Za-z0-9_:-]{1,48}",
        pos in any::<prop::sample::Index>(),
        replacement in proptest::char::range('!', '~'),
    ) {
        let id = sign_custom_id(BUTTON_KEY, action, &draft);
        let mut chars: Vec<char> = id.chars().collect();
        let i = pos.index(chars.len());
        prop_assume!(chars[i] != replacement);
        chars[i] = replacement;
        let changed: String = chars.into_iter().collect();
        prop_assert!(verify_custom_id(BUTTON_KEY, &changed).is_err());
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_interaction(&data);
        let _ = parse_interaction_with_key(&data, BUTTON_KEY);
        let _ = parse_event(&data);
        let _ = parse_message(&data);
        let _ = parse_create_message_response(&data);
        let _ = parse_api_error(&data);
        let text = String::from_utf8_lossy(&data);
        let _ = verify_custom_id(BUTTON_KEY, &text);
        let _ = verify_request(RFC8032_PUBLIC, Some(&text), Some(&text), &data, Timestamp::EPOCH);
    }

    #[test]
    fn parsers_never_panic_on_damaged_fixtures(
        which in 0usize..6,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let fixtures: [&[u8]; 6] = [
            fixture!("interaction_status.json"),
            fixture!("interaction_rules_list.json"),
            fixture!("interaction_button_approve.json"),
            fixture!("interaction_autocomplete.json"),
            fixture!("event_message_mention.json"),
            fixture!("event_message_attachment.json"),
        ];
        let mut data = fixtures[which].to_vec();
        for (at, byte) in flips {
            let i = at.index(data.len());
            data[i] = byte;
        }
        let _ = parse_interaction_with_key(&data, BUTTON_KEY);
        if let Ok(DiscordEvent::Message(m)) = parse_event(&data) {
            let _ = message_to_inbound(&m, &triggers());
        }
    }
}
