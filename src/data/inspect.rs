//! `fusec data inspect FILE`: the structure of any data file fusec reads (pickles of the feature releases,
//! `.npy`, `.npz`, `.csv`/`.tsv`, safetensors), the first thing a user runs on a new file: keys, shapes, dtypes,
//! non-finite counts, and the label balance of whatever looks like class labels (`inspect_labels.rs`). The
//! format is chosen by the file's extension, or by its first bytes when the extension says nothing.

use std::fmt::Write;
use std::path::Path;

use super::inspect_labels::{balance, cells, numbers, Label};
use crate::data::npy::{parse_npy, RawArray};
use crate::data::pickle::{read_pickle, summary};
use crate::diag::{Diagnostic, Diagnostics};

/// Reads `path` and describes it.
pub fn inspect_file(path: &Path) -> Result<String, Diagnostics> {
    let bytes = crate::guarded_read::read_capped(path, u64::MAX).map_err(|e| {
        Diagnostic::error(
            "fusec::data::inspect::read",
            format!("cannot read `{}`: {e}", path.display()),
        )
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    inspect_bytes(&name, &bytes)
}

/// Describes a file's contents; `name` is the file name shown (its extension picks the format).
pub fn inspect_bytes(name: &str, bytes: &[u8]) -> Result<String, Diagnostics> {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let body = match ext.as_str() {
        "pkl" | "pickle" | "p" => pickle(name, bytes),
        "npy" => npy(name, bytes),
        "npz" => npz(name, bytes),
        "csv" => csv(name, bytes, ','),
        "tsv" => csv(name, bytes, '\t'),
        "safetensors" => safetensors(name, bytes),
        _ if bytes.first() == Some(&0x80) => pickle(name, bytes),
        _ if bytes.starts_with(b"\x93NUMPY") => npy(name, bytes),
        _ if bytes.starts_with(b"PK") => npz(name, bytes),
        _ => Err(Diagnostic::error(
            "fusec::data::inspect::format",
            format!("`{name}` is not a file fusec reads"),
        )
        .help(
            "fusec reads .pkl (MulT/LMF releases), .npy, .npz, .csv, .tsv and .safetensors files",
        )),
    }?;
    Ok(format!("file: {name} ({} bytes)\n{body}", bytes.len()))
}

fn pickle(name: &str, bytes: &[u8]) -> Result<String, Diagnostic> {
    let value = read_pickle(bytes).map_err(|e| e.to_diagnostic(name))?;
    let protocol = match bytes {
        [0x80, p, ..] => Some(*p),
        _ => None,
    };
    Ok(summary::summarize(&value, protocol))
}

fn format_error(name: &str, what: &str, message: impl std::fmt::Display) -> Diagnostic {
    Diagnostic::error(
        "fusec::data::inspect::format",
        format!("cannot read `{name}` as {what}: {message}"),
    )
}

fn npy(name: &str, bytes: &[u8]) -> Result<String, Diagnostic> {
    let (line, labels) = npy_line(bytes).map_err(|m| format_error(name, "a .npy file", m))?;
    let mut out = format!("format: npy\n  {line}\n");
    if let Some(b) = labels {
        let _ = writeln!(out, "  label balance: {b}");
    }
    Ok(out)
}

/// `<f4 [3, 2], 1 NaN` for one `.npy` file, and its label balance if it looks like labels.
fn npy_line(bytes: &[u8]) -> Result<(String, Option<String>), String> {
    let array = parse_npy(bytes)?;
    let descr = npy_descr(bytes);
    if let Some(names) = &array.names {
        let line = format!("{descr} {:?}, strings", array.shape);
        let labels = names.names.iter().map(|n| Label::Name(n.clone()));
        let labels = one_per_example(&array).then(|| balance(labels)).flatten();
        return Ok((line, labels));
    }
    let nan = array.values.iter().filter(|v| v.is_nan()).count();
    let inf = array.values.iter().filter(|v| v.is_infinite()).count();
    let line = format!("{descr} {:?}, {nan} NaN, {inf} inf", array.shape);
    let integer = descr.contains(['i', 'u', 'b']);
    Ok((line, integer.then(|| integer_balance(&array)).flatten()))
}

/// Whether an array holds one value per example: shape `[n]` or `[n, 1]`.
fn one_per_example(array: &RawArray) -> bool {
    matches!(array.shape[..], [_] | [_, 1])
}

fn integer_balance(array: &RawArray) -> Option<String> {
    one_per_example(array)
        .then(|| numbers(&array.values))
        .flatten()
        .and_then(balance)
}

/// The `descr` entry of a `.npy` header (the dtype), read from the header text.
fn npy_descr(bytes: &[u8]) -> String {
    let header = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    let descr = header
        .split_once("'descr':")
        .map(|(_, rest)| rest.trim_start());
    descr
        .and_then(|rest| rest.strip_prefix('\''))
        .and_then(|rest| rest.split_once('\''))
        .map(|(d, _)| d.to_string())
        .unwrap_or_else(|| "?".to_string())
}

fn npz(name: &str, bytes: &[u8]) -> Result<String, Diagnostic> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format_error(name, "an .npz archive", e))?;
    let mut out = format!("format: npz, {}\n", plural(archive.len(), "array"));
    for i in 0..archive.len() {
        let entry = archive
            .by_index(i)
            .map_err(|e| format_error(name, "an .npz archive", e))?;
        let key = entry
            .name()
            .map_err(|e| format_error(name, "an .npz archive", e))?;
        let key = key.trim_end_matches(".npy").to_string();
        let data = super::read::read_zip_entry(entry)
            .map_err(|e| format_error(name, "an .npz archive", e))?;
        let (line, labels) = npy_line(&data).unwrap_or_else(|m| (format!("unreadable: {m}"), None));
        let _ = writeln!(out, "  {key}: {line}");
        if let Some(b) = labels {
            let _ = writeln!(out, "    label balance: {b}");
        }
    }
    Ok(out)
}

