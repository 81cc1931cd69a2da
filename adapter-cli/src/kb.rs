//! `concierge kb`: a tenant's knowledge base read from the files its `[knowledge] paths` name,
//! and searched the way a reply would search it.
//!
//! Reading a document, cutting it into chunks and ranking them are the core's
//! ([`concierge_core::knowledge`]); this module walks the folders, reads the files and prints.

use std::path::{Path, PathBuf};

use concierge_core::knowledge::chunk::{chunks, DEFAULT_MAX_CHARS};
use concierge_core::knowledge::document::{parse, DocumentKind};
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

/// Reads every document `config.paths` names, relative to the tenant file's folder.
///
/// A listed file must be a document kind; a listed folder is walked (hidden entries skipped),
/// its files sorted by path, and files of no document kind are skipped and reported.
///
/// # Errors
/// [`CliError::BadInput`] naming the path when a listed path does not exist or is no document
/// kind, or when a document cannot be read (binary, too large, broken).
pub fn load(tenant_file: &Path, config: &KnowledgeConfig) -> Result<Knowledge, CliError> {
    let base = tenant_file.parent().unwrap_or_else(|| Path::new("."));
    let mut knowledge = Knowledge::default();
    for (i, listed) in config.paths.iter().enumerate() {
        let path = base.join(listed);
        let meta = std::fs::metadata(&path).map_err(|e| {
            CliError::bad_input(format!("knowledge.paths[{i}]: {}: {e}", path.display()))
        })?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(&path, &mut files)?;
            files.sort();
            for file in files {
                let source = relative_source(&path, &file);
                match DocumentKind::from_file_name(&source) {
                    Some(kind) => add(&mut knowledge, kind, &file, source)?,
                    None => knowledge.skipped.push(file),
                }
            }
        } else {
            let source = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| listed.clone());
            let kind = DocumentKind::from_file_name(&source).ok_or_else(|| {
                CliError::bad_input(format!(
                    "knowledge.paths[{i}]: {}: not a document kind Concierge reads \
                     (.md, .txt, .csv, .html, .pdf)",
                    path.display()
                ))
            })?;
            add(&mut knowledge, kind, &path, source)?;
        }
    }
    Ok(knowledge)
}

/// Reads one document and adds its chunks.
fn add(
    knowledge: &mut Knowledge,
    kind: DocumentKind,
    file: &Path,
    source: String,
) -> Result<(), CliError> {
    let bytes = read_file(file)?;
    let document = parse(kind, &source, &bytes)
        .map_err(|e| CliError::bad_input(format!("{}: {e}", file.display())))?;
    knowledge
        .chunks
        .extend(chunks(&document, DEFAULT_MAX_CHARS));
    knowledge.documents.push(source);
    Ok(())
}

/// Every file under `dir`, hidden entries (`.git`, `.DS_Store`) left out.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CliError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| CliError::bad_input(format!("{}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| CliError::bad_input(format!("{}: {e}", dir.display())))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// A document's `source`: its path below the listed folder, with `/` between the parts.
fn relative_source(folder: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(folder).unwrap_or(file);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
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

/// `concierge kb search`: the passages a reply would get for `question`, best first (keywords
/// only: the CLI has no embedding model yet).
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
