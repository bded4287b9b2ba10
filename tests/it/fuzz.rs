//! Property test: seeded random and byte-mutated variants of the example corpus never panic, and always end in
//! "ok" or at least one error diagnostic (whose rendering does not panic either).

use std::panic::{catch_unwind, AssertUnwindSafe};

use fusec::diag::render;
use fusec::front::compile_source;
use fusec::rng::SeededRng;

/// Variants in all, spread evenly over the seed files (so more examples do not make the test slower).
const VARIANTS: usize = 10_200;

const PIECES: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "=",
    ",",
    ".",
    ":",
    "+",
    "-",
    "*",
    "/",
    "@",
    "|>",
    "\"",
    "..",
    "\n",
    " ",
    "0",
    "1",
    "-1",
    "64",
    "999999999999999999999",
    "B",
    "T",
    "_",
    "f32",
    "i64",
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
    "std.",
    "linear(",
    "concat([",
    "reshape(",
    "len(",
    "dim(",
    "without(",
    "...",
    "//",
    "1e400",
    "0.0",
    "true",
    "\\",
    "é",
];

pub(crate) fn seeds() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["examples/mfeat", "stdlib"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files
            .into_iter()
            .filter(|p| p.extension().is_some_and(|x| x == "fuse"))
        {
            out.push(std::fs::read_to_string(f).unwrap());
        }
    }
    out
}

fn pick(rng: &mut SeededRng, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (rng.next_u64() % n as u64) as usize
    }
}

/// Applies 1 to 4 random edits: delete, insert a piece, duplicate or swap spans, or copy a line elsewhere.
pub(crate) fn mutate(rng: &mut SeededRng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + pick(rng, 4) {
        let len = bytes.len();
        let at = pick(rng, len + 1);
        let span = 1 + pick(rng, 12);
        match pick(rng, 6) {
            // A different number where a number is: exercises the shape checker rather than the parser.
            5 => {
                if let Some(start) = (at..len).find(|i| bytes[*i].is_ascii_digit()) {
                    let end = (start..len)
                        .find(|i| !bytes[*i].is_ascii_digit())
                        .unwrap_or(len);
                    let n = [
                        "0",
                        "1",
                        "2",
                        "3",
                        "7",
                        "64",
                        "100000",
                        "3037000500",
                        "4611686018427387904",
                    ][pick(rng, 9)];
                    bytes.splice(start..end, n.bytes());
                }
            }
            0 => {
                let end = (at + span).min(len);
                bytes.drain(at..end);
            }
            1 => {
                let piece = PIECES[pick(rng, PIECES.len())].as_bytes();
                bytes.splice(at..at, piece.iter().copied());
            }
            2 => {
                let end = (at + span).min(len);
                let copy = bytes[at..end].to_vec();
                let to = pick(rng, len + 1);
                bytes.splice(to..to, copy);
            }
            3 => {
                let at2 = pick(rng, len + 1);
                let (a, b) = (at.min(at2), at.max(at2));
                if b + span <= len && a + span <= b {
                    for i in 0..span {
                        bytes.swap(a + i, b + i);
                    }
                }
            }
            _ => {
                // A random byte, possibly splitting a UTF-8 sequence: the loader hands text in, so fix it up
                // lossily below as a file read would fail; we test the compiler, not the decoder.
                let b = (rng.next_u64() % 128) as u8;
                bytes.insert(at, b);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn mutated_examples_never_panic_and_always_end_in_ok_or_a_diagnostic() {
    let seeds = seeds();
    let per_file = VARIANTS.div_ceil(seeds.len());
    let mut rng = SeededRng::new(20210419);
    let (mut ok, mut failed, mut total) = (0, 0, 0);
    for (i, seed) in seeds.iter().enumerate() {
        for v in 0..per_file {
            let text = mutate(&mut rng, seed);
            let result = catch_unwind(AssertUnwindSafe(|| {
                compile_source("main.fuse", &text, &[], v % 4 == 0)
            }));
            total += 1;
            match result {
                Ok(Ok(_)) => ok += 1,
                Ok(Err(f)) => {
                    assert!(
                        f.diagnostics.has_errors(),
                        "seed {i} variant {v}: failed without an error:\n{text}"
                    );
                    if v % 16 == 0 {
                        let r = catch_unwind(AssertUnwindSafe(|| {
                            render(&f.diagnostics, &f.sources, false)
                        }));
                        assert!(
                            r.is_ok(),
                            "seed {i} variant {v}: rendering panicked:\n{text}"
                        );
                    }
                    failed += 1;
                }
                Err(_) => panic!("seed {i} variant {v}: the compiler panicked on:\n{text}"),
            }
        }
    }
    assert!(total >= 10_000, "only {total} variants");
    // Both outcomes must occur, or the mutations are too weak (or too strong) to test anything.
    assert!(ok > 100 && failed > 100, "ok {ok}, failed {failed}");
}
