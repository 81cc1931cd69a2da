//! What the front needs from its deploy target: the [`Host`] port. Everything else (routing,
//! verification, validation, rendering, status codes) is the front's; a host only does I/O.

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approval::DraftDecision;
use crate::channels::email::ParsedEmail;
use crate::channels::InboundMessage;
use crate::delivery::Receipt;
use crate::engine::{ApprovalOutcome, EngineError};
use crate::ids::TenantId;
use crate::ports::{AsyncTraitDeps, StoreResult};
use crate::time::{Span, Timestamp};

use super::ApiError;

/// A verified inbound email, for durable hand-off.
#[derive(Debug)]
pub struct AcceptedEmail {
    /// The envelope recipient, as given (`?to=` or `X-Envelope-To`).
    pub recipient: String,
    /// The raw RFC 5322 message.
    pub raw: Bytes,
    /// What the core parsed from it (sender, conversation key, idempotency id).
    pub parsed: ParsedEmail,
}

/// How long a dashboard sign-in lasts: 7 days from the login (the cookie's `Max-Age`, the
/// Worker's KV `expiration_ttl`).
pub const WEB_SESSION_TTL: Span = Span::days(7);

/// A signed-in owner's dashboard session, stored by the host under the SHA-256 of its id (the
/// raw id exists only in the owner's cookie).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSession {
    /// The owner.
    pub owner: String,
    /// The owner's tenant.
    pub tenant: TenantId,
    /// The owner's session epoch when the session was made: once the owner's epoch moved on
    /// ("log out everywhere", a new password) the session signs no one in.
    pub epoch: u64,
    /// The session's CSRF token (random; also in a readable cookie and in every form).
    pub csrf: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops working ([`WEB_SESSION_TTL`] after it was made).
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for WebSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The CSRF token stays out of every log line.
        f.debug_struct("WebSession")
            .field("owner", &self.owner)
            .field("tenant", &self.tenant)
            .field("epoch", &self.epoch)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The longest response body an outbound request reads ([`Host::fetch`]): token, profile and
/// key-set answers are a few KB; anything longer is refused, not buffered.
pub const MAX_FETCH_BYTES: usize = 1 << 20;

/// Why an outbound request ([`Host::fetch`]) got no response. The front answers every one of
/// them with a 502 and a message naming the upstream; the cause goes to the log only.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// This host makes no outbound requests (a test double without a fake upstream).
    #[error("outbound HTTP is not supported by this host")]
    Unsupported,
    /// The upstream did not answer in time, refused the connection, or the TLS handshake
    /// failed.
    #[error("outbound request failed: {0}")]
    Failed(String),
    /// The response body was longer than [`MAX_FETCH_BYTES`].
    #[error("outbound response longer than {MAX_FETCH_BYTES} bytes")]
    TooLarge,
}

/// A slot of the demo's concurrency cap, held while a demo turn runs; dropping it frees the
/// slot.
pub struct DemoSlot {
    _guard: Box<dyn std::any::Any + Send>,
}

impl DemoSlot {
    /// A slot whose release is dropping `guard` (e.g. a semaphore permit).
    pub fn new(guard: impl std::any::Any + Send) -> Self {
        DemoSlot {
            _guard: Box::new(guard),
        }
    }

    /// A slot with nothing to release (a target without a cap).
    pub fn unlimited() -> Self {
        DemoSlot {
            _guard: Box::new(()),
        }
    }
}

impl std::fmt::Debug for DemoSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoSlot")
    }
}

/// The deploy target's side of the front: durable hand-off of accepted work, and the few
/// operations whose storage differs per target. Every method that returns `Ok` for accepted
/// work promises the work is durable: the front acknowledges only then.
#[cfg_attr(target_family = "wasm", async_trait(?Send))]
#[cfg_attr(not(target_family = "wasm"), async_trait)]
pub trait Host: AsyncTraitDeps {
    /// Durably hands off verified customer messages (already stamped with their
    /// acknowledgement time) to the turn; a message whose idempotency key was seen is not
    /// handed off twice. Returns how many were new.
    async fn accept_messages(
        &self,
        messages: Vec<crate::channels::InboundMessage>,
    ) -> StoreResult<usize>;

    /// Durably hands off (or processes) one authenticated inbound email. Returns whether it
    /// was new.
    async fn accept_email(&self, email: AcceptedEmail) -> Result<bool, ApiError>;

    /// Stores the delivery receipt of a part Concierge sent (`key` names the part).
    async fn record_receipt(&self, key: String, receipt: Receipt) -> StoreResult<()>;

