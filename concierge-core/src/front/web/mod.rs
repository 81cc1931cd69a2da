//! The web surface for people: the owner's dashboard (`/dashboard/*`), its login, and the
//! static assets the pages load (`/assets/*`). Server-rendered HTML (askama templates, escaped
//! by default) with htmx for partial swaps; every form also works without JavaScript.
//!
//! The split:
//! - [`auth`]: accounts, login, sessions; turns a request into a [`Viewer`] or refuses it,
//!   with [`cookies`] and [`csrf`] as its small modules, and [`multipart`] for forms that
//!   upload a file.
//! - [`pages`]: what a signed-in owner sees and changes, given a [`Viewer`].
//! - [`assets`]: the stylesheet and scripts, baked in at build time.
//! - [`demo_page`]: the public live demo page (`/demo`), for visitors without an account.

pub(crate) mod access;
pub(crate) mod approval_link;
pub(crate) mod assets;
pub(crate) mod auth;
pub(crate) mod cookies;
pub(crate) mod csrf;
pub(crate) mod demo_page;
pub(crate) mod form;
pub(crate) mod manage;
pub(crate) mod manage_catalog;
pub(crate) mod multipart;
pub(crate) mod oauth;
pub(crate) mod pages;
pub(crate) mod render;

use http::Method;

use crate::i18n::UiLocale;
use crate::ids::TenantId;

use super::reply::{Request, Response};
use super::{ApiError, Front};

/// Who is looking at a dashboard page: the signed-in owner, the tenant they run, the session's
/// CSRF token (every form carries it back) and the locale the page renders in.
#[derive(Debug, Clone)]
pub(crate) struct Viewer {
    /// The tenant this owner runs.
    pub tenant: TenantId,
    /// The owner's sign-in email (shown in the header).
    pub email: String,
    /// The session's CSRF token, echoed in every form and checked on every unsafe method.
    pub csrf: String,
    /// The locale the page renders in.
    pub locale: UiLocale,
    /// The owner's account id.
    pub owner: String,
    /// The key the session is stored under (the SHA-256 of its id, never the id).
    pub session: String,
}

/// Whether a method changes state (and so needs a CSRF token).
pub(crate) fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl Front<'_> {
    /// Routes `/dashboard/{rest}`: the login pages are open; everything else needs a session,
    /// and a state-changing method also needs the session's CSRF token.
    pub(super) async fn dashboard(
        &self,
        req: &Request,
        rest: &[&str],
    ) -> Result<Response, ApiError> {
        if let Some(response) = auth::open_route(self, req, rest).await? {
            return Ok(response);
        }
        let viewer = match auth::viewer(self, req).await? {
            Some(viewer) => viewer,
            None => return Ok(auth::to_login(req)),
        };
        if is_unsafe(req.method()) {
            auth::check_csrf(self, &viewer, req)?;
        }
        pages::route(self, &viewer, req, rest).await
    }
}
