//! `/dashboard/rules` and `/dashboard/rules/{channel}`: a channel's ordered reply rules (first
//! match wins), each a keyword or intent matcher answering with canned text or through the
//! model; the default rule; `wait_seconds`. Reordering, adding and removing rows re-render the
//! form without saving (it works without JavaScript); **Save** validates everything and saves
//! all of it or nothing.

use askama::Template;

use crate::conversation::FieldError;
use crate::front::reply::{Request, Response};
use crate::front::{retry_conflicts, ApiError, Front};
use crate::ids::Channel;
use crate::rules::{Matcher, ReplyConfig, ReplyResponse, ReplyRule, DEFAULT_INTENT_THRESHOLD};
use crate::tenant::Tenant;

use super::super::form::{Errors, Form};
use super::super::render::{page, redirect_to, Tr};
use super::super::Viewer;

/// The most rules a channel's form takes.
const MAX_RULES: usize = 50;

/// One rule row of the form, as stored or as typed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Row {
    pub name: String,
    /// `keywords` or `intent`.
    pub matcher: String,
    /// Comma-separated keywords.
    pub keywords: String,
    pub description: String,
    pub threshold: String,
    /// `canned` or `prompt`.
    pub reply: String,
    pub text: String,
}

impl Row {
    fn of(rule: &ReplyRule) -> Row {
        let (matcher, keywords, description, threshold) = match &rule.matcher {
            Matcher::Keywords { keywords } => (
                "keywords",
                keywords.join(", "),
                String::new(),
                String::new(),
            ),
            Matcher::Intent {
                description,
                threshold,
                ..
            } => (
                "intent",
                String::new(),
                description.clone(),
                threshold.to_string(),
            ),
        };
        let (reply, text) = response_fields(&rule.response);
        Row {
            name: rule.name.clone(),
            matcher: matcher.to_owned(),
            keywords,
            description,
            threshold,
            reply: reply.to_owned(),
            text,
        }
    }

    fn blank() -> Row {
        Row {
            matcher: "keywords".into(),
            reply: "canned".into(),
            ..Row::default()
        }
    }
}

fn response_fields(response: &ReplyResponse) -> (&'static str, String) {
    match response {
        ReplyResponse::Canned { text } => ("canned", text.clone()),
        ReplyResponse::Prompt { text } => ("prompt", text.clone()),
    }
}

/// The whole form of one channel.
#[derive(Debug, Clone, Default)]
struct Editor {
    enabled: bool,
    wait_seconds: String,
    default_reply: String,
    default_text: String,
    rows: Vec<Row>,
}

impl Editor {
    fn of(config: &ReplyConfig) -> Editor {
        let (reply, text) = response_fields(&config.default_rule);
        Editor {
            enabled: config.enabled,
            wait_seconds: config.wait_seconds.to_string(),
            default_reply: reply.to_owned(),
            default_text: text,
            rows: config.rules.iter().map(Row::of).collect(),
        }
    }

    fn typed(form: &Form) -> Editor {
        let count = form
            .text("rows")
            .parse::<usize>()
            .unwrap_or(0)
            .min(MAX_RULES);
        let rows = (0..count)
            .map(|i| {
                let f = |name: &str| {
                    form.raw(&format!("rule-{i}-{name}"))
                        .unwrap_or("")
                        .to_owned()
                };
                Row {
                    name: f("name"),
                    matcher: f("matcher"),
                    keywords: f("keywords"),
                    description: f("description"),
                    threshold: f("threshold"),
                    reply: f("reply"),
                    text: f("text"),
                }
            })
            .collect();
        Editor {
            enabled: form.raw("enabled").is_some(),
            wait_seconds: form.text("wait_seconds"),
            default_reply: form.text("default_reply"),
            default_text: form.raw("default_text").unwrap_or("").to_owned(),
            rows,
        }
    }

