//! The file-system source loader (the CLI's, and the API's): the file to compile and its imports. Every source is read
//! through [`crate::guarded_read`] (regular files only, never blocking, at most
//! [`crate::syntax::MAX_SOURCE_BYTES`]) and must be text; an import must also resolve, links followed, inside
//! the root file's folder tree or a folder allowed with `--allow-import`. A refused file is never echoed.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::guarded_read::{read_capped, Refusal};
use crate::source::{confine_lexically, outside_project, LoadError, Loader};
use crate::syntax::MAX_SOURCE_BYTES;

/// Reads user files from the file system, relative to the working folder.
pub struct FsLoader;

/// Folders outside the project that imports may read (`--allow-import DIR`), resolved once.
static ALLOWED_IMPORTS: OnceLock<Vec<PathBuf>> = OnceLock::new();

/// Sets the folders of `--allow-import` for this process (the first call wins). A folder that does not exist
/// allows nothing.
pub fn allow_imports_from(dirs: &[PathBuf]) {
    let resolved = dirs
        .iter()
        .filter_map(|d| std::fs::canonicalize(d).ok())
        .collect();
    let _ = ALLOWED_IMPORTS.set(resolved);
}

impl Loader for FsLoader {
    fn load(&self, path: &str) -> Result<String, String> {
        read_source(Path::new(path), path).map_err(|e| e.message)
    }

    fn load_root(&self, path: &str) -> Result<String, LoadError> {
        read_source(Path::new(path), path)
    }

    fn load_import(&self, path: &str, project: &str) -> Result<String, LoadError> {
        let allowed_dirs = ALLOWED_IMPORTS.get().map(Vec::as_slice).unwrap_or_default();
        // A path outside the project by its text is refused without touching the file system, unless a folder
        // was allowed explicitly.
        let lexically_inside = confine_lexically(path, project).is_ok();
        if !lexically_inside && allowed_dirs.is_empty() {
            return Err(outside_project(path, project));
        }
        // Links are followed before deciding, so a link inside the project cannot lead out of it.
        let real =
            std::fs::canonicalize(path).map_err(|e| LoadError::missing(path, &e.to_string()))?;
        let project_dir = if project.is_empty() { "." } else { project };
        let in_project = lexically_inside
            && std::fs::canonicalize(project_dir).is_ok_and(|p| real.starts_with(p));
        let allowed = allowed_dirs.iter().any(|d| real.starts_with(d));
        if !in_project && !allowed {
            return Err(outside_project(path, project));
        }
        read_source(&real, path)
    }
}

/// A source file's text, or why it was refused (`shown` is the path as the user wrote it).
fn read_source(path: &Path, shown: &str) -> Result<String, LoadError> {
    let bytes = read_capped(path, MAX_SOURCE_BYTES as u64).map_err(|r| match r {
        Refusal::Unreadable(e) => LoadError::missing(shown, &e.to_string()),
        Refusal::TooLarge { .. } => LoadError::new(
            "fusec::limit::source",
            format!("cannot read `{shown}`: {r}"),
            "a .fuse file describes a model, not data: split it into files that import each other",
        ),
        Refusal::NotRegular(_) | Refusal::PseudoFile(_) => LoadError::new(
            "fusec::import::not_file",
            format!("cannot read `{shown}`: {r}"),
            "name a .fuse file saved on disk",
        ),
    })?;
    let not_text = |why: &str| {
        LoadError::new(
            "fusec::import::not_text",
            format!("`{shown}` is not a text file: {why}"),
            "name a .fuse source file; its contents are not shown",
        )
    };
    if bytes.contains(&0) {
        return Err(not_text("it contains NUL bytes"));
    }
    String::from_utf8(bytes).map_err(|_| not_text("it is not UTF-8"))
}
