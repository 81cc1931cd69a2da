//! The admin API under `/api/v1`, behind `Authorization: Bearer` the admin token (off, 503,
//! when none is set).
//!
//! Every state-changing route appends an entry to the audit log ([`crate::audit`]) as actor
//! `admin-api` after its change succeeded; when that append fails the answer is a 500 (the
//! change stays applied, the log line says which entry is missing), so an unrecorded change
//! never looks like a clean success. `GET /audit` lists the log; `GET`/`PUT /pricing` read
//! and set the price of an AI reply per currency.

use serde::Deserialize;
use serde_json::json;

use crate::audit::{actor, AuditAction, AuditQuery, MAX_AUDIT_PAGE};
use crate::billing::GrantOutcome;
use crate::conversation::{ConversationConfig, FieldError};
use crate::engine::EngineError;
use crate::ids::{Channel, ConversationId, Currency, Milli, TenantId};
use crate::persona::PersonaSource;
use crate::ports::StoreError;
use crate::rules::ReplyConfig;
use crate::safety::SafetyStatus;
use crate::tenant::{Tenant, TenantFile, TenantFileError};
use crate::time::Timestamp;

use super::reply::{empty, json_ok, json_response, typed_response, Request, Response};
use super::{header, secret_eq, ApiError, Front};

/// How many times an update is retried when a concurrent write bumped the tenant's revision.
const CONFLICT_RETRIES: u32 = 4;

/// Runs an engine update, retrying when a concurrent write (a persona review finishing, another
/// admin) bumped the tenant's revision in between: each attempt re-reads the tenant.
///
/// # Errors
/// The update's error, or the last [`StoreError::Conflict`] after [`CONFLICT_RETRIES`] retries.
pub async fn retry_conflicts<T, F, Fut>(mut op: F) -> Result<T, EngineError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, EngineError>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(EngineError::Store(StoreError::Conflict(_))) if attempt < CONFLICT_RETRIES => {
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid JSON: {e}")))
}

fn tenant_id(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw).map_err(|e| ApiError::field("tenant", e.to_string()))
}

fn safety_label(status: &SafetyStatus) -> &'static str {
    match status {
        SafetyStatus::Pending => "pending",
        SafetyStatus::Approved { .. } => "approved",
        SafetyStatus::Rejected { .. } => "rejected",
    }
}

/// A credit grant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantRequest {
    grant_id: String,
    amount: Milli,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    reason: Option<String>,
}

/// An account's sign-in, for `PUT /tenants/{tenant}/owners` and `PUT /operators` (missing
/// fields are empty, so they get field errors). No `Debug`: it holds a password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

impl Credentials {
    /// The normalized email, when it and the password meet the policy; else 422 with a field
    /// error for each that does not.
    fn checked_email(&self) -> Result<String, ApiError> {
        use crate::accounts;
        let email = accounts::normalize_email(&self.email);
        let errors: Vec<_> = [
            accounts::check_email(&email).err(),
            accounts::check_password(&self.password).err(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if errors.is_empty() {
            Ok(email)
        } else {
            Err(ApiError::Invalid(errors))
        }
    }
}

/// `PUT /pricing`: a currency and its price of one AI reply in credits (`"2.5"` or `2`).
/// Both are read as plain JSON values so that a bad one is a field error, not a 400.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceRequest {
    #[serde(default)]
    currency: serde_json::Value,
    #[serde(default)]
    price: serde_json::Value,
}

/// A channel token to seal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretRequest {
    token: String,
}

