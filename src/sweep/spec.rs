//! The sweep's flags as data: `--grid KEY=V1,V2`, `--space KEY=LOW..HIGH[log]` and `--seeds 1..5` parsed into
//! [`GridAxis`], [`SpaceAxis`] and seed lists, each mistake a `fusec::cli::sweep` diagnostic that says what a
//! well-formed flag looks like (and what was probably meant).

use serde::{Deserialize, Serialize};

use crate::diag::{did_you_mean, Diagnostic};

/// The code of every malformed sweep flag.
pub const FLAG_CODE: &str = "fusec::cli::sweep";

/// Most trials one sweep may expand to: a typo such as `--seeds 1..100000` is refused, not queued.
pub const MAX_TRIALS: usize = 100_000;

/// One `--grid KEY=V1,V2,...`: every value is tried with every other axis's values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridAxis {
    pub key: String,
    pub values: Vec<String>,
}

/// One `--space KEY=LOW..HIGH` (uniform) or `KEY=LOW..HIGHlog` (log-uniform) of a random search. Integer bounds
/// draw integers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpaceAxis {
    pub key: String,
    pub low: f64,
    pub high: f64,
    pub log: bool,
    pub integer: bool,
}

fn flag_error(flag: &str, given: &str, what: &str, example: &str) -> Diagnostic {
    Diagnostic::error(FLAG_CODE, format!("`{flag} {given}`: {what}"))
        .help(format!("write it as `{flag} {example}`"))
}

/// Splits on commas outside brackets, so list values (`sizes=[64,32],[128,64]`) stay whole.
fn split_values(text: &str) -> Vec<String> {
    let (mut out, mut depth, mut cur) = (Vec::new(), 0i32, String::new());
    for c in text.chars() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur.trim().to_string());
    out
}

fn split_key<'a>(
    flag: &str,
    text: &'a str,
    example: &str,
) -> Result<(&'a str, &'a str), Diagnostic> {
    let Some((key, rest)) = text.split_once('=') else {
        return Err(flag_error(
            flag,
            text,
            "there is no `=` between the key and its values",
            example,
        ));
    };
    let key = key.trim();
    let well_formed = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !well_formed {
        return Err(flag_error(
            flag,
            text,
            &format!("`{key}` is not a setting name"),
            example,
        ));
    }
    if key == "seed" {
        return Err(Diagnostic::error(
            FLAG_CODE,
            format!("`{flag} {text}`: seeds are not a setting of the sweep's grid"),
        )
        .help("give them with `--seeds 1..5` (or `--seeds 1,2,3`)"));
    }
    Ok((key, rest.trim()))
}

/// Parses `KEY=V1,V2,...`.
pub fn parse_grid(text: &str) -> Result<GridAxis, Diagnostic> {
    let example = "optimizer.main.lr=1e-3,3e-3";
    let (key, rest) = split_key("--grid", text, example)?;
    let values = split_values(rest);
    if values.iter().any(String::is_empty) {
        return Err(flag_error("--grid", text, "a value is empty", example));
    }
    let mut seen = Vec::new();
    for v in &values {
        if seen.contains(v) {
            return Err(flag_error(
                "--grid",
                text,
                &format!("`{v}` is given twice"),
                example,
            ));
        }
        seen.push(v.clone());
    }
    Ok(GridAxis {
        key: key.to_string(),
        values,
    })
}

