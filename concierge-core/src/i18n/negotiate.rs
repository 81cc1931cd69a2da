//! Which locale a page renders in. Pure: the caller passes what it has (the tenant's stored
//! locale, the request's `Accept-Language` and `cf-ipcountry` headers).

use super::UiLocale;

/// Reads at most this many `Accept-Language` entries: browsers send a handful, and a hostile
/// header should not cost more than a short one.
const MAX_LANGUAGES: usize = 32;

/// The locale for a request, first hit wins:
/// 1. `tenant_locale`, the locale the tenant stored, if we ship it exactly ([`UiLocale::parse`]);
/// 2. `accept_language`: the entries in order of quality (`q=0` means "not this one"; equal
///    qualities keep the header's order), the first that we support wins: an exact tag
///    (`en-US`), else by language alone (`hi`, `hi-Latn` → `hi-IN`; `en`, `en-GB` → `en-IN`
///    when `cf-ipcountry` says India or is absent, `en-US` otherwise). `*` and malformed
///    entries are skipped;
/// 3. `cf_ipcountry`, Cloudflare's two-letter country code: `IN` → `en-IN`, any other country
///    → `en-US` (`XX`, unknown, and `T1`, Tor, are no country);
/// 4. `en-IN`.
///
/// Never panics, whatever the header text.
pub fn negotiate(
    tenant_locale: Option<&str>,
    accept_language: Option<&str>,
    cf_ipcountry: Option<&str>,
) -> UiLocale {
    if let Some(locale) = tenant_locale.and_then(UiLocale::parse) {
        return locale;
    }
    let country = cf_ipcountry.and_then(country_locale);
    if let Some(locale) = accept_language.and_then(|header| from_accept_language(header, country)) {
        return locale;
    }
    country.unwrap_or(UiLocale::EnIn)
}

/// The locale a Cloudflare country code suggests, if it names a country.
fn country_locale(code: &str) -> Option<UiLocale> {
    let code = code.trim();
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    match code.to_ascii_uppercase().as_str() {
        "IN" => Some(UiLocale::EnIn),
        "XX" | "T1" => None,
        c if c.bytes().all(|b| b.is_ascii_uppercase()) => Some(UiLocale::EnUs),
        _ => None,
    }
}

/// The best supported locale in an `Accept-Language` header; `country` picks the English.
fn from_accept_language(header: &str, country: Option<UiLocale>) -> Option<UiLocale> {
    let mut ranges: Vec<(&str, u16)> = header
        .split(',')
        .take(MAX_LANGUAGES)
        .filter_map(language_range)
        .filter(|&(_, quality)| quality > 0)
        .collect();
    // Stable: equal qualities keep the header's order.
    crate::sort::by_key(&mut ranges, |&(_, quality)| std::cmp::Reverse(quality));
    ranges
        .into_iter()
        .find_map(|(tag, _)| match_tag(tag, country))
}

/// One `tag;q=0.8` entry as (tag, quality in thousandths); `None` when malformed.
fn language_range(entry: &str) -> Option<(&str, u16)> {
    let mut parts = entry.split(';');
    let tag = parts.next()?.trim();
    if tag.is_empty() || tag == "*" {
        return None;
    }
    let mut quality = 1000;
    for param in parts {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            quality = qvalue(value.trim())?;
        }
    }
    Some((tag, quality))
}

