//! The job table: engine jobs are serialized with the conversation the core names.

use concierge_core::ids::{Channel, ConversationKey};
use concierge_core::ports::{Job, JobQueue};
use concierge_core::{TenantId, Timestamp};

use crate::helpers::{pg_store, run, sqlite_store};

async fn engine_jobs_take_the_cores_conversation_key(store: concierge_server::store::SqlStore) {
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
