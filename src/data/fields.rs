//! Per-field loading and validation: read the field's file(s), check the shape against the declared dims,
//! the values against the dtype and `classes`, count non-finite values, and fit and apply standardization.

use std::collections::BTreeMap;
use std::path::Path;

use super::npy::RawArray;
use super::pickle_source;
use super::read::{plural, read_source, FileCache, ReadError};
use super::{FieldData, FieldValues};
use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{DataSpec, DimExpr, Dtype, FieldSpec, NonFinite, SourceKind, SplitSpec};

/// The split names of `split = files()`, in the order their examples are concatenated.
pub const SPLITS: [&str; 3] = ["train", "valid", "test"];

/// A field read and checked, values still f64.
pub struct Loaded {
    pub values: Vec<f64>,
    pub example_shape: Vec<usize>,
    pub n: usize,
    pub dtype: Dtype,
    /// With `split = files()`: examples per split, in [`SPLITS`] order.
    pub per_split: Option<[usize; 3]>,
    /// Non-finite values replaced by 0.
    pub replaced: usize,
    /// The files read, as diagnostics print them (`` `bad/mor.csv` ``).
    pub files: String,
    /// Pickle sources: `(key path, count)` of non-finite values the release reader replaced by 0.
    pub source_replaced: Vec<(String, usize)>,
    /// Pickle sources: the names of per-emotion labels.
    pub label_names: Option<Vec<String>>,
    /// Label fields whose values are class names: the names, in index order.
    pub class_names: Option<Vec<String>>,
}

/// Loads every field, pushing a diagnostic for each problem; fields whose files cannot be read or do not
/// fit the declared shape are left out.
pub fn load_fields(
    spec: &DataSpec,
    dir: &Path,
    diags: &mut Diagnostics,
) -> BTreeMap<String, Loaded> {
    let mut cache = FileCache::default();
    let mut out = BTreeMap::new();
    for field in &spec.fields {
        if out.contains_key(&field.name) {
            diags.push(
                Diagnostic::error(
                    "fusec::data::duplicate_field",
                    format!("field `{}` is declared twice", field.name),
                )
                .label(field.span, "declared again here"),
            );
            continue;
        }
        // A field whose values have problems stays in, so the row counts are still compared.
        if let Some(l) = load_field(spec, field, dir, &mut cache, diags) {
            out.insert(field.name.clone(), l);
        }
    }
    out
}

fn load_field(
    spec: &DataSpec,
    field: &FieldSpec,
    dir: &Path,
    cache: &mut FileCache,
    diags: &mut Diagnostics,
) -> Option<Loaded> {
    if let SourceKind::Pickle {
        layout,
        key,
        labels,
    } = &field.source.kind
    {
        let req = pickle_source::Request {
            layout: *layout,
            key,
            labels: *labels,
        };
        return load_pickle_field(spec, field, &req, dir, cache, diags);
    }
    let files = ordered_files(spec, field, diags)?;
    let names_ok = super::classes::may_hold_names(field);
    let mut parts = Vec::new();
    for (split, file) in &files {
        let shown = Path::new(&spec.path).join(file).display().to_string();
        match read_source(&field.source.kind, &dir.join(file), &shown, names_ok, cache) {
            Ok(raw) => parts.push((split.clone(), shown, raw)),
            Err(e) => diags.push(read_diagnostic(e, field)),
        }
    }
    if parts.len() != files.len() {
        return None;
    }
    let class_names = super::classes::index_names(field, &mut parts)
        .map_err(|d| diags.push(d))
        .ok()?;
    let shown: Vec<String> = parts.iter().map(|(_, s, _)| format!("`{s}`")).collect();
    let mut loaded = concat_parts(spec, field, parts, diags)?;
    loaded.files = shown.join(", ");
    loaded.class_names = class_names;
    check_values(spec, field, &mut loaded, diags);
    Some(loaded)
}

