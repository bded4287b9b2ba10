//! Translation metrics exactly as sacreBLEU 2.x computes them with its defaults: corpus BLEU (13a tokenizer,
//! exponential smoothing, brevity penalty), sentence BLEU (effective order) and chrF (character order 6,
//! beta 2, no word n-grams, whitespace removed).

use std::collections::HashMap;

const MAX_ORDER: usize = 4;
const CHRF_CHAR_ORDER: usize = 6;
const CHRF_BETA: f64 = 2.0;

/// A BLEU score with its sufficient statistics, on sacreBLEU's 0-100 scale.
#[derive(Clone, Debug, PartialEq)]
pub struct BleuScore {
    pub score: f64,
    /// Clipped n-gram matches for n = 1..4.
    pub counts: Vec<usize>,
    /// Hypothesis n-grams for n = 1..4.
    pub totals: Vec<usize>,
    pub precisions: Vec<f64>,
    pub bp: f64,
    pub sys_len: usize,
    pub ref_len: usize,
}

/// The `13a` tokenizer (mteval-v13a): unescapes a few entities, splits off punctuation and symbols, splits
/// periods and commas unless they sit next to a digit on the relevant side, and dashes after a digit.
pub fn tokenize_13a(line: &str) -> Vec<String> {
    let line = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">");
    let mut chars: Vec<char> = format!(" {line} ").chars().collect();
    chars = pad_symbols(&chars);
    let digit = |c: char| c.is_ascii_digit();
    let period = |c: char| c == '.' || c == ',';
    // `([^0-9])([\.,])` -> `\1 \2 `
    chars = substitute_pairs(
        &chars,
        |a, b| !digit(a) && period(b),
        |a, b| vec![a, ' ', b, ' '],
    );
    // `([\.,])([^0-9])` -> ` \1 \2`
    chars = substitute_pairs(
        &chars,
        |a, b| period(a) && !digit(b),
        |a, b| vec![' ', a, ' ', b],
    );
    // `([0-9])(-)` -> `\1 \2 `
    chars = substitute_pairs(
        &chars,
        |a, b| digit(a) && b == '-',
        |a, b| vec![a, ' ', b, ' '],
    );
    let s: String = chars.into_iter().collect();
    s.split_whitespace().map(str::to_string).collect()
}

/// The first 13a rule: every ASCII symbol in `{-~`, `[-``, ` -&`, `(-+`, `:-@` and `/` gets a space on
/// both sides (apostrophes, dashes, periods and commas are not among them).
fn pad_symbols(chars: &[char]) -> Vec<char> {
    let symbol =
        |c: char| matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/');
    let mut out = Vec::with_capacity(chars.len() * 2);
    for &c in chars {
        if symbol(c) {
            out.extend([' ', c, ' ']);
        } else {
            out.push(c);
        }
    }
    out
}

