//! Readers for the two public layouts of the IEMOCAP / CMU-MOSI / CMU-MOSEI features: MulT's
//! `{split: {text, audio, vision, labels}}` and LMF's `data[emotion][split][key]`. They turn a value tree into
//! float and integer arrays per split, replace non-finite features with 0 (as MulT and LMF do) while counting
//! them, and report every problem found as data naming the key path inside the pickle.

use std::collections::BTreeMap;

use super::value::{NdArray, Value};
use crate::diag::Diagnostic;
use crate::source::Span;

/// The splits of both releases, in file order.
pub const SPLITS: [&str; 3] = ["train", "valid", "test"];
/// IEMOCAP's emotions in MulT's label order (axis 1 of `labels`); LMF's merged labels use the same order.
pub const EMOTIONS: [&str; 4] = ["neutral", "happy", "sad", "angry"];
const MULT_FEATURES: [&str; 3] = ["text", "audio", "vision"];
/// LMF's feature keys and their number of axes including N (covarep and facet are time-averaged).
const LMF_FEATURES: [(&str, usize); 3] = [("covarep", 2), ("facet", 2), ("glove", 3)];

#[derive(Clone, Debug, PartialEq)]
pub enum ArrayData {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// One split: field name -> (shape including N, values in C order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SplitArrays {
    pub fields: BTreeMap<String, (Vec<usize>, ArrayData)>,
}

impl SplitArrays {
    /// The number of examples (the first axis; every field agrees once read).
    pub fn n_examples(&self) -> usize {
        self.fields
            .values()
            .next()
            .and_then(|(shape, _)| shape.first().copied())
            .unwrap_or(0)
    }
}

/// A release read into memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Release {
    /// `train`, `valid`, `test`.
    pub splits: BTreeMap<String, SplitArrays>,
    /// Non-finite values replaced with 0, per `split/field` (every float feature field is listed, zeros too).
    pub replaced: BTreeMap<String, usize>,
    /// `mult` or `lmf`.
    pub layout: &'static str,
}

/// What MulT-layout labels hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelKind {
    /// IEMOCAP: `[N, 4, 2]` one-hot (absent, present) per emotion, read as i64 `[N, 4]`.
    EmotionBinary,
    /// CMU-MOSI / MOSEI: `[N, 1, 1]` sentiment scores in [-3, 3], read as f32 `[N]`.
    Sentiment,
}

/// A problem with a release's structure, as data; the caller attaches the .fuse span.
#[derive(Clone, Debug, PartialEq)]
pub struct ReleaseProblem {
    pub code: &'static str,
    /// Keys from the root, as Python prints them (`'train'`, `b'covarep'`).
    pub path: Vec<String>,
    pub expected: String,
    pub found: String,
    pub help: Option<String>,
}

impl ReleaseProblem {
    fn new(
        code: &'static str,
        path: &[String],
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        ReleaseProblem {
            code,
            path: path.to_vec(),
            expected: expected.into(),
            found: found.into(),
            help: None,
        }
    }

    fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `'train'/'audio'`, or `the root` for the top level.
    pub fn path_text(&self) -> String {
        if self.path.is_empty() {
            "the root".to_string()
        } else {
            self.path.join("/")
        }
    }

    pub fn message(&self) -> String {
        format!(
            "at {} of the pickle: expected {}, found {}",
            self.path_text(),
            self.expected,
            self.found
        )
    }

    /// The problem as a diagnostic labelled at `span` (the .fuse text naming the file).
    pub fn to_diagnostic(&self, span: Span) -> Diagnostic {
        self.to_diagnostic_unlabelled()
            .label(span, format!("while reading {}", self.path_text()))
    }

    /// The problem as a diagnostic without a location (for `fusec data inspect`).
    pub fn to_diagnostic_unlabelled(&self) -> Diagnostic {
        let d = Diagnostic::error(self.code, self.message());
        match &self.help {
            Some(h) => d.help(h.clone()),
            None => d,
        }
    }
}

