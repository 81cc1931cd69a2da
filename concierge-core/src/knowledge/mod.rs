//! The business's own knowledge: its documents, cut into passages, and the passages that answer
//! a question.
//!
//! Pure and deterministic like the rest of the core: no file system, no store, no model. An
//! adapter reads the files (or a store hands back chunks), [`document`] turns each into
//! sections under their heading path, [`chunk`] cuts the sections to a size the embedding model
//! takes, and [`retrieval`] ranks one tenant's chunks for a question, by keywords (BM25) and,
//! when an embedding model is configured, by vector cosine, fused by reciprocal rank.
//!
//! Tenant isolation is by construction: a [`retrieval::Index`] is built from one tenant's
//! chunks and answers only from them.

pub mod chunk;
pub mod document;
pub mod retrieval;

use serde::{Deserialize, Serialize};

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
