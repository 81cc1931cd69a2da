//! Owner accounts, failed-login counters and dashboard sessions over SQL (`0007_owners.sql`).
//!
//! The counters are one row per key, updated by a single upsert (atomic on both dialects, so
//! concurrent failures all count and replicas share them); sessions are rows keyed by the
//! SHA-256 of their id, never the id.

use async_trait::async_trait;
use concierge_core::accounts::Owner;
use concierge_core::front::WebSession;
use concierge_core::ports::{LoginFailures, OwnerStore, StoreError, StoreResult};
use concierge_core::time::{Span, Timestamp};
use concierge_core::TenantId;
use sqlx::Row;

use super::{db_err, from_doc, on_pool, to_doc, SqlStore};

fn corrupt(key: &str, e: impl ToString) -> StoreError {
    StoreError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    }
}

type OwnerRow = (String, String, String, String, i64, i64);

fn owner_from(row: OwnerRow) -> StoreResult<Owner> {
    let (id, tenant, email, password_hash, epoch, created_at) = row;
    let key = format!("owner:{id}");
    Ok(Owner {
        tenant: TenantId::parse(&tenant).map_err(|e| corrupt(&key, e))?,
        session_epoch: u64::try_from(epoch).map_err(|e| corrupt(&key, e))?,
        created_at: Timestamp::from_millis(created_at),
        id,
        email,
        password_hash,
    })
}

fn failures_from(count: i64, window_start: i64) -> StoreResult<LoginFailures> {
    Ok(LoginFailures {
        count: u32::try_from(count).map_err(|e| corrupt("login_failures", e))?,
        window_start: Timestamp::from_millis(window_start),
    })
}

const OWNER_COLUMNS: &str = "id, tenant_id, email, password_hash, session_epoch, created_at";

impl SqlStore {
    async fn owner_where(&self, column: &str, value: &str) -> StoreResult<Option<Owner>> {
        let sql = format!("SELECT {OWNER_COLUMNS} FROM owners WHERE {column} = $1");
        let row: Option<OwnerRow> = on_pool!(self, |pool, pg| {
            let row = sqlx::query(&sql)
                .bind(value)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?;
            row.map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("tenant_id")?,
                    r.try_get("email")?,
                    r.try_get("password_hash")?,
                    r.try_get("session_epoch")?,
                    r.try_get("created_at")?,
                ))
            })
            .transpose()
            .map_err(db_err)?
        });
        row.map(owner_from).transpose()
    }

    /// Runs an `UPDATE owners ... WHERE id = $1 RETURNING session_epoch`.
    async fn epoch_update(&self, sql: &str, id: &str, hash: Option<&str>) -> StoreResult<u64> {
        let epoch: Option<i64> = on_pool!(self, |pool, pg| {
            let mut query = sqlx::query(sql).bind(id);
            if let Some(hash) = hash {
                query = query.bind(hash);
            }
            let row = query.fetch_optional(pool).await.map_err(db_err)?;
            row.map(|r| r.try_get("session_epoch"))
                .transpose()
                .map_err(db_err)?
        });
        let epoch = epoch.ok_or_else(|| StoreError::NotFound(format!("owner {id}")))?;
        u64::try_from(epoch).map_err(|e| corrupt(&format!("owner:{id}"), e))
    }

    /// Stores a dashboard session (and drops expired ones, cheaply, on the way).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub async fn put_web_session(&self, id_hash: &str, session: &WebSession) -> StoreResult<()> {
        let doc = to_doc("web_session", session)?;
        on_pool!(self, |pool, pg| {
            sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
                .bind(session.created_at.as_millis())
                .execute(pool)
                .await
                .map_err(db_err)?;
            sqlx::query(
                "INSERT INTO web_sessions (id_hash, doc, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id_hash) DO UPDATE SET doc = excluded.doc, \
                 expires_at = excluded.expires_at",
            )
            .bind(id_hash)
            .bind(doc)
            .bind(session.expires_at.as_millis())
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(db_err)
        })
    }

    /// The live session stored under `id_hash`.
    ///
    /// # Errors
    /// [`StoreError::Backend`], [`StoreError::Corrupt`].
    pub async fn web_session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<WebSession>> {
        let doc: Option<String> = on_pool!(self, |pool, pg| {
            let row =
                sqlx::query("SELECT doc FROM web_sessions WHERE id_hash = $1 AND expires_at > $2")
                    .bind(id_hash)
                    .bind(now.as_millis())
                    .fetch_optional(pool)
                    .await
                    .map_err(db_err)?;
            row.map(|r| r.try_get("doc")).transpose().map_err(db_err)?
        });
        doc.map(|d| from_doc("web_session", &d)).transpose()
    }

    /// Deletes the session under `id_hash`.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub async fn delete_web_session(&self, id_hash: &str) -> StoreResult<()> {
        on_pool!(self, |pool, pg| {
            sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(db_err)
        })
    }
}

