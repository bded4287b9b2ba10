//! Reading one source file into a [`RawArray`]: CSV columns, `.npy`, a key of an `.npz` archive or of a
//! safetensors file. Problems come back as [`ReadError`]s that the loader turns into diagnostics labelled
//! with the field's span.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::npy::{decode, parse_npy, Names, RawArray};
use crate::guarded_read::{read_capped, Refusal};
use crate::ir::SourceKind;

/// A problem with one file, without a location in the .fuse file yet.
#[derive(Clone, Debug)]
pub struct ReadError {
    pub code: &'static str,
    pub message: String,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl ReadError {
    pub(super) fn new(code: &'static str, message: impl Into<String>) -> ReadError {
        ReadError {
            code,
            message: message.into(),
            notes: Vec::new(),
            help: None,
        }
    }
}

/// File contents by path, so a file that feeds several fields (features and labels of one CSV) is read once.
#[derive(Default)]
pub struct FileCache {
    files: HashMap<PathBuf, Rc<Vec<u8>>>,
    /// Decoded feature-release pickles, so one file feeding several fields is decoded once.
    pub(super) pickles: super::pickle_source::PickleCache,
}

impl FileCache {
    /// Drops a file's bytes once what was decoded from them is cached (a release pickle can be gigabytes).
    pub(super) fn forget(&mut self, path: &Path) {
        self.files.remove(path);
    }

    pub(super) fn bytes(&mut self, path: &Path, shown: &str) -> Result<Rc<Vec<u8>>, ReadError> {
        if let Some(b) = self.files.get(path) {
            return Ok(b.clone());
        }
        // Regular files only: a FIFO would block forever and a device or `/proc` file has no real size.
        let bytes = read_capped(path, u64::MAX).map_err(|r| match r {
            Refusal::Unreadable(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing_file(path, shown)
            }
            r => ReadError::new(
                "fusec::data::io",
                format!("cannot read data file `{shown}`: {r}"),
            )
            .with_note(format!("full path: {}", path.display())),
        })?;
        let bytes = Rc::new(bytes);
        self.files.insert(path.to_path_buf(), bytes.clone());
        Ok(bytes)
    }
}

impl ReadError {
    fn with_note(mut self, note: impl Into<String>) -> ReadError {
        self.notes.push(note.into());
        self
    }

