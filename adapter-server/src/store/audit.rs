//! The audit log and the operator's prices over SQL (`0009_audit_log_and_pricing.sql`).
//!
//! The log is append-only: one `INSERT ... RETURNING seq` per entry, listed by `seq`
//! descending (the `(tenant_id, seq)` index serves a tenant's page). Prices are one row per
//! currency, replaced by an upsert.

use async_trait::async_trait;
use concierge_core::audit::{AuditAction, AuditEntry, AuditQuery, AuditRecord};
use concierge_core::billing::check_price;
use concierge_core::ports::{AuditLog, PricingStore, StoreError, StoreResult, StoredPrice};
use concierge_core::time::Timestamp;
use concierge_core::{Currency, Milli, TenantId};
use sqlx::Row;

use super::{db_err, on_pool, SqlStore};

fn corrupt(key: &str, e: impl ToString) -> StoreError {
    StoreError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    }
}

type AuditRow = (i64, i64, String, String, Option<String>, String);

fn record_from(row: AuditRow) -> StoreResult<AuditRecord> {
    let (seq, at, actor, action, tenant, detail) = row;
    let key = format!("audit_log:{seq}");
    Ok(AuditRecord {
        seq: u64::try_from(seq).map_err(|e| corrupt(&key, e))?,
        entry: AuditEntry {
            at: Timestamp::from_millis(at),
            actor,
            action: action
                .parse::<AuditAction>()
                .map_err(|e| corrupt(&key, e))?,
            tenant: tenant
                .map(|t| TenantId::parse(&t).map_err(|e| corrupt(&key, e)))
                .transpose()?,
            detail,
        },
    })
}

fn price_from(currency: &str, price: i64, updated_at: i64) -> StoreResult<StoredPrice> {
    let key = format!("pricing:{currency}");
    Ok(StoredPrice {
        currency: Currency::parse(currency).map_err(|e| corrupt(&key, e))?,
        per_ai_reply: Milli::from_milli(price),
        updated_at: Timestamp::from_millis(updated_at),
    })
}

/// The `SELECT` of a list: filters only for what the query names, so each shape has a plain
/// index-friendly plan.
fn list_sql(query: &AuditQuery) -> String {
    let mut sql =
        String::from("SELECT seq, at, actor, action, tenant_id, detail FROM audit_log WHERE 1 = 1");
    let mut n = 1;
    if query.tenant.is_some() {
        sql.push_str(&format!(" AND tenant_id = ${n}"));
        n += 1;
    }
    if query.before.is_some() {
        sql.push_str(&format!(" AND seq < ${n}"));
        n += 1;
    }
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${n}"));
    sql
}

#[async_trait]
impl AuditLog for SqlStore {
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<u64> {
        let seq: i64 = on_pool!(self, |pool, pg| {
            let row = sqlx::query(
                "INSERT INTO audit_log (at, actor, action, tenant_id, detail) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING seq",
            )
            .bind(entry.at.as_millis())
            .bind(&entry.actor)
            .bind(entry.action.as_str())
            .bind(entry.tenant.as_ref().map(TenantId::as_str))
            .bind(&entry.detail)
            .fetch_one(pool)
            .await
            .map_err(db_err)?;
            row.try_get("seq").map_err(db_err)?
        });
        u64::try_from(seq).map_err(|e| corrupt("audit_log", e))
    }

    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let sql = list_sql(query);
        let before = query.before.map(|b| i64::try_from(b).unwrap_or(i64::MAX));
        let rows: Vec<AuditRow> = on_pool!(self, |pool, pg| {
            let mut q = sqlx::query(&sql);
            if let Some(tenant) = &query.tenant {
                q = q.bind(tenant.as_str());
            }
            if let Some(before) = before {
                q = q.bind(before);
            }
            let rows = q
                .bind(i64::from(query.limit()))
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
            rows.into_iter()
                .map(|r| {
                    Ok((
                        r.try_get("seq")?,
                        r.try_get("at")?,
                        r.try_get("actor")?,
                        r.try_get("action")?,
                        r.try_get("tenant_id")?,
                        r.try_get("detail")?,
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(db_err)?
        });
        rows.into_iter().map(record_from).collect()
    }
}

#[async_trait]
impl PricingStore for SqlStore {
    async fn stored_price(&self, currency: &Currency) -> StoreResult<Option<StoredPrice>> {
        let row: Option<(String, i64, i64)> = on_pool!(self, |pool, pg| {
            let row = sqlx::query(
                "SELECT currency, per_ai_reply, updated_at FROM pricing WHERE currency = $1",
            )
            .bind(currency.as_str())
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
            row.map(|r| {
                Ok((
                    r.try_get("currency")?,
                    r.try_get("per_ai_reply")?,
                    r.try_get("updated_at")?,
                ))
            })
            .transpose()
            .map_err(db_err)?
        });
        row.map(|(c, p, at)| price_from(&c, p, at)).transpose()
    }

    async fn stored_prices(&self) -> StoreResult<Vec<StoredPrice>> {
        let rows: Vec<(String, i64, i64)> = on_pool!(self, |pool, pg| {
            let rows = sqlx::query(
                "SELECT currency, per_ai_reply, updated_at FROM pricing ORDER BY currency",
            )
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.into_iter()
                .map(|r| {
                    Ok((
                        r.try_get("currency")?,
                        r.try_get("per_ai_reply")?,
                        r.try_get("updated_at")?,
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(db_err)?
        });
        rows.into_iter()
            .map(|(c, p, at)| price_from(&c, p, at))
            .collect()
    }

    async fn put_price(&self, price: &StoredPrice) -> StoreResult<()> {
        check_price(price.per_ai_reply)
            .map_err(|e| corrupt(&format!("pricing:{}", price.currency), e))?;
        on_pool!(self, |pool, pg| {
            sqlx::query(
                "INSERT INTO pricing (currency, per_ai_reply, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (currency) DO UPDATE SET per_ai_reply = excluded.per_ai_reply, \
                 updated_at = excluded.updated_at",
            )
            .bind(price.currency.as_str())
            .bind(price.per_ai_reply.as_milli())
            .bind(price.updated_at.as_millis())
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(db_err)
        })
    }
}
