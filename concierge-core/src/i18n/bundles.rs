//! The FTL files, baked in, and the parsed Fluent bundles (one per locale, all areas together).
//!
//! [`BUNDLES`] is the one list of files: to add an area or a locale, add its lines there (and
//! the files under `concierge-core/locales/`). The bundles are parsed once, on first use.
//! A file that does not parse, or a key defined twice, is recorded in [`Catalog::errors`] (the
//! tests fail on any) and logged; the rest of the file still loads.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::types::FluentNumberOptions;
use fluent_bundle::{FluentArgs, FluentError, FluentResource, FluentValue};
use fluent_syntax::ast;
use unic_langid::LanguageIdentifier;

use super::{format_count, UiLocale};

/// The areas every locale has a file for, one owner each: `common` (layout, navigation,
/// generic words, errors), `auth` (login and signup), `demo` (the demo page), `dashboard` (the
/// dashboard pages).
pub const AREAS: [&str; 4] = ["common", "auth", "demo", "dashboard"];

/// One FTL file: `ftl!("hi-IN", "common")` is `locales/hi-IN/common.ftl`, baked in. An
/// unknown tag fails the build.
macro_rules! ftl {
    ($tag:literal, $area:literal) => {
        (
            locale_of($tag),
            $area,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/locales/",
                $tag,
                "/",
                $area,
                ".ftl"
            )),
        )
    };
}

/// Every FTL file baked into the binary: (locale, area, source).
pub const BUNDLES: &[(UiLocale, &str, &str)] = &[
    ftl!("en-IN", "common"),
    ftl!("en-IN", "auth"),
    ftl!("en-IN", "demo"),
    ftl!("en-IN", "dashboard"),
    ftl!("en-US", "common"),
    ftl!("en-US", "auth"),
    ftl!("en-US", "demo"),
    ftl!("en-US", "dashboard"),
    ftl!("hi-IN", "common"),
    ftl!("hi-IN", "auth"),
    ftl!("hi-IN", "demo"),
    ftl!("hi-IN", "dashboard"),
];

/// The locale of a tag in [`BUNDLES`], at compile time (an unknown tag is a build error).
const fn locale_of(tag: &str) -> UiLocale {
    let mut i = 0;
    while i < UiLocale::ALL.len() {
        let ours = UiLocale::ALL[i].tag().as_bytes();
        let theirs = tag.as_bytes();
        if ours.len() == theirs.len() {
            let mut j = 0;
            while j < ours.len() && ours[j] == theirs[j] {
                j += 1;
            }
            if j == ours.len() {
                return UiLocale::ALL[i];
            }
        }
        i += 1;
    }
    panic!("BUNDLES names a tag that is not a UiLocale")
}

/// What is wrong with an FTL file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The file does not parse; the entries that do parse still load.
    #[error("{locale}/{area}.ftl does not parse: {details}")]
    Syntax {
        /// The file's locale.
        locale: UiLocale,
        /// The file's area.
        area: &'static str,
        /// The parser's complaints, with line numbers.
        details: String,
    },
    /// A key defined again (in the same file or another area of the locale); the first wins.
    #[error("{locale}/{area}.ftl defines `{key}`, which an earlier file of {locale} already does")]
    Duplicate {
        /// The file's locale.
        locale: UiLocale,
        /// The file with the second definition.
        area: &'static str,
        /// The key.
        key: String,
    },
}

/// The parsed bundles: one Fluent bundle per locale holding all of its areas.
pub struct Catalog {
    bundles: Vec<(UiLocale, FluentBundle<FluentResource>)>,
    keys: Vec<(UiLocale, &'static str, String)>,
    errors: Vec<BundleError>,
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog")
            .field(
                "locales",
                &self.bundles.iter().map(|b| b.0).collect::<Vec<_>>(),
            )
            .field("keys", &self.keys.len())
            .field("errors", &self.errors)
            .finish()
    }
}

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    let catalog = Catalog::build(BUNDLES);
    for error in catalog.errors() {
        tracing::error!(%error, "i18n: broken FTL file");
    }
    catalog
});

/// The catalog of [`BUNDLES`], parsed on first use.
pub fn catalog() -> &'static Catalog {
    &CATALOG
}

