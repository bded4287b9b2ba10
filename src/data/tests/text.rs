//! Unit tests of `src/data/text.rs` (kept in a file of their own so the module reads as its public surface).

use super::*;
use crate::ir::Lang;

#[test]
fn split_and_strip_punctuation() {
    let t = tokenize("Flag: China „cool“", true, Punct::Split);
    assert_eq!(t, ["flag", ":", "china", "„", "cool", "“"]);
    assert_eq!(detokenize(&t, Lang::German), "flag: china „cool“");
    assert_eq!(tokenize("a, b!", false, Punct::Strip), ["a", "b"]);
    assert_eq!(tokenize("a, b!", false, Punct::Keep), ["a,", "b!"]);
    let p = tokenize("\u{2581}how \u{2581}to \u{2581}ti e", false, Punct::Keep);
    assert_eq!(merge_pieces(&p), "how to tie");
}

#[test]
fn vocab_round_trip_and_min_freq() {
    let s: Vec<Vec<String>> = vec![
        tokenize("a b a c", false, Punct::Keep),
        tokenize("b a", false, Punct::Keep),
    ];
    let v = Vocab::build(s.iter().map(|x| x.as_slice()), 2, None);
    let capped = Vocab::build(s.iter().map(|x| x.as_slice()), 1, Some(5));
    assert_eq!(capped.tokens()[4..], ["a"]);
    assert_eq!(v.tokens()[4..], ["a", "b"]);
    let ids = v.encode(&s[0], true, true);
    assert_eq!(ids, [BOS, 4, 5, 4, UNK, EOS]);
    assert_eq!(v.decode(&ids), ["a", "b", "a", "<unk>"]);
    let back = Vocab::from_tokens(v.to_text().lines().map(String::from).collect()).unwrap();
    assert_eq!(back, v);
    assert!(Vocab::from_tokens(vec!["x".into()]).is_err());
}
