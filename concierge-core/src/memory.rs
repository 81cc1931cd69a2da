//! An in-memory implementation of every storage port.
//!
//! Always compiled: embedders use it for prototypes and single-process bots, and test authors
//! use it with the harness. Each port's atomic section is one mutex, so it keeps the same
//! promises as the SQL stores (it passes the same contract tests). Data is lost when the
//! process exits.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::accounts::{Operator, Owner};
use crate::approval::Draft;
use crate::audit::{AuditEntry, AuditQuery, AuditRecord};
use crate::billing::{
    check_price, DebitOutcome, Grant, GrantOutcome, LedgerBook, LedgerHistory, RefundOutcome,
};
use crate::catalog::CatalogPersona;
use crate::conversation::Session;
use crate::email::{normalize_alias, ReverseAlias};
use crate::ids::{ChannelAccount, ConversationId, ConversationKey, Currency, Milli, TenantId};
use crate::knowledge::{StoredChunk, StoredDocument};
use crate::ports::{
    AliasStore, AuditLog, ConversationSummary, Direction, DraftStore, IdempotencyStore, Job,
    JobQueue, KnowledgeStore, Ledger, LoginFailures, MessageLog, MessageRecord, OperatorStore,
    OwnerStore, PersonaCatalog, PricingStore, SessionStore, StoreError, StoreResult, StoredPrice,
    TenantStore,
};
use crate::tenant::Tenant;
use crate::time::{Span, Timestamp};

#[derive(Debug, Default)]
struct State {
    tenants: BTreeMap<TenantId, Tenant>,
    index: BTreeMap<ChannelAccount, TenantId>,
    sessions: BTreeMap<ConversationKey, Session>,
    books: BTreeMap<TenantId, LedgerBook>,
    seen: BTreeMap<String, Timestamp>,
    messages: Vec<MessageRecord>,
    message_index: BTreeMap<(TenantId, Direction, String), usize>,
    jobs: BTreeMap<String, (Timestamp, Job)>,
    drafts: BTreeMap<(TenantId, String), Draft>,
    aliases: BTreeMap<(TenantId, String), ReverseAlias>,
    owners: BTreeMap<String, Owner>,
    operators: BTreeMap<String, Operator>,
    owner_emails: BTreeMap<String, String>,
    login_failures: BTreeMap<String, LoginFailures>,
    audit: Vec<AuditRecord>,
    prices: BTreeMap<Currency, StoredPrice>,
    catalog: BTreeMap<String, CatalogPersona>,
    /// Per tenant: its documents with their passages, by source, and its revision.
    knowledge: BTreeMap<TenantId, TenantKnowledge>,
}

/// One tenant's knowledge base in memory.
#[derive(Debug, Default)]
struct TenantKnowledge {
    documents: BTreeMap<String, (StoredDocument, Vec<StoredChunk>)>,
    revision: u64,
}