impl Front<'_> {
    /// Refuses requests without the admin bearer token.
    fn require_admin(&self, req: &Request) -> Result<(), ApiError> {
        let token = self
            .config
            .admin_token
            .as_deref()
            .ok_or(ApiError::Unavailable(
                "the admin API is off: set CONCIERGE_ADMIN_TOKEN",
            ))?;
        let given = header(req, "authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if secret_eq(given, token) {
            Ok(())
        } else {
            Err(ApiError::Unauthorized)
        }
    }

    pub(super) async fn tenant(&self, id: &TenantId) -> Result<Tenant, ApiError> {
        self.engine
            .store()
            .get_tenant(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("tenant {id}")))
    }

    /// Routes `/api/v1/{rest}`.
    pub(super) async fn admin(&self, req: &Request, rest: &[&str]) -> Result<Response, ApiError> {
        use http::Method;
        self.require_admin(req)?;
        let method = req.method().clone();
        let body = req.body();
        let store = self.engine.store();
        let allow = |methods: &'static str| Err(ApiError::MethodNotAllowed(methods));
        match rest {
            ["tenants"] => match method {
                Method::GET => Ok(json_ok(&json!({ "tenants": store.list_tenants().await? }))),
                Method::PUT => self.import_tenant(body).await,
                _ => allow("GET, PUT"),
            },
            ["tenants", tenant] => match method {
                Method::GET => self.export_tenant(&tenant_id(tenant)?).await,
                _ => allow("GET"),
            },
            ["tenants", tenant, "persona"] => {
                let id = tenant_id(tenant)?;
                match method {
                    Method::GET => {
                        let tenant = self.tenant(&id).await?;
                        Ok(json_ok(&json!({
                            "status": safety_label(&tenant.persona.safety),
                            "safety": tenant.persona.safety,
                        })))
                    }
                    Method::PUT => {
                        let source: PersonaSource = json_body(body)?;
                        let kind = match &source {
                            PersonaSource::Builder(_) => "builder",
                            PersonaSource::Custom(_) => "custom",
                        };
                        let outcome =
                            retry_conflicts(|| self.engine.save_persona(&id, source.clone()))
                                .await?;
                        self.host.work_queued().await;
                        let detail = format!(
                            "{kind} persona, status {}{}",
                            safety_label(&outcome.status),
                            if outcome.review_queued {
                                ", review queued"
                            } else {
                                ""
                            }
                        );
                        self.audit(AuditAction::PersonaPut, Some(&id), &detail)
                            .await?;
                        Ok(json_ok(&outcome))
                    }
                    _ => allow("GET, PUT"),
                }
            }
            ["tenants", tenant, "rules", channel] => {
                if method != Method::PUT {
                    return allow("PUT");
                }
                let id = tenant_id(tenant)?;
                let channel: Channel = channel
                    .parse()
                    .map_err(|e: crate::ids::IdError| ApiError::field("channel", e.to_string()))?;
                let config: ReplyConfig = json_body(body)?;
                let detail = format!(
                    "{channel}: {} rules, {}, wait {} s",
                    config.rules.len(),
                    if config.enabled { "on" } else { "off" },
                    config.wait_seconds
                );
                let unembedded =
                    retry_conflicts(|| self.engine.save_reply_config(&id, channel, config.clone()))
                        .await?;
                self.audit(AuditAction::RulesPut, Some(&id), &detail)
                    .await?;
                Ok(json_ok(
                    &json!({ "saved": true, "unembedded_rules": unembedded }),
                ))
            }
            ["tenants", tenant, "conversation"] => {
                if method != Method::PUT {
                    return allow("PUT");
                }
                let id = tenant_id(tenant)?;
                let config: ConversationConfig = json_body(body)?;
                retry_conflicts(|| self.engine.update_conversation_settings(&id, config)).await?;
                let detail = format!(
                    "idle gap {} min, handoff cooldown {} min, history {} turns",
                    config.idle_gap_mins(),
                    config.handoff_cooldown_mins(),
                    config.max_history()
                );
                self.audit(AuditAction::ConversationPut, Some(&id), &detail)
                    .await?;
                Ok(json_ok(&json!({ "saved": true })))
            }
            ["tenants", tenant, "credits"] => {
                let id = tenant_id(tenant)?;
                let now = self.engine.clock().now();
                match method {
                    Method::GET => {
                        // An unknown tenant has no balance, not a zero one.
                        self.tenant(&id).await?;
                        let balance = store.balance(&id, now).await?;
                        Ok(json_ok(&json!({ "tenant": id, "balance": balance })))
                    }
                    Method::POST => {
                        let grant: GrantRequest = json_body(body)?;
                        let outcome = self
                            .engine
                            .grant_credits(
                                &id,
                                &grant.grant_id,
                                grant.amount,
                                grant.expires_at.map(Timestamp::from_millis),
                                grant.reason.as_deref().unwrap_or("operator grant"),
                            )
                            .await?;
                        if outcome == GrantOutcome::Granted {
                            let detail = grant_detail(
                                &grant.grant_id,
                                grant.amount,
                                grant.expires_at.map(Timestamp::from_millis),
                            );
                            self.audit(AuditAction::CreditsGrant, Some(&id), &detail)
                                .await?;
                        }
                        let balance = store.balance(&id, now).await?;
                        Ok(json_ok(&json!({ "outcome": outcome, "balance": balance })))
                    }
                    _ => allow("GET, POST"),
                }
            }
            #[cfg(not(feature = "knowledge"))]
            ["tenants", _, "knowledge", ..] => Err(ApiError::NotSupported(
                "the knowledge base is not on this deployment yet (the Cloudflare Worker has no \
                 room for the document parsers): run it on the server",
            )),
            #[cfg(feature = "knowledge")]
            ["tenants", tenant, "knowledge"] => {
                if method != Method::GET {
                    return allow("GET");
                }
                let id = tenant_id(tenant)?;
                let documents = self.engine.knowledge_documents(&id).await?;
                Ok(json_ok(&json!({ "documents": documents })))
            }
            #[cfg(feature = "knowledge")]
            ["tenants", tenant, "knowledge", "search"] => {
                if method != Method::GET {
                    return allow("GET");
                }
                let id = tenant_id(tenant)?;
                let (question, k) = search_query(req.uri().query())?;
                let hits = self.engine.search_knowledge(&id, &question, k).await?;
                Ok(json_ok(&json!({ "results": hits })))
            }
            #[cfg(feature = "knowledge")]
            ["tenants", tenant, "knowledge", source @ ..] => {
                let id = tenant_id(tenant)?;
                let source = document_source(source)?;
                match method {
                    Method::PUT => {
                        let outcome = self.engine.ingest_document(&id, &source, body).await?;
                        let (status, detail) = match &outcome {
                            crate::engine::IngestOutcome::Stored { chunks, .. } => {
                                (201, format!("{source}: {chunks} passages"))
                            }
                            crate::engine::IngestOutcome::Unchanged { .. } => {
                                (200, format!("{source}: unchanged"))
                            }
                        };
                        if status == 201 {
                            self.audit(AuditAction::KnowledgePut, Some(&id), &detail)
                                .await?;
                        }
                        Ok(json_response(status, &json!(outcome)))
                    }
                    Method::DELETE => {
                        if !self.engine.delete_document(&id, &source).await? {
                            return Err(ApiError::NotFound(format!("document {source}")));
                        }
                        self.audit(AuditAction::KnowledgeDelete, Some(&id), &source)
                            .await?;
                        Ok(empty(204))
                    }
                    _ => allow("PUT, DELETE"),
                }
            }
            ["tenants", tenant, "owners"] => {
                if method != Method::PUT {
                    return allow("PUT");
                }
                let id = tenant_id(tenant)?;
                let request: Credentials = json_body(body)?;
                self.put_owner(&id, request).await
            }
            ["tenants", tenant, "secrets", account] => {
                if method != Method::PUT {
                    return allow("PUT");
                }
                let id = tenant_id(tenant)?;
                let request: SecretRequest = json_body(body)?;
                let tenant = self.tenant(&id).await?;
                if !tenant
                    .channels
                    .accounts()
                    .iter()
                    .any(|a| a.index_key() == *account)
                {
                    return Err(ApiError::field(
                        "account",
                        "not one of the tenant's channel accounts",
                    ));
                }
                if request.token.trim().is_empty() {
                    return Err(ApiError::field("token", "must not be empty"));
                }
                self.host.put_secret(&id, account, &request.token).await?;
                // The account only: never the token.
                let detail = format!("token sealed for {account}");
                self.audit(AuditAction::SecretPut, Some(&id), &detail)
                    .await?;
                Ok(empty(204))
            }
            ["tenants", tenant, "conversations", conversation, "messages"] => {
                if method != Method::GET {
                    return allow("GET");
                }
                let id = tenant_id(tenant)?;
                let conversation = ConversationId::parse(conversation)
                    .map_err(|e| ApiError::field("conversation", e.to_string()))?;
                self.tenant(&id).await?;
                let rows = store.conversation_messages(&id, &conversation).await?;
                Ok(json_ok(&json!({ "messages": rows })))
            }
            ["tenants", tenant, "outbox"] => {
                if method != Method::GET {
                    return allow("GET");
                }
                let id = tenant_id(tenant)?;
                self.tenant(&id).await?;
                let rows = self.host.outbox(&id).await?;
                Ok(json_ok(&json!({ "outbox": rows })))
            }
            ["dead-letters"] => {
                if method != Method::GET {
                    return allow("GET");
                }
                let (tenant, limit) = dead_letter_query(req.uri().query())?;
                let jobs = self.host.dead_letters(tenant.as_deref(), limit).await?;
                Ok(json_ok(&json!({ "dead_letters": jobs })))
            }
            ["dead-letters", id, "retry"] => {
                if method != Method::POST {
                    return allow("POST");
                }
                if self.host.retry_dead_letter(id).await? {
                    self.host.work_queued().await;
                    let detail = format!("job {id} queued again");
                    self.audit(AuditAction::DeadLetterRetry, None, &detail)
                        .await?;
                    Ok(json_ok(&json!({ "retried": id })))
                } else {
                    Err(ApiError::NotFound(format!("dead letter {id}")))
                }
            }
            ["audit"] => {
                if method != Method::GET {
                    return allow("GET");
                }
                let query = audit_query(req.uri().query())?;
                let entries = store.list_audit(&query).await?;
                let full = entries.len() == usize::try_from(query.limit()).unwrap_or(usize::MAX);
                let next_before = entries.last().filter(|_| full).map(|r| r.seq);
                Ok(json_ok(
                    &json!({ "entries": entries, "next_before": next_before }),
                ))
            }
            ["operators"] => match method {
                Method::GET => {
                    let operators: Vec<_> = store
                        .list_operators()
                        .await?
                        .into_iter()
                        .map(|o| json!({ "email": o.email, "created_at": o.created_at }))
                        .collect();
                    Ok(json_ok(&json!({ "operators": operators })))
                }
                Method::PUT => self.put_operator(json_body(body)?).await,
                _ => allow("GET, PUT"),
            },
            ["operators", email] => {
                if method != Method::DELETE {
                    return allow("DELETE");
                }
                let email = percent_encoding::percent_decode_str(email).decode_utf8_lossy();
                let email = crate::accounts::normalize_email(&email);
                if !store.delete_operator(&email).await? {
                    return Err(ApiError::NotFound("operator".into()));
                }
                self.audit(AuditAction::OperatorDelete, None, &email)
                    .await?;
                Ok(empty(204))
            }
            ["pricing"] => match method {
                Method::GET => Ok(json_ok(
                    &json!({ "pricing": self.engine.price_list().await? }),
                )),
                Method::PUT => {
                    let request: PriceRequest = json_body(body)?;
                    let (currency, price) = parse_price_request(&request)?;
                    let change = self.set_price(actor::ADMIN_API, &currency, price).await?;
                    Ok(json_ok(&change))
                }
                _ => allow("GET, PUT"),
            },
            _ => Err(ApiError::NotFound("route".into())),
        }
    }

    /// Appends `action` to the audit log as the admin API.
    async fn audit(
        &self,
        action: AuditAction,
        tenant: Option<&TenantId>,
        detail: &str,
    ) -> Result<(), ApiError> {
        self.record(actor::ADMIN_API, action, tenant, detail).await
    }

    /// Appends a management action by `who` to the audit log, after the action succeeded. A
    /// failed append is a 500: the action stays applied, and the log line names what is
    /// missing from the audit log.
    pub(super) async fn record(
        &self,
        who: &str,
        action: AuditAction,
        tenant: Option<&TenantId>,
        detail: &str,
    ) -> Result<(), ApiError> {
        match self.engine.record_audit(who, action, tenant, detail).await {
            Ok(_) => Ok(()),
            Err(e) => Err(ApiError::Internal(format!(
                "{action} by {who} was applied but its audit entry was not recorded: {e}"
            ))),
        }
    }

    /// Sets a price and records it (actor `who`).
    pub(super) async fn set_price(
        &self,
        who: &str,
        currency: &Currency,
        price: Milli,
    ) -> Result<crate::engine::PriceChange, ApiError> {
        let change = self.engine.set_price(currency, price).await?;
        let detail = match change.previous {
            Some(previous) => format!("{currency}: {price} per AI reply (was {previous})"),
            None => format!("{currency}: {price} per AI reply (was not priced)"),
        };
        self.record(who, AuditAction::PricingSet, None, &detail)
            .await?;
        Ok(change)
    }

    /// `PUT /tenants/{tenant}/owners`: creates the owner `email` of the tenant (201), or sets
    /// a new password for the tenant's existing owner with that email (200; every session of
    /// that owner stops working). 422 with field errors for a bad email or a password outside
    /// the policy, 409 when the email belongs to another tenant's owner; nothing saved then.
    async fn put_owner(&self, id: &TenantId, request: Credentials) -> Result<Response, ApiError> {
        self.tenant(id).await?;
        let email = request.checked_email()?;
        let store = self.engine.store();
        let answer = |status: u16, owner_id: &str, created: bool| {
            json_response(
                status,
                &json!({
                    "owner": { "id": owner_id, "tenant": id, "email": email },
                    "created": created,
                }),
            )
        };
        match store.owner_by_email(&email).await? {
            Some(owner) if owner.tenant == *id => {
                let hash = super::web::auth::hash(self, &request.password)?;
                store.set_owner_password(&owner.id, &hash).await?;
                let detail = format!("owner {}: new password, sessions ended", owner.id);
                self.audit(AuditAction::OwnerPut, Some(id), &detail).await?;
                Ok(answer(200, &owner.id, false))
            }
            Some(_) => Err(ApiError::Conflict(
                "this email signs in to another tenant".into(),
            )),
            None => {
                let owner =
                    super::web::auth::new_owner(self, id, &email, &request.password).await?;
                let detail = format!("owner {} created", owner.id);
                self.audit(AuditAction::OwnerPut, Some(id), &detail).await?;
                Ok(answer(201, &owner.id, true))
            }
        }
    }

    /// `PUT /operators`: creates the operator account `email` (201), or sets a new password
    /// for it (200; every panel session of that operator stops working). 422 with field
    /// errors for a bad email or a password outside the policy; nothing saved then.
    async fn put_operator(&self, request: Credentials) -> Result<Response, ApiError> {
        let email = request.checked_email()?;
        let hash = super::web::auth::hash(self, &request.password)?;
        let now = self.engine.clock().now();
        let created = self.engine.store().put_operator(&email, &hash, now).await?;
        let detail = if created {
            format!("{email} created")
        } else {
            format!("{email}: new password, sessions ended")
        };
        self.audit(AuditAction::OperatorPut, None, &detail).await?;
        Ok(json_response(
            if created { 201 } else { 200 },
            &json!({ "operator": { "email": email }, "created": created }),
        ))
    }

    /// `PUT /tenants`: imports a TOML tenant file (creates or updates).
    async fn import_tenant(&self, body: &[u8]) -> Result<Response, ApiError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::BadRequest("the tenant file must be UTF-8 TOML".into()))?;
        let file = TenantFile::from_toml(text).map_err(|e| match e {
            TenantFileError::Syntax(m) => ApiError::BadRequest(m),
            TenantFileError::Invalid(errors) => ApiError::Invalid(errors),
        })?;
        let outcome = retry_conflicts(|| self.engine.import_tenant(file.clone())).await?;
        // Its accounts may have moved: ingress must route by the new ones at once.
        self.host.tenant_changed().await;
        let mut detail = format!(
            "{} (revision {})",
            if outcome.created {
                "created"
            } else {
                "updated"
            },
            outcome.revision
        );
        if outcome.credits_granted {
            detail.push_str(", starting credits granted");
        }
        if outcome.review_queued {
            detail.push_str(", persona review queued");
        }
        self.audit(AuditAction::TenantPut, Some(&file.id), &detail)
            .await?;
        Ok(json_ok(&outcome))
    }

    /// `GET /tenants/{tenant}`: the tenant file (TOML), with the persona's review status in
    /// `x-persona-status`.
    async fn export_tenant(&self, id: &TenantId) -> Result<Response, ApiError> {
        let tenant = self.tenant(id).await?;
        let toml = TenantFile::from_tenant(&tenant)
            .to_toml()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut response = typed_response(200, "application/toml; charset=utf-8", toml);
        response.headers_mut().insert(
            "x-persona-status",
            http::HeaderValue::from_static(safety_label(&tenant.persona.safety)),
        );
        Ok(response)
    }
}

