//! Queue consumers: `WORK_QUEUE` (inbound messages → their conversation's object; due jobs;
//! outbox sends that did not finish inside their turn) and
//! `SAFETY_QUEUE` (persona reviews → `Engine::run_job`). A retryable failure retries the message
//! with backoff; after `max_retries` the queue moves it to its dead-letter queue.

use concierge_core::ids::ConversationKey;
use concierge_core::ports::{Job, TenantStore};
use concierge_core::retry::Backoff;
use concierge_core::safety::SafetyJob;
use concierge_core::time::{Span, Timestamp};
use worker::wasm_bindgen::JsValue;
use worker::{Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder};

use super::reply_buffer;
use super::store::{CfStore, WorkItem};
use super::{engine, Sessions};

/// The retry delays: 2 s doubling to 15 min (the server's defaults), from the core.
pub(crate) const BACKOFF: Backoff = Backoff {
    base: Span::seconds(2),
    cap: Span::minutes(15),
};

/// What became of one queue message.
pub(crate) enum Done {
    /// Finished (or dropped for good, logged).
    Ack,
    /// Try again later.
    Retry,
}

/// Consumes a batch from any of the Worker's queues.
pub(crate) async fn consume(batch: MessageBatch<String>, env: Env) -> worker::Result<()> {
    let queue = batch.queue();
    for message in batch.messages()? {
        let done = if queue.contains("safety") {
            safety(&env, message.body()).await
        } else {
            work(&env, message.body()).await
        };
        match done {
            Done::Ack => message.ack(),
            Done::Retry => {
                // Exponential backoff. worker 0.8 does not expose the attempt count, so the
                // core infers it from how long the message has waited since it was first
                // sent; the queue's `max_retries` then dead-letters it.
                let sent = Timestamp::from_millis(
                    i64::try_from(message.timestamp().as_millis()).unwrap_or(i64::MAX),
                );
                let attempt = BACKOFF.attempt_after(super::now().since(sent));
                let delay = BACKOFF.delay(attempt, worker::js_sys::Math::random());
                let secs = u32::try_from((delay.as_millis() + 999) / 1000).unwrap_or(u32::MAX);
                message.retry_with_options(
                    &QueueRetryOptionsBuilder::new()
                        .with_delay_seconds(secs.max(1))
                        .build(),
                );
            }
        }
    }
    Ok(())
}

async fn safety(env: &Env, body: &str) -> Done {
    let Ok(job) = super::from_json::<SafetyJob>(body) else {
        worker::console_error!("malformed safety job dropped");
        return Done::Ack;
    };
    let engine = match engine(env, Sessions::Elsewhere) {
        Ok(e) => e,
        Err(e) => {
            worker::console_error!("engine unavailable: {e}");
            return Done::Retry;
        }
    };
    match engine.run_job(&Job::SafetyCheck(job)).await {
        Ok(_) => Done::Ack,
        Err(e) if e.is_retryable() => {
            worker::console_warn!("safety review failed, will retry: {e}");
            Done::Retry
        }
        Err(e) => {
            worker::console_error!("safety review dropped: {e}");
            Done::Ack
        }
    }
}

async fn work(env: &Env, body: &str) -> Done {
    let Ok(item) = super::from_json::<WorkItem>(body) else {
        worker::console_error!("malformed work item dropped");
        return Done::Ack;
    };
    let result = match item {
        WorkItem::Inbound { message } => inbound(env, message).await,
        WorkItem::Job { job } => run_job(env, &job).await,
        WorkItem::Send { key, attempt } => {
            super::outbound::deliver_queued(env, &key, attempt).await
        }
    };
    match result {
        Ok(done) => done,
        Err(e) => {
            worker::console_warn!("work failed, will retry: {e}");
            Done::Retry
        }
    }
}

async fn inbound(
    env: &Env,
    message: concierge_core::channels::InboundMessage,
) -> worker::Result<Done> {
    let store = CfStore::new(env, Sessions::Elsewhere)?;
    let tenant = store
        .find_tenant(&message.account)
        .await
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    let Some(tenant) = tenant else {
        // No tenant: the engine logs and drops it; no session is touched.
        let outcome = engine(env, Sessions::Elsewhere)?
            .handle_inbound(message)
            .await;
        return Ok(match outcome {
            Err(e) if e.is_retryable() => Done::Retry,
            _ => Done::Ack,
        });
    };
    let key = ConversationKey::new(tenant, message.channel, message.sender.clone());
    let payload = serde_json::to_string(&message)?;
    let response =
        reply_buffer::call(env, &key, "/inbound", "", JsValue::from_str(&payload)).await?;
    Ok(status_done(response.status_code()))
}

/// 2xx: done; 503 (retryable engine error) or 5xx: retry; other 4xx: dropped (logged there).
pub(crate) fn status_done(status: u16) -> Done {
    if status == 503 || status >= 500 {
        Done::Retry
    } else {
        Done::Ack
    }
}

async fn run_job(env: &Env, job: &Job) -> worker::Result<Done> {
    if let Job::FlushBuffer { key } = job {
        // Flushes belong to the conversation's object (its alarm).
        reply_buffer::schedule_remote(env, key, super::now()).await?;
        return Ok(Done::Ack);
    }
    Ok(match engine(env, Sessions::Elsewhere)?.run_job(job).await {
        Ok(_) => Done::Ack,
        Err(e) if e.is_retryable() => Done::Retry,
        Err(e) => {
            worker::console_error!("job dropped: {e}");
            Done::Ack
        }
    })
}
