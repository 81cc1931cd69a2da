//! Channel tokens at rest, sealed with AES-256-GCM (`ENCRYPTION_KEY`).

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use concierge_core::ports::StoreResult;
use sqlx::Row;

use super::{db_err, on_pool, SqlStore};

/// A secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key is not 32 bytes of base64 or 64 hex digits.
    #[error("ENCRYPTION_KEY must be 32 bytes, as 64 hex digits or base64")]
    BadKey,
    /// The sealed value is damaged, or was sealed with another key or for another account.
    #[error("a stored secret could not be decrypted (wrong ENCRYPTION_KEY?)")]
    Open,
}

/// Seals and opens secrets with one AES-256-GCM key. The account key is bound as associated
/// data, so a sealed token copied to another account does not open.
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
    /// Parses a 32-byte key given as 64 hex digits or base64.
    ///
    /// # Errors
    /// [`SecretError::BadKey`].
    pub fn from_config(raw: &str) -> Result<Self, SecretError> {
        let raw = raw.trim();
        let bytes = if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(raw).map_err(|_| SecretError::BadKey)?
        } else {
            B64.decode(raw).map_err(|_| SecretError::BadKey)?
        };
        if bytes.len() != 32 {
            return Err(SecretError::BadKey);
        }
        Ok(SecretBox {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
        })
    }

    /// Seals `plaintext` for `context`: base64 of nonce ‖ ciphertext.
    ///
    /// # Errors
    /// [`SecretError::Open`] only if the cipher fails (it does not for valid input).
    pub fn seal(&self, context: &str, plaintext: &str) -> Result<String, SecretError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Open)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(B64.encode(out))
    }

    /// Opens a value sealed for `context`.
    ///
    /// # Errors
    /// [`SecretError::Open`].
    pub fn open(&self, context: &str, sealed: &str) -> Result<String, SecretError> {
        let bytes = B64.decode(sealed).map_err(|_| SecretError::Open)?;
        if bytes.len() < 12 + 16 {
            return Err(SecretError::Open);
        }
        let (nonce, ct) = bytes.split_at(12);
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

impl SqlStore {
    /// Stores a sealed secret for a channel account (`wa_phone:…`).
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn put_secret(
        &self,
        tenant: &str,
        account_key: &str,
        sealed: &str,
    ) -> StoreResult<()> {
        let now = crate::clock::now_millis();
        on_pool!(self, |pool, pg| {
            sqlx::query(
            "INSERT INTO channel_secrets (account_key, tenant_id, sealed, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_key) DO UPDATE SET tenant_id = excluded.tenant_id, \
             sealed = excluded.sealed, updated_at = excluded.updated_at"
        )
        .bind(account_key)
        .bind(tenant)
        .bind(sealed)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(db_err)
        })
    }

    /// The sealed secret of an account, if the given tenant owns one.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn get_secret(&self, tenant: &str, account_key: &str) -> StoreResult<Option<String>> {
        on_pool!(self, |pool, pg| {
            let row = sqlx::query(
                "SELECT sealed FROM channel_secrets WHERE account_key = $1 AND tenant_id = $2",
            )
            .bind(account_key)
            .bind(tenant)
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
            row.map(|r| r.try_get::<String, _>("sealed").map_err(db_err))
                .transpose()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_bound_to_the_account() {
        let b = SecretBox::from_config(&"ab".repeat(32)).expect("key");
        let sealed = b.seal("wa_phone:1", "EAAG-token").expect("seal");
        assert!(!sealed.contains("EAAG"));
        assert_eq!(b.open("wa_phone:1", &sealed).expect("open"), "EAAG-token");
        assert!(b.open("wa_phone:2", &sealed).is_err());
        let other = SecretBox::from_config(&"cd".repeat(32)).expect("key");
        assert!(other.open("wa_phone:1", &sealed).is_err());
        assert!(SecretBox::from_config("short").is_err());
    }

    /// A value sealed before the sealing moved to `concierge_core::secrets` (made independently
    /// with Node's AES-256-GCM: base64 of nonce ‖ ciphertext ‖ tag, the account key as AAD).
    #[test]
    fn a_value_sealed_in_the_stored_format_opens() {
        let b = SecretBox::from_config(&"ab".repeat(32)).expect("key");
        let sealed = "AAECAwQFBgcICQoLZRpHGWNjADYlQS2kDfVFx8t7UZJS7N54zkmHF80f+Zmx";
        assert_eq!(
            b.open("wa_phone:106540352242922", sealed).expect("open"),
            "EAAG-tenant-token"
        );
    }
}