fn csv(name: &str, bytes: &[u8], sep: char) -> Result<String, Diagnostic> {
    let text = std::str::from_utf8(bytes).map_err(|e| format_error(name, "UTF-8 text", e))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let Some(first) = lines.first() else {
        return Ok("format: csv, empty\n".to_string());
    };
    let header = split_csv(first, sep);
    // A header is a first line with a cell that is not a number.
    let has_header = header
        .iter()
        .any(|c| c.trim().trim_matches('"').parse::<f64>().is_err());
    let rows = lines.len() - usize::from(has_header);
    let widths: Vec<usize> = lines.iter().map(|l| split_csv(l, sep).len()).collect();
    let ragged = widths.iter().filter(|&&w| w != header.len()).count();
    let format = if sep == '\t' { "tsv" } else { "csv" };
    let mut out = format!(
        "format: {format}, {}, {}\n",
        plural(rows, "row"),
        plural(header.len(), "column")
    );
    if has_header {
        // Cells holding a comma are shown quoted, as in the file.
        let cells: Vec<String> = header
            .iter()
            .map(|c| {
                if c.contains(',') {
                    format!("\"{c}\"")
                } else {
                    c.clone()
                }
            })
            .collect();
        let _ = writeln!(out, "  header: {}", cells.join(", "));
    } else {
        out.push_str("  no header (the first line is all numbers)\n");
    }
    if ragged > 0 {
        let lines = if ragged == 1 {
            "1 line has".to_string()
        } else {
            format!("{ragged} lines have")
        };
        let _ = writeln!(out, "  {lines} a different number of cells than the first");
    }
    let rows: Vec<Vec<String>> = lines[usize::from(has_header)..]
        .iter()
        .map(|l| split_csv(l, sep))
        .collect();
    let mut balances = Vec::new();
    for (k, head) in header.iter().enumerate() {
        let column: Vec<&str> = rows
            .iter()
            .filter_map(|r| r.get(k).map(|c| c.trim()))
            .collect();
        if let Some(b) = cells(&column).and_then(balance) {
            let title = if has_header {
                format!("{} (column {k})", head.trim())
            } else {
                format!("column {k}")
            };
            balances.push(format!("    {title}: {b}"));
        }
    }
    if !balances.is_empty() {
        out.push_str("  label balance (columns of few distinct integers or names):\n");
        for b in balances {
            let _ = writeln!(out, "{b}");
        }
    }
    Ok(out)
}

/// Cells of one CSV line; separators inside double quotes do not split.
fn split_csv(line: &str, sep: char) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => cells.push(String::new()),
            _ => cells.last_mut().into_iter().for_each(|cell| cell.push(c)),
        }
    }
    cells
}

fn safetensors(name: &str, bytes: &[u8]) -> Result<String, Diagnostic> {
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| format_error(name, "safetensors", e))?;
    use safetensors::Dtype as D;
    let mut tensors: Vec<(String, String, bool)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| {
            let integer = matches!(
                v.dtype(),
                D::I64 | D::I32 | D::I16 | D::I8 | D::U64 | D::U32 | D::U16 | D::U8 | D::BOOL
            );
            (n, format!("{:?} {:?}", v.dtype(), v.shape()), integer)
        })
        .collect();
    tensors.sort();
    let mut out = format!("format: safetensors, {}\n", plural(tensors.len(), "tensor"));
    for (n, what, integer) in tensors {
        let _ = writeln!(out, "  {n}: {what}");
        let labels = integer
            .then(|| super::read::read_safetensors(bytes, name, &n).ok())
            .flatten()
            .and_then(|a| integer_balance(&a));
        if let Some(b) = labels {
            let _ = writeln!(out, "    label balance: {b}");
        }
    }
    Ok(out)
}

/// `1 row`, `3 rows`.
fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}
