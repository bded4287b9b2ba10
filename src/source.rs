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
        let upto = &file.text[..(span.start as usize).min(file.text.len())];
        let line = upto.matches('\n').count() + 1;
        let col = upto
            .rsplit('\n')
            .next()
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        (line, col)
    }
}

/// Where source texts come from. The core never touches the file system: the CLI implements this on the file
/// system, tests on an in-memory map. `path` is a user file path as written on the command line or in an import
/// (already joined with the importing file's folder).
pub trait Loader {
    fn load(&self, path: &str) -> Result<String, String>;
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
