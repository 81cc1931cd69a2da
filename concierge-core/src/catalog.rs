//! The personas catalog: the curated sample businesses the operator keeps for the live demo
//! and the onboarding wizard's "pick an archetype" step.
//!
//! Each entry is a persona with the same safety review as a tenant's: saving a changed text
//! makes it a draft (*Pending*) and queues a review ([`CatalogReviewJob`]); only entries
//! approved for their current text reach the demo's picker and the wizard. The **system
//! persona** ([`SYSTEM_SLUG`], Concierge describing itself) can be edited but never deleted.
//!
//! The store starts empty; the engine seeds it with [`builtin_catalog`] (approved: the
//! project vetted them) the first time the catalog is read.

use serde::{Deserialize, Serialize};

use crate::conversation::FieldError;
use crate::engine::{demo_catalog, DemoPersona};
use crate::persona::{PersonaConfig, PersonaSource};
use crate::safety::SafetyStatus;
use crate::time::Timestamp;

/// The slug of the system persona, which cannot be deleted.
pub const SYSTEM_SLUG: &str = "concierge";
/// The longest slug, in characters.
pub const SLUG_MAX_CHARS: usize = 40;
/// The longest label, in characters.
pub const LABEL_MAX_CHARS: usize = 80;
/// The longest description, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 200;
/// The longest greeting, in characters.
pub const GREETING_MAX_CHARS: usize = 500;
/// The most entries the catalog holds.
pub const MAX_CATALOG_ENTRIES: usize = 50;

/// One persona of the catalog, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogPersona {
    /// Stable id (the picker's value): lowercase letters, digits and dashes.
    pub slug: String,
    /// Display name.
    pub label: String,
    /// One line for the picker.
    pub description: String,
    /// The assistant's first message in the demo.
    pub greeting: String,
    /// The persona and its safety review.
    pub persona: PersonaConfig,
    /// When it was last saved.
    pub updated_at: Timestamp,
    /// The store's revision (0 before the first save); writes compare it.
    #[serde(default)]
    pub revision: u64,
}

impl CatalogPersona {
    /// A new entry (revision 0) for `demo`, approved for its text at `now`: how the built-ins
    /// are seeded, and what a test stores to put a persona in the demo's picker.
    pub fn approved(demo: DemoPersona, now: Timestamp) -> CatalogPersona {
        let mut persona = PersonaConfig::new(demo.source);
        persona.safety = SafetyStatus::Approved {
            hash: persona.prompt_hash(),
            checked_at: now,
        };
        CatalogPersona {
            slug: demo.slug,
            label: demo.label,
            description: demo.description,
            greeting: demo.greeting,
            persona,
            updated_at: now,
            revision: 0,
        }
    }

    /// Whether this is the system persona (editable, never deleted).
    pub fn is_system(&self) -> bool {
        self.slug == SYSTEM_SLUG
    }

    /// Whether the demo and onboarding may offer it: approved for exactly its current text.
    pub fn is_approved(&self) -> bool {
        self.persona.cleared_for_ai()
    }

    /// The demo's view of it.
    pub fn demo(&self) -> DemoPersona {
        DemoPersona {
            slug: self.slug.clone(),
            label: self.label.clone(),
            description: self.description.clone(),
            greeting: self.greeting.clone(),
            source: self.persona.source.clone(),
        }
    }
}

/// A request to review the catalog entry `slug` whose active prompt hashes to `prompt_hash`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogReviewJob {
    /// The entry.
    pub slug: String,
    /// The hash the job was made for; the job drops itself if the entry changed since.
    pub prompt_hash: String,
}

/// What the operator typed for an entry (a new one, or an edit of `slug`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEdit {
    /// The entry's slug.
    pub slug: String,
    /// Display name.
    pub label: String,
    /// One line for the picker.
    pub description: String,
    /// The assistant's first message.
    pub greeting: String,
    /// The persona text's source.
    pub source: PersonaSource,
}

impl CatalogEdit {
    /// Every field error of the edit (empty when it is valid). The persona source is checked
    /// by its editor; here, only that it says something.
    pub fn errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Err(e) = check_slug(&self.slug) {
            errors.push(e);
        }
        let mut text = |field: &str, value: &str, required: bool, max: usize| {
            let n = value.trim().chars().count();
            if required && n == 0 {
                errors.push(FieldError::new(field, "is required"));
            } else if n > max {
                errors.push(FieldError::new(
                    field,
                    format!("must be at most {max} characters"),
                ));
            }
        };
        text("label", &self.label, true, LABEL_MAX_CHARS);
        text(
            "description",
            &self.description,
            false,
            DESCRIPTION_MAX_CHARS,
        );
        text("greeting", &self.greeting, true, GREETING_MAX_CHARS);
        if PersonaConfig::new(self.source.clone())
            .active_prompt()
            .is_empty()
        {
            errors.push(FieldError::new("persona", "must describe the business"));
        }
        errors
    }
}

/// Checks a slug: 1 to [`SLUG_MAX_CHARS`] lowercase ASCII letters, digits and dashes, not
/// starting or ending with a dash.
///
/// # Errors
/// A [`FieldError`] on `slug` saying what is wrong.
pub fn check_slug(slug: &str) -> Result<(), FieldError> {
    let ok = !slug.is_empty()
        && slug.len() <= SLUG_MAX_CHARS
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "slug",
            format!(
                "must be 1 to {SLUG_MAX_CHARS} lowercase letters, digits and dashes, \
                 not starting or ending with a dash"
            ),
        ))
    }
}

/// The catalog the store is seeded with: the built-in sample businesses
/// ([`demo_catalog`]), approved for their text at `now`.
pub fn builtin_catalog(now: Timestamp) -> Vec<CatalogPersona> {
    demo_catalog()
        .into_iter()
        .map(|p| CatalogPersona::approved(p, now))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_plain_lowercase_words() {
        for good in ["bakery", "dental-clinic", "a", "shop-24"] {
            assert!(check_slug(good).is_ok(), "{good}");
        }
        let long = "a".repeat(SLUG_MAX_CHARS + 1);
        for bad in [
            "",
            "Bakery",
            "-x",
            "x-",
            "a b",
            "café",
            "../x",
            long.as_str(),
        ] {
            assert!(check_slug(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_builtins_are_approved_and_hold_the_system_persona() {
        let catalog = builtin_catalog(Timestamp::from_millis(1));
        assert!(catalog.iter().all(CatalogPersona::is_approved));
        assert_eq!(catalog.iter().filter(|p| p.is_system()).count(), 1);
    }

    #[test]
    fn an_edit_names_every_bad_field() {
        let edit = CatalogEdit {
            slug: "Not OK".into(),
            label: " ".into(),
            description: "d".repeat(DESCRIPTION_MAX_CHARS + 1),
            greeting: String::new(),
            source: PersonaSource::Custom("  ".into()),
        };
        let fields: Vec<String> = edit.errors().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["slug", "label", "description", "greeting", "persona"]
        );
    }
}
