//! The store contract: what every implementation of the storage ports must do.
//!
//! Invoke [`store_contract_tests!`](crate::store_contract_tests) in a test module of each store
//! implementation; it generates one `#[test]` per function here, each on a fresh store. Where
//! `#[test]` cannot run (the D1 store inside workerd), [`CHECKS`] names the same checks and
//! [`run_check`] runs one by name.
//!
//! ```ignore
//! concierge_core::store_contract_tests!(runner = futures::executor::block_on, store = MemoryStore::new());
//! // an async store under tokio:
//! concierge_core::store_contract_tests!(runner = crate::run_on_tokio, store = SqliteStore::open_temp().await.unwrap());
//! ```

use futures::future::join_all;

use crate::accounts::Owner;
use crate::approval::Draft;
use crate::audit::{AuditAction, AuditEntry, AuditQuery};
use crate::billing::{
    DebitEntry, DebitOutcome, Grant, GrantOutcome, RefundOutcome, DEBIT_RECORD_RETENTION,
};
use crate::catalog::CatalogPersona;
use crate::channels::ReplyRoute;
use crate::conversation::{Session, Turn};
use crate::ids::{
    Channel, ChannelAccount, ConversationId, ConversationKey, Currency, Milli, TenantId,
};
use crate::knowledge::{Chunk, ChunkEmbedding, StoredChunk, StoredDocument};
use crate::ports::{
    ConversationSummary, Direction, LoginFailures, MessageRecord, Store, StoreError, StoredPrice,
};
use crate::tenant::{Tenant, TenantFile};
use crate::time::{Span, Timestamp};

/// Generates the store contract tests for a store implementation.
///
/// `runner` is a function that runs a future to completion (`futures::executor::block_on`, or
/// one that builds a tokio runtime); `store` is an expression, evaluated inside an async block
/// (so it may `.await`), that makes a fresh, empty store.
///
/// The list of checks is written once, in this macro's `@list` arm: it also generates
/// [`CHECKS`] and [`run_check`], which a store that cannot run `#[test]`s (the D1 store inside
/// workerd) uses to run the same checks one at a time.
#[macro_export]
macro_rules! store_contract_tests {
    (runner = $runner:path, store = $make:expr $(,)?) => {
        $crate::store_contract_tests!(@list each [$runner, $make]);
    };
    // The one list of checks: every consumer (`@each`, `@items`) is fed from here.
    (@list $then:ident [$($args:tt)*]) => {
        $crate::store_contract_tests!(@$then [$($args)*]
            tenant_round_trip_and_reverse_index,
            tenant_writes_are_optimistic,
            refused_tenant_writes_change_no_account,
            an_account_belongs_to_one_tenant,
            reindexing_drops_old_accounts,
            sessions_round_trip_per_conversation,
            sessions_keep_their_summary_per_tenant,
            ledger_charges_a_key_once_and_never_overdraws,
            ledger_concurrent_debits_never_overdraw,
            ledgers_are_per_tenant,
            ledger_refuses_invalid_grants,
            ledger_charges_one_key_once_under_concurrency,
            ledger_debit_rows_count_for_the_retention_period,
            ledger_grant_ids_stay_taken,
            ledger_refunds_return_credit_to_live_grants_only,
            ledger_history_is_newest_first_bounded_and_per_tenant,
            ledger_history_shows_debits_then_refunds,
            ledger_history_leaves_out_rows_past_retention,
            first_seen_is_true_once_until_forgotten_or_expired,
            drafts_are_taken_once_and_expire,
            message_log_is_idempotent_and_per_tenant,
            message_log_reads_back_oldest_first,
            recent_conversations_are_newest_first_bounded_and_per_tenant,
            recent_conversations_take_the_latest_row_and_skip_unstamped_rows,
            aliases_are_per_tenant_and_expire,
            aliases_are_normalized_in_one_way,
            owners_are_unique_by_email_and_read_back,
            owner_session_epochs_only_go_up,
            login_failures_count_per_key_in_a_window,
            audit_log_is_newest_first_bounded_and_paged,
            audit_log_filters_by_tenant_and_keeps_tenants_apart,
            prices_are_stored_per_currency_and_replaced,
            prices_must_be_positive,
            catalog_entries_round_trip_by_slug_and_delete,
            catalog_writes_are_optimistic,
            operators_are_created_replaced_listed_and_deleted,
            knowledge_documents_replace_their_passages_per_tenant,
            knowledge_revisions_are_distinct_under_concurrency
        );
    };
    (@each [$runner:path, $make:expr] $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $runner(async {
                    let store = $make;
                    $crate::testing::contract::$name(&store).await;
                });
            }
        )*
    };
    (@items [] $($name:ident),* $(,)?) => {
        /// The name of every check of the contract, in the order the macro runs them.
        pub const CHECKS: &[&str] = &[$(stringify!($name)),*];

        /// Runs the check called `name` (one of [`CHECKS`]) on `store`, which should be fresh
        /// and empty. Returns `false` for an unknown name; panics when the store breaks the
        /// check's promise.
        pub async fn run_check<S: Store + ?Sized>(name: &str, store: &S) -> bool {
            match name {
                $(stringify!($name) => $name(store).await,)*
                _ => return false,
            }
            true
        }
    };
}

crate::store_contract_tests!(@list items []);

fn t(id: &str) -> TenantId {
    TenantId::parse(id).unwrap_or_else(|e| panic!("{e}"))
}

fn tenant(id: &str, phone: &str) -> Tenant {
    let toml = format!(
        r#"
id = "{id}"
name = "Tenant {id}"
currency = "INR"
persona.custom = "You are the assistant of {id}."
[channels.whatsapp]
phone_number_id = "{phone}"
[channels.whatsapp.replies]
default_rule = {{ kind = "canned", text = "hello from {id}" }}
"#
    );
    TenantFile::from_toml(&toml)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_tenant()
}

const T0: Timestamp = Timestamp(1_767_258_000_000);

/// A tenant reads back as written, and its accounts resolve to it.
pub async fn tenant_round_trip_and_reverse_index<S: Store + ?Sized>(store: &S) {
    let a = tenant("tenant-a", "111");
    let rev = store.put_tenant(&a, None).await.expect("create");
    assert_eq!(rev, 1);
    let back = store.get_tenant(&a.id).await.expect("get").expect("stored");
    assert_eq!(back.revision, 1);
    assert_eq!(back.name, a.name);
    assert_eq!(back.channels, a.channels);
    assert_eq!(back.persona, a.persona);
    assert_eq!(
        store
            .find_tenant(&ChannelAccount::WhatsAppPhone("111".into()))
            .await
            .expect("find"),
        Some(a.id.clone())
    );
    assert_eq!(
        store
            .find_tenant(&ChannelAccount::WhatsAppPhone("999".into()))
            .await
            .expect("find"),
        None
    );
    assert_eq!(store.get_tenant(&t("nobody")).await.expect("get"), None);
    assert_eq!(store.list_tenants().await.expect("list"), vec![a.id]);
}

