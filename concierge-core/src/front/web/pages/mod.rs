//! What a signed-in owner sees and changes: one module per dashboard page.

pub(crate) mod approvals;
mod channels;
mod conversations;
mod credits;
pub(crate) mod fmt;
mod knowledge;
#[cfg(all(test, feature = "knowledge"))]
mod knowledge_tests;
mod overview;
pub(crate) mod persona;
mod rules;
mod settings;
#[cfg(test)]
mod statement_tests;
#[cfg(test)]
mod tests;
mod welcome;

use super::super::reply::{Request, Response};
use super::super::{ApiError, Front};
use super::Viewer;

/// Routes `/dashboard/{rest}` for a signed-in owner (the CSRF token is already checked).
pub(crate) async fn route(
    front: &Front<'_>,
    viewer: &Viewer,
    req: &Request,
    rest: &[&str],
) -> Result<Response, ApiError> {
    use http::Method;
    let method = req.method();
    match rest {
        [] | [""] => match *method {
            Method::GET => overview::show(front, viewer).await,
            _ => Err(ApiError::MethodNotAllowed("GET")),
        },
        ["persona"] => match *method {
            Method::GET => persona::show(front, viewer, req).await,
            Method::POST => persona::save(front, viewer, req).await,
            _ => Err(ApiError::MethodNotAllowed("GET, POST")),
        },
        ["settings"] => match *method {
            Method::GET => settings::show(front, viewer, req).await,
            _ => Err(ApiError::MethodNotAllowed("GET")),
        },
        ["settings", "conversation"] => match *method {
            Method::PUT | Method::POST => settings::save_conversation(front, viewer, req).await,
            _ => Err(ApiError::MethodNotAllowed("PUT, POST")),
        },
        ["approvals"] => match *method {
            Method::GET => approvals::show(front, viewer, req).await,
            _ => Err(ApiError::MethodNotAllowed("GET")),
        },
        ["approvals", draft] => match *method {
            Method::POST => approvals::decide_from_queue(front, viewer, req, draft).await,
            _ => Err(ApiError::MethodNotAllowed("POST")),
        },
        ["rules"] => match *method {
            Method::GET => rules::index(front, viewer).await,
            _ => Err(ApiError::MethodNotAllowed("GET")),
        },
        ["rules", channel] => match *method {
            Method::GET => rules::show(front, viewer, req, channel).await,
            Method::POST => rules::submit(front, viewer, req, channel).await,
            _ => Err(ApiError::MethodNotAllowed("GET, POST")),
        },
        ["channels"] => match *method {
            Method::GET => channels::show(front, viewer, req).await,
            _ => Err(ApiError::MethodNotAllowed("GET")),
        },
        ["channels", channel] => match *method {
            Method::POST => channels::submit(front, viewer, req, channel).await,
            _ => Err(ApiError::MethodNotAllowed("POST")),
        },
        ["welcome"] => match *method {
            Method::GET => welcome::show(front, viewer).await,
            Method::POST => welcome::submit(front, viewer, req).await,
            _ => Err(ApiError::MethodNotAllowed("GET, POST")),
        },
        ["knowledge"] => match *method {
            Method::GET => knowledge::show(front, viewer, req).await,
            Method::POST => knowledge::upload(front, viewer, req).await,
            _ => Err(ApiError::MethodNotAllowed("GET, POST")),
        },
        ["knowledge", "delete"] => match *method {
            Method::POST => knowledge::delete(front, viewer, req).await,
            _ => Err(ApiError::MethodNotAllowed("POST")),
        },
        ["credits"] => match *method {
            Method::GET => credits::show(front, viewer).await,
            _ => Err(ApiError::MethodNotAllowed("GET")),
        },
        ["conversations"] => match *method {
            Method::GET => conversations::list(front, viewer).await,
            _ => Err(ApiError::MethodNotAllowed("GET")),
        },
        ["conversations", id] => match *method {
            Method::GET => conversations::show(front, viewer, id).await,
            _ => Err(ApiError::MethodNotAllowed("GET")),
        },
        _ => Err(ApiError::NotFound("page".into())),
    }
}
