//! The approval digest's signed links: `/approvals/{tenant}/{draft}/{approve|reject}?token=`.
//!
//! A `GET` never decides: mail scanners and link previews fetch links. It shows the draft and
//! a confirmation button; the `POST` that button sends verifies the signed token again and
//! decides, once (a second `POST` finds the draft decided). The token is the authorization:
//! no login is needed, and it names one draft, one action and an expiry.

use askama::Template;

use crate::approval::{verify_link_token, ApprovalDecision, LinkTokenError};
use crate::i18n::UiLocale;
use crate::ids::TenantId;

use super::super::reply::{Request, Response};
use super::super::{ApiError, Front};
use super::form::Form;
use super::pages::approvals::{decide, outcome_key, DraftRow};
use super::render::{page, Tr};

#[derive(Template)]
#[template(path = "web/approval_link.html")]
struct LinkPage {
    t: Tr,
    action: &'static str,
    confirm_key: String,
    draft: Option<DraftRow>,
    token: String,
    path: String,
    message: String,
}

/// Serves `/approvals/{tenant}/{draft}/{action}`.
pub(crate) async fn serve(
    front: &Front<'_>,
    req: &Request,
    tenant: &str,
    draft: &str,
    action: &str,
) -> Result<Response, ApiError> {
    use http::Method;
    let t = Tr(UiLocale::default());
    let action: &'static str = match action {
        "approve" => "approve",
        "reject" => "reject",
        _ => return Err(ApiError::NotFound("approval link".into())),
    };
    let tenant = TenantId::parse(tenant).map_err(|_| ApiError::NotFound("approval link".into()))?;
    let token = Form::from_bytes(req.uri().query().unwrap_or("").as_bytes()).text("token");
    let now = front.engine.clock().now();
    let key = &front.engine.config().signing_key;
    let path = format!("/approvals/{tenant}/{draft}/{action}");
    let mut link = LinkPage {
        t,
        action,
        confirm_key: format!("approval-link-confirm-{action}"),
        draft: None,
        token: token.clone(),
        path,
        message: String::new(),
    };
    if let Err(e) = verify_link_token(key, draft, action, &token, now) {
        link.message = t.get(match e {
            LinkTokenError::Expired => "approval-link-expired",
            _ => "approval-link-invalid",
        });
        return page(403, &link);
    }
    match *req.method() {
        Method::GET => {
            let drafts = front.engine.store().list_drafts(&tenant, now).await?;
            match drafts.iter().find(|d| d.id == draft) {
                Some(d) => link.draft = Some(DraftRow::from(d)),
                None => link.message = t.get("approval-outcome-not-found"),
            }
            page(200, &link)
        }
        Method::POST => {
            let decision = if action == "approve" {
                ApprovalDecision::Approve
            } else {
                ApprovalDecision::Reject
            };
            let outcome = decide(front, &tenant, draft, decision).await?;
            link.message = t.get(outcome_key(&outcome));
            page(200, &link)
        }
        _ => Err(ApiError::MethodNotAllowed("GET, POST")),
    }
}
