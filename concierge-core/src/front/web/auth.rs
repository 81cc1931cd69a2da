//! Owner accounts, login, sessions and CSRF.
//!
//! STUB (the auth work fills it in, keeping these signatures).

use super::super::reply::{Request, Response};
use super::super::{ApiError, Front};
use super::Viewer;

/// Serves the routes that need no session (`login`, `signup`, `logout`), or `None` for the rest.
pub(crate) async fn open_route(
    _front: &Front<'_>,
    _req: &Request,
    _rest: &[&str],
) -> Result<Option<Response>, ApiError> {
    Ok(None)
}

/// The signed-in owner behind the request's session cookie, or `None` without a valid session.
pub(crate) async fn viewer(_front: &Front<'_>, _req: &Request) -> Result<Option<Viewer>, ApiError> {
    Ok(None)
}

/// Refuses a state-changing request whose CSRF token does not match the session's.
pub(crate) fn check_csrf(_viewer: &Viewer, _req: &Request) -> Result<(), ApiError> {
    Err(ApiError::Forbidden("missing or wrong CSRF token"))
}

/// Where a request without a session goes: a redirect to the login page (a 401 for htmx and
/// non-GET requests).
pub(crate) fn to_login(_req: &Request) -> Response {
    super::render::redirect("/dashboard/login")
}
