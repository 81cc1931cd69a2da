//! The static files pages load, baked into the binary: `/assets/app.css`, the live demo's
//! script `/assets/demo.js` and htmx.
//!
//! htmx comes from npm at build time (`web/package.json`, installed by `scripts/web-assets.sh`);
//! `build.rs` bakes `web/node_modules/htmx.org/dist/htmx.min.js` in when it is there. Without
//! it `/assets/htmx.min.js` is a 404 and every page still works: forms submit and re-render
//! whole pages instead of swapping a part.

use super::super::reply::{typed_response, Response};
use super::super::ApiError;

const APP_CSS: &str = include_str!("../../../assets/app.css");
const DEMO_JS: &str = include_str!("../../../assets/demo.js");

#[cfg(concierge_htmx)]
const HTMX_JS: Option<&[u8]> = Some(include_bytes!(env!("CONCIERGE_HTMX_JS")));
#[cfg(not(concierge_htmx))]
const HTMX_JS: Option<&[u8]> = None;

/// Serves `/assets/{name}`.
pub(crate) fn serve(name: &str) -> Result<Response, ApiError> {
    let (content_type, body): (&'static str, &'static [u8]) = match name {
        "app.css" => ("text/css; charset=utf-8", APP_CSS.as_bytes()),
        "demo.js" => ("text/javascript; charset=utf-8", DEMO_JS.as_bytes()),
        "htmx.min.js" => match HTMX_JS {
            Some(js) => ("text/javascript; charset=utf-8", js),
            None => {
                return Err(ApiError::NotFound(
                    "asset htmx.min.js (run scripts/web-assets.sh)".into(),
                ))
            }
        },
        _ => return Err(ApiError::NotFound(format!("asset {name}"))),
    };
    let mut response = typed_response(200, content_type, body);
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("public, max-age=3600"),
    );
    response.headers_mut().insert(
        "x-content-type-options",
        http::HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
