//! A tenant file's `[knowledge] paths`, read from disk at import: which files and under which
//! names is the core's ([`concierge_core::knowledge::files`]); this module lists folders and
//! reads bytes.

use std::path::{Path, PathBuf};

use concierge_core::knowledge::files::{list_documents, Entry, Folders};
use concierge_core::knowledge::KnowledgeConfig;

/// Documents as `(source, bytes)`.
pub type Documents = Vec<(String, Vec<u8>)>;

/// The documents the tenant file at `tenant_file` lists, as `(source, bytes)`; `None` when it
/// lists none (the knowledge base is then left as it is: one imported through the admin API
/// keeps its uploads). Files of no document kind in a listed folder are skipped with a warning.
///
/// # Errors
/// The path and what is wrong, for a listed path that does not exist, is of no document kind
/// or cannot be read.
pub fn read(tenant_file: &Path, config: &KnowledgeConfig) -> Result<Option<Documents>, String> {
    if config.paths.is_empty() {
        return Ok(None);
    }
    let listing = list_documents(&StdFolders, tenant_file, config).map_err(|e| e.to_string())?;
    for skipped in &listing.skipped {
        tracing::warn!(file = %skipped.display(), "not a document kind Concierge reads; skipped");
    }
    let mut documents = Vec::with_capacity(listing.documents.len());
    for listed in listing.documents {
        let bytes =
            std::fs::read(&listed.path).map_err(|e| format!("{}: {e}", listed.path.display()))?;
        documents.push((listed.source, bytes));
    }
    Ok(Some(documents))
}

/// The walk's file system: `std::fs` (the import runs once, at start).
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