    fn with_help(mut self, help: impl Into<String>) -> ReadError {
        self.help = Some(help.into());
        self
    }
}

fn missing_file(path: &Path, shown: &str) -> ReadError {
    let mut e = ReadError::new(
        "fusec::data::missing_file",
        format!("data file `{shown}` does not exist"),
    )
    .with_note(format!("looked for: {}", path.display()));
    e.help = Some(
        "fusec cannot download anything: get the data set from its original source (the data set's README, \
         or the paper's data section, says where), place the file there, or point the data at another folder \
         with `--set data.path=...`"
            .into(),
    );
    e
}

/// Reads the array a source describes from `path`; `shown` is the path as diagnostics print it. With
/// `names_ok` (a label field that may hold class names), a CSV column with a cell that is not a number is read
/// as names.
pub fn read_source(
    kind: &SourceKind,
    path: &Path,
    shown: &str,
    names_ok: bool,
    cache: &mut FileCache,
) -> Result<RawArray, ReadError> {
    let bytes = cache.bytes(path, shown)?;
    match kind {
        SourceKind::Csv {
            start,
            end,
            header,
            scalar,
        } => {
            let columns = Columns {
                start: *start,
                end: *end,
                header: *header,
                scalar: *scalar,
                names_ok,
            };
            read_csv(&bytes, shown, &columns)
        }
        SourceKind::CsvNamed { column, scalar } => {
            let k = super::csv_header::column_named(&bytes, shown, column)?;
            let columns = Columns {
                start: k,
                end: k + 1,
                header: true,
                scalar: *scalar,
                names_ok,
            };
            read_csv(&bytes, shown, &columns)
        }
        SourceKind::Npy => parse_npy(&bytes).map_err(|m| format_error(shown, m)),
        SourceKind::Npz { key } => read_npz(&bytes, shown, key),
        SourceKind::Safetensors { key } => read_safetensors(&bytes, shown, key),
        // `data::text_load` reads these; they never reach the array reader.
        SourceKind::Text(_) | SourceKind::Lengths { .. } => Err(ReadError::new(
            "fusec::internal",
            format!("`{shown}`: text sources are read by the text loader"),
        )),
        // Pickles hold several splits; `fields` reads them through `pickle_source`.
        SourceKind::Pickle { .. } => Err(format_error(
            shown,
            "a feature-release pickle is read per split, not as one array".into(),
        )),
    }
}

fn format_error(shown: &str, message: String) -> ReadError {
    ReadError::new(
        "fusec::data::format",
        format!("cannot read `{shown}`: {message}"),
    )
}

/// What a `csv(...)` source reads.
struct Columns {
    start: usize,
    end: usize,
    header: bool,
    /// Shape `[n]` instead of `[n, 1]`.
    scalar: bool,
    /// A single column with a cell that is not a number is read as class names.
    names_ok: bool,
}

/// Columns `start..end` of every row (after the header if any). Cells are separated by commas, or by tabs in
/// a `.tsv` file.
fn read_csv(bytes: &[u8], shown: &str, c: &Columns) -> Result<RawArray, ReadError> {
    let (start, end) = (c.start, c.end);
    let text = std::str::from_utf8(bytes)
        .map_err(|_| format_error(shown, "the file is not UTF-8 text".into()))?;
    if start >= end {
        return Err(format_error(
            shown,
            format!("the column range {start}..{end} is empty"),
        ));
    }
    let sep = if shown.to_ascii_lowercase().ends_with(".tsv") {
        '\t'
    } else {
        ','
    };
    // Files saved with old Mac line endings (a lone `\r`) have as many rows as the editor shows.
    let text = crate::source::normalize_line_endings(text.to_string());
    let mut values = Vec::new();
    let mut problems = CsvProblems::default();
    let mut names = Names::default();
    let mut n_rows = 0;
    for (line_no, line) in text.lines().enumerate().skip(usize::from(c.header)) {
        if line.trim().is_empty() {
            continue;
        }
        n_rows += 1;
        let cells: Vec<&str> = line.split(sep).collect();
        if cells.len() < end {
            problems.short_rows += 1;
            let at = line_no + 1;
            problems.example(format!(
                "line {at}: {} columns, but columns {start}..{end} are read",
                cells.len()
            ));
            continue;
        }
        if c.names_ok && end == start + 1 {
            names
                .names
                .push(cells[start].trim().trim_matches('"').trim().to_string());
            names.lines.push(line_no + 1);
        }
        for (col, cell) in cells[start..end].iter().enumerate() {
            match parse_cell(cell) {
                Some(v) => values.push(v),
                None => {
                    problems.bad_cells += 1;
                    let (at, col, cell) = (line_no + 1, start + col, cell.trim());
                    problems.example(format!("line {at}, column {col}: `{cell}` is not a number"));
                }
            }
        }
    }
    let as_names = c.names_ok && end == start + 1 && problems.short_rows == 0;
    let names = if as_names && problems.bad_cells > 0 {
        Some(names)
    } else {
        if let Some(e) = problems.into_error(shown) {
            return Err(e);
        }
        None
    };
    if n_rows == 0 {
        let what = if c.header {
            "no rows after its header"
        } else {
            "no rows"
        };
        return Err(
            ReadError::new("fusec::data::empty", format!("`{shown}` has {what}")).with_help(
                "a data file needs at least one example per row; check the path and the file",
            ),
        );
    }
    let shape = if c.scalar {
        vec![n_rows]
    } else {
        vec![n_rows, end.saturating_sub(start)]
    };
    if names.is_some() {
        values.clear();
    }
    Ok(RawArray {
        values,
        shape,
        names,
    })
}

/// Rows too short for the columns read and cells that are not numbers, with the first few as examples.
#[derive(Default)]
struct CsvProblems {
    short_rows: usize,
    bad_cells: usize,
    examples: Vec<String>,
}

impl CsvProblems {
    fn example(&mut self, text: String) {
        if self.examples.len() < 3 {
            self.examples.push(text);
        }
    }