/// A `mult_pickle` / `lmf_pickle` field: the release's splits in order, checked like files of a split.
fn load_pickle_field(
    spec: &DataSpec,
    field: &FieldSpec,
    req: &pickle_source::Request,
    dir: &Path,
    cache: &mut FileCache,
    diags: &mut Diagnostics,
) -> Option<Loaded> {
    let (_, file) = field.source.files.first()?;
    let shown = Path::new(&spec.path).join(file).display().to_string();
    let mut problems = Vec::new();
    let read = pickle_source::read_field(field, req, &dir.join(file), &shown, cache, &mut problems);
    for d in problems {
        diags.push(d);
    }
    let read = read?;
    let mut loaded = concat_parts(spec, field, read.parts, diags)?;
    loaded.files = format!("`{shown}`");
    loaded.source_replaced = read.replaced;
    loaded.label_names = read.label_names;
    loaded.class_names = field.class_names.clone();
    check_values(spec, field, &mut loaded, diags);
    Some(loaded)
}

/// The examples of a field's files (one per split with `split = files()`) one after the other, after
/// checking each file's example shape.
fn concat_parts(
    spec: &DataSpec,
    field: &FieldSpec,
    parts: Vec<(String, String, RawArray)>,
    diags: &mut Diagnostics,
) -> Option<Loaded> {
    let mut per_split = [0usize; 3];
    let mut values = Vec::new();
    let mut example_shape = None;
    for (split, shown, raw) in parts {
        let shape = check_shape(field, &shown, &raw)
            .map_err(|d| diags.push(d))
            .ok()?;
        if example_shape.as_ref().is_some_and(|s| *s != shape) {
            let message = format!(
                "field `{}`: `{shown}` holds examples of shape {shape:?}, unlike the field's other files",
                field.name
            );
            diags.push(field_error(field, "fusec::data::shape", message));
            return None;
        }
        if let Some(i) = SPLITS.iter().position(|s| *s == split) {
            per_split[i] = raw.shape.first().copied().unwrap_or(0);
        }
        example_shape = Some(shape);
        values.extend(raw.values);
    }
    let example_shape = example_shape.unwrap_or_default();
    let per: usize = example_shape.iter().product::<usize>().max(1);
    Some(Loaded {
        n: values.len() / per,
        values,
        example_shape,
        dtype: field.dtype,
        per_split: matches!(spec.split, SplitSpec::Files { .. }).then_some(per_split),
        replaced: 0,
        files: String::new(),
        source_replaced: Vec::new(),
        label_names: None,
        class_names: None,
    })
}

/// The `(split, file)` pairs of a field in loading order, checked against the split mode.
fn ordered_files(
    spec: &DataSpec,
    field: &FieldSpec,
    diags: &mut Diagnostics,
) -> Option<Vec<(String, String)>> {
    let files = &field.source.files;
    let per_split = matches!(spec.split, SplitSpec::Files { .. });
    let ok = if per_split {
        let count = |split: &str| files.iter().filter(|(s, _)| s == split).count();
        files.iter().all(|(s, _)| SPLITS.contains(&s.as_str()))
            && count("train") == 1
            && count("valid") <= 1
            && count("test") <= 1
    } else {
        files.len() == 1 && files[0].0 == "all"
    };
    if !ok {
        let msg = if per_split {
            format!(
                "field `{}` must name one file per split (train, and valid and test if used) with \
                 `split = files()`",
                field.name
            )
        } else {
            format!(
                "field `{}` must read exactly one file unless the data uses `split = files()`",
                field.name
            )
        };
        diags.push(
            Diagnostic::error("fusec::data::files", msg)
                .label(field.source.span, "files given here"),
        );
        return None;
    }
    let mut out: Vec<(String, String)> = files.clone();
    out.sort_by_key(|(s, _)| SPLITS.iter().position(|x| x == s).unwrap_or(0));
    Some(out)
}

fn read_diagnostic(e: ReadError, field: &FieldSpec) -> Diagnostic {
    let mut d = Diagnostic::error(e.code, e.message).label(
        field.source.span,
        format!("field `{}` reads it here", field.name),
    );
    d.notes = e.notes;
    d.help = e.help;
    d
}

pub(super) fn field_error(field: &FieldSpec, code: &'static str, message: String) -> Diagnostic {
    Diagnostic::error(code, message)
        .label(field.span, format!("field `{}` declared here", field.name))
}

