//! `/dashboard/persona`: the builder and custom editors, the review status (*Pending* while the
//! safety review runs, *Rejected* with only the vague reason) and **View prompt**: the exact
//! envelope the model receives, the same text as `concierge prompt`.

use askama::Template;

use crate::front::reply::{Request, Response};
use crate::front::retry_conflicts;
use crate::front::{ApiError, Front};
use crate::ids::Channel;
use crate::persona::{PersonaBuilder, PersonaConfig, PersonaSource, VoiceArchetype};
use crate::safety::SafetyStatus;
use crate::tenant::Tenant;

use super::super::form::{Errors, Form};
use super::super::render::{page, redirect, Tr};
use super::super::Viewer;

/// The review status as the owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Review {
    /// Waiting for the safety review; AI replies are paused, canned replies still go out.
    Pending,
    /// Approved for exactly the current text.
    Approved,
    /// Rejected, with the fixed vague reason (never the classifier's category).
    Rejected(String),
}

impl Review {
    /// The status of `persona`: an approval or rejection counts only for the current text.
    pub(crate) fn of(persona: &PersonaConfig) -> Review {
        let current = persona.prompt_hash();
        match &persona.safety {
            SafetyStatus::Approved { hash, .. } if *hash == current => Review::Approved,
            SafetyStatus::Rejected {
                hash, vague_reason, ..
            } if *hash == current => Review::Rejected(vague_reason.clone()),
            _ => Review::Pending,
        }
    }

    /// The vague reason of a rejection.
    pub(crate) fn reason(&self) -> Option<&str> {
        match self {
            Review::Rejected(reason) => Some(reason),
            _ => None,
        }
    }

    /// The i18n key of the status's name.
    pub(crate) fn key(&self) -> String {
        format!("persona-review-{}", self.slug())
    }

    /// The i18n key of what the status means for replies.
    pub(crate) fn hint_key(&self) -> String {
        format!("persona-review-{}-hint", self.slug())
    }

    /// The CSS class and i18n key suffix.
    pub(crate) fn slug(&self) -> &'static str {
        match self {
            Review::Pending => "pending",
            Review::Approved => "approved",
            Review::Rejected(_) => "rejected",
        }
    }
}

/// The editor's values: what is stored, or what was just typed.
#[derive(Debug, Default)]
pub(crate) struct Editor {
    pub(crate) mode: &'static str,
    pub(crate) voice: String,
    pub(crate) assistant_name: String,
    pub(crate) business_name: String,
    pub(crate) business_type: String,
    pub(crate) city: String,
    pub(crate) goal: String,
    pub(crate) goal_url: String,
    pub(crate) facts: String,
    pub(crate) handoff_conditions: String,
    pub(crate) catch_phrases: String,
    pub(crate) off_topic: String,
    pub(crate) custom: String,
}

pub(crate) const VOICES: [(VoiceArchetype, &str); 5] = [
    (VoiceArchetype::Warm, "warm"),
    (VoiceArchetype::Professional, "professional"),
    (VoiceArchetype::Playful, "playful"),
    (VoiceArchetype::Concise, "concise"),
    (VoiceArchetype::Caring, "caring"),
];

fn voice_slug(voice: VoiceArchetype) -> &'static str {
    VOICES
        .iter()
        .find(|(v, _)| *v == voice)
        .map_or("warm", |(_, s)| s)
}

impl Editor {
    pub(crate) fn of(source: &PersonaSource) -> Editor {
        match source {
            PersonaSource::Builder(b) => Editor {
                mode: "builder",
                voice: voice_slug(b.voice).to_owned(),
                assistant_name: b.assistant_name.clone().unwrap_or_default(),
                business_name: b.business_name.clone(),
                business_type: b.business_type.clone(),
                city: b.city.clone().unwrap_or_default(),
                goal: b.goal.clone(),
                goal_url: b.goal_url.clone().unwrap_or_default(),
                facts: b.facts.join("\n"),
                handoff_conditions: b.handoff_conditions.join("\n"),
                catch_phrases: b.catch_phrases.join("\n"),
                off_topic: b.off_topic.join("\n"),
                custom: String::new(),
            },
            PersonaSource::Custom(text) => Editor {
                mode: "custom",
                voice: "warm".to_owned(),
                custom: text.clone(),
                ..Editor::default()
            },
        }
    }

    /// The builder's text fields in page order: name, value, multi-line.
    pub(crate) fn builder_fields(&self) -> Vec<(&'static str, &str, bool)> {
        vec![
            ("business_name", &self.business_name, false),
            ("business_type", &self.business_type, false),
            ("assistant_name", &self.assistant_name, false),
            ("city", &self.city, false),
            ("goal", &self.goal, false),
            ("goal_url", &self.goal_url, false),
            ("facts", &self.facts, true),
            ("handoff_conditions", &self.handoff_conditions, true),
            ("catch_phrases", &self.catch_phrases, true),
            ("off_topic", &self.off_topic, true),
        ]
    }

    pub(crate) fn typed(form: &Form) -> Editor {
        let raw = |name: &str| form.raw(name).unwrap_or("").to_owned();
        Editor {
            mode: if form.text("mode") == "custom" {
                "custom"
            } else {
                "builder"
            },
            voice: form.text("voice"),
            assistant_name: raw("assistant_name"),
            business_name: raw("business_name"),
            business_type: raw("business_type"),
            city: raw("city"),
            goal: raw("goal"),
            goal_url: raw("goal_url"),
            facts: raw("facts"),
            handoff_conditions: raw("handoff_conditions"),
            catch_phrases: raw("catch_phrases"),
            off_topic: raw("off_topic"),
            custom: raw("custom"),
        }
    }
}

