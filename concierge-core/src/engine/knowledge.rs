//! The business's knowledge base in the engine: documents in (ingest, sync, delete), and the
//! retrieval index per tenant, cached per knowledge revision.
//!
//! Ingest parses and chunks a document ([`crate::knowledge`]), embeds its passages when an
//! embedding model answers, and stores it whole ([`KnowledgeStore::put_document`]); a document
//! whose content hash and embedding model are unchanged is not embedded or written again. A
//! broken document is an error naming it, and nothing of it is stored.

#[cfg(feature = "knowledge")]
use std::collections::BTreeMap;
#[cfg(feature = "knowledge")]
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::{Engine, EngineError};
#[cfg(feature = "knowledge")]
use crate::conversation::FieldError;
use crate::ids::TenantId;
#[cfg(feature = "knowledge")]
use crate::knowledge::chunk::{chunks, DEFAULT_MAX_CHARS};
#[cfg(feature = "knowledge")]
use crate::knowledge::document::{parse, Document, DocumentKind};
#[cfg(feature = "knowledge")]
use crate::knowledge::retrieval::{indexed_text, Index, QueryVector, SearchOptions, Vectors};
use crate::knowledge::StoredDocument;
#[cfg(feature = "knowledge")]
use crate::knowledge::{Chunk, ChunkEmbedding, StoredChunk};
#[cfg(feature = "knowledge")]
use crate::ports::AiError;

/// The retrieval index of each tenant, at the knowledge revision it was built from.
#[cfg(feature = "knowledge")]
#[derive(Default)]
pub(crate) struct IndexCache {
    indexes: Mutex<BTreeMap<TenantId, (u64, Arc<Index>)>>,
}

#[cfg(feature = "knowledge")]
impl std::fmt::Debug for IndexCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexCache").finish_non_exhaustive()
    }
}

/// What an ingest did with one document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum IngestOutcome {
    /// Stored (new or changed): this many passages, embedded with `embedding_model` if any.
    Stored {
        /// The document's source.
        source: String,
        /// Its passages.
        chunks: u32,
        /// The model its passages were embedded with.
        embedding_model: Option<String>,
    },
    /// The same text (and embedding model) was stored already: nothing written.
    Unchanged {
        /// The document's source.
        source: String,
    },
}

/// One passage a search found, as the admin API and `concierge kb search --json` print it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchResult {
    /// The document.
    pub source: String,
    /// The heading path (`Cakes > Eggless cakes`).
    pub heading: String,
    /// The fused score (higher is better).
    pub score: f32,
    /// The passage.
    pub text: String,
}

/// What a sync did: every document of the set ingested, every other stored one removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Per document of the set, in the order given.
    pub documents: Vec<IngestOutcome>,
    /// Stored documents that were not in the set, now deleted.
    pub removed: Vec<String>,
}

impl Engine {
    #[cfg(feature = "knowledge")]
    /// Reads `bytes` as the document `source` of `tenant` (its kind from the file name),
    /// cuts it into passages, embeds them with the embedding model when one answers, and
    /// stores it in place of any earlier version.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] (field `document`, the message naming it) for a document of
    /// no supported kind, binary, over-large, empty or broken: nothing is stored then;
    /// [`EngineError::UnknownTenant`]; storage errors.
    pub async fn ingest_document(
        &self,
        tenant: &TenantId,
        source: &str,
        bytes: &[u8],
    ) -> Result<IngestOutcome, EngineError> {
        self.require_tenant(tenant).await?;
        let document = read_document(source, bytes)?;
        let stored = self.store().knowledge_documents(tenant).await?;
        let earlier = stored.iter().find(|d| d.source == document.source);
        self.store_document(tenant, document, earlier).await
    }

    #[cfg(feature = "knowledge")]
    /// Makes the tenant's knowledge base exactly `documents` (`(source, bytes)`): each is
    /// ingested (unchanged ones skipped) and every stored document not among them deleted.
    /// Every document is read first: one broken document fails the sync and changes nothing.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] with a field error per broken document (and for a source
    /// given twice); [`EngineError::UnknownTenant`]; storage errors.
    pub async fn sync_knowledge(
        &self,
        tenant: &TenantId,
        documents: Vec<(String, Vec<u8>)>,
    ) -> Result<SyncReport, EngineError> {
        self.require_tenant(tenant).await?;
        let mut read = Vec::with_capacity(documents.len());
        let mut errors = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (source, bytes) in &documents {
            if !seen.insert(source.clone()) {
                errors.push(FieldError::new(
                    "document",
                    format!("{source}: given twice"),
                ));
                continue;
            }
            match read_document(source, bytes) {
                Ok(document) => read.push(document),
                Err(EngineError::Invalid(mut e)) => errors.append(&mut e),
                Err(e) => return Err(e),
            }
        }
        if !errors.is_empty() {
            return Err(EngineError::Invalid(errors));
        }
        // One listing for the whole sync: what each document replaces, and what is gone.
        let stored = self.store().knowledge_documents(tenant).await?;
        let mut report = SyncReport::default();
        for document in read {
            let earlier = stored.iter().find(|d| d.source == document.source);
            report
                .documents
                .push(self.store_document(tenant, document, earlier).await?);
        }
        for stored in stored {
            if !seen.contains(&stored.source)
                && self.store().delete_document(tenant, &stored.source).await?
            {
                report.removed.push(stored.source);
            }
        }
        Ok(report)
    }