/// A write with a stale revision fails with a conflict and changes nothing.
pub async fn tenant_writes_are_optimistic<S: Store + ?Sized>(store: &S) {
    let mut a = tenant("tenant-a", "111");
    store.put_tenant(&a, None).await.expect("create");
    assert!(
        matches!(
            store.put_tenant(&a, None).await,
            Err(StoreError::Conflict(_))
        ),
        "create twice"
    );
    a.name = "Renamed".into();
    assert_eq!(store.put_tenant(&a, Some(1)).await.expect("update"), 2);
    a.name = "Stale".into();
    assert!(matches!(
        store.put_tenant(&a, Some(1)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .get_tenant(&a.id)
            .await
            .expect("get")
            .expect("stored")
            .name,
        "Renamed"
    );
}

/// A write refused for its revision changes nothing, not even the reverse index: a second
/// create of an existing tenant, or an update from a stale revision, that names other accounts
/// leaves the accounts pointing where the stored tenant says. (The D1 store used to re-point
/// the index of a tenant at revision 1 to the accounts of a refused create.)
pub async fn refused_tenant_writes_change_no_account<S: Store + ?Sized>(store: &S) {
    let a = tenant("tenant-a", "111");
    store.put_tenant(&a, None).await.expect("create");
    let phone = |p: &str| ChannelAccount::WhatsAppPhone(p.into());
    assert!(
        matches!(
            store.put_tenant(&tenant("tenant-a", "333"), None).await,
            Err(StoreError::Conflict(_))
        ),
        "create twice"
    );
    assert_eq!(store.find_tenant(&phone("333")).await.expect("find"), None);
    assert_eq!(
        store.find_tenant(&phone("111")).await.expect("find"),
        Some(a.id.clone())
    );
    store.put_tenant(&a, Some(1)).await.expect("update");
    assert!(
        matches!(
            store.put_tenant(&tenant("tenant-a", "444"), Some(1)).await,
            Err(StoreError::Conflict(_))
        ),
        "stale update"
    );
    assert_eq!(store.find_tenant(&phone("444")).await.expect("find"), None);
    assert_eq!(
        store.find_tenant(&phone("111")).await.expect("find"),
        Some(a.id.clone())
    );
    let back = store.get_tenant(&a.id).await.expect("get").expect("stored");
    assert_eq!((back.revision, back.channels), (2, a.channels));
}

/// Two tenants cannot claim the same channel account.
pub async fn an_account_belongs_to_one_tenant<S: Store + ?Sized>(store: &S) {
    store
        .put_tenant(&tenant("tenant-a", "111"), None)
        .await
        .expect("a");
    let b = tenant("tenant-b", "111");
    assert!(matches!(
        store.put_tenant(&b, None).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_tenant(&b.id).await.expect("get"),
        None,
        "nothing written"
    );
    assert_eq!(
        store
            .find_tenant(&ChannelAccount::WhatsAppPhone("111".into()))
            .await
            .expect("find"),
        Some(t("tenant-a"))
    );
}

/// Changing an account id re-points the index and frees the old id.
pub async fn reindexing_drops_old_accounts<S: Store + ?Sized>(store: &S) {
    let mut a = tenant("tenant-a", "111");
    store.put_tenant(&a, None).await.expect("a");
    if let Some(w) = a.channels.whatsapp.as_mut() {
        w.phone_number_id = "222".into();
    }
    store.put_tenant(&a, Some(1)).await.expect("update");
    assert_eq!(
        store
            .find_tenant(&ChannelAccount::WhatsAppPhone("111".into()))
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        store
            .find_tenant(&ChannelAccount::WhatsAppPhone("222".into()))
            .await
            .expect("find"),
        Some(a.id.clone())
    );
    store
        .put_tenant(&tenant("tenant-b", "111"), None)
        .await
        .expect("old id is free");
}

/// Sessions are stored per conversation key and never leak across tenants.
pub async fn sessions_round_trip_per_conversation<S: Store + ?Sized>(store: &S) {
    let ka = ConversationKey::new(t("tenant-a"), Channel::WhatsApp, "555");
    let kb = ConversationKey::new(t("tenant-b"), Channel::WhatsApp, "555");
    let mut s = Session::start(&ka, T0);
    s.push_turn(Turn::user("hi"), 20);
    store.save_session(&ka, &s).await.expect("save");
    assert_eq!(
        store.load_session(&ka).await.expect("load"),
        Some(s.clone())
    );
    assert_eq!(store.load_session(&kb).await.expect("load"), None);
    s.push_turn(Turn::assistant("hello"), 20);
    store.save_session(&ka, &s).await.expect("save again");
    assert_eq!(
        store
            .load_session(&ka)
            .await
            .expect("load")
            .map(|s| s.history.len()),
        Some(2)
    );
}

/// A session's rolling summary persists with it, is replaced by the next fold, and never
/// reaches another tenant's (or customer's) conversation.
pub async fn sessions_keep_their_summary_per_tenant<S: Store + ?Sized>(store: &S) {
    let ka = ConversationKey::new(t("tenant-a"), Channel::WhatsApp, "555");
    let kb = ConversationKey::new(t("tenant-b"), Channel::WhatsApp, "555");
    let mut a = Session::start(&ka, T0);
    for i in 0..6 {
        a.push_turn(Turn::user(format!("a {i}")), 40);
    }
    a.fold(
        4,
        "Tenant A's customer wants a cake — ünïcode kept.".into(),
        T0,
    );
    store.save_session(&ka, &a).await.expect("save a");
    let mut b = Session::start(&kb, T0);
    b.push_turn(Turn::user("b 0"), 40);
    store.save_session(&kb, &b).await.expect("save b");

    let back = store.load_session(&ka).await.expect("load a").expect("a");
    assert_eq!(back, a);
    let summary = back.summary().expect("a's summary persists");
    assert_eq!(
        summary.text,
        "Tenant A's customer wants a cake — ünïcode kept."
    );
    assert_eq!((summary.turns, summary.updated_at), (4, T0));
    assert_eq!(back.history().len(), 2);
    let other = store.load_session(&kb).await.expect("load b").expect("b");
    assert_eq!(other.summary(), None, "tenant B never sees A's summary");
    let kc = ConversationKey::new(t("tenant-a"), Channel::WhatsApp, "556");
    assert_eq!(store.load_session(&kc).await.expect("load c"), None);

    let mut a = back;
    a.fold(1, "Replaced.".into(), T0 + Span::minutes(1));
    store
        .save_session(&ka, &a)
        .await
        .expect("save the next fold");
    let back = store.load_session(&ka).await.expect("load a").expect("a");
    let summary = back.summary().expect("still there");
    assert_eq!((summary.text.as_str(), summary.turns), ("Replaced.", 5));
}

/// A key is charged once; a refund returns it once; the balance never goes below zero.
pub async fn ledger_charges_a_key_once_and_never_overdraws<S: Store + ?Sized>(store: &S) {
    let a = t("tenant-a");
    assert_eq!(store.balance(&a, T0).await.expect("balance"), Milli::ZERO);
    assert_eq!(
        store
            .grant(&a, Grant::new("g1", Milli(3_000), T0, None, "test"))
            .await
            .expect("grant"),
        GrantOutcome::Granted
    );
    assert_eq!(
        store
            .grant(&a, Grant::new("g1", Milli(3_000), T0, None, "test"))
            .await
            .expect("grant"),
        GrantOutcome::AlreadyGranted
    );
    assert!(
        matches!(store.try_debit(&a, "k1", Milli(2_000), T0).await.expect("debit"), DebitOutcome::Charged { balance } if balance == Milli(1_000))
    );
    assert!(matches!(
        store
            .try_debit(&a, "k1", Milli(2_000), T0)
            .await
            .expect("debit"),
        DebitOutcome::AlreadyCharged { .. }
    ));
    assert!(matches!(
        store
            .try_debit(&a, "k2", Milli(2_000), T0)
            .await
            .expect("debit"),
        DebitOutcome::Insufficient { .. }
    ));
    assert_eq!(store.balance(&a, T0).await.expect("balance"), Milli(1_000));
    assert_eq!(
        store.refund(&a, "k1", T0).await.expect("refund"),
        RefundOutcome::Refunded
    );
    assert_eq!(
        store.refund(&a, "k1", T0).await.expect("refund"),
        RefundOutcome::AlreadyRefunded
    );
    assert_eq!(
        store.refund(&a, "nope", T0).await.expect("refund"),
        RefundOutcome::UnknownKey
    );
    assert_eq!(store.balance(&a, T0).await.expect("balance"), Milli(3_000));
    // Expiring credit is spent first and stops counting at its expiry.
    store
        .grant(
            &a,
            Grant::new(
                "promo",
                Milli(1_000),
                T0,
                Some(T0 + Span::hours(1)),
                "promo",
            ),
        )
        .await
        .expect("grant");
    assert_eq!(store.balance(&a, T0).await.expect("balance"), Milli(4_000));
    assert_eq!(
        store
            .balance(&a, T0 + Span::hours(1))
            .await
            .expect("balance"),
        Milli(3_000)
    );
}

/// Many debits at once never take more than the balance.
pub async fn ledger_concurrent_debits_never_overdraw<S: Store + ?Sized>(store: &S) {
    let a = t("tenant-a");
    store
        .grant(&a, Grant::new("g", Milli(5_000), T0, None, "test"))
        .await
        .expect("grant");
    let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    let outcomes = join_all(
        keys.iter()
            .map(|k| store.try_debit(&a, k, Milli(1_000), T0)),
    )
    .await;
    let charged = outcomes
        .into_iter()
        .map(|o| o.expect("debit"))
        .filter(|o| matches!(o, DebitOutcome::Charged { .. }))
        .count();
    assert_eq!(charged, 5);
    assert_eq!(store.balance(&a, T0).await.expect("balance"), Milli::ZERO);
}

/// One tenant's ledger never moves another's.
pub async fn ledgers_are_per_tenant<S: Store + ?Sized>(store: &S) {
    let (a, b) = (t("tenant-a"), t("tenant-b"));
    store
        .grant(&a, Grant::new("g", Milli(1_000), T0, None, "a"))
        .await
        .expect("grant");
    store
        .grant(&b, Grant::new("g", Milli(7_000), T0, None, "b"))
        .await
        .expect("grant b, same grant id");
    store
        .try_debit(&a, "same-key", Milli(1_000), T0)
        .await
        .expect("debit a");
    assert!(matches!(
        store
            .try_debit(&b, "same-key", Milli(1_000), T0)
            .await
            .expect("debit b"),
        DebitOutcome::Charged { .. }
    ));
    assert_eq!(store.balance(&a, T0).await.expect("a"), Milli::ZERO);
    assert_eq!(store.balance(&b, T0).await.expect("b"), Milli(6_000));
    assert_eq!(
        store.refund(&b, "other", T0).await.expect("refund"),
        RefundOutcome::UnknownKey
    );
}

/// A grant that fails `Grant::validate` is refused by the store itself and writes nothing: a
/// valid grant with the same id is granted afterwards.
pub async fn ledger_refuses_invalid_grants<S: Store + ?Sized>(store: &S) {
    let a = t("ledger-invalid");
    let hour = Some(T0 + Span::hours(1));
    let invalid = [
        Grant::new("g", Milli(0), T0, None, "zero"),
        Grant::new("g", Milli(-5), T0, None, "negative"),
        Grant {
            remaining: Milli(2_000),
            ..Grant::new("g", Milli(1_000), T0, None, "more left than granted")
        },
        Grant {
            remaining: Milli(-1),
            ..Grant::new("g", Milli(1_000), T0, None, "negative remaining")
        },
        Grant::new("", Milli(1_000), T0, None, "empty id"),
        Grant::new("  ", Milli(1_000), T0, None, "blank id"),
        Grant::new("g", Milli(1_000), T0, Some(T0), "expires when granted"),
        Grant::new("g", Milli(1_000), T0, Some(T0 - Span::hours(1)), "expired"),
    ];
    for grant in invalid {
        let reason = grant.reason.clone();
        assert!(store.grant(&a, grant).await.is_err(), "{reason}: refused");
    }
    assert_eq!(store.balance(&a, T0).await.expect("balance"), Milli::ZERO);
    assert_eq!(
        store
            .grant(&a, Grant::new("g", Milli(1_000), T0, hour, "valid"))
            .await
            .expect("grant"),
        GrantOutcome::Granted,
        "nothing was written under the id"
    );
    assert_eq!(store.balance(&a, T0).await.expect("balance"), Milli(1_000));
}

/// Concurrent debits of one key charge it once; concurrent refunds of it refund it once.
pub async fn ledger_charges_one_key_once_under_concurrency<S: Store + ?Sized>(store: &S) {
    let a = t("ledger-one-key");
    store
        .grant(&a, Grant::new("g", Milli(5_000), T0, None, "test"))
        .await
        .expect("grant");
    let debits = join_all((0..10).map(|_| store.try_debit(&a, "turn:1", Milli(1_000), T0))).await;
    let outcomes: Vec<DebitOutcome> = debits.into_iter().map(|o| o.expect("debit")).collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, DebitOutcome::Charged { .. }))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().all(DebitOutcome::is_charged),
        "{outcomes:?}"
    );
    assert_eq!(store.balance(&a, T0).await.expect("balance"), Milli(4_000));
    let refunds = join_all((0..5).map(|_| store.refund(&a, "turn:1", T0))).await;
    let outcomes: Vec<RefundOutcome> = refunds.into_iter().map(|o| o.expect("refund")).collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == RefundOutcome::Refunded)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, RefundOutcome::Refunded | RefundOutcome::AlreadyRefunded)),
        "{outcomes:?}"
    );
    assert_eq!(store.balance(&a, T0).await.expect("balance"), Milli(5_000));
}

