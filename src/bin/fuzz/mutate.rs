//! Mutations of seed files: byte edits (deletions, insertions of random or hostile bytes, copies, swaps) and
//! token edits (a token replaced by one from a dictionary of the language's words, numbers and punctuation or
//! from another seed, deleted, duplicated, swapped; lines spliced in from another seed; numbers replaced by
//! extreme values).

use fusec::rng::SeededRng;

/// Words and pieces the language gives meaning to, plus hostile values.
const DICTIONARY: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "=",
    "==",
    ",",
    ".",
    ":",
    "+",
    "-",
    "*",
    "/",
    "%",
    "@",
    "|>",
    "..",
    "...",
    "->",
    "<",
    ">",
    "\"",
    "\n",
    "\r",
    "\t",
    " ",
    "0",
    "1",
    "2",
    "-1",
    "64",
    "1000000",
    "2147483648",
    "4611686018427387904",
    "9223372036854775807",
    "999999999999999999999",
    "1e400",
    "1e-400",
    "0.0",
    "-0.0",
    "0.5",
    "nan",
    "inf",
    "B",
    "T",
    "S",
    "_",
    "f32",
    "f64",
    "i64",
    "bool",
    "int",
    "float",
    "str",
    "x",
    "model",
    "block",
    "input",
    "output",
    "loss",
    "param",
    "shared",
    "for",
    "in",
    "if",
    "else",
    "return",
    "import",
    "assert",
    "data",
    "train",
    "field",
    "optimizer",
    "step",
    "minimize",
    "using",
    "std.",
    "std.fusion",
    "std.encoders",
    "std.heads",
    "std.mult",
    "true",
    "false",
    "and",
    "or",
    "not",
    "none",
    "linear(",
    "concat([",
    "reshape(",
    "len(",
    "dim(",
    "without(",
    "lstm(",
    "attention(",
    "conv1d(",
    "embedding(",
    "layer_norm(",
    "outer(",
    "softmax(",
    "mean(",
    "select(",
    "slice(",
    "range(",
    "batch_size",
    "epochs",
    "clip_norm",
    "lr",
    "seed",
    "patience",
    "schedule",
    "csv(",
    "npy(",
    "npz(",
    "safetensors(",
    "text(",
    "pickle(",
    "\"/dev/zero\"",
    "\"/proc/self/environ\"",
    "\"../../../../etc/passwd\"",
    "\"x.fuse\"",
    "//",
    "é",
    "\u{0}",
    "\u{feff}",
    "\\",
];

/// Numbers a mutation puts where a number was: boundaries of the evaluator's and the checker's arithmetic.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "7",
    "64",
    "100000",
    "1000000",
    "1073741824",
    "3037000500",
    "4611686018427387904",
    "9223372036854775807",
    "99999999999999999999",
];

pub fn pick(rng: &mut SeededRng, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (rng.next_u64() % n as u64) as usize
    }
}