    /// The tenant's documents, by source.
    ///
    /// # Errors
    /// [`EngineError::UnknownTenant`]; storage errors.
    pub async fn knowledge_documents(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<StoredDocument>, EngineError> {
        self.require_tenant(tenant).await?;
        Ok(self.store().knowledge_documents(tenant).await?)
    }

    /// Deletes the document `source` of `tenant`; whether it existed.
    ///
    /// # Errors
    /// [`EngineError::UnknownTenant`]; storage errors.
    pub async fn delete_document(
        &self,
        tenant: &TenantId,
        source: &str,
    ) -> Result<bool, EngineError> {
        self.require_tenant(tenant).await?;
        Ok(self.store().delete_document(tenant, source).await?)
    }

    #[cfg(feature = "knowledge")]
    /// The passages a reply to `question` would get, best first (at most `k`), searched as
    /// the turn searches: keywords, and vectors when the passages have them and the question
    /// can be embedded by the same model.
    ///
    /// # Errors
    /// [`EngineError::UnknownTenant`]; storage errors.
    pub async fn search_knowledge(
        &self,
        tenant: &TenantId,
        question: &str,
        k: usize,
    ) -> Result<Vec<SearchResult>, EngineError> {
        Ok(self
            .search_passages(tenant, question, k)
            .await?
            .into_iter()
            .map(|(chunk, score)| SearchResult {
                heading: chunk.heading_path(),
                source: chunk.source,
                score,
                text: chunk.text,
            })
            .collect())
    }

    #[cfg(feature = "knowledge")]
    /// [`search_knowledge`](Self::search_knowledge) as passages with their fused scores,
    /// for what shows the envelope a question gets (the dashboard's knowledge page).
    ///
    /// # Errors
    /// [`EngineError::UnknownTenant`]; storage errors.
    pub async fn search_passages(
        &self,
        tenant: &TenantId,
        question: &str,
        k: usize,
    ) -> Result<Vec<(Chunk, f32)>, EngineError> {
        self.require_tenant(tenant).await?;
        let Some(index) = self.knowledge_index(tenant).await? else {
            return Ok(Vec::new());
        };
        let vector = if index.embedding_model() == Some(&self.config.embedding_model) {
            self.embed_inbound(question).await
        } else {
            None
        };
        let query = vector.as_deref().map(|v| QueryVector {
            model: &self.config.embedding_model,
            vector: v,
        });
        let options = SearchOptions {
            k,
            ..SearchOptions::default()
        };
        Ok(index
            .search(question, query, &options)
            .into_iter()
            .map(|hit| (hit.chunk.clone(), hit.score))
            .collect())
    }

    #[cfg(feature = "knowledge")]
    /// The tenant's retrieval index, `None` when it has no documents. Built from the store's
    /// passages once per knowledge revision and kept (one revision read per call otherwise).
    /// Passages with vectors from one model search by keywords and vectors; otherwise by
    /// keywords only.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn knowledge_index(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<Arc<Index>>, EngineError> {
        let revision = self.store().knowledge_revision(tenant).await?;
        if revision == 0 {
            return Ok(None);
        }
        if let Some((at, index)) = self.index_cache().get(tenant) {
            if *at == revision {
                return Ok(Some(Arc::clone(index)));
            }
        }
        let stored = self.store().knowledge_chunks(tenant).await?;
        if stored.is_empty() {
            return Ok(None);
        }
        let index = Arc::new(build_index(stored));
        self.index_cache()
            .insert(tenant.clone(), (revision, Arc::clone(&index)));
        Ok(Some(index))
    }

    #[cfg(feature = "knowledge")]
    fn index_cache(&self) -> std::sync::MutexGuard<'_, BTreeMap<TenantId, (u64, Arc<Index>)>> {
        self.knowledge
            .indexes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn require_tenant(&self, tenant: &TenantId) -> Result<(), EngineError> {
        match self.store().get_tenant(tenant).await? {
            Some(_) => Ok(()),
            None => Err(EngineError::UnknownTenant(tenant.to_string())),
        }
    }

