//! Source files and spans shared by every stage: a `Span` names a file of the `SourceMap` and a byte range in it,
//! so a diagnostic can point into a user file or into an embedded stdlib file alike.

use serde::Serialize;

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
pub struct FileId(pub u32);

/// A byte range `start..end` in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span {
            file,
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both (they must be in the same file; otherwise `self` is returned).
    pub fn to(self, other: Span) -> Span {
        if self.file != other.file {
            return self;
        }
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// One loaded source text. `name` is what diagnostics print (`examples/mfeat/concat.fuse`, `std/fusion.fuse`).
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    /// True for files embedded from `stdlib/`.
    pub is_std: bool,
    /// Byte offsets where lines start, computed on first use: locating many diagnostics in a large file
    /// stays linear.
    line_starts: std::sync::OnceLock<Vec<u32>>,
}

impl SourceFile {
    fn line_starts(&self) -> &[u32] {
        self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(
                    self.text
                        .bytes()
                        .enumerate()
                        .filter(|(_, b)| *b == b'\n')
                        .map(|(i, _)| i as u32 + 1),
                )
                .collect()
        })
    }
}

/// Every file a compilation read, in the order it was read. The core never touches the file system: the CLI (or a
/// test) hands texts in through a [`crate::syntax::Loader`]-style callback and they are recorded here.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(
        &mut self,
        name: impl Into<String>,
        text: impl Into<String>,
        is_std: bool,
    ) -> FileId {
        self.files.push(SourceFile {
            name: name.into(),
            text: text.into(),
            is_std,
            line_starts: Default::default(),
        });
        FileId((self.files.len() - 1) as u32)
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }

    /// The text a span covers, or "" if the span does not fit its file.
    pub fn snippet(&self, span: Span) -> &str {
        self.get(span.file)
            .and_then(|f| f.text.get(span.start as usize..span.end as usize))
            .unwrap_or("")
    }

    /// 1-based line and column of a span's start.
    pub fn line_col(&self, span: Span) -> (usize, usize) {
        let Some(file) = self.get(span.file) else {
            return (0, 0);
        };
        let mut at = (span.start as usize).min(file.text.len());
        while !file.text.is_char_boundary(at) {
            at -= 1;
        }
        let starts = file.line_starts();
        let line = starts.partition_point(|s| *s as usize <= at).max(1);
        let line_start = starts[line - 1] as usize;
        let col = file.text[line_start..at].chars().count() + 1;
        (line, col)
    }
}

/// Old Mac line endings (a lone `\r`) become `\n`, so a line comment ends where the editor shows the line end.
/// Both are one byte, so every offset stays that of the file on disk; `\r\n` is left as it is.
pub fn normalize_line_endings(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\r' && bytes.get(i + 1) != Some(&b'\n') {
            out[i] = b'\n';
        }
    }
    // Replacing one ASCII byte by another keeps the text UTF-8.
    String::from_utf8(out).unwrap_or(text)
}

/// Why a source file could not be read: a stable diagnostic code, what is wrong and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    pub code: &'static str,
    pub message: String,
    pub help: String,
    /// The system's reason, when there is one ("No such file or directory").
    pub note: Option<String>,
}

impl LoadError {
    pub fn new(
        code: &'static str,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> LoadError {
        LoadError {
            code,
            message: message.into(),
            help: help.into(),
            note: None,
        }
    }

    /// The file does not exist or cannot be opened; `reason` is the loader's explanation.
    pub fn missing(path: &str, reason: &str) -> LoadError {
        LoadError {
            note: Some(reason.to_string()),
            ..LoadError::new(
                "fusec::import::missing",
                format!("cannot read `{path}`"),
                "relative imports start at the folder of the importing file",
            )
        }
    }

    /// The diagnostic (without a location: the importer labels it).
    pub fn to_diagnostic(self) -> crate::diag::Diagnostic {
        let d = crate::diag::Diagnostic::error(self.code, self.message).help(self.help);
        match self.note {
            Some(n) => d.note(n),
            None => d,
        }
    }
}

/// Where source texts come from. The core never touches the file system: the CLI implements this on the file
/// system, tests on an in-memory map. `path` is a user file path as written on the command line or in an import
/// (already joined with the importing file's folder and normalized).
pub trait Loader {
    fn load(&self, path: &str) -> Result<String, String>;

    /// Reads the file a compilation starts from. The default reports what [`Loader::load`] says; the CLI's
    /// loader also refuses what is not a regular text file of a sensible size, with its own code.
    fn load_root(&self, path: &str) -> Result<String, LoadError> {
        self.load(path).map_err(|e| LoadError::missing(path, &e))
    }

    /// Reads a file named by an `import`. `project` is the folder of the compilation's root file ("" for the
    /// working folder): imports stay inside its tree. The default confines the path lexically; the CLI's loader
    /// also resolves links and refuses what is not a regular text file.
    fn load_import(&self, path: &str, project: &str) -> Result<String, LoadError> {
        confine_lexically(path, project)?;
        self.load(path).map_err(|e| LoadError::missing(path, &e))
    }
}

/// `path` (normalized) must lie inside `project` (normalized): no leading `..` out of it, no absolute path
/// elsewhere.
pub fn confine_lexically(path: &str, project: &str) -> Result<(), LoadError> {
    let inside = if project.is_empty() {
        !path.starts_with('/') && path != ".." && !path.starts_with("../")
    } else {
        let prefix = project.trim_end_matches('/');
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
    };
    if inside {
        Ok(())
    } else {
        Err(outside_project(path, project))
    }
}

/// The diagnostic of an import that leaves the project's folder.
pub fn outside_project(path: &str, project: &str) -> LoadError {
    let folder = if project.is_empty() { "." } else { project };
    LoadError::new(
        "fusec::import::outside",
        format!("`{path}` is outside the project folder `{folder}`"),
        "imports stay inside the folder of the file being compiled (and its subfolders): copy the file there, or \
         allow its folder with `--allow-import DIR`",
    )
}

/// An in-memory loader for tests and embedding: path -> text.
#[derive(Clone, Debug, Default)]
pub struct MemoryLoader {
    pub files: std::collections::HashMap<String, String>,
}

impl MemoryLoader {
    pub fn new() -> MemoryLoader {
        MemoryLoader::default()
    }

    pub fn with(mut self, path: &str, text: &str) -> MemoryLoader {
        self.files.insert(path.to_string(), text.to_string());
        self
    }
}

impl Loader for MemoryLoader {
    fn load(&self, path: &str) -> Result<String, String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| format!("no such file: {path}"))
    }
}
