//! Unit tests of `src/check/reshape.rs` (kept in a file of their own so the module reads as its public surface).

use super::*;
use crate::ir::Dtype;

fn d(s: &str) -> Target {
    match s {
        "-1" => Target::Infer,
        _ => Target::Dim(
            s.parse::<i64>()
                .map(Dim::Fixed)
                .unwrap_or_else(|_| Dim::Sym(s.to_string())),
        ),
    }
}

fn f(dims: &[&str]) -> TensorType {
    let dims = dims
        .iter()
        .map(|d| {
            d.parse::<i64>()
                .map(Dim::Fixed)
                .unwrap_or_else(|_| Dim::Sym(d.to_string()))
        })
        .collect();
    tt(Dtype::F32, dims)
}

#[test]
fn reshapes_with_symbols_and_infer() {
    assert_eq!(
        reshape(&f(&["B", "8"]), &[d("B"), d("4"), d("2")]).unwrap(),
        f(&["B", "4", "2"])
    );
    assert_eq!(
        reshape(&f(&["B", "8"]), &[d("B"), d("-1"), d("2")]).unwrap(),
        f(&["B", "4", "2"])
    );
    assert_eq!(
        reshape(&f(&["B", "T", "4"]), &[d("-1"), d("4")])
            .unwrap_err()
            .code,
        "fusec::shape::reshape"
    );
    assert_eq!(
        reshape(&f(&["B", "4", "2"]), &[d("-1"), d("8")]).unwrap(),
        f(&["B", "8"])
    );
    assert!(reshape(&f(&["B", "8"]), &[d("B"), d("3"), d("2")]).is_err());
    assert!(reshape(&f(&["B", "8"]), &[d("T"), d("8")]).is_err());
    assert!(reshape(&f(&["B", "8"]), &[d("-1"), d("-1")]).is_err());
}