/// A debit row counts for `DEBIT_RECORD_RETENTION` and not after, whether or not the store
/// has deleted it: a key may be charged again then, and a refund of the old charge finds
/// nothing. (The stores used to disagree: SQL kept an old row charged until some other debit
/// pruned it; memory forgot it only when its row count was a power of two.)
pub async fn ledger_debit_rows_count_for_the_retention_period<S: Store + ?Sized>(store: &S) {
    let a = t("ledger-retention");
    store
        .grant(&a, Grant::new("g", Milli(10_000), T0, None, "test"))
        .await
        .expect("grant");
    for key in ["old", "old-refund"] {
        assert!(matches!(
            store
                .try_debit(&a, key, Milli(1_000), T0)
                .await
                .expect("debit"),
            DebitOutcome::Charged { .. }
        ));
    }
    let just_before = T0 + DEBIT_RECORD_RETENTION - Span::millis(1);
    let after = T0 + DEBIT_RECORD_RETENTION;
    assert!(matches!(
        store
            .try_debit(&a, "old", Milli(1_000), just_before)
            .await
            .expect("debit"),
        DebitOutcome::AlreadyCharged { .. }
    ));
    assert_eq!(
        store.refund(&a, "old-refund", after).await.expect("refund"),
        RefundOutcome::UnknownKey
    );
    assert_eq!(
        store.balance(&a, after).await.expect("balance"),
        Milli(8_000)
    );
    assert_eq!(
        store
            .try_debit(&a, "old", Milli(1_000), after)
            .await
            .expect("debit"),
        DebitOutcome::Charged {
            balance: Milli(7_000)
        }
    );
    assert_eq!(
        store.refund(&a, "old", after).await.expect("refund"),
        RefundOutcome::Refunded,
        "the new charge"
    );
    assert_eq!(
        store.balance(&a, after).await.expect("balance"),
        Milli(8_000)
    );
}

/// A grant's id stays taken: a spent grant is kept (so re-importing a tenant file does not
/// grant its starting credits again; the memory store used to drop spent grants), and an
/// expired one at least until `DEBIT_RECORD_RETENTION` after its expiry. Expired credit is
/// never drawn.
pub async fn ledger_grant_ids_stay_taken<S: Store + ?Sized>(store: &S) {
    let a = t("ledger-grant-ids");
    let expiry = T0 + Span::hours(1);
    store
        .grant(&a, Grant::new("spent", Milli(1_000), T0, None, "test"))
        .await
        .expect("grant");
    assert_eq!(
        store
            .try_debit(&a, "k1", Milli(1_000), T0)
            .await
            .expect("debit"),
        DebitOutcome::Charged {
            balance: Milli::ZERO
        }
    );
    store
        .grant(
            &a,
            Grant::new("promo", Milli(1_000), T0, Some(expiry), "test"),
        )
        .await
        .expect("grant");
    assert_eq!(
        store
            .try_debit(&a, "k2", Milli(600), expiry)
            .await
            .expect("debit"),
        DebitOutcome::Insufficient {
            balance: Milli::ZERO
        },
        "the promo expired unspent; the spent grant is empty"
    );
    let later = expiry + Span::hours(1);
    assert_eq!(
        store
            .grant(
                &a,
                Grant::new(
                    "promo",
                    Milli(1_000),
                    later,
                    Some(later + Span::hours(1)),
                    "again"
                )
            )
            .await
            .expect("grant"),
        GrantOutcome::AlreadyGranted
    );
    // Long after: the promo is past retention, and a charge lets the store purge it.
    let much_later = expiry + DEBIT_RECORD_RETENTION + Span::hours(1);
    store
        .grant(
            &a,
            Grant::new("top-up", Milli(1_000), much_later, None, "test"),
        )
        .await
        .expect("grant");
    assert!(matches!(
        store
            .try_debit(&a, "k3", Milli(100), much_later)
            .await
            .expect("debit"),
        DebitOutcome::Charged { .. }
    ));
    assert_eq!(
        store
            .grant(
                &a,
                Grant::new("spent", Milli(1_000), much_later, None, "again")
            )
            .await
            .expect("grant"),
        GrantOutcome::AlreadyGranted
    );
    assert_eq!(
        store.balance(&a, much_later).await.expect("balance"),
        Milli(900)
    );
}

/// A refund returns what the debit drew to the grants it came from; credit drawn from a grant
/// that has expired since stays expired.
pub async fn ledger_refunds_return_credit_to_live_grants_only<S: Store + ?Sized>(store: &S) {
    let a = t("ledger-refund");
    let expiry = T0 + Span::hours(1);
    store
        .grant(&a, Grant::new("forever", Milli(5_000), T0, None, "test"))
        .await
        .expect("grant");
    store
        .grant(
            &a,
            Grant::new("promo", Milli(2_000), T0, Some(expiry), "test"),
        )
        .await
        .expect("grant");
    store
        .try_debit(&a, "soon", Milli(1_000), T0)
        .await
        .expect("debit");
    assert_eq!(
        store.refund(&a, "soon", T0).await.expect("refund"),
        RefundOutcome::Refunded
    );
    assert_eq!(store.balance(&a, T0).await.expect("balance"), Milli(7_000));
    assert_eq!(
        store
            .try_debit(&a, "late", Milli(3_000), T0)
            .await
            .expect("debit"),
        DebitOutcome::Charged {
            balance: Milli(4_000)
        }
    );
    let after_expiry = expiry + Span::hours(1);
    assert_eq!(
        store.balance(&a, after_expiry).await.expect("balance"),
        Milli(4_000),
        "the promo was drawn first"
    );
    assert_eq!(
        store
            .refund(&a, "late", after_expiry)
            .await
            .expect("refund"),
        RefundOutcome::Refunded
    );
    assert_eq!(
        store.balance(&a, after_expiry).await.expect("balance"),
        Milli(5_000),
        "the 2 000 drawn from the expired promo stay expired"
    );
}

/// `first_seen` answers true once per key until it is forgotten or its TTL passes.
pub async fn first_seen_is_true_once_until_forgotten_or_expired<S: Store + ?Sized>(store: &S) {
    let ttl = Span::hours(1);
    let results = join_all((0..5).map(|_| store.first_seen("whatsapp:wamid.1", T0, ttl))).await;
    assert_eq!(
        results
            .into_iter()
            .filter(|r| *r.as_ref().expect("first_seen"))
            .count(),
        1
    );
    assert!(store
        .first_seen("whatsapp:wamid.2", T0, ttl)
        .await
        .expect("other key"));
    store.forget("whatsapp:wamid.1").await.expect("forget");
    assert!(store
        .first_seen("whatsapp:wamid.1", T0, ttl)
        .await
        .expect("after forget"));
    assert!(!store
        .first_seen("whatsapp:wamid.1", T0 + Span::minutes(59), ttl)
        .await
        .expect("within ttl"));
    assert!(store
        .first_seen("whatsapp:wamid.1", T0 + Span::hours(2), ttl)
        .await
        .expect("after ttl"));
}