    /// Applies a row action (`add`, `remove-N`, `up-N`, `down-N`); `false` for anything else.
    fn apply(&mut self, action: &str) -> bool {
        let index = |prefix: &str| {
            action
                .strip_prefix(prefix)
                .and_then(|n| n.parse::<usize>().ok())
        };
        if action == "add" {
            if self.rows.len() < MAX_RULES {
                self.rows.push(Row::blank());
            }
        } else if let Some(i) = index("remove-").filter(|i| *i < self.rows.len()) {
            self.rows.remove(i);
        } else if let Some(i) = index("up-").filter(|i| *i > 0 && *i < self.rows.len()) {
            self.rows.swap(i - 1, i);
        } else if let Some(i) = index("down-").filter(|i| i + 1 < self.rows.len()) {
            self.rows.swap(i, i + 1);
        } else {
            return false;
        }
        true
    }

    /// The config this form describes, keeping the stored embedding of an intent whose
    /// description did not change; or every field error, with the field each belongs to.
    fn config(&self, stored: &ReplyConfig, t: Tr) -> Result<ReplyConfig, Vec<FieldError>> {
        let mut errors = Vec::new();
        let response =
            |kind: &str, text: &str, field: &str, errors: &mut Vec<FieldError>| match kind {
                "canned" => ReplyResponse::Canned {
                    text: text.trim().to_owned(),
                },
                "prompt" => ReplyResponse::Prompt {
                    text: text.trim().to_owned(),
                },
                _ => {
                    errors.push(FieldError::new(field, t.get("rules-error-reply-kind")));
                    ReplyResponse::Prompt {
                        text: String::new(),
                    }
                }
            };
        let wait_seconds = if self.wait_seconds.trim().is_empty() {
            0
        } else {
            match self.wait_seconds.trim().parse::<u32>() {
                Ok(v) if v <= 600 => v,
                _ => {
                    errors.push(FieldError::new("wait_seconds", t.get("rules-error-wait")));
                    0
                }
            }
        };
        let mut rules = Vec::with_capacity(self.rows.len());
        for (i, row) in self.rows.iter().enumerate() {
            let matcher = match row.matcher.as_str() {
                "keywords" => Matcher::Keywords {
                    keywords: row
                        .keywords
                        .split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_owned)
                        .collect(),
                },
                "intent" => {
                    let description = row.description.trim().to_owned();
                    let threshold = if row.threshold.trim().is_empty() {
                        DEFAULT_INTENT_THRESHOLD
                    } else {
                        match row.threshold.trim().parse::<f32>() {
                            Ok(v) => v,
                            Err(_) => {
                                errors.push(FieldError::new(
                                    format!("rule-{i}-threshold"),
                                    t.get("rules-error-threshold"),
                                ));
                                DEFAULT_INTENT_THRESHOLD
                            }
                        }
                    };
                    let (embedding, model) = stored
                        .rules
                        .iter()
                        .find_map(|r| match &r.matcher {
                            Matcher::Intent {
                                description: d,
                                embedding,
                                model,
                                ..
                            } if *d == description => Some((embedding.clone(), model.clone())),
                            _ => None,
                        })
                        .unwrap_or((None, None));
                    Matcher::Intent {
                        description,
                        embedding,
                        model,
                        threshold,
                    }
                }
                _ => {
                    errors.push(FieldError::new(
                        format!("rule-{i}-matcher"),
                        t.get("rules-error-matcher"),
                    ));
                    continue;
                }
            };
            rules.push(ReplyRule {
                name: row.name.trim().to_owned(),
                matcher,
                response: response(
                    &row.reply,
                    &row.text,
                    &format!("rule-{i}-reply"),
                    &mut errors,
                ),
            });
        }
        let config = ReplyConfig {
            enabled: self.enabled,
            rules,
            default_rule: response(
                &self.default_reply,
                &self.default_text,
                "default_reply",
                &mut errors,
            ),
            wait_seconds,
        };
        if let Err(problems) = config.validate() {
            errors.extend(problems.iter().map(|p| field_of(p)));
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }
}

/// Maps one of [`ReplyConfig::validate`]'s messages (`rules[2].match.keywords: …`) to the form
/// field it is about (`rule-2-keywords`).
fn field_of(problem: &str) -> FieldError {
    let (path, message) = problem.split_once(": ").unwrap_or(("", problem));
    let field = match path.strip_prefix("rules[").and_then(|p| p.split_once(']')) {
        Some((i, rest)) => {
            let leaf = rest.rsplit('.').next().unwrap_or("name");
            let leaf = match leaf {
                "reply" | "text" => "text",
                "embedding" => "description",
                other => other,
            };
            format!("rule-{i}-{leaf}")
        }
        None if path.starts_with("default") => "default_text".to_owned(),
        None => "rules".to_owned(),
    };
    FieldError::new(field, message)
}