    #[cfg(feature = "knowledge")]
    /// Stores `document` in place of `stored` (its earlier version, if any) unless the text
    /// and the embedding model are the same.
    async fn store_document(
        &self,
        tenant: &TenantId,
        document: Document,
        stored: Option<&StoredDocument>,
    ) -> Result<IngestOutcome, EngineError> {
        let model = &self.config.embedding_model;
        let same_text = stored.is_some_and(|d| d.content_hash == document.content_hash);
        if same_text && stored.and_then(|d| d.embedding_model.as_ref()) == Some(model) {
            return Ok(IngestOutcome::Unchanged {
                source: document.source,
            });
        }
        let passages = chunks(&document, DEFAULT_MAX_CHARS);
        let texts: Vec<String> = passages.iter().map(indexed_text).collect();
        let vectors = match self.ai().embed(model, &texts).await {
            Ok(v) if v.len() == texts.len() => Some(v),
            Ok(v) => {
                tracing::warn!(
                    expected = texts.len(),
                    got = v.len(),
                    "embedding count mismatch; passages stored without vectors"
                );
                None
            }
            Err(AiError::NotConfigured) => None,
            Err(e) => {
                tracing::warn!(error = %e, "could not embed the passages; they are searched by keywords");
                None
            }
        };
        if same_text && vectors.is_none() {
            // Still no embedding model: what is stored is what would be stored.
            return Ok(IngestOutcome::Unchanged {
                source: document.source,
            });
        }
        let embedding_model = vectors.as_ref().map(|_| model.clone());
        let count = u32::try_from(passages.len()).unwrap_or(u32::MAX);
        let mut vectors = vectors.map(Vec::into_iter);
        let rows: Vec<StoredChunk> = passages
            .into_iter()
            .map(|chunk| StoredChunk {
                chunk,
                embedding: vectors
                    .as_mut()
                    .and_then(Iterator::next)
                    .map(|vector| ChunkEmbedding {
                        model: model.clone(),
                        vector,
                    }),
            })
            .collect();
        let row = StoredDocument {
            source: document.source.clone(),
            kind: document.kind.as_str().to_owned(),
            content_hash: document.content_hash,
            chunks: count,
            embedding_model: embedding_model.clone(),
            updated_at: self.clock().now(),
        };
        self.store().put_document(tenant, &row, &rows).await?;
        Ok(IngestOutcome::Stored {
            source: document.source,
            chunks: count,
            embedding_model,
        })
    }
}

#[cfg(feature = "knowledge")]
/// The document `source` read from `bytes`, or a field error naming it.
fn read_document(source: &str, bytes: &[u8]) -> Result<Document, EngineError> {
    let invalid =
        |message: String| EngineError::Invalid(vec![FieldError::new("document", message)]);
    let source = source.trim();
    if source.is_empty() || source.len() > 300 || source.chars().any(char::is_control) {
        return Err(invalid(
            "a document needs a name of 1 to 300 characters without control characters".into(),
        ));
    }
    let Some(kind) = DocumentKind::from_file_name(source) else {
        let kinds: Vec<&str> = DocumentKind::ALL.iter().map(|k| k.as_str()).collect();
        return Err(invalid(format!(
            "{source}: not a supported document kind ({})",
            kinds.join(", ")
        )));
    };
    parse(kind, source, bytes).map_err(|e| invalid(e.to_string()))
}

#[cfg(feature = "knowledge")]
/// One tenant's index from its stored passages: with vectors when every passage has one from
/// the same model, else keywords only.
fn build_index(stored: Vec<StoredChunk>) -> Index {
    let model = stored
        .first()
        .and_then(|c| c.embedding.as_ref())
        .map(|e| e.model.clone());
    let all_embedded = model.as_ref().is_some_and(|m| {
        stored
            .iter()
            .all(|c| c.embedding.as_ref().is_some_and(|e| &e.model == m))
    });
    let (chunks, vectors): (Vec<_>, Vec<_>) = stored
        .into_iter()
        .map(|c| (c.chunk, c.embedding.map(|e| e.vector)))
        .unzip();
    if let (true, Some(model)) = (all_embedded, model) {
        let vectors = Vectors {
            model,
            vectors: vectors.into_iter().flatten().collect(),
        };
        match Index::with_vectors(chunks.clone(), vectors) {
            Ok(index) => return index,
            Err(e) => tracing::warn!(error = %e, "stored vectors unusable; keyword search only"),
        }
    }
    Index::new(chunks)
}