fn draft(tenant: &str, id: &str, at: Timestamp) -> Draft {
    let key = ConversationKey::new(t(tenant), Channel::WhatsApp, "555");
    Draft {
        id: id.into(),
        conversation_id: ConversationId::derive(&key, at),
        key,
        account: ChannelAccount::WhatsAppPhone("111".into()),
        route: ReplyRoute::Direct,
        reply_to: Some("wamid.1".into()),
        inbound_excerpt: "hi".into(),
        text: "hello".into(),
        turn_key: format!("turn:{id}"),
        created_at: at,
    }
}

/// A draft is taken once, only by its tenant, and not after it expires.
pub async fn drafts_are_taken_once_and_expire<S: Store + ?Sized>(store: &S) {
    let (a, b) = (t("tenant-a"), t("tenant-b"));
    store
        .put_draft(&a, &draft("tenant-a", "d1", T0))
        .await
        .expect("put");
    store
        .put_draft(&a, &draft("tenant-a", "d2", T0 + Span::minutes(1)))
        .await
        .expect("put");
    assert_eq!(
        store
            .list_drafts(&a, T0 + Span::minutes(2))
            .await
            .expect("list")
            .iter()
            .map(|d| d.id.as_str())
            .collect::<Vec<_>>(),
        ["d1", "d2"]
    );
    assert!(store.list_drafts(&b, T0).await.expect("list b").is_empty());
    assert_eq!(
        store.take_draft(&b, "d1", T0).await.expect("take b"),
        None,
        "other tenant"
    );
    let taken = join_all((0..3).map(|_| store.take_draft(&a, "d1", T0))).await;
    assert_eq!(
        taken
            .into_iter()
            .filter(|d| d.as_ref().expect("take").is_some())
            .count(),
        1
    );
    let expired = T0 + Span::days(8);
    assert_eq!(
        store
            .take_draft(&a, "d2", expired)
            .await
            .expect("take expired"),
        None
    );
}

/// Rows are upserted on `(tenant, direction, message_id)` and queried per tenant.
pub async fn message_log_is_idempotent_and_per_tenant<S: Store + ?Sized>(store: &S) {
    let key = ConversationKey::new(t("tenant-a"), Channel::WhatsApp, "555");
    let conversation = ConversationId::derive(&key, T0);
    let mut row = MessageRecord {
        tenant: t("tenant-a"),
        channel: Channel::WhatsApp,
        direction: Direction::Inbound,
        sender: "555".into(),
        recipient: "111".into(),
        message_id: "wamid.1".into(),
        action_taken: "buffered".into(),
        conversation_id: None,
        at: T0,
    };
    store.record_message(&row).await.expect("record");
    row.action_taken = "ai:default".into();
    row.conversation_id = Some(conversation.clone());
    store.record_message(&row).await.expect("record again");
    let mut other = row.clone();
    other.tenant = t("tenant-b");
    store.record_message(&other).await.expect("record b");
    let rows = store
        .conversation_messages(&t("tenant-a"), &conversation)
        .await
        .expect("query");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].action_taken, "ai:default");
}

/// A conversation's rows read back whole and oldest first, whatever order they were written
/// in; rows of other conversations stay out.
pub async fn message_log_reads_back_oldest_first<S: Store + ?Sized>(store: &S) {
    let key = ConversationKey::new(t("log-order"), Channel::WhatsApp, "555");
    let conversation = ConversationId::derive(&key, T0);
    let row = |direction, id: &str, at: Timestamp, conversation: &ConversationId| MessageRecord {
        tenant: t("log-order"),
        channel: Channel::WhatsApp,
        direction,
        sender: "555".into(),
        recipient: "111".into(),
        message_id: id.into(),
        action_taken: format!("action of {id}"),
        conversation_id: Some(conversation.clone()),
        at,
    };
    let first = row(Direction::Inbound, "wamid.a", T0, &conversation);
    let second = row(
        Direction::Outbound,
        "wamid.b",
        T0 + Span::seconds(1),
        &conversation,
    );
    let third = row(
        Direction::Inbound,
        "wamid.c",
        T0 + Span::minutes(1),
        &conversation,
    );
    let later = ConversationId::derive(&key, T0 + Span::days(1));
    let elsewhere = row(Direction::Inbound, "wamid.d", T0 + Span::days(1), &later);
    for r in [&third, &elsewhere, &first, &second] {
        store.record_message(r).await.expect("record");
    }
    assert_eq!(
        store
            .conversation_messages(&t("log-order"), &conversation)
            .await
            .expect("query"),
        [first, second, third]
    );
    assert_eq!(
        store
            .conversation_messages(&t("log-order"), &later)
            .await
            .expect("query"),
        [elsewhere]
    );
}

fn debit_entry(key: &str, amount: i64, at: Timestamp, refunded: bool) -> DebitEntry {
    DebitEntry {
        key: key.into(),
        amount: Milli(amount),
        at,
        refunded,
    }
}

/// The statement lists grants and debits newest first, at most `limit` of each, with what is
/// left of each grant; another tenant's rows never appear (even under the same ids and keys).
pub async fn ledger_history_is_newest_first_bounded_and_per_tenant<S: Store + ?Sized>(store: &S) {
    let (a, b) = (t("history-a"), t("history-b"));
    let week = Some(T0 + Span::days(7));
    for grant in [
        Grant::new("g-old", Milli(5_000), T0, None, "starting credits"),
        Grant::new("g-mid", Milli(2_000), T0 + Span::hours(1), week, "promo"),
        Grant::new("g-new", Milli(1_000), T0 + Span::hours(2), None, "top-up"),
    ] {
        assert_eq!(
            store.grant(&a, grant).await.expect("grant"),
            GrantOutcome::Granted
        );
    }
    store
        .grant(&b, Grant::new("g-old", Milli(9_000), T0, None, "b's own"))
        .await
        .expect("grant b");
    for (i, key) in ["turn-1", "turn-2", "turn-3"].into_iter().enumerate() {
        let at = T0 + Span::hours(3) + Span::minutes(i64::try_from(i).unwrap_or(0));
        let outcome = store
            .try_debit(&a, key, Milli(500), at)
            .await
            .expect("debit");
        assert!(matches!(outcome, DebitOutcome::Charged { .. }), "{key}");
    }
    store
        .try_debit(&b, "turn-1", Milli(700), T0 + Span::hours(5))
        .await
        .expect("debit b");
    let now = T0 + Span::hours(6);
    let history = store.ledger_history(&a, now, 10).await.expect("history");
    let grants: Vec<(&str, Milli, Milli)> = history
        .grants
        .iter()
        .map(|g| (g.id.as_str(), g.amount, g.remaining))
        .collect();
    // The expiring grant is drawn first: 3 × 0.5 from g-mid.
    assert_eq!(
        grants,
        [
            ("g-new", Milli(1_000), Milli(1_000)),
            ("g-mid", Milli(2_000), Milli(500)),
            ("g-old", Milli(5_000), Milli(5_000)),
        ]
    );
    assert_eq!(history.grants[1].expires_at, week);
    assert_eq!(history.grants[1].reason, "promo");
    assert_eq!(history.grants[1].granted_at, T0 + Span::hours(1));
    assert_eq!(
        history.debits,
        [
            debit_entry("turn-3", 500, T0 + Span::hours(3) + Span::minutes(2), false),
            debit_entry("turn-2", 500, T0 + Span::hours(3) + Span::minutes(1), false),
            debit_entry("turn-1", 500, T0 + Span::hours(3), false),
        ]
    );
    let short = store.ledger_history(&a, now, 2).await.expect("limited");
    assert_eq!(
        short
            .grants
            .iter()
            .map(|g| g.id.as_str())
            .collect::<Vec<_>>(),
        ["g-new", "g-mid"]
    );
    assert_eq!(
        short
            .debits
            .iter()
            .map(|d| d.key.as_str())
            .collect::<Vec<_>>(),
        ["turn-3", "turn-2"]
    );
    let theirs = store.ledger_history(&b, now, 10).await.expect("history b");
    assert_eq!(theirs.grants.len(), 1);
    assert_eq!(theirs.grants[0].reason, "b's own");
    assert_eq!(theirs.grants[0].remaining, Milli(8_300));
    assert_eq!(
        theirs.debits,
        [debit_entry("turn-1", 700, T0 + Span::hours(5), false)]
    );
    let nobody = store
        .ledger_history(&t("history-nobody"), now, 10)
        .await
        .expect("history of a tenant without a ledger");
    assert!(nobody.grants.is_empty() && nobody.debits.is_empty());
}

