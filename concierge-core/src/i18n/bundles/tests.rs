//! The catalog's own checks: every file parses, keys are unique and the same in every locale,
//! and every key the web surface uses exists in `en-IN`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::*;

#[test]
fn every_ftl_file_parses_and_no_key_is_defined_twice() {
    let errors: Vec<String> = catalog().errors().iter().map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "broken FTL files:\n{}",
        errors.join("\n")
    );
}

#[test]
fn every_locale_has_every_area_once() {
    for locale in UiLocale::ALL {
        let areas: Vec<&str> = BUNDLES
            .iter()
            .filter(|b| b.0 == locale)
            .map(|b| b.1)
            .collect();
        assert_eq!(areas, AREAS, "{locale}");
    }
    assert_eq!(BUNDLES.len(), UiLocale::ALL.len() * AREAS.len());
}

#[test]
fn every_locale_has_exactly_the_keys_of_en_in() {
    let canonical = catalog().keys(UiLocale::EnIn);
    assert!(canonical.contains("nav-overview"));
    let mut problems = Vec::new();
    for locale in UiLocale::ALL {
        let keys = catalog().keys(locale);
        for missing in canonical.difference(&keys) {
            problems.push(format!("{locale} lacks `{missing}`"));
        }
        for extra in keys.difference(&canonical) {
            problems.push(format!("{locale} has `{extra}`, which en-IN lacks"));
        }
        // and in the same area file, so each area's owner sees all of theirs
        for key in keys.intersection(&canonical) {
            let (ours, theirs) = (
                catalog().area_of(UiLocale::EnIn, key),
                catalog().area_of(locale, key),
            );
            if ours != theirs {
                problems.push(format!(
                    "{locale} has `{key}` in {theirs:?}, en-IN in {ours:?}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_broken_file_is_an_error_not_silence() {
    let catalog = Catalog::build(&[(
        UiLocale::EnIn,
        "common",
        "good = Fine\nbroken = { $\nafter = Still here\n",
    )]);
    assert!(
        matches!(catalog.errors(), [BundleError::Syntax { area: "common", details, .. }] if details.contains("line 2")),
        "{:?}",
        catalog.errors()
    );
    // the rest of the file still loads
    assert_eq!(catalog.text(UiLocale::EnIn, "good", &[], None), "Fine");
    assert_eq!(
        catalog.text(UiLocale::EnIn, "after", &[], None),
        "Still here"
    );
}

#[test]
fn a_key_in_two_areas_is_an_error() {
    let catalog = Catalog::build(&[
        (UiLocale::EnIn, "common", "save = Save\n"),
        (UiLocale::EnIn, "dashboard", "save = Keep\n"),
    ]);
    assert_eq!(
        catalog.errors(),
        [BundleError::Duplicate {
            locale: UiLocale::EnIn,
            area: "dashboard",
            key: "save".into()
        }]
    );
    assert_eq!(catalog.text(UiLocale::EnIn, "save", &[], None), "Save");
}

#[test]
fn a_key_missing_in_a_locale_falls_back_to_en_in_then_to_itself() {
    let catalog = Catalog::build(&[
        (
            UiLocale::EnIn,
            "common",
            "hello = Hello, { $name }\nonly-here = Only\n",
        ),
        (UiLocale::HiIn, "common", "hello = नमस्ते, { $name }\n"),
    ]);
    let hi = |key| catalog.text(UiLocale::HiIn, key, &[("name", "Asha")], None);
    assert_eq!(hi("hello"), "नमस्ते, Asha");
    assert_eq!(hi("only-here"), "Only");
    assert_eq!(hi("nowhere"), "nowhere");
    // en-US has no bundle at all here: en-IN answers
    assert_eq!(
        catalog.text(UiLocale::EnUs, "hello", &[("name", "Asha")], None),
        "Hello, Asha"
    );
}

#[test]
fn arguments_are_not_wrapped_in_isolation_marks() {
    let shown = crate::i18n::text(UiLocale::EnIn, "nav-signed-in-as", &[("email", "a@b.in")]);
    assert_eq!(shown, "Signed in as a@b.in");
    assert!(!shown.contains(['\u{2068}', '\u{2069}']));
}

// ---- every key the web surface uses exists -------------------------------------------------

/// How a key appears in a template or in the web front's Rust (the module docs of `i18n`
/// promise these forms): the text before the key's opening quote.
const CALLS: &[&str] = &[
    "t.get(",
    "t.arg(",
    "t.count(",
    "tr.get(",
    "tr.arg(",
    "tr.count(",
];
/// Calls whose key is the second argument (after the locale).
const LOCALE_CALLS: &[&str] = &["i18n::text(", "i18n::text_count("];

/// The string literal at the start of `rest` (after spaces), if there is one.
fn literal(rest: &str) -> Option<&str> {
    let rest = rest.trim_start().strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(&rest[..end])
}

/// The keys `source` uses, per the conventions above.
fn used_keys(source: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for call in CALLS {
        for (at, _) in source.match_indices(call) {
            // `t.get(` must not be the tail of `at.get(` and the like
            let before = source[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(key) = literal(&source[at + call.len()..]) {
                keys.insert(key.to_owned());
            }
        }
    }
    for call in LOCALE_CALLS {
        for (at, _) in source.match_indices(call) {
            let rest = &source[at + call.len()..];
            let Some(comma) = rest.find([',', ')']) else {
                continue;
            };
            if let Some(key) = literal(&rest[comma + 1..]) {
                keys.insert(key.to_owned());
            }
        }
    }
    keys
}

fn files_under(dir: &Path, extension: &str, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files_under(&path, extension, found);
        } else if path.extension().is_some_and(|e| e == extension) {
            found.push(path);
        }
    }
}

#[test]
fn the_scan_reads_the_forms_the_docs_promise() {
    let source = r#"
        {{ t.get("a-key") }} {{ t.arg("b-key", "email", viewer.email) }}
        tr.get("c-key"); t.count("d-key", n); at.get("not-a-key"); t.get(dynamic);
        i18n::text(viewer.locale, "e-key", &[]); i18n::text_count(UiLocale::EnIn, "f-key", 3, &[]);
        i18n::text(self.0, key, &[])
    "#;
    let keys: Vec<String> = used_keys(source).into_iter().collect();
    assert_eq!(keys, ["a-key", "b-key", "c-key", "d-key", "e-key", "f-key"]);
}

#[test]
fn every_key_the_templates_and_pages_use_exists_in_en_in() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    files_under(&root.join("templates"), "html", &mut files);
    files_under(&root.join("src/front/web"), "rs", &mut files);
    let canonical = catalog().keys(UiLocale::EnIn);
    let mut used = BTreeSet::new();
    let mut missing = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("a readable source file");
        for key in used_keys(&source) {
            if !canonical.contains(key.as_str()) {
                missing.push(format!("{}: `{key}`", file.display()));
            }
            used.insert(key);
        }
    }
    // the scan must see the layout's keys, or it is not scanning anything
    assert!(used.contains("nav-signed-in-as"), "scanned {files:?}");
    assert!(
        missing.is_empty(),
        "keys used but not in locales/en-IN/*.ftl:\n{}",
        missing.join("\n")
    );
}