/// Parses `KEY=LOW..HIGH` or `KEY=LOW..HIGHlog` (also `KEY=LOW..HIGH,log` and `KEY=LOW..HIGH:log`).
pub fn parse_space(text: &str) -> Result<SpaceAxis, Diagnostic> {
    let example = "optimizer.main.lr=1e-4..1e-2log";
    let (key, rest) = split_key("--space", text, example)?;
    let Some((low, high)) = rest.split_once("..") else {
        return Err(flag_error(
            "--space",
            text,
            "the range has no `..`",
            example,
        ));
    };
    let high = high.trim();
    let cut = high
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(high.len());
    let (number, scale) = high.split_at(cut);
    let number = number.trim_end_matches([',', ':', ' ']);
    let log = match scale.trim() {
        "" => false,
        "log" => true,
        other => {
            let mut d = flag_error(
                "--space",
                text,
                &format!("`{other}` is not a scale"),
                example,
            );
            if did_you_mean(other, ["log"]).is_some() {
                d = d.help(format!(
                    "did you mean `log`? (`--space {key}={}..{number}log`)",
                    low.trim()
                ));
            }
            return Err(d);
        }
    };
    let parse = |s: &str| s.trim().parse::<f64>().ok().filter(|x| x.is_finite());
    let (Some(lo), Some(hi)) = (parse(low), parse(number)) else {
        return Err(flag_error(
            "--space",
            text,
            "the bounds must be finite numbers",
            example,
        ));
    };
    if lo >= hi {
        return Err(flag_error(
            "--space",
            text,
            "the low bound must be below the high bound",
            example,
        ));
    }
    if log && lo <= 0.0 {
        return Err(flag_error(
            "--space",
            text,
            "a log scale needs bounds above 0",
            example,
        ));
    }
    let is_int = |s: &str| s.trim().parse::<i64>().is_ok();
    Ok(SpaceAxis {
        key: key.to_string(),
        low: lo,
        high: hi,
        log,
        integer: is_int(low) && is_int(number),
    })
}

/// Parses `--seeds`: an inclusive range `1..5`, or a list `1,2,3`.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, Diagnostic> {
    let example = "1..5";
    let t = text.trim();
    let number = |s: &str| s.trim().parse::<u64>().ok();
    let seeds = if let Some((a, b)) = t.split_once("..") {
        let b = b.trim_start_matches('=');
        let (Some(a), Some(b)) = (number(a), number(b)) else {
            return Err(flag_error(
                "--seeds",
                text,
                "the bounds must be whole numbers of at least 0",
                example,
            ));
        };
        if a > b {
            return Err(flag_error(
                "--seeds",
                text,
                "the range is empty (its first seed is above its last)",
                &format!("{b}..{a}"),
            ));
        }
        if b - a >= MAX_TRIALS as u64 {
            return Err(flag_error(
                "--seeds",
                text,
                &format!("more than {MAX_TRIALS} seeds"),
                example,
            ));
        }
        (a..=b).collect()
    } else if let Some((a, b)) = t
        .split_once('-')
        .filter(|(a, b)| number(a).is_some() && number(b).is_some())
    {
        return Err(Diagnostic::error(
            FLAG_CODE,
            format!("`--seeds {text}`: a range is written with `..`"),
        )
        .help(format!(
            "did you mean `--seeds {}..{}`?",
            a.trim(),
            b.trim()
        )));
    } else {
        let mut seeds = Vec::new();
        for part in t.split(',') {
            let Some(s) = number(part) else {
                return Err(flag_error(
                    "--seeds",
                    text,
                    &format!("`{}` is not a whole number of at least 0", part.trim()),
                    example,
                ));
            };
            if seeds.contains(&s) {
                return Err(flag_error(
                    "--seeds",
                    text,
                    &format!("seed {s} is given twice"),
                    example,
                ));
            }
            seeds.push(s);
        }
        seeds
    };
    Ok(seeds)
}

/// Keys given twice across `--grid`, `--space` and `--set` are refused: one trial cannot have two values.
pub fn check_distinct_keys(
    grid: &[GridAxis],
    space: &[SpaceAxis],
    sets: &[(String, String)],
) -> Vec<Diagnostic> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    let mut out = Vec::new();
    let keys = grid
        .iter()
        .map(|g| (g.key.as_str(), "--grid"))
        .chain(space.iter().map(|s| (s.key.as_str(), "--space")))
        .chain(sets.iter().map(|(k, _)| (k.as_str(), "--set")));
    for (key, flag) in keys {
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
            out.push(
                Diagnostic::error(FLAG_CODE, format!("`{key}` is given by both `{first}` and `{flag}`"))
                    .help("give each setting one way: fixed with `--set`, listed with `--grid`, or drawn with `--space`"),
            );
        }
        seen.push((key, flag));
    }
    out
}
