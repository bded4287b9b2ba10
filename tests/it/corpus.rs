//! The invalid corpus: every `tests/invalid/*.fuse` starts with `// expect: fusec::code`; compiling it must
//! fail with that code, and the rendered diagnostics are snapshotted (one snapshot per file).

use fusec::diag::render;
use fusec::front::compile;

use super::check::RootLoader;

#[test]
fn every_invalid_program_fails_with_its_expected_code() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "fuse"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 40,
        "the corpus has only {} programs",
        files.len()
    );
    let mut failures = Vec::new();
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let Some(expect) = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// expect: "))
        else {
            failures.push(format!("{name}: first line is not `// expect: fusec::...`"));
            continue;
        };
        let rel = format!("tests/invalid/{name}.fuse");
        match compile(&RootLoader, &rel, &[], false) {
            Ok(_) => failures.push(format!("{name}: compiled, expected {expect}")),
            Err(f) => {
                let got: Vec<&str> = f
                    .diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| d.code)
                    .collect();
                if !got.contains(&expect.trim()) {
                    failures.push(format!("{name}: expected {expect}, got {got:?}"));
                }
                let rendered = render(&f.diagnostics, &f.sources, false);
                insta::with_settings!({ snapshot_suffix => name.clone(), prepend_module_to_snapshot => false }, {
                    insta::assert_snapshot!("invalid", rendered);
                });
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
