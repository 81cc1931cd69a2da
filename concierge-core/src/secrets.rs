//! Channel tokens at rest, sealed with AES-256-GCM under the deployment's `ENCRYPTION_KEY`:
//! one implementation for every adapter (the server's `channel_secrets` rows and the Worker's
//! D1 rows are the same format).
//!
//! Pure: the caller supplies the 12-byte nonce (from the OS on the server, from
//! `crypto.getRandomValues` on the Worker), since the core reads no randomness. A nonce must
//! never repeat under one key: always take it fresh from a cryptographic source.
//!
//! The sealed format is base64 (standard alphabet, padded) of `nonce ‖ ciphertext ‖ tag`, with
//! the account key (`wa_phone:…`) as associated data, so a sealed token copied to another
//! account's row does not open.
//!
//! ```
//! use concierge_core::secrets::SecretBox;
//!
//! let key = "ab".repeat(32); // `openssl rand -hex 32`
//! let secrets = SecretBox::from_config(&key)?;
//! let sealed = secrets.seal("wa_phone:106540352242922", "EAAG-token", [7; 12])?;
//! assert!(!sealed.contains("EAAG"));
//! assert_eq!(secrets.open("wa_phone:106540352242922", &sealed)?, "EAAG-token");
//! assert!(secrets.open("wa_phone:1", &sealed).is_err());
//! # Ok::<(), concierge_core::secrets::SecretError>(())
//! ```

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

/// The length of the nonce [`SecretBox::seal`] takes, in bytes.
pub const NONCE_LEN: usize = 12;

/// The length of the GCM authentication tag, in bytes.
const TAG_LEN: usize = 16;

/// The length of the key, in bytes.
pub const KEY_LEN: usize = 32;

/// A secret could not be sealed or opened, or the key is unusable. No variant carries the
/// key, the token or the sealed value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The key is not 32 bytes given as 64 hex digits or base64.
    #[error("ENCRYPTION_KEY must be 32 bytes, as 64 hex digits or base64")]
    BadKey,
    /// The cipher refused to seal (it does not for input of a sane size).
    #[error("a secret could not be sealed")]
    Seal,
    /// The sealed value is damaged, or was sealed with another key or for another account.
    #[error("a stored secret could not be decrypted (wrong ENCRYPTION_KEY?)")]
    Open,
}

