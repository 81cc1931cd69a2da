//! `/dashboard/welcome`: the onboarding wizard (`onboarding:{tenant}` in the seed), one step
//! at a time: business details → persona (a curated archetype, or the builder / custom text on
//! the persona page) → channels → conversation timing. Each step saves its own part and moves
//! the wizard on; *Skip* moves on without saving. The step lives on the tenant, so the wizard
//! resumes where the owner left it, on any device.

use askama::Template;

use crate::conversation::FieldError;
use crate::front::reply::{Request, Response};
use crate::front::{retry_conflicts, ApiError, Front};
use crate::ids::{Currency, Locale};
use crate::persona::PersonaSource;
use crate::tenant::{OnboardingStep, Tenant};

use super::super::form::{Errors, Form};
use super::super::render::{page, redirect, Tr};
use super::super::Viewer;

/// An archetype the persona step offers: the demo catalog's approved personas.
#[derive(Debug)]
struct Archetype {
    slug: String,
    label: String,
    description: String,
}

#[derive(Template)]
#[template(path = "web/welcome.html")]
struct Welcome<'a> {
    t: Tr,
    viewer: &'a Viewer,
    nav: &'static str,
    step: &'static str,
    steps: Vec<(&'static str, bool)>,
    name: String,
    locale: String,
    currency: String,
    currencies: Vec<String>,
    locales: Vec<&'static str>,
    archetypes: Vec<Archetype>,
    errors: Errors,
}

const LOCALES: [&str; 3] = ["en-IN", "en-US", "hi-IN"];

async fn render(
    front: &Front<'_>,
    viewer: &Viewer,
    tenant: &Tenant,
    step: OnboardingStep,
    form: Option<&Form>,
    errors: Vec<FieldError>,
) -> Result<Response, ApiError> {
    let typed = |name: &str, stored: String| form.map_or(stored, |f| f.text(name));
    let at = OnboardingStep::ALL
        .iter()
        .position(|s| *s == step)
        .unwrap_or(0);
    page(
        if errors.is_empty() { 200 } else { 422 },
        &Welcome {
            t: Tr(viewer.locale),
            viewer,
            nav: "welcome",
            step: step.as_str(),
            steps: OnboardingStep::ALL
                .iter()
                .enumerate()
                .map(|(i, s)| (s.as_str(), i <= at))
                .collect(),
            name: typed("name", tenant.name.clone()),
            locale: typed("locale", tenant.locale.as_str().to_owned()),
            currency: typed("currency", tenant.currency.as_str().to_owned()),
            currencies: front
                .engine
                .pricing()
                .await?
                .per_ai_reply
                .keys()
                .map(|c| c.as_str().to_owned())
                .collect(),
            locales: LOCALES.to_vec(),
            archetypes: front
                .engine
                .approved_personas()
                .await?
                .iter()
                .map(|p| Archetype {
                    slug: p.slug.clone(),
                    label: p.label.clone(),
                    description: p.description.clone(),
                })
                .collect(),
            errors: Errors::new(errors),
        },
    )
}

/// `GET /dashboard/welcome`: the current step, or the overview once finished.
pub(super) async fn show(front: &Front<'_>, viewer: &Viewer) -> Result<Response, ApiError> {
    let tenant = front.tenant(&viewer.tenant).await?;
    match tenant.onboarding {
        Some(step) => render(front, viewer, &tenant, step, None, Vec::new()).await,
        None => Ok(redirect("/dashboard")),
    }
}

