//! BLEU and chrF against sacreBLEU 2.6.0 (tests/fixtures/bleu.json).

use fusec::train::bleu::{
    corpus_bleu, corpus_chrf, sentence_bleu, sentence_chrf, tokenize_13a, BleuScore,
};

fn fixture() -> serde_json::Value {
    crate::support::json_fixture("bleu.json")
}

fn strs(v: &serde_json::Value) -> Vec<String> {
    crate::support::json_strings(v)
}

fn check(ours: &BleuScore, want: &serde_json::Value, what: &str) {
    let close = |a: f64, b: &serde_json::Value, k: &str| {
        let b = b.as_f64().unwrap();
        assert!((a - b).abs() <= 1e-6, "{what} {k}: {a} vs {b}");
    };
    close(ours.score, &want["score"], "score");
    close(ours.bp, &want["bp"], "bp");
    let ints = |v: &serde_json::Value| -> Vec<usize> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect()
    };
    assert_eq!(ours.counts, ints(&want["counts"]), "{what} counts");
    assert_eq!(ours.totals, ints(&want["totals"]), "{what} totals");
    for (a, b) in ours
        .precisions
        .iter()
        .zip(want["precisions"].as_array().unwrap())
    {
        close(*a, b, "precision");
    }
    assert_eq!(ours.sys_len as u64, want["sys_len"].as_u64().unwrap());
    assert_eq!(ours.ref_len as u64, want["ref_len"].as_u64().unwrap());
}

#[test]
fn tokens_match_13a() {
    let fx = fixture();
    for pair in fx["pairs"].as_array().unwrap() {
        for side in ["hyp", "ref"] {
            let text = pair[side].as_str().unwrap();
            assert_eq!(
                tokenize_13a(text),
                strs(&pair[format!("{side}_tokens")]),
                "{text}"
            );
        }
    }
}

#[test]
fn tokenizer_edge_cases() {
    // Periods and commas next to digits stay; a dash after a digit splits; entities are unescaped.
    assert_eq!(
        tokenize_13a("pi is 3.14, or 1,000."),
        ["pi", "is", "3.14", ",", "or", "1,000", "."]
    );
    assert_eq!(
        tokenize_13a("1990-2000 well-known"),
        ["1990", "-", "2000", "well-known"]
    );
    assert_eq!(
        tokenize_13a("a &amp; b &quot;c&quot;"),
        ["a", "&", "b", "\"", "c", "\""]
    );
    assert_eq!(
        tokenize_13a("it's (fine)!"),
        ["it's", "(", "fine", ")", "!"]
    );
}

#[test]
fn corpus_bleu_matches_sacrebleu() {
    let fx = fixture();
    let pairs = fx["pairs"].as_array().unwrap();
    let hyps: Vec<&str> = pairs.iter().map(|p| p["hyp"].as_str().unwrap()).collect();
    let refs: Vec<Vec<&str>> = pairs
        .iter()
        .map(|p| vec![p["ref"].as_str().unwrap()])
        .collect();
    check(&corpus_bleu(&hyps, &refs).unwrap(), &fx["corpus"], "corpus");
}

#[test]
fn sentence_bleu_matches_sacrebleu() {
    let fx = fixture();
    let pairs = fx["pairs"].as_array().unwrap();
    for (i, (p, want)) in pairs
        .iter()
        .zip(fx["sentence"].as_array().unwrap())
        .enumerate()
    {
        let ours = sentence_bleu(p["hyp"].as_str().unwrap(), &[p["ref"].as_str().unwrap()]);
        check(&ours, want, &format!("sentence {i}"));
    }
}

#[test]
fn bleu_inputs_must_pair_up() {
    assert!(corpus_bleu(&["a"], &[vec!["a"], vec!["b"]]).is_err());
    assert!(corpus_bleu(&["a"], &[Vec::<&str>::new()]).is_err());
}

#[test]
fn chrf_by_hand() {
    // Identical strings score 100; whitespace is ignored.
    assert!((sentence_chrf("the cat", &["thecat"]) - 100.0).abs() < 1e-9);
    // "ab" vs "abc": order 1: P 2/2, R 2/3; order 2: P 1/1, R 1/2; orders 3..6: the hypothesis has no
    // n-grams, so they are left out. P = 1, R = 7/12; F2 = 5 P R / (4 P + R).
    let (p, r) = (1.0, 7.0 / 12.0);
    let want = 100.0 * 5.0 * p * r / (4.0 * p + r);
    assert!((sentence_chrf("ab", &["abc"]) - want).abs() < 1e-9);
    // The best of several references is used.
    assert!((sentence_chrf("ab", &["xyz", "abc"]) - want).abs() < 1e-9);
    assert_eq!(sentence_chrf("", &["abc"]), 0.0);
    let corpus = corpus_chrf(&["ab", "the cat"], &[vec!["abc"], vec!["thecat"]]).unwrap();
    assert!(corpus > want && corpus < 100.0);
}
