//! Email through the engine: loop prevention, routing rules, reverse aliases, AI replies.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use concierge_core::channels::email::{build_email, OutgoingEmail};
use concierge_core::engine::{EmailOutcome, EngineError, InboundOutcome};
use concierge_core::ports::{OutboundBody, Purpose};
use concierge_core::testing::Harness;
use futures::executor::block_on;

const CLINIC: &str = include_str!("../../examples/tenants/lotus-dental.toml");
const DOMAIN: &str = "lotus-dental.cncg.email";

fn clinic_with_rules() -> Harness {
    let toml = CLINIC
        .replace(
            "[approval]\nrequired = true",
            "[approval]\nrequired = false",
        )
        .replace(
            "[channels.email.replies]",
            r#"[[channels.email.rules."lotus-dental.cncg.email"]]
name = "invoices to accounting"
match = { subject = "*invoice*" }
action = "forward_email"
to = "accounting@lotus-dental.example"

[[channels.email.rules."lotus-dental.cncg.email"]]
name = "newsletter spam"
match = { from = "*@promo.example" }
action = "spam"

[[channels.email.rules."lotus-dental.cncg.email"]]
name = "x-rays to discord"
match = { has_attachment = true }
action = "forward_discord"
channel_id = "1180000000000000020"

[[channels.email.rules."lotus-dental.cncg.email"]]
name = "drop test mail"
match = { subject = "test" }
action = "drop"

[channels.email.replies]"#,
        );
    Harness::new(&toml)
}

fn mail(from: &str, to: &str, subject: &str, text: &str) -> Vec<u8> {
    let out = OutgoingEmail {
        from: (Some("Jane Doe".into()), from.into()),
        to: vec![to.into()],
        subject: subject.into(),
        text: text.into(),
        ..OutgoingEmail::default()
    };
    let raw = build_email(&out, concierge_core::Timestamp::from_secs(1_767_258_000)).unwrap();
    // build_email marks nothing as forwarded unless asked; this is a customer's mail.
    assert!(!raw.contains("X-EmailProxy-Forwarded"));
    raw.into_bytes()
}

