//! Unit tests of `src/check/rules_nn.rs` (kept in a file of their own so the module reads as its public surface).

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

fn ids(dims: &[&str]) -> TensorType {
    TensorType {
        dtype: Dtype::I64,
        ..f(dims)
    }
}

#[test]
fn linear_replaces_the_last_dim() {
    assert_eq!(
        linear(&f(&["B", "T", "300"]), 64).unwrap(),
        f(&["B", "T", "64"])
    );
    assert_eq!(
        linear(&f(&["B", "T"]), 64).unwrap_err().code,
        "fusec::shape::not_fixed"
    );
    assert_eq!(
        linear(&ids(&["B", "4"]), 64).unwrap_err().code,
        "fusec::dtype::mismatch"
    );
    assert_eq!(
        linear(&f(&["B", "4"]), 0).unwrap_err().code,
        "fusec::shape::size"
    );
}

#[test]
fn embedding_needs_ids() {
    assert_eq!(
        embedding(&ids(&["B", "T"]), 1000, 32).unwrap(),
        f(&["B", "T", "32"])
    );
    assert!(embedding(&f(&["B", "T"]), 1000, 32).is_err());
}

#[test]
fn recurrent_ports_follow_directions_and_merge() {
    let x = f(&["B", "T", "300"]);
    let p = recurrent(&x, None, Cell::Lstm, 128, true, Merge::Concat).unwrap();
    assert_eq!(
        p,
        vec![f(&["B", "T", "256"]), f(&["B", "256"]), f(&["B", "256"])]
    );
    let p = recurrent(&x, Some(&ids(&["B"])), Cell::Gru, 128, true, Merge::Sum).unwrap();
    assert_eq!(p, vec![f(&["B", "T", "128"]), f(&["B", "128"])]);
    assert!(recurrent(&x, Some(&ids(&["N"])), Cell::Gru, 128, false, Merge::Concat).is_err());
}

#[test]
fn attention_checks_heads_and_memory() {
    let q = f(&["B", "T", "40"]);
    assert_eq!(
        attention(&q, Some(&f(&["B", "S", "40"])), 8, "attention").unwrap(),
        q
    );
    assert!(attention(&q, None, 6, "attention").is_err());
    assert!(attention(&q, Some(&f(&["B", "S", "30"])), 8, "attention").is_err());
}

#[test]
fn conv_lengths() {
    assert_eq!(
        conv1d(&f(&["B", "T", "74"]), 30, 1, 1, 0).unwrap(),
        f(&["B", "T", "30"])
    );
    assert_eq!(
        conv1d(&f(&["B", "50", "74"]), 30, 3, 2, 0).unwrap(),
        f(&["B", "24", "30"])
    );
    assert!(conv1d(&f(&["B", "T", "74"]), 30, 3, 2, 0).is_err());
    assert_eq!(
        conv2d(&f(&["B", "3", "32", "32"]), 8, 3, 1, 1).unwrap(),
        f(&["B", "8", "32", "32"])
    );
}

#[test]
fn sequence_helpers() {
    assert_eq!(
        last_valid(&f(&["B", "T", "8"]), &ids(&["B"])).unwrap(),
        f(&["B", "8"])
    );
    assert_eq!(positions(&f(&["B", "T", "8"])).unwrap(), f(&["T", "8"]));
    assert_eq!(norm(&f(&["B", "8"]), true).unwrap(), f(&["B", "8"]));
    assert!(norm(&f(&["B", "T", "8", "2"]), true).is_err());
}