/// A refund marks its debit refunded (and puts the credit back); a key charged again after a
/// refund shows its new charge, once.
pub async fn ledger_history_shows_debits_then_refunds<S: Store + ?Sized>(store: &S) {
    let a = t("history-refunds");
    store
        .grant(&a, Grant::new("g", Milli(3_000), T0, None, "credits"))
        .await
        .expect("grant");
    let (t1, t2, t3) = (
        T0 + Span::minutes(1),
        T0 + Span::minutes(2),
        T0 + Span::minutes(3),
    );
    store
        .try_debit(&a, "kept", Milli(1_000), t1)
        .await
        .expect("debit");
    store
        .try_debit(&a, "failed", Milli(1_000), t2)
        .await
        .expect("debit");
    assert_eq!(
        store.refund(&a, "failed", t2).await.expect("refund"),
        RefundOutcome::Refunded
    );
    let history = store.ledger_history(&a, t2, 10).await.expect("history");
    assert_eq!(
        history.debits,
        [
            debit_entry("failed", 1_000, t2, true),
            debit_entry("kept", 1_000, t1, false),
        ]
    );
    assert_eq!(history.grants[0].remaining, Milli(2_000));
    store
        .try_debit(&a, "failed", Milli(1_000), t3)
        .await
        .expect("retried turn");
    let history = store.ledger_history(&a, t3, 10).await.expect("history");
    assert_eq!(
        history.debits,
        [
            debit_entry("failed", 1_000, t3, false),
            debit_entry("kept", 1_000, t1, false),
        ]
    );
    assert_eq!(history.grants[0].remaining, Milli(1_000));
}

/// Debit rows older than the retention period and grants past their purge time are left out,
/// whether or not the store has deleted them yet; a spent grant stays listed.
pub async fn ledger_history_leaves_out_rows_past_retention<S: Store + ?Sized>(store: &S) {
    let a = t("history-retention");
    let expiry = T0 + Span::days(1);
    store
        .grant(
            &a,
            Grant::new("short", Milli(1_000), T0, Some(expiry), "trial"),
        )
        .await
        .expect("grant");
    store
        .grant(&a, Grant::new("spent", Milli(500), T0, None, "small"))
        .await
        .expect("grant");
    store
        .try_debit(&a, "old", Milli(1_000), T0)
        .await
        .expect("debit");
    store
        .try_debit(&a, "older", Milli(500), T0)
        .await
        .expect("debit");
    let later = T0 + DEBIT_RECORD_RETENTION + Span::hours(1);
    let history = store.ledger_history(&a, later, 10).await.expect("history");
    assert!(history.debits.is_empty(), "{:?}", history.debits);
    assert_eq!(
        history
            .grants
            .iter()
            .map(|g| g.id.as_str())
            .collect::<Vec<_>>(),
        ["spent", "short"],
        "same granted_at: ties by id, descending"
    );
    let past_purge = expiry + DEBIT_RECORD_RETENTION;
    let history = store
        .ledger_history(&a, past_purge, 10)
        .await
        .expect("history");
    assert_eq!(
        history
            .grants
            .iter()
            .map(|g| (g.id.as_str(), g.remaining))
            .collect::<Vec<_>>(),
        [("spent", Milli::ZERO)]
    );
}

fn log_row(
    tenant: &str,
    conversation: Option<&ConversationId>,
    direction: Direction,
    id: &str,
    at: Timestamp,
) -> MessageRecord {
    let (sender, recipient) = match direction {
        Direction::Inbound => ("555", "111"),
        Direction::Outbound => ("111", "555"),
    };
    MessageRecord {
        tenant: t(tenant),
        channel: Channel::WhatsApp,
        direction,
        sender: sender.into(),
        recipient: recipient.into(),
        message_id: id.into(),
        action_taken: format!("action of {id}"),
        conversation_id: conversation.cloned(),
        at,
    }
}

/// Conversations are listed newest last message first, at most `limit`, with their counts and
/// first/last times; another tenant's conversations (even with the same customer) never appear.
pub async fn recent_conversations_are_newest_first_bounded_and_per_tenant<S: Store + ?Sized>(
    store: &S,
) {
    let key = ConversationKey::new(t("recent-a"), Channel::WhatsApp, "555");
    let first = ConversationId::derive(&key, T0);
    let second = ConversationId::derive(&key, T0 + Span::days(1));
    let web_key = ConversationKey::new(t("recent-a"), Channel::Web, "visitor-7");
    let web = ConversationId::derive(&web_key, T0 + Span::hours(2));
    let theirs = ConversationId::derive(
        &ConversationKey::new(t("recent-b"), Channel::WhatsApp, "555"),
        T0,
    );
    let mut web_row = log_row(
        "recent-a",
        Some(&web),
        Direction::Inbound,
        "web.1",
        T0 + Span::hours(2),
    );
    web_row.channel = Channel::Web;
    web_row.sender = "visitor-7".into();
    let rows = [
        log_row(
            "recent-a",
            Some(&first),
            Direction::Outbound,
            "a.2",
            T0 + Span::seconds(5),
        ),
        log_row(
            "recent-a",
            Some(&second),
            Direction::Inbound,
            "b.1",
            T0 + Span::days(1),
        ),
        log_row("recent-a", Some(&first), Direction::Inbound, "a.1", T0),
        web_row,
        log_row(
            "recent-b",
            Some(&theirs),
            Direction::Inbound,
            "a.1",
            T0 + Span::days(2),
        ),
        log_row(
            "recent-a",
            Some(&first),
            Direction::Inbound,
            "a.3",
            T0 + Span::minutes(1),
        ),
    ];
    for row in &rows {
        store.record_message(row).await.expect("record");
    }
    let listed = store
        .recent_conversations(&t("recent-a"), 10)
        .await
        .expect("list");
    assert_eq!(
        listed,
        [
            ConversationSummary {
                conversation_id: second.clone(),
                channel: Channel::WhatsApp,
                customer: "555".into(),
                messages: 1,
                first_at: T0 + Span::days(1),
                last_at: T0 + Span::days(1),
                last_action: "action of b.1".into(),
            },
            ConversationSummary {
                conversation_id: web.clone(),
                channel: Channel::Web,
                customer: "visitor-7".into(),
                messages: 1,
                first_at: T0 + Span::hours(2),
                last_at: T0 + Span::hours(2),
                last_action: "action of web.1".into(),
            },
            ConversationSummary {
                conversation_id: first.clone(),
                channel: Channel::WhatsApp,
                customer: "555".into(),
                messages: 3,
                first_at: T0,
                last_at: T0 + Span::minutes(1),
                last_action: "action of a.3".into(),
            },
        ]
    );
    let limited = store
        .recent_conversations(&t("recent-a"), 2)
        .await
        .expect("limited");
    assert_eq!(
        limited
            .iter()
            .map(|c| c.conversation_id.clone())
            .collect::<Vec<_>>(),
        [second, web]
    );
    let b = store
        .recent_conversations(&t("recent-b"), 10)
        .await
        .expect("list b");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].conversation_id, theirs);
    assert!(store
        .recent_conversations(&t("recent-nobody"), 10)
        .await
        .expect("list nobody")
        .is_empty());
}

/// A conversation's channel, customer and last action come from its latest row, an outbound
/// row counting as later than an inbound one of the same time (the customer is the recipient of
/// an outbound row); rows without a conversation id (canned-only flows) are not listed.
pub async fn recent_conversations_take_the_latest_row_and_skip_unstamped_rows<S: Store + ?Sized>(
    store: &S,
) {
    let key = ConversationKey::new(t("recent-latest"), Channel::WhatsApp, "555");
    let conversation = ConversationId::derive(&key, T0);
    let at = T0 + Span::minutes(3);
    let mut reply = log_row(
        "recent-latest",
        Some(&conversation),
        Direction::Outbound,
        "wamid.out",
        at,
    );
    reply.action_taken = "sent".into();
    let mut inbound = log_row(
        "recent-latest",
        Some(&conversation),
        Direction::Inbound,
        "wamid.in",
        at,
    );
    inbound.action_taken = "ai:default".into();
    let unstamped = log_row(
        "recent-latest",
        None,
        Direction::Inbound,
        "wamid.canned",
        T0 + Span::hours(1),
    );
    for row in [&reply, &inbound, &unstamped] {
        store.record_message(row).await.expect("record");
    }
    let listed = store
        .recent_conversations(&t("recent-latest"), 10)
        .await
        .expect("list");
    assert_eq!(
        listed,
        [ConversationSummary {
            conversation_id: conversation,
            channel: Channel::WhatsApp,
            customer: "555".into(),
            messages: 2,
            first_at: at,
            last_at: at,
            last_action: "sent".into(),
        }]
    );
    assert!(store
        .recent_conversations(&t("recent-latest"), 0)
        .await
        .expect("limit 0")
        .is_empty());
}

/// Reverse aliases resolve only for their tenant and only while live.
pub async fn aliases_are_per_tenant_and_expire<S: Store + ?Sized>(store: &S) {
    let alias = crate::email::ReverseAlias::new("r-abc@shop.cncg.email", "jane@example.com", T0);
    store.put_alias(&t("tenant-a"), &alias).await.expect("put");
    let got = store
        .get_alias(&t("tenant-a"), "R-ABC@shop.cncg.email", T0 + Span::days(1))
        .await
        .expect("get");
    assert_eq!(got, Some(alias.clone()));
    assert_eq!(
        store
            .get_alias(&t("tenant-b"), "r-abc@shop.cncg.email", T0)
            .await
            .expect("get b"),
        None
    );
    assert_eq!(
        store
            .get_alias(&t("tenant-a"), "r-abc@shop.cncg.email", T0 + Span::days(31))
            .await
            .expect("expired"),
        None
    );
}

