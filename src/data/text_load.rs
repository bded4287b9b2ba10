//! Loading `text(...)` and `lengths(...)` fields. Text is read first as sentences
//! (placeholders with the example count let row counts and splits treat text like any field); once the split
//! is known, the vocabulary is built on the training examples only (or read from `vocab = "file"`), every
//! sentence is encoded and padded with PAD to the longest, and `max_len` drops long training examples.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use super::fields::{Loaded, SPLITS};
use super::split::Splits;
use super::text::{tokenize, Vocab};
use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::ir::{DataSpec, FieldSpec, SourceKind, SplitSpec, TextOptions};

/// A text field after loading: its vocabulary, the original lines (BLEU references), and its options.
#[derive(Clone, Debug)]
pub struct TextField {
    pub vocab: Vocab,
    pub lines: Vec<String>,
    pub options: TextOptions,
}

/// Sentences of one text field, before encoding.
pub(super) struct RawText {
    lines: Vec<String>,
    per_split: Option<[usize; 3]>,
    files: String,
}

pub(super) fn is_text(f: &FieldSpec) -> bool {
    matches!(
        f.source.kind,
        SourceKind::Text(_) | SourceKind::Lengths { .. }
    )
}

fn error(field: &FieldSpec, code: &'static str, message: String) -> Diagnostic {
    Diagnostic::error(code, message).label(
        field.source.span,
        format!("field `{}` reads it here", field.name),
    )
}

