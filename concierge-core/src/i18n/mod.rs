//! Localization: every string a person reads on the web surface (dashboard, login, demo page)
//! goes through Fluent; numbers and money go through ICU4X. `docs/i18n.md` is the how-to.
//!
//! - [`UiLocale`]: the locales we ship strings for; `en-IN` is canonical.
//! - [`negotiate`]: which locale a request renders in (tenant → `Accept-Language` →
//!   `cf-ipcountry` → `en-IN`).
//! - [`text`] / [`text_count`]: a string by key, falling back to `en-IN`, then to the key itself
//!   (so a missed key is loud in the page).
//! - [`format_count`] / [`format_money`]: CLDR digit grouping (`1,00,000` in India, `100,000`
//!   in the US) and the ledger's milli-units as money.
//!
//! # Where strings live
//! `concierge-core/locales/{tag}/{area}.ftl`, baked in at build time (see [`bundles`]). Each
//! area has one owner: `common` (layout, navigation, generic words, errors), `auth` (login and
//! signup), `demo` (the demo page), `dashboard` (the dashboard pages). A key is unique across
//! the areas of a locale, and every locale has exactly the keys `en-IN` has: the tests check
//! both, and that every FTL file parses.
//!
//! # The convention the key scan relies on
//! A test reads the templates and the web front's sources and fails when a key they use is
//! missing from `en-IN`. It finds keys only in these literal forms, so write them this way:
//! - templates (`concierge-core/templates/**/*.html`): `t.get("key")`, `t.arg("key", …)`,
//!   `t.count("key", …)`;
//! - Rust under `concierge-core/src/front/web/`: `i18n::text(locale, "key", …)`,
//!   `i18n::text_count(locale, "key", …)`, or on a `Tr` (the templates' translator) named `t` or `tr`:
//!   `t.get("key")`, `tr.arg("key", …)`, `tr.count("key", …)`.
//!
//! The key is always a string literal as the first argument (after the locale for `i18n::`
//! calls), on the same line as the opening parenthesis. A key built at run time is invisible
//! to the scan: don't.

pub mod bundles;
mod format;
mod negotiate;

pub use format::{format_count, format_money};
pub use negotiate::negotiate;

/// A locale Concierge ships strings for. `en-IN` is canonical: every key exists there first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UiLocale {
    /// English (India): the canonical locale.
    #[default]
    EnIn,
    /// English (United States).
    EnUs,
    /// Hindi (India).
    HiIn,
}

impl UiLocale {
    /// Every shipped locale, canonical first.
    pub const ALL: [UiLocale; 3] = [UiLocale::EnIn, UiLocale::EnUs, UiLocale::HiIn];

    /// The BCP 47 tag (`en-IN`).
    pub const fn tag(self) -> &'static str {
        match self {
            UiLocale::EnIn => "en-IN",
            UiLocale::EnUs => "en-US",
            UiLocale::HiIn => "hi-IN",
        }
    }

    /// The shipped locale whose tag is `tag`, ignoring ASCII case and accepting `_` for `-`
    /// (`en-in`, `hi_IN`); `None` for anything else, including a bare language (`hi`): choosing
    /// a region for a language is [`negotiate`]'s job.
    pub fn parse(tag: &str) -> Option<UiLocale> {
        let tag = tag.trim();
        UiLocale::ALL.into_iter().find(|locale| {
            let ours = locale.tag().as_bytes();
            tag.len() == ours.len()
                && tag.bytes().zip(ours).all(|(theirs, &ours)| {
                    let theirs = if theirs == b'_' { b'-' } else { theirs };
                    theirs.eq_ignore_ascii_case(&ours)
                })
        })
    }
}

impl std::fmt::Display for UiLocale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.tag())
    }
}

/// The string `key` in `locale`, with `args` substituted (`{ $name }` in the FTL); falls back
/// to `en-IN`, then to the key itself.
pub fn text(locale: UiLocale, key: &str, args: &[(&str, &str)]) -> String {
    bundles::catalog().text(locale, key, args, None)
}

/// Like [`text`], with `$count` a number: the FTL can select a plural form on it
/// (`{ $count -> [one] … *[other] … }`) and shows it grouped as [`format_count`] does.
pub fn text_count(locale: UiLocale, key: &str, count: i64, args: &[(&str, &str)]) -> String {
    bundles::catalog().text(locale, key, args, Some(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_knows_each_shipped_tag_and_nothing_else() {
        for locale in UiLocale::ALL {
            assert_eq!(UiLocale::parse(locale.tag()), Some(locale));
            assert_eq!(UiLocale::parse(&locale.tag().to_lowercase()), Some(locale));
            assert_eq!(
                UiLocale::parse(&locale.tag().replace('-', "_")),
                Some(locale)
            );
        }
        for other in [
            "", "en", "hi", "en-GB", "fr-FR", "en-IN-x", "en-INX", "en—IN",
        ] {
            assert_eq!(UiLocale::parse(other), None, "{other:?}");
        }
    }

    #[test]
    fn the_canonical_locale_is_the_default_and_first() {
        assert_eq!(UiLocale::default(), UiLocale::EnIn);
        assert_eq!(UiLocale::ALL[0], UiLocale::EnIn);
    }

    #[test]
    fn a_page_reads_its_strings_in_its_locale() {
        assert_eq!(text(UiLocale::EnIn, "nav-logout", &[]), "Log out");
        assert_eq!(text(UiLocale::HiIn, "nav-logout", &[]), "लॉग आउट करें");
        assert_eq!(
            text(
                UiLocale::EnUs,
                "nav-signed-in-as",
                &[("email", "asha@example.in")]
            ),
            "Signed in as asha@example.in"
        );
        assert_eq!(
            text(
                UiLocale::HiIn,
                "nav-signed-in-as",
                &[("email", "asha@example.in")]
            ),
            "asha@example.in के रूप में साइन इन"
        );
    }

    #[test]
    fn an_unknown_key_shows_itself() {
        for locale in UiLocale::ALL {
            assert_eq!(text(locale, "no-such-key", &[]), "no-such-key");
        }
    }

    #[test]
    fn counts_pick_a_plural_form_and_are_grouped() {
        assert_eq!(
            text_count(UiLocale::EnIn, "common-minutes-ago", 1, &[]),
            "1 minute ago"
        );
        assert_eq!(
            text_count(UiLocale::EnIn, "common-minutes-ago", 100_000, &[]),
            "1,00,000 minutes ago"
        );
        assert_eq!(
            text_count(UiLocale::EnUs, "common-minutes-ago", 100_000, &[]),
            "100,000 minutes ago"
        );
        assert_eq!(
            text_count(UiLocale::HiIn, "common-minutes-ago", 5, &[]),
            "5 मिनट पहले"
        );
    }
}
