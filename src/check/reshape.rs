//! The reshape rule: element counts must agree, symbols included. Symbolic dims are matched by name (a `B` in
//! the target must be a `B` of the input), fixed dims by their product, and one `-1` takes what is left.

use super::rules::{join, tt, Rule, RuleError};
use crate::ir::{Dim, TensorType};

/// One target dim after folding: a dim, or the `-1` to infer.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Dim(Dim),
    Infer,
}

pub fn reshape(x: &TensorType, target: &[Target]) -> Rule<TensorType> {
    let n_infer = target.iter().filter(|t| **t == Target::Infer).count();
    if n_infer > 1 {
        return Err(RuleError::new(
            "fusec::shape::reshape",
            "reshape: at most one `-1` is allowed",
        ));
    }
    let (mut left_syms, in_fixed) = split_dims(x.dims.iter());
    let (out_syms, out_fixed) = split_dims(target.iter().filter_map(|t| match t {
        Target::Dim(d) => Some(d),
        Target::Infer => None,
    }));
    let shown = target_text(target);
    for s in &out_syms {
        match left_syms.iter().position(|l| l == s) {
            Some(i) => {
                left_syms.remove(i);
            }
            None => {
                return Err(RuleError::new(
                    "fusec::shape::reshape",
                    format!("reshape: the target [{shown}] uses the symbolic dim `{s}`, which {x} does not have"),
                ))
            }
        }
    }
    let mismatch = || {
        RuleError::new(
            "fusec::shape::reshape",
            format!("reshape: {x} cannot be viewed as [{shown}]"),
        )
        .help("the number of elements must stay the same; symbolic dims must appear on both sides")
    };
    let inferred = match (n_infer, left_syms.len()) {
        (0, 0) if in_fixed == out_fixed => None,
        (1, 0) if out_fixed > 0 && in_fixed % out_fixed == 0 => {
            let n = i64::try_from(in_fixed / out_fixed).ok();
            Some(Dim::Fixed(super::rules::bounded(
                n,
                "reshape: the inferred dim",
            )?))
        }
        // The `-1` stands for exactly one leftover symbol when the fixed parts agree.
        (1, 1) if in_fixed == out_fixed => Some(Dim::Sym(left_syms[0].clone())),
        _ => return Err(mismatch()),
    };
    let dims = target
        .iter()
        .map(|t| match t {
            Target::Dim(d) => d.clone(),
            Target::Infer => inferred.clone().unwrap_or(Dim::Fixed(1)),
        })
        .collect();
    Ok(tt(x.dtype, dims))
}

/// Symbols and the product of the fixed dims (in i128: dims are at most 2^30, so a product of up to four is exact).
fn split_dims<'a>(dims: impl Iterator<Item = &'a Dim>) -> (Vec<String>, i128) {
    let mut syms = Vec::new();
    let mut product = 1i128;
    for d in dims {
        match d {
            Dim::Fixed(n) => product = product.saturating_mul(i128::from(*n)),
            Dim::Sym(s) => syms.push(s.clone()),
        }
    }
    (syms, product)
}

fn target_text(target: &[Target]) -> String {
    let dims: Vec<Dim> = target
        .iter()
        .map(|t| match t {
            Target::Dim(d) => d.clone(),
            Target::Infer => Dim::Fixed(-1),
        })
        .collect();
    join(&dims)
}

#[cfg(test)]
#[path = "tests/reshape.rs"]
mod tests;
