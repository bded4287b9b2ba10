//! How a `data { }` block's examples divide into train, valid and test, as far as lowering can tell: the files of
//! each source (`file = ...` split later, or `train`/`valid`/`test` files), `split = files(valid = 0.2, ...)`,
//! the split implied by per-split files, and the combinations that cannot work (a source with both `file` and
//! `train`, per-split files under `split = stratified(...)`, sources that disagree on a validation file). Also
//! `classes = N | ["name", ...]`.

use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{FieldSpec, SourceKind, SplitSpec};
use crate::source::Span;
use crate::syntax::ast::{Expr, ExprKind};

use super::statics::{self, StaticCall};

/// The split names a source may name files for, in the order their examples are concatenated.
const SPLIT_NAMES: [&str; 3] = ["train", "valid", "test"];

/// The fraction of the training files carved out as validation when no source names a valid file.
pub const DEFAULT_CARVE: f64 = 0.2;

/// `classes = N` (a count, 2 to 2^20: the data report counts every class of every split) or
/// `classes = ["wt", "ppar"]` (names in index order; the field's values are these names).
#[allow(clippy::type_complexity)]
pub fn classes(e: &Expr, diags: &mut Diagnostics) -> Option<(Option<i64>, Option<Vec<String>>)> {
    let ExprKind::List(items) = &e.kind else {
        return Some((Some(statics::int_in_range(e, 2, 1 << 20, diags)?), None));
    };
    let mut names: Vec<String> = Vec::new();
    for item in items {
        let name = statics::string(item, diags)?;
        if names.contains(&name) {
            diags.push(
                Diagnostic::error(
                    "fusec::data::classes",
                    format!("class `{name}` is listed twice"),
                )
                .label(item.span, "listed again here")
                .help("list every class name once, in the order of the model's outputs"),
            );
            return None;
        }
        names.push(name);
    }
    if names.len() < 2 || names.len() > 1 << 20 {
        diags.push(
            Diagnostic::error(
                "fusec::data::classes",
                format!(
                    "a label field needs at least 2 classes; `classes` lists {}",
                    names.len()
                ),
            )
            .label(e.span, "too few class names")
            .help("write every class, as in `classes = [\"wt\", \"ppar\"]`"),
        );
        return None;
    }
    Some((Some(names.len() as i64), Some(names)))
}

/// The `train` slot of a source's parameters (`valid` and `test` follow it), if it reads per-split files.
fn train_slot(source: &str) -> Option<usize> {
    let (_, params) = super::data::SOURCES.iter().find(|(n, _)| *n == source)?;
    params.iter().position(|p| *p == "train")
}

/// `file` for one file split later (`("all", file)`), or the `train`/`valid`/`test` files, train first.
pub fn source_files(call: &StaticCall, diags: &mut Diagnostics) -> Option<Vec<(String, String)>> {
    let mut per_split = Vec::new();
    if let Some(slot) = train_slot(&call.name) {
        for (i, split) in SPLIT_NAMES.iter().enumerate() {
            if let Some(e) = call.arg(slot + i) {
                per_split.push((split.to_string(), statics::string(e, diags)?));
            }
        }
    }
    let name = &call.name;
    match (call.arg(0), per_split.is_empty()) {
        (Some(f), true) => Some(vec![("all".to_string(), statics::string(f, diags)?)]),
        (Some(f), false) => {
            diags.push(
                Diagnostic::error(
                    "fusec::data::files",
                    format!("`{name}` reads either one file or one file per split, not both"),
                )
                .label(f.span, "one file for every split, besides `train`/`valid`/`test` files")
                .help("drop the first argument to read `train`/`valid`/`test` files, or drop those to split one file with `split = ...`"),
            );
            None
        }
        (None, true) => {
            diags.push(
                Diagnostic::error("fusec::param::missing", format!("`{name}` needs a file"))
                    .label(call.span, "no file given")
                    .help(format!(
                        "pass the file name first: `{name}(\"data.{}\", ...)`, or one file per split: \
                         `{name}(train = \"...\", test = \"...\")`",
                        if name == "safetensors" { "safetensors" } else { name.as_str() }
                    )),
            );
            None
        }
        (None, false) => {
            let has = |s: &str| per_split.iter().any(|(x, _)| x == s);
            let missing: Vec<&str> = ["train", "test"].into_iter().filter(|s| !has(s)).collect();
            if missing.is_empty() {
                return Some(per_split);
            }
            diags.push(
                Diagnostic::error(
                    "fusec::data::files",
                    format!("`{name}` names files per split but no `{}` file", missing.join("` or `")),
                )
                .label(call.span, format!("`{}` missing", missing.join("` and `")))
                .help("per-split files need `train` and `test`; `valid` may be left out, and is then carved from the training file (`split = files(valid = 0.2)`)"),
            );
            None
        }
    }
}