/// `POST /dashboard/welcome`: saves the current step (`action=next`) or skips it
/// (`action=skip`), then shows the next one.
pub(super) async fn submit(
    front: &Front<'_>,
    viewer: &Viewer,
    req: &Request,
) -> Result<Response, ApiError> {
    let t = Tr(viewer.locale);
    let tenant = front.tenant(&viewer.tenant).await?;
    let Some(step) = tenant.onboarding else {
        return Ok(redirect("/dashboard"));
    };
    let form = Form::parse(req);
    // A form from another tab, for a step already done, does not move the wizard.
    if form.text("step") != step.as_str() {
        return Ok(redirect("/dashboard/welcome"));
    }
    let id = viewer.tenant.clone();
    if form.text("action") != "skip" {
        let saved = match step {
            OnboardingStep::Business => save_business(front, &id, &form, t).await,
            OnboardingStep::Persona => save_archetype(front, &id, &tenant, &form, t).await,
            OnboardingStep::Channels | OnboardingStep::Timing => Ok(()),
        };
        if let Err(errors) = saved {
            return render(front, viewer, &tenant, step, Some(&form), errors).await;
        }
    }
    let next = step.next();
    retry_conflicts(|| front.engine.set_onboarding(&id, next)).await?;
    Ok(redirect(if next.is_some() {
        "/dashboard/welcome"
    } else {
        "/dashboard"
    }))
}

async fn save_business(
    front: &Front<'_>,
    id: &crate::ids::TenantId,
    form: &Form,
    t: Tr,
) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = form.text("name");
    if name.is_empty() {
        errors.push(FieldError::new("name", t.get("error-required")));
    }
    let locale = Locale::parse(&form.text("locale"))
        .ok()
        .filter(|l| LOCALES.contains(&l.as_str()));
    if locale.is_none() {
        errors.push(FieldError::new("locale", t.get("welcome-error-locale")));
    }
    let currency = match Currency::parse(&form.text("currency")) {
        Ok(c) => match front.engine.ai_reply_price(&c).await {
            Ok(Some(_)) => Some(c),
            Ok(None) => None,
            Err(e) => {
                return Err(vec![FieldError::new(
                    "currency",
                    ApiError::from(e).to_string(),
                )])
            }
        },
        Err(_) => None,
    };
    if currency.is_none() {
        errors.push(FieldError::new("currency", t.get("welcome-error-currency")));
    }
    let (Some(locale), Some(currency), true) = (locale, currency, errors.is_empty()) else {
        return Err(errors);
    };
    match retry_conflicts(|| {
        front
            .engine
            .update_profile(id, &name, locale.clone(), currency.clone())
    })
    .await
    {
        Ok(()) => Ok(()),
        Err(crate::engine::EngineError::Invalid(errors)) => Err(errors),
        Err(e) => Err(vec![FieldError::new("name", ApiError::from(e).to_string())]),
    }
}

/// Starts the persona from a curated archetype, named after this business (the owner refines
/// it on the persona page). Queues the safety review like any save.
async fn save_archetype(
    front: &Front<'_>,
    id: &crate::ids::TenantId,
    tenant: &Tenant,
    form: &Form,
    t: Tr,
) -> Result<(), Vec<FieldError>> {
    let slug = form.text("archetype");
    let catalog = match front.engine.approved_personas().await {
        Ok(catalog) => catalog,
        Err(e) => {
            tracing::warn!(error = %e, "onboarding: the personas catalog could not be read");
            return Err(vec![FieldError::new(
                "archetype",
                t.get("welcome-error-archetype"),
            )]);
        }
    };
    let Some(archetype) = catalog.iter().find(|p| p.slug == slug) else {
        return Err(vec![FieldError::new(
            "archetype",
            t.get("welcome-error-archetype"),
        )]);
    };
    let source = match archetype.source.clone() {
        PersonaSource::Builder(mut b) => {
            b.business_name = tenant.name.clone();
            b.assistant_name = None;
            PersonaSource::Builder(b)
        }
        custom => custom,
    };
    match retry_conflicts(|| front.engine.save_persona(id, source.clone())).await {
        Ok(outcome) => {
            if outcome.review_queued {
                front.host.work_queued().await;
            }
            Ok(())
        }
        Err(crate::engine::EngineError::Invalid(errors)) => Err(errors),
        Err(e) => Err(vec![FieldError::new(
            "archetype",
            ApiError::from(e).to_string(),
        )]),
    }
}