/// Recognizes a release layout: `"mult"` or `"lmf"`.
pub fn detect_layout(value: &Value) -> Option<&'static str> {
    let train = value.get("train");
    if train.is_some_and(|t| {
        ["labels", "text", "audio", "vision"]
            .iter()
            .any(|k| t.get(k).is_some())
    }) {
        return Some("mult");
    }
    let lmf = EMOTIONS
        .iter()
        .any(|e| value.get(e).and_then(|d| d.get("train")).is_some());
    lmf.then_some("lmf")
}

/// The label kind of a MulT-layout file, from the shape of `train`'s labels: `[N, 4, 2]` is IEMOCAP's
/// emotions, anything else is read as sentiment (and checked as such).
pub fn mult_label_kind(value: &Value) -> LabelKind {
    match value.get("train").and_then(|t| t.get("labels")) {
        Some(Value::NdArray(a)) if a.shape.len() == 3 && a.shape[1..] == [4, 2] => {
            LabelKind::EmotionBinary
        }
        _ => LabelKind::Sentiment,
    }
}

/// Reads the MulT layout `{'train'|'valid'|'test': {'text', 'audio', 'vision', 'labels'[, 'id']}}`.
pub fn read_mult(value: &Value, labels: LabelKind) -> Result<Release, Vec<ReleaseProblem>> {
    let mut release = Release {
        splits: BTreeMap::new(),
        replaced: BTreeMap::new(),
        layout: "mult",
    };
    let mut problems = Vec::new();
    if !matches!(value, Value::Dict(_)) {
        let expected = "a dict with keys 'train', 'valid', 'test' (the MulT layout)";
        let found = describe(value);
        let code = "fusec::data::pickle::layout";
        return Err(vec![ReleaseProblem::new(code, &[], expected, found)]);
    }
    for split in SPLITS {
        let path = vec![key_in(value, split)];
        if let Some(v) = child(value, split, &path, "a dict of arrays", &mut problems) {
            let arrays = mult_split(
                split,
                v,
                &path,
                labels,
                &mut release.replaced,
                &mut problems,
            );
            release.splits.insert(split.to_string(), arrays);
        }
    }
    finish(release, problems)
}

/// One MulT split: the three modalities as f32 `[N, T, D]` and the labels.
fn mult_split(
    split: &str,
    value: &Value,
    path: &[String],
    labels: LabelKind,
    replaced: &mut BTreeMap<String, usize>,
    problems: &mut Vec<ReleaseProblem>,
) -> SplitArrays {
    let mut arrays = SplitArrays::default();
    let expected = "a float array [N, T, D]";
    for key in MULT_FEATURES {
        let path = [path.to_vec(), vec![key_in(value, key)]].concat();
        if let Some(array) = child(value, key, &path, expected, problems) {
            let read = features(array, 3, expected, &path);
            add_feature(&mut arrays, replaced, split, key, read, problems);
        }
    }
    let label_path = [path.to_vec(), vec![key_in(value, "labels")]].concat();
    let expected = label_expectation(labels);
    if let Some(array) = child(value, "labels", &label_path, expected, problems) {
        match mult_labels(array, labels, &label_path) {
            Ok(field) => {
                arrays.fields.insert("labels".to_string(), field);
            }
            Err(p) => problems.push(p),
        }
    }
    check_rows(&arrays, path, problems);
    arrays
}

/// Records a read feature array (and its replacement count), or its problem.
fn add_feature(
    arrays: &mut SplitArrays,
    replaced: &mut BTreeMap<String, usize>,
    split: &str,
    key: &str,
    read: Result<(Vec<usize>, Vec<f32>, usize), ReleaseProblem>,
    problems: &mut Vec<ReleaseProblem>,
) {
    match read {
        Ok((shape, values, n_replaced)) => {
            replaced.insert(format!("{split}/{key}"), n_replaced);
            arrays
                .fields
                .insert(key.to_string(), (shape, ArrayData::F32(values)));
        }
        Err(p) => problems.push(p),
    }
}

