//! The job table: engine jobs are serialized with the conversation the core names.

use concierge_core::ids::{Channel, ConversationKey};
use concierge_core::ports::{Job, JobQueue};
use concierge_core::time::Span;
use concierge_core::{TenantId, Timestamp};
use concierge_server::store::{IngressJob, IngressRecord, JobKind, SqlStore};

use crate::helpers::{pg_store, run, sqlite_store};

async fn engine_jobs_take_the_cores_conversation_key(store: SqlStore) {
    let tenant = TenantId::parse("t-jobs").unwrap();
    let key = ConversationKey::new(tenant.clone(), Channel::WhatsApp, "15551234");
    let now = Timestamp(concierge_server::clock::now_millis());
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

fn ingress(key: &str, conversation: &str, payload: &str, at: Timestamp) -> IngressRecord {
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
    let now = Timestamp(concierge_server::clock::now_millis());
    let ttl = Span::hours(1);
    let first = store
        .enqueue_batch(ttl, &[ingress("wa:1", "c1", "one", now)])
        .await
        .unwrap();
    assert_eq!(first, vec![true]);
    let batch = [
        ingress("wa:2", "c1", "two", now),
        ingress("wa:1", "c1", "one again", now),
        ingress("wa:3", "c2", "three", now),
        ingress("wa:2", "c1", "two again", now),
        ingress("wa:4", "c1", "four", now),
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
