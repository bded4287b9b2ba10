//! `fusec sweep`: trial expansion and the manifest (snapshots), the flags' diagnostics, a local sweep on mfeat
//! (deterministic table, finished trials skipped, an interrupted trial resumed, a changed sweep refused, a
//! failed trial reported with its log), and — with `FUSEC_TEST_SLURM=1`, after `scripts/slurm-local.sh` — the
//! same sweep through a real Slurm, whose table must equal the local one.

use std::path::Path;

use fusec::sweep::spec::{parse_grid, parse_seeds, parse_space};
use fusec::sweep::{Manifest, SweepSpec};

use super::support::{fusec, temp_dir};

const FILES: [&str; 2] = ["examples/mfeat/concat.fuse", "examples/mfeat/lmf.fuse"];

/// `fusec sweep` over the two mfeat files, 2 seeds, 2 epochs, into `out`, with more flags.
fn sweep(out: &Path, more: &[&str]) -> (i32, String, String) {
    let out = out.to_str().unwrap();
    let mut args = vec![
        "sweep",
        FILES[0],
        FILES[1],
        "--grid",
        "latent=32,64",
        "--seeds",
        "1..2",
        "--set",
        "epochs=2",
        "--out",
        out,
    ];
    args.extend(more);
    fusec(&args)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn trials_expand_in_a_fixed_order_with_seeded_random_draws() {
    let spec = SweepSpec {
        files: vec![
            ("a/concat.fuse".into(), "model A {}\n".into()),
            ("b/concat.fuse".into(), "model B {}\n".into()),
        ],
        grid: vec![parse_grid("optimizer.main.lr=1e-3,3e-3").unwrap()],
        space: vec![
            parse_space("latent=16..128").unwrap(),
            parse_space("dropout=0.0..0.5").unwrap(),
            parse_space("optimizer.main.weight_decay=1e-6..1e-3log").unwrap(),
        ],
        random: 2,
        random_seed: 7,
        seeds: parse_seeds("1..2").unwrap(),
        fixed: vec![("epochs".into(), "3".into())],
    };
    let manifest = Manifest::expand(&spec);
    assert_eq!(manifest.trials.len(), 2 * 2 * 2 * 2);
    assert_eq!(
        Manifest::expand(&spec),
        manifest,
        "the same spec expands to the same trials"
    );
    insta::assert_snapshot!("sweep_manifest", manifest.to_json());
    assert!(manifest.differences(&manifest).is_empty());
    let mut other = spec.clone();
    other.files[1].1 = "model B2 {}\n".into();
    other.grid = vec![parse_grid("optimizer.main.lr=1e-3").unwrap()];
    insta::assert_snapshot!(
        "sweep_manifest_differences",
        Manifest::expand(&other).differences(&manifest).join("\n")
    );
}

#[test]
fn flags_parse_lists_ranges_and_scales() {
    assert_eq!(
        parse_grid("sizes=[64,32],[128, 64]").unwrap().values,
        ["[64,32]", "[128, 64]"]
    );
    assert_eq!(parse_seeds("3..5").unwrap(), [3, 4, 5]);
    assert_eq!(parse_seeds("7, 1").unwrap(), [7, 1]);
    let s = parse_space("lr=1e-4..1e-2log").unwrap();
    assert!(s.log && !s.integer && s.low == 1e-4 && s.high == 1e-2);
    assert!(parse_space("latent=16..128").unwrap().integer);
}

#[test]
fn malformed_flags_are_diagnostics_with_a_fix() {
    let out = temp_dir("sweep", "flags");
    let o = out.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["sweep", FILES[0], "--out", o, "--grid", "latent 32,64"],
        &[
            "sweep",
            FILES[0],
            "--out",
            o,
            "--grid",
            "latent=32,,64",
            "--seeds",
            "1-3",
        ],
        &["sweep", FILES[0], "--out", o, "--seeds", "5..1"],
        &["sweep", FILES[0], "--out", o, "--executor", "slrum"],
        &[
            "sweep",
            FILES[0],
            "--out",
            o,
            "--random",
            "4",
            "--space",
            "optimizer.main.lr=1e-4..1e-2logg",
        ],
        &["sweep", FILES[0], "--out", o, "--grid", "seed=1,2"],
        &["sweep", FILES[0], "--out", o, "--partition", "gpu"],
        &[
            "sweep",
            FILES[0],
            "--out",
            o,
            "--grid",
            "latnt=32,64",
            "--seeds",
            "1",
        ],
        &[
            "sweep", FILES[0], "--out", o, "--metric", "acuracy", "--seeds", "1",
        ],
        &[
            "sweep",
            FILES[0],
            "--out",
            o,
            "--workers",
            "512",
            "--seeds",
            "1",
        ],
        &[
            "sweep",
            FILES[0],
            "--out",
            o,
            "--grid",
            "latent=32",
            "--set",
            "latent=64",
            "--seeds",
            "1",
        ],
    ];
    let mut text = String::new();
    for args in cases {
        let (code, _, stderr) = fusec(args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        let shown: Vec<&str> = args[3..]
            .iter()
            .map(|a| if *a == o { "OUT" } else { a })
            .collect();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let stderr = stderr
            .replace(&format!("machine's {cores} cores"), "machine's N cores")
            .replace(&format!("`--workers {cores}`"), "`--workers N`");
        text.push_str(&format!(
            "$ fusec sweep {} {}\n{stderr}\n",
            FILES[0],
            shown.join(" ")
        ));
    }
    insta::assert_snapshot!("sweep_flag_diagnostics", text);
    assert!(
        !out.join("manifest.json").exists(),
        "nothing is written before the flags are right"
    );
}

#[test]
fn a_local_sweep_is_deterministic_resumable_and_refuses_another_sweep() {
    let dir = temp_dir("sweep", "local");
    let (a, b) = (dir.join("a"), dir.join("b"));
    let (code, stdout, stderr) = sweep(&a, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("0 finished (skipped), 0 interrupted (resumed), 8 new"),
        "{stderr}"
    );
    assert!(stderr.contains("[8/8 done"), "{stderr}");
    let table = read(&a.join("sweep.md"));
    assert!(stdout.starts_with(&table), "{stdout}");
    insta::assert_snapshot!("sweep_mfeat_table", table);
    for f in [
        "manifest.json",
        "sweep.csv",
        "trials.csv",
        "trials/concat-c0-s1/report.json",
        "logs/lmf-c0-s2.log",
    ] {
        assert!(a.join(f).exists(), "{f} is missing");
    }

    // Again: every trial is skipped, the table is the same.
    let (code, _, stderr) = sweep(&a, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("8 finished (skipped), 0 interrupted (resumed), 0 new"),
        "{stderr}"
    );
    assert_eq!(read(&a.join("sweep.md")), table);

    // A sweep of b whose first trial was interrupted after one of its two epochs resumes it and ends equal.
    std::fs::create_dir_all(&b).unwrap();
    std::fs::copy(a.join("manifest.json"), b.join("manifest.json")).unwrap();
    let trial = b.join("trials/concat-c0-s1");
    let t = trial.to_str().unwrap();
    let (code, _, stderr) = fusec(&[
        "run",
        FILES[0],
        "--set",
        "epochs=2",
        "--set",
        "latent=32",
        "--seed",
        "1",
        "--resume",
        t,
        "--stop-after",
        "1",
        "-q",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!trial.join("report.json").exists());
    let (code, _, stderr) = sweep(&b, &["--workers", "1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("0 finished (skipped), 1 interrupted (resumed), 7 new"),
        "{stderr}"
    );
    assert!(stderr.contains("resuming concat-c0-s1"), "{stderr}");
    assert!(read(&b.join("logs/concat-c0-s1.log")).contains("after epoch 1"));
    assert_eq!(
        read(&b.join("sweep.md")),
        table,
        "the resumed sweep's table"
    );
    assert!(read(&b.join("trials.csv")).contains("concat-c0-s1,concat,0,1,finished (resumed)"));
    let strip = |p: &Path| {
        read(p)
            .lines()
            .filter(|l| !l.contains("train_seconds"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let weights = |d: &Path| {
        std::fs::read(d.join("trials/concat-c0-s1/checkpoints/last/model.safetensors")).unwrap()
    };
    assert_eq!(
        weights(&a),
        weights(&b),
        "a resumed trial ends bit-identical"
    );
    assert_eq!(strip(&a.join("sweep.csv")), strip(&b.join("sweep.csv")));

    // Another grid into a, or an edited file: refused, naming what changed.
    let (code, _, stderr) = sweep(&a, &["--grid", "optimizer.main.lr=1e-3"]);
    assert_eq!(code, 1);
    let changed = "--grid: recorded `latent=32,64`, given `latent=32,64 optimizer.main.lr=1e-3`";
    assert!(
        stderr.contains("fusec::sweep::changed") && stderr.contains(changed),
        "{stderr}"
    );
    let edited = dir.join("concat.fuse");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = read(&root.join(FILES[0]));
    // The data set and plan come from common.fuse, which comes along with the data path made absolute.
    let common = read(&root.join("examples/mfeat/common.fuse")).replace(
        "../../data/mfeat",
        root.join("data/mfeat").to_str().unwrap(),
    );
    std::fs::write(dir.join("common.fuse"), &common).unwrap();
    std::fs::write(&edited, &text).unwrap();
    let c = dir.join("c");
    let args = |c: &Path| {
        [
            "sweep".to_string(),
            edited.display().to_string(),
            "--seeds".into(),
            "1".into(),
            "--set".into(),
            "epochs=1".into(),
            "--out".into(),
            c.display().to_string(),
        ]
    };
    let run = |c: &Path| {
        let a = args(c);
        fusec(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (code, _, stderr) = run(&c);
    assert_eq!(code, 0, "{stderr}");
    std::fs::write(
        &edited,
        text.replace("latent: int = 64", "latent: int = 65"),
    )
    .unwrap();
    let (code, _, stderr) = run(&c);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("fusec::sweep::changed")
            && stderr.contains("was edited since the sweep started"),
        "{stderr}"
    );
    // The imported data set and plan are part of the sweep too: an edited common.fuse is noticed.
    std::fs::write(&edited, &text).unwrap();
    std::fs::write(
        dir.join("common.fuse"),
        common.replace("epochs = 30", "epochs = 31"),
    )
    .unwrap();
    let (code, _, stderr) = run(&c);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("fusec::sweep::changed")
            && stderr.contains("common.fuse` (imported by `")
            && stderr.contains("was edited since the sweep started"),
        "{stderr}"
    );
}

#[test]
fn a_failed_trial_is_reported_with_its_log_and_the_rest_is_tabulated() {
    let dir = temp_dir("sweep", "failed");
    let out = dir.join("s");
    let o = out.to_str().unwrap();
    let (code, stdout, stderr) = fusec(&[
        "sweep",
        FILES[0],
        "--grid",
        "optimizer.main.lr=1e-3,1e30",
        "--seeds",
        "1",
        "--set",
        "epochs=1",
        "--out",
        o,
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("fusec::sweep::failed") && stderr.contains("1 of 2 trials did not finish"),
        "{stderr}"
    );
    assert!(stderr.contains("concat-c1-s1 (exit code 1)"), "{stderr}");
    assert!(stderr.contains("logs/concat-c1-s1.log"), "{stderr}");
    assert!(
        stdout.contains("| concat | optimizer.main.lr=1e-3 |") && stdout.contains("| 0/1 |"),
        "{stdout}"
    );
    assert!(read(&out.join("trials.csv")).contains("concat-c1-s1,concat,1,1,failed"));
}

/// What `scripts/slurm-local.sh` said when `.ci/run` started it (`target/slurm-local.log`), for the failure message.
fn setup_log() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/slurm-local.log");
    match std::fs::read_to_string(&path) {
        Ok(text) => format!("\n{}:\n{text}", path.display()),
        Err(_) => String::new(),
    }
}

/// The same sweep through `sbatch` on the single-node cluster of `scripts/slurm-local.sh` (`.ci/run` starts it
/// and sets `FUSEC_TEST_SLURM=1`): the collected table must equal the local executor's.
#[test]
fn a_slurm_sweep_gives_the_local_table() {
    if std::env::var("FUSEC_TEST_SLURM").is_err() {
        return;
    }
    let sinfo = std::process::Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output();
    match &sinfo {
        Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).lines().any(|l| matches!(l.trim(), "idle" | "mixed" | "allocated")) => {}
        Ok(o) => panic!(
            "FUSEC_TEST_SLURM is set but the cluster has no usable node (run scripts/slurm-local.sh): sinfo says {}{}{}",
            String::from_utf8_lossy(&o.stdout).trim(),
            String::from_utf8_lossy(&o.stderr).trim(),
            setup_log()
        ),
        Err(e) => panic!("FUSEC_TEST_SLURM is set but sinfo cannot run (run scripts/slurm-local.sh): {e}{}", setup_log()),
    }
    let dir = temp_dir("sweep", "slurm");
    let (local, slurm) = (dir.join("local"), dir.join("slurm"));
    let (code, _, stderr) = sweep(&local, &[]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = sweep(
        &slurm,
        &[
            "--executor",
            "slurm",
            "--poll",
            "0.5",
            "--mem",
            "1G",
            "--time",
            "00:10:00",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("submitted job array"), "{stderr}");
    let script = read(&slurm.join("slurm/array-1.sh"));
    assert!(
        script.contains("#SBATCH --array=0,1,2,3,4,5,6,7") && script.contains("#SBATCH --mem=1G"),
        "{script}"
    );
    assert_eq!(read(&slurm.join("sweep.md")), read(&local.join("sweep.md")));
    assert_eq!(
        read(&slurm.join("sweep.csv")),
        read(&local.join("sweep.csv"))
    );
}

/// Without Slurm's client the sweep stops with a diagnostic after writing the job-array script, which holds one
/// `fusec run --resume` per trial with the task's resources.
#[test]
fn the_job_array_script_and_a_missing_sbatch() {
    let dir = temp_dir("sweep", "script");
    let out = dir.join("s");
    let bin =
        std::env::var("FUSEC_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_fusec").to_string());
    let result = std::process::Command::new(&bin)
        .args([
            "sweep",
            FILES[0],
            "--grid",
            "latent=32,64",
            "--seeds",
            "1",
            "--set",
            "epochs=1",
            "--out",
        ])
        .arg(&out)
        .args([
            "--executor",
            "slurm",
            "--device",
            "cuda",
            "--partition",
            "gpu",
            "--mem",
            "4G",
            "--time",
            "01:00:00",
        ])
        .args(["--cpus-per-trial", "2"])
        .env("PATH", dir.join("no-slurm-here"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("fusec::sweep::slurm") && stderr.contains("cannot run `sbatch`"),
        "{stderr}"
    );
    let script = read(&out.join("slurm/array-1.sh"))
        .replace(out.to_str().unwrap(), "SWEEPDIR")
        .replace(&bin, "FUSEC")
        .replace(env!("CARGO_MANIFEST_DIR"), "REPO");
    insta::assert_snapshot!("sweep_slurm_script", script);
}

/// A sweep killed while a trial trains takes the trial down with it (no orphan keeps the trial's lock); running
/// it again resumes the trial from its last checkpoint, and it ends as an uninterrupted run of the same trial.
#[test]
fn a_killed_sweep_resumes_its_trial_from_the_checkpoint() {
    let dir = temp_dir("sweep", "killed");
    let out = dir.join("s");
    let bin =
        std::env::var("FUSEC_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_fusec").to_string());
    let args = [
        "sweep",
        FILES[0],
        "--seeds",
        "4",
        "--set",
        "epochs=40",
        "--workers",
        "1",
        "--out",
    ];
    let mut sweep = std::process::Command::new(&bin)
        .args(args)
        .arg(&out)
        .env("RAYON_NUM_THREADS", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let trial = out.join("trials/concat-c0-s4");
    let checkpoint = trial.join("checkpoints/last/manifest.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !checkpoint.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint after 120 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    sweep.kill().unwrap();
    sweep.wait().unwrap();
    // The trial dies with the sweep (its signal may land a moment after the sweep is reaped): its lock comes free.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while fusec::run::run_dir::RunLock::acquire(&trial).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the trial outlived the sweep by 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(
        !trial.join("report.json").exists(),
        "the trial finished after the sweep was killed"
    );
    let (code, _, stderr) = fusec(&[&args[..], &[out.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("1 interrupted (resumed)"), "{stderr}");
    assert!(read(&out.join("logs/concat-c0-s4.log")).contains("resuming"));
    let fresh = dir.join("fresh");
    let (code, _, stderr) = fusec(&[
        "run",
        FILES[0],
        "--set",
        "epochs=40",
        "--seed",
        "4",
        "--out",
        fresh.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let weights = |d: &Path| std::fs::read(d.join("checkpoints/last/model.safetensors")).unwrap();
    assert_eq!(
        weights(&trial),
        weights(&fresh),
        "the resumed trial ends bit-identical to an uninterrupted run"
    );
}
