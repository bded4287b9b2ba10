//! Reusable `data` / `train` sections (import by name, extension by a section of the same name) and `expr as
//! name`: .fuse files in (several, through a `MemoryLoader`), the parse dump, the lowered program or the rendered
//! diagnostics out.

use fusec::source::MemoryLoader;

use super::lower::{check, run};
use super::syntax::check as parse_dump;

/// Lowers `files[0]` with the other files beside it.
fn program(files: &[(&str, &str)]) -> String {
    let loader = files
        .iter()
        .fold(MemoryLoader::new(), |l, (path, text)| l.with(path, text));
    run(&loader, files[0].0, &[])
}

/// A shared data set and plan, as examples/mfeat/common.fuse holds them.
const COMMON: &str = r#"data views {
  path = "../data"
  field a: f32[4] = csv("a.csv", columns = 0..4)
  field b: f32[3] = csv("b.csv", columns = 0..3)
  field label: i64[] = csv("a.csv", column = 4, classes = 3)
  split = stratified(label, seed = 1)
  standardize = [a, b]
}

train views {
  task = classification(logits, label)
  optimizer main = adam(lr = 1e-3)
  step main minimize task
  batch_size = 16
  epochs = 5
  select = valid.accuracy
}
"#;

/// A two-view classifier whose inputs match `COMMON`'s data set, with a reconstruction-like second loss.
const MODEL: &str = r#"model M {
  input a: f32[B, 4]
  input b: f32[B, 3]
  input label: i64[B]
  h = linear(concat([a, b]), 8) as enc
  output logits = linear(h, 3)
  loss task = cross_entropy(logits, label)
  loss aux = mse(linear(h, 7) as dec, concat([a, b]))
}
"#;

#[test]
fn sections_and_as_parse() {
    insta::assert_snapshot!(parse_dump(
        "import \"common.fuse\".{views, data other, train plan, Enc}\n\
         train views {\n  epochs = 3\n}\n\
         train {\n  minimize task\n}\n\
         model M {\n  input x: f32[B, 4]\n  h = linear(x, 8) as layer\n  g = x |> relu |> linear(2) as out\n  \
         d = shared Disc() as disc\n  output y = relu(linear(h, 2) as inner) + g as total\n}\n"
    ));
}

#[test]
fn as_is_a_keyword() {
    insta::assert_snapshot!(parse_dump(
        "model M {\n  input x: f32[B, 4]\n  as = linear(x, 8)\n}\n"
    ));
}

#[test]
fn an_imported_data_set_and_plan_are_the_files_own() {
    let main = format!("import \"common.fuse\".{{views}}\n\n{MODEL}");
    insta::assert_snapshot!(program(&[
        ("proj/main.fuse", &main),
        ("proj/common.fuse", COMMON)
    ]));
}

/// Settings, fields and optimizers are replaced in place or added; a layer with steps replaces the steps.
#[test]
fn an_extension_replaces_and_adds_entries() {
    let main = format!(
        r#"import "common.fuse".{{views}}

{MODEL}
data views {{
  field b: f32[3] = csv("b2.csv", columns = 1..4)
  field c: f32[2] = csv("c.csv", columns = 0..2)
  standardize = [a]
}}

train views {{
  optimizer aux = sgd(lr = 0.1, params = ["dec.*"])
  optimizer main = adamw(lr = 3e-4)
  step aux minimize aux
  step main minimize task
  epochs = 7
  patience = 2
}}
"#
    );
    insta::assert_snapshot!(program(&[
        ("proj/main.fuse", &main),
        ("proj/common.fuse", COMMON)
    ]));
}

