//! Class labels given as names (`wt`, `ppar`): a CSV/TSV column of names or a NumPy string array becomes class
//! indices, in the order of `classes = ["wt", "ppar"]` or, without that list, in the sorted order of the names
//! found in all of the field's files (so train and test files agree). A name outside a given list is an error
//! naming the file, the line or row, and the known classes.

use super::fields::field_error;
use super::npy::RawArray;
use crate::diag::Diagnostic;
use crate::ir::{DimExpr, FieldSpec};

/// At most this many unknown labels are listed in a diagnostic.
const SHOWN: usize = 5;

/// Whether the field may read class names: a scalar integer field that declares no class count (`classes = N`
/// says the labels are indices) or declares the names.
pub(super) fn may_hold_names(field: &FieldSpec) -> bool {
    let scalar = field.dims.iter().all(|d| *d == DimExpr::Const(1));
    let counted = field.classes.is_some() && field.class_names.is_none();
    !field.dtype.is_float() && scalar && !counted
}

/// Replaces the names of each `(split, shown file, array)` part by class indices and returns the class names
/// in index order: `classes = [...]` when given (numeric labels then index it), else the sorted names found.
/// `None` for a field without names.
pub(super) fn index_names(
    field: &FieldSpec,
    parts: &mut [(String, String, RawArray)],
) -> Result<Option<Vec<String>>, Diagnostic> {
    let named = parts.iter().filter(|(_, _, r)| r.names.is_some()).count();
    if named == 0 {
        return Ok(field.class_names.clone());
    }
    if !may_hold_names(field) {
        let (_, shown, _) = parts
            .iter()
            .find(|(_, _, r)| r.names.is_some())
            .unwrap_or(&parts[0]);
        let message = format!(
            "field `{}` is declared {}, but `{shown}` holds strings",
            field.name, field.dtype
        );
        let help = if field.classes.is_some() {
            "`classes = N` says the labels are class indices; to read class names, list them \
             (`classes = [\"wt\", \"ppar\"]`) or leave `classes` out (the names are then sorted)"
        } else {
            "strings are read as class names by a scalar integer label field: `field y: i64[] = ...`"
        };
        return Err(field_error(field, "fusec::data::dtype", message).help(help));
    }
    if named != parts.len() {
        let files: Vec<String> = parts
            .iter()
            .map(|(_, s, r)| {
                format!(
                    "`{s}` {}",
                    if r.names.is_some() {
                        "names"
                    } else {
                        "numbers"
                    }
                )
            })
            .collect();
        let message = format!(
            "field `{}` reads class names from some files and numbers from others ({})",
            field.name,
            files.join(", ")
        );
        return Err(field_error(field, "fusec::data::dtype", message)
            .help("write the labels the same way in every file: all names, or all class indices"));
    }
    let classes = match &field.class_names {
        Some(given) => given.clone(),
        None => {
            let mut found: Vec<String> = parts
                .iter()
                .flat_map(|(_, _, r)| r.names.iter().flat_map(|n| n.names.iter().cloned()))
                .collect();
            found.sort();
            found.dedup();
            found
        }
    };
    // Per unknown name: how often it occurs and where first.
    let mut unknown: Vec<(String, usize, String)> = Vec::new();
    for (_, shown, raw) in parts.iter_mut() {
        let Some(names) = raw.names.take() else {
            continue;
        };
        raw.values = Vec::with_capacity(names.names.len());
        for (i, name) in names.names.iter().enumerate() {
            match classes.iter().position(|c| c == name) {
                Some(k) => raw.values.push(k as f64),
                None => {
                    match unknown.iter_mut().find(|(n, _, _)| n == name) {
                        Some((_, count, _)) => *count += 1,
                        None => {
                            unknown.push((name.clone(), 1, format!("`{shown}` {}", names.place(i))))
                        }
                    }
                    raw.values.push(f64::NAN);
                }
            }
        }
    }
    if unknown.is_empty() {
        return Ok(Some(classes));
    }
    let n_unknown: usize = unknown.iter().map(|(_, c, _)| c).sum();
    let what = super::read::plural(n_unknown, "label is", "labels are");
    let message = format!(
        "field `{}`: {what} not among its classes {}",
        field.name,
        quoted(&classes)
    );
    let mut d = field_error(field, "fusec::data::class_unknown", message);
    d.notes = unknown
        .iter()
        .take(SHOWN)
        .map(|(name, count, first)| {
            let times = super::read::plural(*count, "example", "examples");
            format!("`{name}`: {times}, the first at {first}")
        })
        .collect();
    if unknown.len() > SHOWN {
        d.notes.push(format!(
            "... and {} more unknown labels",
            unknown.len() - SHOWN
        ));
    }
    d.notes
        .push("lines count from 1 (the header is line 1); array rows count from 0".into());
    Err(d.help(
        "add the class to `classes = [...]` (in the order of the model's outputs), or fix the data",
    ))
}

/// `["wt", "ppar"]`.
fn quoted(names: &[String]) -> String {
    let items: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!("[{}]", items.join(", "))
}
