//! The business's own knowledge: its documents, cut into passages, and the passages that answer
//! a question.
//!
//! Pure and deterministic like the rest of the core: no file system, no store, no model. An
//! adapter reads the files (or a store hands back chunks), [`document`] turns each into
//! sections under their heading path, [`chunk`] cuts the sections to a size the embedding model
//! takes, and [`retrieval`] ranks one tenant's chunks for a question, by keywords (BM25) and,
//! when an embedding model is configured, by vector cosine, fused by reciprocal rank.
//!
//! The parsers, the search and the grounding checks are the crate feature `knowledge` (on by
//! default; the Cloudflare Worker goes without); the types here, the tenant file's table and
//! the store port are always there.
//!
//! Tenant isolation is by construction: a [`retrieval::Index`] is built from one tenant's
//! chunks and answers only from them.

#[cfg(feature = "knowledge")]
pub mod chunk;
#[cfg(feature = "knowledge")]
pub mod document;
#[cfg(feature = "knowledge")]
pub mod files;
#[cfg(feature = "knowledge")]
pub mod grounding;
#[cfg(feature = "knowledge")]
pub mod retrieval;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// One passage of a document: what retrieval ranks, what the envelope quotes and the reply
/// cites.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The document it came from: its path relative to the listed folder, or its file name.
    pub source: String,
    /// The headings above the passage, outermost first (empty above the first heading).
    pub heading: Vec<String>,
    /// The passage's text.
    pub text: String,
}

impl Chunk {
    /// The heading path as one line, `Cakes > Eggless` (empty when there is none).
    pub fn heading_path(&self) -> String {
        self.heading.join(" > ")
    }
}

/// A passage a reply used: its document and heading path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    /// The document (`faq.md`).
    pub source: String,
    /// The heading path (`Cakes > Eggless cakes`; empty when none).
    pub heading: String,
}

impl Citation {
    /// The citation of `chunk`.
    pub fn of(chunk: &Chunk) -> Citation {
        Citation {
            source: chunk.source.clone(),
            heading: chunk.heading_path(),
        }
    }
}

/// A passage's embedding, with the model that made it: a vector is only ever compared with a
/// question embedded by the same model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChunkEmbedding {
    /// The embedding model's id (`@cf/baai/bge-base-en-v1.5`, `all-MiniLM-L6-v2`).
    pub model: String,
    /// The vector (L2-normalized by the models we use; cosine does not rely on it).
    pub vector: Vec<f32>,
}

/// A passage as a store keeps it: the chunk and, when an embedding model was configured at
/// ingest, its vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredChunk {
    /// The passage.
    pub chunk: Chunk,
    /// Its embedding, if one was made.
    pub embedding: Option<ChunkEmbedding>,
}

/// A document of a tenant's knowledge base as stored: what the admin API lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDocument {
    /// Its name within the tenant's knowledge base (unique per tenant): a path relative to the
    /// listed folder, a file name, or the name it was uploaded under.
    pub source: String,
    /// The format it was read as (`markdown`, `csv`, ... from [`document::DocumentKind::as_str`]).
    pub kind: String,
    /// SHA-256 of its normalized text ([`document::Document::content_hash`]): an upload with
    /// the same hash changes nothing and is not embedded again.
    pub content_hash: String,
    /// How many passages it was cut into.
    pub chunks: u32,
    /// The embedding model its passages were embedded with, if any.
    pub embedding_model: Option<String>,
    /// When it was last (re)ingested.
    pub updated_at: Timestamp,
}

/// Encodes a vector for a text column: base64 (standard, padded) of its little-endian `f32`s.
/// One encoding for every store, so a vector reads back bit for bit.
pub fn encode_vector(vector: &[f32]) -> String {
    use base64::Engine as _;
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes [`encode_vector`]'s text; `None` when it is not such a text.
pub fn decode_vector(text: &str) -> Option<Vec<f32>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    if bytes.len() % 4 != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    )
}

/// What to do when the knowledge base has nothing relevant to a question.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenUnknown {
    /// Say so and offer to bring in a person (the default).
    #[default]
    Offer,
    /// Say so and hand the conversation to a person.
    Handoff,
}

/// The tenant file's `[knowledge]` table: where the business's documents are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeConfig {
    /// Files or folders, relative to the tenant file. A document's `source` is its path
    /// relative to the listed folder, or its file name for a listed file.
    #[serde(default)]
    pub paths: Vec<String>,
    /// What a reply does when nothing relevant is found.
    #[serde(default)]
    pub when_unknown: WhenUnknown,
}

impl KnowledgeConfig {
    /// No documents and the default policy: nothing to write in a tenant file.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.when_unknown == WhenUnknown::default()
    }

    /// The problems with the paths, as `(field, message)`.
    pub fn problems(&self) -> Vec<(String, &'static str)> {
        let mut problems = Vec::new();
        for (i, path) in self.paths.iter().enumerate() {
            let field = format!("knowledge.paths[{i}]");
            if path.trim().is_empty() {
                problems.push((field, "must not be empty"));
            } else if path.starts_with('/') || path.starts_with('\\') || path.contains(':') {
                problems.push((field, "must be relative to the tenant file"));
            }
        }
        problems
    }
}