/// Reads the LMF layout `data[emotion][split][key]`, merging the four emotions' one-hot labels into i64
/// `[N, 4]` (order of [`EMOTIONS`]) after checking that their feature arrays are identical.
pub fn read_lmf(value: &Value) -> Result<Release, Vec<ReleaseProblem>> {
    let mut release = Release {
        splits: BTreeMap::new(),
        replaced: BTreeMap::new(),
        layout: "lmf",
    };
    let mut problems = Vec::new();
    let mut emotions = Vec::new();
    for emotion in EMOTIONS {
        let path = vec![key_in(value, emotion)];
        if let Some(v) = child(
            value,
            emotion,
            &path,
            "a dict of splits for this emotion",
            &mut problems,
        ) {
            emotions.push((path, v));
        }
    }
    if emotions.len() < EMOTIONS.len() {
        return Err(problems);
    }
    for split in SPLITS {
        let mut per_emotion = Vec::new();
        for (path, v) in &emotions {
            let path = [path.clone(), vec![key_in(v, split)]].concat();
            if let Some(s) = child(v, split, &path, "a dict of arrays", &mut problems) {
                per_emotion.push((path, s));
            }
        }
        if per_emotion.len() == EMOTIONS.len() {
            let arrays = lmf_split(split, &per_emotion, &mut release.replaced, &mut problems);
            release.splits.insert(split.to_string(), arrays);
        }
    }
    finish(release, problems)
}

/// One LMF split: features from the first emotion (checked against the others), labels from all four.
fn lmf_split(
    split: &str,
    per_emotion: &[(Vec<String>, &Value)],
    replaced: &mut BTreeMap<String, usize>,
    problems: &mut Vec<ReleaseProblem>,
) -> SplitArrays {
    let mut arrays = SplitArrays::default();
    let (first_path, first) = &per_emotion[0];
    for (key, n_axes) in LMF_FEATURES {
        let expected = if n_axes == 2 {
            "a float array [N, D]"
        } else {
            "a float array [N, T, D]"
        };
        let path = [first_path.clone(), vec![key_in(first, key)]].concat();
        let Some(array) = child(first, key, &path, expected, problems) else {
            continue;
        };
        for (other_path, other) in &per_emotion[1..] {
            let other_key = [other_path.clone(), vec![key_in(other, key)]].concat();
            match other.get(key) {
                Some(o) if o == array => {}
                Some(o) => problems.push(differs(&other_key, &path, o)),
                None => problems.push(missing(&other_key, other, expected)),
            }
        }
        let read = features(array, n_axes, expected, &path);
        add_feature(&mut arrays, replaced, split, key, read, problems);
    }
    if let Some(labels) = lmf_labels(per_emotion, problems) {
        arrays.fields.insert("labels".to_string(), labels);
    }
    check_rows(&arrays, &first_path[1..], problems);
    arrays
}

/// Each emotion's `label` ([N, 2] one-hot, singleton axes allowed) as one column of i64 [N, 4].
fn lmf_labels(
    per_emotion: &[(Vec<String>, &Value)],
    problems: &mut Vec<ReleaseProblem>,
) -> Option<(Vec<usize>, ArrayData)> {
    let mut columns = Vec::new();
    for (path, v) in per_emotion {
        let expected = "a one-hot label array [N, 2]";
        let path = [path.clone(), vec![key_in(v, "label")]].concat();
        let Some(array) = child(v, "label", &path, expected, problems) else {
            continue;
        };
        let shape = numeric(array).map(squeeze_after_first);
        match (numeric(array), shape.as_deref()) {
            (Some(a), Some([_, 2])) => match a.to_f64() {
                Ok(values) => columns.push(argmax_pairs(&values)),
                Err(e) => problems.push(ReleaseProblem::new(
                    "fusec::data::pickle::dtype",
                    &path,
                    expected,
                    e,
                )),
            },
            _ => problems.push(wrong(&path, expected, array)),
        }
    }
    let n = columns.first()?.len();
    if columns.len() != EMOTIONS.len() || columns.iter().any(|c| c.len() != n) {
        return None;
    }
    let merged = (0..n)
        .flat_map(|i| columns.iter().map(move |c| c[i]))
        .collect();
    Some((vec![n, EMOTIONS.len()], ArrayData::I64(merged)))
}