/// `path` is relative to the file that sets it: the common file's folder, or the extension's when it sets its own.
#[test]
fn data_paths_start_at_the_file_that_sets_them() {
    let main = format!("import \"lib/common.fuse\".{{views}}\n\n{MODEL}");
    let out = program(&[("proj/main.fuse", &main), ("proj/lib/common.fuse", COMMON)]);
    assert!(
        out.contains("data views path=\"../data\" declared_in=\"proj/lib\""),
        "{out}"
    );
    let main = format!("{main}\ndata views {{\n  path = \"local\"\n}}\n");
    let out = program(&[("proj/main.fuse", &main), ("proj/lib/common.fuse", COMMON)]);
    assert!(
        out.contains("data views path=\"local\" declared_in=\"proj\""),
        "{out}"
    );
}

/// A file that extends an imported section exports the extended one, which the root extends once more; a file
/// that only imports a section does not pass it on.
#[test]
fn extensions_chain_across_files() {
    let mid = "import \"base.fuse\".{views}\n\ndata views {\n  standardize = [a]\n}\n\ntrain views {\n  epochs = 9\n  batch_size = 4\n}\n";
    let main =
        format!("import \"mid.fuse\".{{views}}\n\n{MODEL}\ntrain views {{\n  batch_size = 2\n}}\n");
    let out = program(&[
        ("main.fuse", &main),
        ("mid.fuse", mid),
        ("base.fuse", COMMON),
    ]);
    assert!(out.contains("batch_size=2 epochs=9 seed=0"), "{out}");
    assert!(out.contains("  standardize [\"a\"]\n"), "{out}");
    let passing_on = "import \"base.fuse\".{views}\n";
    let out = program(&[
        ("main.fuse", &main),
        ("mid.fuse", passing_on),
        ("base.fuse", COMMON),
    ]);
    assert!(
        out.contains("`mid.fuse` has no block `views`")
            && out.contains("it defines nothing that can be imported"),
        "{out}"
    );
}

/// `{data NAME}` brings the data set alone, so the file can run a plan of its own.
#[test]
fn a_kind_restricted_import_brings_one_section() {
    let main = format!(
        "import \"common.fuse\".{{data views}}\n\n{MODEL}\ntrain {{\n  task = classification(logits, label)\n  minimize task + aux\n}}\n"
    );
    let out = program(&[("main.fuse", &main), ("common.fuse", COMMON)]);
    assert!(
        out.contains("step main minimize 1*task + 1*aux using main"),
        "{out}"
    );
    assert!(out.contains("batch_size=32 epochs=10"), "{out}");
}

#[test]
fn an_unknown_imported_name_suggests_the_sections() {
    let main = format!("import \"common.fuse\".{{veiws, train vews}}\n\n{MODEL}");
    insta::assert_snapshot!(program(&[("main.fuse", &main), ("common.fuse", COMMON)]));
}

#[test]
fn a_misspelt_extension_is_an_error() {
    let main = format!(
        "import \"common.fuse\".{{views}}\n\n{MODEL}\ndata veiws {{\n  standardize = [a]\n}}\n\ntrain view {{\n  epochs = 2\n}}\n"
    );
    insta::assert_snapshot!(program(&[("main.fuse", &main), ("common.fuse", COMMON)]));
}

#[test]
fn two_plans_are_a_conflict() {
    let own = format!(
        "import \"common.fuse\".{{views}}\n\n{MODEL}\ntrain {{\n  task = classification(logits, label)\n  minimize task\n}}\n"
    );
    insta::assert_snapshot!(
        "own_and_imported",
        program(&[("main.fuse", &own), ("common.fuse", COMMON)])
    );
    let other = "train other {\n  task = classification(logits, label)\n  minimize task\n}\n";
    let two =
        format!("import \"common.fuse\".{{views}}\nimport \"other.fuse\".{{other}}\n\n{MODEL}");
    insta::assert_snapshot!(
        "two_imported",
        program(&[
            ("main.fuse", &two),
            ("common.fuse", COMMON),
            ("other.fuse", other)
        ])
    );
}