/// The file's lines, gunzipped when the name ends in `.gz`.
pub(super) fn read_lines(path: &Path, shown: &str) -> Result<Vec<String>, (&'static str, String)> {
    use crate::guarded_read::{human_bytes, max_memory, read_capped, Refusal, MAX_DEFLATE_RATIO};
    let bytes = read_capped(path, u64::MAX).map_err(|r| {
        let code = match &r {
            Refusal::Unreadable(e) if e.kind() == std::io::ErrorKind::NotFound => {
                "fusec::data::missing_file"
            }
            _ => "fusec::data::io",
        };
        (
            code,
            format!("cannot read `{shown}`: {r} (full path: {})", path.display()),
        )
    })?;
    let bytes = if shown.ends_with(".gz") {
        // Inflation stops at what deflate can expand the file to, and at the memory budget.
        let limit = (bytes.len() as u64)
            .saturating_mul(MAX_DEFLATE_RATIO)
            .saturating_add(1024)
            .min(max_memory());
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .take(limit.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| {
                (
                    "fusec::data::format",
                    format!("cannot gunzip `{shown}`: {e}"),
                )
            })?;
        if out.len() as u64 > limit {
            return Err((
                "fusec::data::format",
                format!(
                    "`{shown}` inflates to more than {}, more than its compressed size can hold or the memory budget allows",
                    human_bytes(limit)
                ),
            ));
        }
        out
    } else {
        bytes
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        (
            "fusec::data::format",
            format!("`{shown}` is not UTF-8: {e}"),
        )
    })?;
    Ok(crate::source::normalize_line_endings(text)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Column `column` of a tab-separated file with a header row (no quoting: emoji-mt's convention).
pub(super) fn tsv_column(
    lines: &[String],
    column: &str,
    shown: &str,
) -> Result<Vec<String>, String> {
    let Some((header, rows)) = lines.split_first() else {
        return Err(format!(
            "`{shown}` is empty; a header row naming the columns is expected"
        ));
    };
    let names: Vec<&str> = header.split('\t').collect();
    let Some(k) = names.iter().position(|n| *n == column) else {
        let hint = did_you_mean(column, names.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err(format!(
            "`{shown}` has no column `{column}`{hint}; its columns: {}",
            names.join(", ")
        ));
    };
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            r.split('\t').nth(k).map(str::to_string).ok_or_else(|| {
                format!(
                    "`{shown}` line {} has no column `{column}` (too few tabs)",
                    i + 2
                )
            })
        })
        .collect()
}

fn read_field(
    spec: &DataSpec,
    field: &FieldSpec,
    o: &TextOptions,
    dir: &Path,
) -> Result<RawText, Diagnostic> {
    let mut files = field.source.files.clone();
    let per_split = matches!(spec.split, SplitSpec::Files { .. });
    files.sort_by_key(|(s, _)| SPLITS.iter().position(|x| x == s).unwrap_or(0));
    let (mut lines, mut counts, mut shown_all) = (Vec::new(), [0usize; 3], Vec::new());
    for (split, file) in &files {
        let shown = Path::new(&spec.path).join(file).display().to_string();
        let raw = read_lines(&dir.join(file), &shown).map_err(|(c, m)| error(field, c, m))?;
        let part = match &o.column {
            Some(c) => {
                tsv_column(&raw, c, &shown).map_err(|m| error(field, "fusec::data::column", m))?
            }
            None => raw,
        };
        if let Some(i) = SPLITS.iter().position(|s| s == split) {
            counts[i] = part.len();
        }
        lines.extend(part);
        shown_all.push(format!("`{shown}`"));
    }
    Ok(RawText {
        lines,
        per_split: per_split.then_some(counts),
        files: shown_all.join(", "),
    })
}

fn placeholder(field: &FieldSpec, raw: &RawText) -> Loaded {
    Loaded {
        values: Vec::new(),
        example_shape: vec![0],
        n: raw.lines.len(),
        dtype: field.dtype,
        per_split: raw.per_split,
        replaced: 0,
        files: raw.files.clone(),
        source_replaced: Vec::new(),
        label_names: None,
        class_names: None,
    }
}

/// Reads every text field; inserts a placeholder into `loaded` for each text and lengths field so that row
/// counts and the split see their example counts.
pub(super) fn read_text_fields(
    spec: &DataSpec,
    dir: &Path,
    loaded: &mut BTreeMap<String, Loaded>,
    diags: &mut Diagnostics,
) -> BTreeMap<String, RawText> {
    let mut raw = BTreeMap::new();
    for f in &spec.fields {
        let SourceKind::Text(o) = &f.source.kind else {
            continue;
        };
        if f.dtype.is_float() || f.dims.len() != 1 {
            diags.push(error(f, "fusec::data::text", format!("text field `{}` must be declared `i64[T]` (one padded token sequence per example)", f.name)));
            continue;
        }
        match read_field(spec, f, o, dir) {
            Ok(r) => {
                loaded.insert(f.name.clone(), placeholder(f, &r));
                raw.insert(f.name.clone(), r);
            }
            Err(d) => diags.push(d),
        }
    }
    for f in &spec.fields {
        let SourceKind::Lengths { of } = &f.source.kind else {
            continue;
        };
        match raw.get(of) {
            Some(r) => {
                loaded.insert(f.name.clone(), placeholder(f, r));
            }
            None => diags.push(error(
                f,
                "fusec::data::field",
                format!("`lengths({of})`: `{of}` is not a text field of this data set"),
            )),
        }
    }
    raw
}

/// The field's vocabulary: read from `vocab = "file"`, or built on the training examples.
fn vocabulary(
    f: &FieldSpec,
    o: &TextOptions,
    words: &[Vec<String>],
    train: &[usize],
    dir: &Path,
) -> Result<Vocab, Diagnostic> {
    match &o.vocab {
        Some(file) => Vocab::load(&dir.join(file)).map_err(|m| {
            error(f, "fusec::data::vocab", m).help(
                "a vocabulary file lists one token per line, starting with <pad> <s> </s> <unk>; leave \
                 `vocab` out to build one from the training split",
            )
        }),
        None => {
            let train_words = train.iter().filter_map(|i| words.get(*i));
            Ok(Vocab::build(
                train_words.map(|w| w.as_slice()),
                o.min_freq,
                o.max_vocab,
            ))
        }
    }
}

/// Token ids padded with PAD to the longest sentence: `(values, width)`.
fn padded(ids: &[Vec<u32>]) -> (Vec<f64>, usize) {
    let width = ids.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let mut values = vec![0.0f64; ids.len() * width];
    for (i, seq) in ids.iter().enumerate() {
        for (j, id) in seq.iter().enumerate() {
            values[i * width + j] = f64::from(*id);
        }
    }
    (values, width)
}

/// Builds the vocabularies (training split only), encodes and pads every text field, fills its lengths fields,
/// and drops training examples longer than a field's `max_len`. Returns the text fields and the number of
/// training examples dropped.
pub(super) fn finish_text(
    spec: &DataSpec,
    raw: &BTreeMap<String, RawText>,
    splits: &mut Splits,
    loaded: &mut BTreeMap<String, Loaded>,
    dir: &Path,
    diags: &mut Diagnostics,
) -> (BTreeMap<String, TextField>, usize) {
    let mut texts = BTreeMap::new();
    let mut lengths: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut too_long = vec![false; raw.values().next().map(|r| r.lines.len()).unwrap_or(0)];
    for f in &spec.fields {
        let (SourceKind::Text(o), Some(r)) = (&f.source.kind, raw.get(&f.name)) else {
            continue;
        };
        let words: Vec<Vec<String>> = r
            .lines
            .iter()
            .map(|l| tokenize(l, o.lowercase, o.punct))
            .collect();
        let vocab = match vocabulary(f, o, &words, &splits.train, dir) {
            Ok(v) => v,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let ids: Vec<Vec<u32>> = words
            .iter()
            .map(|w| vocab.encode(w, o.bos, o.eos))
            .collect();
        for (flag, seq) in too_long.iter_mut().zip(&ids) {
            *flag |= o.max_len.is_some_and(|m| seq.len() > m);
        }
        let (values, width) = padded(&ids);
        lengths.insert(f.name.clone(), ids.iter().map(Vec::len).collect());
        let l = Loaded {
            values,
            example_shape: vec![width],
            n: ids.len(),
            dtype: f.dtype,
            per_split: r.per_split,
            replaced: 0,
            files: r.files.clone(),
            source_replaced: Vec::new(),
            label_names: None,
            class_names: None,
        };
        loaded.insert(f.name.clone(), l);
        let lines = r.lines.clone();
        let options = o.clone();
        texts.insert(
            f.name.clone(),
            TextField {
                vocab,
                lines,
                options,
            },
        );
    }
    for f in &spec.fields {
        let SourceKind::Lengths { of } = &f.source.kind else {
            continue;
        };
        let (Some(ls), Some(l)) = (lengths.get(of), loaded.get_mut(&f.name)) else {
            continue;
        };
        l.values = ls.iter().map(|n| *n as f64).collect();
        l.example_shape = Vec::new();
    }
    let before = splits.train.len();
    splits
        .train
        .retain(|i| !too_long.get(*i).copied().unwrap_or(false));
    (texts, before - splits.train.len())
}

impl super::Dataset {
    /// Non-padding tokens of every text field over `examples` (what tokens/s counts).
    pub fn text_tokens(&self, examples: &[usize]) -> usize {
        self.texts
            .keys()
            .filter_map(|name| self.fields.get(name))
            .map(|field| match &field.values {
                super::FieldValues::I64(v) => {
                    let width: usize = field.example_shape.iter().product::<usize>().max(1);
                    examples
                        .iter()
                        .filter_map(|&i| v.get(i * width..(i + 1) * width))
                        .map(|ids| ids.iter().filter(|t| **t != 0).count())
                        .sum()
                }
                super::FieldValues::F32(_) => 0,
            })
            .sum()
    }
}

#[cfg(test)]
#[path = "tests/text_load.rs"]
mod tests;
