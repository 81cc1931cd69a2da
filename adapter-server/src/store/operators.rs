//! Operator accounts over SQL (`0011_operators.sql`): one row per normalized email. A new
//! password and "sign out everywhere" bump `session_epoch` in a single statement.

use async_trait::async_trait;
use concierge_core::accounts::Operator;
use concierge_core::ports::{OperatorStore, StoreError, StoreResult};
use concierge_core::time::Timestamp;
use sqlx::Row;

use super::{db_err, on_pool, SqlStore};

type OperatorRow = (String, String, i64, i64);

fn epoch_from(epoch: i64) -> StoreResult<u64> {
    u64::try_from(epoch).map_err(|e| StoreError::Corrupt {
        key: "operators".into(),
        reason: e.to_string(),
    })
}

fn operator_from((email, password_hash, epoch, created_at): OperatorRow) -> StoreResult<Operator> {
    Ok(Operator {
        session_epoch: epoch_from(epoch)?,
        created_at: Timestamp::from_millis(created_at),
        email,
        password_hash,
    })
}

const COLUMNS: &str = "email, password_hash, session_epoch, created_at";

impl SqlStore {
    async fn operators_where(&self, email: Option<&str>) -> StoreResult<Vec<Operator>> {
        let sql = match email {
            Some(_) => format!("SELECT {COLUMNS} FROM operators WHERE email = $1"),
            None => format!("SELECT {COLUMNS} FROM operators ORDER BY email"),
        };
        let rows: Vec<OperatorRow> = on_pool!(self, |pool, pg| {
            let mut query = sqlx::query(&sql);
            if let Some(email) = email {
                query = query.bind(email);
            }
            let rows = query.fetch_all(pool).await.map_err(db_err)?;
            rows.into_iter()
                .map(|r| {
                    Ok((
                        r.try_get("email")?,
                        r.try_get("password_hash")?,
                        r.try_get("session_epoch")?,
                        r.try_get("created_at")?,
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(db_err)?
        });
        rows.into_iter().map(operator_from).collect()
    }
}

#[async_trait]
impl OperatorStore for SqlStore {
    async fn put_operator(
        &self,
        email: &str,
        password_hash: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        // One upsert: a new row starts at epoch 0, a replaced one is at least 1 after it.
        let epoch: i64 = on_pool!(self, |pool, pg| {
            let row = sqlx::query(
                "INSERT INTO operators (email, password_hash, session_epoch, created_at) \
                 VALUES ($1, $2, 0, $3) ON CONFLICT (email) DO UPDATE SET \
                 password_hash = excluded.password_hash, \
                 session_epoch = operators.session_epoch + 1 RETURNING session_epoch",
            )
            .bind(email)
            .bind(password_hash)
            .bind(now.as_millis())
            .fetch_one(pool)
            .await
            .map_err(db_err)?;
            row.try_get("session_epoch").map_err(db_err)?
        });
        Ok(epoch == 0)
    }

    async fn operator(&self, email: &str) -> StoreResult<Option<Operator>> {
        Ok(self.operators_where(Some(email)).await?.pop())
    }

    async fn list_operators(&self) -> StoreResult<Vec<Operator>> {
        self.operators_where(None).await
    }

    async fn delete_operator(&self, email: &str) -> StoreResult<bool> {
        let deleted = on_pool!(self, |pool, pg| {
            sqlx::query("DELETE FROM operators WHERE email = $1")
                .bind(email)
                .execute(pool)
                .await
                .map_err(db_err)?
                .rows_affected()
        });
        Ok(deleted > 0)
    }

    async fn bump_operator_epoch(&self, email: &str) -> StoreResult<u64> {
        let epoch: Option<i64> = on_pool!(self, |pool, pg| {
            let row = sqlx::query(
                "UPDATE operators SET session_epoch = session_epoch + 1 WHERE email = $1 \
                 RETURNING session_epoch",
            )
            .bind(email)
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
            row.map(|r| r.try_get("session_epoch"))
                .transpose()
                .map_err(db_err)?
        });
        epoch_from(epoch.ok_or_else(|| StoreError::NotFound("operator".into()))?)
    }
}