    fn into_error(self, shown: &str) -> Option<ReadError> {
        let total = self.short_rows + self.bad_cells;
        if total == 0 {
            return None;
        }
        let mut parts = Vec::new();
        if self.short_rows > 0 {
            parts.push(plural(
                self.short_rows,
                "row with too few columns",
                "rows with too few columns",
            ));
        }
        if self.bad_cells > 0 {
            parts.push(plural(
                self.bad_cells,
                "cell that is not a number",
                "cells that are not numbers",
            ));
        }
        let message = format!("cannot parse `{shown}`: {}", parts.join(" and "));
        let mut e = ReadError::new("fusec::data::parse", message);
        if total > self.examples.len() {
            let more = total - self.examples.len();
            e.notes = self.examples;
            e.notes.push(format!("... and {more} more"));
        } else {
            e.notes = self.examples;
        }
        e.notes
            .push("lines count from 1 (the header is line 1); columns count from 0".into());
        if self.bad_cells > 0 {
            e.help = Some(
                "a column of class names is read by a scalar integer label field without `classes = N`: \
                 `field y: i64[] = csv(\"data.csv\", column = k)`, or with the names in order, \
                 `classes = [\"wt\", \"ppar\"]`"
                    .into(),
            );
        }
        Some(e)
    }
}

/// `1 thing` or `n things`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A number as Python's `float()` reads it (`nan`, `inf` included); quotes around a cell are allowed.
fn parse_cell(cell: &str) -> Option<f64> {
    let t = cell.trim().trim_matches('"').trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>().ok()
}

fn read_npz(bytes: &[u8], shown: &str, key: &str) -> Result<RawArray, ReadError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format_error(shown, format!("not a zip (.npz) archive: {e}")))?;
    let names: Vec<String> = archive
        .file_names()
        .filter_map(Result::ok)
        .map(|n| n.to_string())
        .collect();
    let wanted = [format!("{key}.npy"), key.to_string()];
    let Some(entry) = wanted.iter().find(|w| names.contains(w)) else {
        let keys: Vec<&str> = names
            .iter()
            .map(|n| n.strip_suffix(".npy").unwrap_or(n))
            .collect();
        return Err(missing_key(shown, key, &keys));
    };
    let file = archive
        .by_name(entry)
        .map_err(|e| format_error(shown, format!("entry `{entry}`: {e}")))?;
    let data =
        read_zip_entry(file).map_err(|m| format_error(shown, format!("entry `{entry}`: {m}")))?;
    parse_npy(&data).map_err(|m| format_error(shown, format!("entry `{entry}`: {m}")))
}

/// Checks every entry of an `.npz` archive on disk against what its compressed bytes can hold and against the
/// memory budget, without inflating anything: for readers (candle's) that inflate whole archives.
pub fn check_npz_sizes(path: &Path) -> Result<(), String> {
    use crate::guarded_read::{human_bytes, max_memory, open_regular, MAX_DEFLATE_RATIO};
    let (file, _) = open_regular(path).map_err(|r| r.to_string())?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| format!("not a zip (.npz) archive: {e}"))?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| e.to_string())?;
        let ratio = match entry.compression() {
            zip::CompressionMethod::Stored => 1,
            _ => MAX_DEFLATE_RATIO,
        };
        if entry.size()
            > entry
                .compressed_size()
                .saturating_mul(ratio)
                .saturating_add(1024)
        {
            return Err(format!(
                "entry `{}` declares {} from {} compressed, more than compression can hold",
                entry.name().unwrap_or_default(),
                human_bytes(entry.size()),
                human_bytes(entry.compressed_size())
            ));
        }
        total = total.saturating_add(entry.size());
    }
    if total > max_memory() {
        return Err(format!(
            "its arrays take {}, more than the memory budget of {} (`--max-memory`)",
            human_bytes(total),
            human_bytes(max_memory())
        ));
    }
    Ok(())
}

