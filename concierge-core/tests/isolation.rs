//! Tenant isolation as a property: whatever two tenants' customers do, nothing of one reaches
//! the other (replies, sessions, charges).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use concierge_core::conversation::Role;
use concierge_core::ports::{Ledger, Purpose, SessionStore};
use concierge_core::tenant::TenantFile;
use concierge_core::testing::{Harness, EXAMPLE_TENANT};
use concierge_core::{Channel, ChannelAccount, ConversationKey, Milli, TenantId};
use futures::executor::block_on;
use proptest::prelude::*;

const A_PHONE: &str = "106540352242922";
const B_PHONE: &str = "222222222222222";

#[derive(Debug, Clone)]
enum Op {
    Say {
        tenant_b: bool,
        customer: u8,
        hours_question: bool,
    },
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), 0u8..3, any::<bool>()).prop_map(|(tenant_b, customer, hours_question)| Op::Say { tenant_b, customer, hours_question }),
        1 => (1u16..600).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    #[test]
    fn nothing_of_one_tenant_reaches_the_other(ops in proptest::collection::vec(op(), 1..40)) {
        let mut h = Harness::new(EXAMPLE_TENANT);
        let b_toml = EXAMPLE_TENANT.replace("sunrise-bakery", "moon-bakery").replace(A_PHONE, B_PHONE);
        block_on(h.engine.import_tenant(TenantFile::from_toml(&b_toml).unwrap())).unwrap();
        h.run_due_jobs();
        let (a, b) = (TenantId::parse("sunrise-bakery").unwrap(), TenantId::parse("moon-bakery").unwrap());
        let mut ai_replies = [0i64, 0];
        for op in ops {
            match op {
                Op::Advance(s) => { h.advance(&format!("{s}s")); }
                Op::Say { tenant_b, customer, hours_question } => {
                    let mut m = h.message(if hours_question { "what are your hours?" } else { "tell me about cakes" });
                    let (tag, phone) = if tenant_b { ("B", B_PHONE) } else { ("A", A_PHONE) };
                    m.account = ChannelAccount::WhatsAppPhone(phone.into());
                    m.sender = format!("{tag}-customer-{customer}");
                    if let concierge_core::channels::MessageContent::Text { body } = &mut m.content {
                        *body = format!("{tag}: {body}");
                    }
                    let step = h.deliver(m);
                    for sent in &step.sent {
                        let expected = if tenant_b { &b } else { &a };
                        prop_assert_eq!(&sent.tenant, expected);
                        if sent.purpose == Purpose::Reply {
                            prop_assert_eq!(sent.account.clone(), Some(ChannelAccount::WhatsAppPhone(phone.into())));
                            prop_assert!(sent.to.starts_with(tag));
                        }
                    }
                    ai_replies[usize::from(tenant_b)] += step.turns.iter().filter(|t| t.charged.is_some()).count() as i64;
                }
            }
        }
        for (i, (tenant, tag)) in [(&a, "A"), (&b, "B")].into_iter().enumerate() {
            let balance = block_on(h.store.balance(tenant, h.now())).unwrap();
            prop_assert_eq!(balance, Milli::from_milli(10_000 - 1_000 * ai_replies[i]));
            for customer in 0..3 {
                for owner in [&a, &b] {
                    let key = ConversationKey::new(owner.clone(), Channel::WhatsApp, format!("{tag}-customer-{customer}"));
                    if let Some(session) = block_on(h.store.load_session(&key)).unwrap() {
                        prop_assert_eq!(owner, tenant, "a session exists only under its own tenant");
                        for turn in session.history().iter().filter(|t| t.role == Role::User) {
                            prop_assert!(turn.content.starts_with(tag));
                        }
                    }
                }
            }
        }
    }
}
