//! The `mult_pickle` / `lmf_pickle` sources: one key of a feature-release pickle (MulT's or LMF's IEMOCAP,
//! CMU-MOSI, CMU-MOSEI files), read per split as the file holds them. A pickle that feeds several fields is
//! parsed and decoded once; every problem becomes a diagnostic naming the key path inside the pickle and
//! labelled with the field that reads it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::npy::RawArray;
use super::pickle::{
    read_lmf, read_mult, read_pickle, ArrayData, LabelKind, Release, Value, EMOTIONS,
};
use super::read::FileCache;
use crate::diag::{did_you_mean, Diagnostic};
use crate::ir::{FieldSpec, PickleLabels, PickleLayout};

/// The splits of a release, in the order their examples are concatenated.
const SPLITS: [&str; 3] = ["train", "valid", "test"];

/// Releases decoded so far, by full path and layout; `None` when reading failed (already reported once).
#[derive(Default)]
pub struct PickleCache {
    releases: HashMap<(PathBuf, PickleLayout), Option<Rc<Release>>>,
}

/// One field read from a release: per split `(split, shown, array)`, and what the reader did.
pub struct PickleField {
    pub parts: Vec<(String, String, RawArray)>,
    /// `(key path, count)` of non-finite values replaced by 0, one entry per split.
    pub replaced: Vec<(String, usize)>,
    /// The label names of a per-emotion label field (`neutral`, `happy`, `sad`, `angry`).
    pub label_names: Option<Vec<String>>,
}

/// The request of one field: which layout, key and label reading.
pub struct Request<'a> {
    pub layout: PickleLayout,
    pub key: &'a str,
    pub labels: Option<PickleLabels>,
}

/// Reads `req.key` of every split of the release at `path` (`shown` as diagnostics print it). `Err(None)`
/// means the file's problem was reported for an earlier field.
pub fn read_field(
    field: &FieldSpec,
    req: &Request,
    path: &Path,
    shown: &str,
    files: &mut FileCache,
    diags: &mut Vec<Diagnostic>,
) -> Option<PickleField> {
    let release = release(field, req.layout, path, shown, files, diags)?;
    let mut out = PickleField {
        parts: Vec::new(),
        replaced: Vec::new(),
        label_names: None,
    };
    for split in SPLITS {
        let key_path = key_path(req.layout, split, req.key);
        let Some(arrays) = release.splits.get(split) else {
            continue;
        };
        let Some((shape, data)) = arrays.fields.get(req.key) else {
            let keys: Vec<&str> = arrays.fields.keys().map(String::as_str).collect();
            diags.push(missing_key(field, shown, split, req.key, &keys));
            return None;
        };
        let (raw, names) = convert(field, req, shape, data, shown, &key_path)
            .map_err(|d| diags.push(d))
            .ok()?;
        if let Some(n) = release.replaced.get(&format!("{split}/{}", req.key)) {
            out.replaced.push((key_path.clone(), *n));
        }
        out.label_names = names;
        out.parts
            .push((split.to_string(), format!("{shown} {key_path}"), raw));
    }
    Some(out)
}

/// The key path as Python would index the pickle.
fn key_path(layout: PickleLayout, split: &str, key: &str) -> String {
    match layout {
        PickleLayout::Mult => format!("['{split}']['{key}']"),
        PickleLayout::Lmf if key == "labels" => format!("[emotion][b'{split}'][b'label']"),
        PickleLayout::Lmf => format!("[emotion][b'{split}'][b'{key}']"),
    }
}

/// The decoded release at `path`, from the cache or read now.
fn release(
    field: &FieldSpec,
    layout: PickleLayout,
    path: &Path,
    shown: &str,
    files: &mut FileCache,
    diags: &mut Vec<Diagnostic>,
) -> Option<Rc<Release>> {
    let cache_key = (path.to_path_buf(), layout);
    if let Some(cached) = files.pickles.releases.get(&cache_key) {
        return cached.clone();
    }
    let read = decode(field, layout, path, shown, files).map_err(|d| diags.extend(d));
    files.forget(path);
    let release = read.ok().map(Rc::new);
    files.pickles.releases.insert(cache_key, release.clone());
    release
}

fn decode(
    field: &FieldSpec,
    layout: PickleLayout,
    path: &Path,
    shown: &str,
    files: &mut FileCache,
) -> Result<Release, Vec<Diagnostic>> {
    let at = field.source.span;
    let reads = format!("field `{}` reads it here", field.name);
    let bytes = files.bytes(path, shown).map_err(|e| {
        let mut d = Diagnostic::error(e.code, e.message).label(at, reads.clone());
        d.notes = e.notes;
        d.help = e.help;
        vec![d]
    })?;
    let value =
        read_pickle(&bytes).map_err(|e| vec![e.to_diagnostic(shown).label(at, reads.clone())])?;
    let read = match layout {
        PickleLayout::Mult => read_mult(&value, mult_label_kind(&value)),
        PickleLayout::Lmf => read_lmf(&value),
    };
    read.map_err(|problems| {
        problems
            .iter()
            .map(|p| {
                let mut d = p.to_diagnostic(at);
                d.message = format!("`{shown}`: {}", d.message);
                d
            })
            .collect()
    })
}

