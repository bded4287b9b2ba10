//! Label balance for `fusec data inspect`: how many examples each class has, for the arrays and CSV columns that
//! look like class labels — integer, boolean or string values, one per example, with few distinct values (at most
//! [`MAX_CLASSES`], and at most half as many as examples, so ids and features are left out).

use std::collections::BTreeMap;

/// More distinct values than this is not a label set worth listing.
pub const MAX_CLASSES: usize = 32;

/// A label value: numbers sort numerically, before names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Label {
    Number(i64),
    Name(String),
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Number(n) => write!(f, "{n}"),
            Label::Name(s) => write!(f, "{s}"),
        }
    }
}

/// `0 12 (40.0%), 1 18 (60.0%)`, or `None` when `labels` do not look like class labels.
pub fn balance(labels: impl IntoIterator<Item = Label>) -> Option<String> {
    let mut counts: BTreeMap<Label, usize> = BTreeMap::new();
    let mut n = 0usize;
    for l in labels {
        *counts.entry(l).or_default() += 1;
        n += 1;
        if counts.len() > MAX_CLASSES {
            return None;
        }
    }
    if n < 2 || counts.len() * 2 > n {
        return None;
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(l, c)| format!("{l} {c} ({:.1}%)", 100.0 * *c as f64 / n as f64))
        .collect();
    Some(parts.join(", "))
}

/// Integer values as labels; `None` if one is not an integer.
pub fn numbers(values: &[f64]) -> Option<Vec<Label>> {
    values
        .iter()
        .map(|v| (v.fract() == 0.0 && v.abs() < 1e15).then_some(Label::Number(*v as i64)))
        .collect()
}

/// A CSV column's cells as labels: all integers, or all names (no cell a number); `None` otherwise.
pub fn cells(column: &[&str]) -> Option<Vec<Label>> {
    let parsed: Vec<Option<f64>> = column.iter().map(|c| c.parse::<f64>().ok()).collect();
    if parsed.iter().all(Option::is_some) {
        let values: Vec<f64> = parsed.into_iter().flatten().collect();
        return numbers(&values);
    }
    if parsed.iter().all(Option::is_none) {
        return Some(column.iter().map(|c| Label::Name(c.to_string())).collect());
    }
    None
}
