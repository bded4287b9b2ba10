//! Data loading: reads a `data { }` declaration's files (CSV, `.npy`, `.npz`, safetensors) into memory,
//! validates them against the declared fields (all problems reported at once, as diagnostics labelled in the
//! .fuse file), splits them with a seeded generator, standardizes features with training statistics, and
//! serves batches as candle tensors (from the device: `resident.rs`). This and the CLI are the only parts of fusec that touch the file system.

mod check;
mod classes;
mod csv_header;
mod detok;
mod fields;
pub mod inspect;
mod inspect_labels;
pub mod npy;
pub mod pickle;
mod pickle_source;
mod read;
mod report;
mod resident;
mod split;
mod split_check;
mod split_column;
pub mod split_kfold;
pub mod text;
mod text_load;

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Error, Tensor};

use crate::diag::Diagnostics;
use crate::ir::{DataSpec, Dtype, SplitSpec};
use crate::rng::SeededRng;

pub use check::check_against_model;
pub use read::check_npz_sizes;
pub use report::{ClassCounts, DataReport};
pub use resident::{BatchIndex, ResidentData, UploadedOrder};
pub use text_load::TextField;

/// A field's values for every example, in example order (row-major within an example).
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValues {
    /// Float fields (`f32` and `f64` declarations alike: models compute in f32).
    F32(Vec<f32>),
    /// Integer and boolean fields.
    I64(Vec<i64>),
}

/// One field: `n` examples of shape `example_shape`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldData {
    pub values: FieldValues,
    /// The declared dtype; `values` holds it as f32 (floats) or i64 (integers and bools).
    pub dtype: Dtype,
    pub example_shape: Vec<usize>,
    pub n: usize,
}

/// A loaded, validated, split and standardized data set.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub fields: BTreeMap<String, FieldData>,
    /// Example indices of each split, ascending.
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    pub test: Vec<usize>,
    pub report: DataReport,
    /// Per standardized field: per-feature (last axis) mean and standard deviation fitted on the training
    /// split, already applied to `fields`; evaluation of new data must apply the same.
    pub standardization: BTreeMap<String, (Vec<f32>, Vec<f32>)>,
    /// Text fields (`text(...)` sources): vocabulary, original lines and options. Their `fields` entries hold
    /// the token ids padded to the longest sentence; [`Dataset::gather`] trims each batch to its longest.
    pub texts: BTreeMap<String, TextField>,
    /// Per label field with named labels (IEMOCAP's emotions): the names, for per-label metrics.
    pub label_names: BTreeMap<String, Vec<String>>,
    /// Per label field whose classes have names (`classes = ["wt", "ppar"]`, or names read from the files): the
    /// names in class-index order.
    pub class_names: BTreeMap<String, Vec<String>>,
    /// Warnings about the data that do not stop a run (a split that leaves a class empty, say).
    pub warnings: Diagnostics,
}

/// Loads `spec`; files are looked up in `base_dir / spec.declared_in / spec.path`. Every problem found is
/// reported, not only the first.
pub fn load(spec: &DataSpec, base_dir: &Path) -> Result<Dataset, Diagnostics> {
    let dir = base_dir.join(&spec.declared_in).join(&spec.path);
    let mut diags = Diagnostics::default();
    check::check_spec(spec, &mut diags);
    // Text fields are read apart: their encoding waits for the split (the vocabulary is the training split's).
    let numeric = DataSpec {
        fields: spec
            .fields
            .iter()
            .filter(|f| !text_load::is_text(f))
            .cloned()
            .collect(),
        ..spec.clone()
    };
    let mut loaded = fields::load_fields(&numeric, &dir, &mut diags);
    let raw_text = text_load::read_text_fields(spec, &dir, &mut loaded, &mut diags);
    fields::check_row_counts(spec, &loaded, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }
    let mut splits = match spec.split {
        SplitSpec::Column { .. } => {
            let n = loaded.values().next().map(|l| l.n).unwrap_or(0);
            split_column::split_by_column(spec, &dir, n, &mut diags)
        }
        SplitSpec::KFold { .. } => split_kfold::split_kfold(spec, &loaded, &mut diags),
        _ => split::split(spec, &loaded),
    };
    let carved =
        split::carve_note(spec, &loaded).or_else(|| split_kfold::kfold_note(spec, &loaded));
    let (texts, too_long) =
        text_load::finish_text(spec, &raw_text, &mut splits, &mut loaded, &dir, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }
    let stats = fields::fit_standardization(spec, &loaded, &splits.train);
    let mut fields = BTreeMap::new();
    let mut replaced = BTreeMap::new();
    let mut source_replaced = BTreeMap::new();
    let mut label_names = BTreeMap::new();
    let mut class_names = BTreeMap::new();
    for (name, mut f) in loaded {
        if let Some(names) = f.class_names.take() {
            class_names.insert(name.clone(), names);
        }
        if f.replaced > 0 {
            replaced.insert(name.clone(), f.replaced);
        }
        if f.source_replaced.iter().any(|(_, n)| *n > 0) {
            source_replaced.insert(name.clone(), std::mem::take(&mut f.source_replaced));
        }
        if let Some(names) = f.label_names.take() {
            label_names.insert(name.clone(), names);
        }
        fields.insert(name.clone(), fields::finish(f, stats.get(&name)));
    }
    let mut report = DataReport::new(spec, &fields, &splits, replaced, &class_names);
    report.carved = carved;
    report.too_long = too_long;
    report.vocab_sizes = texts
        .iter()
        .map(|(k, t)| (k.clone(), t.vocab.len()))
        .collect();
    report.source_replaced = source_replaced;
    for (name, names) in &label_names {
        if let Some(data) = fields.get(name) {
            let splits = [&splits.train[..], &splits.valid[..], &splits.test[..]];
            let positives = report::label_positives(data, names, splits);
            report.label_positives.insert(name.clone(), positives);
        }
    }
    let warnings = split_check::split_warnings(spec, &report);
    let to_f32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect();
    let standardization = stats
        .into_iter()
        .map(|(k, (m, s))| (k, (to_f32(m), to_f32(s))))
        .collect();
    Ok(Dataset {
        fields,
        train: splits.train,
        valid: splits.valid,
        test: splits.test,
        report,
        standardization,
        texts,
        label_names,
        class_names,
        warnings,
    })
}