/// The audit detail of a credit grant: its id, amount and expiry (no reason text: it is the
/// operator's free text, kept on the grant itself).
pub(super) fn grant_detail(grant_id: &str, amount: Milli, expires: Option<Timestamp>) -> String {
    match expires {
        Some(at) => format!(
            "grant {grant_id}: {amount} credits, expires {}",
            super::web::pages::fmt::When::of(at).text
        ),
        None => format!("grant {grant_id}: {amount} credits"),
    }
}

#[cfg(feature = "knowledge")]
/// A document's source from its path segments (`menus/dinner.md` is two), each
/// percent-decoded: no empty, `.` or `..` part.
fn document_source(segments: &[&str]) -> Result<String, ApiError> {
    let mut parts = Vec::with_capacity(segments.len());
    for segment in segments {
        let part = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        if part.is_empty() || part == "." || part == ".." || part.contains('/') {
            return Err(ApiError::field(
                "document",
                "a document name is a relative path without empty, `.` or `..` parts",
            ));
        }
        parts.push(part.into_owned());
    }
    Ok(parts.join("/"))
}

#[cfg(feature = "knowledge")]
/// `?q=QUESTION&k=N` of a knowledge search (k: 1 to 20, default 5).
fn search_query(query: Option<&str>) -> Result<(String, usize), ApiError> {
    let mut question = None;
    let mut k = 5;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "q" => question = Some(value.into_owned()),
            "k" => {
                k = value
                    .parse::<usize>()
                    .ok()
                    .filter(|k| (1..=20).contains(k))
                    .ok_or_else(|| ApiError::field("k", "a whole number from 1 to 20"))?;
            }
            _ => {}
        }
    }
    let question = question
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::field("q", "the question to search for"))?;
    if question.chars().count() > 1000 {
        return Err(ApiError::field("q", "at most 1000 characters"));
    }
    Ok((question, k))
}