/// Every store keys aliases by `email::normalize_alias`: a record whose address differs in
/// case, whitespace or angle brackets is found all the same. (The memory store used to key by
/// the lower-cased address without trimming it.)
pub async fn aliases_are_normalized_in_one_way<S: Store + ?Sized>(store: &S) {
    let tenant = t("alias-normal");
    let alias = crate::email::ReverseAlias {
        alias: " R-Normal@Shop.cncg.email ".into(),
        ..crate::email::ReverseAlias::new("r-normal@shop.cncg.email", "jane@example.com", T0)
    };
    store.put_alias(&tenant, &alias).await.expect("put");
    for lookup in [
        "r-normal@shop.cncg.email",
        "R-NORMAL@SHOP.CNCG.EMAIL",
        " <r-normal@shop.cncg.email> ",
    ] {
        assert_eq!(
            store
                .get_alias(&tenant, lookup, T0 + Span::days(1))
                .await
                .expect("get"),
            Some(alias.clone()),
            "{lookup:?}"
        );
    }
}

fn owner(id: &str, tenant: &str, email: &str) -> Owner {
    Owner {
        id: id.to_owned(),
        tenant: t(tenant),
        email: email.to_owned(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${id}"),
        session_epoch: 0,
        created_at: T0,
    }
}

/// Owners read back by email and id; an email (or id) is taken once, across tenants, and a
/// refused create writes nothing.
pub async fn owners_are_unique_by_email_and_read_back<S: Store + ?Sized>(store: &S) {
    let a = owner("own_a", "tenant-a", "ana@example.com");
    store.create_owner(&a).await.expect("create");
    let by_email = store
        .owner_by_email("ana@example.com")
        .await
        .expect("by email");
    assert_eq!(by_email, Some(a.clone()));
    let by_id = store.owner_by_id("own_a").await.expect("by id");
    assert_eq!(by_id, Some(a.clone()));
    assert_eq!(
        store.owner_by_email("bo@example.com").await.expect("none"),
        None
    );
    assert_eq!(store.owner_by_id("own_b").await.expect("none"), None);

    let taken = owner("own_b", "tenant-b", "ana@example.com");
    assert!(
        matches!(
            store.create_owner(&taken).await,
            Err(StoreError::Conflict(_))
        ),
        "an email belongs to one owner, across tenants"
    );
    let written = store.owner_by_id("own_b").await.expect("by id");
    assert_eq!(written, None, "nothing written");
    let same_id = owner("own_a", "tenant-b", "other@example.com");
    assert!(matches!(
        store.create_owner(&same_id).await,
        Err(StoreError::Conflict(_))
    ));
    let other = store
        .owner_by_email("other@example.com")
        .await
        .expect("none");
    assert_eq!(other, None);

    let b = owner("own_b", "tenant-b", "bo@example.com");
    store.create_owner(&b).await.expect("another email");
    let b_back = store
        .owner_by_email("bo@example.com")
        .await
        .expect("by email");
    assert_eq!(b_back.map(|o| o.tenant), Some(t("tenant-b")));
}

/// "Log out everywhere" and a password change bump the epoch, one step per call, also
/// under concurrency; an unknown owner is `NotFound`.
pub async fn owner_session_epochs_only_go_up<S: Store + ?Sized>(store: &S) {
    let a = owner("own_a", "tenant-a", "ana@example.com");
    store.create_owner(&a).await.expect("create");
    assert_eq!(store.bump_session_epoch("own_a").await.expect("bump"), 1);
    let bumps = join_all((0..5).map(|_| store.bump_session_epoch("own_a"))).await;
    let mut epochs: Vec<u64> = bumps.into_iter().map(|r| r.expect("bump")).collect();
    epochs.sort_unstable();
    assert_eq!(
        epochs,
        vec![2, 3, 4, 5, 6],
        "every concurrent bump counts once"
    );
    let epoch = store
        .set_owner_password("own_a", "$argon2id$new")
        .await
        .expect("password");
    assert_eq!(epoch, 7, "a new password signs every session out");
    let back = store
        .owner_by_id("own_a")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(back.session_epoch, 7);
    assert_eq!(back.password_hash, "$argon2id$new");
    assert!(matches!(
        store.bump_session_epoch("own_x").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_owner_password("own_x", "h").await,
        Err(StoreError::NotFound(_))
    ));
}

/// Failures count per key inside a fixed window, concurrent failures all count, a closed
/// window starts over, and clearing forgets one key only.
pub async fn login_failures_count_per_key_in_a_window<S: Store + ?Sized>(store: &S) {
    let window = Span::minutes(15);
    let empty = store
        .login_failures("email:a", T0, window)
        .await
        .expect("read");
    assert_eq!(empty.count, 0);
    let first = store
        .record_login_failure("email:a", T0, window)
        .await
        .expect("record");
    assert_eq!(
        first,
        LoginFailures {
            count: 1,
            window_start: T0
        }
    );
    let later = T0 + Span::minutes(1);
    let results =
        join_all((0..4).map(|_| store.record_login_failure("email:a", later, window))).await;
    let mut counts: Vec<u32> = results
        .into_iter()
        .map(|r| r.expect("record").count)
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, vec![2, 3, 4, 5], "every concurrent failure counts");
    let now = store
        .login_failures("email:a", later, window)
        .await
        .expect("read");
    assert_eq!(
        now,
        LoginFailures {
            count: 5,
            window_start: T0
        },
        "the window starts at its first failure"
    );
    store
        .record_login_failure("ip:b", later, window)
        .await
        .expect("other key");
    let other = store
        .login_failures("ip:b", later, window)
        .await
        .expect("read");
    assert_eq!(other.count, 1);

    let closed = T0 + window;
    let over = store
        .login_failures("email:a", closed, window)
        .await
        .expect("read");
    assert_eq!(over.count, 0, "a window is over after `window`");
    let fresh = store
        .record_login_failure("email:a", closed, window)
        .await
        .expect("record");
    assert_eq!(
        fresh,
        LoginFailures {
            count: 1,
            window_start: closed
        },
        "a new window"
    );
    store.clear_login_failures("email:a").await.expect("clear");
    let cleared = store
        .login_failures("email:a", closed, window)
        .await
        .expect("read");
    assert_eq!(cleared.count, 0);
    let kept = store
        .login_failures("ip:b", later, window)
        .await
        .expect("read");
    assert_eq!(kept.count, 1, "other keys stay");
}

fn audit(at: Timestamp, action: AuditAction, tenant: Option<&str>, detail: &str) -> AuditEntry {
    AuditEntry::new(at, "operator", action, tenant.map(t), detail)
}

/// Appends get increasing sequence numbers; a list is newest first, at most `limit` long,
/// and `before` pages on from the last `seq` seen; every field reads back as written.
pub async fn audit_log_is_newest_first_bounded_and_paged<S: Store + ?Sized>(store: &S) {
    assert!(store
        .list_audit(&AuditQuery::latest(10))
        .await
        .expect("empty list")
        .is_empty());
    let mut seqs = Vec::new();
    for i in 0..5 {
        let entry = audit(
            T0 + Span::seconds(i),
            AuditAction::CreditsGrant,
            Some("tenant-a"),
            &format!("grant g{i}: 5"),
        );
        seqs.push(store.append_audit(&entry).await.expect("append"));
    }
    let login = AuditEntry::new(
        T0 + Span::seconds(9),
        "operator",
        AuditAction::OperatorLogin,
        None,
        "",
    );
    seqs.push(store.append_audit(&login).await.expect("append"));
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "sequence numbers increase: {seqs:?}"
    );

    let page = store
        .list_audit(&AuditQuery::latest(4))
        .await
        .expect("list");
    let got: Vec<u64> = page.iter().map(|r| r.seq).collect();
    let want: Vec<u64> = seqs.iter().rev().take(4).copied().collect();
    assert_eq!(got, want, "newest first, bounded");
    assert_eq!(page[0].entry, login, "an entry without a tenant reads back");
    assert_eq!(
        page[1].entry,
        audit(
            T0 + Span::seconds(4),
            AuditAction::CreditsGrant,
            Some("tenant-a"),
            "grant g4: 5"
        ),
        "every field reads back"
    );
    let rest = store
        .list_audit(&AuditQuery {
            tenant: None,
            limit: 4,
            before: Some(page[3].seq),
        })
        .await
        .expect("next page");
    let got: Vec<u64> = rest.iter().map(|r| r.seq).collect();
    assert_eq!(
        got,
        vec![seqs[1], seqs[0]],
        "the next page continues below the cursor"
    );
    let zero = store
        .list_audit(&AuditQuery::latest(0))
        .await
        .expect("list");
    assert_eq!(zero.len(), 1, "a limit below 1 lists one");
}

