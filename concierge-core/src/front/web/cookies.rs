//! The dashboard's cookies: reading them from a request and the `Set-Cookie` values.
//!
//! - [`SESSION`]: the session id, `HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=604800`.
//! - [`CSRF`]: the CSRF token (the session's, or a pre-session one on the login and signup
//!   forms), the same flags but readable by the page (no `HttpOnly`): the double submit.
//!
//! Both carry the `__Host-` prefix: browsers accept them only with `Secure`, `Path=/` and no
//! `Domain`, so a sibling subdomain cannot plant or overwrite them. Browsers treat
//! `http://localhost` and `http://127.0.0.1` as secure, so local runs work; any other host
//! needs HTTPS.

use http::header::{HeaderValue, COOKIE, SET_COOKIE};

use super::super::reply::{Request, Response};
use crate::front::WEB_SESSION_TTL;

/// The session cookie's name.
pub(crate) const SESSION: &str = "__Host-concierge_session";
/// The CSRF cookie's name.
pub(crate) const CSRF: &str = "__Host-concierge_csrf";

/// The value of cookie `name` in the request's `Cookie` headers (the first one).
pub(crate) fn get<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

fn set(response: &mut Response, value: String) {
    // Our values are base64url tokens: always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

/// Sets the session cookie to `id` (for [`WEB_SESSION_TTL`]).
pub(crate) fn set_session(response: &mut Response, id: &str) {
    set(
        response,
        format!(
            "{SESSION}={id}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age={}",
            WEB_SESSION_TTL.as_millis() / 1000
        ),
    );
}

/// Sets the CSRF cookie to `token` (readable by the page; for [`WEB_SESSION_TTL`]).
pub(crate) fn set_csrf(response: &mut Response, token: &str) {
    set(
        response,
        format!(
            "{CSRF}={token}; Secure; SameSite=Lax; Path=/; Max-Age={}",
            WEB_SESSION_TTL.as_millis() / 1000
        ),
    );
}

/// Expires both cookies (logout).
pub(crate) fn clear(response: &mut Response) {
    for name in [SESSION, CSRF] {
        let http_only = if name == SESSION { " HttpOnly;" } else { "" };
        set(
            response,
            format!("{name}=;{http_only} Secure; SameSite=Lax; Path=/; Max-Age=0"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn cookies_are_read_by_name_and_set_with_their_flags() {
        let req = http::Request::builder()
            .header(COOKIE, "a=1; __Host-concierge_session=abc")
            .header(COOKIE, "__Host-concierge_csrf=\"tok\"")
            .body(Bytes::new())
            .unwrap_or_default();
        assert_eq!(get(&req, SESSION), Some("abc"));
        assert_eq!(get(&req, CSRF), Some("tok"));
        assert_eq!(get(&req, "b"), None);

        let mut response = Response::default();
        set_session(&mut response, "abc");
        set_csrf(&mut response, "tok");
        let cookies: Vec<_> = response.headers().get_all(SET_COOKIE).iter().collect();
        assert_eq!(
            cookies[0],
            "__Host-concierge_session=abc; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=604800"
        );
        assert_eq!(
            cookies[1],
            "__Host-concierge_csrf=tok; Secure; SameSite=Lax; Path=/; Max-Age=604800"
        );
    }
}