/// The example shape of `raw` checked against the declared dims. Declared fixed dims must match exactly, or
/// at least hold the same number of elements (an `.npy` of shape `[n, 1]` for an `i64[]` field).
fn check_shape(field: &FieldSpec, shown: &str, raw: &RawArray) -> Result<Vec<usize>, Diagnostic> {
    let Some((_, example)) = raw.shape.split_first() else {
        return Err(field_error(
            field,
            "fusec::data::shape",
            format!(
                "field `{}`: `{shown}` holds a single value, not one value per example",
                field.name
            ),
        ));
    };
    let fixed: Option<Vec<usize>> = field
        .dims
        .iter()
        .map(|d| match d {
            DimExpr::Const(n) if *n >= 0 => Some(*n as usize),
            _ => None,
        })
        .collect();
    let fits = match &fixed {
        Some(f) => f == example || f.iter().product::<usize>() == example.iter().product::<usize>(),
        None => {
            field.dims.len() == example.len()
                && field
                    .dims
                    .iter()
                    .zip(example)
                    .all(|(d, e)| !matches!(d, DimExpr::Const(n) if *n as usize != *e))
        }
    };
    if !fits {
        let declared: Vec<String> = field.dims.iter().map(|d| d.to_string()).collect();
        return Err(field_error(
            field,
            "fusec::data::shape",
            format!(
                "field `{}` is declared {}[{}], but `{shown}` holds examples of shape {example:?}",
                field.name,
                field.dtype,
                declared.join(", ")
            ),
        ));
    }
    Ok(fixed.unwrap_or_else(|| example.to_vec()))
}

/// Integrality for integer dtypes, non-finite values, and the label range of a `classes` field.
fn check_values(spec: &DataSpec, field: &FieldSpec, l: &mut Loaded, diags: &mut Diagnostics) {
    let per = l.example_shape.iter().product::<usize>().max(1);
    let non_finite: Vec<usize> = (0..l.values.len())
        .filter(|i| !l.values[*i].is_finite())
        .collect();
    if let Some(first) = non_finite.first() {
        if field.dtype.is_float() && spec.nonfinite == NonFinite::Zero {
            for i in &non_finite {
                l.values[*i] = 0.0;
            }
            l.replaced = non_finite.len();
        } else {
            let nan = non_finite.iter().filter(|i| l.values[**i].is_nan()).count();
            let what = plural(non_finite.len(), "non-finite value", "non-finite values");
            let message = format!(
                "field `{}` has {what} in {} ({nan} NaN, {} infinite); the first is in example {} (counting from 0)",
                field.name,
                l.files,
                non_finite.len() - nan,
                first / per
            );
            let mut d = field_error(field, "fusec::data::nonfinite", message);
            if field.dtype.is_float() {
                d = d.help("fix the data, or add `nonfinite = \"zero\"` to the data block to replace them by 0");
            }
            diags.push(d);
        }
    }
    if !field.dtype.is_float() {
        check_integers(field, l, diags);
    }
    if let Some(c) = field.classes {
        check_classes(field, l, c, diags);
    }
}

fn check_integers(field: &FieldSpec, l: &Loaded, diags: &mut Diagnostics) {
    let (lo, hi, kind) = match field.dtype {
        Dtype::Bool => (0.0, 1.0, "0 or 1"),
        Dtype::U32 => (0.0, u32::MAX as f64, "integers in u32's range"),
        _ => (i64::MIN as f64, i64::MAX as f64, "integers"),
    };
    let bad = |v: f64| v.is_finite() && (v.fract() != 0.0 || v < lo || v > hi);
    let n_bad = l.values.iter().filter(|v| bad(**v)).count();
    if let Some(first) = l.values.iter().position(|v| bad(*v)) {
        let what = plural(n_bad, "value is", "values are");
        let message = format!(
            "field `{}` is declared {}, but {what} not {kind} in {} (the first is {} in example {}, counting from 0)",
            field.name,
            field.dtype,
            l.files,
            l.values[first],
            first / l.example_shape.iter().product::<usize>().max(1)
        );
        diags.push(field_error(field, "fusec::data::dtype", message));
    }
}

