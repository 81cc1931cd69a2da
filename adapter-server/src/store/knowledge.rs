//! A tenant's knowledge base over SQL (`0012_knowledge.sql`): one row per document, one per
//! passage (by position), and one revision per tenant.
//!
//! Every write is one transaction that ends with an upsert of the tenant's revision row, so
//! concurrent writes each get a revision of their own: SQLite's `BEGIN IMMEDIATE` serializes
//! writers; on Postgres the document row is written first (locking it, so a put of the same
//! source waits and then sees the passages it must replace), then the revision row, always in
//! that order.

use async_trait::async_trait;
use concierge_core::ids::TenantId;
use concierge_core::knowledge::{
    decode_vector, encode_vector, Chunk, ChunkEmbedding, StoredChunk, StoredDocument,
};
use concierge_core::ports::{KnowledgeStore, StoreError, StoreResult};
use concierge_core::time::Timestamp;
use sqlx::Row;

use super::{begin_statement, db_err, from_doc, on_pool, to_doc, SqlStore};

fn corrupt(key: &str, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        key: key.to_owned(),
        reason: reason.to_string(),
    }
}

fn revision_from(tenant: &TenantId, revision: i64) -> StoreResult<u64> {
    u64::try_from(revision).map_err(|e| corrupt(&format!("knowledge_revisions:{tenant}"), e))
}

/// `source, kind, content_hash, chunks, embedding_model, updated_at`.
type DocumentRow = (String, String, String, i64, Option<String>, i64);

fn document_from(
    tenant: &TenantId,
    (source, kind, content_hash, chunks, embedding_model, updated_at): DocumentRow,
) -> StoreResult<StoredDocument> {
    let chunks = u32::try_from(chunks)
        .map_err(|e| corrupt(&format!("knowledge_documents:{tenant}:{source}"), e))?;
    Ok(StoredDocument {
        source,
        kind,
        content_hash,
        chunks,
        embedding_model,
        updated_at: Timestamp::from_millis(updated_at),
    })
}

/// `source, position, heading, text, embedding_model, embedding`.
type ChunkRow = (String, i64, String, String, Option<String>, Option<String>);

fn chunk_from(
    tenant: &TenantId,
    (source, position, heading, text, model, embedding): ChunkRow,
) -> StoreResult<StoredChunk> {
    let key = format!("knowledge_chunks:{tenant}:{source}:{position}");
    let embedding = match (model, embedding) {
        (Some(model), Some(text)) => Some(ChunkEmbedding {
            model,
            vector: decode_vector(&text).ok_or_else(|| corrupt(&key, "not a vector"))?,
        }),
        (None, None) => None,
        _ => {
            return Err(corrupt(
                &key,
                "an embedding without its model, or a model alone",
            ))
        }
    };
    Ok(StoredChunk {
        chunk: Chunk {
            heading: from_doc(&key, &heading)?,
            source,
            text,
        },
        embedding,
    })
}

/// The tenant's revision upsert: 1 for its first write, then one more each time.
const BUMP_REVISION: &str = "INSERT INTO knowledge_revisions (tenant_id, revision) VALUES ($1, 1) \
     ON CONFLICT (tenant_id) DO UPDATE SET revision = knowledge_revisions.revision + 1 \
     RETURNING revision";

