//! Rendering pages: HTML responses with the security headers every page carries, redirects,
//! and [`Tr`], the translator templates call.

use askama::Template;
use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION};

use crate::i18n::{self, UiLocale};

use super::super::reply::Response;
use super::super::ApiError;

/// The headers of every HTML page: no framing, no sniffing, scripts and styles only from this
/// origin, nothing cached (pages show a signed-in owner's data).
const PAGE_HEADERS: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
         frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("cache-control", "no-store"),
];

/// `status` with `html` as the page, with the page headers.
pub(crate) fn html(status: u16, html: String) -> Response {
    let mut response = http::Response::new(Bytes::from(html));
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    for (name, value) in PAGE_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Renders `template` as a `status` page; a template that fails to render is a 500.
pub(crate) fn page(status: u16, template: &impl Template) -> Result<Response, ApiError> {
    template
        .render()
        .map(|body| html(status, body))
        .map_err(|e| ApiError::Internal(format!("template: {e}")))
}

/// 303 See Other to `location` (a path on this site: callers never pass a client's URL).
pub(crate) fn redirect(location: &'static str) -> Response {
    redirect_to(location.to_owned())
}

/// 303 See Other to a path built here; anything that is not a local path becomes `/dashboard`
/// (no open redirects).
pub(crate) fn redirect_to(location: String) -> Response {
    let safe = if is_local_path(&location) {
        location
    } else {
        "/dashboard".to_owned()
    };
    let mut response = http::Response::new(Bytes::new());
    *response.status_mut() = http::StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(&safe) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Whether `path` is a path on this site: starts with one `/`, no scheme, no `//` host, no
/// backslash tricks, no control characters.
pub(crate) fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.chars().any(|c| c.is_control() || c == '\\')
}

/// The translator a template calls: `{{ t.get("nav-persona") }}`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tr(pub UiLocale);

impl Tr {
    /// The string `key` in this locale.
    pub(crate) fn get(&self, key: impl AsRef<str>) -> String {
        i18n::text(self.0, key.as_ref(), &[])
    }

    /// The string `key` with one argument.
    pub(crate) fn arg(&self, key: &str, name: &str, value: &str) -> String {
        i18n::text(self.0, key, &[(name, value)])
    }

    /// The string `key` with `$count` a number (plural forms, grouped digits):
    /// `{{ t.count("common-minutes-ago", minutes) }}`.
    #[allow(dead_code)] // for the dashboard pages as they land
    pub(crate) fn count(&self, key: &str, count: i64) -> String {
        i18n::text_count(self.0, key, count, &[])
    }

    /// `n` with the locale's digit grouping (`1,00,000` in India).
    #[allow(dead_code)] // for the dashboard pages as they land
    pub(crate) fn num(&self, n: i64) -> String {
        i18n::format_count(self.0, n)
    }

    /// `amount_milli` thousandths of `currency` as money (`₹1,00,000`, `$100,000.00`).
    #[allow(dead_code)] // for the dashboard pages as they land
    pub(crate) fn money(&self, currency: &str, amount_milli: i64) -> String {
        i18n::format_money(self.0, currency, amount_milli)
    }

    /// The locale's BCP 47 tag, for `<html lang>`.
    pub(crate) fn lang(&self) -> &'static str {
        self.0.tag()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_get_strings_numbers_and_money_in_the_viewers_locale() {
        let t = Tr(UiLocale::HiIn);
        assert_eq!(t.lang(), "hi-IN");
        assert_eq!(t.get("nav-settings"), "सेटिंग");
        assert_eq!(t.count("common-minutes-ago", 2), "2 मिनट पहले");
        let t = Tr(UiLocale::EnUs);
        assert_eq!(
            t.arg("nav-signed-in-as", "email", "a@b.us"),
            "Signed in as a@b.us"
        );
        assert_eq!(t.num(100_000), "100,000");
        assert_eq!(t.money("USD", 100_000_000), "$100,000.00");
        assert_eq!(Tr(UiLocale::EnIn).money("INR", 100_000_000), "₹1,00,000");
    }

    #[test]
    fn redirects_stay_on_this_site() {
        for evil in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "evil",
            "/a\nb",
        ] {
            let response = redirect_to(evil.to_owned());
            assert_eq!(response.headers()[LOCATION], "/dashboard", "{evil:?}");
        }
        let response = redirect_to("/dashboard/persona?saved=1".to_owned());
        assert_eq!(response.headers()[LOCATION], "/dashboard/persona?saved=1");
    }
}
