//! Localization: every string a person reads, through Fluent; numbers and money through ICU4X.
//!
//! STUB INTERFACE (the i18n work fills it in, keeping these signatures).

/// A locale Concierge ships strings for. `en-IN` is canonical: every key exists there first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UiLocale {
    /// English (India): the canonical locale.
    #[default]
    EnIn,
    /// English (United States).
    EnUs,
}

impl UiLocale {
    /// The BCP 47 tag (`en-IN`).
    pub fn tag(self) -> &'static str {
        match self {
            UiLocale::EnIn => "en-IN",
            UiLocale::EnUs => "en-US",
        }
    }
}

/// The string `key` in `locale`, with `args` substituted; falls back to `en-IN`, then to the
/// key itself.
pub fn text(_locale: UiLocale, key: &str, _args: &[(&str, &str)]) -> String {
    key.to_owned()
}
