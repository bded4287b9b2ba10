//! Unit tests of `src/check/rules.rs` (kept in a file of their own so the module reads as its public surface).

use super::*;

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
fn broadcasting_follows_numpy() {
    assert_eq!(
        broadcast(&f(&["B", "64"]), &f(&["64"]), "add").unwrap(),
        f(&["B", "64"])
    );
    assert_eq!(
        broadcast(&f(&["B", "1"]), &f(&["1", "8"]), "add").unwrap(),
        f(&["B", "8"])
    );
    assert_eq!(
        broadcast(&f(&[]), &f(&["B", "3"]), "mul").unwrap(),
        f(&["B", "3"])
    );
    assert!(broadcast(&f(&["B", "64"]), &f(&["B", "32"]), "add").is_err());
    assert!(broadcast(&f(&["B", "4"]), &f(&["T", "4"]), "add").is_err());
}

#[test]
fn matmul_batches_and_promotes() {
    assert_eq!(
        matmul(&f(&["B", "T", "8"]), &f(&["8", "4"])).unwrap(),
        f(&["B", "T", "4"])
    );
    // LMF: [B, d+1] against per-rank factors [r, d+1, out].
    assert_eq!(
        matmul(&f(&["B", "5"]), &f(&["3", "5", "7"])).unwrap(),
        f(&["3", "B", "7"])
    );
    assert_eq!(matmul(&f(&["B", "5"]), &f(&["5"])).unwrap(), f(&["B"]));
    assert!(matmul(&f(&["B", "5"]), &f(&["4", "7"])).is_err());
}

#[test]
fn concat_adds_fixed_widths() {
    let t = concat(&[f(&["B", "76"]), f(&["B", "47"]), f(&["B", "6"])], -1).unwrap();
    assert_eq!(t, f(&["B", "129"]));
    assert!(concat(&[f(&["B", "4"]), f(&["T", "4"])], -1).is_err());
    assert_eq!(
        concat(&[f(&["B", "T", "4"])], 1).unwrap(),
        f(&["B", "T", "4"])
    );
}

#[test]
fn views_and_reductions() {
    assert_eq!(
        split(&f(&["B", "10"]), &[4, 6], -1).unwrap()[1],
        f(&["B", "6"])
    );
    assert!(split(&f(&["B", "10"]), &[4, 5], -1).is_err());
    assert_eq!(
        transpose(&f(&["B", "T", "4"]), 1, 2).unwrap(),
        f(&["B", "4", "T"])
    );
    assert_eq!(
        reduce(&f(&["B", "T", "4"]), 1, false, "mean").unwrap(),
        f(&["B", "4"])
    );
    assert_eq!(
        reduce(&f(&["B", "T", "4"]), 1, true, "mean").unwrap(),
        f(&["B", "1", "4"])
    );
    assert_eq!(select(&f(&["B", "T", "4"]), 1, -1).unwrap(), f(&["B", "4"]));
    assert!(select(&f(&["B", "3"]), 1, 3).is_err());
    assert_eq!(slice(&f(&["B", "10"]), 1, 2, -1).unwrap(), f(&["B", "7"]));
    assert_eq!(pad(&f(&["B", "32"]), -1, 1, 0).unwrap(), f(&["B", "33"]));
    assert!(reduce(&f(&["B"]), 2, false, "sum").is_err());
}

#[test]
fn outer_product_multiplies_widths() {
    assert_eq!(
        outer(&f(&["B", "33"]), &f(&["B", "9"])).unwrap(),
        f(&["B", "297"])
    );
    assert!(outer(&f(&["B", "T"]), &f(&["B", "9"])).is_err());
}

#[test]
fn losses_are_scalars_and_check_labels() {
    let labels = tt(Dtype::I64, vec![Dim::Sym("B".into())]);
    assert_eq!(
        loss(LossKind::CrossEntropy, &f(&["B", "10"]), &labels).unwrap(),
        f(&[])
    );
    let iemocap = tt(Dtype::I64, vec![Dim::Sym("B".into()), Dim::Fixed(4)]);
    assert!(loss(LossKind::CrossEntropy, &f(&["B", "4", "2"]), &iemocap).is_ok());
    assert!(loss(LossKind::CrossEntropy, &f(&["B", "10"]), &f(&["B"])).is_err());
    assert!(loss(LossKind::Mse, &f(&["B", "10"]), &f(&["B", "9"])).is_err());
    assert_eq!(
        loss(LossKind::Mse, &f(&["B", "10"]), &f(&["B", "10"])).unwrap(),
        f(&[])
    );
}
