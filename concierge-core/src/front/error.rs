//! The one error answer of every route: a status and a JSON body `{"error": ...}`, with field
//! errors for 422. Database, provider and internal text never reaches a client: a 5xx body says
//! only "internal error" and carries the cause in an [`InternalCause`] response extension the
//! adapter logs.

use serde_json::{json, Value};

use crate::channels::ChannelError;
use crate::conversation::FieldError;
use crate::engine::EngineError;
use crate::ports::StoreError;

use super::reply::{json_response, Response};

/// Why a request was not served.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A channel request was refused (signature, size, shape): the status the core names.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// 422 with field errors; nothing was changed.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// 404: the named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// 409: a concurrent or conflicting write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 401: the bearer token is missing or wrong.
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// 401: a dashboard request without a valid session (not a GET page: those redirect to
    /// the login page).
    #[error("sign in required")]
    SignInRequired,
    /// 403: authenticated, but the request is refused (a missing or wrong CSRF token).
    #[error("{0}")]
    Forbidden(&'static str),
    /// 400 with a message about the request.
    #[error("{0}")]
    BadRequest(String),
    /// 405: the path exists, the method does not; the methods it takes.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// 429 with `Retry-After` seconds.
    #[error("too many requests")]
    TooManyRequests {
        /// What to tell the client.
        message: &'static str,
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
    },
    /// 501: this deploy target does not serve this route yet.
    #[error("not supported: {0}")]
    NotSupported(&'static str),
    /// 502: an upstream (the model) failed; the message says what to do.
    #[error("{0}")]
    BadGateway(&'static str),
    /// 503: a setting is missing or the service is busy.
    #[error("{0}")]
    Unavailable(&'static str),
    /// 500; the cause is logged by the adapter, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The cause of a 5xx answer, attached to the response as an extension for the adapter's log
/// (never in the body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InternalCause(pub String);

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid(errors) => ApiError::Invalid(errors),
            EngineError::UnknownTenant(t) => ApiError::NotFound(format!("tenant {t}")),
            EngineError::Store(e) => e.into(),
            EngineError::Malformed(c) => ApiError::Channel(c),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ApiError::Conflict(what),
            StoreError::NotFound(what) => ApiError::NotFound(what),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl ApiError {
    /// A 422 about one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldError::new(field, message)])
    }

    /// The HTTP status of this answer.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Channel(e) => e.status(),
            ApiError::Invalid(_) => 422,
            ApiError::NotFound(_) => 404,
            ApiError::Conflict(_) => 409,
            ApiError::Unauthorized | ApiError::SignInRequired => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::BadRequest(_) => 400,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::NotSupported(_) => 501,
            ApiError::BadGateway(_) => 502,
            ApiError::Unavailable(_) => 503,
            ApiError::Internal(_) => 500,
        }
    }

    fn body(&self) -> Value {
        match self {
            ApiError::Invalid(errors) => json!({ "error": "invalid input", "fields": errors }),
            ApiError::TooManyRequests { message, .. } => json!({ "error": message }),
            ApiError::MethodNotAllowed(_) => json!({ "error": "method not allowed" }),
            ApiError::Internal(_) => json!({ "error": "internal error" }),
            other => json!({ "error": other.to_string() }),
        }
    }

    /// The response a client gets.
    pub fn into_response(self) -> Response {
        let mut response = json_response(self.status(), &self.body());
        match &self {
            ApiError::MethodNotAllowed(allow) => {
                response
                    .headers_mut()
                    .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
            }
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => {
                response.headers_mut().insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from(*retry_after_secs),
                );
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                response
                    .extensions_mut()
                    .insert(InternalCause(cause.clone()));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(e: impl Into<ApiError>) -> (u16, Value) {
        let response = e.into().into_response();
        let status = response.status().as_u16();
        let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        (status, body)
    }

    #[test]
    fn store_errors_map_to_one_status_on_every_target() {
        assert_eq!(
            answer(EngineError::Store(StoreError::NotFound("draft d-1".into()))),
            (404, json!({ "error": "draft d-1 not found" }))
        );
        assert_eq!(
            answer(EngineError::Store(StoreError::Conflict("tenant t".into()))).0,
            409
        );
        let response =
            ApiError::from(StoreError::backend("connection refused to 10.0.0.5")).into_response();
        assert_eq!(response.status().as_u16(), 500);
        assert_eq!(
            serde_json::from_slice::<Value>(response.body()).ok(),
            Some(json!({ "error": "internal error" })),
            "no database text reaches the client"
        );
        let cause = response.extensions().get::<InternalCause>();
        assert!(cause.is_some_and(|c| c.0.contains("10.0.0.5")), "{cause:?}");
    }

    #[test]
    fn refusals_carry_their_headers() {
        let response = ApiError::TooManyRequests {
            message: "slow down",
            retry_after_secs: 7,
        }
        .into_response();
        assert_eq!(response.status().as_u16(), 429);
        assert_eq!(response.headers()["retry-after"], "7");
        let response = ApiError::MethodNotAllowed("GET, POST").into_response();
        assert_eq!(response.headers()["allow"], "GET, POST");
        assert_eq!(ApiError::NotSupported("x").status(), 501);
    }
}
