//! The job table: engine jobs are serialized with the conversation the core names, and a
//! conversation's jobs run in the order they fell due.

use concierge_core::ids::{Channel, ConversationKey};
use concierge_core::ports::{Job, JobQueue};
use concierge_core::time::Span;
use concierge_core::{TenantId, Timestamp};
use concierge_server::store::{IngressJob, IngressRecord, JobKind, SqlStore};

use crate::helpers::{pg_store, run, sqlite_store};

async fn engine_jobs_take_the_cores_conversation_key(store: concierge_server::store::SqlStore) {
    let tenant = TenantId::parse("t-jobs").unwrap();
    let key = ConversationKey::new(tenant.clone(), Channel::WhatsApp, "15551234");
    let now = Timestamp::from_millis(concierge_server::clock::now_millis());
    store
        .schedule(&Job::FlushBuffer { key: key.clone() }, now)
        .await
        .unwrap();
    let flush = store.claim_job("w1", now).await.unwrap().unwrap();
    assert_eq!(
        flush.conversation.as_deref(),
        Some(key.storage_key().as_str())
    );
    assert_eq!(flush.tenant.as_deref(), Some("t-jobs"));
    store
        .schedule(
            &Job::ApprovalDigest {
                tenant: tenant.clone(),
            },
            now,
        )
        .await
        .unwrap();
    let digest = store.claim_job("w1", now).await.unwrap().unwrap();
    assert_eq!(
        digest.conversation, None,
        "not serialized with any conversation"
    );
}

#[test]
fn sqlite_engine_jobs_take_the_cores_conversation_key() {
    run(async { engine_jobs_take_the_cores_conversation_key(sqlite_store().await).await });
}

#[test]
fn postgres_engine_jobs_take_the_cores_conversation_key() {
    run(async {
        if let Some(store) = pg_store().await {
            engine_jobs_take_the_cores_conversation_key(store).await;
        }
    });
}

/// Records an inbound message of `key`'s conversation, acknowledged at `at`.
async fn ingress(store: &SqlStore, key: &ConversationKey, id: &str, at: Timestamp) {
    let fresh = store
        .enqueue_once(
            &format!("whatsapp:{id}"),
            Span::days(1),
            IngressJob {
                kind: JobKind::Inbound,
                conversation: Some(key.storage_key()),
                tenant: Some(key.tenant.to_string()),
                payload: id.to_owned(),
                at,
            },
        )
        .await
        .unwrap();
    assert!(fresh);
}

async fn a_message_acknowledged_before_a_flush_fell_due_runs_before_it(store: SqlStore) {
    let key = ConversationKey::new(
        TenantId::parse("t-order").unwrap(),
        Channel::WhatsApp,
        "15551234",
    );
    let t = Timestamp::from_millis(concierge_server::clock::now_millis());
    let ms = Span::millis;
    // The flush of the first batch is scheduled (its row is older than both messages below),
    // then re-armed by a message to t + 1 s, as the buffer does.
    let flush = Job::FlushBuffer { key: key.clone() };
    store.schedule(&flush, t + ms(400)).await.unwrap();
    store.schedule(&flush, t + ms(1_000)).await.unwrap();
    ingress(&store, &key, "within", t + ms(500)).await;
    ingress(&store, &key, "after", t + ms(2_000)).await;

    // A worker gets to all three late, at t + 5 s.
    let late = t + ms(5_000);
    let first = store.claim_job("w1", late).await.unwrap().unwrap();
    assert_eq!(
        first.payload, "within",
        "acknowledged before the flush fell due: it joins the batch"
    );
    assert!(
        store.claim_job("w2", late).await.unwrap().is_none(),
        "one job per conversation at a time"
    );
    // Its worker dies: once rescued it still goes before the flush.
    let rescue_at = late + ms(60_000);
    assert_eq!(store.rescue_expired(rescue_at).await.unwrap(), 1);
    // The next claim read its clock just before the rescue committed (it waited for the
    // database): the rescued message is still due for it, and still first.
    let again = store
        .claim_job("w2", rescue_at - ms(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.payload, "within", "a rescued message keeps its place");
    store.complete_job(again.id, "w2", rescue_at).await.unwrap();

    let second = store.claim_job("w2", rescue_at).await.unwrap().unwrap();
    assert_eq!(second.kind, JobKind::Engine, "then the flush");
    store
        .complete_job(second.id, "w2", rescue_at)
        .await
        .unwrap();
    let third = store.claim_job("w2", rescue_at).await.unwrap().unwrap();
    assert_eq!(
        third.payload, "after",
        "acknowledged after the deadline: next batch"
    );
}

#[test]
fn sqlite_a_message_acknowledged_before_a_flush_fell_due_runs_before_it() {
    run(async {
        a_message_acknowledged_before_a_flush_fell_due_runs_before_it(sqlite_store().await).await
    });
}

#[test]
fn postgres_a_message_acknowledged_before_a_flush_fell_due_runs_before_it() {
    run(async {
        if let Some(store) = pg_store().await {
            a_message_acknowledged_before_a_flush_fell_due_runs_before_it(store).await;
        }
    });
}

fn ingress_record(key: &str, conversation: &str, payload: &str, at: Timestamp) -> IngressRecord {
    IngressRecord {
        idempotency_key: key.to_owned(),
        job: IngressJob {
            kind: JobKind::Inbound,
            conversation: Some(conversation.to_owned()),
            tenant: Some("t-ingress".to_owned()),
            payload: payload.to_owned(),
            at,
        },
    }
}

/// Group commit: one batch stores each new message once, refuses redeliveries (inside the
/// batch and of earlier batches), and keeps a conversation's arrival order.
async fn ingress_batches_store_each_message_once_in_order(store: SqlStore) {
    let now = Timestamp::from_millis(concierge_server::clock::now_millis());
    let ttl = Span::hours(1);
    let first = store
        .enqueue_batch(ttl, &[ingress_record("wa:1", "c1", "one", now)])
        .await
        .unwrap();
    assert_eq!(first, vec![true]);
    let batch = [
        ingress_record("wa:2", "c1", "two", now),
        ingress_record("wa:1", "c1", "one again", now),
        ingress_record("wa:3", "c2", "three", now),
        ingress_record("wa:2", "c1", "two again", now),
        ingress_record("wa:4", "c1", "four", now),
    ];
    let fresh = store.enqueue_batch(ttl, &batch).await.unwrap();
    assert_eq!(fresh, vec![true, false, true, false, true]);
    // c1's turns come out one at a time in arrival order; c2 is independent.
    let mut order = Vec::new();
    while let Some(job) = store.claim_job("w1", now).await.unwrap() {
        order.push(job.payload.clone());
        assert!(store.complete_job(job.id, "w1", now).await.unwrap());
    }
    let c1: Vec<&str> = order
        .iter()
        .map(String::as_str)
        .filter(|p| *p != "three")
        .collect();
    assert_eq!(c1, ["one", "two", "four"]);
    assert_eq!(order.len(), 4, "redeliveries stored no job: {order:?}");
    assert_eq!(
        store.enqueue_batch(ttl, &[]).await.unwrap(),
        Vec::<bool>::new()
    );
}

#[test]
fn sqlite_ingress_batches_store_each_message_once_in_order() {
    run(async { ingress_batches_store_each_message_once_in_order(sqlite_store().await).await });
}

#[test]
fn postgres_ingress_batches_store_each_message_once_in_order() {
    run(async {
        if let Some(store) = pg_store().await {
            ingress_batches_store_each_message_once_in_order(store).await;
        }
    });
}
