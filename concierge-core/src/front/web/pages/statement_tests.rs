//! The Credits and Conversations pages, sans-IO: a signed-in owner (a hand-made [`Viewer`])
//! against the in-memory store and host, through the pages' router.

#![allow(clippy::unwrap_used)] // tests may unwrap

use bytes::Bytes;
use futures::executor::block_on;

use crate::billing::Grant;
use crate::front::{ApiError, DemoLimiter, Front, FrontConfig};
use crate::i18n::UiLocale;
use crate::ids::{Channel, ConversationId, ConversationKey, Milli, TenantId};
use crate::ports::{Direction, MessageRecord};
use crate::testing::{Harness, MemoryHost, EXAMPLE_TENANT};
use crate::time::Span;

use super::super::Viewer;

struct Page {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

/// The en-IN string of `key`, as the pages render it.
fn tx(key: &str) -> String {
    let text = crate::i18n::text(UiLocale::EnIn, key, &[]);
    assert_ne!(text, key, "{key} has a string");
    text
}

/// An amount as the en-IN pages write it.
fn money(currency: &str, milli: i64) -> String {
    crate::i18n::format_money(UiLocale::EnIn, currency, milli)
}

fn viewer_of(tenant: &TenantId) -> Viewer {
    Viewer {
        tenant: tenant.clone(),
        email: "owner@sunrise.example".into(),
        csrf: "csrf-token".into(),
        locale: UiLocale::EnIn,
        owner: "owner-1".into(),
        session: "session-hash".into(),
    }
}

fn call_as(h: &Harness, viewer: &Viewer, method: &str, path: &str) -> Page {
    let host = MemoryHost::new(h.engine.clone());
    let config = FrontConfig::default();
    let demo = DemoLimiter::new(10);
    let front = Front::new(&h.engine, &host, &config, &demo);
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .body(Bytes::new())
        .unwrap();
    let rest: Vec<&str> = path
        .trim_matches('/')
        .strip_prefix("dashboard/")
        .unwrap()
        .split('/')
        .collect();
    let response =
        block_on(super::route(&front, viewer, &req, &rest)).unwrap_or_else(ApiError::into_response);
    let (parts, body) = response.into_parts();
    Page {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn get(h: &Harness, path: &str) -> Page {
    call_as(h, &viewer_of(h.tenant_id()), "GET", path)
}

/// The `<tr>`s of the table with `id`, as their text.
fn rows<'a>(body: &'a str, table_id: &str) -> Vec<&'a str> {
    let start = body
        .find(&format!(r#"id="{table_id}""#))
        .unwrap_or_else(|| panic!("no #{table_id} in {body}"));
    let table = &body[start..];
    let table = &table[..table.find("</table>").unwrap()];
    let tbody = &table[table.find("<tbody>").unwrap()..];
    tbody.split("<tr").skip(1).collect()
}

fn other_tenant(h: &Harness) -> TenantId {
    let toml = EXAMPLE_TENANT
        .replace("sunrise-bakery", "moonrise-cafe")
        .replace("106540352242922", "106540352249999");
    let file = crate::tenant::TenantFile::from_toml(&toml).unwrap();
    let id = file.id.clone();
    block_on(h.engine.import_tenant(file)).unwrap();
    id
}

fn log(
    tenant: &TenantId,
    conversation: Option<&ConversationId>,
    direction: Direction,
    customer: &str,
    id: &str,
    at: crate::time::Timestamp,
) -> MessageRecord {
    let (sender, recipient) = match direction {
        Direction::Inbound => (customer, "106540352242922"),
        Direction::Outbound => ("106540352242922", customer),
    };
    MessageRecord {
        tenant: tenant.clone(),
        channel: Channel::WhatsApp,
        direction,
        sender: sender.into(),
        recipient: recipient.into(),
        message_id: id.into(),
        action_taken: "ai:default".into(),
        conversation_id: conversation.cloned(),
        at,
    }
}

#[test]
fn credits_show_the_balance_the_price_the_grants_and_every_debit_and_refund() {
    let mut h = Harness::new(EXAMPLE_TENANT);
    h.ai.reply("Our cakes start at 500 rupees.");
    h.says("How much is a cake?").expect_charge("1");
    h.ai.fail_next_reply(crate::testing::ScriptedFailure::Provider);
    let _ = h.says("And a dozen cupcakes?");
    let page = get(&h, "/dashboard/credits");
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.headers["cache-control"], "no-store");
    // 10 starting credits, one reply charged, the failed one refunded.
    assert!(
        page.body.contains(&format!(
            r#"<strong id="credits-balance">{}</strong>"#,
            money("INR", 9_000)
        )),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!(
        r#"<strong id="credits-price">{}</strong>"#,
        money("INR", 1_000)
    )));
    let grants = rows(&page.body, "grants-table");
    assert_eq!(grants.len(), 1);
    assert!(grants[0].contains(r#"data-grant="starting-credits""#));
    assert!(grants[0].contains("₹10") && grants[0].contains("₹9"));
    assert!(grants[0].contains(&tx("credits-expires-never")));
    let debits = rows(&page.body, "debits-table");
    assert_eq!(debits.len(), 2, "{debits:?}");
    assert!(debits[0].contains("refunded") && debits[0].contains(&tx("credits-status-refunded")));
    assert!(debits[1].contains(&tx("credits-status-charged")));
    assert!(!debits[1].contains(r#"class="debit refunded""#));
    for d in &debits {
        assert!(d.contains("₹1"));
    }
    assert!(!page.body.contains("grants-empty") && !page.body.contains("debits-empty"));
    assert!(page.body.contains(r#"<div class="table-wrap">"#));
}

#[test]
fn credits_have_empty_states_and_say_when_the_currency_has_no_price() {
    let toml = EXAMPLE_TENANT
        .replace("starting_credits = \"10\"\n", "")
        .replace("currency = \"INR\"", "currency = \"JPY\"");
    let h = Harness::new(&toml);
    let page = get(&h, "/dashboard/credits");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&format!(
        r#"<strong id="credits-balance">{}</strong>"#,
        money("JPY", 0)
    )));
    assert!(page.body.contains(r#"id="grants-empty""#));
    assert!(page.body.contains(r#"id="debits-empty""#));
    assert!(!page.body.contains("grants-table") && !page.body.contains("debits-table"));
    assert!(page.body.contains(r#"id="credits-price-missing""#));
    assert!(!page.body.contains(r#"id="credits-price""#));
}

#[test]
fn credits_show_expiry_and_never_another_tenants_grants() {
    let h = Harness::new(EXAMPLE_TENANT);
    let other = other_tenant(&h);
    let now = h.now();
    let store = h.engine.store();
    block_on(store.grant(
        h.tenant_id(),
        Grant::new(
            "promo-1",
            Milli::from_milli(2_000),
            now,
            Some(now + Span::days(7)),
            "promo",
        ),
    ))
    .unwrap();
    block_on(store.grant(
        &other,
        Grant::new(
            "theirs-1",
            Milli::from_milli(5_000),
            now,
            None,
            "their grant",
        ),
    ))
    .unwrap();
    let page = get(&h, "/dashboard/credits");
    let grants = rows(&page.body, "grants-table");
    assert_eq!(grants.len(), 2);
    assert!(grants.iter().any(|g| g.contains(r#"data-grant="promo-1""#)
        && g.contains("<time datetime=")
        && !g.contains(&tx("credits-expires-never"))));
    assert!(!page.body.contains("theirs-1") && !page.body.contains("their grant"));
    // Expired: flagged, its remainder no longer counts.
    h.clock.advance(Span::days(8));
    let page = get(&h, "/dashboard/credits");
    let promo: Vec<_> = rows(&page.body, "grants-table")
        .into_iter()
        .filter(|g| g.contains("promo-1"))
        .collect();
    assert!(promo[0].contains(r#"class="expired""#), "{}", promo[0]);
    assert!(page.body.contains(&format!(
        r#"<strong id="credits-balance">{}</strong>"#,
        money("INR", 10_000)
    )));
}

#[test]
fn conversations_list_newest_first_and_open_one_without_bodies() {
    let mut h = Harness::new(EXAMPLE_TENANT);
    h.ai.reply("Yes, we make eggless cakes.");
    h.as_customer("15550002222")
        .says("Do you make eggless cakes?");
    h.advance("2m");
    h.ai.reply("We deliver within Pune.");
    h.as_customer("15550003333")
        .says("Do you deliver to Kothrud?");
    let page = get(&h, "/dashboard/conversations");
    assert_eq!(page.status, 200, "{}", page.body);
    let listed = rows(&page.body, "conversations-table");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed[0].contains("15550003333"),
        "newest first: {}",
        listed[0]
    );
    assert!(listed[1].contains("15550002222"));
    assert!(listed[0].contains(&tx("channel-whatsapp")));
    // Inbound and the reply: two rows; the last action is the send.
    assert!(
        listed[0].contains(r#"<td class="num">2</td>"#),
        "{}",
        listed[0]
    );
    assert!(listed[0].contains("<code>sent</code>"));
    for text in ["eggless", "Kothrud", "deliver within"] {
        assert!(!page.body.contains(text), "no bodies on the list: {text}");
    }
    let href = listed[0]
        .split(r#"href=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    assert!(href.starts_with("/dashboard/conversations/c_"), "{href}");
    let one = get(&h, &href);
    assert_eq!(one.status, 200, "{}", one.body);
    let messages = rows(&one.body, "conversation-messages");
    assert_eq!(messages.len(), 2);
    assert!(messages[0].contains(r#"class="message inbound""#));
    assert!(messages[0].contains(&tx("conversation-direction-inbound")));
    assert!(messages[1].contains(r#"class="message outbound""#));
    assert!(messages[1].contains("<code>sent</code>"));
    assert!(one.body.contains(r#"id="conversation-id""#));
    for text in ["Kothrud", "deliver within", "Pune."] {
        assert!(!one.body.contains(text), "no bodies on the page: {text}");
    }
}

#[test]
fn conversations_have_an_empty_state_and_hide_unknown_and_other_tenants_ones() {
    let h = Harness::new(EXAMPLE_TENANT);
    let page = get(&h, "/dashboard/conversations");
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"id="conversations-empty""#));
    assert!(!page.body.contains("conversations-table"));

    let other = other_tenant(&h);
    let key = ConversationKey::new(other.clone(), Channel::WhatsApp, "15559990000");
    let theirs = ConversationId::derive(&key, h.now());
    block_on(h.engine.store().record_message(&log(
        &other,
        Some(&theirs),
        Direction::Inbound,
        "15559990000",
        "wamid.theirs",
        h.now(),
    )))
    .unwrap();
    let page = get(&h, "/dashboard/conversations");
    assert!(
        page.body.contains(r#"id="conversations-empty""#),
        "{}",
        page.body
    );
    let path = format!("/dashboard/conversations/{theirs}");
    assert_eq!(get(&h, &path).status, 404, "another tenant's conversation");
    assert_eq!(
        call_as(&h, &viewer_of(&other), "GET", &path).status,
        200,
        "its own tenant sees it"
    );
    assert_eq!(get(&h, "/dashboard/conversations/c_unknown").status, 404);
    assert_eq!(get(&h, "/dashboard/conversations/%zz").status, 404);
}

#[test]
fn credits_and_conversations_answer_get_only() {
    let h = Harness::new(EXAMPLE_TENANT);
    let viewer = viewer_of(h.tenant_id());
    for path in [
        "/dashboard/credits",
        "/dashboard/conversations",
        "/dashboard/conversations/c_0123",
    ] {
        for method in ["POST", "PUT", "DELETE"] {
            let page = call_as(&h, &viewer, method, path);
            assert_eq!(page.status, 405, "{method} {path}");
            assert_eq!(page.headers["allow"], "GET", "{method} {path}");
        }
    }
}

#[test]
fn grant_reasons_and_customer_ids_are_escaped() {
    let h = Harness::new(EXAMPLE_TENANT);
    let store = h.engine.store();
    let now = h.now();
    let evil = "<script>alert(1)</script>";
    block_on(store.grant(
        h.tenant_id(),
        Grant::new(
            "<script>id</script>",
            Milli::from_milli(1_000),
            now,
            None,
            evil,
        ),
    ))
    .unwrap();
    let key = ConversationKey::new(h.tenant_id().clone(), Channel::WhatsApp, evil);
    let conversation = ConversationId::derive(&key, now);
    let mut row = log(
        h.tenant_id(),
        Some(&conversation),
        Direction::Inbound,
        evil,
        "wamid.evil",
        now,
    );
    row.action_taken = "<script>action</script>".into();
    block_on(store.record_message(&row)).unwrap();
    for path in [
        "/dashboard/credits".to_owned(),
        "/dashboard/conversations".to_owned(),
        format!("/dashboard/conversations/{conversation}"),
    ] {
        let page = get(&h, &path);
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(!page.body.contains("<script>"), "{path}: {}", page.body);
        assert!(
            page.body.contains("&#60;script&#62;"),
            "{path}: {}",
            page.body
        );
    }
}