/// `split = files(valid = 0.2, stratify = label, seed = 0)`; `valid` is resolved against the sources by
/// [`resolve_split`] (a given fraction stays, an absent one becomes `None` here).
pub fn files_split(
    call: &StaticCall,
    fields: &[String],
    diags: &mut Diagnostics,
) -> Option<SplitSpec> {
    let valid = call.arg(0).map(|e| (statics::float(e, diags), e.span));
    let valid_ok = match valid {
        Some((Some(v), at)) if !(0.0..1.0).contains(&v) => {
            diags.push(
                Diagnostic::error("fusec::data::split", format!("`valid = {v}` is not a fraction of the training files"))
                    .label(at, "must lie in [0, 1)")
                    .help("for example `valid = 0.2`: a fifth of the training examples become the validation split"),
            );
            false
        }
        Some((None, _)) => false,
        _ => true,
    };
    let stratify = stratify_arg(call.arg(1), fields, diags);
    let seed = match call.arg(2) {
        Some(s) => Some(statics::int_at_least(s, 0, diags)? as u64),
        None => Some(0),
    };
    let (stratify, seed) = (stratify?, seed?);
    valid_ok.then_some(SplitSpec::Files {
        valid: valid.and_then(|(v, _)| v),
        stratify,
        seed,
    })
}

/// A split's `stratify = FIELD` argument: `Some(None)` when absent, `Some(Some(field))` for a field of the data
/// set, `None` after reporting an unknown name (with the closest field suggested).
pub fn stratify_arg(
    arg: Option<&Expr>,
    fields: &[String],
    diags: &mut Diagnostics,
) -> Option<Option<String>> {
    let Some(e) = arg else {
        return Some(None);
    };
    let by = statics::name(e, diags)?;
    if fields.contains(&by) {
        return Some(Some(by));
    }
    let d = Diagnostic::error(
        "fusec::data::field",
        format!("no field `{by}` in this data set"),
    )
    .label(e.span, "unknown field");
    diags.push(super::suggest(d, &by, fields, "fields"));
    None
}

/// Whether a field reads one file per split; `None` for `lengths(...)` (it reads nothing) and the pickles (they
/// hold their own splits, which `files()` uses and any other split concatenates).
fn reads_per_split(f: &FieldSpec) -> Option<bool> {
    match &f.source.kind {
        SourceKind::Lengths { .. } | SourceKind::Pickle { .. } => None,
        _ => Some(!f.source.files.iter().any(|(s, _)| s == "all")),
    }
}

fn has_valid(f: &FieldSpec) -> bool {
    matches!(f.source.kind, SourceKind::Pickle { .. })
        || f.source.files.iter().any(|(s, _)| s == "valid")
}

