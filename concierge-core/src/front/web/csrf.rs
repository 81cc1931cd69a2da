//! CSRF defences for every state-changing dashboard request:
//!
//! 1. [`same_origin`]: a request a browser marks as cross-site (`Sec-Fetch-Site`) or whose
//!    `Origin` names another site is refused before anything else. Requests without either
//!    header (old browsers, scripts) go on to the token check.
//! 2. The double submit: the token in the form field `csrf` (or the `X-CSRF-Token` header
//!    htmx sends from `<body hx-headers>`) must equal the token in the CSRF cookie, and for a
//!    signed-in owner both must equal the session's token. Compared in constant time.
//!
//! A refusal is a 403 and changes nothing.

use super::super::reply::Request;
use super::super::{header, ApiError};
use super::cookies;

/// The header htmx sends the token in.
pub(crate) const HEADER: &str = "x-csrf-token";
/// The form field forms send the token in.
pub(crate) const FIELD: &str = "csrf";

/// Bytes of a token or session id (as base64url: 43 characters).
pub(crate) const TOKEN_BYTES: usize = 32;

const CROSS_SITE: ApiError = ApiError::Forbidden("cross-site request refused");
const WRONG_TOKEN: ApiError = ApiError::Forbidden("missing or wrong CSRF token");

/// Whether `token` has the shape of one of our tokens (43 base64url characters).
pub(crate) fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Constant-time equality of two tokens (over their SHA-256: lengths do not leak).
pub(crate) fn token_eq(a: &str, b: &str) -> bool {
    super::super::secret_eq(a, b)
}

/// The authority (`host[:port]`) of an absolute URL, lowercased.
fn authority(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(rest[..end].to_ascii_lowercase())
}

/// Refuses a request the browser marks as cross-site, or whose `Origin` is neither this
/// request's `Host` nor the deployment's public URL (`public_base_url`, for a proxy that
/// rewrites `Host`).
///
/// # Errors
/// [`ApiError::Forbidden`] (403).
pub(crate) fn same_origin(req: &Request, public_base_url: &str) -> Result<(), ApiError> {
    if let Some(site) = header(req, "sec-fetch-site") {
        // `none`: the user typed the address or used a bookmark.
        if !matches!(site.trim(), "same-origin" | "none") {
            return Err(CROSS_SITE);
        }
    }
    if let Some(origin) = header(req, "origin") {
        let Some(origin) = authority(origin.trim()) else {
            // `Origin: null` (sandboxed frames, some redirects) is nobody we know.
            return Err(CROSS_SITE);
        };
        let host = header(req, "host")
            .map(str::to_ascii_lowercase)
            .or_else(|| {
                req.uri()
                    .authority()
                    .map(|a| a.as_str().to_ascii_lowercase())
            });
        let ours = host.as_deref() == Some(origin.as_str())
            || authority(public_base_url).as_deref() == Some(origin.as_str());
        if !ours {
            return Err(CROSS_SITE);
        }
    }
    Ok(())
}

/// The token a request submits: the `X-CSRF-Token` header, else the form field.
pub(crate) fn submitted<'f>(req: &'f Request, form_token: Option<&'f str>) -> Option<&'f str> {
    header(req, HEADER).or(form_token)
}

/// The double submit against `expected` (the session's token, or for the login and signup
/// forms the cookie's own): the submitted token and the cookie must both equal it.
///
/// # Errors
/// [`ApiError::Forbidden`] (403) when either is missing or differs.
pub(crate) fn check(
    req: &Request,
    form_token: Option<&str>,
    expected: &str,
) -> Result<(), ApiError> {
    let cookie = cookies::get(req, cookies::CSRF).unwrap_or("");
    let given = submitted(req, form_token).unwrap_or("");
    // Both compared, always (no early exit on the first mismatch).
    let cookie_ok = token_eq(cookie, expected);
    let given_ok = token_eq(given, expected);
    if well_formed(expected) && cookie_ok && given_ok {
        Ok(())
    } else {
        Err(WRONG_TOKEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn req(headers: &[(&str, &str)]) -> Request {
        let mut b = http::Request::builder()
            .method("POST")
            .uri("/dashboard/logout");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Bytes::new()).unwrap_or_default()
    }

    const PUBLIC: &str = "https://concierge.example.com";

    #[test]
    fn cross_site_requests_are_refused() {
        let host = ("host", "shop.example:8080");
        assert!(same_origin(&req(&[host]), PUBLIC).is_ok(), "no headers");
        assert!(same_origin(&req(&[host, ("sec-fetch-site", "same-origin")]), PUBLIC).is_ok());
        assert!(same_origin(&req(&[host, ("sec-fetch-site", "cross-site")]), PUBLIC).is_err());
        assert!(same_origin(&req(&[host, ("sec-fetch-site", "same-site")]), PUBLIC).is_err());
        assert!(same_origin(
            &req(&[host, ("origin", "http://shop.example:8080")]),
            PUBLIC
        )
        .is_ok());
        assert!(same_origin(&req(&[host, ("origin", "https://evil.example")]), PUBLIC).is_err());
        assert!(same_origin(&req(&[host, ("origin", "null")]), PUBLIC).is_err());
        assert!(
            same_origin(
                &req(&[("host", "10.0.0.5:8080"), ("origin", PUBLIC)]),
                PUBLIC
            )
            .is_ok(),
            "behind a proxy that rewrites Host"
        );
    }

    #[test]
    fn the_double_submit_needs_cookie_and_field_to_match() {
        let token = "a".repeat(43);
        let cookie = format!("__Host-concierge_csrf={token}");
        let with_cookie = req(&[("cookie", &cookie)]);
        assert!(check(&with_cookie, Some(&token), &token).is_ok());
        assert!(check(&with_cookie, None, &token).is_err(), "no field");
        assert!(check(&req(&[]), Some(&token), &token).is_err(), "no cookie");
        let other = "b".repeat(43);
        assert!(check(&with_cookie, Some(&other), &token).is_err());
        let header = req(&[("cookie", &cookie), ("x-csrf-token", &token)]);
        assert!(check(&header, None, &token).is_ok(), "htmx header");
        assert!(check(&req(&[("cookie", "__Host-concierge_csrf=")]), Some(""), "").is_err());
    }
}