/// One to four byte edits.
pub fn bytes(rng: &mut SeededRng, text: &str) -> String {
    let mut b = text.as_bytes().to_vec();
    for _ in 0..1 + pick(rng, 4) {
        let len = b.len();
        let at = pick(rng, len + 1);
        let span = 1 + pick(rng, 16);
        match pick(rng, 7) {
            0 => {
                b.drain(at..(at + span).min(len));
            }
            1 => {
                let piece = DICTIONARY[pick(rng, DICTIONARY.len())].as_bytes();
                b.splice(at..at, piece.iter().copied());
            }
            2 => {
                let end = (at + span).min(len);
                let copy = b[at..end].to_vec();
                let to = pick(rng, len + 1);
                b.splice(to..to, copy);
            }
            3 => {
                let at2 = pick(rng, len + 1);
                let (x, y) = (at.min(at2), at.max(at2));
                if y + span <= len && x + span <= y {
                    for i in 0..span {
                        b.swap(x + i, y + i);
                    }
                }
            }
            4 => b.insert(at, (rng.next_u64() % 256) as u8),
            5 => {
                if at < len {
                    b[at] ^= 1 << pick(rng, 8);
                }
            }
            _ => {
                // CR-only line ends, the classic of old editors.
                for c in b.iter_mut().filter(|c| **c == b'\n') {
                    if pick(rng, 3) == 0 {
                        *c = b'\r';
                    }
                }
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Splits text into tokens: identifiers, numbers, strings, comments, whitespace runs and single characters.
pub fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let end = if c.is_ascii_alphanumeric() || c == b'_' {
            run(bytes, i, |c| {
                c.is_ascii_alphanumeric() || c == b'_' || c == b'.'
            })
        } else if c == b'"' {
            bytes[i + 1..]
                .iter()
                .position(|c| *c == b'"' || *c == b'\n')
                .map(|p| i + 2 + p)
                .unwrap_or(bytes.len())
        } else if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            run(bytes, i, |c| c != b'\n')
        } else if c.is_ascii_whitespace() {
            run(bytes, i, |c| c.is_ascii_whitespace())
        } else {
            i + text[i..].chars().next().map(char::len_utf8).unwrap_or(1)
        };
        let end = end.min(bytes.len()).max(i + 1);
        let end = (end..=bytes.len())
            .find(|e| text.is_char_boundary(*e))
            .unwrap_or(bytes.len());
        out.push(&text[i..end]);
        i = end;
    }
    out
}

fn run(bytes: &[u8], start: usize, keep: impl Fn(u8) -> bool) -> usize {
    start
        + bytes[start..]
            .iter()
            .position(|c| !keep(*c))
            .unwrap_or(bytes.len() - start)
}

/// One to three token edits; `other` is another seed to borrow tokens and lines from.
pub fn tokens_edit(rng: &mut SeededRng, text: &str, other: &str) -> String {
    let mut toks: Vec<String> = tokens(text).into_iter().map(str::to_string).collect();
    let theirs = tokens(other);
    for _ in 0..1 + pick(rng, 3) {
        let n = toks.len();
        let at = pick(rng, n.max(1)).min(n.saturating_sub(1));
        match pick(rng, 8) {
            0 if n > 0 => toks[at] = DICTIONARY[pick(rng, DICTIONARY.len())].to_string(),
            1 if n > 0 && !theirs.is_empty() => {
                toks[at] = theirs[pick(rng, theirs.len())].to_string()
            }
            2 if n > 0 => {
                toks.remove(at);
            }
            3 if n > 0 => {
                let end = (at + 1 + pick(rng, 24)).min(n);
                let copy: Vec<String> = toks[at..end].to_vec();
                let to = pick(rng, n + 1);
                toks.splice(to..to, copy);
            }
            4 if n > 1 => {
                let other_at = pick(rng, n);
                toks.swap(at, other_at);
            }
            5 => {
                // Lines from another seed: blocks and statements meet in new contexts.
                let lines: Vec<&str> = other.lines().collect();
                if !lines.is_empty() {
                    let from = pick(rng, lines.len());
                    let to = (from + 1 + pick(rng, 12)).min(lines.len());
                    let piece = format!("\n{}\n", lines[from..to].join("\n"));
                    toks.insert(pick(rng, n + 1), piece);
                }
            }
            6 => {
                let numbers: Vec<usize> = (0..n)
                    .filter(|i| toks[*i].bytes().all(|c| c.is_ascii_digit()))
                    .collect();
                if !numbers.is_empty() {
                    let i = numbers[pick(rng, numbers.len())];
                    toks[i] = NUMBERS[pick(rng, NUMBERS.len())].to_string();
                }
            }
            _ => toks.insert(
                pick(rng, n + 1),
                DICTIONARY[pick(rng, DICTIONARY.len())].to_string(),
            ),
        }
    }
    toks.concat()
}
