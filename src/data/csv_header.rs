//! `csv(file, column = "label")`: the column a CSV or TSV file's header names so. A name the header lacks is an
//! error listing the header's names (with "did you mean" when one is close).

use super::read::ReadError;
use crate::diag::did_you_mean;

/// At most this many header names are listed in an error.
const SHOWN: usize = 30;

/// The index of the column the header of `bytes` names `name` (cells separated by tabs in a `.tsv` file, by
/// commas otherwise; surrounding spaces and quotes are ignored).
pub(super) fn column_named(bytes: &[u8], shown: &str, name: &str) -> Result<usize, ReadError> {
    let sep = if shown.to_ascii_lowercase().ends_with(".tsv") {
        '\t'
    } else {
        ','
    };
    let text = String::from_utf8_lossy(bytes);
    let header = text
        .lines()
        .next()
        .map(|l| l.trim_end_matches('\r'))
        .unwrap_or("");
    let names: Vec<&str> = header
        .split(sep)
        .map(|c| c.trim().trim_matches('"').trim())
        .collect();
    if let Some(k) = names.iter().position(|n| *n == name) {
        return Ok(k);
    }
    let mut e = ReadError::new(
        "fusec::data::column",
        format!("`{shown}` has no column `{name}` in its header"),
    );
    let listed: Vec<String> = names.iter().take(SHOWN).map(|n| format!("`{n}`")).collect();
    let more = names.len().saturating_sub(SHOWN);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    e.notes
        .push(format!("the header's columns: {}{tail}", listed.join(", ")));
    e.help = Some(match did_you_mean(name, names.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => {
            "name a column of the header, or give the column's index (`column = 0` is the first)"
                .into()
        }
    });
    Err(e)
}
