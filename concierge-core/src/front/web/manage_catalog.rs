//! `/manage/personas`: the personas catalog ([`crate::catalog`]) on the operator panel.
//!
//! - `GET /manage/personas`: every entry with its review status and whether the demo and
//!   onboarding offer it (only approved ones).
//! - `GET /manage/personas/new`, `POST /manage/personas`: a new entry (a draft, reviewed).
//! - `GET /manage/personas/{slug}`, `POST /manage/personas/{slug}`: edit; a changed text goes
//!   back to draft and queues a review; **View prompt** shows the exact envelope.
//! - `POST /manage/personas/{slug}/review` (`action=approve|reject`): the operator's decision
//!   on the current text, instead of the model's.
//! - `POST /manage/personas/{slug}/delete`: never the system persona.
//!
//! A bad form re-renders with every field error (422) and saves nothing. Every change is
//! audited (`catalog.save`, `catalog.approve`, `catalog.reject`, `catalog.delete`). The
//! caller ([`Front::manage`]) has admitted the operator and checked CSRF on every POST.

use askama::Template;
use http::Method;

use super::super::reply::{Request, Response};
use super::super::{retry_conflicts, ApiError, Front};
use super::form::{Errors, Form};
use super::manage::Admitted;
use super::pages::persona::{source_from, Editor, PersonaFields, Review};
use super::render::{page, redirect_to, Tr};
use crate::audit::AuditAction;
use crate::catalog::{check_slug, CatalogEdit, CatalogPersona};
use crate::conversation::FieldError;
use crate::engine::EngineError;
use crate::persona::PersonaSource;

/// One entry of the list.
#[derive(Debug)]
struct Row {
    slug: String,
    label: String,
    description: String,
    review: Review,
    system: bool,
}

#[derive(Template)]
#[template(path = "web/manage/personas.html")]
struct ListPage {
    t: Tr,
    csrf: String,
    nav: &'static str,
    rows: Vec<Row>,
    notice: String,
}

#[derive(Template)]
#[template(path = "web/manage/persona.html")]
struct EntryPage {
    t: Tr,
    csrf: String,
    nav: &'static str,
    creating: bool,
    slug: String,
    label: String,
    description: String,
    greeting: String,
    /// The stored entry's status (none while creating).
    review: Option<Review>,
    system: bool,
    /// The persona editor's fieldsets ([`PersonaFields`]).
    fields: String,
    errors: Errors,
    notice: String,
    /// The exact system prompt the model receives for the stored text.
    prompt: String,
}

impl EntryPage {
    /// The entry's own text fields in page order: name, value, multi-line.
    fn entry_fields(&self) -> Vec<(&'static str, &str, bool)> {
        vec![
            ("label", &self.label, false),
            ("description", &self.description, false),
            ("greeting", &self.greeting, true),
        ]
    }
}

/// What the form holds: the values to show again, and the edit they make (or every field
/// error: the entry's own fields are checked even when the persona editor's are wrong, so one
/// submit shows them all).
fn typed(form: &Form, t: Tr) -> (Shown, Result<CatalogEdit, Vec<FieldError>>) {
    let raw = |name: &str| form.raw(name).unwrap_or("").to_owned();
    let shown = Shown {
        slug: form.text("slug"),
        label: raw("label"),
        description: raw("description"),
        greeting: raw("greeting"),
        editor: Editor::typed(form),
    };
    let (source, mut errors) = match source_from(form, t) {
        Ok(source) => (source, Vec::new()),
        Err(errors) => (PersonaSource::Custom("-".into()), errors),
    };
    let edit = CatalogEdit {
        slug: shown.slug.clone(),
        label: shown.label.clone(),
        description: shown.description.clone(),
        greeting: shown.greeting.clone(),
        source,
    };
    errors.extend(edit.errors());
    (
        shown,
        if errors.is_empty() {
            Ok(edit)
        } else {
            Err(errors)
        },
    )
}

