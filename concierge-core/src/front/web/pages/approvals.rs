//! `/dashboard/approvals`: AI drafts waiting for the owner, each with approve / edit / reject.
//! A decision runs where the draft's conversation runs its turns ([`Host::decide_approval`])
//! and happens once: a second decision on the same draft finds nothing to decide.
//!
//! [`Host::decide_approval`]: crate::front::Host::decide_approval

use askama::Template;

use crate::approval::{ApprovalDecision, Draft, DraftDecision};
use crate::engine::ApprovalOutcome;
use crate::front::reply::{Request, Response};
use crate::front::{ApiError, Front};
use crate::ids::TenantId;

use super::super::form::{Errors, Form};
use super::super::render::{page, redirect_to, Tr};
use super::super::Viewer;

/// A draft as the queue shows it.
#[derive(Debug)]
pub(crate) struct DraftRow {
    pub id: String,
    pub channel: String,
    pub customer: String,
    pub excerpt: String,
    pub text: String,
}

impl From<&Draft> for DraftRow {
    fn from(d: &Draft) -> Self {
        DraftRow {
            id: d.id.clone(),
            channel: d.key.channel.to_string(),
            customer: d.key.sender.clone(),
            excerpt: d.inbound_excerpt.clone(),
            text: d.text.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "web/approvals.html")]
struct Approvals<'a> {
    t: Tr,
    viewer: &'a Viewer,
    nav: &'static str,
    drafts: Vec<DraftRow>,
    outcome: String,
    errors: Errors,
}

/// The i18n key that says how a decision ended.
pub(crate) fn outcome_key(outcome: &ApprovalOutcome) -> &'static str {
    match outcome {
        ApprovalOutcome::Sent { .. } => "approval-outcome-sent",
        ApprovalOutcome::Rejected => "approval-outcome-rejected",
        ApprovalOutcome::NotFound => "approval-outcome-not-found",
        ApprovalOutcome::NotSent { .. } => "approval-outcome-not-sent",
    }
}

fn outcome_slug(outcome: &ApprovalOutcome) -> &'static str {
    match outcome {
        ApprovalOutcome::Sent { .. } => "sent",
        ApprovalOutcome::Rejected => "rejected",
        ApprovalOutcome::NotFound => "not-found",
        ApprovalOutcome::NotSent { .. } => "not-sent",
    }
}

fn from_slug(slug: &str) -> Option<&'static str> {
    Some(match slug {
        "sent" => "approval-outcome-sent",
        "rejected" => "approval-outcome-rejected",
        "not-found" => "approval-outcome-not-found",
        "not-sent" => "approval-outcome-not-sent",
        _ => return None,
    })
}

async fn render(
    front: &Front<'_>,
    viewer: &Viewer,
    outcome: String,
    errors: Errors,
    status: u16,
) -> Result<Response, ApiError> {
    let now = front.engine.clock().now();
    let drafts = front
        .engine
        .store()
        .list_drafts(&viewer.tenant, now)
        .await?;
    page(
        status,
        &Approvals {
            t: Tr(viewer.locale),
            viewer,
            nav: "approvals",
            drafts: drafts.iter().map(DraftRow::from).collect(),
            outcome,
            errors,
        },
    )
}

/// `GET /dashboard/approvals`.
pub(super) async fn show(
    front: &Front<'_>,
    viewer: &Viewer,
    req: &Request,
) -> Result<Response, ApiError> {
    let form = Form::from_bytes(req.uri().query().unwrap_or("").as_bytes());
    let outcome = from_slug(&form.text("done"))
        .map(|key| Tr(viewer.locale).get(key))
        .unwrap_or_default();
    render(front, viewer, outcome, Errors::default(), 200).await
}

/// The decision a submitted form asks for.
pub(crate) fn decision_from(form: &Form) -> Result<ApprovalDecision, ApiError> {
    match form.text("action").as_str() {
        "approve" => Ok(ApprovalDecision::Approve),
        "reject" => Ok(ApprovalDecision::Reject),
        "edit" => Ok(ApprovalDecision::Edit {
            text: form.text("text"),
        }),
        _ => Err(ApiError::field("action", "must be approve, edit or reject")),
    }
}

/// Decides `draft` of `tenant` once, where its conversation runs.
pub(crate) async fn decide(
    front: &Front<'_>,
    tenant: &TenantId,
    draft: &str,
    decision: ApprovalDecision,
) -> Result<ApprovalOutcome, ApiError> {
    let outcome = front
        .host
        .decide_approval(
            tenant.clone(),
            DraftDecision {
                draft_id: draft.to_owned(),
                decision,
            },
        )
        .await?;
    Ok(outcome)
}

/// `POST /dashboard/approvals/{draft}`: approve, edit (with `text`) or reject.
pub(super) async fn decide_from_queue(
    front: &Front<'_>,
    viewer: &Viewer,
    req: &Request,
    draft: &str,
) -> Result<Response, ApiError> {
    let form = Form::parse(req);
    let decision = decision_from(&form)?;
    match decide(front, &viewer.tenant, draft, decision).await {
        Ok(outcome) => Ok(redirect_to(format!(
            "/dashboard/approvals?done={}",
            outcome_slug(&outcome)
        ))),
        Err(ApiError::Invalid(errors)) => {
            render(front, viewer, String::new(), Errors::new(errors), 422).await
        }
        Err(e) => Err(e),
    }
}
