//! Per-tenant channel tokens at rest in D1 `channel_secrets` (the server's table and sealed
//! format: [`concierge_core::secrets`]), sealed with `ENCRYPTION_KEY` under a nonce from
//! `crypto.getRandomValues`. Tokens are never logged; errors name the account, not the token.

use concierge_core::front::ApiError;
use concierge_core::ids::TenantId;
use concierge_core::ports::OutboundError;
use concierge_core::secrets::{SecretBox, NONCE_LEN};
use serde::Deserialize;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::js_sys::Uint8Array;
use worker::wasm_bindgen::JsValue;
use worker::D1Database;

#[wasm_bindgen]
extern "C" {
    /// The Workers runtime's CSPRNG (Web Crypto).
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    fn get_random_values(array: &Uint8Array) -> Result<JsValue, JsValue>;
}

/// Fills `buf` from `crypto.getRandomValues` (never `Math.random`); at most 65536 bytes per
/// call, as Web Crypto allows.
///
/// # Errors
/// [`ApiError::Internal`] when the runtime refuses.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), ApiError> {
    for chunk in buf.chunks_mut(65_536) {
        #[allow(clippy::cast_possible_truncation)] // at most 65536
        let array = Uint8Array::new_with_length(chunk.len() as u32);
        get_random_values(&array)
            .map_err(|_| ApiError::Internal("crypto.getRandomValues failed".into()))?;
        array.copy_to(chunk);
    }
    Ok(())
}

/// A fresh nonce from `crypto.getRandomValues`.
fn nonce() -> Result<[u8; NONCE_LEN], ApiError> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    Ok(nonce)
}

/// Seals `token` for `tenant`'s `account` (an index key such as `wa_phone:…`) and stores it,
/// replacing an earlier one.
///
/// # Errors
/// [`ApiError::Unavailable`] without `ENCRYPTION_KEY`; [`ApiError::Internal`] when D1 fails.
pub(crate) async fn put(
    db: &D1Database,
    secrets: Option<&SecretBox>,
    tenant: &TenantId,
    account: &str,
    token: &str,
) -> Result<(), ApiError> {
    let secrets = secrets.ok_or(ApiError::Unavailable("ENCRYPTION_KEY is not configured"))?;
    let sealed = secrets
        .seal(account, token, nonce()?)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    #[allow(clippy::cast_precision_loss)] // ms since the epoch stay below 2^53
    let now = super::now().as_millis() as f64;
    db.prepare(
        "INSERT INTO channel_secrets (account_key, tenant_id, sealed, updated_at) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (account_key) DO UPDATE SET \
         tenant_id = excluded.tenant_id, sealed = excluded.sealed, updated_at = excluded.updated_at",
    )
    .bind(&[
        JsValue::from_str(account),
        JsValue::from_str(tenant.as_str()),
        JsValue::from_str(&sealed),
        JsValue::from_f64(now),
    ])
    .map_err(|e| ApiError::Internal(format!("channel_secrets: {e}")))?
    .run()
    .await
    .map_err(|e| ApiError::Internal(format!("channel_secrets: {e}")))?;
    Ok(())
}

#[derive(Deserialize)]
struct SealedRow {
    sealed: String,
}

/// The token `tenant` stored for `account`, opened; `None` when it stored none.
///
/// # Errors
/// [`OutboundError::Retryable`] when D1 fails; [`OutboundError::Permanent`] when a stored
/// token cannot be opened (no `ENCRYPTION_KEY`, or another one than it was sealed with).
pub(crate) async fn token(
    db: &D1Database,
    secrets: Option<&SecretBox>,
    tenant: &TenantId,
    account: &str,
) -> Result<Option<String>, OutboundError> {
    let row: Option<SealedRow> = db
        .prepare("SELECT sealed FROM channel_secrets WHERE account_key = ?1 AND tenant_id = ?2")
        .bind(&[
            JsValue::from_str(account),
            JsValue::from_str(tenant.as_str()),
        ])
        .map_err(|e| OutboundError::Retryable(format!("channel_secrets: {e}")))?
        .first(None)
        .await
        .map_err(|e| OutboundError::Retryable(format!("channel_secrets: {e}")))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let secrets = secrets.ok_or_else(|| {
        OutboundError::Permanent(format!(
            "a token is stored for {account} but ENCRYPTION_KEY is not configured"
        ))
    })?;
    secrets
        .open(account, &row.sealed)
        .map(Some)
        .map_err(|e| OutboundError::Permanent(format!("{account}: {e}")))
}
