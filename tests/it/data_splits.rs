//! Users' own data sets (issue 14): per-split files in every format, a validation split carved from the training
//! files, and the wrong combinations, as `.fuse` text in and the data report or rendered diagnostics out. The data
//! is `tests/data/labels/` (three digits of mfeat's morphological view; `make.py` there wrote it).

use std::path::Path;

use fusec::diag::render;
use fusec::front::compile;
use fusec::source::MemoryLoader;

/// Where the test files pretend to live, so `path = "."` reads `tests/data/labels/`.
const AT: &str = "tests/data/labels/case.fuse";

/// Compiles `text` (data blocks only) and loads every data set in it: the data reports and warnings, or every
/// diagnostic, rendered.
pub fn load(text: &str) -> String {
    let loader = MemoryLoader::new().with(AT, text);
    let compiled = match compile(&loader, AT, &[], false) {
        Ok(c) => c,
        Err(f) => return render(&f.diagnostics, &f.sources, false),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = String::new();
    for spec in &compiled.program.data {
        match fusec::data::load(spec, root) {
            Ok(ds) => {
                out.push_str(&ds.report.to_string());
                out.push_str(&render(&ds.warnings, &compiled.program.sources, false));
            }
            Err(d) => out.push_str(&render(&d, &compiled.program.sources, false)),
        }
    }
    out
}

#[test]
fn every_source_reads_per_split_files_and_valid_is_carved() {
    let text = r#"
data formats {
  path = "."
  field a: f32[6] = csv(train = "train.csv", test = "test.csv", columns = 0..6)
  field b: f32[6] = npy(train = "x_train.npy", test = "x_test.npy")
  field c: f32[6] = safetensors(train = "train.safetensors", test = "test.safetensors", key = "x")
  field digit: i64[] = npz(train = "train.npz", test = "test.npz", classes = 3)
}
"#;
    let out = load(text);
    // 12 training examples per class, a fifth (2.4, rounded to 2) of each carved out: 30 / 6, test 12.
    assert!(
        out.contains("48 examples (train 30, valid 6, test 12)"),
        "{out}"
    );
    insta::assert_snapshot!("per_split_files", out);
}

#[test]
fn carving_is_seeded_stratified_and_can_be_sized() {
    let carve = |args: &str| {
        load(&format!(
            r#"
data d {{
  path = "."
  field x: f32[6] = npy(train = "x_train.npy", test = "x_test.npy")
  field digit: i64[] = npz(train = "train.npz", test = "test.npz", key = "digit", classes = 3)
  split = files({args})
}}
"#
        ))
    };
    assert!(carve("valid = 0.25").contains("(train 27, valid 9, test 12)"));
    assert!(carve("valid = 0.25").contains("valid [3, 3, 3]"));
    assert!(carve("").contains("valid [2, 2, 2]"));
    // The seed chooses which examples: the same seed the same ones, another seed others.
    let valid = |seed: u64| {
        let text = format!(
            r#"data d {{
  path = "."
  field x: f32[6] = npy(train = "x_train.npy", test = "x_test.npy")
  split = files(seed = {seed})
}}"#
        );
        let loader = MemoryLoader::new().with(AT, &text);
        let c = compile(&loader, AT, &[], false).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
        let ds =
            fusec::data::load(&c.program.data[0], Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        // Without a label, a random fifth of the 36 training examples (7.2, rounded to 7).
        assert_eq!((ds.train.len(), ds.valid.len(), ds.test.len()), (29, 7, 12));
        ds.valid
    };
    assert_eq!(valid(3), valid(3));
    assert_ne!(valid(3), valid(4));
}

#[test]
fn wrong_file_combinations_are_located_errors() {
    let text = r#"
data both {
  path = "."
  field x: f32[6] = npy("x_train.npy", train = "x_train.npy", test = "x_test.npy")
}
data no_test {
  path = "."
  field x: f32[6] = npz(train = "train.npz", valid = "train.npz", key = "x")
}
data split_one_file {
  path = "."
  field x: f32[6] = npy(train = "x_train.npy", test = "x_test.npy")
  field digit: i64[] = csv("all.csv", column = 7)
  split = stratified(digit, train = 0.6, valid = 0.2, test = 0.2)
}
data mixed {
  path = "."
  field x: f32[6] = npy(train = "x_train.npy", test = "x_test.npy")
  field y: f32[6] = csv("all.csv", columns = 1..7)
}
data valid_disagrees {
  path = "."
  field x: f32[6] = npy(train = "x_train.npy", valid = "x_test.npy", test = "x_test.npy")
  field y: f32[6] = npy(train = "x_train.npy", test = "x_test.npy")
}
data carve_and_file {
  path = "."
  field x: f32[6] = npy(train = "x_train.npy", valid = "x_test.npy", test = "x_test.npy")
  split = files(valid = 0.2)
}
data bad_fraction {
  path = "."
  field x: f32[6] = npy(train = "x_train.npy", test = "x_test.npy")
  split = files(valid = 1.5, stratify = digits)
}
data classes_twice {
  path = "."
  field digit: i64[] = csv("all.csv", column = 7, classes = ["one", "two", "one"])
}
data one_class {
  path = "."
  field digit: i64[] = csv("all.csv", column = 7, classes = ["one"])
}
"#;
    let out = load(text);
    for code in [
        "fusec::data::files",
        "fusec::data::split",
        "fusec::data::field",
        "fusec::data::classes",
    ] {
        assert!(out.contains(code), "{code} missing:\n{out}");
    }
    insta::assert_snapshot!("wrong_file_combinations", out);
}

