//! The detokenizer (src/data/detok.rs): BLEU and chrF of detokenized hypotheses equal sacreBLEU's defaults on
//! the text (tests/fixtures/detok/detok_bleu.json, made with sacrebleu 2.6.0), and how much of emoji-mt's
//! text survives tokenizing and detokenizing in each language.

use fusec::data::text::{detokenize, tokenize};
use fusec::ir::{Lang, Punct};
use fusec::train::bleu::{corpus_bleu, corpus_chrf};

fn fixture() -> serde_json::Value {
    crate::support::json_fixture("detok/detok_bleu.json")
}

fn strs(v: &serde_json::Value) -> Vec<String> {
    crate::support::json_strings(v)
}

fn lang(code: &str) -> Lang {
    Lang::parse(code).unwrap()
}

/// Our BLEU and chrF of `hyps` against `refs` equal the fixture's `want` within `atol`.
fn assert_scores(
    hyps: &[String],
    refs: &[String],
    want: &serde_json::Value,
    atol: f64,
    what: &str,
) {
    let refs: Vec<Vec<String>> = refs.iter().map(|r| vec![r.clone()]).collect();
    let bleu = corpus_bleu(hyps, &refs).unwrap();
    let chrf = corpus_chrf(hyps, &refs).unwrap();
    let close = |ours: f64, key: &str| {
        let theirs = want[key].as_f64().unwrap();
        assert!(
            (ours - theirs).abs() <= atol,
            "{what} {key}: fusec {ours} vs sacreBLEU {theirs}"
        );
    };
    close(bleu.score, "bleu");
    close(bleu.bp, "bp");
    close(chrf, "chrf");
    let ints = |k: &str| -> Vec<usize> {
        want[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect()
    };
    assert_eq!(bleu.counts, ints("counts"), "{what} counts");
    assert_eq!(bleu.totals, ints("totals"), "{what} totals");
    assert_eq!(
        bleu.sys_len as u64,
        want["sys_len"].as_u64().unwrap(),
        "{what}"
    );
    assert_eq!(
        bleu.ref_len as u64,
        want["ref_len"].as_u64().unwrap(),
        "{what}"
    );
}

#[test]
fn bleu_of_detokenized_hypotheses_equals_sacrebleu_on_the_text() {
    let fx = fixture();
    let atol = fx["atol"].as_f64().unwrap();
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (refs, hyps) = (strs(&case["refs"]), strs(&case["hyps"]));
        let want_tokens: Vec<Vec<String>> = case["hyp_tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(strs)
            .collect();
        let tokens: Vec<Vec<String>> = hyps
            .iter()
            .map(|h| tokenize(h, false, Punct::Split))
            .collect();
        assert_eq!(
            tokens, want_tokens,
            "{name}: the fixture's tokenizer is fusec's"
        );
        let detok: Vec<String> = tokens
            .iter()
            .map(|t| detokenize(t, lang(case["lang"].as_str().unwrap())))
            .collect();
        for (d, h) in detok.iter().zip(&hyps) {
            assert_eq!(d, h, "{name}: detokenizing the tokens gives the text back");
        }
        assert_scores(&detok, &refs, &case["detokenized"], atol, name);
        // Scored as tokens (what fusec did before the detokenizer), BLEU is lower: the test can tell.
        let joined: Vec<String> = tokens.iter().map(|t| t.join(" ")).collect();
        assert_scores(&joined, &refs, &case["tokenized"], atol, name);
        let (a, b) = (&case["detokenized"]["bleu"], &case["tokenized"]["bleu"]);
        assert!(a.as_f64().unwrap() > b.as_f64().unwrap() + 1.0, "{name}");
    }
}

/// Every emoji-mt phrase of `column`: how many come back unchanged from tokenizing (`punct = "split"`) and
/// detokenizing with `lang` and with the shared rules only, and the ones that do not.
fn round_trip_report(column: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/emoji-mt/pairs.tsv");
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = header.iter().position(|h| *h == column).unwrap();
    let phrases: Vec<&str> = lines.map(|l| l.split('\t').nth(col).unwrap()).collect();
    let mut out = String::new();
    for l in [lang(column), Lang::Any] {
        let failed: Vec<String> = phrases
            .iter()
            .filter_map(|p| {
                let back = detokenize(&tokenize(p, false, Punct::Split), l);
                (back != *p).then(|| format!("  {p}  ->  {back}\n"))
            })
            .collect();
        out.push_str(&format!(
            "{column} with {l:?} rules: {} of {} phrases unchanged\n",
            phrases.len() - failed.len(),
            phrases.len()
        ));
        if l != Lang::Any {
            out.extend(failed);
        }
    }
    out
}

#[test]
fn emoji_mt_round_trips() {
    let report: String = ["en", "de", "pt"].map(round_trip_report).concat();
    insta::assert_snapshot!(report);
}

#[test]
fn unknown_language_is_a_located_error() {
    let src = r#"
model M {
  input tgt: i64[B, T]
  output y = embedding(tgt, 10, 4)
}
data d {
  field tgt: i64[T] = text("pairs.tsv", column = "de", punct = "split", lang = "dee")
  field other: i64[S] = text("pairs.tsv", column = "fr", punct = "split", lang = "fr")
}
"#;
    insta::assert_snapshot!(super::check::check(src));
}
