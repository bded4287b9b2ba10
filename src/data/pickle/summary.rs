//! A readable summary of a pickle for `fusec data inspect`: the key tree with array shapes, dtypes and
//! non-finite counts, and for the known release layouts the split sizes, label balance and what reading it
//! would replace.

use std::fmt::Write;

use super::releases::{describe, read_lmf, read_mult, ArrayData, LabelKind, Release, EMOTIONS};
use super::value::Value;

/// Children shown per container before `... and n more`.
const MAX_CHILDREN: usize = 40;
const MAX_DEPTH: usize = 8;

/// The summary of an already read pickle (`protocol` from its PROTO opcode, if any).
pub fn summarize(value: &Value, protocol: Option<u8>) -> String {
    let mut out = String::new();
    match protocol {
        Some(p) => out.push_str(&format!("format: pickle, protocol {p}\n")),
        None => out.push_str("format: pickle (protocol 0 or 1)\n"),
    }
    out.push_str("structure:\n");
    tree(&mut out, value, 1, 0);
    layout_section(&mut out, value);
    out
}

fn tree(out: &mut String, value: &Value, indent: usize, depth: usize) {
    let pad = "  ".repeat(indent);
    let _ = writeln!(out, "{pad}{}", line(value));
    if depth >= MAX_DEPTH {
        return;
    }
    let children: Vec<(String, &Value)> = match value {
        Value::Dict(items) => items.iter().map(|(k, v)| (k.key_repr(), v)).collect(),
        Value::List(items) | Value::Tuple(items) if items.iter().any(is_container) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("[{i}]"), v))
            .collect(),
        _ => return,
    };
    // Subtrees printed so far, so a sibling with the same summary (LMF's four emotions) is one line.
    let mut seen: Vec<(&str, String)> = Vec::new();
    for (key, child) in children.iter().take(MAX_CHILDREN) {
        let _ = write!(out, "{pad}  {key}: ");
        let mut sub = String::new();
        tree(&mut sub, child, indent + 1, depth + 1);
        match seen.iter().find(|(_, s)| *s == sub) {
            Some((first, _)) if sub.lines().count() > 1 => {
                let _ = writeln!(
                    out,
                    "{}, same keys, shapes and counts as {first}",
                    line(child)
                );
            }
            // The child's first line goes after the key; its own children keep their indentation.
            _ => out.push_str(sub.trim_start()),
        }
        seen.push((key, sub));
    }
    if children.len() > MAX_CHILDREN {
        let _ = writeln!(out, "{pad}  ... and {} more", children.len() - MAX_CHILDREN);
    }
}

fn is_container(v: &Value) -> bool {
    matches!(
        v,
        Value::Dict(_) | Value::List(_) | Value::Tuple(_) | Value::NdArray(_)
    )
}

/// One value on one line: arrays with shape, dtype and non-finite counts; scalars with their value.
fn line(value: &Value) -> String {
    match value {
        Value::NdArray(a) if a.dtype.kind == 'f' => {
            let (nan, pos, neg) = a.non_finite_counts();
            let counts: Vec<String> = [(nan, "NaN"), (pos, "+inf"), (neg, "-inf")]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}"))
                .collect();
            let finite = if counts.is_empty() {
                "all finite".to_string()
            } else {
                counts.join(", ")
            };
            format!("{}, {finite}", describe(value))
        }
        Value::NdArray(a) if !a.dtype.is_numeric() => format!("{} (not numbers)", describe(value)),
        Value::Str(s) => format!("str {:?}", truncate(s)),
        Value::Bytes(b) => format!("bytes ({} bytes)", b.len()),
        Value::Int(i) => format!("int {i}"),
        Value::Float(f) => format!("float {f}"),
        Value::Bool(b) => format!("bool {b}"),
        Value::List(items) | Value::Tuple(items)
            if !items.iter().any(is_container) && items.len() <= 8 =>
        {
            let inner: Vec<String> = items.iter().map(line).collect();
            format!("{} [{}]", value.kind_name(), inner.join(", "))
        }
        other => describe(other),
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// For a recognized release: its reading (splits, labels, replacements) or the problems that stop it.
fn layout_section(out: &mut String, value: &Value) {
    let read = match super::detect_layout(value) {
        Some("mult") => {
            let kind = super::mult_label_kind(value);
            let what = match kind {
                LabelKind::EmotionBinary => "IEMOCAP emotions",
                LabelKind::Sentiment => "MOSI/MOSEI sentiment",
            };
            out.push_str(&format!("layout: MulT ({what})\n"));
            read_mult(value, kind)
        }
        Some(_) => {
            out.push_str("layout: LMF (data[emotion][split][key])\n");
            read_lmf(value)
        }
        None => {
            out.push_str("layout: not a known release layout (MulT or LMF)\n");
            return;
        }
    };
    match read {
        Ok(release) => release_section(out, &release),
        Err(problems) => {
            out.push_str("problems:\n");
            for p in problems {
                let _ = writeln!(out, "  {}", p.message());
            }
        }
    }
}

fn release_section(out: &mut String, release: &Release) {
    out.push_str("splits:\n");
    for split in super::releases::SPLITS {
        let Some(arrays) = release.splits.get(split) else {
            continue;
        };
        let fields: Vec<String> = arrays
            .fields
            .iter()
            .map(|(k, (shape, _))| format!("{k} {shape:?}"))
            .collect();
        let _ = writeln!(
            out,
            "  {split}: {} examples; {}",
            arrays.n_examples(),
            fields.join(", ")
        );
        match arrays.fields.get("labels") {
            Some((_, ArrayData::I64(labels))) => emotion_balance(out, labels),
            Some((_, ArrayData::F32(scores))) => sentiment_histogram(out, scores),
            None => {}
        }
    }
    let total: usize = release.replaced.values().sum();
    let nonzero: Vec<String> = release
        .replaced
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(out, "non-finite values set to 0 when read: {total}");
    if !nonzero.is_empty() {
        let _ = writeln!(out, "  {}", nonzero.join(", "));
    }
}

/// Positives (present) and negatives per emotion, with the majority-class rate a constant predictor gets.
fn emotion_balance(out: &mut String, labels: &[i64]) {
    let n = labels.len() / EMOTIONS.len();
    for (e, emotion) in EMOTIONS.iter().enumerate() {
        let pos = labels
            .iter()
            .skip(e)
            .step_by(EMOTIONS.len())
            .filter(|&&l| l == 1)
            .count();
        let majority = if n == 0 {
            0.0
        } else {
            pos.max(n - pos) as f64 / n as f64
        };
        let _ = writeln!(
            out,
            "    {emotion:<8} {pos} present, {} absent (majority {:.1}%)",
            n - pos,
            100.0 * majority
        );
    }
}

/// Counts per 7-class bin: scores clipped to [-3, 3] and rounded half to even, as MOSI's 7-class accuracy does.
fn sentiment_histogram(out: &mut String, scores: &[f32]) {
    let mut bins = [0usize; 7];
    for s in scores {
        let class = (s.clamp(-3.0, 3.0) as f64).round_ties_even() as i64 + 3;
        bins[class.clamp(0, 6) as usize] += 1;
    }
    let cells: Vec<String> = bins
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{}: {n}", i as i64 - 3))
        .collect();
    let negative = scores.iter().filter(|s| **s < 0.0).count();
    let _ = writeln!(out, "    sentiment {}", cells.join(", "));
    let _ = writeln!(
        out,
        "    negative {negative}, non-negative {}",
        scores.len() - negative
    );
}