#[test]
fn stratifying_a_carve_by_a_float_field_is_an_error() {
    let out = load(
        r#"
data d {
  path = "."
  field x: f32[6] = npy(train = "x_train.npy", test = "x_test.npy")
  split = files(stratify = x)
}
"#,
    );
    assert!(
        out.contains("`files(stratify = ...)` needs a scalar integer label field"),
        "{out}"
    );
}

#[test]
fn a_split_column_follows_the_id_column() {
    let text = |split: &str| {
        format!(
            r#"data d {{
  path = "."
  field x: f32[6] = csv("all.csv", columns = 1..7)
  field digit: i64[] = csv("all.csv", column = 7)
  split = column("{split}", column = "split")
}}"#
        )
    };
    // split.tsv lists the ids shuffled: by line order the classes would be mixed across the splits.
    let out = load(&text("split.tsv"));
    assert!(
        out.contains("48 examples (train 27, valid 9, test 12)"),
        "{out}"
    );
    assert!(
        out.contains("train [9, 9, 9]") && out.contains("valid [3, 3, 3]"),
        "{out}"
    );
    let bad = load(&text("split_bad.tsv"));
    assert!(bad.contains("fusec::data::split_ids"), "{bad}");
    insta::assert_snapshot!("split_ids", bad);
}

#[test]
fn splits_far_from_the_fractions_or_with_empty_classes_are_warnings() {
    let split = |how: &str| {
        load(&format!(
            r#"data d {{
  path = "."
  field x: f32[6] = csv("all.csv", columns = 1..7)
  field digit: i64[] = csv("all.csv", column = 7)
  split = {how}
}}"#
        ))
    };
    // 16 per class: 0.8 / 0.1 / 0.1 rounds to 13 / 2 / 1 per class, 39 / 6 / 3 instead of 38.4 / 4.8 / 4.8.
    let rounded = split("stratified(digit, train = 0.8, valid = 0.1, test = 0.1)");
    assert!(rounded.contains("fusec::data::split_rounding"), "{rounded}");
    // 2 validation examples cannot hold 3 classes.
    let empty = split("random(train = 0.9, valid = 0.05, test = 0.05, seed = 0)");
    assert!(empty.contains("fusec::data::split_empty_class"), "{empty}");
    assert!(!empty.contains("split_rounding"), "{empty}");
    insta::assert_snapshot!("split_warnings", format!("{rounded}\n{empty}"));
    // Fractions that fit the classes warn about nothing.
    let fine = split("stratified(digit, train = 0.5, valid = 0.25, test = 0.25)");
    assert!(!fine.contains("warning"), "{fine}");
}

/// Declaring a million classes leaves nearly all of them empty in every split: the warning names 10 (class,
/// split) pairs and counts the rest, and the data report sums the counts past the 32nd class (the fuzz harness
/// found the warning writing three million notes, 1.3 GB).
#[test]
fn empty_classes_are_listed_up_to_a_bound() {
    let out = load(
        r#"data d {
  path = "../../../data/mfeat"
  field x: f32[76] = csv("mfeat-fou.csv", columns = 0..76)
  field digit: i64[] = csv("mfeat-fou.csv", column = 76, classes = 1000000)
  split = stratified(digit, train = 0.5, valid = 0.25, test = 0.25)
}"#,
    );
    assert!(out.contains("fusec::data::split_empty_class"), "{out}");
    assert_eq!(out.matches("has no train example").count(), 10, "{out}");
    assert!(!out.contains("has no valid example"), "{out}");
    // Ten digits occur in every split: 999,990 empty classes in each of the 3 splits, 10 of them listed.
    assert!(
        out.contains("… and 2999960 more pairs of a class and a split without examples"),
        "{out}"
    );
    assert!(
        out.contains("train [100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, … 999968 more classes with 0 examples]"),
        "{out}"
    );
    assert!(out.len() < 4000, "{out}");
}
