//! The diagnostic codes: `fusec::codes::CODES` lists exactly the codes in the sources, docs/CHECKS.md's table is
//! that list, and every code a user can meet appears in some test (a test asserting or snapshotting it). The
//! tests at the end produce the codes no other test did.

use std::path::{Path, PathBuf};

use candle_core::Device;
use fusec::api::{self, EvalRequest, PredictRequest, Silent, TranslateRequest};
use fusec::codes::{markdown_table, CODES};
use fusec::front::{compile, compile_source};

use super::support::temp_dir;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` (recursively) whose name ends in one of `exts`.
fn files(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if exts.iter().any(|e| p.to_string_lossy().ends_with(e)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The `"fusec::..."` string literals of a text.
fn literals(text: &str) -> Vec<String> {
    text.match_indices("\"fusec::")
        .filter_map(|(at, _)| {
            let rest = &text[at + 1..];
            let code = &rest[..rest.find('"')?];
            let plain = code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':');
            (plain && code.len() > 7 && !code.ends_with(':')).then(|| code.to_string())
        })
        .collect()
}

/// Codes written in the library's sources (tests excluded).
fn source_codes() -> Vec<String> {
    let mut out: Vec<String> = files(&root().join("src"), &[".rs"])
        .iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "tests"))
        .filter(|p| !p.ends_with("codes.rs"))
        .flat_map(|p| literals(&std::fs::read_to_string(p).unwrap()))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn the_code_list_is_the_codes_of_the_sources() {
    let listed: Vec<String> = CODES.iter().map(|c| c.code.to_string()).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "src/codes.rs is kept sorted");
    assert_eq!(
        source_codes(),
        listed,
        "src/codes.rs against the codes in src/"
    );
}

#[test]
fn the_checks_document_lists_every_code() {
    let path = root().join("docs/CHECKS.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let (start, end) = ("<!-- codes -->\n", "<!-- /codes -->");
    let a = text.find(start).unwrap() + start.len();
    let b = text.find(end).unwrap();
    let table = markdown_table();
    if std::env::var("FUSEC_BLESS").is_ok() {
        std::fs::write(&path, format!("{}{table}{}", &text[..a], &text[b..])).unwrap();
        return;
    }
    assert_eq!(
        &text[a..b],
        table,
        "docs/CHECKS.md's table is out of date: FUSEC_BLESS=1 cargo test --locked codes::"
    );
}

/// Codes no test produces yet, each with the reason. The test below fails for any other untested code, and for
/// a code listed here that a test does produce.
const NOT_YET_EXERCISED: &[(&str, &str)] = &[];

#[test]
fn every_code_a_user_can_meet_is_exercised_by_a_test() {
    let mut corpus = String::new();
    let this = root().join("tests/it/codes.rs");
    for dir in ["tests", "src"] {
        for p in files(&root().join(dir), &[".rs", ".snap", ".fuse"]) {
            let in_tests = p.components().any(|c| c.as_os_str() == "tests");
            if in_tests && p != this {
                corpus.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    // This file's own tests count too, but not the list of excused codes.
    let own = std::fs::read_to_string(&this).unwrap();
    let start = own.find("const NOT_YET_EXERCISED").unwrap();
    let end = start + own[start..].find("];").unwrap();
    corpus.push_str(&own[..start]);
    corpus.push_str(&own[end..]);
    let mut missing = Vec::new();
    for c in CODES.iter().filter(|c| !c.internal) {
        let quoted = format!("\"{}\"", c.code);
        let exercised = corpus.contains(&quoted) || corpus.contains(&format!("{}\n", c.code));
        let excused = NOT_YET_EXERCISED.iter().any(|(k, _)| *k == c.code);
        match (exercised, excused) {
            (false, false) => missing.push(c.code),
            (true, true) => panic!(
                "{} is exercised now; remove it from NOT_YET_EXERCISED",
                c.code
            ),
            _ => {}
        }
    }
    assert!(missing.is_empty(), "codes no test produces: {missing:?}");
}

// The codes no other test produces.

/// The codes of a failed API call.
fn api_codes<T>(r: Result<T, api::Error>) -> Vec<&'static str> {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.diagnostics().0.iter().map(|d| d.code).collect(),
    }
}

fn overrides(sets: &[(&str, &str)]) -> Vec<(String, String)> {
    sets.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_model_without_outputs_warns() {
    let c = compile_source(
        "main.fuse",
        "model M {\n  input a: f32[B, 2]\n}\n",
        &[],
        false,
    )
    .unwrap();
    let codes: Vec<&str> = c.warnings.iter().map(|d| d.code).collect();
    assert!(codes.contains(&"fusec::model::empty"), "{codes:?}");
}

#[test]
fn a_set_value_must_be_a_constant() {
    let f = compile(
        &api::FsLoader,
        "examples/mfeat/concat.fuse",
        &overrides(&[("epochs", "relu(1)")]),
        false,
    )
    .unwrap_err();
    let codes: Vec<&str> = f.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["fusec::value::not_constant"]);
}

#[test]
fn a_model_with_too_many_nodes_stops() {
    let src = "model M {\n  input a: f32[B, 2]\n  h = a\n  for i in 0..500 {\n    for j in 0..500 {\n      h = relu(h)\n    }\n  }\n  output o = h\n}\n";
    let f = compile_source("main.fuse", src, &[], false).unwrap_err();
    let codes: Vec<&str> = f.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["fusec::limit::nodes"]);
}

#[test]
fn command_line_choices_are_diagnostics() {
    assert_eq!(api_codes(api::device("tpu")), ["fusec::cli::device"]);
    let c = compile_source(
        "main.fuse",
        "model M {\n  input a: f32[B, 2]\n  output o = relu(a)\n}\n",
        &[],
        false,
    )
    .unwrap();
    assert_eq!(
        api_codes(api::pick_model(&c.program, Some("N"))),
        ["fusec::name::model"]
    );
    assert_eq!(
        api_codes(api::inspect_data(std::path::Path::new(
            "tests/no/such/file.npy"
        ))),
        ["fusec::data::inspect::read"]
    );
}

/// `eval` on the mfeat example: an unknown split, then a folder that is no run directory.
#[test]
fn eval_reports_a_bad_split_and_a_missing_checkpoint() {
    let mut req = EvalRequest {
        file: "examples/mfeat/concat.fuse".into(),
        overrides: Vec::new(),
        run_dir: temp_dir("codes", "no-run"),
        split: "tset".into(),
        last: false,
        device: Device::Cpu,
    };
    assert_eq!(
        api_codes(api::eval(&req, &mut Silent)),
        ["fusec::cli::split"]
    );
    req.split = "test".into();
    assert_eq!(api_codes(api::eval(&req, &mut Silent)), ["fusec::run::io"]);
}

/// `predict` on a folder that holds no recorded run.
#[test]
fn predict_needs_a_recorded_run() {
    let dir = temp_dir("codes", "no-record");
    let req = PredictRequest {
        file: "examples/mfeat/concat.fuse".into(),
        overrides: Vec::new(),
        run_dir: dir.clone(),
        input: dir.join("inputs.npz"),
        device: Device::Cpu,
    };
    assert_eq!(
        api_codes(api::predict(&req, &mut Silent)),
        ["fusec::run::io"]
    );
}

/// Visual features that are not a NumPy array: a run error of the request, found before any checkpoint is read.
#[test]
fn translate_rejects_features_that_are_no_array() {
    let dir = temp_dir("codes", "features");
    std::fs::write(dir.join("in.txt"), "hello\n").unwrap();
    std::fs::write(dir.join("feat.npy"), b"not an array").unwrap();
    let req = TranslateRequest {
        file: "examples/mmt/emoji_de_text.fuse".into(),
        overrides: overrides(&[("epochs", "1")]),
        run_dir: dir.clone(),
        input: dir.join("in.txt"),
        features: Some(dir.join("feat.npy")),
        decode: Default::default(),
        last: false,
        device: Device::Cpu,
    };
    assert_eq!(
        api_codes(api::translate(&req, &mut Silent)),
        ["fusec::run::config"]
    );
}

/// A model that scores fewer classes than the labels hold, and a decoder with a smaller vocabulary than its
/// target text: both found when the data is loaded, before training.
#[test]
fn the_data_must_fit_the_task() {
    let prepare = |file: &str, sets: &[(&str, &str)]| {
        api_codes(api::prepare(
            std::path::Path::new(file),
            &overrides(sets),
            &mut Silent,
        ))
    };
    assert_eq!(
        prepare("examples/mfeat/concat.fuse", &[("head.classes", "3")]),
        ["fusec::train::classes"]
    );
    assert_eq!(
        prepare("examples/mmt/emoji_de_text.fuse", &[("tgt_vocab", "10")]),
        ["fusec::train::vocab"]
    );
}

/// Loads the first data set of `data` (a `data d { ... }` body whose `path` is a fresh folder holding `files`)
/// and returns the codes of its errors.
fn data_codes(name: &str, body: &str, files: &[(&str, &[u8])]) -> Vec<&'static str> {
    let dir = temp_dir("codes", name);
    for (f, bytes) in files {
        match f.strip_suffix('/') {
            Some(folder) => std::fs::create_dir_all(dir.join(folder)).unwrap(),
            None => std::fs::write(dir.join(f), bytes).unwrap(),
        }
    }
    let src = format!("data d {{\n  path = \"{}\"\n{body}\n}}\n", dir.display());
    let c = compile_source("main.fuse", &src, &[], false)
        .unwrap_or_else(|f| panic!("{}", fusec::diag::render(&f.diagnostics, &f.sources, false)));
    let mut spec = c.program.data[0].clone();
    if name == "duplicate" {
        // Lowering rejects a second declaration of a name; a data set built another way is checked again.
        spec.fields.push(spec.fields[0].clone());
    }
    if name == "files" {
        // Lowering makes per-split files the split; a data set built another way is checked again.
        spec.split = fusec::ir::SplitSpec::Random {
            train: 0.6,
            valid: 0.2,
            test: 0.2,
            seed: 0,
        };
    }
    let diags = fusec::data::load(&spec, std::path::Path::new(".")).unwrap_err();
    diags.iter().map(|d| d.code).collect()
}

#[test]
fn broken_data_files_have_their_codes() {
    let csv: &[u8] = b"a\n1\n2\n3\n4\n5\n";
    assert_eq!(
        data_codes(
            "dtype",
            "  field y: i64[] = csv(\"d.csv\", column = 0)",
            &[("d.csv", b"a\n1.5\n2\n3\n4\n5\n")]
        ),
        ["fusec::data::dtype"]
    );
    assert_eq!(
        data_codes(
            "duplicate",
            "  field y: f32[] = csv(\"d.csv\", column = 0)",
            &[("d.csv", csv)]
        ),
        ["fusec::data::duplicate_field"]
    );
    assert_eq!(
        data_codes(
            "files",
            "  field x: f32[2] = npy(train = \"a.npy\", valid = \"b.npy\", test = \"c.npy\")",
            &[]
        ),
        ["fusec::data::files"]
    );
    assert_eq!(
        data_codes(
            "format",
            "  field x: f32[2] = npy(\"x.npy\")",
            &[("x.npy", b"not an array")]
        ),
        ["fusec::data::format"]
    );
    assert_eq!(
        data_codes(
            "io",
            "  field x: f32[2] = npy(\"x.npy\")",
            &[("x.npy/", b"")]
        ),
        ["fusec::data::io"]
    );
    assert_eq!(
        data_codes(
            "text",
            "  field t: f32[4] = text(\"t.txt\")",
            &[("t.txt", b"a b\n")]
        ),
        ["fusec::data::text"]
    );
    assert_eq!(
        data_codes(
            "column",
            "  field t: i64[T] = text(\"p.tsv\", column = \"de\")",
            &[("p.tsv", b"en\tpt\nhi\toi\n")]
        ),
        ["fusec::data::column"]
    );
}

#[test]
fn pickles_that_do_not_build_a_value() {
    use fusec::data::pickle::read_pickle;
    let code = |bytes: &[u8]| read_pickle(bytes).unwrap_err().to_diagnostic("p.pkl").code;
    // Protocol 2, then a byte that is no opcode.
    assert_eq!(code(b"\x80\x02\xff."), "fusec::data::pickle::bad_opcode");
    // STOP with nothing on the stack.
    assert_eq!(code(b"\x80\x02."), "fusec::data::pickle::malformed");
}