/// Seals and opens secrets with one AES-256-GCM key. `Debug` never shows the key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// Parses a 32-byte key given as 64 hex digits or base64 (surrounding whitespace is
    /// ignored), as `ENCRYPTION_KEY` is configured.
    ///
    /// # Errors
    /// [`SecretError::BadKey`].
    pub fn from_config(raw: &str) -> Result<Self, SecretError> {
        let raw = raw.trim();
        let bytes = if raw.len() == 2 * KEY_LEN && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(raw).map_err(|_| SecretError::BadKey)?
        } else {
            B64.decode(raw).map_err(|_| SecretError::BadKey)?
        };
        Self::from_bytes(&bytes)
    }

    /// A box over a raw 32-byte key.
    ///
    /// # Errors
    /// [`SecretError::BadKey`] when `key` is not [`KEY_LEN`] bytes.
    pub fn from_bytes(key: &[u8]) -> Result<Self, SecretError> {
        if key.len() != KEY_LEN {
            return Err(SecretError::BadKey);
        }
        Ok(SecretBox {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        })
    }

    /// Seals `plaintext` for `context` (the account key) under `nonce`, which must be fresh
    /// random bytes: base64 of `nonce ‖ ciphertext ‖ tag`.
    ///
    /// # Errors
    /// [`SecretError::Seal`] only if the cipher fails (it does not for valid input).
    pub fn seal(
        &self,
        context: &str,
        plaintext: &str,
        nonce: [u8; NONCE_LEN],
    ) -> Result<String, SecretError> {
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Seal)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(B64.encode(out))
    }

    /// Opens a value sealed for `context`.
    ///
    /// # Errors
    /// [`SecretError::Open`]: not base64, too short, tampered with, sealed under another key or
    /// for another context, or not UTF-8 inside.
    pub fn open(&self, context: &str, sealed: &str) -> Result<String, SecretError> {
        let bytes = B64.decode(sealed.trim()).map_err(|_| SecretError::Open)?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(SecretError::Open);
        }
        let (nonce, ct) = bytes.split_at(NONCE_LEN);
        let pt = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Open)?;
        String::from_utf8(pt).map_err(|_| SecretError::Open)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "wa_phone:106540352242922";

    fn key() -> SecretBox {
        SecretBox::from_config(&"ab".repeat(32)).unwrap()
    }

    #[test]
    fn round_trip_bound_to_the_account() {
        let b = key();
        let sealed = b.seal(ACCOUNT, "EAAG-token", [1; NONCE_LEN]).unwrap();
        assert!(!sealed.contains("EAAG"));
        assert_eq!(b.open(ACCOUNT, &sealed).unwrap(), "EAAG-token");
        assert_eq!(
            b.open("wa_phone:2", &sealed).unwrap_err(),
            SecretError::Open,
            "another account's row"
        );
        let empty = b.seal(ACCOUNT, "", [2; NONCE_LEN]).unwrap();
        assert_eq!(b.open(ACCOUNT, &empty).unwrap(), "");
    }

    #[test]
    fn the_nonce_leads_and_changes_the_value() {
        let b = key();
        let one = b.seal(ACCOUNT, "EAAG-token", [1; NONCE_LEN]).unwrap();
        let two = b.seal(ACCOUNT, "EAAG-token", [2; NONCE_LEN]).unwrap();
        assert_ne!(one, two);
        let raw = B64.decode(&two).unwrap();
        assert_eq!(&raw[..NONCE_LEN], &[2; NONCE_LEN]);
        assert_eq!(raw.len(), NONCE_LEN + "EAAG-token".len() + TAG_LEN);
    }

    #[test]
    fn a_wrong_key_does_not_open() {
        let sealed = key().seal(ACCOUNT, "EAAG-token", [1; NONCE_LEN]).unwrap();
        let other = SecretBox::from_config(&"cd".repeat(32)).unwrap();
        assert_eq!(other.open(ACCOUNT, &sealed).unwrap_err(), SecretError::Open);
    }

    #[test]
    fn a_tampered_value_does_not_open() {
        let b = key();
        let sealed = b.seal(ACCOUNT, "EAAG-token", [1; NONCE_LEN]).unwrap();
        let raw = B64.decode(&sealed).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                b.open(ACCOUNT, &B64.encode(&bad)).unwrap_err(),
                SecretError::Open,
                "byte {i} flipped"
            );
        }
        let truncated = B64.encode(&raw[..raw.len() - 1]);
        assert!(b.open(ACCOUNT, &truncated).is_err());
        assert!(
            b.open(ACCOUNT, "AAEC").is_err(),
            "shorter than nonce and tag"
        );
        assert!(b.open(ACCOUNT, "not base64!").is_err());
        assert!(b.open(ACCOUNT, "").is_err());
    }

    /// The format the server stored before this module existed (`nonce ‖ ciphertext ‖ tag`,
    /// base64; made independently with Node's AES-256-GCM) opens, and sealing with that nonce
    /// gives the same bytes.
    #[test]
    fn the_stored_format_opens() {
        let b = key();
        let stored = "AAECAwQFBgcICQoLZRpHGWNjADYlQS2kDfVFx8t7UZJS7N54zkmHF80f+Zmx";
        assert_eq!(b.open(ACCOUNT, stored).unwrap(), "EAAG-tenant-token");
        let nonce = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        assert_eq!(b.seal(ACCOUNT, "EAAG-tenant-token", nonce).unwrap(), stored);
    }

    #[test]
    fn keys_are_32_bytes_of_hex_or_base64() {
        assert!(SecretBox::from_config(&format!("  {}\n", "AB".repeat(32))).is_ok());
        assert!(SecretBox::from_config(&B64.encode([9u8; 32])).is_ok());
        for bad in [
            "",
            "short",
            &"ab".repeat(31),
            &B64.encode([9u8; 31]),
            &"zz".repeat(32),
        ] {
            assert_eq!(
                SecretBox::from_config(bad).unwrap_err(),
                SecretError::BadKey,
                "{bad:?}"
            );
        }
        assert_eq!(
            SecretBox::from_bytes(&[0; 16]).unwrap_err(),
            SecretError::BadKey
        );
        let debug = format!("{:?}", key());
        assert_eq!(debug, "SecretBox(..)");
    }
}
