//! Panics become answers: a logged 500 with an incident id for a request, a retryable failure
//! for a job — never a dropped connection or a dead worker.
//!
//! No input should reach a panic (the parsers are fuzzed), so this is defence in depth:
//! - [`layer`] wraps every route (tower-http's `CatchPanicLayer`): the client gets
//!   `500 {"error":"internal error","request_id":ID}` and an `x-request-id` header, and the log
//!   gets the same id.
//! - [`catch_job`] runs a job's future and turns a panic into a [`Panicked`] error, which the
//!   job runner records as a retryable failure (the attempts then end in the dead-letter list).
//! - [`install_hook`] (the binary calls it at start) replaces the default panic hook with one
//!   that logs the location and an incident id through `tracing`, and the message only when it
//!   is a literal: a formatted panic message can quote the data it choked on (a message body),
//!   and logs never carry bodies. Without the hook (tests, embedders) the default hook prints as
//!   usual and the id is made when the panic is caught.
//!
//! The hook and the catcher meet in a thread-local: a panic unwinds on the thread that panicked,
//! straight into the `catch_unwind` of the same poll, so the id the hook logged is the id the
//! client and the job row see.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Once;

use axum::http::{header, HeaderValue, Response, StatusCode};
use futures::FutureExt;
use rand::Rng;
use tower_http::catch_panic::{CatchPanicLayer, ResponseForPanic};

thread_local! {
    /// The incident id of the panic the hook last logged on this thread, until it is caught.
    static LAST_INCIDENT: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Installs the logging panic hook (once; later calls do nothing). See the module docs.
pub fn install_hook() {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let incident = new_incident_id();
            let location = info
                .location()
                .map_or_else(|| "unknown".to_owned(), ToString::to_string);
            let thread = std::thread::current();
            tracing::error!(
                incident = %incident,
                location = %location,
                thread = thread.name().unwrap_or("unnamed"),
                message = literal_message(info.payload()).unwrap_or("(formatted message withheld)"),
                "panic"
            );
            LAST_INCIDENT.with(|last| *last.borrow_mut() = Some(incident));
        }));
    });
}

/// A job's future panicked; the incident id is in the log next to where.
#[derive(Debug, thiserror::Error)]
#[error("panicked (incident {incident}; see the server log)")]
pub struct Panicked {
    /// The incident id, as logged.
    pub incident: String,
}

/// Runs `job` to completion, or returns [`Panicked`] when it panics.
///
/// # Errors
/// [`Panicked`] when the future panicked while being polled.
pub async fn catch_job<F: Future>(job: F) -> Result<F::Output, Panicked> {
    AssertUnwindSafe(job).catch_unwind().await.map_err(|_| {
        let incident = caught_incident();
        tracing::error!(incident = %incident, "a job panicked; recorded as a retryable failure");
        Panicked { incident }
    })
}

/// The layer that turns a panicking handler into a logged 500 with a request id.
pub fn layer() -> CatchPanicLayer<PanicResponse> {
    CatchPanicLayer::custom(PanicResponse)
}

/// The 500 answer of [`layer`]: a JSON error body with the incident id as `request_id`.
#[derive(Clone, Copy, Debug, Default)]
pub struct PanicResponse;

impl ResponseForPanic for PanicResponse {
    type ResponseBody = axum::body::Body;

    fn response_for_panic(
        &mut self,
        _payload: Box<dyn Any + Send + 'static>,
    ) -> Response<Self::ResponseBody> {
        let incident = caught_incident();
        tracing::error!(request_id = %incident, "a request handler panicked; answered 500");
        let body = serde_json::json!({ "error": "internal error", "request_id": incident });
        let mut response = Response::new(axum::body::Body::from(body.to_string()));
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(value) = HeaderValue::from_str(&incident) {
            headers.insert("x-request-id", value);
        }
        response
    }
}

/// The id the hook logged for the panic just caught on this thread, or a fresh one.
fn caught_incident() -> String {
    LAST_INCIDENT
        .with(|last| last.borrow_mut().take())
        .unwrap_or_else(new_incident_id)
}

fn new_incident_id() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

/// The panic message when it is a string literal (`panic!("...")`, `expect("...")`,
/// `debug_assert!(.., "...")`); formatted messages may quote data and are withheld.
fn literal_message(payload: &(dyn Any + Send)) -> Option<&'static str> {
    payload.downcast_ref::<&'static str>().copied()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_literal_messages_are_logged() {
        let literal: Box<dyn Any + Send> = Box::new("Invalid part ID");
        assert_eq!(literal_message(literal.as_ref()), Some("Invalid part ID"));
        let formatted: Box<dyn Any + Send> = Box::new(format!("byte index 3 of `{}`", "secret"));
        assert_eq!(literal_message(formatted.as_ref()), None);
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_with_an_incident_id() {
        assert_eq!(catch_job(async { 7 }).await.unwrap(), 7);
        let err = catch_job(async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
        })
        .await
        .unwrap_err();
        assert_eq!(err.incident.len(), 16);
        assert!(err.to_string().contains(&err.incident));
    }
}
