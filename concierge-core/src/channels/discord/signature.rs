//! Ed25519 request signatures (`X-Signature-Ed25519` over `X-Signature-Timestamp` + body).

use ed25519_dalek::{Signature, VerifyingKey, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH};

use crate::channels::{check_size, ChannelError};
use crate::time::{Span, Timestamp};

/// The header carrying the hex Ed25519 signature.
pub const SIGNATURE_HEADER: &str = "X-Signature-Ed25519";
/// The header carrying the signed Unix timestamp (seconds).
pub const TIMESTAMP_HEADER: &str = "X-Signature-Timestamp";

/// How far a signed timestamp may be from `now`, either way, before the request is refused as a
/// replay.
pub const REPLAY_WINDOW: Span = Span::minutes(5);

/// The application's public key (the "Public Key" on the developer portal), parsed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscordPublicKey(VerifyingKey);

/// The configured Discord public key is not 64 hex characters encoding a valid Ed25519 point:
/// a configuration error, reported at startup rather than per request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the Discord public key must be 64 hex characters (the developer portal's Public Key)")]
pub struct InvalidPublicKey;

impl DiscordPublicKey {
    /// Parses the hex public key from the developer portal.
    ///
    /// # Errors
    /// [`InvalidPublicKey`] if it is not 32 hex-encoded bytes of a valid curve point.
    pub fn parse(hex_key: &str) -> Result<Self, InvalidPublicKey> {
        let mut bytes = [0u8; PUBLIC_KEY_LENGTH];
        hex::decode_to_slice(hex_key.trim(), &mut bytes).map_err(|_| InvalidPublicKey)?;
        VerifyingKey::from_bytes(&bytes)
            .map(DiscordPublicKey)
            .map_err(|_| InvalidPublicKey)
    }
}

/// Verifies a request to `/discord/interactions` or `/discord/events`.
///
/// Checks, in order: the body size, that both headers are present, the Ed25519 signature
/// (`verify_strict`) over the timestamp header's bytes followed by the body, and finally that
/// the timestamp is within [`REPLAY_WINDOW`] of `now`. A bad public key fails closed as
/// [`ChannelError::BadSignature`]; validate it at startup with [`DiscordPublicKey::parse`] and
/// call [`verify_request_with_key`] to tell the two apart.
///
/// # Errors
/// - [`ChannelError::TooLarge`] for a body over the limit;
/// - [`ChannelError::MissingSignature`] naming the absent header;
/// - [`ChannelError::BadSignature`] for a signature that is not 128 hex characters, a timestamp
///   that is not an integer, a signature that does not match, or an unusable public key;
/// - [`ChannelError::StaleTimestamp`] for a genuine signature on an old (or future) timestamp.
pub fn verify_request(
    public_key_hex: &str,
    signature_hex: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<(), ChannelError> {
    let key = match DiscordPublicKey::parse(public_key_hex) {
        Ok(key) => key,
        Err(_) => {
            tracing::error!("configured Discord public key is invalid; refusing the request");
            // Still report size and header problems precisely.
            check_size(body)?;
            signature_hex.ok_or(ChannelError::MissingSignature(SIGNATURE_HEADER))?;
            timestamp.ok_or(ChannelError::MissingSignature(TIMESTAMP_HEADER))?;
            return Err(ChannelError::BadSignature);
        }
    };
    verify_request_with_key(&key, signature_hex, timestamp, body, now)
}

/// [`verify_request`] with a key parsed beforehand.
///
/// # Errors
/// As [`verify_request`].
pub fn verify_request_with_key(
    key: &DiscordPublicKey,
    signature_hex: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<(), ChannelError> {
    check_size(body)?;
    let signature_hex = signature_hex.ok_or(ChannelError::MissingSignature(SIGNATURE_HEADER))?;
    let timestamp = timestamp.ok_or(ChannelError::MissingSignature(TIMESTAMP_HEADER))?;

    let mut sig = [0u8; SIGNATURE_LENGTH];
    hex::decode_to_slice(signature_hex.trim(), &mut sig).map_err(|_| ChannelError::BadSignature)?;
    let signature = Signature::from_bytes(&sig);

    let mut signed = Vec::with_capacity(timestamp.len() + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(body);
    key.0
        .verify_strict(&signed, &signature)
        .map_err(|_| ChannelError::BadSignature)?;

    // The timestamp is authentic from here on; only its age can still be wrong.
    let secs: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| ChannelError::BadSignature)?;
    let skew = now
        .since(Timestamp::from_secs(secs))
        .as_millis()
        .saturating_abs();
    if skew > REPLAY_WINDOW.as_millis() {
        return Err(ChannelError::StaleTimestamp);
    }
    Ok(())
}