/// The source a submitted form describes, or its field errors.
pub(crate) fn source_from(
    form: &Form,
    t: Tr,
) -> Result<PersonaSource, Vec<crate::conversation::FieldError>> {
    use crate::conversation::FieldError;
    if form.text("mode") == "custom" {
        let text = form.text("custom");
        if text.is_empty() {
            return Err(vec![FieldError::new(
                "custom",
                t.get("persona-error-custom-empty"),
            )]);
        }
        return Ok(PersonaSource::Custom(text));
    }
    let mut errors = Vec::new();
    let voice = match VOICES.iter().find(|(_, s)| *s == form.text("voice")) {
        Some((v, _)) => *v,
        None => {
            errors.push(FieldError::new("voice", t.get("persona-error-voice")));
            VoiceArchetype::Warm
        }
    };
    for field in ["business_name", "business_type", "goal"] {
        if form.text(field).is_empty() {
            errors.push(FieldError::new(field, t.get("error-required")));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(PersonaSource::Builder(PersonaBuilder {
        voice,
        assistant_name: form.optional("assistant_name"),
        business_name: form.text("business_name"),
        business_type: form.text("business_type"),
        city: form.optional("city"),
        goal: form.text("goal"),
        goal_url: form.optional("goal_url"),
        facts: form.lines("facts"),
        handoff_conditions: form.lines("handoff_conditions"),
        catch_phrases: form.lines("catch_phrases"),
        off_topic: form.lines("off_topic"),
    }))
}

/// The envelope the model receives for a first reply: the default rule of the first channel
/// whose default rule asks the model, else the persona alone in the envelope; the compact one
/// when the engine uses it ([`EngineConfig::compact_prompt`](crate::engine::EngineConfig::compact_prompt)).
pub(crate) fn envelope(tenant: &Tenant, compact: bool) -> (Option<Channel>, String) {
    for channel in Channel::ALL {
        if let Ok(prompt) = tenant.system_prompt_for(channel, None, None, compact) {
            return (Some(channel), prompt);
        }
    }
    let middle = crate::prompt::middle(&tenant.persona.active_prompt(), "");
    if compact {
        (None, crate::prompt::compact::wrap_compact(&middle, None))
    } else {
        (None, crate::prompt::wrap(&middle))
    }
}

/// The persona editor's fieldsets (mode, builder, custom text), rendered on their own so the
/// two pages that edit a persona (the owner's and the operator's catalog) share one copy of
/// the rendering code (the Worker's bundle counts every template's code).
#[derive(Template)]
#[template(path = "web/persona_fields.html")]
pub(crate) struct PersonaFields<'a> {
    t: Tr,
    editor: &'a Editor,
    voices: &'a [&'static str],
    errors: &'a Errors,
}

impl PersonaFields<'_> {
    /// The fieldsets' HTML for `editor`, marking `errors`.
    pub(crate) fn html(t: Tr, editor: &Editor, errors: &Errors) -> Result<String, ApiError> {
        let voices: Vec<&'static str> = VOICES.iter().map(|(_, s)| *s).collect();
        PersonaFields {
            t,
            editor,
            voices: &voices,
            errors,
        }
        .render()
        .map_err(|e| ApiError::Internal(format!("the persona editor did not render: {e}")))
    }
}

#[derive(Template)]
#[template(path = "web/persona.html")]
struct PersonaPage<'a> {
    t: Tr,
    viewer: &'a Viewer,
    nav: &'static str,
    review: Review,
    /// The editor's fieldsets ([`PersonaFields`]).
    fields: String,
    errors: Errors,
    saved: bool,
    prompt_channel: String,
    prompt: String,
}

fn render(
    front: &Front<'_>,
    viewer: &Viewer,
    tenant: &Tenant,
    editor: Editor,
    errors: Errors,
    saved: bool,
    status: u16,
) -> Result<Response, ApiError> {
    let (channel, prompt) = envelope(tenant, front.engine.config().compact_envelope());
    let t = Tr(viewer.locale);
    page(
        status,
        &PersonaPage {
            t,
            viewer,
            nav: "persona",
            review: Review::of(&tenant.persona),
            fields: PersonaFields::html(t, &editor, &errors)?,
            errors,
            saved,
            prompt_channel: channel.map(|c| c.to_string()).unwrap_or_default(),
            prompt,
        },
    )
}

/// `GET /dashboard/persona`.
pub(super) async fn show(
    front: &Front<'_>,
    viewer: &Viewer,
    req: &Request,
) -> Result<Response, ApiError> {
    let tenant = front.tenant(&viewer.tenant).await?;
    let saved = req.uri().query().is_some_and(|q| q.contains("saved=1"));
    let editor = Editor::of(&tenant.persona.source);
    render(
        front,
        viewer,
        &tenant,
        editor,
        Errors::default(),
        saved,
        200,
    )
}

/// `POST /dashboard/persona`: saves; a changed text goes to review (*Pending*).
pub(super) async fn save(
    front: &Front<'_>,
    viewer: &Viewer,
    req: &Request,
) -> Result<Response, ApiError> {
    let t = Tr(viewer.locale);
    let form = Form::parse(req);
    match source_from(&form, t) {
        Ok(source) => {
            let id = viewer.tenant.clone();
            let outcome =
                retry_conflicts(|| front.engine.save_persona(&id, source.clone())).await?;
            if outcome.review_queued {
                front.host.work_queued().await;
            }
            Ok(redirect("/dashboard/persona?saved=1"))
        }
        Err(errors) => {
            let tenant = front.tenant(&viewer.tenant).await?;
            render(
                front,
                viewer,
                &tenant,
                Editor::typed(&form),
                Errors::new(errors),
                false,
                422,
            )
        }
    }
}