#[async_trait]
impl KnowledgeStore for SqlStore {
    async fn put_document(
        &self,
        tenant: &TenantId,
        document: &StoredDocument,
        chunks: &[StoredChunk],
    ) -> StoreResult<u64> {
        let key = format!("knowledge_documents:{tenant}:{}", document.source);
        // Encoded before the transaction opens: nothing fails half-way for want of a value.
        let rows = chunks
            .iter()
            .enumerate()
            .map(|(position, c)| {
                let position = i64::try_from(position).map_err(|e| corrupt(&key, e))?;
                let heading = to_doc(&key, &c.chunk.heading)?;
                let (model, vector) = c
                    .embedding
                    .as_ref()
                    .map(|e| (e.model.as_str(), encode_vector(&e.vector)))
                    .unzip();
                Ok((position, heading, c.chunk.text.as_str(), model, vector))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let revision: i64 = on_pool!(self, |pool, pg| {
            let mut tx = pool.begin_with(begin_statement(pg)).await.map_err(db_err)?;
            sqlx::query(
                "INSERT INTO knowledge_documents \
                 (tenant_id, source, kind, content_hash, chunks, embedding_model, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, source) DO UPDATE \
                 SET kind = excluded.kind, content_hash = excluded.content_hash, \
                 chunks = excluded.chunks, embedding_model = excluded.embedding_model, \
                 updated_at = excluded.updated_at",
            )
            .bind(tenant.as_str())
            .bind(&document.source)
            .bind(&document.kind)
            .bind(&document.content_hash)
            .bind(i64::from(document.chunks))
            .bind(document.embedding_model.as_deref())
            .bind(document.updated_at.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            sqlx::query("DELETE FROM knowledge_chunks WHERE tenant_id = $1 AND source = $2")
                .bind(tenant.as_str())
                .bind(&document.source)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            for (position, heading, text, model, vector) in &rows {
                sqlx::query(
                    "INSERT INTO knowledge_chunks \
                     (tenant_id, source, position, heading, text, embedding_model, embedding) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(tenant.as_str())
                .bind(&document.source)
                .bind(*position)
                .bind(heading)
                .bind(*text)
                .bind(*model)
                .bind(vector.as_deref())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
            let revision: i64 = sqlx::query(BUMP_REVISION)
                .bind(tenant.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?
                .try_get("revision")
                .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            revision
        });
        revision_from(tenant, revision)
    }

    async fn knowledge_documents(&self, tenant: &TenantId) -> StoreResult<Vec<StoredDocument>> {
        let rows: Vec<DocumentRow> = on_pool!(self, |pool, pg| {
            let rows = sqlx::query(
                "SELECT source, kind, content_hash, chunks, embedding_model, updated_at \
                 FROM knowledge_documents WHERE tenant_id = $1 ORDER BY source",
            )
            .bind(tenant.as_str())
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.into_iter()
                .map(|r| {
                    Ok((
                        r.try_get("source")?,
                        r.try_get("kind")?,
                        r.try_get("content_hash")?,
                        r.try_get("chunks")?,
                        r.try_get("embedding_model")?,
                        r.try_get("updated_at")?,
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(db_err)?
        });
        rows.into_iter()
            .map(|row| document_from(tenant, row))
            .collect()
    }

    async fn delete_document(&self, tenant: &TenantId, source: &str) -> StoreResult<bool> {
        on_pool!(self, |pool, pg| {
            let mut tx = pool.begin_with(begin_statement(pg)).await.map_err(db_err)?;
            let deleted =
                sqlx::query("DELETE FROM knowledge_documents WHERE tenant_id = $1 AND source = $2")
                    .bind(tenant.as_str())
                    .bind(source)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .rows_affected();
            if deleted == 0 {
                // Nothing to delete: the transaction rolls back as it drops, the revision stays.
                return Ok(false);
            }
            sqlx::query("DELETE FROM knowledge_chunks WHERE tenant_id = $1 AND source = $2")
                .bind(tenant.as_str())
                .bind(source)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            sqlx::query(BUMP_REVISION)
                .bind(tenant.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            Ok(true)
        })
    }

    async fn knowledge_chunks(&self, tenant: &TenantId) -> StoreResult<Vec<StoredChunk>> {
        let rows: Vec<ChunkRow> = on_pool!(self, |pool, pg| {
            let rows = sqlx::query(
                "SELECT source, position, heading, text, embedding_model, embedding \
                 FROM knowledge_chunks WHERE tenant_id = $1 ORDER BY source, position",
            )
            .bind(tenant.as_str())
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.into_iter()
                .map(|r| {
                    Ok((
                        r.try_get("source")?,
                        r.try_get("position")?,
                        r.try_get("heading")?,
                        r.try_get("text")?,
                        r.try_get("embedding_model")?,
                        r.try_get("embedding")?,
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(db_err)?
        });
        rows.into_iter()
            .map(|row| chunk_from(tenant, row))
            .collect()
    }

    async fn knowledge_revision(&self, tenant: &TenantId) -> StoreResult<u64> {
        let revision: Option<i64> = on_pool!(self, |pool, pg| {
            sqlx::query("SELECT revision FROM knowledge_revisions WHERE tenant_id = $1")
                .bind(tenant.as_str())
                .fetch_optional(pool)
                .await
                .map_err(db_err)?
                .map(|r| r.try_get("revision"))
                .transpose()
                .map_err(db_err)?
        });
        revision.map_or(Ok(0), |r| revision_from(tenant, r))
    }
}
