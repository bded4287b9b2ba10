//! A run directory is a unit, through the binary: one run holds it at a time (and a killed run's lock never
//! blocks), a finished run is not overwritten by accident, predict on an interrupted run standardizes exactly as
//! eval does, damaged or foreign checkpoints are refused naming the file, and a resumed run is the recorded run
//! (no FILE needed; flags and edits that would change it refused) and ends bit-identical to the uninterrupted one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::support::{fusec, temp_dir};

const FILE: &str = "examples/mfeat/concat.fuse";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `report.json` without what differs between two identical runs (the time they took, where they were).
fn report(dir: &Path) -> serde_json::Value {
    let mut r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let o = r.as_object_mut().unwrap();
    o.remove("train_seconds");
    o.remove("run_dir");
    r
}

/// The codes of the JSON diagnostics on stdout.
fn codes(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["code"].as_str().map(str::to_string))
        .collect()
}

fn bytes(p: PathBuf) -> Vec<u8> {
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Waits (up to a minute) until `path` exists: the test waits for the run to reach a state, it does not time it.
fn wait_for(path: &Path) {
    for _ in 0..600 {
        if path.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{} never appeared", path.display());
}

#[test]
fn a_run_directory_is_locked_while_a_run_holds_it_and_a_killed_runs_lock_does_not_block() {
    let dir = temp_dir("rundir", "lock").join("run");
    let mut first = Command::new(env!("CARGO_BIN_EXE_fusec"))
        .args(["run", FILE, "--epochs", "500", "--out", s(&dir), "-q"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RAYON_NUM_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&dir.join("config.json"));
    let (code, _, err) = fusec(&["run", FILE, "--out", s(&dir), "--overwrite", "-q"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("in use by another run"), "{err}");
    let (code, _, err) = fusec(&["run", "--resume", s(&dir), "-q"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("in use by another run"), "{err}");
    // kill -9: the lock file stays, the lock does not.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(dir.join("run.lock").exists());
    let (code, out, err) = fusec(&["run", "--resume", s(&dir), "--stop-after", "1", "-q"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("stopped after 1 epoch"), "{out}");
}

#[test]
fn a_run_directory_that_holds_a_run_is_not_overwritten_by_accident() {
    let dir = temp_dir("rundir", "overwrite").join("run");
    let (code, _, err) = fusec(&["run", FILE, "--epochs", "1", "--out", s(&dir), "-q"]);
    assert_eq!(code, 0, "{err}");
    let before = bytes(dir.join("report.json"));
    let (code, _, err) = fusec(&[
        "run",
        FILE,
        "--epochs",
        "1",
        "--seed",
        "5",
        "--out",
        s(&dir),
        "-q",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already holds a run"), "{err}");
    assert_eq!(
        before,
        bytes(dir.join("report.json")),
        "the finished run is intact"
    );
    let (code, _, err) = fusec(&[
        "run",
        FILE,
        "--epochs",
        "1",
        "--seed",
        "5",
        "--out",
        s(&dir),
        "--overwrite",
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(report(&dir)["seed"], 5);
}

/// The mfeat views concat.fuse reads, and the labels, of every example.
fn mfeat_inputs(dir: &Path) -> (PathBuf, Vec<i64>) {
    let read = |name: &str, cols: usize| -> Vec<Vec<f32>> {
        std::fs::read_to_string(Path::new("data/mfeat").join(name))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                l.split(',')
                    .take(cols)
                    .map(|c| c.parse().unwrap())
                    .collect()
            })
            .collect()
    };
    let fou = read("mfeat-fou.csv", 77);
    let labels = fou.iter().map(|r| r[76] as i64).collect();
    let dev = candle_core::Device::Cpu;
    let tensor = |rows: Vec<Vec<f32>>, w: usize| {
        let n = rows.len();
        let flat: Vec<f32> = rows
            .into_iter()
            .flat_map(|r| r.into_iter().take(w))
            .collect();
        candle_core::Tensor::from_vec(flat, (n, w), &dev).unwrap()
    };
    let map: std::collections::HashMap<String, candle_core::Tensor> = [
        ("fou".to_string(), tensor(fou, 76)),
        ("zer".to_string(), tensor(read("mfeat-zer.csv", 47), 47)),
        ("mor".to_string(), tensor(read("mfeat-mor.csv", 6), 6)),
    ]
    .into();
    let path = dir.join("all.safetensors");
    candle_core::safetensors::save(&map, &path).unwrap();
    (path, labels)
}

#[test]
fn predict_on_an_interrupted_run_standardizes_as_eval_does() {
    let tmp = temp_dir("rundir", "interrupted");
    let dir = tmp.join("run");
    let (code, _, err) = fusec(&[
        "run",
        FILE,
        "--epochs",
        "5",
        "--stop-after",
        "1",
        "--out",
        s(&dir),
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!dir.join("report.json").exists(), "interrupted");
    assert!(dir.join("standardization.safetensors").exists());
    let (input, labels) = mfeat_inputs(&tmp);
    let output = tmp.join("pred.csv");
    let (code, _, err) = fusec(&[
        "predict",
        FILE,
        "--checkpoint",
        s(&dir),
        "--input",
        s(&input),
        "--output",
        s(&output),
    ]);
    assert_eq!(code, 0, "{err}");
    let predicted: Vec<i64> = std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse::<f64>().unwrap() as i64)
        .collect();
    let correct = predicted
        .iter()
        .zip(&labels)
        .filter(|(p, l)| p == l)
        .count();
    // eval of the same checkpoint on each split: together, every example once.
    let mut eval_correct = 0.0;
    for (split, n) in [("train", 1200.0), ("valid", 400.0), ("test", 400.0)] {
        let (code, out, err) = fusec(&[
            "--message-format",
            "json",
            "eval",
            FILE,
            "--checkpoint",
            s(&dir),
            "--split",
            split,
        ]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        eval_correct += v["metrics"]["accuracy"].as_f64().unwrap() * n;
    }
    assert_eq!(
        correct as f64,
        eval_correct.round(),
        "predict and eval agree example by example"
    );
    assert!(
        correct > 1000,
        "standardized inputs: {correct} of 2000 right"
    );
    // Without the standardization it recorded, the run cannot predict (never a silent fallback).
    std::fs::remove_file(dir.join("standardization.safetensors")).unwrap();
    let (code, _, err) = fusec(&[
        "predict",
        FILE,
        "--checkpoint",
        s(&dir),
        "--input",
        s(&input),
        "--output",
        s(&output),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("standardization.safetensors"), "{err}");
}

/// Rewrites `dir`'s manifest for its current files, as someone who edits a checkpoint carefully would.
fn reseal(dir: &Path) {
    let path = dir.join("manifest.json");
    let mut m: fusec::run::manifest::Manifest =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (name, entry) in m.files.iter_mut() {
        let b = bytes(dir.join(name));
        entry.bytes = b.len() as u64;
        entry.sha256 = fusec::run::manifest::sha256_hex(&b);
    }
    std::fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn damaged_edited_and_foreign_checkpoints_are_refused_naming_the_file() {
    let tmp = temp_dir("rundir", "corrupt");
    let good = tmp.join("good");
    let (code, _, err) = fusec(&["run", FILE, "--epochs", "1", "--out", s(&good), "-q"]);
    assert_eq!(code, 0, "{err}");
    let eval = |dir: &Path, extra: &[&str]| {
        let mut args = vec!["eval", FILE, "--checkpoint", s(dir)];
        args.extend(extra);
        fusec(&args)
    };
    assert_eq!(eval(&good, &[]).0, 0);
    let case = |name: &str, damage: &dyn Fn(&Path), expect: &[&str]| {
        let dir = tmp.join(name);
        copy_dir(&good, &dir);
        damage(&dir.join("checkpoints/best"));
        let (code, _, err) = eval(&dir, &[]);
        assert_eq!(code, 1, "{name}: {err}");
        for e in expect {
            assert!(err.contains(e), "{name}: `{e}` not in {err}");
        }
    };
    let weights = |d: &Path| d.join("model.safetensors");
    case(
        "flipped",
        &|d| {
            let mut b = bytes(weights(d));
            let at = b.len() - 5;
            b[at] ^= 0x40;
            std::fs::write(weights(d), b).unwrap();
        },
        &["model.safetensors", "checksum"],
    );
    case(
        "dtype",
        &|d| {
            let text = bytes(weights(d));
            let edited = String::from_utf8_lossy(&text).replacen("\"F32\"", "\"F16\"", 1);
            std::fs::write(weights(d), edited.as_bytes()).unwrap();
            reseal(d);
        },
        &["model.safetensors"],
    );
    case(
        "nan",
        &|d| {
            let dev = candle_core::Device::Cpu;
            let mut map = candle_core::safetensors::load(weights(d), &dev).unwrap();
            let (name, t) = map
                .iter()
                .next()
                .map(|(k, v)| (k.clone(), v.clone()))
                .unwrap();
            let nan = (t.ones_like().unwrap() * f64::NAN).unwrap();
            map.insert(name, nan);
            candle_core::safetensors::save(&map, weights(d)).unwrap();
            reseal(d);
        },
        &["model.safetensors", "NaN"],
    );
    case(
        "no manifest",
        &|d| std::fs::remove_file(d.join("manifest.json")).unwrap(),
        &["has no `checkpoints/best`"],
    );
    // The same shapes with another activation: a different model, whose checkpoints these are not.
    let (code, _, err) = eval(&good, &["--set", "zf.act=\"tanh\""]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("different model"), "{err}");
    // A file that is not the one the run was trained from.
    let edited = tmp.join("edited.fuse");
    let text = std::fs::read_to_string(FILE)
        .unwrap()
        .replace("hidden = [128]", "hidden = [64]");
    std::fs::write(&edited, text).unwrap();
    let (code, out, _) = fusec(&[
        "--message-format",
        "json",
        "eval",
        s(&edited),
        "--checkpoint",
        s(&good),
    ]);
    assert_eq!(code, 1);
    assert!(
        codes(&out).contains(&"fusec::run::source".to_string()),
        "{out}"
    );
}

#[test]
fn a_resumed_run_is_the_recorded_run_and_ends_bit_identical() {
    let tmp = temp_dir("rundir", "resume");
    let (full, cut) = (tmp.join("full"), tmp.join("cut"));
    let flags = [
        "--seed",
        "3",
        "--set",
        "optimizer.main.lr=0.002",
        "--epochs",
        "3",
        "-q",
    ];
    let run = |dir: &Path, extra: &[&str]| {
        let mut args = vec!["run", FILE, "--out", s(dir)];
        args.extend(flags);
        args.extend(extra);
        fusec(&args)
    };
    assert_eq!(run(&full, &[]).0, 0);
    let (code, _, err) = run(&cut, &["--stop-after", "1"]);
    assert_eq!(code, 0, "{err}");
    // Flags and files that would change the run are refused.
    let (code, out, _) = fusec(&[
        "--message-format",
        "json",
        "run",
        FILE,
        "--resume",
        s(&cut),
        "--seed",
        "4",
    ]);
    assert_eq!(code, 1);
    assert!(
        codes(&out).contains(&"fusec::run::resume".to_string()),
        "{out}"
    );
    assert!(out.contains("seed=4"), "{out}");
    let edited = tmp.join("edited.fuse");
    std::fs::write(
        &edited,
        std::fs::read_to_string(FILE).unwrap() + "\n// edited\n",
    )
    .unwrap();
    let (code, _, err) = fusec(&["run", s(&edited), "--resume", s(&cut), "-q"]);
    assert_eq!(code, 1);
    assert!(err.contains("edited since"), "{err}");
    // Given again, the same flags are no change; given nothing, the run uses its own.
    let (code, _, err) = fusec(&[
        "run",
        FILE,
        "--resume",
        s(&cut),
        "--seed",
        "3",
        "--stop-after",
        "1",
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = fusec(&["run", "--resume", s(&cut), "-q"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(report(&full), report(&cut));
    for f in [
        "checkpoints/best/model.safetensors",
        "checkpoints/last/model.safetensors",
        "checkpoints/last/optimizer.safetensors",
        "metrics.csv",
    ] {
        assert!(bytes(full.join(f)) == bytes(cut.join(f)), "{f} differs");
    }
}

#[test]
fn default_run_directories_never_collide() {
    let parent = temp_dir("rundir", "names");
    let a = fusec::run::run_dir::unique_dir(&parent, "M-100").unwrap();
    let b = fusec::run::run_dir::unique_dir(&parent, "M-100").unwrap();
    assert_ne!(a, b);
    assert!(a.is_dir() && b.is_dir());
    assert_eq!(b.file_name().unwrap(), "M-100-2");
}
