//! Meta channels (WhatsApp Cloud API and Instagram messaging) against payloads shaped like
//! Meta's webhook references: signatures, the verification handshake, the 24-hour window,
//! every inbound message kind, statuses, outbound requests and Graph API answers.
#![allow(clippy::unwrap_used)]

use concierge_core::channels::instagram::{self, InstagramEvent};
use concierge_core::channels::meta::{
    self, check_service_window, parse_graph_error, verify_signature, verify_subscription,
    OutsideWindow, GRAPH_API_VERSION, SERVICE_WINDOW,
};
use concierge_core::channels::whatsapp::{self, WhatsAppEvent};
use concierge_core::channels::{
    ChannelError, DeliveryState, DeliveryStatus, HttpRequest, InboundMessage, MediaKind,
    MessageContent, ReplyRoute, MAX_BODY_BYTES,
};
use concierge_core::time::{Span, Timestamp};
use concierge_core::{Channel, ChannelAccount};
use expect_test::{expect, Expect};
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha2::Sha256;

fn fixture(channel: &str, name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/{channel}/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

// ---------------------------------------------------------------- signatures

const APP_SECRET: &[u8] = b"6c2f0b9e1d8a4f37b5e0c9d2a1f4e8b7";
/// `openssl dgst -sha256 -hmac 6c2f0b9e1d8a4f37b5e0c9d2a1f4e8b7 < tests/fixtures/whatsapp/text.json`
const TEXT_FIXTURE_SIGNATURE: &str =
    "sha256=7e66e2ff21f25c261d4dfb42586fbd4c68820ca0339add12540d0120ad3af0ff";

#[test]
fn signature_of_a_real_shaped_delivery_is_accepted() {
    let body = fixture("whatsapp", "text");
    assert_eq!(
        verify_signature(APP_SECRET, &body, Some(TEXT_FIXTURE_SIGNATURE)),
        Ok(())
    );
    // Hex case and surrounding whitespace do not matter.
    let upper = format!("sha256={}", TEXT_FIXTURE_SIGNATURE[7..].to_uppercase());
    assert_eq!(
        verify_signature(APP_SECRET, &body, Some(&format!(" {upper} "))),
        Ok(())
    );
}

#[test]
fn published_x_hub_signature_256_vectors_verify() {
    // GitHub's "Validating webhook deliveries" test values (same X-Hub-Signature-256 scheme).
    assert_eq!(
        verify_signature(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
        ),
        Ok(())
    );
    // x-hub.js README (paperos-labs/x-hub.js), "works with GitHub, Facebook".
    assert_eq!(
        verify_signature(
            b"It's a secret to everybody!",
            br#"{"foo":"bar"}"#,
            Some("sha256=2d9425c2ae617d90196c5d22f48370822036174914268970cc864a7095b065dd"),
        ),
        Ok(())
    );
}

#[test]
fn tampered_or_foreign_signatures_are_refused_with_401() {
    let body = fixture("whatsapp", "text");
    let mut tampered = body.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 1;
    let cases: &[(&[u8], &[u8], &str)] = &[
        (APP_SECRET, &tampered, TEXT_FIXTURE_SIGNATURE),
        (b"another-app-secret", &body, TEXT_FIXTURE_SIGNATURE),
        (APP_SECRET, &body, &TEXT_FIXTURE_SIGNATURE[..70]),
        (
            APP_SECRET,
            &body,
            "sha1=7e66e2ff21f25c261d4dfb42586fbd4c68820ca0339add12540d0120ad3af0ff",
        ),
        (
            APP_SECRET,
            &body,
            "7e66e2ff21f25c261d4dfb42586fbd4c68820ca0339add12540d0120ad3af0ff",
        ),
        (APP_SECRET, &body, "sha256=not-hex"),
        (APP_SECRET, &body, "sha256="),
        // An empty app secret is a misconfiguration, never a pass.
        (
            b"",
            b"",
            "sha256=b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
        ),
    ];
    for (secret, body, header) in cases {
        let err = verify_signature(secret, body, Some(header)).unwrap_err();
        assert_eq!(err, ChannelError::BadSignature, "header {header}");
        assert_eq!(err.status(), 401);
    }
}

#[test]
fn missing_signature_is_refused_with_401() {
    let body = fixture("whatsapp", "text");
    for header in [None, Some(""), Some("   ")] {
        let err = verify_signature(APP_SECRET, &body, header).unwrap_err();
        assert_eq!(err, ChannelError::MissingSignature("X-Hub-Signature-256"));
        assert_eq!(err.status(), 401);
    }
}

// ---------------------------------------------------------------- verification GET

#[test]
fn subscription_handshake_echoes_the_challenge() {
    // The query Meta documents for "Verification Requests".
    let query = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock";
    assert_eq!(
        verify_subscription(query, "meatyhamhock"),
        Ok("1158201444".into())
    );
    assert_eq!(
        verify_subscription(&format!("?{query}"), "meatyhamhock"),
        Ok("1158201444".into())
    );
}

#[test]
fn subscription_parameters_are_url_decoded() {
    let query = "hub.verify_token=caf%C3%A9+token%26more&hub.mode=subscribe&hub.challenge=a%2Bb";
    assert_eq!(
        verify_subscription(query, "café token&more"),
        Ok("a+b".into())
    );
}

#[test]
fn subscription_with_wrong_token_or_mode_is_refused_with_403() {
    let cases = [
        (
            "hub.mode=subscribe&hub.challenge=1&hub.verify_token=guess",
            "meatyhamhock",
        ),
        (
            "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=meatyhamhock",
            "meatyhamhock",
        ),
        ("hub.mode=subscribe&hub.challenge=1&hub.verify_token=", ""),
    ];
    for (query, token) in cases {
        let err = verify_subscription(query, token).unwrap_err();
        assert!(
            matches!(err, ChannelError::VerificationFailed(_)),
            "{query}"
        );
        assert_eq!(err.status(), 403);
    }
}

#[test]
fn subscription_with_missing_fields_is_malformed() {
    let cases = [
        "hub.challenge=1&hub.verify_token=t",
        "hub.mode=subscribe&hub.challenge=1",
        "hub.mode=subscribe&hub.verify_token=t",
        "hub.mode=subscribe&hub.verify_token=t&hub.challenge=",
        "",
    ];
    for query in cases {
        let err = verify_subscription(query, "t").unwrap_err();
        assert!(matches!(err, ChannelError::Malformed(_)), "{query}");
        assert_eq!(err.status(), 400);
    }
}

// ---------------------------------------------------------------- service window

#[test]
fn service_window_is_open_for_24_hours_after_the_last_customer_message() {
    assert_eq!(SERVICE_WINDOW, Span::hours(24));
    let last = Timestamp::from_secs(1_749_416_383);
    assert_eq!(check_service_window(Some(last), last), Ok(()));
    assert_eq!(
        check_service_window(Some(last), last + Span::hours(23)),
        Ok(())
    );
    assert_eq!(
        check_service_window(Some(last), last + SERVICE_WINDOW - Span::millis(1)),
        Ok(())
    );
    // A clock slightly behind the platform's still counts as inside.
    assert_eq!(
        check_service_window(Some(last), last - Span::seconds(5)),
        Ok(())
    );
}

#[test]
fn service_window_is_closed_exactly_24_hours_later() {
    let last = Timestamp::from_secs(1_749_416_383);
    let closed = OutsideWindow {
        last_customer_message_at: Some(last),
        closed_at: Some(last + Span::hours(24)),
    };
    assert_eq!(
        check_service_window(Some(last), last + SERVICE_WINDOW),
        Err(closed)
    );
    assert_eq!(
        check_service_window(Some(last), last + Span::days(3)),
        Err(closed)
    );
    assert_eq!(
        check_service_window(None, last),
        Err(OutsideWindow {
            last_customer_message_at: None,
            closed_at: None,
        })
    );
    assert!(closed
        .to_string()
        .contains("24-hour customer service window"));
}

// ---------------------------------------------------------------- WhatsApp inbound

const WA_PHONE: &str = "106540352242922";
const WA_CUSTOMER: &str = "16505551234";

fn wa_events(name: &str) -> Vec<WhatsAppEvent> {
    whatsapp::parse_webhook(&fixture("whatsapp", name)).unwrap()
}

fn wa_message(name: &str) -> InboundMessage {
    match wa_events(name).as_slice() {
        [WhatsAppEvent::Message(m)] => m.clone(),
        other => panic!("{name}: expected one message, got {other:?}"),
    }
}

fn wa_content(name: &str) -> MessageContent {
    wa_message(name).content
}

#[test]
fn whatsapp_text_message_is_normalized() {
    assert_eq!(
        wa_message("text"),
        InboundMessage {
            channel: Channel::WhatsApp,
            account: ChannelAccount::WhatsAppPhone(WA_PHONE.into()),
            sender: WA_CUSTOMER.into(),
            sender_name: Some("Sheena Nelson".into()),
            provider_id: "wamid.HBgLMTY1MDUwNzY1MjAVAgASGBQzQUJDMDEyMzQ1Njc4OUFCQ0RFRgA1".into(),
            sent_at: Some(Timestamp::from_secs(1_749_416_383)),
            content: MessageContent::Text {
                body: "Does it come in another color?".into()
            },
            reply_to: None,
            route: ReplyRoute::Direct,
            acked_at: None,
        }
    );
    assert_eq!(
        wa_message("text").idempotency_key(),
        "whatsapp:wamid.HBgLMTY1MDUwNzY1MjAVAgASGBQzQUJDMDEyMzQ1Njc4OUFCQ0RFRgA1"
    );
}

#[test]
fn whatsapp_reply_context_becomes_reply_to() {
    let m = wa_message("text_reply");
    assert_eq!(
        m.reply_to.as_deref(),
        Some("wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA")
    );
}

#[test]
fn whatsapp_media_messages_keep_id_mime_type_and_caption() {
    let cases = [
        (
            "image",
            MediaKind::Image,
            "1003383421387256",
            "image/jpeg",
            Some("Is this in stock?"),
        ),
        (
            "audio",
            MediaKind::Audio,
            "1003383421387257",
            "audio/ogg; codecs=opus",
            None,
        ),
        (
            "video",
            MediaKind::Video,
            "1003383421387258",
            "video/mp4",
            Some("The box arrived like this"),
        ),
        (
            "document",
            MediaKind::Document,
            "1003383421387259",
            "application/pdf",
            Some("My invoice"),
        ),
        (
            "sticker",
            MediaKind::Sticker,
            "1003383421387260",
            "image/webp",
            None,
        ),
    ];
    for (name, media, id, mime, caption) in cases {
        assert_eq!(
            wa_content(name),
            MessageContent::Media {
                media,
                reference: Some(id.into()),
                mime_type: Some(mime.into()),
                caption: caption.map(Into::into),
            },
            "{name}"
        );
    }
    assert_eq!(
        wa_content("audio").text_for_reply().as_deref(),
        Some("[audio sent]")
    );
}

#[test]
fn whatsapp_location_and_contacts() {
    assert_eq!(
        wa_content("location"),
        MessageContent::Location {
            latitude: 37.483307,
            longitude: -122.148981,
            name: Some("Meta Headquarters".into()),
            address: Some("1 Hacker Way, Menlo Park, CA 94025".into()),
        }
    );
    // formatted_name when given, else first and last name; phone numbers are not kept.
    assert_eq!(
        wa_content("contacts"),
        MessageContent::Contacts {
            names: vec!["Barbara J. Johnson".into(), "Pablo Morales".into()]
        }
    );
}

#[test]
fn whatsapp_button_and_list_replies_are_choices() {
    let button = wa_message("interactive_button_reply");
    assert_eq!(
        button.content,
        MessageContent::Choice {
            id: "book-tomorrow".into(),
            title: "Tomorrow 10am".into()
        }
    );
    assert!(button.reply_to.is_some());
    assert_eq!(
        wa_content("interactive_list_reply"),
        MessageContent::Choice {
            id: "sourdough".into(),
            title: "Sourdough loaf".into()
        }
    );
    // Template quick-reply buttons: payload is the id, text the title.
    assert_eq!(
        wa_content("button"),
        MessageContent::Choice {
            id: "STOP_PROMOTIONS".into(),
            title: "Stop promotions".into()
        }
    );
    assert_eq!(
        wa_content("interactive_flow_reply"),
        MessageContent::Unsupported {
            reason: "interactive `nfm_reply`".into()
        }
    );
}

#[test]
fn whatsapp_reactions_and_their_removal() {
    let target = "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTgA";
    assert_eq!(
        wa_content("reaction"),
        MessageContent::Reaction {
            message_id: target.into(),
            emoji: Some("👍".into())
        }
    );
    // Meta omits `emoji` when the customer removes their reaction.
    assert_eq!(
        wa_content("reaction_removed"),
        MessageContent::Reaction {
            message_id: target.into(),
            emoji: None
        }
    );
    // An empty emoji means the same.
    let body = String::from_utf8(fixture("whatsapp", "reaction"))
        .unwrap()
        .replace(r#""\ud83d\udc4d""#, r#""""#);
    let events = whatsapp::parse_webhook(body.as_bytes()).unwrap();
    assert!(matches!(
        &events[..],
        [WhatsAppEvent::Message(InboundMessage {
            content: MessageContent::Reaction { emoji: None, .. },
            ..
        })]
    ));
    assert_eq!(wa_content("reaction").text_for_reply(), None);
}

#[test]
fn whatsapp_unsupported_and_unknown_types_are_messages_not_errors() {
    assert_eq!(
        wa_content("unsupported"),
        MessageContent::Unsupported {
            reason: "Message type unknown (131051): `edit`".into()
        }
    );
    assert_eq!(
        wa_content("unknown_type"),
        MessageContent::Unsupported {
            reason: "message type `order`".into()
        }
    );
}

#[test]
fn whatsapp_sender_name_comes_from_the_matching_contact() {
    let body = String::from_utf8(fixture("whatsapp", "text")).unwrap();
    // Meta may normalize the number differently in `contacts` (e.g. Brazil's ninth digit):
    // with a single contact, its name is still the sender's.
    let renumbered = body.replace(r#""wa_id": "16505551234""#, r#""wa_id": "1650555123""#);
    let m = match &whatsapp::parse_webhook(renumbered.as_bytes()).unwrap()[..] {
        [WhatsAppEvent::Message(m)] => m.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(m.sender_name.as_deref(), Some("Sheena Nelson"));
    // Without a profile there is no name.
    let anonymous = body.replace(r#""name": "Sheena Nelson""#, r#""name": "  ""#);
    let m = match &whatsapp::parse_webhook(anonymous.as_bytes()).unwrap()[..] {
        [WhatsAppEvent::Message(m)] => m.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(m.sender_name, None);
}

#[test]
fn whatsapp_customers_with_a_username_are_keyed_by_their_bsuid() {
    // Meta withholds the phone number of some customers who adopted a WhatsApp username and
    // sends their business-scoped user id instead.
    let m = wa_message("text_username");
    assert_eq!(m.sender, "US.13491208655302741918");
    assert_eq!(m.sender_name.as_deref(), Some("Sheena Nelson"));
    assert_eq!(
        m.content,
        MessageContent::Text {
            body: "Do you deliver on weekends?".into()
        }
    );
}

#[test]
fn whatsapp_statuses_report_delivery_of_our_messages() {
    let events = wa_events("statuses");
    let status = |suffix: &str, state, error: Option<&str>| {
        WhatsAppEvent::Status(DeliveryStatus {
            channel: Channel::WhatsApp,
            account: ChannelAccount::WhatsAppPhone(WA_PHONE.into()),
            provider_id: format!("wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI{suffix}"),
            recipient: WA_CUSTOMER.into(),
            state,
            at: Some(Timestamp::from_secs(1_750_263_773)),
            error: error.map(Into::into),
            callback_data: None,
        })
    };
    let mut sent = status("SENT", DeliveryState::Sent, None);
    if let WhatsAppEvent::Status(s) = &mut sent {
        // The callback data the send request carried comes back with the status.
        s.callback_data = Some("concierge:0123456789abcdef0123456789abcdef".into());
    }
    assert_eq!(
        events,
        vec![
            sent,
            status("DELIVERED", DeliveryState::Delivered, None),
            status("READ", DeliveryState::Read, None),
            status(
                "FAILED",
                DeliveryState::Failed,
                Some("Re-engagement message (131047)")
            ),
        ]
    );
}

#[test]
fn whatsapp_events_it_does_not_act_on_are_ignored_not_errors() {
    assert_eq!(
        wa_events("account_update"),
        vec![WhatsAppEvent::Ignored {
            reason: "webhook field `account_update`".into()
        }]
    );
    assert_eq!(
        wa_events("status_unknown"),
        vec![WhatsAppEvent::Ignored {
            reason: "status `warning` for wamid.HBgLMTY1MDUwNzY1MjAVAgARGBIWARN".into()
        }]
    );
    // Concierge answers people one to one: a group message is not answered as a DM.
    assert!(matches!(
        &wa_events("group_message")[..],
        [WhatsAppEvent::Ignored { reason }] if reason.starts_with("group message")
    ));
}

#[test]
fn whatsapp_batch_reads_every_entry_and_change_in_order() {
    let events = wa_events("batch");
    let summary: Vec<String> = events
        .iter()
        .map(|e| match e {
            WhatsAppEvent::Message(m) => format!(
                "message {} from {} ({:?}) on {}: {:?}",
                m.provider_id,
                m.sender,
                m.sender_name,
                m.account.index_key(),
                m.content.text_for_reply()
            ),
            WhatsAppEvent::Status(s) => format!("status {:?} {}", s.state, s.provider_id),
            WhatsAppEvent::Ignored { reason } => format!("ignored {reason}"),
        })
        .collect();
    expect![[r#"
        [
            "message wamid.HBgLMTY1MDUwNzY1MjAVAgASGBQzQUJDMDEyMzQ1Njc4OUFCQ0RFRgA20 from 16505551234 (Some(\"Sheena Nelson\")) on wa_phone:106540352242922: Some(\"First\")",
            "message wamid.HBgLMTY1MDUwNzY1MjAVAgASGBQzQUJDMDEyMzQ1Njc4OUFCQ0RFRgA21 from 16505551234 (Some(\"Sheena Nelson\")) on wa_phone:106540352242922: Some(\"Second\")",
            "ignored webhook field `message_template_status_update`",
            "status Delivered wamid.HBgLMTY1MDUwNzY1MjAVAgARGBIB1",
            "message wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUM0FBQkNERUYwMTIzNDU2Nzg5QUIA from 447700900123 (Some(\"Amara Okafor\")) on wa_phone:209876543210987: Some(\"Hi from the UK\")",
        ]
    "#]]
    .assert_debug_eq(&summary);
}

fn assert_malformed(result: Result<impl std::fmt::Debug, ChannelError>, what: &str) {
    match result {
        Err(e @ ChannelError::Malformed(_)) => assert_eq!(e.status(), 400, "{what}"),
        other => panic!("{what}: expected Malformed, got {other:?}"),
    }
}

#[test]
fn whatsapp_malformed_payloads_are_rejected_with_400() {
    let text = String::from_utf8(fixture("whatsapp", "text")).unwrap();
    let cases = [
        ("not json", "{\"object\": ".to_owned()),
        ("not an object", "[1, 2, 3]".to_owned()),
        ("empty", String::new()),
        (
            "instagram object",
            text.replace("whatsapp_business_account", "instagram"),
        ),
        ("no metadata", text.replace("\"metadata\"", "\"meta\"")),
        ("no from", text.replace("\"from\"", "\"sender\"")),
        (
            "no id",
            text.replace("\"id\": \"wamid", "\"wamid\": \"wamid"),
        ),
        (
            "text without text",
            text.replace("\"text\": {", "\"txt\": {"),
        ),
        (
            "bad timestamp",
            text.replace("\"1749416383\"", "\"yesterday\""),
        ),
        (
            "numeric from",
            text.replace("\"from\": \"16505551234\"", "\"from\": 16505551234"),
        ),
    ];
    for (what, body) in cases {
        assert_malformed(whatsapp::parse_webhook(body.as_bytes()), what);
    }
}

#[test]
fn oversized_bodies_are_rejected_with_413_before_parsing() {
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    let err = whatsapp::parse_webhook(&body).unwrap_err();
    assert_eq!(err, ChannelError::TooLarge(MAX_BODY_BYTES + 1));
    assert_eq!(err.status(), 413);
    let err = instagram::parse_webhook(&body).unwrap_err();
    assert_eq!(err.status(), 413);
    // The answer names the limit, not the size: a server that stops reading at the limit and
    // a Worker that read the whole body answer alike.
    assert_eq!(
        ChannelError::TooLarge(MAX_BODY_BYTES + 50).to_string(),
        ChannelError::TooLarge(MAX_BODY_BYTES + 1).to_string()
    );
    assert_eq!(
        err.to_string(),
        format!("request body exceeds the limit of {MAX_BODY_BYTES} bytes")
    );
}

#[test]
fn an_empty_delivery_has_no_events() {
    assert_eq!(
        whatsapp::parse_webhook(br#"{"object":"whatsapp_business_account","entry":[]}"#),
        Ok(vec![])
    );
    assert_eq!(
        instagram::parse_webhook(br#"{"object":"instagram","entry":[]}"#),
        Ok(vec![])
    );
}

// ---------------------------------------------------------------- WhatsApp outbound

fn show(requests: &[HttpRequest]) -> String {
    let shown: Vec<serde_json::Value> = requests
        .iter()
        .map(|r| {
            serde_json::json!({
                "method": r.method,
                "path": r.path,
                "headers": r.headers,
                "body": serde_json::from_str::<serde_json::Value>(&r.body).unwrap(),
            })
        })
        .collect();
    serde_json::to_string_pretty(&shown).unwrap()
}

fn check(requests: &[HttpRequest], expect: Expect) {
    expect.assert_eq(&show(requests));
}

#[test]
fn whatsapp_text_reply_request() {
    check(
        &whatsapp::text_message(
            WA_PHONE,
            WA_CUSTOMER,
            "Yes, it also comes in blue.",
            Some("wamid.HBgLMTY1MDUwNzY1MjAVAgASGBQzQUJDMDEyMzQ1Njc4OUFCQ0RFRgA1"),
        ),
        expect![[r#"
            [
              {
                "body": {
                  "context": {
                    "message_id": "wamid.HBgLMTY1MDUwNzY1MjAVAgASGBQzQUJDMDEyMzQ1Njc4OUFCQ0RFRgA1"
                  },
                  "messaging_product": "whatsapp",
                  "recipient_type": "individual",
                  "text": {
                    "body": "Yes, it also comes in blue.",
                    "preview_url": false
                  },
                  "to": "16505551234",
                  "type": "text"
                },
                "headers": [
                  [
                    "content-type",
                    "application/json"
                  ]
                ],
                "method": "POST",
                "path": "/v21.0/106540352242922/messages"
              }
            ]"#]],
    );
}

#[test]
fn whatsapp_long_text_is_split_and_only_the_first_part_quotes() {
    let text = "word ".repeat(1500); // 7500 characters
    let requests = whatsapp::text_message(WA_PHONE, WA_CUSTOMER, &text, Some("wamid.X"));
    assert_eq!(requests.len(), 2);
    let bodies: Vec<serde_json::Value> = requests
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(bodies[0]["context"]["message_id"], "wamid.X");
    assert!(bodies[1].get("context").is_none());
    for b in &bodies {
        assert!(b["text"]["body"].as_str().unwrap().chars().count() <= 4096);
    }
    assert!(whatsapp::text_message(WA_PHONE, WA_CUSTOMER, "", None).is_empty());
}

#[test]
fn whatsapp_parts_carry_stable_callback_data_naming_their_part() {
    let text = "word ".repeat(1500); // two parts
    let tagged = |key: &str| {
        whatsapp::with_callback_data(
            whatsapp::text_message(WA_PHONE, WA_CUSTOMER, &text, Some("wamid.X")),
            key,
        )
    };
    let requests = tagged("reply:t:wamid.X");
    let data: Vec<String> = requests
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            body["biz_opaque_callback_data"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(data.len(), 2);
    assert_ne!(data[0], data[1], "each part is told apart");
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d, &whatsapp::callback_data("reply:t:wamid.X", i));
        assert!(d.chars().count() <= whatsapp::CALLBACK_DATA_MAX_CHARS);
        assert!(whatsapp::is_callback_data(d));
        // The key itself is not shown to other apps on the account.
        assert!(!d.contains("wamid.X"));
    }
    // A retry renders the same data; another message gets other data.
    assert_eq!(tagged("reply:t:wamid.X"), requests);
    assert_ne!(whatsapp::callback_data("reply:t:wamid.Y", 0), data[0]);
    // Statuses of messages other tools sent are not ours.
    assert!(!whatsapp::is_callback_data("campaign-42"));
    assert!(!whatsapp::is_callback_data("concierge:nothex"));
}

#[test]
fn whatsapp_ids_cannot_inject_path_segments() {
    let r = whatsapp::text_message("../me", WA_CUSTOMER, "hi", None);
    assert_eq!(
        r[0].path,
        format!("/{GRAPH_API_VERSION}/%2E%2E%2Fme/messages")
    );
}

#[test]
fn whatsapp_template_request_for_outside_the_window() {
    check(
        &[whatsapp::template_message(
            WA_PHONE,
            WA_CUSTOMER,
            "order_update",
            "en_US",
        )],
        expect![[r#"
            [
              {
                "body": {
                  "messaging_product": "whatsapp",
                  "recipient_type": "individual",
                  "template": {
                    "language": {
                      "code": "en_US"
                    },
                    "name": "order_update"
                  },
                  "to": "16505551234",
                  "type": "template"
                },
                "headers": [
                  [
                    "content-type",
                    "application/json"
                  ]
                ],
                "method": "POST",
                "path": "/v21.0/106540352242922/messages"
              }
            ]"#]],
    );
}

#[test]
fn whatsapp_send_response_yields_the_wamid() {
    assert_eq!(
        whatsapp::parse_send_response(&fixture("whatsapp", "send_response")),
        Ok("wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA".into())
    );
    let err =
        whatsapp::parse_send_response(&fixture("whatsapp", "error_reengagement")).unwrap_err();
    assert!(err.to_string().contains("131047"), "{err}");
    assert_malformed(
        whatsapp::parse_send_response(b"{\"messages\":[]}"),
        "no messages",
    );
    assert_malformed(whatsapp::parse_send_response(b"<html>"), "html");
}

// ---------------------------------------------------------------- Graph errors

#[test]
fn graph_errors_say_whether_to_retry() {
    let rate = parse_graph_error(&fixture("whatsapp", "error_rate_limit")).unwrap();
    assert_eq!(
        rate,
        meta::GraphError {
            code: 130429,
            subcode: None,
            message: "(#130429) Rate limit hit".into(),
            details: Some("Cloud API message throughput has been reached.".into()),
            fbtrace_id: Some("Az8or2yhqkZfEZ-_4Qn_Bam".into()),
            retryable: true,
        }
    );
    assert!(rate.is_rate_limit());

    let window = parse_graph_error(&fixture("whatsapp", "error_reengagement")).unwrap();
    assert!(!window.retryable);
    assert!(window.is_outside_window());

    let token = parse_graph_error(&fixture("whatsapp", "error_invalid_token")).unwrap();
    assert_eq!(
        (token.code, token.subcode, token.retryable),
        (190, Some(463), false)
    );

    let ig_window = parse_graph_error(&fixture("instagram", "error_outside_window")).unwrap();
    assert!(ig_window.is_outside_window());
    assert!(!ig_window.retryable);
    assert_eq!(
        ig_window.to_string(),
        "Graph API error 10: This message is sent outside of allowed window."
    );

    let ig_rate = parse_graph_error(&fixture("instagram", "error_rate_limit")).unwrap();
    assert!(ig_rate.retryable && ig_rate.is_rate_limit());
}

#[test]
fn graph_error_codes_classified() {
    let retryable = [
        4, 17, 32, 613, 80007, 130429, 131048, 131056, 1, 2, 131000, 131016, 133004,
    ];
    let final_ = [100, 190, 10, 131026, 131047, 131051, 132000, 368];
    for (codes, expected) in [(&retryable[..], true), (&final_[..], false)] {
        for code in codes {
            let body = format!(
                r#"{{"error":{{"message":"m","type":"OAuthException","code":{code},"fbtrace_id":"x"}}}}"#
            );
            assert_eq!(
                parse_graph_error(body.as_bytes()).map(|e| e.retryable),
                Some(expected),
                "code {code}"
            );
        }
    }
    // Meta's own transient flag wins.
    let transient = br#"{"error":{"message":"m","code":100,"is_transient":true}}"#;
    assert!(parse_graph_error(transient).unwrap().retryable);
    // Not an error body.
    assert_eq!(
        parse_graph_error(&fixture("whatsapp", "send_response")),
        None
    );
    assert_eq!(parse_graph_error(b"Bad Gateway"), None);
    assert_eq!(parse_graph_error(br#"{"error":"Invalid request"}"#), None);
}

// ---------------------------------------------------------------- Instagram inbound

const IG_ACCOUNT: &str = "17841405822304914";
const IGSID: &str = "6738393219633948";
const IG_TS: i64 = 1_749_416_383_512;

fn mid(n: u32) -> String {
    format!("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTQ5NDQ0NjE2{n:04}")
}

fn ig_events(name: &str) -> Vec<InstagramEvent> {
    instagram::parse_webhook(&fixture("instagram", name)).unwrap()
}

fn ig_message(name: &str) -> InboundMessage {
    match ig_events(name).as_slice() {
        [InstagramEvent::Message(m)] => m.clone(),
        other => panic!("{name}: expected one message, got {other:?}"),
    }
}

#[test]
fn instagram_text_message_is_normalized() {
    assert_eq!(
        ig_message("text"),
        InboundMessage {
            channel: Channel::Instagram,
            account: ChannelAccount::InstagramPage(IG_ACCOUNT.into()),
            sender: IGSID.into(),
            sender_name: None,
            provider_id: mid(1),
            sent_at: Some(Timestamp::from_millis(IG_TS)),
            content: MessageContent::Text {
                body: "Hi! Are you open on Sunday?".into()
            },
            reply_to: None,
            route: ReplyRoute::Direct,
            acked_at: None,
        }
    );
}

#[test]
fn instagram_attachments_become_media_with_their_url() {
    let cdn = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17937459146912345&signature=AbzGx2kLQ9";
    let cases = [
        ("image", MediaKind::Image, cdn.to_owned(), None),
        ("video", MediaKind::Video, format!("{cdn}&v=1"), None),
        ("audio", MediaKind::Audio, format!("{cdn}&a=1"), None),
        ("file", MediaKind::File, format!("{cdn}&f=1"), None),
        (
            "share",
            MediaKind::Share,
            "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18012345678901234&signature=Zx"
                .into(),
            None,
        ),
        (
            "story_mention",
            MediaKind::StoryMention,
            "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17999999999999999&signature=Mn"
                .into(),
            None,
        ),
        (
            "ig_reel",
            MediaKind::Share,
            "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18045678901234567&signature=Rl"
                .into(),
            Some("Our new sourdough, out of the oven"),
        ),
    ];
    for (name, media, url, caption) in cases {
        assert_eq!(
            ig_message(name).content,
            MessageContent::Media {
                media,
                reference: Some(url),
                mime_type: None,
                caption: caption.map(Into::into),
            },
            "{name}"
        );
    }
}

#[test]
fn instagram_several_attachments_get_distinct_idempotency_keys() {
    let keys: Vec<String> = ig_events("attachments_multiple")
        .iter()
        .map(|e| match e {
            InstagramEvent::Message(m) => m.idempotency_key(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            format!("instagram:{}", mid(6)),
            format!("instagram:{}#2", mid(6))
        ]
    );
}

#[test]
fn instagram_replies_to_messages_and_stories() {
    assert_eq!(ig_message("reply_to_mid").reply_to, Some(mid(900)));
    let story = ig_message("story_reply");
    assert_eq!(story.reply_to.as_deref(), Some("story:17888888888888888"));
    assert_eq!(story.route, ReplyRoute::Direct);
    assert_eq!(
        story.content,
        MessageContent::Text {
            body: "Love this! Do you deliver?".into()
        }
    );
}

#[test]
fn instagram_quick_replies_and_postbacks_are_choices() {
    assert_eq!(
        ig_message("quick_reply").content,
        MessageContent::Choice {
            id: "BOOK_TOMORROW".into(),
            title: "Tomorrow".into()
        }
    );
    let postback = ig_message("postback");
    assert_eq!(postback.provider_id, mid(13));
    assert_eq!(
        postback.content,
        MessageContent::Choice {
            id: "ICEBREAKER_HOURS".into(),
            title: "See opening hours".into()
        }
    );
}

#[test]
fn instagram_reactions_and_unreactions() {
    let react = ig_message("reaction");
    assert_eq!(
        react.content,
        MessageContent::Reaction {
            message_id: mid(900),
            emoji: Some("❤️".into())
        }
    );
    let unreact = ig_message("unreact");
    assert_eq!(
        unreact.content,
        MessageContent::Reaction {
            message_id: mid(900),
            emoji: None
        }
    );
    // Reacting and then removing it are two distinct events for idempotency.
    assert_ne!(react.provider_id, unreact.provider_id);
}

#[test]
fn instagram_echo_read_unsend_and_unsupported() {
    assert_eq!(
        ig_events("echo"),
        vec![InstagramEvent::Echo { mid: mid(14) }]
    );
    let status = |provider_id: String, state| {
        InstagramEvent::Status(DeliveryStatus {
            channel: Channel::Instagram,
            account: ChannelAccount::InstagramPage(IG_ACCOUNT.into()),
            provider_id,
            recipient: IGSID.into(),
            state,
            at: Some(Timestamp::from_millis(IG_TS)),
            error: None,
            callback_data: None,
        })
    };
    assert_eq!(
        ig_events("read"),
        vec![status(mid(900), DeliveryState::Read)]
    );
    assert_eq!(
        ig_events("deleted"),
        vec![status(mid(1), DeliveryState::Deleted)]
    );
    let unsupported = ig_message("unsupported");
    assert!(matches!(
        unsupported.content,
        MessageContent::Unsupported { .. }
    ));
    assert_eq!(unsupported.content.text_for_reply(), None);
}

#[test]
fn instagram_standby_referrals_and_comments_are_set_aside() {
    assert!(matches!(
        &ig_events("standby")[..],
        [InstagramEvent::Standby { reason }] if reason.contains("another app controls the conversation")
    ));
    assert!(matches!(
        &ig_events("referral")[..],
        [InstagramEvent::Ignored { reason }] if reason.contains("referral")
    ));
    assert_eq!(
        ig_events("comments"),
        vec![InstagramEvent::Ignored {
            reason: "webhook field `comments`".into()
        }]
    );
}

#[test]
fn instagram_batch_reads_every_entry_in_order() {
    let summary: Vec<String> = ig_events("batch")
        .iter()
        .map(|e| match e {
            InstagramEvent::Message(m) => format!(
                "message from {} on {} at {:?}: {:?}",
                m.sender,
                m.account.index_key(),
                m.sent_at,
                m.content.text_for_reply()
            ),
            InstagramEvent::Status(s) => format!("status {:?} by {}", s.state, s.recipient),
            other => format!("{other:?}"),
        })
        .collect();
    expect![[r#"
        [
            "message from 6738393219633948 on ig_page:17841405822304914 at Some(Timestamp(1749416383512)): Some(\"First\")",
            "message from 6738393219633948 on ig_page:17841405822304914 at Some(Timestamp(1749416384412)): Some(\"Second\")",
            "status Read by 6738393219633948",
            "message from 7000000000000001 on ig_page:17841400000000001 at Some(Timestamp(1749416383512)): Some(\"Other shop\")",
        ]
    "#]]
    .assert_debug_eq(&summary);
}

#[test]
fn instagram_malformed_payloads_are_rejected_with_400() {
    let text = String::from_utf8(fixture("instagram", "text")).unwrap();
    let cases = [
        ("not json", "{".to_owned()),
        (
            "whatsapp object",
            text.replace("\"instagram\"", "\"whatsapp_business_account\""),
        ),
        // Facebook Messenger deliveries are not Instagram conversations.
        ("page object", text.replace("\"instagram\"", "\"page\"")),
        (
            "no entry id",
            text.replace("\"id\": \"17841405822304914\",\n      \"time\"", "\"time\""),
        ),
        ("no sender", text.replace("\"sender\"", "\"from\"")),
        ("no mid", text.replace("\"mid\"", "\"message_id\"")),
        (
            "string timestamp",
            text.replace("1749416383512", "\"1749416383512\""),
        ),
    ];
    for (what, body) in cases {
        assert_malformed(instagram::parse_webhook(body.as_bytes()), what);
    }
}

// ---------------------------------------------------------------- Instagram outbound

#[test]
fn instagram_text_reply_request() {
    check(
        &instagram::text_message(IGSID, "Yes, we open at 9 on Sundays."),
        expect![[r#"
            [
              {
                "body": {
                  "message": {
                    "text": "Yes, we open at 9 on Sundays."
                  },
                  "messaging_type": "RESPONSE",
                  "recipient": {
                    "id": "6738393219633948"
                  }
                },
                "headers": [
                  [
                    "content-type",
                    "application/json"
                  ]
                ],
                "method": "POST",
                "path": "/v21.0/me/messages"
              }
            ]"#]],
    );
}

#[test]
fn instagram_long_text_is_split_at_its_limit() {
    let text = "bread ".repeat(400); // 2400 characters
    let requests = instagram::text_message(IGSID, &text);
    assert_eq!(requests.len(), 3);
    for r in &requests {
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert!(body["message"]["text"].as_str().unwrap().chars().count() <= 1000);
    }
    assert!(instagram::text_message(IGSID, "").is_empty());
}

#[test]
fn instagram_send_response_yields_the_message_id() {
    assert_eq!(
        instagram::parse_send_response(&fixture("instagram", "send_response")),
        Ok(mid(30))
    );
    let err =
        instagram::parse_send_response(&fixture("instagram", "error_outside_window")).unwrap_err();
    assert!(
        err.to_string().contains("outside of allowed window"),
        "{err}"
    );
}

// ---------------------------------------------------------------- properties

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("messages".to_owned()),
            Just("text".to_owned()),
            Just("whatsapp_business_account".to_owned()),
            Just("instagram".to_owned()),
            Just("1749416383".to_owned()),
            ".*".prop_map(|s: String| s),
        ]
        .prop_map(Value::String),
    ];
    let keys = prop_oneof![
        Just("object"),
        Just("entry"),
        Just("changes"),
        Just("field"),
        Just("value"),
        Just("metadata"),
        Just("phone_number_id"),
        Just("messages"),
        Just("statuses"),
        Just("contacts"),
        Just("from"),
        Just("id"),
        Just("type"),
        Just("timestamp"),
        Just("text"),
        Just("body"),
        Just("image"),
        Just("reaction"),
        Just("emoji"),
        Just("interactive"),
        Just("messaging"),
        Just("standby"),
        Just("sender"),
        Just("message"),
        Just("mid"),
        Just("attachments"),
        Just("payload"),
        Just("url"),
        Just("is_echo"),
        Just("read"),
        Just("postback"),
        Just("reply_to"),
        Just("story"),
    ];
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| {
                serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

proptest! {
    #[test]
    fn parsers_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = whatsapp::parse_webhook(&bytes);
        let _ = instagram::parse_webhook(&bytes);
        let _ = whatsapp::parse_send_response(&bytes);
        let _ = instagram::parse_send_response(&bytes);
        let _ = parse_graph_error(&bytes);
        let _ = verify_subscription(&String::from_utf8_lossy(&bytes), "t");
    }

    #[test]
    fn parsers_never_panic_on_json(value in arb_json()) {
        let _ = whatsapp::parse_webhook(value.to_string().as_bytes());
        let _ = instagram::parse_webhook(value.to_string().as_bytes());
        // The same value where each parser looks deepest.
        let wa = serde_json::json!({"object": "whatsapp_business_account", "entry": [
            {"changes": [{"field": "messages", "value": value.clone()}]}]});
        let _ = whatsapp::parse_webhook(wa.to_string().as_bytes());
        let ig = serde_json::json!({"object": "instagram", "entry": [
            {"id": "1", "messaging": [value.clone()], "standby": [value.clone()]}]});
        let _ = instagram::parse_webhook(ig.to_string().as_bytes());
    }

    #[test]
    fn parsed_whatsapp_messages_belong_to_whatsapp(value in arb_json()) {
        let wa = serde_json::json!({"object": "whatsapp_business_account", "entry": [
            {"changes": [{"field": "messages", "value": value}]}]});
        for event in whatsapp::parse_webhook(wa.to_string().as_bytes()).unwrap_or_default() {
            if let WhatsAppEvent::Message(m) = event {
                prop_assert_eq!(m.channel, Channel::WhatsApp);
                prop_assert_eq!(m.account.channel(), Channel::WhatsApp);
            }
        }
    }

    #[test]
    fn signatures_bind_secret_and_body(
        secret in prop::collection::vec(any::<u8>(), 1..64),
        body in prop::collection::vec(any::<u8>(), 0..512),
        flip in any::<prop::sample::Index>(),
    ) {
        let header = sign(&secret, &body);
        prop_assert_eq!(verify_signature(&secret, &body, Some(&header)), Ok(()));
        if !body.is_empty() {
            let mut tampered = body.clone();
            tampered[flip.index(body.len())] ^= 0x01;
            prop_assert_eq!(
                verify_signature(&secret, &tampered, Some(&header)),
                Err(ChannelError::BadSignature)
            );
        }
    }
}