impl Dataset {
    /// Number of examples (every field has this many).
    pub fn n_examples(&self) -> usize {
        self.fields.values().next().map(|f| f.n).unwrap_or(0)
    }

    /// The example indices of `train`, `valid` or `test`.
    pub fn split(&self, name: &str) -> Option<&[usize]> {
        match name {
            "train" => Some(&self.train),
            "valid" => Some(&self.valid),
            "test" => Some(&self.test),
            _ => None,
        }
    }

    /// The examples `idx` of `field` stacked into a `[idx.len(), ..example_shape]` tensor of the field's
    /// declared dtype (f32, f64, i64, u32, or u8 for bool).
    pub fn gather(
        &self,
        field: &str,
        idx: &[usize],
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let f = self
            .fields
            .get(field)
            .ok_or_else(|| Error::Msg(format!("the data set has no field `{field}`")))?;
        if let Some(bad) = idx.iter().find(|i| **i >= f.n) {
            return Err(Error::Msg(format!(
                "example {bad} is out of range: field `{field}` has {} examples",
                f.n
            )));
        }
        let per: usize = f.example_shape.iter().product();
        let mut shape = vec![idx.len()];
        shape.extend(&f.example_shape);
        if self.texts.contains_key(field) {
            return gather_tokens(f, idx, per, device);
        }
        let t = match &f.values {
            FieldValues::F32(v) => Tensor::from_vec(pick(v, idx, per), shape, device)?,
            FieldValues::I64(v) => Tensor::from_vec(pick(v, idx, per), shape, device)?,
        };
        // The declared dtype, as `ModelInput` tensors have it (bool as u8).
        match f.dtype {
            Dtype::F32 | Dtype::I64 => Ok(t),
            Dtype::F64 => t.to_dtype(DType::F64),
            Dtype::U32 => t.to_dtype(DType::U32),
            Dtype::Bool => t.to_dtype(DType::U8),
        }
    }
}

/// Token ids of `idx` as i64 `[n, T]`, T the longest sentence among them (the rest is PAD = 0).
fn gather_tokens(
    f: &FieldData,
    idx: &[usize],
    per: usize,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let FieldValues::I64(v) = &f.values else {
        return Err(Error::Msg("internal: a text field holds floats".into()));
    };
    let len = |i: usize| {
        let row = &v[i * per..(i + 1) * per];
        row.iter()
            .rposition(|x| *x != 0)
            .map(|p| p + 1)
            .unwrap_or(0)
    };
    let width = idx
        .iter()
        .map(|i| len(*i))
        .max()
        .unwrap_or(0)
        .max(1)
        .min(per.max(1));
    let mut out = Vec::with_capacity(idx.len() * width);
    for &i in idx {
        out.extend_from_slice(&v[i * per..i * per + width.min(per)]);
    }
    let t = Tensor::from_vec(out, (idx.len(), width.min(per)), device)?;
    match f.dtype {
        Dtype::U32 => t.to_dtype(DType::U32),
        _ => Ok(t),
    }
}

fn pick<T: Copy>(values: &[T], idx: &[usize], per: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(idx.len() * per);
    for &i in idx {
        out.extend_from_slice(&values[i * per..(i + 1) * per]);
    }
    out
}

/// Splits `indices` into batches of `batch_size` (the last may be smaller), shuffled first when `rng` is
/// given. With `drop_single`, a trailing batch of one example is dropped (batch statistics of one example
/// are degenerate), unless it is the only batch.
pub fn batches(
    indices: &[usize],
    batch_size: usize,
    rng: Option<&mut SeededRng>,
    drop_single: bool,
) -> Vec<Vec<usize>> {
    let mut order = indices.to_vec();
    if let Some(rng) = rng {
        rng.shuffle(&mut order);
    }
    let mut out: Vec<Vec<usize>> = order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect();
    if drop_single && out.len() > 1 && out.last().is_some_and(|b| b.len() == 1) {
        out.pop();
    }
    out
}

/// [`batches`], counting a dropped trailing batch in `report`.
pub fn batches_counted(
    indices: &[usize],
    batch_size: usize,
    rng: Option<&mut SeededRng>,
    drop_single: bool,
    report: &mut DataReport,
) -> Vec<Vec<usize>> {
    let out = batches(indices, batch_size, rng, drop_single);
    let kept: usize = out.iter().map(Vec::len).sum();
    if kept < indices.len() {
        report.dropped_batches += 1;
    }
    out
}
