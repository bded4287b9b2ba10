//! `split = column("split.tsv", column = "split")`: a tab-separated file names each example's split
//! (`train`, `valid`/`val`/`dev`, `test`). When the file has an `id` column, each row's id is the index of the
//! example it splits (counting from 0), so rows may come in any order; every example needs exactly one row, and
//! duplicate, missing or unknown ids are errors. Without an `id` column, row i splits example i.

use std::path::Path;

use super::split::Splits;
use super::text_load::{read_lines, tsv_column};
use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{DataSpec, SplitSpec};

/// At most this many offending rows are listed per problem.
const SHOWN: usize = 5;

/// The splits the file names, or empty splits after pushing what is wrong.
pub(super) fn split_by_column(
    spec: &DataSpec,
    dir: &Path,
    n: usize,
    diags: &mut Diagnostics,
) -> Splits {
    let SplitSpec::Column { file, column } = &spec.split else {
        return Splits::default();
    };
    let shown = Path::new(&spec.path).join(file).display().to_string();
    let fail =
        |m: String| Diagnostic::error("fusec::data::split", m).label(spec.span, "in this data set");
    let lines = match read_lines(&dir.join(file), &shown) {
        Ok(lines) => lines,
        Err((_, m)) => {
            diags.push(fail(m));
            return Splits::default();
        }
    };
    // A trailing empty line is no row.
    let lines: Vec<String> = match lines.iter().rposition(|l| !l.trim().is_empty()) {
        Some(last) => lines[..=last].to_vec(),
        None => Vec::new(),
    };
    let values = match tsv_column(&lines, column, &shown) {
        Ok(v) => v,
        Err(m) => {
            diags.push(fail(m));
            return Splits::default();
        }
    };
    let has_ids = lines
        .first()
        .is_some_and(|h| h.split('\t').any(|c| c == "id"));
    let order: Vec<usize> = if has_ids {
        let ids = tsv_column(&lines, "id", &shown).unwrap_or_default();
        match example_of_rows(spec, &shown, &ids, n) {
            Ok(order) => order,
            Err(d) => {
                diags.push(d);
                return Splits::default();
            }
        }
    } else {
        if values.len() != n {
            diags.push(fail(format!(
                "`{shown}` names the split of {} examples, but the fields hold {n}",
                values.len()
            )));
            return Splits::default();
        }
        (0..n).collect()
    };
    let mut s = Splits::default();
    for (row, v) in values.iter().enumerate() {
        let i = order[row];
        match v.as_str() {
            "train" => s.train.push(i),
            "valid" | "val" | "dev" => s.valid.push(i),
            "test" => s.test.push(i),
            other => {
                diags.push(fail(format!(
                    "`{shown}` line {}: `{other}` is not a split (train, valid, test)",
                    row + 2
                )));
                return Splits::default();
            }
        }
    }
    s.train.sort_unstable();
    s.valid.sort_unstable();
    s.test.sort_unstable();
    s
}

/// The example each row's id names, after checking that the ids are the example indices `0..n`, each once.
fn example_of_rows(
    spec: &DataSpec,
    shown: &str,
    ids: &[String],
    n: usize,
) -> Result<Vec<usize>, Diagnostic> {
    let mut first_row: Vec<Option<usize>> = vec![None; n];
    let (mut unknown, mut duplicate) = (Vec::new(), Vec::new());
    let mut order = Vec::with_capacity(ids.len());
    for (row, id) in ids.iter().enumerate() {
        let line = row + 2;
        match id.trim().parse::<usize>().ok().filter(|i| *i < n) {
            None => unknown.push(format!("line {line}: `{}`", id.trim())),
            Some(i) => match first_row[i] {
                Some(first) => duplicate.push(format!("id {i} on lines {first} and {line}")),
                None => first_row[i] = Some(line),
            },
        }
        order.push(id.trim().parse::<usize>().unwrap_or(0));
    }
    let missing: Vec<usize> = (0..n).filter(|i| first_row[*i].is_none()).collect();
    if unknown.is_empty() && duplicate.is_empty() && missing.is_empty() {
        return Ok(order);
    }
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut list = |what: String, items: Vec<String>| {
        problems.push(what);
        let more = items.len().saturating_sub(SHOWN);
        let mut shown: Vec<String> = items.into_iter().take(SHOWN).collect();
        if more > 0 {
            shown.push(format!("... and {more} more"));
        }
        notes.push(shown.join(", "));
    };
    if !unknown.is_empty() {
        let what = super::read::plural(
            unknown.len(),
            "id that is no example",
            "ids that are no example",
        );
        list(format!("{what} (the examples are 0..{n})"), unknown);
    }
    if !duplicate.is_empty() {
        list(
            super::read::plural(duplicate.len(), "duplicate id", "duplicate ids"),
            duplicate,
        );
    }
    if !missing.is_empty() {
        let items = missing.iter().map(|i| format!("example {i}")).collect();
        list(
            super::read::plural(
                missing.len(),
                "example without a row",
                "examples without a row",
            ),
            items,
        );
    }
    let mut d = Diagnostic::error(
        "fusec::data::split_ids",
        format!(
            "the `id` column of `{shown}` does not name every example once: {}",
            problems.join(", ")
        ),
    )
    .label(spec.split_span, "this split");
    d.notes = notes;
    d.notes.push("an id is the index of the example it splits, counting from 0; lines count from 1 (the header is line 1)".into());
    Err(d.help("give every example exactly one row, with its index in the `id` column"))
}
