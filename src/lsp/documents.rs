//! The documents the client has open, held in memory, and the loader that compiles against them: an open
//! document's text wins over the file on disk (so imports see unsaved edits), everything else is read as the CLI
//! reads it (`api::FsLoader`: regular text files, size-capped, confined to the root file's folder tree or an
//! `--allow-import` folder). The server itself reads nothing else.

use std::collections::HashMap;

use lsp_types::TextDocumentContentChangeEvent;

use super::position::LineIndex;
use super::uri;
use crate::api::FsLoader;
use crate::lower::modules::normalize;
use crate::source::{confine_lexically, LoadError, Loader};

/// One open document.
pub struct Document {
    /// The URI exactly as the client sent it (answers must use the same string).
    pub uri: String,
    /// The name the compiler sees (see [`compile_path`]).
    pub path: String,
    pub text: String,
}

/// Every open document, by URI and by compile path.
#[derive(Default)]
pub struct Documents {
    by_uri: HashMap<String, Document>,
    uri_by_path: HashMap<String, String>,
}

impl Documents {
    pub fn open(&mut self, uri: &str, text: String) {
        let path = compile_path(uri);
        self.uri_by_path.insert(path.clone(), uri.to_string());
        self.by_uri.insert(
            uri.to_string(),
            Document {
                uri: uri.to_string(),
                path,
                text,
            },
        );
    }

    /// Applies the changes of one `didChange` in order: a change without a range replaces the text, one with a
    /// range replaces that range. Returns false (and changes nothing more) for an unknown document or a range
    /// outside the text.
    pub fn change(&mut self, uri: &str, changes: Vec<TextDocumentContentChangeEvent>) -> bool {
        let Some(doc) = self.by_uri.get_mut(uri) else {
            return false;
        };
        for change in changes {
            match change.range {
                None => doc.text = change.text,
                Some(range) => {
                    let idx = LineIndex::new(&doc.text);
                    let (Some(start), Some(end)) = (idx.offset(range.start), idx.offset(range.end))
                    else {
                        return false;
                    };
                    if start > end {
                        return false;
                    }
                    doc.text.replace_range(start..end, &change.text);
                }
            }
        }
        true
    }

    pub fn close(&mut self, uri: &str) {
        if let Some(doc) = self.by_uri.remove(uri) {
            self.uri_by_path.remove(&doc.path);
        }
    }

    pub fn get(&self, uri: &str) -> Option<&Document> {
        self.by_uri.get(uri)
    }

    /// The text of the open document the compiler knows as `path`.
    pub fn text_at_path(&self, path: &str) -> Option<&str> {
        let uri = self.uri_by_path.get(path)?;
        self.by_uri.get(uri).map(|d| d.text.as_str())
    }

    /// The URI of a source the compiler read: the open document's own URI, the stdlib's virtual URI, or the
    /// `file://` URI of an absolute path. `None` for a name that maps to no URI (it cannot happen for names the
    /// loader produced from an open document's path).
    pub fn uri_of_source(&self, name: &str, is_std: bool) -> Option<String> {
        if is_std {
            return Some(uri::std_uri(name));
        }
        if let Some(u) = self.uri_by_path.get(name) {
            return Some(u.clone());
        }
        name.starts_with('/').then(|| uri::file_uri(name))
    }
}

/// The name the compiler knows a document by: a `file://` URI's absolute path (normalized, so imports resolve
/// relative to its folder), or for any other URI (an unsaved `untitled:` buffer) the URI itself with its
/// slashes encoded, one name without a folder.
pub fn compile_path(uri: &str) -> String {
    match uri::file_path(uri) {
        Some(p) if p.starts_with('/') => normalize(&p),
        _ => uri.replace('/', "%2F"),
    }
}

/// The CLI's loader with the open documents laid over the disk. `disk` is false when the root is not a file on
/// disk (an `untitled:` buffer): its imports may then only name open documents.
pub struct OverlayLoader<'a> {
    pub docs: &'a Documents,
    pub disk: bool,
}

impl OverlayLoader<'_> {
    /// An open document's text (the parser refuses one that is too long, as it does a file's).
    fn open_text(&self, path: &str) -> Option<String> {
        self.docs.text_at_path(path).map(str::to_string)
    }

    fn not_on_disk(path: &str) -> LoadError {
        LoadError::missing(
            path,
            "only open documents can be imported from a file that is not saved on disk",
        )
    }
}

impl Loader for OverlayLoader<'_> {
    fn load(&self, path: &str) -> Result<String, String> {
        match self.open_text(path) {
            Some(text) => Ok(text),
            None if self.disk => FsLoader.load(path),
            None => Err(Self::not_on_disk(path).message),
        }
    }

    fn load_root(&self, path: &str) -> Result<String, LoadError> {
        match self.open_text(path) {
            Some(text) => Ok(text),
            None if self.disk => FsLoader.load_root(path),
            None => Err(Self::not_on_disk(path)),
        }
    }

    fn load_import(&self, path: &str, project: &str) -> Result<String, LoadError> {
        match self.open_text(path) {
            Some(text) => {
                // The same confinement as on disk, so an open document gets the diagnostics `fusec check`
                // gives once it is saved.
                confine_lexically(path, project)?;
                Ok(text)
            }
            None if self.disk => FsLoader.load_import(path, project),
            None => Err(Self::not_on_disk(path)),
        }
    }
}