impl Catalog {
    /// Parses `files` ((locale, area, source), as [`BUNDLES`]) into one bundle per locale.
    /// Never fails: what is wrong is in [`Catalog::errors`].
    pub fn build(files: &[(UiLocale, &'static str, &'static str)]) -> Catalog {
        let mut catalog = Catalog {
            bundles: Vec::new(),
            keys: Vec::new(),
            errors: Vec::new(),
        };
        for &(locale, area, source) in files {
            let resource = match FluentResource::try_new(source.to_owned()) {
                Ok(resource) => resource,
                Err((resource, errors)) => {
                    let details = errors
                        .iter()
                        .map(|e| format!("line {}: {e}", line_of(source, e.pos.start)))
                        .collect::<Vec<_>>()
                        .join("; ");
                    catalog.errors.push(BundleError::Syntax {
                        locale,
                        area,
                        details,
                    });
                    resource
                }
            };
            for entry in resource.entries() {
                let key = match entry {
                    ast::Entry::Message(m) => m.id.name.to_owned(),
                    ast::Entry::Term(t) => format!("-{}", t.id.name),
                    _ => continue,
                };
                catalog.keys.push((locale, area, key));
            }
            if let Err(errors) = catalog.bundle_mut(locale).add_resource(resource) {
                for error in errors {
                    if let FluentError::Overriding { id, .. } = error {
                        catalog.errors.push(BundleError::Duplicate {
                            locale,
                            area,
                            key: id,
                        });
                    }
                }
            }
        }
        catalog
    }

    /// What is wrong with the files (empty when all is well).
    pub fn errors(&self) -> &[BundleError] {
        &self.errors
    }

    /// The keys `locale` defines, across its areas (terms with their leading `-`).
    pub fn keys(&self, locale: UiLocale) -> BTreeSet<&str> {
        self.keys
            .iter()
            .filter(|k| k.0 == locale)
            .map(|k| k.2.as_str())
            .collect()
    }

    /// The area file that defines `key` in `locale`, if one does.
    pub fn area_of(&self, locale: UiLocale, key: &str) -> Option<&'static str> {
        self.keys
            .iter()
            .find(|k| k.0 == locale && k.2 == key)
            .map(|k| k.1)
    }

    /// `key` in `locale`, else in `en-IN`, else the key itself; `count` becomes `$count`.
    pub(super) fn text(
        &self,
        locale: UiLocale,
        key: &str,
        args: &[(&str, &str)],
        count: Option<i64>,
    ) -> String {
        self.format(locale, key, args, count)
            .or_else(|| self.format(UiLocale::EnIn, key, args, count))
            .unwrap_or_else(|| key.to_owned())
    }

    /// `key` in exactly `locale`, if it has it.
    fn format(
        &self,
        locale: UiLocale,
        key: &str,
        args: &[(&str, &str)],
        count: Option<i64>,
    ) -> Option<String> {
        let bundle = &self.bundles.iter().find(|b| b.0 == locale)?.1;
        let pattern = bundle.get_message(key)?.value()?;
        let mut fluent_args = FluentArgs::with_capacity(args.len() + 1);
        for &(name, value) in args {
            fluent_args.set(name, value);
        }
        if let Some(count) = count {
            fluent_args.set("count", count);
        }
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
        if !errors.is_empty() {
            // A missing argument: Fluent shows `{$name}` in its place, which a test sees.
            tracing::warn!(locale = %locale, key, ?errors, "i18n: formatting a message");
        }
        Some(text.into_owned())
    }

    fn bundle_mut(&mut self, locale: UiLocale) -> &mut FluentBundle<FluentResource> {
        let index = match self.bundles.iter().position(|b| b.0 == locale) {
            Some(index) => index,
            None => {
                self.bundles.push((locale, new_bundle(locale)));
                self.bundles.len() - 1
            }
        };
        &mut self.bundles[index].1
    }
}

/// An empty bundle for `locale`: no isolation marks (the text goes into HTML and tests compare
/// it), plain numbers grouped as [`format_count`] groups them.
fn new_bundle(locale: UiLocale) -> FluentBundle<FluentResource> {
    let langid: LanguageIdentifier = locale.tag().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![langid]);
    bundle.set_use_isolating(false);
    // The formatter is a plain `fn`, so one per locale.
    match locale {
        UiLocale::EnIn => bundle.set_formatter(Some(|v, _| grouped(UiLocale::EnIn, v))),
        UiLocale::EnUs => bundle.set_formatter(Some(|v, _| grouped(UiLocale::EnUs, v))),
        UiLocale::HiIn => bundle.set_formatter(Some(|v, _| grouped(UiLocale::HiIn, v))),
    }
    bundle
}

/// A whole number without options, grouped for `locale`; anything else is Fluent's to show.
fn grouped(locale: UiLocale, value: &FluentValue<'_>) -> Option<String> {
    match value {
        FluentValue::Number(n)
            if n.options == FluentNumberOptions::default()
                && n.value.fract() == 0.0
                && n.value.abs() < 9_007_199_254_740_992.0 =>
        {
            // Exact: a whole f64 below 2^53 fits an i64.
            #[allow(clippy::cast_possible_truncation)]
            Some(format_count(locale, n.value as i64))
        }
        _ => None,
    }
}

/// The 1-based line of byte `offset` in `source`.
fn line_of(source: &str, offset: usize) -> usize {
    let end = source.len().min(offset);
    source.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests;