/// MulT's labels are IEMOCAP's `[N, 4, 2]` one-hot emotions, else (MOSI/MOSEI) sentiment scores.
fn mult_label_kind(value: &Value) -> LabelKind {
    let labels = value.get("train").and_then(|t| t.get("labels"));
    match labels {
        Some(Value::NdArray(a)) if a.shape.len() == 3 && a.shape[1..] == [4, 2] => {
            LabelKind::EmotionBinary
        }
        _ => LabelKind::Sentiment,
    }
}

/// One split's array as the field declares it, with the label names of per-emotion labels.
fn convert(
    field: &FieldSpec,
    req: &Request,
    shape: &[usize],
    data: &ArrayData,
    shown: &str,
    key_path: &str,
) -> Result<(RawArray, Option<Vec<String>>), Diagnostic> {
    let emotion_labels = matches!(data, ArrayData::I64(_)) && shape.get(1..) == Some(&[4][..]);
    let wanted = req.labels.or(match data {
        ArrayData::I64(_) if emotion_labels => Some(PickleLabels::Emotions),
        _ => None,
    });
    let n = shape.first().copied().unwrap_or(0);
    match (wanted, data) {
        (None, ArrayData::F32(v)) => Ok((raw(v.iter().map(|x| f64::from(*x)), shape), None)),
        (None, ArrayData::I64(v)) => Ok((raw(v.iter().map(|x| *x as f64), shape), None)),
        (Some(PickleLabels::Sentiment), ArrayData::F32(v)) if v.len() == n => {
            Ok((raw(v.iter().map(|x| f64::from(*x)), &[n]), None))
        }
        (Some(PickleLabels::Emotions), ArrayData::I64(v)) if emotion_labels => {
            let names = EMOTIONS.iter().map(|s| s.to_string()).collect();
            Ok((raw(v.iter().map(|x| *x as f64), shape), Some(names)))
        }
        (Some(PickleLabels::Argmax), ArrayData::I64(v)) if emotion_labels => {
            // The first emotion present, as NumPy's argmax over the "present" column (0 when none is).
            let idx = v
                .chunks(4)
                .map(|row| row.iter().position(|x| *x == 1).unwrap_or(0));
            Ok((raw(idx.map(|i| i as f64), &[n]), None))
        }
        (Some(kind), _) => Err(wrong_labels(field, kind, shape, shown, key_path)),
    }
}

fn raw(values: impl Iterator<Item = f64>, shape: &[usize]) -> RawArray {
    RawArray {
        values: values.collect(),
        shape: shape.to_vec(),
        names: None,
    }
}

fn wrong_labels(
    field: &FieldSpec,
    kind: PickleLabels,
    shape: &[usize],
    shown: &str,
    key_path: &str,
) -> Diagnostic {
    let (expected, help) = match kind {
        PickleLabels::Sentiment => (
            "sentiment scores (MOSI/MOSEI, [N, 1, 1])",
            "IEMOCAP's labels are read with `labels = \"emotions\"` or `labels = \"argmax\"`",
        ),
        PickleLabels::Emotions | PickleLabels::Argmax => (
            "IEMOCAP emotion labels ([N, 4, 2] one-hot)",
            "MOSI/MOSEI sentiment labels are read with `labels = \"sentiment\"`",
        ),
    };
    let message = format!(
        "field `{}`: {shown} {key_path} does not hold {expected} (read as shape {shape:?})",
        field.name
    );
    Diagnostic::error("fusec::data::pickle::labels", message)
        .label(field.source.span, "labels read here")
        .help(help)
}

fn missing_key(
    field: &FieldSpec,
    shown: &str,
    split: &str,
    key: &str,
    keys: &[&str],
) -> Diagnostic {
    let message = format!("`{shown}` has no key '{key}' in split '{split}'");
    let d = Diagnostic::error("fusec::data::pickle::missing_key", message)
        .label(
            field.source.span,
            format!("field `{}` reads key '{key}'", field.name),
        )
        .note(format!("the keys of '{split}' are: {}", keys.join(", ")));
    match did_you_mean(key, keys.iter().copied()) {
        Some(s) => d.help(format!("did you mean `key = \"{s}\"`?")),
        None => {
            d.help("name one of the keys with `key = \"...\"` (it defaults to the field's name)")
        }
    }
}