/// `?tenant=&limit=&before=` of `GET /audit` (limit 1..=500, default 100; `before` the
/// `next_before` of the previous page).
fn audit_query(query: Option<&str>) -> Result<AuditQuery, ApiError> {
    let mut q = AuditQuery::latest(100);
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*key {
            "tenant" if !value.is_empty() => q.tenant = Some(tenant_id(&value)?),
            "limit" => {
                let limit = value
                    .parse::<u32>()
                    .map_err(|_| ApiError::field("limit", "must be a whole number"))?;
                q.limit = limit.clamp(1, MAX_AUDIT_PAGE);
            }
            "before" => {
                q.before = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| ApiError::field("before", "must be a whole number"))?,
                );
            }
            _ => {}
        }
    }
    Ok(q)
}

/// The currency and price of a `PUT /pricing`, or every field error.
fn parse_price_request(request: &PriceRequest) -> Result<(Currency, Milli), ApiError> {
    let currency = match &request.currency {
        serde_json::Value::String(code) => Currency::parse(code).ok(),
        _ => None,
    };
    let price = match &request.price {
        serde_json::Value::String(text) => Milli::parse(text).ok(),
        serde_json::Value::Number(n) => Milli::parse(&n.to_string()).ok(),
        _ => None,
    };
    let mut errors = Vec::new();
    if currency.is_none() {
        errors.push(FieldError::new("currency", CURRENCY_HINT));
    }
    match price {
        None => errors.push(FieldError::new("price", PRICE_HINT)),
        Some(p) if p <= Milli::ZERO => {
            errors.push(FieldError::new("price", "must be more than 0 credits"));
        }
        Some(_) => {}
    }
    match (currency, price, errors.is_empty()) {
        (Some(c), Some(p), true) => Ok((c, p)),
        _ => Err(ApiError::Invalid(errors)),
    }
}

/// The field error of a bad currency code.
pub(super) const CURRENCY_HINT: &str = "must be a three-letter ISO 4217 code in capitals, e.g. INR";
/// The field error of a price that is not a number of credits.
pub(super) const PRICE_HINT: &str = "must be a number of credits, e.g. 1 or 0.25";

/// `?tenant=&limit=` of `GET /dead-letters` (limit 1..=1000, default 100).
fn dead_letter_query(query: Option<&str>) -> Result<(Option<String>, i64), ApiError> {
    let mut tenant = None;
    let mut limit = 100;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*key {
            "tenant" => tenant = Some(tenant_id(&value)?.to_string()),
            "limit" => {
                limit = value
                    .parse::<i64>()
                    .map_err(|_| ApiError::field("limit", "must be a whole number"))?
                    .clamp(1, 1000);
            }
            _ => {}
        }
    }
    Ok((tenant, limit))
}
