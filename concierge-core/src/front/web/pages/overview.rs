//! `/dashboard`: the tenant at a glance.

use askama::Template;

use super::super::render::{page, Tr};
use super::super::Viewer;
use crate::front::reply::Response;
use crate::front::{ApiError, Front};

#[derive(Template)]
#[template(path = "web/overview.html")]
struct Overview<'a> {
    t: Tr,
    viewer: &'a Viewer,
    nav: &'static str,
    business: String,
    onboarding: bool,
}

/// The overview page.
pub(super) async fn show(front: &Front<'_>, viewer: &Viewer) -> Result<Response, ApiError> {
    let tenant = front.tenant(&viewer.tenant).await?;
    page(
        200,
        &Overview {
            t: Tr(viewer.locale),
            viewer,
            nav: "overview",
            onboarding: tenant.onboarding.is_some(),
            business: tenant.name,
        },
    )
}
