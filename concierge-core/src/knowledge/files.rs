//! Which files a tenant file's `[knowledge] paths` name, and under which `source`, decided
//! once for every native adapter (the server's import, the CLI) over a [`Folders`] port: the
//! adapter lists directories, the core walks, sorts and names. No file system here.

use std::path::{Path, PathBuf};

use super::document::DocumentKind;
use super::KnowledgeConfig;

/// What a path is, as the adapter's file system says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A file (or a link to one).
    File,
    /// A directory.
    Directory,
}

/// The little of a file system the walk needs; `std::fs` in the native adapters.
pub trait Folders {
    /// What `path` is.
    ///
    /// # Errors
    /// When it does not exist or cannot be read (the message names no path; the caller does).
    fn entry(&self, path: &Path) -> Result<Entry, String>;
    /// The entries of the directory `dir`, as full paths, in any order.
    ///
    /// # Errors
    /// When it cannot be listed.
    fn list(&self, dir: &Path) -> Result<Vec<PathBuf>, String>;
}

/// A document to read: where it is, what it is named in the knowledge base, its kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedDocument {
    /// The file.
    pub path: PathBuf,
    /// Its `source`: the path below the listed folder with `/` between parts, or the file
    /// name of a listed file.
    pub source: String,
    /// Its kind, from the file name.
    pub kind: DocumentKind,
}

/// What `[knowledge] paths` name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// The documents, listed folders walked in path order.
    pub documents: Vec<ListedDocument>,
    /// Files in a listed folder that are no document kind (`.png`, `.docx`), left out.
    pub skipped: Vec<PathBuf>,
}

/// Why the paths could not be listed; the message names the path and the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("knowledge.paths[{index}]: {path}: {message}")]
pub struct ListError {
    /// Which of the paths.
    pub index: usize,
    /// The path, as joined to the tenant file's folder.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// The documents `config.paths` name, relative to the folder of `tenant_file`.
///
/// A listed file must be of a document kind; a listed folder is walked (hidden entries, such
/// as `.git`, left out), its files sorted by path, files of no document kind skipped.
///
/// # Errors
/// [`ListError`] for a path that does not exist, cannot be listed, or is a file of no
/// document kind.
pub fn list_documents(
    folders: &dyn Folders,
    tenant_file: &Path,
    config: &KnowledgeConfig,
) -> Result<Listing, ListError> {
    let base = tenant_file.parent().unwrap_or_else(|| Path::new("."));
    let mut listing = Listing::default();
    for (index, listed) in config.paths.iter().enumerate() {
        let path = base.join(listed);
        let error = |message: String| ListError {
            index,
            path: path.display().to_string(),
            message,
        };
        match folders.entry(&path).map_err(error)? {
            Entry::Directory => {
                let mut files = Vec::new();
                walk(folders, &path, &mut files).map_err(error)?;
                files.sort();
                for file in files {
                    let source = relative_source(&path, &file);
                    match DocumentKind::from_file_name(&source) {
                        Some(kind) => listing.documents.push(ListedDocument {
                            path: file,
                            source,
                            kind,
                        }),
                        None => listing.skipped.push(file),
                    }
                }
            }
            Entry::File => {
                let source = path
                    .file_name()
                    .map_or_else(|| listed.clone(), |n| n.to_string_lossy().into_owned());
                let kind = DocumentKind::from_file_name(&source).ok_or_else(|| {
                    error(
                        "not a document kind Concierge reads (.md, .txt, .csv, .html, .pdf)".into(),
                    )
                })?;
                listing
                    .documents
                    .push(ListedDocument { path, source, kind });
            }
        }
    }
    Ok(listing)
}

/// Every file under `dir`, hidden entries left out.
fn walk(folders: &dyn Folders, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    for path in folders.list(dir)? {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        match folders.entry(&path)? {
            Entry::Directory => walk(folders, &path, out)?,
            Entry::File => out.push(path),
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A file system in a map: a path with children is a directory.
    struct Tree(BTreeMap<PathBuf, Vec<PathBuf>>);

    impl Tree {
        fn new(files: &[&str]) -> Tree {
            let mut map: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
            for file in files {
                let mut path = PathBuf::from(file);
                map.entry(path.clone()).or_default();
                while let Some(parent) = path.parent().map(Path::to_path_buf) {
                    if parent.as_os_str().is_empty() {
                        break;
                    }
                    let children = map.entry(parent.clone()).or_default();
                    if !children.contains(&path) {
                        // Reverse order: the walk must sort.
                        children.insert(0, path.clone());
                    }
                    path = parent;
                }
            }
            Tree(map)
        }
    }

    impl Folders for Tree {
        fn entry(&self, path: &Path) -> Result<Entry, String> {
            match self.0.get(path) {
                Some(children) if children.is_empty() => Ok(Entry::File),
                Some(_) => Ok(Entry::Directory),
                None => Err("No such file or directory".into()),
            }
        }
        fn list(&self, dir: &Path) -> Result<Vec<PathBuf>, String> {
            Ok(self.0.get(dir).cloned().unwrap_or_default())
        }
    }

    fn config(paths: &[&str]) -> KnowledgeConfig {
        KnowledgeConfig {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            ..KnowledgeConfig::default()
        }
    }

    #[test]
    fn folders_are_walked_in_path_order_and_sources_are_relative() {
        let tree = Tree::new(&[
            "t/kb/menu.csv",
            "t/kb/faq.md",
            "t/kb/menus/dinner.md",
            "t/kb/.git/config.md",
            "t/kb/photo.png",
            "t/prices.txt",
        ]);
        let listing = list_documents(
            &tree,
            Path::new("t/shop.toml"),
            &config(&["kb/", "prices.txt"]),
        )
        .unwrap();
        let sources: Vec<&str> = listing
            .documents
            .iter()
            .map(|d| d.source.as_str())
            .collect();
        assert_eq!(
            sources,
            ["faq.md", "menu.csv", "menus/dinner.md", "prices.txt"]
        );
        assert_eq!(listing.documents[1].kind, DocumentKind::Csv);
        assert_eq!(listing.skipped, [PathBuf::from("t/kb/photo.png")]);
    }

    #[test]
    fn a_missing_path_or_a_listed_file_of_no_kind_names_the_field() {
        let tree = Tree::new(&["t/photo.png"]);
        let e = list_documents(&tree, Path::new("t/shop.toml"), &config(&["kb/"])).unwrap_err();
        assert_eq!(e.index, 0);
        assert!(
            e.to_string().starts_with("knowledge.paths[0]: t/kb/"),
            "{e}"
        );
        let e =
            list_documents(&tree, Path::new("t/shop.toml"), &config(&["photo.png"])).unwrap_err();
        assert!(e.message.contains("not a document kind"), "{e}");
    }
}