/// `re.sub` of a two-character pattern: leftmost matches, not overlapping, scanning on after each match.
fn substitute_pairs(
    chars: &[char],
    matches: impl Fn(char, char) -> bool,
    replace: impl Fn(char, char) -> Vec<char>,
) -> Vec<char> {
    let mut out = Vec::with_capacity(chars.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        if i + 1 < chars.len() && matches(chars[i], chars[i + 1]) {
            out.extend(replace(chars[i], chars[i + 1]));
            i += 2;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Sufficient statistics of one segment: `[sys_len, ref_len, counts.., totals..]`.
fn segment_stats<R: AsRef<str>>(hyp: &str, refs: &[R]) -> Vec<usize> {
    let hyp_tokens = tokenize_13a(hyp.trim_end());
    let ref_tokens: Vec<Vec<String>> = refs
        .iter()
        .map(|r| tokenize_13a(r.as_ref().trim_end()))
        .collect();
    // Reference n-gram counts: the maximum over references.
    let mut ref_counts: HashMap<&[String], usize> = HashMap::new();
    for toks in &ref_tokens {
        for (ng, c) in ngram_counts(toks) {
            let e = ref_counts.entry(ng).or_insert(0);
            *e = (*e).max(c);
        }
    }
    let ref_len = closest_ref_len(hyp_tokens.len(), ref_tokens.iter().map(Vec::len));
    let mut stats = vec![0; 2 + 2 * MAX_ORDER];
    stats[0] = hyp_tokens.len();
    stats[1] = ref_len;
    for (ng, c) in ngram_counts(&hyp_tokens) {
        let n = ng.len() - 1;
        stats[2 + MAX_ORDER + n] += c;
        stats[2 + n] += c.min(ref_counts.get(ng).copied().unwrap_or(0));
    }
    stats
}

fn ngram_counts(tokens: &[String]) -> HashMap<&[String], usize> {
    let mut m = HashMap::new();
    for n in 1..=MAX_ORDER {
        for w in tokens.windows(n) {
            *m.entry(w).or_insert(0) += 1;
        }
    }
    m
}

/// The reference length closest to the hypothesis length, the shorter one on ties.
fn closest_ref_len(hyp_len: usize, ref_lens: impl Iterator<Item = usize>) -> usize {
    ref_lens
        .min_by_key(|r| (r.abs_diff(hyp_len), *r))
        .unwrap_or(0)
}

/// BLEU from summed statistics with exponential smoothing; `effective_order` drops orders the hypothesis has
/// no n-grams of (sentence BLEU).
fn bleu_from_stats(stats: &[usize], effective_order: bool) -> BleuScore {
    let (sys_len, ref_len) = (stats[0], stats[1]);
    let counts = stats[2..2 + MAX_ORDER].to_vec();
    let totals = stats[2 + MAX_ORDER..].to_vec();
    let bp = match (sys_len < ref_len, sys_len > 0) {
        (false, _) => 1.0,
        (true, true) => (1.0 - ref_len as f64 / sys_len as f64).exp(),
        (true, false) => 0.0,
    };
    let mut precisions = vec![0.0; MAX_ORDER];
    if counts.iter().all(|c| *c == 0) {
        return BleuScore {
            score: 0.0,
            counts,
            totals,
            precisions,
            bp,
            sys_len,
            ref_len,
        };
    }
    let mut smooth = 1.0;
    let mut eff_order = MAX_ORDER;
    for n in 0..MAX_ORDER {
        if totals[n] == 0 {
            break;
        }
        if effective_order {
            eff_order = n + 1;
        }
        precisions[n] = if counts[n] == 0 {
            smooth *= 2.0;
            100.0 / (smooth * totals[n] as f64)
        } else {
            100.0 * counts[n] as f64 / totals[n] as f64
        };
    }
    // sacreBLEU's log of 0 is -9999999999, which makes the score 0 for all practical purposes.
    let log_sum: f64 = precisions[..eff_order]
        .iter()
        .map(|p| if *p == 0.0 { -9_999_999_999.0 } else { p.ln() })
        .sum();
    let score = bp * (log_sum / eff_order as f64).exp();
    BleuScore {
        score,
        counts,
        totals,
        precisions,
        bp,
        sys_len,
        ref_len,
    }
}

/// Corpus BLEU of `hyps` against `refs[i]`, the references of hypothesis `i` (any number each, at least one).
pub fn corpus_bleu<H: AsRef<str>, R: AsRef<str>>(
    hyps: &[H],
    refs: &[Vec<R>],
) -> Result<BleuScore, String> {
    check_pairs(hyps.len(), refs)?;
    let mut sum = vec![0; 2 + 2 * MAX_ORDER];
    for (h, r) in hyps.iter().zip(refs) {
        for (acc, s) in sum.iter_mut().zip(segment_stats(h.as_ref(), r)) {
            *acc += s;
        }
    }
    Ok(bleu_from_stats(&sum, false))
}

/// `sacrebleu.sentence_bleu(hyp, refs)`: one segment with effective order.
pub fn sentence_bleu<R: AsRef<str>>(hyp: &str, refs: &[R]) -> BleuScore {
    bleu_from_stats(&segment_stats(hyp, refs), true)
}

fn check_pairs<R>(n_hyps: usize, refs: &[Vec<R>]) -> Result<(), String> {
    if n_hyps != refs.len() {
        return Err(format!(
            "{n_hyps} hypotheses but {} reference lists",
            refs.len()
        ));
    }
    if let Some(i) = refs.iter().position(Vec::is_empty) {
        return Err(format!("hypothesis {i} has no reference"));
    }
    Ok(())
}

/// `[hyp, ref, match]` per character order of one hypothesis against one reference.
fn chrf_pair_stats(hyp: &[char], reference: &[char]) -> Vec<usize> {
    let mut stats = Vec::with_capacity(3 * CHRF_CHAR_ORDER);
    for n in 1..=CHRF_CHAR_ORDER {
        let h = char_counts(hyp, n);
        let r = char_counts(reference, n);
        let matched: usize = h
            .iter()
            .map(|(g, c)| (*c).min(r.get(g).copied().unwrap_or(0)))
            .sum();
        let hyp_total: usize = h.values().sum();
        // sacreBLEU does not count hypothesis n-grams of an order the reference has none of.
        stats.extend([
            if r.is_empty() { 0 } else { hyp_total },
            r.values().sum(),
            matched,
        ]);
    }
    stats
}

fn char_counts(chars: &[char], n: usize) -> HashMap<&[char], usize> {
    let mut m = HashMap::new();
    for w in chars.windows(n) {
        *m.entry(w).or_insert(0) += 1;
    }
    m
}

/// chrF from `[hyp, ref, match]` triples: precision and recall averaged over the orders both sides have
/// (sacreBLEU's default, not eps smoothing), combined with beta = 2.
fn chrf_from_stats(stats: &[usize]) -> f64 {
    let factor = CHRF_BETA * CHRF_BETA;
    let (mut prec, mut rec, mut eff) = (0.0, 0.0, 0usize);
    for t in stats.chunks(3) {
        let (n_hyp, n_ref, n_match) = (t[0], t[1], t[2]);
        if n_hyp > 0 && n_ref > 0 {
            prec += n_match as f64 / n_hyp as f64;
            rec += n_match as f64 / n_ref as f64;
            eff += 1;
        }
    }
    if eff == 0 {
        return 0.0;
    }
    let (prec, rec) = (prec / eff as f64, rec / eff as f64);
    if prec + rec == 0.0 {
        return 0.0;
    }
    100.0 * (1.0 + factor) * prec * rec / (factor * prec + rec)
}

/// Statistics of the best reference (highest chrF; the first on ties).
fn chrf_segment_stats<R: AsRef<str>>(hyp: &str, refs: &[R]) -> Vec<usize> {
    let strip = |s: &str| -> Vec<char> { s.split_whitespace().flat_map(str::chars).collect() };
    let h = strip(hyp);
    let mut best: (f64, Vec<usize>) = (-1.0, vec![0; 3 * CHRF_CHAR_ORDER]);
    for r in refs {
        let stats = chrf_pair_stats(&h, &strip(r.as_ref()));
        let f = chrf_from_stats(&stats);
        if f > best.0 {
            best = (f, stats);
        }
    }
    best.1
}

/// Corpus chrF (statistics summed over segments, then one score), 0-100.
pub fn corpus_chrf<H: AsRef<str>, R: AsRef<str>>(
    hyps: &[H],
    refs: &[Vec<R>],
) -> Result<f64, String> {
    check_pairs(hyps.len(), refs)?;
    let mut sum = vec![0; 3 * CHRF_CHAR_ORDER];
    for (h, r) in hyps.iter().zip(refs) {
        for (acc, s) in sum.iter_mut().zip(chrf_segment_stats(h.as_ref(), r)) {
            *acc += s;
        }
    }
    Ok(chrf_from_stats(&sum))
}

/// chrF of one hypothesis against its references, 0-100.
pub fn sentence_chrf<R: AsRef<str>>(hyp: &str, refs: &[R]) -> f64 {
    chrf_from_stats(&chrf_segment_stats(hyp, refs))
}