#[test]
fn an_unmatched_email_gets_an_ai_reply_on_the_thread() {
    let h = clinic_with_rules();
    let raw = mail(
        "jane@example.com",
        &format!("hello@{DOMAIN}"),
        "Appointment",
        "Can I come Tuesday?",
    );
    let outcome = block_on(h.engine.handle_email(&raw, &format!("hello@{DOMAIN}"))).unwrap();
    let EmailOutcome::Answered {
        inbound: InboundOutcome::Turn(turn),
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert!(turn.reply.was_sent());
    let sent = h.outbound.sent();
    let reply = sent.iter().find(|m| m.purpose == Purpose::Reply).unwrap();
    assert_eq!(reply.to, "jane@example.com");
    let OutboundBody::FullEmail(out) = &reply.body else {
        panic!("an email")
    };
    assert_eq!(out.subject, "Re: Appointment");
    assert_eq!(out.from.1, format!("hello@{DOMAIN}"));
    assert!(
        out.in_reply_to.is_some(),
        "threads under the customer's message"
    );
    // The same message again changes nothing.
    assert_eq!(
        block_on(h.engine.handle_email(&raw, &format!("hello@{DOMAIN}"))).unwrap(),
        EmailOutcome::Duplicate
    );
}

#[test]
fn a_forward_goes_out_from_a_reverse_alias_and_the_reply_comes_back_to_the_customer() {
    let h = clinic_with_rules();
    let raw = mail(
        "jane@example.com",
        &format!("billing@{DOMAIN}"),
        "Invoice #42",
        "Please see my invoice.",
    );
    let EmailOutcome::Forwarded { to, alias, rule } =
        block_on(h.engine.handle_email(&raw, &format!("billing@{DOMAIN}"))).unwrap()
    else {
        panic!("expected a forward")
    };
    assert_eq!(
        (to.as_str(), rule.as_str()),
        ("accounting@lotus-dental.example", "invoices to accounting")
    );
    assert!(alias.ends_with(&format!("@{DOMAIN}")));
    let forwarded = h.outbound.sent().pop().unwrap();
    let OutboundBody::FullEmail(out) = &forwarded.body else {
        panic!("a full email")
    };
    assert_eq!(out.from.1, alias);
    assert!(out.forwarded, "carries X-EmailProxy-Forwarded");

    // Accounting replies to the alias: the customer gets it, from the clinic's address.
    let reply = mail(
        "accounting@lotus-dental.example",
        &alias,
        "Re: Invoice #42",
        "Paid, thanks!",
    );
    assert_eq!(
        block_on(h.engine.handle_email(&reply, &alias)).unwrap(),
        EmailOutcome::Relayed {
            to: "jane@example.com".into()
        }
    );
    let relayed = h.outbound.sent().pop().unwrap();
    let OutboundBody::FullEmail(out) = &relayed.body else {
        panic!("a full email")
    };
    assert_eq!(out.to, vec!["jane@example.com".to_owned()]);
    assert_eq!(out.from.1, format!("hello@{DOMAIN}"));
}

#[test]
fn our_own_forwarded_mail_and_auto_replies_never_get_an_answer() {
    let h = clinic_with_rules();
    let mut ours = OutgoingEmail {
        from: (None, format!("r-loop@{DOMAIN}")),
        to: vec![format!("hello@{DOMAIN}")],
        subject: "Looping?".into(),
        text: "hi".into(),
        forwarded: true,
        ..OutgoingEmail::default()
    };
    let raw = build_email(&ours, concierge_core::Timestamp::from_millis(0)).unwrap();
    assert!(matches!(
        block_on(
            h.engine
                .handle_email(raw.as_bytes(), &format!("hello@{DOMAIN}"))
        )
        .unwrap(),
        EmailOutcome::NotAnswered { .. }
    ));
    ours.forwarded = false;
    ours.extra_headers = vec![("Auto-Submitted".into(), "auto-replied".into())];
    ours.subject = "Out of office".into();
    let raw = build_email(&ours, concierge_core::Timestamp::from_millis(0)).unwrap();
    assert!(matches!(
        block_on(
            h.engine
                .handle_email(raw.as_bytes(), &format!("hello@{DOMAIN}"))
        )
        .unwrap(),
        EmailOutcome::NotAnswered { .. }
    ));
    assert!(h.outbound.sent().is_empty());
}

#[test]
fn rules_drop_file_as_spam_and_post_to_discord() {
    let h = clinic_with_rules();
    let to = format!("hello@{DOMAIN}");
    let spam = mail("deals@promo.example", &to, "50% off", "buy now");
    assert_eq!(
        block_on(h.engine.handle_email(&spam, &to)).unwrap(),
        EmailOutcome::Spam {
            rule: "newsletter spam".into()
        }
    );
    let test = mail("jane@example.com", &to, "TEST", "ignore");
    assert_eq!(
        block_on(h.engine.handle_email(&test, &to)).unwrap(),
        EmailOutcome::Dropped {
            rule: "drop test mail".into()
        }
    );
    let attachment = "From: Jane <jane@example.com>\r\nTo: hello@lotus-dental.cncg.email\r\nSubject: my x-ray\r\nMessage-ID: <xray@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=x.png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n";
    let outcome = block_on(h.engine.handle_email(attachment.as_bytes(), &to)).unwrap();
    assert_eq!(
        outcome,
        EmailOutcome::PostedToDiscord {
            rule: "x-rays to discord".into(),
            channel_id: "1180000000000000020".into()
        }
    );
    let post = h.outbound.sent().pop().unwrap();
    assert_eq!(post.to, "1180000000000000020");
}

#[test]
fn unknown_domains_and_garbage_are_refused_cleanly() {
    let h = clinic_with_rules();
    let raw = mail("jane@example.com", "hi@nobody.example", "Hi", "hello");
    assert_eq!(
        block_on(h.engine.handle_email(&raw, "hi@nobody.example")).unwrap(),
        EmailOutcome::UnknownDomain {
            domain: "nobody.example".into()
        }
    );
    assert!(matches!(
        block_on(h.engine.handle_email(b"", "hello@lotus-dental.cncg.email")),
        Err(EngineError::Malformed(_))
    ));
}

#[test]
fn invalid_rules_are_refused_with_the_field() {
    let toml = CLINIC.replace(
        "[channels.email.replies]",
        "[[channels.email.rules.\"lotus-dental.cncg.email\"]]\nname = \"bad\"\nmatch = { subject = \"[unclosed\" }\naction = \"drop\"\n\n[channels.email.replies]",
    );
    let err = concierge_core::tenant::TenantFile::from_toml(&toml).unwrap_err();
    assert!(err.to_string().contains("channels.email.rules"), "{err}");
}