#[async_trait]
impl OwnerStore for SqlStore {
    async fn create_owner(&self, owner: &Owner) -> StoreResult<()> {
        let epoch = i64::try_from(owner.session_epoch).map_err(|e| corrupt(&owner.id, e))?;
        on_pool!(self, |pool, pg| {
            sqlx::query(
                "INSERT INTO owners (id, tenant_id, email, password_hash, session_epoch, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&owner.id)
            .bind(owner.tenant.as_str())
            .bind(&owner.email)
            .bind(&owner.password_hash)
            .bind(epoch)
            .bind(owner.created_at.as_millis())
            .execute(pool)
            .await
            .map(|_| ())
            // A unique violation (email or id) is a `Conflict`.
            .map_err(db_err)
        })
    }

    async fn owner_by_email(&self, email: &str) -> StoreResult<Option<Owner>> {
        self.owner_where("email", email).await
    }

    async fn owner_by_id(&self, id: &str) -> StoreResult<Option<Owner>> {
        self.owner_where("id", id).await
    }

    async fn set_owner_password(&self, id: &str, password_hash: &str) -> StoreResult<u64> {
        self.epoch_update(
            "UPDATE owners SET password_hash = $2, session_epoch = session_epoch + 1 \
             WHERE id = $1 RETURNING session_epoch",
            id,
            Some(password_hash),
        )
        .await
    }

    async fn bump_session_epoch(&self, id: &str) -> StoreResult<u64> {
        self.epoch_update(
            "UPDATE owners SET session_epoch = session_epoch + 1 WHERE id = $1 \
             RETURNING session_epoch",
            id,
            None,
        )
        .await
    }

    async fn login_failures(
        &self,
        key: &str,
        now: Timestamp,
        window: Span,
    ) -> StoreResult<LoginFailures> {
        let row: Option<(i64, i64)> = on_pool!(self, |pool, pg| {
            let row = sqlx::query(
                "SELECT failures, window_start FROM login_failures \
                 WHERE limiter_key = $1 AND window_start > $2",
            )
            .bind(key)
            .bind((now - window).as_millis())
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
            row.map(|r| Ok((r.try_get("failures")?, r.try_get("window_start")?)))
                .transpose()
                .map_err(db_err)?
        });
        match row {
            Some((count, start)) => failures_from(count, start),
            None => Ok(LoginFailures {
                count: 0,
                window_start: now,
            }),
        }
    }

    async fn record_login_failure(
        &self,
        key: &str,
        now: Timestamp,
        window: Span,
    ) -> StoreResult<LoginFailures> {
        // One statement: a closed window (started at or before now - window) starts over.
        let closed = (now - window).as_millis();
        let (count, start): (i64, i64) = on_pool!(self, |pool, pg| {
            let row = sqlx::query(
                "INSERT INTO login_failures (limiter_key, failures, window_start) \
                 VALUES ($1, 1, $2) ON CONFLICT (limiter_key) DO UPDATE SET \
                 failures = CASE WHEN login_failures.window_start <= $3 THEN 1 \
                 ELSE login_failures.failures + 1 END, \
                 window_start = CASE WHEN login_failures.window_start <= $3 THEN $2 \
                 ELSE login_failures.window_start END \
                 RETURNING failures, window_start",
            )
            .bind(key)
            .bind(now.as_millis())
            .bind(closed)
            .fetch_one(pool)
            .await
            .map_err(db_err)?;
            (
                row.try_get("failures").map_err(db_err)?,
                row.try_get("window_start").map_err(db_err)?,
            )
        });
        if count == 1 {
            // Now and then: forget windows closed long ago (one indexed delete).
            on_pool!(self, |pool, pg| {
                sqlx::query("DELETE FROM login_failures WHERE window_start <= $1")
                    .bind(closed - window.as_millis())
                    .execute(pool)
                    .await
                    .map(|_| ())
                    .map_err(db_err)?
            });
        }
        failures_from(count, start)
    }

    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        on_pool!(self, |pool, pg| {
            sqlx::query("DELETE FROM login_failures WHERE limiter_key = $1")
                .bind(key)
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(db_err)
        })
    }
}