fn check_classes(field: &FieldSpec, l: &Loaded, classes: i64, diags: &mut Diagnostics) {
    let per = l.example_shape.iter().product::<usize>().max(1);
    let bad: Vec<usize> = (0..l.values.len())
        .filter(|i| {
            l.values[*i].is_finite() && (l.values[*i] < 0.0 || l.values[*i] >= classes as f64)
        })
        .collect();
    if bad.is_empty() {
        return;
    }
    let shown: Vec<String> = bad
        .iter()
        .take(5)
        .map(|i| format!("example {}: {}", i / per, l.values[*i]))
        .collect();
    let what = plural(bad.len(), "label lies", "labels lie");
    let message = format!(
        "field `{}` declares {classes} classes, but {what} outside 0..{classes} in {}",
        field.name, l.files
    );
    let mut d = field_error(field, "fusec::data::label_range", message);
    d.notes
        .push(format!("{} (examples count from 0)", shown.join(", ")));
    diags.push(
        d.help("labels must be class indices counted from 0; check `classes` and the label column"),
    );
}

/// All fields must hold the same number of examples (per split with `split = files()`).
pub fn check_row_counts(
    spec: &DataSpec,
    loaded: &BTreeMap<String, Loaded>,
    diags: &mut Diagnostics,
) {
    let mut fields = spec
        .fields
        .iter()
        .filter_map(|f| loaded.get(&f.name).map(|l| (f, l)));
    let Some((first_spec, first)) = fields.next() else {
        return;
    };
    let key = |l: &Loaded| (l.n, l.per_split);
    let others: Vec<_> = fields.filter(|(_, l)| key(l) != key(first)).collect();
    if others.is_empty() {
        return;
    }
    let count = |l: &Loaded| match l.per_split {
        Some(p) => format!(
            "{} examples (train {}, valid {}, test {})",
            l.n, p[0], p[1], p[2]
        ),
        None => format!("{} examples", l.n),
    };
    let mut d = Diagnostic::error(
        "fusec::data::rows",
        format!(
            "the fields of data `{}` hold different numbers of examples",
            spec.name
        ),
    )
    .label(
        first_spec.span,
        format!("`{}` has {}", first_spec.name, count(first)),
    );
    for (f, l) in others {
        d = d.label(f.span, format!("`{}` has {}", f.name, count(l)));
    }
    diags.push(d.help("every field's files must hold the same examples in the same order"));
}

/// Per-feature (last axis) mean and population standard deviation over the training examples of every field
/// named in `standardize`; a zero deviation becomes 1 so the feature is only centred.
pub fn fit_standardization(
    spec: &DataSpec,
    loaded: &BTreeMap<String, Loaded>,
    train: &[usize],
) -> BTreeMap<String, (Vec<f64>, Vec<f64>)> {
    // `check_spec` has reported names that are not float fields; they are skipped here.
    spec.standardize
        .iter()
        .filter_map(|name| loaded.get(name).map(|l| (name, l)))
        .filter(|(_, l)| l.dtype.is_float())
        .map(|(name, l)| (name.clone(), fit(l, train)))
        .collect()
}

fn fit(l: &Loaded, train: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let per = l.example_shape.iter().product::<usize>().max(1);
    let d = l.example_shape.last().copied().unwrap_or(1).max(1);
    let (mut sum, mut count) = (vec![0.0; d], 0usize);
    for &i in train {
        for (j, v) in l.values[i * per..(i + 1) * per].iter().enumerate() {
            sum[j % d] += v;
        }
        count += per / d;
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / count.max(1) as f64).collect();
    let mut sq = vec![0.0; d];
    for &i in train {
        for (j, v) in l.values[i * per..(i + 1) * per].iter().enumerate() {
            sq[j % d] += (v - mean[j % d]).powi(2);
        }
    }
    let std = sq
        .iter()
        .map(|s| (s / count.max(1) as f64).sqrt())
        .map(|s| if s > 0.0 { s } else { 1.0 })
        .collect();
    (mean, std)
}

/// The field's final storage, standardized if `stats` is given.
pub fn finish(l: Loaded, stats: Option<&(Vec<f64>, Vec<f64>)>) -> FieldData {
    let d = l.example_shape.last().copied().unwrap_or(1).max(1);
    let values = if l.dtype.is_float() {
        let v = l.values.iter().enumerate().map(|(i, v)| match stats {
            Some((m, s)) => ((v - m[i % d]) / s[i % d]) as f32,
            None => *v as f32,
        });
        FieldValues::F32(v.collect())
    } else {
        FieldValues::I64(l.values.iter().map(|v| *v as i64).collect())
    };
    FieldData {
        values,
        dtype: l.dtype,
        example_shape: l.example_shape,
        n: l.n,
    }
}
