//! The hostile corpus (`tests/hostile/*.fuse`, one file per class of hostile input) through the binary: each
//! file starts with `// expect: CODE` and optionally `// command: WORDS` (default `check`); the command must exit
//! with 1 and report CODE. Inputs too large to keep in the repository (huge sources, 200,000 errors, a call with
//! 100,000 arguments, FIFOs, symbolic links, closed pipes) are generated here.

use std::path::Path;
use std::process::{Command, Stdio};

use super::support::temp_dir;

fn fusec(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fusec"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The codes of the JSON diagnostics on stdout.
fn codes(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["code"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn every_hostile_input_ends_in_exit_one_with_its_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "fuse"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "the corpus has {} files", files.len());
    let mut failures = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut header = text.split(['\n', '\r']);
        let expect = header
            .next()
            .and_then(|l| l.strip_prefix("// expect: "))
            .unwrap_or_else(|| panic!("{}: no `// expect:` line", path.display()))
            .trim()
            .to_string();
        let command = header
            .next()
            .and_then(|l| l.strip_prefix("// command: "))
            .unwrap_or("check");
        let rel = format!(
            "tests/hostile/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        let mut args = vec!["--message-format", "json"];
        args.extend(command.split_whitespace());
        args.push(&rel);
        let (code, stdout, stderr) = fusec(&args);
        let got = codes(&stdout);
        if code != 1 || !got.contains(&expect) {
            failures.push(format!(
                "{rel}: exit {code}, codes {got:?}, expected {expect}\n{stderr}"
            ));
        }
        if stdout.contains("do-not-echo") || stderr.contains("do-not-echo") {
            failures.push(format!("{rel}: echoed the contents of a refused file"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `tests/hostile/work_repeated_errors.fuse` repeats three errors at the same places from thousands of inlined
/// calls: each is reported once.
#[test]
fn errors_repeated_across_inlined_calls_are_reported_once() {
    let (code, stdout, _) = fusec(&[
        "--message-format",
        "json",
        "check",
        "tests/hostile/work_repeated_errors.fuse",
    ]);
    assert_eq!(code, 1);
    let mut got = codes(&stdout);
    got.sort();
    assert_eq!(
        got,
        [
            "fusec::block::recursion",
            "fusec::limit::work",
            "fusec::name::not_value"
        ],
        "{stdout}"
    );
}

#[test]
fn a_source_larger_than_the_limit_is_refused_before_parsing() {
    let dir = temp_dir("hostile", "large");
    let file = dir.join("large.fuse");
    let line = "// padding padding padding padding padding padding padding padding padding\n";
    std::fs::write(&file, line.repeat((4 << 20) / line.len())).unwrap();
    let (code, stdout, _) = fusec(&["--message-format", "json", "check", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        codes(&stdout).contains(&"fusec::limit::source".to_string()),
        "{stdout}"
    );
}

#[test]
fn two_hundred_thousand_errors_print_the_first_twenty_and_a_count() {
    let dir = temp_dir("hostile", "errors");
    let file = dir.join("errors.fuse");
    let mut src = String::from("model M {\n  input x: f32[B, 4]\n");
    for _ in 0..200_000 {
        src.push_str("  a = q\n");
    }
    src.push_str("}\n");
    std::fs::write(&file, src).unwrap();
    let (code, _, stderr) = fusec(&["check", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr.matches("fusec::name::unknown").count(),
        20,
        "the first twenty"
    );
    assert!(
        stderr.contains("… and 199,980 more errors"),
        "{}",
        stderr.lines().rev().take(8).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn a_call_with_100000_arguments_renders_a_short_diagnostic() {
    let dir = temp_dir("hostile", "args");
    let file = dir.join("args.fuse");
    let args = vec!["x"; 100_000].join(", ");
    std::fs::write(
        &file,
        format!("model M {{\n  input x: f32[B, 4]\n  output y = linear({args})\n}}\n"),
    )
    .unwrap();
    let (code, _, stderr) = fusec(&["check", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stderr.len() < 20_000,
        "{} bytes of diagnostics",
        stderr.len()
    );
}

#[cfg(unix)]
#[test]
fn imports_of_fifos_and_links_out_of_the_project_are_refused_without_reading() {
    let dir = temp_dir("hostile", "fifo");
    let project = dir.join("project");
    std::fs::create_dir_all(&project).unwrap();
    let fifo = project.join("pipe.fuse");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let outside = dir.join("outside.fuse");
    std::fs::write(&outside, "block Secret(x: f32[B, 4]) { return x }\n").unwrap();
    std::os::unix::fs::symlink(&outside, project.join("link.fuse")).unwrap();
    let main = project.join("main.fuse");
    let model = "model M {\n  input x: f32[B, 4]\n  output y = linear(x, 2)\n}\n";
    std::fs::write(&main, format!("import \"pipe.fuse\".{{A}}\n{model}")).unwrap();
    let (code, stdout, _) = fusec(&["--message-format", "json", "check", main.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        codes(&stdout).contains(&"fusec::import::not_file".to_string()),
        "{stdout}"
    );
    std::fs::write(&main, format!("import \"link.fuse\".{{Secret}}\n{model}")).unwrap();
    let (code, stdout, _) = fusec(&["--message-format", "json", "check", main.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        codes(&stdout).contains(&"fusec::import::outside".to_string()),
        "{stdout}"
    );
    // An explicitly allowed folder may be imported from.
    let allow = dir.to_str().unwrap();
    let (code, _, stderr) = fusec(&["--allow-import", allow, "check", main.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fusec"))
        .args(["summary", "examples/tour/stdlib_blocks.fuse"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(2));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A named tensor for a predict input: name, shape, values.
type Named = (&'static str, Vec<usize>, Vec<f32>);

/// Writes `tensors` as a safetensors file.
fn safetensors(path: &Path, tensors: &[Named]) {
    let dev = candle_core::Device::Cpu;
    let map: std::collections::HashMap<String, candle_core::Tensor> = tensors
        .iter()
        .map(|(n, shape, v)| {
            (
                n.to_string(),
                candle_core::Tensor::from_vec(v.clone(), shape.clone(), &dev).unwrap(),
            )
        })
        .collect();
    candle_core::safetensors::save(&map, path).unwrap();
}

#[test]
fn predict_and_resume_refuse_inputs_and_state_that_do_not_fit() {
    let dir = temp_dir("hostile", "predict");
    let run = dir.join("run");
    let rd = run.to_str().unwrap();
    let file = "examples/mfeat/concat.fuse";
    let (code, _, stderr) = fusec(&["run", file, "--epochs", "1", "--out", rd, "-q"]);
    assert_eq!(code, 0, "{stderr}");
    let ok = |n: usize| {
        vec![
            ("fou", vec![n, 76], vec![0.5; n * 76]),
            ("zer", vec![n, 47], vec![0.5; n * 47]),
            ("mor", vec![n, 6], vec![0.5; n * 6]),
        ]
    };
    let cases: Vec<(&str, Vec<Named>, &str)> = vec![
        ("fits", ok(3), ""),
        (
            "narrow",
            {
                let mut t = ok(3);
                t[0] = ("fou", vec![3, 75], vec![0.5; 225]);
                t
            },
            "75 values on axis 1",
        ),
        (
            "rank",
            {
                let mut t = ok(3);
                t[1] = ("zer", vec![3, 47, 1], vec![0.5; 141]);
                t
            },
            "rank 3",
        ),
        (
            "rows",
            {
                let mut t = ok(3);
                t[2] = ("mor", vec![4, 6], vec![0.5; 24]);
                t
            },
            "inputs must agree on `B`",
        ),
        ("empty", ok(0), "holds no examples"),
        (
            "nan",
            {
                let mut t = ok(3);
                t[0].2[80] = f32::NAN;
                t
            },
            "NaN or infinite value(s), the first in example 1",
        ),
        ("missing", ok(3)[..2].to_vec(), "has no tensor named `mor`"),
    ];
    for (name, tensors, expect) in cases {
        let input = dir.join(format!("{name}.safetensors"));
        safetensors(&input, &tensors);
        let output = dir.join(format!("{name}.csv"));
        let (code, stdout, stderr) = fusec(&[
            "--message-format",
            "json",
            "predict",
            file,
            "--checkpoint",
            rd,
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ]);
        if expect.is_empty() {
            assert_eq!(code, 0, "{name}: {stderr}");
        } else {
            assert_eq!(code, 1, "{name}: {stderr}");
            assert!(stdout.contains(expect), "{name}: {stdout}");
        }
    }
    // A truncated optimizer state is a damaged checkpoint, named, not an internal error.
    let opt = run.join("checkpoints/last/optimizer.safetensors");
    let bytes = std::fs::read(&opt).unwrap();
    std::fs::write(&opt, &bytes[..bytes.len() / 2]).unwrap();
    let (code, _, stderr) = fusec(&["run", "--resume", rd, "-q"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("optimizer.safetensors"), "{stderr}");
}