/// Inflates one archive entry, after checking the size it declares: no more than its compressed bytes can
/// expand to, and within the memory budget. Reading stops at the declared size, so an entry that lies about
/// its size cannot grow past it.
pub(crate) fn read_zip_entry<R: Read>(file: zip::read::ZipFile<'_, R>) -> Result<Vec<u8>, String> {
    use crate::guarded_read::{human_bytes, max_memory, MAX_DEFLATE_RATIO};
    let declared = file.size();
    let compressed = file.compressed_size();
    let ratio = match file.compression() {
        zip::CompressionMethod::Stored => 1,
        _ => MAX_DEFLATE_RATIO,
    };
    if declared > compressed.saturating_mul(ratio).saturating_add(1024) {
        return Err(format!(
            "it declares {} from {} compressed, more than compression can hold",
            human_bytes(declared),
            human_bytes(compressed)
        ));
    }
    if declared > max_memory() {
        return Err(format!(
            "it declares {}, more than the memory budget of {} (`--max-memory`)",
            human_bytes(declared),
            human_bytes(max_memory())
        ));
    }
    let mut data = Vec::with_capacity(declared as usize);
    file.take(declared.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| e.to_string())?;
    if data.len() as u64 != declared {
        return Err(format!(
            "it declares {declared} bytes but holds {}{}",
            data.len().min(declared as usize),
            if data.len() as u64 > declared {
                " or more"
            } else {
                ""
            }
        ));
    }
    Ok(data)
}

fn missing_key(shown: &str, key: &str, keys: &[&str]) -> ReadError {
    let mut e = ReadError::new(
        "fusec::data::missing_key",
        format!("`{shown}` has no array `{key}`"),
    );
    e.notes
        .push(format!("arrays in the file: {}", keys.join(", ")));
    if let Some(s) = crate::diag::did_you_mean(key, keys.iter().copied()) {
        e.help = Some(format!("did you mean `{s}`?"));
    }
    e
}

pub(super) fn read_safetensors(
    bytes: &[u8],
    shown: &str,
    key: &str,
) -> Result<RawArray, ReadError> {
    use safetensors::Dtype as D;
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| format_error(shown, format!("not a safetensors file: {e}")))?;
    let Ok(view) = st.tensor(key) else {
        let mut keys: Vec<String> = st.names().into_iter().map(|s| s.to_string()).collect();
        keys.sort();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        return Err(missing_key(shown, key, &keys));
    };
    let n = view.shape().iter().product();
    // The same little-endian layouts as .npy, so one decoder serves both; bf16 has no NumPy name.
    let descr = match view.dtype() {
        D::BF16 => {
            let values = view
                .data()
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f64())
                .collect();
            return Ok(RawArray {
                values,
                shape: view.shape().to_vec(),
                names: None,
            });
        }
        D::F64 => "<f8",
        D::F32 => "<f4",
        D::F16 => "<f2",
        D::I64 => "<i8",
        D::I32 => "<i4",
        D::I16 => "<i2",
        D::I8 => "|i1",
        D::U64 => "<u8",
        D::U32 => "<u4",
        D::U16 => "<u2",
        D::U8 => "|u1",
        D::BOOL => "|b1",
        other => {
            return Err(format_error(
                shown,
                format!("array `{key}` has unsupported dtype {other:?}"),
            ))
        }
    };
    let values = decode(descr, view.data(), n).map_err(|m| format_error(shown, m))?;
    Ok(RawArray {
        values,
        shape: view.shape().to_vec(),
        names: None,
    })
}

#[cfg(test)]
#[path = "tests/read.rs"]
mod tests;