/// The data set's split: the one written (checked against the sources' files), or, when none is written,
/// `files()` if the sources name files per split and a seeded random 0.6 / 0.2 / 0.2 split otherwise. Under
/// `files()`, the validation fraction is carved from the training files when no source names a valid file.
pub fn resolve_split(
    fields: &[FieldSpec],
    written: Option<(SplitSpec, Span)>,
    diags: &mut Diagnostics,
) -> SplitSpec {
    let per_split: Vec<&FieldSpec> = fields
        .iter()
        .filter(|f| reads_per_split(f) == Some(true))
        .collect();
    let whole: Vec<&FieldSpec> = fields
        .iter()
        .filter(|f| reads_per_split(f) == Some(false))
        .collect();
    let (split, at) = match written {
        Some((w, at)) => (w, Some(at)),
        None if !per_split.is_empty() => {
            let files = SplitSpec::Files {
                valid: None,
                stratify: None,
                seed: 0,
            };
            (files, None)
        }
        None => {
            let random = SplitSpec::Random {
                train: 0.6,
                valid: 0.2,
                test: 0.2,
                seed: 0,
            };
            return random;
        }
    };
    let SplitSpec::Files {
        valid,
        stratify,
        seed,
    } = split
    else {
        if let (Some(f), Some(at)) = (per_split.first(), at) {
            diags.push(
                Diagnostic::error(
                    "fusec::data::files",
                    format!("field `{}` reads one file per split, but the data set's `split` divides one file", f.name),
                )
                .label(f.source.span, "files per split")
                .label(at, "splits one file")
                .help(if matches!(split, SplitSpec::KFold { .. }) {
                    "k-fold cross-validation deals the examples of one file into folds: read one file per field \
                     (`csv(\"all.csv\", ...)`), or drop `kfold(...)` to use the files' own splits"
                } else {
                    "remove the `split = ...` setting (per-split files are the split), or read one file with `file = ...`"
                }),
            );
        }
        return split;
    };
    if let Some(f) = whole.first() {
        let d = Diagnostic::error(
            "fusec::data::files",
            format!(
                "field `{}` reads one file, but the data set is split by files",
                f.name
            ),
        )
        .label(f.source.span, "one file for every split");
        let d = match (per_split.first(), at) {
            (Some(p), _) => d.label(p.source.span, format!("`{}` reads files per split", p.name)),
            (None, Some(at)) => d.label(at, "split by files"),
            (None, None) => d,
        };
        diags.push(d.help("name the field's files per split: `train = \"...\", test = \"...\"` (and `valid` if the others have one)"));
    }
    let pickles = fields
        .iter()
        .filter(|f| matches!(f.source.kind, SourceKind::Pickle { .. }));
    let with_valid: Vec<&FieldSpec> = pickles
        .chain(per_split.iter().copied())
        .filter(|f| has_valid(f))
        .collect();
    let without_valid: Vec<&FieldSpec> = per_split
        .iter()
        .copied()
        .filter(|f| !has_valid(f))
        .collect();
    if let (Some(a), Some(b)) = (with_valid.first(), without_valid.first()) {
        diags.push(
            Diagnostic::error(
                "fusec::data::files",
                format!("field `{}` names a valid file, but field `{}` does not", a.name, b.name),
            )
            .label(a.source.span, "has its own validation split")
            .label(b.source.span, "no `valid` file")
            .help("give every field a `valid` file, or none (the validation split is then carved from the training files)"),
        );
    }
    let carve = match (valid, with_valid.is_empty()) {
        (Some(v), false) => {
            let mut d = Diagnostic::error(
                "fusec::data::files",
                format!("`valid = {v}` carves a validation split from the training files, but field `{}` reads its own", with_valid[0].name),
            );
            if let Some(at) = at {
                d = d.label(at, "carves one");
            }
            diags.push(
                d.label(with_valid[0].source.span, "validation data here")
                    .help("drop `valid = ...` from `files(...)`, or the sources' `valid` files"),
            );
            None
        }
        (v, true) => Some(v.unwrap_or(DEFAULT_CARVE)),
        (None, false) => None,
    };
    SplitSpec::Files {
        valid: carve,
        stratify,
        seed,
    }
}
