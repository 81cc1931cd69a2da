//! The personas catalog over SQL (`0010_persona_catalog.sql`): one row per slug, the entry
//! as a JSON document, every write compare-and-set on `revision`.

use async_trait::async_trait;
use concierge_core::catalog::CatalogPersona;
use concierge_core::ports::{PersonaCatalog, StoreError, StoreResult};
use sqlx::Row;

use super::{db_err, from_doc, on_pool, to_doc, SqlStore};

fn entry_from(slug: &str, revision: i64, doc: &str) -> StoreResult<CatalogPersona> {
    let key = format!("persona_catalog:{slug}");
    let mut entry: CatalogPersona = from_doc(&key, doc)?;
    entry.revision = u64::try_from(revision).map_err(|e| StoreError::Corrupt {
        key,
        reason: e.to_string(),
    })?;
    Ok(entry)
}

fn conflict(slug: &str) -> StoreError {
    StoreError::Conflict(format!("catalog persona {slug}"))
}

#[async_trait]
impl PersonaCatalog for SqlStore {
    async fn list_catalog(&self) -> StoreResult<Vec<CatalogPersona>> {
        let rows: Vec<(String, i64, String)> = on_pool!(self, |pool, pg| {
            let rows = sqlx::query("SELECT slug, revision, doc FROM persona_catalog ORDER BY slug")
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
            rows.into_iter()
                .map(|r| {
                    Ok((
                        r.try_get("slug")?,
                        r.try_get("revision")?,
                        r.try_get("doc")?,
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(db_err)?
        });
        rows.iter()
            .map(|(slug, revision, doc)| entry_from(slug, *revision, doc))
            .collect()
    }

    async fn get_catalog_persona(&self, slug: &str) -> StoreResult<Option<CatalogPersona>> {
        let row: Option<(i64, String)> = on_pool!(self, |pool, pg| {
            let row = sqlx::query("SELECT revision, doc FROM persona_catalog WHERE slug = $1")
                .bind(slug)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?;
            row.map(|r| Ok((r.try_get("revision")?, r.try_get("doc")?)))
                .transpose()
                .map_err(db_err)?
        });
        row.map(|(revision, doc)| entry_from(slug, revision, &doc))
            .transpose()
    }

    async fn put_catalog_persona(
        &self,
        entry: &CatalogPersona,
        expected_revision: Option<u64>,
    ) -> StoreResult<u64> {
        let key = format!("persona_catalog:{}", entry.slug);
        let doc = to_doc(
            &key,
            &CatalogPersona {
                revision: 0,
                ..entry.clone()
            },
        )?;
        let expected = expected_revision
            .map(|r| i64::try_from(r).map_err(|_| conflict(&entry.slug)))
            .transpose()?;
        let changed: u64 = on_pool!(self, |pool, pg| {
            let result = match expected {
                None => {
                    sqlx::query(
                        "INSERT INTO persona_catalog (slug, revision, doc) VALUES ($1, 1, $2) \
                         ON CONFLICT (slug) DO NOTHING",
                    )
                    .bind(&entry.slug)
                    .bind(&doc)
                    .execute(pool)
                    .await
                }
                Some(revision) => {
                    sqlx::query(
                        "UPDATE persona_catalog SET revision = revision + 1, doc = $1 \
                         WHERE slug = $2 AND revision = $3",
                    )
                    .bind(&doc)
                    .bind(&entry.slug)
                    .bind(revision)
                    .execute(pool)
                    .await
                }
            };
            result.map_err(db_err)?.rows_affected()
        });
        if changed == 1 {
            Ok(expected_revision.map_or(1, |r| r + 1))
        } else {
            Err(conflict(&entry.slug))
        }
    }

    async fn delete_catalog_persona(&self, slug: &str) -> StoreResult<bool> {
        let changed: u64 = on_pool!(self, |pool, pg| {
            sqlx::query("DELETE FROM persona_catalog WHERE slug = $1")
                .bind(slug)
                .execute(pool)
                .await
                .map_err(db_err)?
                .rows_affected()
        });
        Ok(changed > 0)
    }
}