/// An RFC 9110 qvalue (`0`, `0.8`, `1.000`) in thousandths.
fn qvalue(raw: &str) -> Option<u16> {
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, digit) in fraction.bytes().enumerate() {
        thousandths += u16::from(digit - b'0') * [100, 10, 1][i];
    }
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The supported locale for one language tag: exact, else by its language subtag.
fn match_tag(tag: &str, country: Option<UiLocale>) -> Option<UiLocale> {
    if let Some(locale) = UiLocale::parse(tag) {
        return Some(locale);
    }
    let language = tag.split(['-', '_']).next()?;
    if language.eq_ignore_ascii_case("hi") {
        Some(UiLocale::HiIn)
    } else if language.eq_ignore_ascii_case("en") {
        Some(match country {
            Some(UiLocale::EnUs) => UiLocale::EnUs,
            _ => UiLocale::EnIn,
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use UiLocale::{EnIn, EnUs, HiIn};

    #[test]
    fn the_tenants_stored_locale_wins_when_we_ship_it() {
        assert_eq!(negotiate(Some("hi-IN"), Some("en-US"), Some("US")), HiIn);
        assert_eq!(negotiate(Some("en-us"), Some("hi"), Some("IN")), EnUs);
        // not shipped: the next steps decide
        assert_eq!(negotiate(Some("fr-FR"), Some("hi"), None), HiIn);
        assert_eq!(negotiate(Some("garbage"), None, Some("US")), EnUs);
    }

    #[test]
    fn accept_language_honours_quality() {
        assert_eq!(negotiate(None, Some("en-US;q=0.5, hi-IN"), None), HiIn);
        assert_eq!(negotiate(None, Some("hi-IN;q=0.4,en-US;q=0.9"), None), EnUs);
        // equal qualities keep the header's order
        assert_eq!(
            negotiate(None, Some("en-US;q=0.7, hi-IN;q=0.7"), None),
            EnUs
        );
        assert_eq!(negotiate(None, Some("hi-IN, en-US"), None), HiIn);
        // q=0 means "not this one"
        assert_eq!(negotiate(None, Some("hi-IN;q=0, en-US;q=0.1"), None), EnUs);
        assert_eq!(negotiate(None, Some("hi-IN;q=0.000"), Some("US")), EnUs);
    }

    #[test]
    fn accept_language_skips_what_we_do_not_ship() {
        assert_eq!(
            negotiate(None, Some("fr-FR, de;q=0.9, hi;q=0.8"), None),
            HiIn
        );
        assert_eq!(negotiate(None, Some("fr-FR, de;q=0.9"), Some("US")), EnUs);
        assert_eq!(negotiate(None, Some("*"), Some("IN")), EnIn);
        // a more preferred language beats a less preferred exact match
        assert_eq!(negotiate(None, Some("hi, en-US;q=0.5"), None), HiIn);
    }

    #[test]
    fn a_bare_language_finds_its_locale() {
        assert_eq!(negotiate(None, Some("hi"), Some("US")), HiIn);
        assert_eq!(negotiate(None, Some("hi-Latn"), None), HiIn);
        assert_eq!(negotiate(None, Some("HI"), None), HiIn);
        // English: the country decides between India and the US; unknown is India
        assert_eq!(negotiate(None, Some("en"), Some("IN")), EnIn);
        assert_eq!(negotiate(None, Some("en"), Some("US")), EnUs);
        assert_eq!(negotiate(None, Some("en-GB"), Some("GB")), EnUs);
        assert_eq!(negotiate(None, Some("en"), None), EnIn);
        assert_eq!(negotiate(None, Some("en"), Some("XX")), EnIn);
    }

    #[test]
    fn malformed_entries_are_skipped_not_fatal() {
        for header in [
            "hi-IN;q=2, en-US",
            "hi-IN;q=abc, en-US",
            "hi-IN;q=0.1234, en-US",
            "hi-IN;q=-1, en-US",
            "hi-IN;q=NaN, en-US",
            "hi-IN;q, en-US",
            ",,, ;;, en-US",
        ] {
            assert_eq!(negotiate(None, Some(header), None), EnUs, "{header:?}");
        }
        assert_eq!(negotiate(None, Some(""), None), EnIn);
    }

    #[test]
    fn the_country_comes_next() {
        assert_eq!(negotiate(None, None, Some("IN")), EnIn);
        assert_eq!(negotiate(None, None, Some("in")), EnIn);
        assert_eq!(negotiate(None, None, Some("US")), EnUs);
        assert_eq!(negotiate(None, None, Some("DE")), EnUs);
        assert_eq!(negotiate(None, Some("fr"), Some("DE")), EnUs);
        // unknown, Tor, or not a country code: no opinion
        for code in ["XX", "T1", "", "IND", "1", "é"] {
            assert_eq!(negotiate(None, None, Some(code)), EnIn, "{code:?}");
        }
    }

    #[test]
    fn india_in_english_is_the_last_resort() {
        assert_eq!(negotiate(None, None, None), EnIn);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_header_text(
            tenant in proptest::option::of(".{0,40}"),
            accept in proptest::option::of(".{0,200}"),
            country in proptest::option::of(".{0,4}"),
        ) {
            let locale = negotiate(tenant.as_deref(), accept.as_deref(), country.as_deref());
            proptest::prop_assert!(UiLocale::ALL.contains(&locale));
        }

        #[test]
        fn never_panics_on_header_shaped_text(
            entries in proptest::collection::vec(
                "[a-zA-Z*]{0,3}(-[a-zA-Z0-9]{0,8}){0,2}( ?; ?[qQ] ?= ?[0-9.a-z-]{0,6})?",
                0..40,
            ),
        ) {
            let header = entries.join(",");
            let _ = negotiate(None, Some(&header), Some("IN"));
        }
    }
}
