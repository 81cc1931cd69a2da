//! [`MemoryHost`]: the front's [`Host`] port in memory, for tests of the HTTP surface without a
//! server: accepted messages run their turn at once through the engine, so a test posts a
//! signed webhook to [`Front::handle`](crate::front::Front::handle) and reads the reply from
//! [`RecordingOutbound`](super::RecordingOutbound).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::Value;

use crate::approval::DraftDecision;
use crate::channels::InboundMessage;
use crate::delivery::Receipt;
use crate::engine::{ApprovalOutcome, EngineError};
use crate::front::{AcceptedEmail, ApiError, FetchError, Host, WebSession};
use crate::ids::TenantId;
use crate::ports::{StoreError, StoreResult};
use crate::time::Timestamp;
use crate::Engine;

/// A fake upstream for [`Host::fetch`]: answers each outbound request in memory (a test
/// plays Google's or Facebook's OAuth endpoints with one).
pub type FakeUpstream = Arc<dyn Fn(&http::Request<Bytes>) -> http::Response<Bytes> + Send + Sync>;

/// The front's host in memory: inline turns, recorded receipts and secrets.
pub struct MemoryHost {
    engine: Engine,
    seen: Mutex<HashSet<String>>,
    receipts: Mutex<BTreeMap<String, Receipt>>,
    secrets: Mutex<BTreeMap<(String, String), String>>,
    web_sessions: Mutex<BTreeMap<String, WebSession>>,
    rng: Mutex<u64>,
    upstream: Option<FakeUpstream>,
    fetched: Mutex<Vec<Fetched>>,
}

/// An outbound request [`MemoryHost`] made, as a test reads it back.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The method.
    pub method: http::Method,
    /// The full URL.
    pub uri: String,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl std::fmt::Debug for MemoryHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryHost")
            .field("upstream", &self.upstream.is_some())
            .finish_non_exhaustive()
    }
}

/// The seed of [`MemoryHost::new`]'s random bytes.
const DEFAULT_SEED: u64 = 0x00c0_ffee_5eed;

impl MemoryHost {
    /// A host whose accepted work runs on `engine`.
    pub fn new(engine: Engine) -> Self {
        MemoryHost::with_seed(engine, DEFAULT_SEED)
    }

    /// A host whose "random" bytes (session ids, CSRF tokens, salts) are a deterministic
    /// sequence from `seed` (SplitMix64): the same test makes the same ids every run. Not a
    /// CSPRNG: a test double.
    pub fn with_seed(engine: Engine, seed: u64) -> Self {
        MemoryHost {
            engine,
            seen: Mutex::default(),
            receipts: Mutex::default(),
            secrets: Mutex::default(),
            web_sessions: Mutex::default(),
            rng: Mutex::new(seed),
            upstream: None,
            fetched: Mutex::default(),
        }
    }

    /// This host with `upstream` answering its outbound requests ([`Host::fetch`]); without
    /// one, every fetch fails with [`FetchError::Unsupported`].
    pub fn with_upstream(mut self, upstream: FakeUpstream) -> Self {
        self.upstream = Some(upstream);
        self
    }

    /// The outbound requests made so far, in order.
    pub fn fetched(&self) -> Vec<Fetched> {
        lock(&self.fetched).clone()
    }

    /// The dashboard sessions stored so far, by the key they are stored under (the hex
    /// SHA-256 of the session id).
    pub fn web_sessions(&self) -> BTreeMap<String, WebSession> {
        lock(&self.web_sessions).clone()
    }

    /// The receipts stored so far, by the part they name.
    pub fn receipts(&self) -> BTreeMap<String, Receipt> {
        lock(&self.receipts).clone()
    }

    /// The token stored for `tenant`'s `account` (unsealed: this is a test double).
    pub fn secret(&self, tenant: &str, account: &str) -> Option<String> {
        lock(&self.secrets)
            .get(&(tenant.to_owned(), account.to_owned()))
            .cloned()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
impl Host for MemoryHost {
    async fn accept_messages(&self, messages: Vec<InboundMessage>) -> StoreResult<usize> {
        let mut new = 0;
        for message in messages {
            if !lock(&self.seen).insert(message.idempotency_key()) {
                continue;
            }
            new += 1;
            self.engine
                .handle_inbound(message)
                .await
                .map_err(|e| StoreError::backend(e.to_string()))?;
        }
        Ok(new)
    }

    async fn accept_email(&self, email: AcceptedEmail) -> Result<bool, ApiError> {
        self.engine
            .handle_email(&email.raw, &email.recipient)
            .await
            .map_err(ApiError::from)?;
        Ok(true)
    }

    async fn record_receipt(&self, key: String, receipt: Receipt) -> StoreResult<()> {
        lock(&self.receipts).insert(key, receipt);
        Ok(())
    }

    async fn decide_approval(
        &self,
        tenant: TenantId,
        decision: DraftDecision,
    ) -> Result<ApprovalOutcome, EngineError> {
        self.engine
            .decide_approval(&tenant, &decision.draft_id, decision.decision)
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn put_secret(
        &self,
        tenant: &TenantId,
        account: &str,
        token: &str,
    ) -> Result<(), ApiError> {
        lock(&self.secrets).insert((tenant.to_string(), account.to_owned()), token.to_owned());
        Ok(())
    }

    async fn outbox(&self, _tenant: &TenantId) -> Result<Vec<Value>, ApiError> {
        Ok(Vec::new())
    }

    async fn dead_letters(
        &self,
        _tenant: Option<&str>,
        _limit: i64,
    ) -> Result<Vec<Value>, ApiError> {
        Ok(Vec::new())
    }

    async fn retry_dead_letter(&self, _id: &str) -> Result<bool, ApiError> {
        Ok(false)
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), ApiError> {
        let mut state = lock(&self.rng);
        for chunk in buf.chunks_mut(8) {
            // SplitMix64.
            *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
        Ok(())
    }

    async fn put_web_session(&self, id_hash: &str, session: &WebSession) -> Result<(), ApiError> {
        lock(&self.web_sessions).insert(id_hash.to_owned(), session.clone());
        Ok(())
    }

    async fn web_session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<WebSession>, ApiError> {
        Ok(lock(&self.web_sessions)
            .get(id_hash)
            .filter(|s| s.expires_at > now)
            .cloned())
    }

    async fn delete_web_session(&self, id_hash: &str) -> Result<(), ApiError> {
        lock(&self.web_sessions).remove(id_hash);
        Ok(())
    }

    async fn fetch(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, FetchError> {
        let upstream = self.upstream.as_ref().ok_or(FetchError::Unsupported)?;
        let response = upstream(&request);
        lock(&self.fetched).push(Fetched {
            method: request.method().clone(),
            uri: request.uri().to_string(),
            headers: request.headers().clone(),
            body: request.body().clone(),
        });
        if response.body().len() > crate::front::MAX_FETCH_BYTES {
            return Err(FetchError::TooLarge);
        }
        Ok(response)
    }
}