/// Every storage port, in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Removes and returns the jobs due at `now`, earliest first.
    pub fn take_due_jobs(&self, now: Timestamp) -> Vec<Job> {
        let mut state = self.lock();
        let mut due: Vec<(Timestamp, String)> = state
            .jobs
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(k, (at, _))| (*at, k.clone()))
            .collect();
        due.sort();
        due.into_iter()
            .filter_map(|(_, k)| state.jobs.remove(&k).map(|(_, job)| job))
            .collect()
    }

    /// The earliest pending job's run time.
    pub fn next_job_at(&self) -> Option<Timestamp> {
        self.lock().jobs.values().map(|(at, _)| *at).min()
    }

    /// Pending jobs with their run times, earliest first.
    pub fn pending_jobs(&self) -> Vec<(Timestamp, Job)> {
        let mut jobs: Vec<_> = self.lock().jobs.values().cloned().collect();
        jobs.sort_by_key(|(at, _)| *at);
        jobs
    }

    /// Every logged message row, in order.
    pub fn message_log(&self) -> Vec<MessageRecord> {
        self.lock().messages.clone()
    }
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl TenantStore for MemoryStore {
    async fn get_tenant(&self, id: &TenantId) -> StoreResult<Option<Tenant>> {
        Ok(self.lock().tenants.get(id).cloned())
    }

    async fn find_tenant(&self, account: &ChannelAccount) -> StoreResult<Option<TenantId>> {
        Ok(self.lock().index.get(account).cloned())
    }

    async fn put_tenant(
        &self,
        tenant: &Tenant,
        expected_revision: Option<u64>,
    ) -> StoreResult<u64> {
        let mut state = self.lock();
        let current = state.tenants.get(&tenant.id).map(|t| t.revision);
        if current != expected_revision {
            return Err(StoreError::Conflict(format!("tenant {}", tenant.id)));
        }
        let accounts = tenant.channels.accounts();
        for account in &accounts {
            if let Some(owner) = state.index.get(account) {
                if owner != &tenant.id {
                    return Err(StoreError::Conflict(format!(
                        "{} belongs to another tenant",
                        account.index_key()
                    )));
                }
            }
        }
        state.index.retain(|_, owner| owner != &tenant.id);
        for account in accounts {
            state.index.insert(account, tenant.id.clone());
        }
        let revision = current.unwrap_or(0) + 1;
        let mut stored = tenant.clone();
        stored.revision = revision;
        state.tenants.insert(tenant.id.clone(), stored);
        Ok(revision)
    }

    async fn list_tenants(&self) -> StoreResult<Vec<TenantId>> {
        Ok(self.lock().tenants.keys().cloned().collect())
    }
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl SessionStore for MemoryStore {
    async fn load_session(&self, key: &ConversationKey) -> StoreResult<Option<Session>> {
        Ok(self.lock().sessions.get(key).cloned())
    }

    async fn save_session(&self, key: &ConversationKey, session: &Session) -> StoreResult<()> {
        self.lock().sessions.insert(key.clone(), session.clone());
        Ok(())
    }
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl Ledger for MemoryStore {
    async fn balance(&self, tenant: &TenantId, now: Timestamp) -> StoreResult<Milli> {
        Ok(self
            .lock()
            .books
            .get(tenant)
            .map_or(Milli::ZERO, |b| b.balance(now)))
    }

    async fn try_debit(
        &self,
        tenant: &TenantId,
        key: &str,
        amount: Milli,
        now: Timestamp,
    ) -> StoreResult<DebitOutcome> {
        // The plan is the core's (`billing::plan_debit`); the lock makes applying it atomic.
        let mut state = self.lock();
        let book = state.books.entry(tenant.clone()).or_default();
        book.try_debit(key, amount, now)
            .map_err(|e| StoreError::Corrupt {
                key: key.to_owned(),
                reason: e.to_string(),
            })
    }

    async fn refund(
        &self,
        tenant: &TenantId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<RefundOutcome> {
        let mut state = self.lock();
        Ok(state
            .books
            .get_mut(tenant)
            .map_or(RefundOutcome::UnknownKey, |b| b.refund(key, now)))
    }

    async fn grant(&self, tenant: &TenantId, grant: Grant) -> StoreResult<GrantOutcome> {
        // `LedgerBook::grant` validates with `Grant::validate`, as every store does.
        let key = grant.id.clone();
        let mut state = self.lock();
        state
            .books
            .entry(tenant.clone())
            .or_default()
            .grant(grant)
            .map_err(|e| StoreError::Corrupt {
                key,
                reason: e.to_string(),
            })
    }

    async fn ledger_history(
        &self,
        tenant: &TenantId,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<LedgerHistory> {
        Ok(self
            .lock()
            .books
            .get(tenant)
            .map(|b| b.history(now, limit))
            .unwrap_or_default())
    }
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl IdempotencyStore for MemoryStore {
    async fn first_seen(&self, key: &str, now: Timestamp, ttl: Span) -> StoreResult<bool> {
        let mut state = self.lock();
        if state.seen.get(key).is_some_and(|expires| *expires > now) {
            return Ok(false);
        }
        state.seen.insert(key.to_owned(), now + ttl);
        // Expired keys are dropped in bulk now and then, keeping each call O(log n).
        if state.seen.len().is_power_of_two() {
            state.seen.retain(|_, expires| *expires > now);
        }
        Ok(true)
    }

    async fn forget(&self, key: &str) -> StoreResult<()> {
        self.lock().seen.remove(key);
        Ok(())
    }
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl MessageLog for MemoryStore {
    async fn record_message(&self, record: &MessageRecord) -> StoreResult<()> {
        let mut state = self.lock();
        let key = (
            record.tenant.clone(),
            record.direction,
            record.message_id.clone(),
        );
        match state.message_index.get(&key).copied() {
            Some(i) => {
                let row = &mut state.messages[i];
                row.action_taken.clone_from(&record.action_taken);
                if record.conversation_id.is_some() {
                    row.conversation_id.clone_from(&record.conversation_id);
                }
            }
            None => {
                let i = state.messages.len();
                state.messages.push(record.clone());
                state.message_index.insert(key, i);
            }
        }
        Ok(())
    }

    async fn conversation_messages(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> StoreResult<Vec<MessageRecord>> {
        let state = self.lock();
        let mut rows: Vec<MessageRecord> = state
            .messages
            .iter()
            .filter(|m| &m.tenant == tenant && m.conversation_id.as_ref() == Some(conversation))
            .cloned()
            .collect();
        rows.sort_by_key(|m| m.at);
        Ok(rows)
    }

    async fn recent_conversations(
        &self,
        tenant: &TenantId,
        limit: u32,
    ) -> StoreResult<Vec<ConversationSummary>> {
        let state = self.lock();
        Ok(summarize(
            state.messages.iter().filter(|m| &m.tenant == tenant),
            limit,
        ))
    }
}

/// The latest-first summaries of the conversations among `rows` (all of one tenant), as
/// [`MessageLog::recent_conversations`] defines them.
fn summarize<'a>(
    rows: impl Iterator<Item = &'a MessageRecord>,
    limit: u32,
) -> Vec<ConversationSummary> {
    let mut by_conversation: BTreeMap<&ConversationId, (ConversationSummary, &MessageRecord)> =
        BTreeMap::new();
    let latest_key = |m: &MessageRecord| (m.at, m.direction, m.message_id.clone());
    for row in rows {
        let Some(id) = row.conversation_id.as_ref() else {
            continue;
        };
        let entry = by_conversation.entry(id).or_insert_with(|| {
            (
                ConversationSummary {
                    conversation_id: id.clone(),
                    channel: row.channel,
                    customer: String::new(),
                    messages: 0,
                    first_at: row.at,
                    last_at: row.at,
                    last_action: String::new(),
                },
                row,
            )
        });
        entry.0.messages += 1;
        entry.0.first_at = entry.0.first_at.min(row.at);
        entry.0.last_at = entry.0.last_at.max(row.at);
        if latest_key(row) > latest_key(entry.1) {
            entry.1 = row;
        }
    }
    let mut summaries: Vec<ConversationSummary> = by_conversation
        .into_values()
        .map(|(mut summary, latest)| {
            summary.channel = latest.channel;
            summary.customer = ConversationSummary::customer_of(latest).to_owned();
            summary.last_action.clone_from(&latest.action_taken);
            summary
        })
        .collect();
    summaries.sort_by(|a, b| (b.last_at, &b.conversation_id).cmp(&(a.last_at, &a.conversation_id)));
    summaries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    summaries
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl JobQueue for MemoryStore {
    async fn schedule(&self, job: &Job, run_at: Timestamp) -> StoreResult<()> {
        self.lock()
            .jobs
            .insert(job.dedupe_key(), (run_at, job.clone()));
        Ok(())
    }
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl DraftStore for MemoryStore {
    async fn put_draft(&self, tenant: &TenantId, draft: &Draft) -> StoreResult<()> {
        self.lock()
            .drafts
            .insert((tenant.clone(), draft.id.clone()), draft.clone());
        Ok(())
    }

    async fn take_draft(
        &self,
        tenant: &TenantId,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<Draft>> {
        let mut state = self.lock();
        let draft = state.drafts.remove(&(tenant.clone(), id.to_owned()));
        Ok(draft.filter(|d| d.expires_at() > now))
    }

    async fn list_drafts(&self, tenant: &TenantId, now: Timestamp) -> StoreResult<Vec<Draft>> {
        let mut state = self.lock();
        state.drafts.retain(|_, d| d.expires_at() > now);
        let mut drafts: Vec<Draft> = state
            .drafts
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, d)| d.clone())
            .collect();
        drafts.sort_by_key(|d| d.created_at);
        Ok(drafts)
    }
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl AliasStore for MemoryStore {
    async fn put_alias(&self, tenant: &TenantId, alias: &ReverseAlias) -> StoreResult<()> {
        self.lock().aliases.insert(
            (tenant.clone(), normalize_alias(&alias.alias)),
            alias.clone(),
        );
        Ok(())
    }

    async fn get_alias(
        &self,
        tenant: &TenantId,
        alias: &str,
        now: Timestamp,
    ) -> StoreResult<Option<ReverseAlias>> {
        let mut state = self.lock();
        state
            .aliases
            .retain(|_, a| a.is_live(now) || a.created_at > now);
        Ok(state
            .aliases
            .get(&(tenant.clone(), normalize_alias(alias)))
            .filter(|a| a.is_live(now))
            .cloned())
    }
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl OperatorStore for MemoryStore {
    async fn put_operator(
        &self,
        email: &str,
        password_hash: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut state = self.lock();
        if let Some(operator) = state.operators.get_mut(email) {
            operator.password_hash = password_hash.to_owned();
            operator.session_epoch += 1;
            return Ok(false);
        }
        state.operators.insert(
            email.to_owned(),
            Operator {
                email: email.to_owned(),
                password_hash: password_hash.to_owned(),
                session_epoch: 0,
                created_at: now,
            },
        );
        Ok(true)
    }

    async fn operator(&self, email: &str) -> StoreResult<Option<Operator>> {
        Ok(self.lock().operators.get(email).cloned())
    }

    async fn list_operators(&self) -> StoreResult<Vec<Operator>> {
        Ok(self.lock().operators.values().cloned().collect())
    }

    async fn delete_operator(&self, email: &str) -> StoreResult<bool> {
        Ok(self.lock().operators.remove(email).is_some())
    }

    async fn bump_operator_epoch(&self, email: &str) -> StoreResult<u64> {
        let mut state = self.lock();
        let operator = state
            .operators
            .get_mut(email)
            .ok_or_else(|| StoreError::NotFound("operator".into()))?;
        operator.session_epoch += 1;
        Ok(operator.session_epoch)
    }
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl OwnerStore for MemoryStore {
    async fn create_owner(&self, owner: &Owner) -> StoreResult<()> {
        let mut state = self.lock();
        if state.owner_emails.contains_key(&owner.email) || state.owners.contains_key(&owner.id) {
            return Err(StoreError::Conflict("owner email".into()));
        }
        state
            .owner_emails
            .insert(owner.email.clone(), owner.id.clone());
        state.owners.insert(owner.id.clone(), owner.clone());
        Ok(())
    }

    async fn owner_by_email(&self, email: &str) -> StoreResult<Option<Owner>> {
        let state = self.lock();
        Ok(state
            .owner_emails
            .get(email)
            .and_then(|id| state.owners.get(id))
            .cloned())
    }

    async fn owner_by_id(&self, id: &str) -> StoreResult<Option<Owner>> {
        Ok(self.lock().owners.get(id).cloned())
    }

    async fn set_owner_password(&self, id: &str, password_hash: &str) -> StoreResult<u64> {
        let mut state = self.lock();
        let owner = state
            .owners
            .get_mut(id)
            .ok_or_else(|| StoreError::NotFound(format!("owner {id}")))?;
        owner.password_hash = password_hash.to_owned();
        owner.session_epoch += 1;
        Ok(owner.session_epoch)
    }

    async fn bump_session_epoch(&self, id: &str) -> StoreResult<u64> {
        let mut state = self.lock();
        let owner = state
            .owners
            .get_mut(id)
            .ok_or_else(|| StoreError::NotFound(format!("owner {id}")))?;
        owner.session_epoch += 1;
        Ok(owner.session_epoch)
    }

    async fn login_failures(
        &self,
        key: &str,
        now: Timestamp,
        window: Span,
    ) -> StoreResult<LoginFailures> {
        let state = self.lock();
        Ok(match state.login_failures.get(key) {
            Some(f) if f.window_start + window > now => *f,
            _ => LoginFailures {
                count: 0,
                window_start: now,
            },
        })
    }

    async fn record_login_failure(
        &self,
        key: &str,
        now: Timestamp,
        window: Span,
    ) -> StoreResult<LoginFailures> {
        let mut state = self.lock();
        // Closed windows are dropped now and then, keeping the map bounded.
        if state.login_failures.len().is_power_of_two() {
            state
                .login_failures
                .retain(|_, f| f.window_start + window > now);
        }
        let entry = state
            .login_failures
            .entry(key.to_owned())
            .or_insert(LoginFailures {
                count: 0,
                window_start: now,
            });
        if entry.window_start + window <= now {
            *entry = LoginFailures {
                count: 0,
                window_start: now,
            };
        }
        entry.count = entry.count.saturating_add(1);
        Ok(*entry)
    }

    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        self.lock().login_failures.remove(key);
        Ok(())
    }
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl AuditLog for MemoryStore {
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<u64> {
        let mut state = self.lock();
        let seq = state.audit.last().map_or(1, |r| r.seq + 1);
        state.audit.push(AuditRecord {
            seq,
            entry: entry.clone(),
        });
        Ok(seq)
    }

    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let limit = usize::try_from(query.limit()).unwrap_or(usize::MAX);
        Ok(self
            .lock()
            .audit
            .iter()
            .rev()
            .filter(|r| query.matches(r))
            .take(limit)
            .cloned()
            .collect())
    }
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl PricingStore for MemoryStore {
    async fn stored_price(&self, currency: &Currency) -> StoreResult<Option<StoredPrice>> {
        Ok(self.lock().prices.get(currency).cloned())
    }

    async fn stored_prices(&self) -> StoreResult<Vec<StoredPrice>> {
        Ok(self.lock().prices.values().cloned().collect())
    }

    async fn put_price(&self, price: &StoredPrice) -> StoreResult<()> {
        check_price(price.per_ai_reply).map_err(|e| StoreError::Corrupt {
            key: format!("pricing:{}", price.currency),
            reason: e.to_string(),
        })?;
        self.lock()
            .prices
            .insert(price.currency.clone(), price.clone());
        Ok(())
    }
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl PersonaCatalog for MemoryStore {
    async fn list_catalog(&self) -> StoreResult<Vec<CatalogPersona>> {
        Ok(self.lock().catalog.values().cloned().collect())
    }

    async fn get_catalog_persona(&self, slug: &str) -> StoreResult<Option<CatalogPersona>> {
        Ok(self.lock().catalog.get(slug).cloned())
    }

    async fn put_catalog_persona(
        &self,
        entry: &CatalogPersona,
        expected_revision: Option<u64>,
    ) -> StoreResult<u64> {
        let mut state = self.lock();
        let current = state.catalog.get(&entry.slug).map(|p| p.revision);
        if current != expected_revision {
            return Err(StoreError::Conflict(format!(
                "catalog persona {}",
                entry.slug
            )));
        }
        let revision = current.unwrap_or(0) + 1;
        let mut stored = entry.clone();
        stored.revision = revision;
        state.catalog.insert(entry.slug.clone(), stored);
        Ok(revision)
    }

    async fn delete_catalog_persona(&self, slug: &str) -> StoreResult<bool> {
        Ok(self.lock().catalog.remove(slug).is_some())
    }
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl KnowledgeStore for MemoryStore {
    async fn put_document(
        &self,
        tenant: &TenantId,
        document: &StoredDocument,
        chunks: &[StoredChunk],
    ) -> StoreResult<u64> {
        let mut state = self.lock();
        let kb = state.knowledge.entry(tenant.clone()).or_default();
        kb.documents
            .insert(document.source.clone(), (document.clone(), chunks.to_vec()));
        kb.revision += 1;
        Ok(kb.revision)
    }

    async fn knowledge_documents(&self, tenant: &TenantId) -> StoreResult<Vec<StoredDocument>> {
        Ok(self
            .lock()
            .knowledge
            .get(tenant)
            .map_or_else(Vec::new, |kb| {
                kb.documents.values().map(|(d, _)| d.clone()).collect()
            }))
    }

    async fn delete_document(&self, tenant: &TenantId, source: &str) -> StoreResult<bool> {
        let mut state = self.lock();
        let Some(kb) = state.knowledge.get_mut(tenant) else {
            return Ok(false);
        };
        let existed = kb.documents.remove(source).is_some();
        if existed {
            kb.revision += 1;
        }
        Ok(existed)
    }

    async fn knowledge_chunks(&self, tenant: &TenantId) -> StoreResult<Vec<StoredChunk>> {
        Ok(self
            .lock()
            .knowledge
            .get(tenant)
            .map_or_else(Vec::new, |kb| {
                kb.documents
                    .values()
                    .flat_map(|(_, chunks)| chunks.iter().cloned())
                    .collect()
            }))
    }

    async fn knowledge_revision(&self, tenant: &TenantId) -> StoreResult<u64> {
        Ok(self
            .lock()
            .knowledge
            .get(tenant)
            .map_or(0, |kb| kb.revision))
    }
}
