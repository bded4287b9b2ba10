//! Unit tests of `src/check/unify.rs` (kept in a file of their own so the module reads as its public surface).

use super::*;

fn key(scope: usize, name: &str) -> VarKey {
    VarKey {
        scope,
        name: name.to_string(),
    }
}

#[test]
fn first_binding_wins_and_later_ones_must_agree() {
    let mut u = Unifier::new();
    assert!(u.bind(&key(0, "D"), &Dim::Fixed(76)).is_ok());
    assert!(u.bind(&key(0, "D"), &Dim::Fixed(76)).is_ok());
    let err = u.bind(&key(0, "D"), &Dim::Fixed(47)).unwrap_err();
    assert_eq!(
        err,
        Conflict {
            expected: Dim::Fixed(76),
            found: Dim::Fixed(47)
        }
    );
    // Another instance has its own D.
    assert!(u.bind(&key(1, "D"), &Dim::Fixed(47)).is_ok());
}

#[test]
fn union_merges_bindings_and_detects_conflicts() {
    let mut u = Unifier::new();
    u.bind(&key(0, "a"), &Dim::Sym("B".into())).unwrap();
    u.union(&key(0, "a"), &key(0, "b")).unwrap();
    assert_eq!(u.lookup(&key(0, "b")), Some(Dim::Sym("B".into())));
    u.bind(&key(0, "c"), &Dim::Sym("T".into())).unwrap();
    assert!(u.union(&key(0, "b"), &key(0, "c")).is_err());
}
