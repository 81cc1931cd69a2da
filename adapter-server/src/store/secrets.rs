//! Channel tokens at rest, sealed with AES-256-GCM (`ENCRYPTION_KEY`): the sealing is the
//! core's ([`concierge_core::secrets`], shared with the Worker); this adds the nonce from the
//! operating system and the `channel_secrets` table.

use concierge_core::ports::StoreResult;
use concierge_core::secrets::{self, NONCE_LEN};
use rand::rngs::OsRng;
use rand::RngCore;
use sqlx::Row;

use super::{db_err, on_pool, SqlStore};

pub use concierge_core::secrets::SecretError;

/// Seals and opens secrets with one AES-256-GCM key ([`secrets::SecretBox`] with fresh
/// nonces from the OS). The account key is bound as associated data, so a sealed token copied
/// to another account does not open.
#[derive(Clone, Debug)]
pub struct SecretBox {
    inner: secrets::SecretBox,
}

impl SecretBox {
    /// Parses a 32-byte key given as 64 hex digits or base64.
    ///
    /// # Errors
    /// [`SecretError::BadKey`].
    pub fn from_config(raw: &str) -> Result<Self, SecretError> {
        Ok(SecretBox {
            inner: secrets::SecretBox::from_config(raw)?,
        })
    }

    /// Seals `plaintext` for `context` under a fresh random nonce: base64 of nonce ‖
    /// ciphertext ‖ tag.
    ///
    /// # Errors
    /// [`SecretError::Seal`] only if the cipher fails (it does not for valid input).
    pub fn seal(&self, context: &str, plaintext: &str) -> Result<String, SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        self.inner.seal(context, plaintext, nonce)
    }

    /// Opens a value sealed for `context`.
    ///
    /// # Errors
    /// [`SecretError::Open`].
    pub fn open(&self, context: &str, sealed: &str) -> Result<String, SecretError> {
        self.inner.open(context, sealed)
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
        assert_ne!(
            sealed,
            b.seal("wa_phone:1", "EAAG-token").expect("seal"),
            "a fresh nonce per seal"
        );
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
