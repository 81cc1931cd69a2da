//! What a signed-in owner sees and changes: one module per dashboard page.

mod overview;

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
        _ => Err(ApiError::NotFound("page".into())),
    }
}
