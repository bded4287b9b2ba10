//! What loading did, for the run's stdout and its log: examples per split, per-class counts of label fields,
//! replaced non-finite values, standardized fields and dropped batches.

use std::collections::BTreeMap;
use std::fmt;

use super::split::Splits;
use super::{FieldData, FieldValues};
use crate::ir::DataSpec;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataReport {
    pub name: String,
    pub n_examples: usize,
    pub n_train: usize,
    pub n_valid: usize,
    pub n_test: usize,
    /// Per field with `classes`: examples of each class in each split.
    pub classes: BTreeMap<String, ClassCounts>,
    /// Per field: non-finite values replaced by 0 (`nonfinite = "zero"`).
    pub replaced: BTreeMap<String, usize>,
    /// Per field read from a feature-release pickle: non-finite values the reader replaced by 0 (as MulT and
    /// LMF do), as `(key path, count)` per split; only fields with at least one.
    pub source_replaced: BTreeMap<String, Vec<(String, usize)>>,
    /// Per label field with named labels (IEMOCAP's emotions): examples with each label present (value 1) in
    /// train, valid and test.
    pub label_positives: BTreeMap<String, Vec<(String, [usize; 3])>>,
    pub standardized: Vec<String>,
    /// Trailing batches of one example dropped so far (see [`super::batches_counted`]).
    pub dropped_batches: usize,
    /// Training examples dropped because a text field exceeded its `max_len`.
    pub too_long: usize,
    /// Per text field: vocabulary size (specials included).
    pub vocab_sizes: BTreeMap<String, usize>,
    /// How the validation split was carved from the training files, if it was.
    pub carved: Option<String>,
}

/// Examples per class, index = class.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClassCounts {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    pub test: Vec<usize>,
    /// The class names, when the classes have names.
    pub names: Option<Vec<String>>,
}

impl DataReport {
    pub(super) fn new(
        spec: &DataSpec,
        fields: &BTreeMap<String, FieldData>,
        splits: &Splits,
        replaced: BTreeMap<String, usize>,
        class_names: &BTreeMap<String, Vec<String>>,
    ) -> DataReport {
        let mut classes = BTreeMap::new();
        for f in &spec.fields {
            let named = class_names.get(&f.name);
            let count = f.classes.or(named.map(|n| n.len() as i64));
            let (Some(c), Some(data)) = (count, fields.get(&f.name)) else {
                continue;
            };
            let FieldValues::I64(values) = &data.values else {
                continue;
            };
            let per = data.example_shape.iter().product::<usize>().max(1);
            let count = |idx: &[usize]| {
                let mut out = vec![0usize; c.max(0) as usize];
                for &i in idx {
                    for v in &values[i * per..(i + 1) * per] {
                        if let Some(slot) = out.get_mut(*v as usize) {
                            *slot += 1;
                        }
                    }
                }
                out
            };
            let counts = ClassCounts {
                train: count(&splits.train),
                valid: count(&splits.valid),
                test: count(&splits.test),
                names: named.cloned(),
            };
            classes.insert(f.name.clone(), counts);
        }
        DataReport {
            name: spec.name.clone(),
            n_examples: fields.values().next().map(|f| f.n).unwrap_or(0),
            n_train: splits.train.len(),
            n_valid: splits.valid.len(),
            n_test: splits.test.len(),
            classes,
            replaced,
            source_replaced: BTreeMap::new(),
            label_positives: BTreeMap::new(),
            standardized: spec.standardize.clone(),
            dropped_batches: 0,
            too_long: 0,
            vocab_sizes: BTreeMap::new(),
            carved: None,
        }
    }
}

/// Per named label (column `j` of a `[n, names.len()]` field): examples of each split with the value 1.
pub(super) fn label_positives(
    data: &FieldData,
    names: &[String],
    splits: [&[usize]; 3],
) -> Vec<(String, [usize; 3])> {
    let FieldValues::I64(values) = &data.values else {
        return Vec::new();
    };
    let k = names.len();
    if data.example_shape != [k] {
        return Vec::new();
    }
    let count = |idx: &[usize], j: usize| idx.iter().filter(|i| values[*i * k + j] == 1).count();
    names
        .iter()
        .enumerate()
        .map(|(j, n)| (n.clone(), splits.map(|s| count(s, j))))
        .collect()
}

/// Classes whose names and counts the report prints; `classes` may declare up to 2^20, and the rest are summed.
const SHOWN_CLASSES: usize = 32;

impl fmt::Display for DataReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "data {}: {} examples (train {}, valid {}, test {})",
            self.name, self.n_examples, self.n_train, self.n_valid, self.n_test
        )?;
        if let Some(note) = &self.carved {
            writeln!(f, "  {note}")?;
        }
        for (name, c) in &self.classes {
            match &c.names {
                Some(names) => {
                    let mut shown: Vec<String> =
                        names.iter().take(SHOWN_CLASSES).cloned().collect();
                    if names.len() > SHOWN_CLASSES {
                        shown.push(format!("… {} more", names.len() - SHOWN_CLASSES));
                    }
                    writeln!(
                        f,
                        "  {name}: {} classes ({})",
                        c.train.len(),
                        shown.join(", ")
                    )?
                }
                None => writeln!(f, "  {name}: {} classes", c.train.len())?,
            }
            for (split, counts) in [("train", &c.train), ("valid", &c.valid), ("test", &c.test)] {
                let mut list: Vec<String> = counts
                    .iter()
                    .take(SHOWN_CLASSES)
                    .map(usize::to_string)
                    .collect();
                if counts.len() > SHOWN_CLASSES {
                    let rest: usize = counts[SHOWN_CLASSES..].iter().sum();
                    list.push(format!(
                        "… {} more classes with {rest} examples",
                        counts.len() - SHOWN_CLASSES
                    ));
                }
                writeln!(f, "    {split:<5} [{}]", list.join(", "))?;
            }
        }
        for (name, per_label) in &self.label_positives {
            let parts: Vec<String> = per_label
                .iter()
                .map(|(l, [a, b, c])| format!("{l} {a}/{b}/{c}"))
                .collect();
            writeln!(
                f,
                "  {name}: examples with the label present (train/valid/test of {}/{}/{}): {}",
                self.n_train,
                self.n_valid,
                self.n_test,
                parts.join(", ")
            )?;
        }
        if !self.standardized.is_empty() {
            writeln!(
                f,
                "  standardized (training statistics): {}",
                self.standardized.join(", ")
            )?;
        }
        for (name, n) in &self.replaced {
            writeln!(f, "  {name}: {n} non-finite values replaced by 0")?;
        }
        for (name, n) in &self.vocab_sizes {
            writeln!(f, "  {name}: vocabulary of {n} tokens (training split)")?;
        }
        if self.too_long > 0 {
            writeln!(
                f,
                "  dropped {} training examples longer than max_len",
                self.too_long
            )?;
        }
        for (name, per_split) in &self.source_replaced {
            let total: usize = per_split.iter().map(|(_, n)| n).sum();
            let parts: Vec<String> = per_split.iter().map(|(k, n)| format!("{k} {n}")).collect();
            writeln!(
                f,
                "  {name}: {total} non-finite values replaced by 0 when read ({})",
                parts.join(", ")
            )?;
        }
        if self.dropped_batches > 0 {
            writeln!(
                f,
                "  dropped {} trailing batches of a single example",
                self.dropped_batches
            )?;
        }
        Ok(())
    }
}