#[derive(Template)]
#[template(path = "web/rules.html")]
struct RulesPage<'a> {
    t: Tr,
    viewer: &'a Viewer,
    nav: &'static str,
    channels: Vec<(String, bool)>,
    channel: String,
    editor: Editor,
    errors: Errors,
    saved: bool,
    unsaved: bool,
}

fn connected(tenant: &Tenant) -> Vec<(String, bool)> {
    Channel::ALL
        .iter()
        .map(|c| (c.to_string(), tenant.channels.replies(*c).is_some()))
        .collect()
}

fn channel_of(tenant: &Tenant, raw: &str) -> Result<(Channel, ReplyConfig), ApiError> {
    let channel: Channel = raw
        .parse()
        .map_err(|_| ApiError::NotFound(format!("channel {raw}")))?;
    let config = tenant
        .channels
        .replies(channel)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("channel {channel}")))?;
    Ok((channel, config))
}

/// `GET /dashboard/rules`: the first connected channel's rules (or a note that none is).
pub(super) async fn index(front: &Front<'_>, viewer: &Viewer) -> Result<Response, ApiError> {
    let tenant = front.tenant(&viewer.tenant).await?;
    match Channel::ALL
        .iter()
        .find(|c| tenant.channels.replies(**c).is_some())
    {
        Some(c) => Ok(redirect_to(format!("/dashboard/rules/{c}"))),
        None => page(
            200,
            &RulesPage {
                t: Tr(viewer.locale),
                viewer,
                nav: "rules",
                channels: connected(&tenant),
                channel: String::new(),
                editor: Editor::default(),
                errors: Errors::default(),
                saved: false,
                unsaved: false,
            },
        ),
    }
}

/// `GET /dashboard/rules/{channel}`.
pub(super) async fn show(
    front: &Front<'_>,
    viewer: &Viewer,
    req: &Request,
    raw: &str,
) -> Result<Response, ApiError> {
    let tenant = front.tenant(&viewer.tenant).await?;
    let (channel, config) = channel_of(&tenant, raw)?;
    page(
        200,
        &RulesPage {
            t: Tr(viewer.locale),
            viewer,
            nav: "rules",
            channels: connected(&tenant),
            channel: channel.to_string(),
            editor: Editor::of(&config),
            errors: Errors::default(),
            saved: req.uri().query().is_some_and(|q| q.contains("saved=1")),
            unsaved: false,
        },
    )
}

/// `POST /dashboard/rules/{channel}`: a row action (re-render, nothing saved) or `save`.
pub(super) async fn submit(
    front: &Front<'_>,
    viewer: &Viewer,
    req: &Request,
    raw: &str,
) -> Result<Response, ApiError> {
    let t = Tr(viewer.locale);
    let tenant = front.tenant(&viewer.tenant).await?;
    let (channel, stored) = channel_of(&tenant, raw)?;
    let form = Form::parse(req);
    let mut editor = Editor::typed(&form);
    let action = form.text("action");
    let render = |editor: Editor, errors: Vec<FieldError>, unsaved: bool, status: u16| {
        page(
            status,
            &RulesPage {
                t,
                viewer,
                nav: "rules",
                channels: connected(&tenant),
                channel: channel.to_string(),
                editor,
                errors: Errors::new(errors),
                saved: false,
                unsaved,
            },
        )
    };
    if action != "save" {
        return if editor.apply(&action) {
            render(editor, Vec::new(), true, 200)
        } else {
            Err(ApiError::field("action", "unknown action"))
        };
    }
    match editor.config(&stored, t) {
        Ok(config) => {
            let id = viewer.tenant.clone();
            retry_conflicts(|| front.engine.save_reply_config(&id, channel, config.clone()))
                .await?;
            Ok(redirect_to(format!("/dashboard/rules/{channel}?saved=1")))
        }
        Err(errors) => render(editor, errors, true, 422),
    }
}
