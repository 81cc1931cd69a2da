//! Building responses: JSON, text and empty answers over `http::Response<Bytes>`.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use serde::Serialize;

/// A request as the front takes it: method, URI, headers and the whole body.
pub type Request = http::Request<Bytes>;

/// A response as the front returns it.
pub type Response = http::Response<Bytes>;

fn with_status(status: u16, body: Bytes, content_type: Option<&'static str>) -> Response {
    let mut response = http::Response::new(body);
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = content_type {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    response
}

/// `status` with `value` as JSON. A value that cannot be serialized (none of ours) is a 500.
pub(super) fn json_response(status: u16, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => with_status(status, body.into(), Some("application/json")),
        Err(_) => with_status(
            500,
            Bytes::from_static(br#"{"error":"internal error"}"#),
            Some("application/json"),
        ),
    }
}

/// 200 with `value` as JSON.
pub(super) fn json_ok(value: &impl Serialize) -> Response {
    json_response(200, value)
}

/// `status` with a plain-text body.
pub(super) fn text_response(status: u16, text: impl Into<String>) -> Response {
    with_status(
        status,
        Bytes::from(text.into()),
        Some("text/plain; charset=utf-8"),
    )
}

/// `status` with a body of the given content type.
pub(super) fn typed_response(
    status: u16,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response {
    with_status(status, body.into(), Some(content_type))
}

/// `status` with no body.
pub(super) fn empty(status: u16) -> Response {
    with_status(status, Bytes::new(), None)
}