    /// Runs an approval decision where the draft's conversation runs its turns.
    async fn decide_approval(
        &self,
        tenant: TenantId,
        decision: DraftDecision,
    ) -> Result<ApprovalOutcome, EngineError>;

    /// Whether the database answers (`/healthz`).
    async fn ping(&self) -> StoreResult<()>;

    /// A tenant was imported or changed its accounts: drop routing caches, wake workers.
    async fn tenant_changed(&self) {}

    /// Work was queued that a worker should pick up now (a persona review).
    async fn work_queued(&self) {}

    /// Seals a channel token (AES-256-GCM with the deployment's `ENCRYPTION_KEY`) and stores it
    /// for `tenant`'s `account` (an index key such as `wa_phone:106540352242922`).
    async fn put_secret(
        &self,
        tenant: &TenantId,
        account: &str,
        token: &str,
    ) -> Result<(), ApiError>;

    /// The tenant's outbox rows, newest first (dry-run rows carry the message).
    async fn outbox(&self, tenant: &TenantId) -> Result<Vec<Value>, ApiError>;

    /// Jobs in the dead-letter state, optionally of one tenant, at most `limit`.
    async fn dead_letters(&self, tenant: Option<&str>, limit: i64) -> Result<Vec<Value>, ApiError>;

    /// Moves a dead letter back to the queue; `false` when there is no such dead letter.
    async fn retry_dead_letter(&self, id: &str) -> Result<bool, ApiError>;

    /// Prometheus text for `/metrics`, or `None` when this target has none (404).
    async fn metrics(&self) -> Option<String> {
        None
    }

    /// A slot under the demo's concurrency cap, or `None` when the demo is busy (503).
    async fn demo_slot(&self) -> Option<DemoSlot> {
        Some(DemoSlot::unlimited())
    }

    /// Fills `buf` from the deployment's CSPRNG (the OS on the server,
    /// `crypto.getRandomValues` on the Worker): session ids, CSRF tokens, password salts and
    /// owner ids. The core has no randomness of its own.
    ///
    /// # Errors
    /// [`ApiError::Internal`] when the random source fails (nothing is then made).
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), ApiError>;

    /// Stores a dashboard session under `id_hash` (hex SHA-256 of the session id) until its
    /// `expires_at` (server: a SQL row; Worker: KV `session:{id_hash}` with a TTL).
    async fn put_web_session(&self, id_hash: &str, session: &WebSession) -> Result<(), ApiError>;

    /// The live session stored under `id_hash`, or `None` (unknown, deleted or expired at
    /// `now`).
    async fn web_session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<WebSession>, ApiError>;

    /// Deletes the session under `id_hash` (logout); deleting a missing one is not an error.
    async fn delete_web_session(&self, id_hash: &str) -> Result<(), ApiError>;

    /// Sends one outbound HTTPS request the front makes itself (the OAuth code exchange and
    /// profile lookup of an owner's Google or Facebook sign-in) and returns the response,
    /// whatever its status, with a body of at most [`MAX_FETCH_BYTES`]. Server: its HTTP
    /// client with a 10 s timeout; Worker: the Fetch API. Redirects are not followed.
    ///
    /// # Errors
    /// [`FetchError`] when no response arrived.
    async fn fetch(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, FetchError>;

    /// Whether `signature` is `key`'s RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256) of
    /// `message`: the one cryptographic step of a Cloudflare Access token the core leaves to
    /// the host. The default is the pure-Rust `rsa` crate (feature `rsa-verify`); the Worker
    /// answers with WebCrypto, so the crate stays out of its bundle.
    ///
    /// # Errors
    /// [`ApiError::NotSupported`] when this build has no RS256 verifier;
    /// [`ApiError::Internal`] when the platform's verifier fails.
    async fn verify_rs256(
        &self,
        key: &super::RsaKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, ApiError> {
        #[cfg(feature = "rsa-verify")]
        {
            Ok(super::verify_rs256(key, message, signature))
        }
        #[cfg(not(feature = "rsa-verify"))]
        {
            let _ = (key, message, signature);
            Err(ApiError::NotSupported(
                "RS256 verification: build concierge-core with the rsa-verify feature",
            ))
        }
    }
}

/// The marker every [`InboundMessage`] handed to [`Host::accept_messages`] carries.
pub(crate) fn stamp(messages: &mut [InboundMessage], now: crate::Timestamp) {
    for message in messages {
        // The reply buffer's window runs from acknowledgement, however long the work waits.
        message.acked_at = Some(now);
    }
}
