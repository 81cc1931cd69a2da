//! `GET /demo`: the live demo page for visitors (no account, no session).
//!
//! The page lists the demo's approved personas as cards (the sample business's name and what it
//! is) and opens a chat `<dialog>` for the one picked. Everything after that runs in
//! `assets/demo.js` against the stateless API of [`super::super::demo`]: it fetches
//! `GET /demo/personas` for the greeting and the exact envelope ("View prompt"), keeps the
//! history and the handoff flag client-side and posts them with every turn to `POST /demo/chat`.
//!
//! The page carries the strings the script shows as `data-*` attributes, so the script holds no
//! English of its own. It has its own layout (`templates/web/demo.html`), not the dashboard's,
//! and the pages' Content-Security-Policy: no inline script or style.

use askama::Template;

use crate::engine::DemoPersona;
use crate::i18n::UiLocale;

use super::super::reply::{Request, Response};
use super::super::{ApiError, Front};
use super::render::{page, Tr};

/// The demo page's template: the picker; the dialog is filled in by the script.
#[derive(Template)]
#[template(path = "web/demo.html")]
struct DemoPage<'a> {
    t: Tr,
    personas: &'a [DemoPersona],
}

/// Serves `GET /demo`.
pub(crate) async fn show(front: &Front<'_>, _req: &Request) -> Result<Response, ApiError> {
    let personas = front.engine.approved_personas().await?;
    // The locale resolution chain (Accept-Language, then the canonical locale) arrives with the
    // Fluent loader; until then the demo renders in the canonical locale.
    page(
        200,
        &DemoPage {
            t: Tr(UiLocale::default()),
            personas: &personas,
        },
    )
}