fn label_expectation(kind: LabelKind) -> &'static str {
    match kind {
        LabelKind::EmotionBinary => "a one-hot label array [N, 4, 2] (IEMOCAP)",
        LabelKind::Sentiment => "a sentiment array [N, 1, 1] (MOSI/MOSEI)",
    }
}

fn mult_labels(
    array: &Value,
    kind: LabelKind,
    path: &[String],
) -> Result<(Vec<usize>, ArrayData), ReleaseProblem> {
    let expected = label_expectation(kind);
    let a = numeric(array).ok_or_else(|| wrong(path, expected, array))?;
    let values = a
        .to_f64()
        .map_err(|e| ReleaseProblem::new("fusec::data::pickle::dtype", path, expected, e))?;
    let n = a.shape.first().copied().unwrap_or(0);
    match kind {
        LabelKind::EmotionBinary if a.shape.len() == 3 && a.shape[1..] == [4, 2] => {
            Ok((vec![n, 4], ArrayData::I64(argmax_pairs(&values))))
        }
        LabelKind::Sentiment if !a.shape.is_empty() && a.n_elements() == n => {
            if values.iter().any(|v| !v.is_finite()) {
                let found = "non-finite sentiment scores";
                return Err(ReleaseProblem::new(
                    "fusec::data::pickle::labels",
                    path,
                    "finite scores",
                    found,
                ));
            }
            Ok((
                vec![n],
                ArrayData::F32(values.iter().map(|&v| v as f32).collect()),
            ))
        }
        _ => {
            // Name the other label kind when the array has its shape (a MOSI file read as IEMOCAP, say).
            let other = match kind {
                LabelKind::EmotionBinary if a.n_elements() == n && n > 0 => {
                    Some("these look like sentiment scores: read them with the sentiment label kind")
                }
                LabelKind::Sentiment if a.shape.len() == 3 && a.shape[1..] == [4, 2] => {
                    Some("these look like IEMOCAP's one-hot emotions: read them with the emotion label kind")
                }
                _ => None,
            };
            let problem = wrong(path, expected, array);
            Err(match other {
                Some(h) => problem.help(h),
                None => problem,
            })
        }
    }
}

/// argmax over consecutive pairs (the one-hot axis), ties to the first as NumPy does.
fn argmax_pairs(values: &[f64]) -> Vec<i64> {
    values
        .chunks_exact(2)
        .map(|p| i64::from(p[1] > p[0]))
        .collect()
}

/// A float feature array with `n_axes` axes, non-finite values replaced with 0 (returned with their count).
fn features(
    array: &Value,
    n_axes: usize,
    expected: &str,
    path: &[String],
) -> Result<(Vec<usize>, Vec<f32>, usize), ReleaseProblem> {
    let a = numeric(array)
        .filter(|a| a.shape.len() == n_axes)
        .ok_or_else(|| wrong(path, expected, array))?;
    let mut values = a
        .to_f32()
        .map_err(|e| ReleaseProblem::new("fusec::data::pickle::dtype", path, expected, e))?;
    let mut n_replaced = 0;
    for v in values.iter_mut().filter(|v| !v.is_finite()) {
        *v = 0.0;
        n_replaced += 1;
    }
    Ok((a.shape.clone(), values, n_replaced))
}

fn numeric(v: &Value) -> Option<&NdArray> {
    match v {
        Value::NdArray(a) if a.dtype.is_numeric() => Some(a),
        _ => None,
    }
}

