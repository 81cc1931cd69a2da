//! `concierge kb`: a tenant's knowledge base read from the files its `[knowledge] paths` name,
//! and searched the way a reply would search it.
//!
//! Reading a document, cutting it into chunks and ranking them are the core's
//! ([`concierge_core::knowledge`]); this module walks the folders, reads the files and prints.

use std::path::{Path, PathBuf};

use concierge_core::knowledge::chunk::{chunks, DEFAULT_MAX_CHARS};
use concierge_core::knowledge::document::{parse, DocumentKind};
use concierge_core::knowledge::files::{list_documents, Entry, Folders};
use concierge_core::knowledge::retrieval::{Hit, Index, SearchOptions};
use concierge_core::knowledge::{Chunk, KnowledgeConfig};
use serde::Serialize;

use crate::error::{read_file, CliError};

/// A tenant's documents, read and cut into chunks.
#[derive(Clone, Debug, Default)]
pub struct Knowledge {
    /// Every chunk, documents in path order.
    pub chunks: Vec<Chunk>,
    /// The documents read, as `source` names.
    pub documents: Vec<String>,
    /// Files in a listed folder that are no document kind (`.png`, `.docx`...), skipped.
    pub skipped: Vec<PathBuf>,
}

/// Reads every document `config.paths` names, relative to the tenant file's folder
/// ([`list_documents`]: a listed file must be a document kind; a listed folder is walked,
/// hidden entries skipped, its files in path order, files of no document kind skipped).
///
/// # Errors
/// [`CliError::BadInput`] naming the path when a listed path does not exist or is no document
/// kind, or when a document cannot be read (binary, too large, broken).
pub fn load(tenant_file: &Path, config: &KnowledgeConfig) -> Result<Knowledge, CliError> {
    let (files, skipped) = read_documents(tenant_file, config)?;
    let mut knowledge = Knowledge {
        skipped,
        ..Knowledge::default()
    };
    for file in files {
        let document = parse(file.kind, &file.source, &file.bytes)
            .map_err(|e| CliError::bad_input(format!("{}: {e}", file.path.display())))?;
        knowledge
            .chunks
            .extend(chunks(&document, DEFAULT_MAX_CHARS));
        knowledge.documents.push(file.source);
    }
    Ok(knowledge)
}

/// One document file, read.
#[derive(Clone, Debug)]
pub struct DocumentFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its name in the knowledge base.
    pub source: String,
    /// Its kind.
    pub kind: DocumentKind,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The files `config.paths` name, read, and the skipped files of no document kind.
///
/// # Errors
/// [`CliError::BadInput`] naming the path when a listed path does not exist, is no document
/// kind or cannot be read.
pub fn read_documents(
    tenant_file: &Path,
    config: &KnowledgeConfig,
) -> Result<(Vec<DocumentFile>, Vec<PathBuf>), CliError> {
    let listing = list_documents(&StdFolders, tenant_file, config)
        .map_err(|e| CliError::bad_input(e.to_string()))?;
    let mut files = Vec::with_capacity(listing.documents.len());
    for listed in listing.documents {
        files.push(DocumentFile {
            bytes: read_file(&listed.path)?,
            path: listed.path,
            source: listed.source,
            kind: listed.kind,
        });
    }
    Ok((files, listing.skipped))
}

/// The walk's file system: `std::fs`.
struct StdFolders;

impl Folders for StdFolders {
    fn entry(&self, path: &Path) -> Result<Entry, String> {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => Ok(Entry::Directory),
            Ok(_) => Ok(Entry::File),
            Err(e) => Err(e.to_string()),
        }
    }

    fn list(&self, dir: &Path) -> Result<Vec<PathBuf>, String> {
        std::fs::read_dir(dir)
            .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect())
            .map_err(|e| e.to_string())
    }
}

/// One result as `concierge kb search --json` prints it.
#[derive(Debug, Serialize)]
pub struct SearchResult {
    /// The document.
    pub source: String,
    /// Its heading path, `Cakes > Eggless`.
    pub heading: String,
    /// The fused score (only the order means something).
    pub score: f32,
    /// The passage.
    pub text: String,
}

impl From<&Hit<'_>> for SearchResult {
    fn from(hit: &Hit<'_>) -> Self {
        SearchResult {
            source: hit.chunk.source.clone(),
            heading: hit.chunk.heading_path(),
            score: hit.score,
            text: hit.chunk.text.clone(),
        }
    }
}

/// `concierge kb search` with no model configured: the passages a reply would get for
/// `question`, best first, by keywords ([`search_with_model`] adds the vectors).
pub fn search(knowledge: &Knowledge, question: &str, k: usize) -> Vec<SearchResult> {
    let index = Index::new(knowledge.chunks.clone());
    let options = SearchOptions {
        k,
        ..SearchOptions::default()
    };
    index
        .search(question, None, &options)
        .iter()
        .map(SearchResult::from)
        .collect()
}

/// [`search`] as a turn searches, with `provider`'s embeddings: the passages are embedded
/// when read and the question when asked, and vectors are fused with the keywords (a provider
/// without embeddings: keywords only, as in a turn).
///
/// # Errors
/// [`CliError::BadInput`] when a document cannot be read or stored; [`CliError::Failed`]
/// when the search fails outside the provider.
pub fn search_with_model(
    source: &crate::source::TenantSource,
    provider: std::sync::Arc<dyn concierge_core::ports::AiProvider>,
    question: &str,
    k: usize,
) -> Result<Vec<SearchResult>, CliError> {
    use crate::sandbox::{ModelChoice, Sandbox};
    let mut sandbox = Sandbox::new(
        &source.text,
        &source.file,
        ModelChoice::Provider(provider),
        crate::ai::engine_config(),
    )?;
    sandbox.learn_from_files(&source.path, &source.file.knowledge)?;
    let tenant = sandbox.harness.tenant_id().clone();
    let found = futures::executor::block_on(
        sandbox
            .harness
            .engine
            .search_knowledge(&tenant, question, k),
    )
    .map_err(|e| CliError::Failed(format!("searching the knowledge base: {e}")))?;
    Ok(found
        .into_iter()
        .map(|r| SearchResult {
            source: r.source,
            heading: r.heading,
            score: r.score,
            text: r.text,
        })
        .collect())
}

/// The results as a person reads them: numbered, with source and heading.
pub fn render(results: &[SearchResult]) -> String {
    if results.is_empty() {
        return "no passage is relevant to this question: a reply would say it does not know\n"
            .to_owned();
    }
    let mut out = String::new();
    for (i, r) in results.iter().enumerate() {
        let heading = if r.heading.is_empty() {
            String::new()
        } else {
            format!(" > {}", r.heading)
        };
        out.push_str(&format!(
            "{}. {}{heading}  ({:.4})\n",
            i + 1,
            r.source,
            r.score
        ));
        for line in r.text.lines() {
            out.push_str(&format!("   {line}\n"));
        }
    }
    out
}
