//! `split = kfold(k = 5, stratify = label, seed = 0, valid = 0.2)` -> `SplitSpec::KFold`, and the fold a run
//! trains (`--set data.fold=N`, which `fusec run` sets for each fold's own run). What needs the data (k against
//! the smallest class) is checked when the data is loaded (`data/split_kfold.rs`).

use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::SplitSpec;
use crate::source::Span;

use super::overrides::Overrides;
use super::statics::{self, StaticCall};
use super::value::Val;

/// `kfold`'s parameters, in order.
pub const KFOLD_PARAMS: &[&str] = &["k", "stratify", "seed", "valid"];

/// The number of folds when `k` is not given.
const DEFAULT_K: usize = 5;

/// Lowers the `kfold(...)` call; every problem of its arguments is reported, not only the first.
pub fn kfold_split(
    call: &StaticCall,
    fields: &[String],
    diags: &mut Diagnostics,
) -> Option<SplitSpec> {
    let k = match call.arg(0) {
        Some(e) => statics::int(e, diags).and_then(|k| {
            if k >= 2 {
                return Some(k as usize);
            }
            diags.push(
                Diagnostic::error("fusec::data::kfold", format!("`k = {k}` folds cannot cross-validate"))
                    .label(e.span, "needs at least 2 folds")
                    .help("each fold is the test split once and training data the other times: write `k = 5` (or `k = 10`)"),
            );
            None
        }),
        None => Some(DEFAULT_K),
    };
    let stratify = super::data_split::stratify_arg(call.arg(1), fields, diags);
    let seed = match call.arg(2) {
        Some(s) => statics::int_at_least(s, 0, diags).map(|s| s as u64),
        None => Some(0),
    };
    let valid = match call.arg(3) {
        Some(e) => statics::float(e, diags).and_then(|v| {
            if (0.0..1.0).contains(&v) {
                return Some(v);
            }
            diags.push(
                Diagnostic::error("fusec::data::kfold", format!("`valid = {v}` is not a fraction of a fold's training part"))
                    .label(e.span, "must lie in [0, 1)")
                    .help("for example `valid = 0.2`: a fifth of each fold's training examples become its validation split"),
            );
            None
        }),
        None => Some(super::data_split::DEFAULT_CARVE),
    };
    Some(SplitSpec::KFold {
        k: k?,
        stratify: stratify?,
        seed: seed?,
        valid: valid?,
        fold: None,
    })
}

/// Takes `--set data.NAME.fold=N` (or `data.fold=N` when there is one data set) and sets the fold of a k-fold
/// split; a fold outside `1..=k`, or a fold for a data set without folds, is an error at the override.
pub fn take_fold(
    split: &mut SplitSpec,
    data: &str,
    single: bool,
    ov: &mut Overrides,
    diags: &mut Diagnostics,
) {
    let specific = format!("data.{data}.fold");
    let given = match ov.take(&specific, diags) {
        Some(v) => Some(v),
        None if single => ov.take("data.fold", diags),
        None => None,
    };
    let Some((value, at)) = given else {
        return;
    };
    match split {
        SplitSpec::KFold { k, fold, .. } => match value {
            Val::Int(n) if n >= 1 && n as usize <= *k => *fold = Some(n as usize),
            other => diags.push(fold_error(
                at,
                format!(
                    "`data.fold` is {}, but data `{data}` has folds 1 to {k}",
                    shown(&other)
                ),
                format!("choose a fold from 1 to {k}"),
            )),
        },
        _ => diags.push(fold_error(
            at,
            format!("`data.fold` selects a fold, but data `{data}` is not split into folds"),
            "a fold exists only under `split = kfold(k = 5, ...)`; drop the `--set`".to_string(),
        )),
    }
}

fn fold_error(at: Span, message: String, help: String) -> Diagnostic {
    Diagnostic::error("fusec::data::kfold", message)
        .label(at, "this fold")
        .help(help)
}

fn shown(v: &Val) -> String {
    match v {
        Val::Int(n) => n.to_string(),
        Val::Float(x) => x.to_string(),
        Val::Str(s) => format!("`{s}`"),
        _ => "not a number".to_string(),
    }
}
