//! Unit tests of `src/data/split_kfold.rs`: folds partition the examples, are stratified, and depend only on the
//! seed.

use super::*;

/// Three classes of 10, 7 and 4 examples, interleaved as a file would hold them.
fn labels() -> Vec<i64> {
    let mut l = Vec::new();
    for i in 0..21 {
        l.push(match i % 3 {
            0 if i < 12 => 2,
            _ if i % 2 == 0 => 0,
            _ => 1,
        });
    }
    l
}

#[test]
fn folds_are_disjoint_and_cover_every_example() {
    let labels = labels();
    for k in [2, 3, 4] {
        let folds = folds(labels.len(), Some(&labels), k, 0);
        assert_eq!(folds.len(), k);
        let mut all: Vec<usize> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, (0..labels.len()).collect::<Vec<_>>(), "k = {k}");
        let sizes: Vec<usize> = folds.iter().map(Vec::len).collect();
        let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(hi - lo <= 1, "fold sizes {sizes:?}");
    }
}

#[test]
fn folds_are_stratified() {
    let labels = labels();
    let k = 4;
    let folds = folds(labels.len(), Some(&labels), k, 7);
    for class in [0, 1, 2] {
        let total = labels.iter().filter(|c| **c == class).count();
        for f in &folds {
            let here = f.iter().filter(|i| labels[**i] == class).count();
            // Each fold holds floor or ceil of total / k.
            assert!(
                here == total / k || here == total.div_ceil(k),
                "class {class}: {here} of {total} in a fold"
            );
        }
    }
}

#[test]
fn folds_depend_only_on_the_seed() {
    let labels = labels();
    let a = folds(labels.len(), Some(&labels), 3, 0);
    assert_eq!(a, folds(labels.len(), Some(&labels), 3, 0));
    assert_ne!(a, folds(labels.len(), Some(&labels), 3, 1));
    // Not stratified: a shuffle of all examples, dealt the same way.
    let b = folds(labels.len(), None, 3, 0);
    assert_eq!(b, folds(labels.len(), None, 3, 0));
    assert_ne!(b, folds(labels.len(), None, 3, 1));
    assert_eq!(b.concat().len(), labels.len());
}