/// The shape with singleton axes after the first dropped (`[N, 1, 2]` -> `[N, 2]`).
fn squeeze_after_first(a: &NdArray) -> Vec<usize> {
    let mut shape: Vec<usize> = a
        .shape
        .iter()
        .skip(1)
        .copied()
        .filter(|&d| d != 1)
        .collect();
    shape.insert(0, a.shape.first().copied().unwrap_or(0));
    shape
}

/// Every field of a split must have the same number of examples.
fn check_rows(arrays: &SplitArrays, path: &[String], problems: &mut Vec<ReleaseProblem>) {
    let rows: Vec<String> = arrays
        .fields
        .iter()
        .map(|(k, (s, _))| format!("{k} {}", s.first().unwrap_or(&0)))
        .collect();
    let first = arrays.n_examples();
    if arrays
        .fields
        .values()
        .any(|(s, _)| s.first().copied().unwrap_or(0) != first)
    {
        let expected = "the same number of examples N in every array of the split";
        problems.push(ReleaseProblem::new(
            "fusec::data::pickle::rows",
            path,
            expected,
            rows.join(", "),
        ));
    }
}

fn finish(release: Release, problems: Vec<ReleaseProblem>) -> Result<Release, Vec<ReleaseProblem>> {
    if problems.is_empty() {
        Ok(release)
    } else {
        Err(problems)
    }
}

/// `parent[name]`, or a missing-key problem.
fn child<'v>(
    parent: &'v Value,
    name: &str,
    path: &[String],
    expected: &str,
    problems: &mut Vec<ReleaseProblem>,
) -> Option<&'v Value> {
    let found = parent.get(name);
    if found.is_none() {
        problems.push(missing(path, parent, expected));
    }
    found
}

fn missing(path: &[String], parent: &Value, expected: &str) -> ReleaseProblem {
    let found = match parent {
        Value::Dict(_) => format!(
            "no such key (the dict has {})",
            parent.key_reprs().join(", ")
        ),
        other => format!("a {} instead of a dict", other.kind_name()),
    };
    ReleaseProblem::new("fusec::data::pickle::missing_key", path, expected, found)
        .help("fusec reads the MulT layout {split: {text, audio, vision, labels}} and LMF's data[emotion][split][key]")
}

fn wrong(path: &[String], expected: &str, found: &Value) -> ReleaseProblem {
    ReleaseProblem::new(
        "fusec::data::pickle::shape",
        path,
        expected,
        describe(found),
    )
}

fn differs(path: &[String], reference: &[String], found: &Value) -> ReleaseProblem {
    let expected = format!("the same array as {}", reference.join("/"));
    ReleaseProblem::new("fusec::data::pickle::lmf_features_differ", path, expected, format!("a different {}", describe(found)))
        .help("LMF's emotions share one feature set; labels can only be merged when the rows are the same")
}

/// A short description of a value for messages: `ndarray <f4 [24, 20, 74]`, `dict (3 keys)`.
pub fn describe(v: &Value) -> String {
    match v {
        Value::NdArray(a) => format!("ndarray {} {:?}", a.dtype.descr(), a.shape),
        Value::ObjectArray { shape, .. } => format!("object ndarray {shape:?}"),
        Value::Dict(items) => format!("dict ({} keys)", items.len()),
        Value::List(items) | Value::Tuple(items) => {
            format!("{} of {} items", v.kind_name(), items.len())
        }
        other => other.kind_name().to_string(),
    }
}

/// `name` as the parent spells its keys: `b'train'` in a dict with bytes keys, else `'train'`.
fn key_in(parent: &Value, name: &str) -> String {
    if let Value::Dict(items) = parent {
        if let Some((k, _)) = items.iter().find(|(k, _)| k.key_text() == Some(name)) {
            return k.key_repr();
        }
        if matches!(items.first(), Some((Value::Bytes(_), _))) {
            return format!("b'{name}'");
        }
    }
    format!("'{name}'")
}