/// A tenant's list holds its own entries only (none of another tenant's, none without a
/// tenant); the unfiltered list holds them all.
pub async fn audit_log_filters_by_tenant_and_keeps_tenants_apart<S: Store + ?Sized>(store: &S) {
    let entries = [
        audit(T0, AuditAction::TenantPut, Some("tenant-a"), "created"),
        audit(T0, AuditAction::TenantPut, Some("tenant-b"), "created"),
        audit(T0, AuditAction::PricingSet, None, "INR 1 -> 2"),
        audit(T0, AuditAction::PersonaApprove, Some("tenant-b"), ""),
        audit(T0, AuditAction::SecretPut, Some("tenant-a"), "wa_phone:111"),
    ];
    for e in &entries {
        store.append_audit(e).await.expect("append");
    }
    let of = |tenant: &str, limit: u32| AuditQuery {
        tenant: Some(t(tenant)),
        limit,
        before: None,
    };
    let a = store.list_audit(&of("tenant-a", 10)).await.expect("list a");
    let actions: Vec<AuditAction> = a.iter().map(|r| r.entry.action).collect();
    assert_eq!(
        actions,
        vec![AuditAction::SecretPut, AuditAction::TenantPut]
    );
    assert!(a.iter().all(|r| r.entry.tenant == Some(t("tenant-a"))));
    let b = store.list_audit(&of("tenant-b", 1)).await.expect("list b");
    assert_eq!(b.len(), 1, "the limit holds under a filter");
    assert_eq!(b[0].entry.action, AuditAction::PersonaApprove);
    let b_rest = store
        .list_audit(&AuditQuery {
            before: Some(b[0].seq),
            ..of("tenant-b", 10)
        })
        .await
        .expect("list b, page 2");
    assert_eq!(b_rest.len(), 1);
    assert_eq!(b_rest[0].entry.detail, "created");
    assert_eq!(b_rest[0].entry.tenant, Some(t("tenant-b")));
    assert!(store
        .list_audit(&of("tenant-c", 10))
        .await
        .expect("list c")
        .is_empty());
    let all = store
        .list_audit(&AuditQuery::latest(10))
        .await
        .expect("list all");
    assert_eq!(all.len(), entries.len());
    assert_eq!(all[2].entry.tenant, None);
}

fn currency(code: &str) -> Currency {
    Currency::parse(code).unwrap_or_else(|e| panic!("{e}"))
}

/// A stored price reads back as written, per currency; a new one replaces the old; the list
/// is by currency code.
pub async fn prices_are_stored_per_currency_and_replaced<S: Store + ?Sized>(store: &S) {
    let inr = currency("INR");
    assert_eq!(store.stored_price(&inr).await.expect("read"), None);
    assert!(store.stored_prices().await.expect("list").is_empty());
    let first = StoredPrice {
        currency: inr.clone(),
        per_ai_reply: Milli(1_500),
        updated_at: T0,
    };
    store.put_price(&first).await.expect("put");
    let usd = StoredPrice {
        currency: currency("USD"),
        per_ai_reply: Milli(25),
        updated_at: T0,
    };
    store.put_price(&usd).await.expect("put usd");
    assert_eq!(store.stored_price(&inr).await.expect("read"), Some(first));
    let second = StoredPrice {
        currency: inr.clone(),
        per_ai_reply: Milli(2_000),
        updated_at: T0 + Span::minutes(1),
    };
    store.put_price(&second).await.expect("replace");
    assert_eq!(
        store.stored_price(&inr).await.expect("read"),
        Some(second.clone())
    );
    assert_eq!(
        store.stored_prices().await.expect("list"),
        vec![second, usd],
        "one row per currency, by code"
    );
    assert_eq!(
        store.stored_price(&currency("EUR")).await.expect("read"),
        None
    );
}

/// A price of zero or less is refused and changes nothing.
pub async fn prices_must_be_positive<S: Store + ?Sized>(store: &S) {
    let eur = currency("EUR");
    let kept = StoredPrice {
        currency: eur.clone(),
        per_ai_reply: Milli(30),
        updated_at: T0,
    };
    store.put_price(&kept).await.expect("put");
    for bad in [0, -5] {
        let refused = store
            .put_price(&StoredPrice {
                per_ai_reply: Milli(bad),
                ..kept.clone()
            })
            .await;
        assert!(
            matches!(refused, Err(StoreError::Corrupt { .. })),
            "{bad}: {refused:?}"
        );
    }
    assert_eq!(store.stored_price(&eur).await.expect("read"), Some(kept));
}

fn catalog_entry(slug: &str, label: &str) -> CatalogPersona {
    let mut entry = crate::catalog::builtin_catalog(T0).remove(0);
    entry.slug = slug.to_owned();
    entry.label = label.to_owned();
    entry
}

/// Catalog entries read back as written (the store's revision on them), listed by slug;
/// a deleted one is gone and deleting it again says so.
pub async fn catalog_entries_round_trip_by_slug_and_delete<S: Store + ?Sized>(store: &S) {
    assert!(store.list_catalog().await.expect("list").is_empty());
    assert_eq!(
        store.get_catalog_persona("bakery").await.expect("get"),
        None
    );
    let mut bakery = catalog_entry("bakery", "Sunrise <Bakery> & \"Co\" ✓");
    bakery.persona = crate::persona::PersonaConfig::new(crate::persona::PersonaSource::Custom(
        "You are the assistant of a bakery.\nLine two: 'quotes'".into(),
    ));
    let clinic = catalog_entry("clinic", "Clinic");
    assert_eq!(
        store.put_catalog_persona(&clinic, None).await.expect("put"),
        1
    );
    assert_eq!(
        store.put_catalog_persona(&bakery, None).await.expect("put"),
        1
    );
    let read = store
        .get_catalog_persona("bakery")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        read,
        CatalogPersona {
            revision: 1,
            ..bakery.clone()
        }
    );
    let slugs: Vec<String> = store
        .list_catalog()
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.slug)
        .collect();
    assert_eq!(slugs, ["bakery", "clinic"], "by slug");
    assert!(store
        .delete_catalog_persona("bakery")
        .await
        .expect("delete"));
    assert!(!store.delete_catalog_persona("bakery").await.expect("again"));
    assert_eq!(
        store.get_catalog_persona("bakery").await.expect("get"),
        None
    );
    assert_eq!(store.list_catalog().await.expect("list").len(), 1);
}

/// A create of a taken slug, and a replace from a stale revision or of a missing entry, are
/// conflicts that change nothing; a replace from the revision read bumps it.
pub async fn catalog_writes_are_optimistic<S: Store + ?Sized>(store: &S) {
    let first = catalog_entry("shop", "First");
    store
        .put_catalog_persona(&first, None)
        .await
        .expect("create");
    let again = store
        .put_catalog_persona(&catalog_entry("shop", "Second"), None)
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let edited = CatalogPersona {
        label: "Edited".into(),
        ..first.clone()
    };
    assert_eq!(
        store
            .put_catalog_persona(&edited, Some(1))
            .await
            .expect("replace"),
        2
    );
    let stale = store
        .put_catalog_persona(&catalog_entry("shop", "Stale"), Some(1))
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    let missing = store
        .put_catalog_persona(&catalog_entry("gone", "Gone"), Some(1))
        .await;
    assert!(
        matches!(missing, Err(StoreError::Conflict(_))),
        "{missing:?}"
    );
    let read = store.get_catalog_persona("shop").await.expect("get");
    assert_eq!(
        read.map(|p| (p.label, p.revision)),
        Some(("Edited".into(), 2))
    );
    assert_eq!(store.get_catalog_persona("gone").await.expect("get"), None);
}

/// An operator is created at epoch 0 and read back by email; putting the same email again
/// replaces the hash and bumps the epoch (and says it created nothing); the list is by email;
/// a bump is atomic under concurrency; a deleted operator is gone and cannot be bumped.
pub async fn operators_are_created_replaced_listed_and_deleted<S: Store + ?Sized>(store: &S) {
    assert!(store.list_operators().await.expect("list").is_empty());
    assert_eq!(store.operator("ops@example.com").await.expect("get"), None);
    assert!(store
        .put_operator("zed@example.com", "$argon2id$zed", T0)
        .await
        .expect("create zed"));
    assert!(store
        .put_operator("ops@example.com", "$argon2id$one", T0 + Span::seconds(1))
        .await
        .expect("create ops"));
    let read = store
        .operator("ops@example.com")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        (
            read.email.as_str(),
            read.password_hash.as_str(),
            read.session_epoch,
            read.created_at
        ),
        ("ops@example.com", "$argon2id$one", 0, T0 + Span::seconds(1))
    );
    assert!(!store
        .put_operator("ops@example.com", "$argon2id$two", T0 + Span::seconds(9))
        .await
        .expect("replace"));
    let read = store
        .operator("ops@example.com")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        (
            read.password_hash.as_str(),
            read.session_epoch,
            read.created_at
        ),
        ("$argon2id$two", 1, T0 + Span::seconds(1)),
        "a new password bumps the epoch and keeps the creation time"
    );
    let emails: Vec<String> = store
        .list_operators()
        .await
        .expect("list")
        .into_iter()
        .map(|o| o.email)
        .collect();
    assert_eq!(emails, ["ops@example.com", "zed@example.com"], "by email");
    let bumps = join_all((0..4).map(|_| store.bump_operator_epoch("ops@example.com"))).await;
    let mut epochs: Vec<u64> = bumps.into_iter().map(|r| r.expect("bump")).collect();
    epochs.sort_unstable();
    assert_eq!(epochs, [2, 3, 4, 5], "every bump counts once");
    assert!(store
        .delete_operator("ops@example.com")
        .await
        .expect("delete"));
    assert!(!store
        .delete_operator("ops@example.com")
        .await
        .expect("again"));
    assert_eq!(store.operator("ops@example.com").await.expect("get"), None);
    let gone = store.bump_operator_epoch("ops@example.com").await;
    assert!(matches!(gone, Err(StoreError::NotFound(_))), "{gone:?}");
    assert_eq!(store.list_operators().await.expect("list").len(), 1);
}