#[test]
fn sections_of_one_name_from_two_files_clash() {
    let main =
        format!("import \"common.fuse\".{{views}}\nimport \"copy.fuse\".{{data views}}\n\n{MODEL}");
    insta::assert_snapshot!(program(&[
        ("main.fuse", &main),
        ("common.fuse", COMMON),
        ("copy.fuse", COMMON)
    ]));
}

/// Mistakes inside an imported section are reported in the file that holds them, all at once.
#[test]
fn errors_point_into_the_common_file() {
    let common = COMMON
        .replace("  epochs = 5\n", "  epochs = 5\n  epoch = 6\n")
        .replace(
            "  standardize = [a, b]\n",
            "  standardize = [a, b]\n  split = random()\n",
        );
    let main = format!("import \"common.fuse\".{{views}}\n\n{MODEL}\ntrain views {{\n  epochs = 2\n  epochs = 3\n}}\n");
    insta::assert_snapshot!(program(&[("main.fuse", &main), ("common.fuse", &common)]));
}

#[test]
fn files_importing_each_others_sections_are_a_cycle() {
    let a = format!(
        "import \"b.fuse\".{{data views}}\n\n{MODEL}\ntrain extra {{\n  minimize task\n}}\n"
    );
    let b = format!("import \"a.fuse\".{{extra}}\n\n{COMMON}");
    insta::assert_snapshot!(program(&[("a.fuse", &a), ("b.fuse", &b)]));
}

/// A file without a model (a library of sections) has no plan to run, but its keys are checked.
#[test]
fn a_library_of_sections_lowers_without_a_model() {
    let out = program(&[("common.fuse", COMMON)]);
    assert!(out.starts_with("data views"), "{out}");
    assert!(!out.contains("\ntrain "), "{out}");
    let bad = COMMON.replace("  epochs = 5\n", "  epoch = 5\n");
    let out = program(&[("common.fuse", &bad)]);
    assert!(out.contains("fusec::train::unknown_key"), "{out}");
    assert!(out.contains("did you mean `epochs`?"), "{out}");
}

#[test]
fn as_names_nodes_instances_and_shared_instances() {
    insta::assert_snapshot!(check(
        r#"import std.encoders.Mlp
block Gate(x: f32[B, D]) -> f32[B, D] {
  return sigmoid(linear(x, D) as proj)
}
model M {
  input x: f32[B, 4]
  h = x
  for i in 0..2 {
    h = relu(linear(h, 4) as layer)
  }
  z = Mlp(h, sizes = [3]) as enc
  g = Gate(z) as gate
  d = shared linear(out = 2) as disc
  s = d(z) + d(g) as both
  output y = s |> tanh as out
}
"#
    ));
}

#[test]
fn as_on_an_expression_without_a_node_is_an_error() {
    insta::assert_snapshot!(check(
        "model M {\n  input x: f32[B, 4]\n  y = x as renamed\n  output o = relu(y)\n}\n"
    ));
}

/// Sections come in through the same confined imports as blocks: a common file outside the compiled file's
/// folder tree is refused (docs/RELIABILITY.md), and `fusec check` on the examples' common files passes.
#[test]
fn section_imports_stay_inside_the_project() {
    let dir = super::support::temp_dir("sections", "confined");
    std::fs::create_dir_all(dir.join("proj")).unwrap();
    std::fs::write(dir.join("common.fuse"), COMMON).unwrap();
    let main = dir.join("proj/main.fuse");
    std::fs::write(
        &main,
        format!("import \"../common.fuse\".{{views}}\n\n{MODEL}"),
    )
    .unwrap();
    let (code, _, err) = super::support::fusec(&["check", main.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("fusec::import::outside"), "{err}");
    let (code, out, err) = super::support::fusec(&[
        "check",
        "examples/mfeat/common.fuse",
        "examples/mfeat/ganfusion.fuse",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok examples/mfeat/ganfusion.fuse"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_empty_import_list_says_what_it_takes() {
    insta::assert_snapshot!(parse_dump("import \"common.fuse\".{}\n"));
}
