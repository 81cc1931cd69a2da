//! `/dashboard/settings`: the Conversation Timing card (seed 000). Three optional fields; blank
//! means the in-code default, shown as the placeholder and an inline "Default: N" hint.
//! `PUT /dashboard/settings/conversation` (htmx) answers with the card itself: saved, or 422
//! with each error inline and nothing saved. A plain `POST` does the same without JavaScript.

use askama::Template;

use crate::conversation::ConversationConfig;
use crate::front::reply::{Request, Response};
use crate::front::retry_conflicts;
use crate::front::{ApiError, Front};
use crate::prompt::{
    DEFAULT_CONVERSATION_IDLE_GAP_MINS, DEFAULT_HANDOFF_COOLDOWN_MINS, DEFAULT_MAX_HISTORY_MESSAGES,
};

use super::super::form::{is_htmx, Errors, Form};
use super::super::render::{page, redirect, Tr};
use super::super::Viewer;

/// One field of the card: its name, the value as typed (or stored) and its default.
#[derive(Debug)]
struct Field {
    name: &'static str,
    value: String,
    default: u32,
}

/// The card (also the htmx fragment).
#[derive(Template)]
#[template(path = "web/timing_card.html")]
struct TimingCard<'a> {
    t: Tr,
    viewer: &'a Viewer,
    fields: Vec<Field>,
    errors: Errors,
    saved: bool,
}

#[derive(Template)]
#[template(path = "web/settings.html")]
struct Settings<'a> {
    t: Tr,
    viewer: &'a Viewer,
    nav: &'static str,
    card: TimingCard<'a>,
}

fn fields(values: [String; 3]) -> Vec<Field> {
    let [idle, cooldown, history] = values;
    vec![
        Field {
            name: "idle_gap_mins",
            value: idle,
            default: DEFAULT_CONVERSATION_IDLE_GAP_MINS,
        },
        Field {
            name: "handoff_cooldown_mins",
            value: cooldown,
            default: DEFAULT_HANDOFF_COOLDOWN_MINS,
        },
        Field {
            name: "max_history_messages",
            value: history,
            default: DEFAULT_MAX_HISTORY_MESSAGES,
        },
    ]
}

fn stored(config: &ConversationConfig) -> [String; 3] {
    let show = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
    [
        show(config.idle_gap_mins),
        show(config.handoff_cooldown_mins),
        show(config.max_history_messages),
    ]
}

/// `GET /dashboard/settings`.
pub(super) async fn show(
    front: &Front<'_>,
    viewer: &Viewer,
    req: &Request,
) -> Result<Response, ApiError> {
    let tenant = front.tenant(&viewer.tenant).await?;
    let saved = req.uri().query().is_some_and(|q| q.contains("saved=1"));
    let card = TimingCard {
        t: Tr(viewer.locale),
        viewer,
        fields: fields(stored(&tenant.conversation)),
        errors: Errors::default(),
        saved,
    };
    page(
        200,
        &Settings {
            t: Tr(viewer.locale),
            viewer,
            nav: "settings",
            card,
        },
    )
}

/// `PUT` (htmx) or `POST` (plain form) `/dashboard/settings/conversation`.
pub(super) async fn save_conversation(
    front: &Front<'_>,
    viewer: &Viewer,
    req: &Request,
) -> Result<Response, ApiError> {
    let t = Tr(viewer.locale);
    let form = Form::parse(req);
    let mut errors = Vec::new();
    let not_a_number = t.get("timing-error-whole-number");
    let config = ConversationConfig {
        idle_gap_mins: form.optional_u32("idle_gap_mins", &not_a_number, &mut errors),
        handoff_cooldown_mins: form.optional_u32(
            "handoff_cooldown_mins",
            &not_a_number,
            &mut errors,
        ),
        max_history_messages: form.optional_u32("max_history_messages", &not_a_number, &mut errors),
    };
    if errors.is_empty() {
        if let Err(invalid) = config.validate() {
            errors = invalid;
        }
    }
    if errors.is_empty() {
        let tenant = viewer.tenant.clone();
        retry_conflicts(|| front.engine.update_conversation_settings(&tenant, config)).await?;
        if !is_htmx(req) {
            return Ok(redirect("/dashboard/settings?saved=1"));
        }
    }
    let status = if errors.is_empty() { 200 } else { 422 };
    let card = TimingCard {
        t,
        viewer,
        // What was typed stays in the fields, so a mistake is fixed, not retyped.
        fields: fields([
            form.text("idle_gap_mins"),
            form.text("handoff_cooldown_mins"),
            form.text("max_history_messages"),
        ]),
        saved: errors.is_empty(),
        errors: Errors::new(errors),
    };
    if is_htmx(req) {
        page(status, &card)
    } else {
        page(
            status,
            &Settings {
                t,
                viewer,
                nav: "settings",
                card,
            },
        )
    }
}