fn kb_document(source: &str, chunks: u32, updated_at: Timestamp) -> StoredDocument {
    StoredDocument {
        source: source.into(),
        kind: "markdown".into(),
        content_hash: format!("{source}-{chunks}-hash"),
        chunks,
        embedding_model: None,
        updated_at,
    }
}

fn kb_chunk(source: &str, heading: &[&str], text: &str) -> StoredChunk {
    StoredChunk {
        chunk: Chunk {
            source: source.into(),
            heading: heading.iter().map(|h| (*h).to_owned()).collect(),
            text: text.into(),
        },
        embedding: None,
    }
}

/// A document is stored with its passages in order and replaced whole by a put of the same
/// source; documents list by source and passages by source, then position; text, headings and
/// vectors read back exactly; a delete removes a document's passages; one tenant never sees
/// another's; the revision rises with every write and not with a delete of nothing.
pub async fn knowledge_documents_replace_their_passages_per_tenant<S: Store + ?Sized>(store: &S) {
    let (shop, other) = (t("shop"), t("other"));
    assert_eq!(store.knowledge_revision(&shop).await.expect("rev"), 0);
    assert!(store
        .knowledge_documents(&shop)
        .await
        .expect("docs")
        .is_empty());
    assert!(store
        .knowledge_chunks(&shop)
        .await
        .expect("chunks")
        .is_empty());

    let mut embedded = kb_chunk(
        "menu.csv",
        &["menu"],
        "Item: Eggless chocolate cake; Price: ₹650",
    );
    // Values that a lossy encoding would change: a subnormal, -0.0, a long mantissa.
    embedded.embedding = Some(ChunkEmbedding {
        model: "all-MiniLM-L6-v2".into(),
        vector: vec![0.1, -0.0, f32::MIN_POSITIVE / 2.0, 0.333_333_34, -1.0],
    });
    let mut menu = kb_document("menu.csv", 2, T0);
    menu.embedding_model = Some("all-MiniLM-L6-v2".into());
    let menu_chunks = vec![
        embedded.clone(),
        kb_chunk("menu.csv", &["menu"], "Item: Sourdough loaf; Price: ₹180"),
    ];
    let r1 = store
        .put_document(&shop, &menu, &menu_chunks)
        .await
        .expect("put menu");
    let faq_chunks = vec![
        kb_chunk(
            "faq/cakes.md",
            &["Cakes", "Eggless <cakes> & \"more\""],
            "Every cake can be made eggless.\nLine two: 'quotes' ✓",
        ),
        kb_chunk("faq/cakes.md", &[], "Above the first heading."),
        kb_chunk("faq/cakes.md", &["Delivery"], "We deliver within 5 km."),
    ];
    let faq = kb_document("faq/cakes.md", 3, T0 + Span::seconds(1));
    let r2 = store
        .put_document(&shop, &faq, &faq_chunks)
        .await
        .expect("put faq");
    assert!(r1 >= 1 && r2 > r1, "revisions rise: {r1}, {r2}");
    store
        .put_document(
            &other,
            &kb_document("secret.md", 1, T0),
            &[kb_chunk("secret.md", &[], "Another tenant's text")],
        )
        .await
        .expect("put other");

    let docs = store.knowledge_documents(&shop).await.expect("docs");
    assert_eq!(docs, vec![faq.clone(), menu.clone()], "by source");
    let chunks = store.knowledge_chunks(&shop).await.expect("chunks");
    let expected: Vec<StoredChunk> = faq_chunks.iter().chain(&menu_chunks).cloned().collect();
    assert_eq!(
        chunks, expected,
        "by source, then position; exact round trip"
    );
    let vector = chunks[3]
        .embedding
        .as_ref()
        .expect("embedding")
        .vector
        .clone();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&vector),
        bits(&embedded.embedding.as_ref().expect("embedding").vector),
        "vectors bit for bit"
    );

    // Replacing a document replaces all of its passages, and nothing of the others.
    let menu_v2 = kb_document("menu.csv", 1, T0 + Span::seconds(2));
    let r3 = store
        .put_document(
            &shop,
            &menu_v2,
            &[kb_chunk(
                "menu.csv",
                &["menu"],
                "Item: Rye loaf; Price: ₹200",
            )],
        )
        .await
        .expect("replace menu");
    assert!(r3 > r2);
    let chunks = store.knowledge_chunks(&shop).await.expect("chunks");
    let texts: Vec<&str> = chunks.iter().map(|c| c.chunk.text.as_str()).collect();
    assert_eq!(texts.len(), 4);
    assert_eq!(texts[3], "Item: Rye loaf; Price: ₹200");
    assert!(!texts.iter().any(|t| t.contains("Sourdough")));
    assert_eq!(
        store.knowledge_documents(&shop).await.expect("docs")[1],
        menu_v2
    );

    assert!(store
        .delete_document(&shop, "faq/cakes.md")
        .await
        .expect("delete"));
    let r4 = store.knowledge_revision(&shop).await.expect("rev");
    assert!(r4 > r3);
    assert!(!store
        .delete_document(&shop, "faq/cakes.md")
        .await
        .expect("delete again"));
    assert!(!store
        .delete_document(&shop, "secret.md")
        .await
        .expect("another tenant's source"));
    assert_eq!(
        store.knowledge_revision(&shop).await.expect("rev"),
        r4,
        "deleting nothing changes nothing"
    );
    let chunks = store.knowledge_chunks(&shop).await.expect("chunks");
    assert_eq!(chunks.len(), 1);
    assert!(chunks.iter().all(|c| c.chunk.source == "menu.csv"));
    let others = store.knowledge_chunks(&other).await.expect("other");
    assert_eq!(others.len(), 1);
    assert_eq!(others[0].chunk.text, "Another tenant's text");
    assert!(store
        .knowledge_chunks(&t("nobody"))
        .await
        .expect("none")
        .is_empty());
}

/// Concurrent puts of different documents each get a revision of their own, and all of them
/// are stored: an index cached at one revision is never mistaken for another's.
pub async fn knowledge_revisions_are_distinct_under_concurrency<S: Store + ?Sized>(store: &S) {
    let shop = t("shop");
    let sources: Vec<String> = (0..8).map(|i| format!("doc-{i}.md")).collect();
    let puts = sources.iter().map(|source| {
        let doc = kb_document(source, 1, T0);
        let chunk = kb_chunk(source, &["H"], "text");
        let shop = shop.clone();
        async move { store.put_document(&shop, &doc, &[chunk]).await }
    });
    let mut revisions: Vec<u64> = join_all(puts)
        .await
        .into_iter()
        .map(|r| r.expect("put"))
        .collect();
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(revisions.len(), 8, "distinct: {revisions:?}");
    assert_eq!(
        store.knowledge_revision(&shop).await.expect("rev"),
        *revisions.last().expect("eight"),
    );
    assert_eq!(
        store.knowledge_documents(&shop).await.expect("docs").len(),
        8
    );
}

#[cfg(test)]
mod memory {
    use crate::memory::MemoryStore;

    crate::store_contract_tests!(
        runner = futures::executor::block_on,
        store = MemoryStore::new()
    );

    /// Every check written in this file is in the macro's list (so in `CHECKS`, `run_check`
    /// and every store's tests), once.
    #[test]
    fn every_check_is_listed_once() {
        let written: Vec<&str> = include_str!("contract.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("pub async fn "))
            .filter_map(|l| l.split('<').next())
            .collect();
        let mut listed = super::CHECKS.to_vec();
        listed.sort_unstable();
        listed.dedup();
        assert_eq!(listed.len(), super::CHECKS.len(), "distinct names");
        let mut written_sorted = written.clone();
        written_sorted.sort_unstable();
        assert_eq!(
            listed, written_sorted,
            "a `pub async fn` check here is missing from the list in `store_contract_tests!`"
        );
    }

    /// `run_check` runs every listed check by name (each passes on a fresh memory store) and
    /// refuses an unknown name.
    #[test]
    fn every_listed_check_runs_by_name() {
        for name in super::CHECKS {
            let store = MemoryStore::new();
            assert!(
                futures::executor::block_on(super::run_check(name, &store)),
                "{name}"
            );
        }
        assert!(!futures::executor::block_on(super::run_check(
            "no_such_check",
            &MemoryStore::new()
        )));
    }
}