fn notice(req: &Request, t: Tr) -> String {
    let query = Form::from_bytes(req.uri().query().unwrap_or("").as_bytes());
    match query.text("done").as_str() {
        "saved" => t.get("manage-personas-done-saved"),
        "queued" => t.get("manage-personas-done-queued"),
        "approved" => t.get("manage-personas-done-approved"),
        "rejected" => t.get("manage-personas-done-rejected"),
        "deleted" => t.get("manage-personas-done-deleted"),
        _ => String::new(),
    }
}

impl Front<'_> {
    /// Routes `/manage/personas/{rest}` for an admitted operator.
    pub(super) async fn operator_catalog(
        &self,
        req: &Request,
        rest: &[&str],
        t: Tr,
        who: &Admitted,
    ) -> Result<Response, ApiError> {
        let method = req.method();
        let csrf = who.csrf.as_str();
        match rest {
            [] => match *method {
                Method::GET => self.catalog_list(req, t, csrf).await,
                Method::POST => self.catalog_save(req, t, who, None).await,
                _ => Err(ApiError::MethodNotAllowed("GET, POST")),
            },
            ["new"] => match *method {
                Method::GET => {
                    self.entry_page(t, csrf, None, Shown::empty(), Vec::new(), String::new())
                }
                _ => Err(ApiError::MethodNotAllowed("GET")),
            },
            [slug] => match *method {
                Method::GET => {
                    let entry = self.catalog_entry(slug).await?;
                    let shown = Shown::of(&entry);
                    self.entry_page(t, csrf, Some(&entry), shown, Vec::new(), notice(req, t))
                }
                Method::POST => self.catalog_save(req, t, who, Some(slug)).await,
                _ => Err(ApiError::MethodNotAllowed("GET, POST")),
            },
            [slug, "review"] => match *method {
                Method::POST => self.catalog_review(req, slug, &who.actor).await,
                _ => Err(ApiError::MethodNotAllowed("POST")),
            },
            [slug, "delete"] => match *method {
                Method::POST => {
                    self.engine.delete_catalog_persona(slug).await?;
                    self.record(&who.actor, AuditAction::CatalogDelete, None, slug)
                        .await?;
                    Ok(redirect_to("/manage/personas?done=deleted".to_owned()))
                }
                _ => Err(ApiError::MethodNotAllowed("POST")),
            },
            _ => Err(ApiError::NotFound("page".into())),
        }
    }

    async fn catalog_list(&self, req: &Request, t: Tr, csrf: &str) -> Result<Response, ApiError> {
        let rows = self
            .engine
            .persona_catalog()
            .await?
            .into_iter()
            .map(|p| Row {
                review: Review::of(&p.persona),
                system: p.is_system(),
                slug: p.slug,
                label: p.label,
                description: p.description,
            })
            .collect();
        page(
            200,
            &ListPage {
                t,
                csrf: csrf.to_owned(),
                nav: "personas",
                rows,
                notice: notice(req, t),
            },
        )
    }

    /// The stored entry `slug`, or a 404 (a malformed slug names no entry either).
    async fn catalog_entry(&self, slug: &str) -> Result<CatalogPersona, ApiError> {
        let missing = || ApiError::NotFound(format!("catalog persona {slug}"));
        check_slug(slug).map_err(|_| missing())?;
        self.engine
            .persona_catalog()
            .await?
            .into_iter()
            .find(|p| p.slug == slug)
            .ok_or_else(missing)
    }

    fn entry_page(
        &self,
        t: Tr,
        csrf: &str,
        stored: Option<&CatalogPersona>,
        shown: Shown,
        errors: Vec<FieldError>,
        notice: String,
    ) -> Result<Response, ApiError> {
        let status = if errors.is_empty() { 200 } else { 422 };
        let errors = Errors::new(errors);
        page(
            status,
            &EntryPage {
                t,
                csrf: csrf.to_owned(),
                nav: "personas",
                creating: stored.is_none(),
                slug: shown.slug,
                label: shown.label,
                description: shown.description,
                greeting: shown.greeting,
                review: stored.map(|p| Review::of(&p.persona)),
                system: stored.is_some_and(CatalogPersona::is_system),
                fields: PersonaFields::html(t, &shown.editor, &errors)?,
                errors,
                notice,
                prompt: stored
                    .map(|p| {
                        p.demo()
                            .envelope_for(self.engine.config().compact_envelope())
                    })
                    .unwrap_or_default(),
            },
        )
    }

    /// `POST /manage/personas` (create) or `/manage/personas/{slug}` (edit).
    async fn catalog_save(
        &self,
        req: &Request,
        t: Tr,
        who: &Admitted,
        editing: Option<&str>,
    ) -> Result<Response, ApiError> {
        let csrf = who.csrf.as_str();
        let stored = match editing {
            Some(slug) => Some(self.catalog_entry(slug).await?),
            None => None,
        };
        let form = Form::parse(req);
        let (mut shown, mut edit) = typed(&form, t);
        if let Some(stored) = &stored {
            // The URL names the entry; a slug in the form cannot rename it.
            shown.slug.clone_from(&stored.slug);
            if let Ok(edit) = &mut edit {
                edit.slug.clone_from(&stored.slug);
            }
        }
        let edit = match edit {
            Ok(edit) => edit,
            Err(errors) => {
                return self.entry_page(t, csrf, stored.as_ref(), shown, errors, String::new());
            }
        };
        let create = stored.is_none();
        match retry_conflicts(|| self.engine.save_catalog_persona(edit.clone(), create)).await {
            Ok(outcome) => {
                if outcome.review_queued {
                    self.host.work_queued().await;
                }
                let detail = if outcome.review_queued {
                    format!("{}: text changed, review queued", outcome.entry.slug)
                } else {
                    outcome.entry.slug.clone()
                };
                self.record(&who.actor, AuditAction::CatalogSave, None, &detail)
                    .await?;
                let done = if outcome.review_queued {
                    "queued"
                } else {
                    "saved"
                };
                Ok(redirect_to(format!(
                    "/manage/personas/{}?done={done}",
                    outcome.entry.slug
                )))
            }
            Err(EngineError::Invalid(errors)) => {
                self.entry_page(t, csrf, stored.as_ref(), shown, errors, String::new())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `POST /manage/personas/{slug}/review`.
    async fn catalog_review(
        &self,
        req: &Request,
        slug: &str,
        who: &str,
    ) -> Result<Response, ApiError> {
        let entry = self.catalog_entry(slug).await?;
        let form = Form::parse(req);
        let (approve, action, done) = match form.text("action").as_str() {
            "approve" => (true, AuditAction::CatalogApprove, "approved"),
            "reject" => (false, AuditAction::CatalogReject, "rejected"),
            _ => return Err(ApiError::field("action", "must be approve or reject")),
        };
        retry_conflicts(|| {
            self.engine
                .review_catalog_persona_as_operator(&entry.slug, approve)
        })
        .await?;
        self.record(who, action, None, &entry.slug).await?;
        Ok(redirect_to(format!(
            "/manage/personas/{}?done={done}",
            entry.slug
        )))
    }
}

/// The values an entry page shows in its form.
struct Shown {
    slug: String,
    label: String,
    description: String,
    greeting: String,
    editor: Editor,
}

impl Shown {
    /// An empty form (a new entry).
    fn empty() -> Shown {
        Shown {
            slug: String::new(),
            label: String::new(),
            description: String::new(),
            greeting: String::new(),
            editor: Editor::of(&PersonaSource::Custom(String::new())),
        }
    }

    /// The stored entry's values.
    fn of(entry: &CatalogPersona) -> Shown {
        Shown {
            slug: entry.slug.clone(),
            label: entry.label.clone(),
            description: entry.description.clone(),
            greeting: entry.greeting.clone(),
            editor: Editor::of(&entry.persona.source),
        }
    }
}
