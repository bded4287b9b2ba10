//! `fusec bench --crash FILE`: crash consistency through the command line. A reference run of FILE (with a seed
//! and the given `--set`s) is timed; then, again and again, the same run is started in a fresh directory, killed
//! with SIGKILL at a random moment of its expected duration, and resumed (`fusec run --resume DIR`, or with FILE
//! and the flags when it died before recording itself) to the end. Each resumed run must equal the reference
//! bit for bit: its report (but the time it took), its metrics, and the weights and optimizer state of its
//! best and last checkpoints. docs/RELIABILITY.md has the result.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::rng::SeededRng;

/// What to run and how often to kill it.
#[derive(Clone, Debug)]
pub struct CrashOptions {
    pub file: String,
    /// The run's seed (`--seed`).
    pub run_seed: u64,
    /// The run's `--set`s.
    pub sets: Vec<(String, String)>,
    pub kills: usize,
    /// Seed of the kill moments.
    pub seed: u64,
    /// Where the runs go (removed at the end unless `keep`).
    pub dir: PathBuf,
    pub keep: bool,
}

/// One kill and its resumption.
#[derive(Clone, Debug)]
pub struct Trial {
    /// Seconds after the start of the run.
    pub kill_at: f64,
    /// How far the run had come when it was killed, and the epochs it had finished.
    pub phase: String,
    pub epochs_done: usize,
    /// What differed from the reference (empty when bit-identical).
    pub differences: Vec<String>,
}

pub struct CrashReport {
    pub command: String,
    pub reference_seconds: f64,
    pub trials: Vec<Trial>,
}

/// The files that must be identical, and how (JSON reports compared without their timing fields).
const COMPARED: &[&str] = &[
    "report.json",
    "metrics.csv",
    "metrics.jsonl",
    "checkpoints/best/model.safetensors",
    "checkpoints/best/optimizer.safetensors",
    "checkpoints/last/model.safetensors",
    "checkpoints/last/optimizer.safetensors",
];

pub fn crash_consistency(opts: &CrashOptions) -> Result<CrashReport, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&opts.dir);
    std::fs::create_dir_all(&opts.dir).map_err(|e| format!("{}: {e}", opts.dir.display()))?;
    let mut flags = vec!["--seed".to_string(), opts.run_seed.to_string()];
    for (k, v) in &opts.sets {
        flags.extend(["--set".to_string(), format!("{k}={v}")]);
    }
    let run_args = |out: &Path| -> Vec<String> {
        let mut a = vec!["run".to_string(), opts.file.clone()];
        a.extend(flags.iter().cloned());
        a.extend(["--out".into(), out.display().to_string(), "-q".into()]);
        a
    };
    let reference = opts.dir.join("reference");
    let started = Instant::now();
    let status = quiet(Command::new(&exe).args(run_args(&reference)))
        .status()
        .map_err(|e| e.to_string())?;
    let reference_seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!(
            "the reference run failed ({status}); check `fusec run {}`",
            opts.file
        ));
    }
    let mut rng = SeededRng::new(opts.seed);
    let mut trials = Vec::new();
    for i in 0..opts.kills {
        let dir = opts.dir.join(format!("kill-{i}"));
        // A quarter of the kills fall in the first tenth of the run (start-up, the record, the first checkpoints),
        // the rest anywhere in it.
        let end = if i % 4 == 0 { 0.1 } else { 0.95 };
        let kill_at = rng.uniform(0.0, reference_seconds * end);
        let mut child = quiet(Command::new(&exe).args(run_args(&dir)))
            .spawn()
            .map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_secs_f64(kill_at));
        // SIGKILL on Unix: no handler, no flush, no cleanup.
        let _ = child.kill();
        let _ = child.wait();
        let (phase, epochs_done) = phase(&dir);
        let mut resume: Vec<String> = vec!["run".into()];
        if dir.join("config.json").exists() {
            resume.extend(["--resume".into(), dir.display().to_string(), "-q".into()]);
        } else {
            resume = run_args(&dir);
            let at = resume.iter().position(|a| a == "--out").unwrap_or(0);
            resume[at] = "--resume".into();
        }
        let status = quiet(Command::new(&exe).args(&resume))
            .status()
            .map_err(|e| e.to_string())?;
        let differences = if status.success() {
            compare(&reference, &dir)
        } else {
            vec![format!("the resumed run failed ({status})")]
        };
        trials.push(Trial {
            kill_at,
            phase,
            epochs_done,
            differences,
        });
    }
    if !opts.keep {
        let _ = std::fs::remove_dir_all(&opts.dir);
    }
    let mut command = format!("fusec run {} --seed {}", opts.file, opts.run_seed);
    for (k, v) in &opts.sets {
        command.push_str(&format!(" --set {k}={v}"));
    }
    Ok(CrashReport {
        command,
        reference_seconds,
        trials,
    })
}

fn quiet(cmd: &mut Command) -> &mut Command {
    cmd.stdout(Stdio::null()).stderr(Stdio::null())
}

/// How far a killed run had come, from what its directory holds: a phase and the epochs it had finished.
fn phase(dir: &Path) -> (String, usize) {
    let epochs = std::fs::read_to_string(dir.join("metrics.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0);
    let phase = if dir.join("report.json").exists() {
        "after it had finished (the kill came too late)"
    } else if !dir.join("config.json").exists() {
        "before it recorded itself (resumed with FILE and the flags)"
    } else if epochs == 0 {
        "before its first checkpoint"
    } else {
        "during training"
    };
    (phase.to_string(), epochs)
}

/// The files of [`COMPARED`] that differ between two run directories.
fn compare(reference: &Path, dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for f in COMPARED {
        let (a, b) = (std::fs::read(reference.join(f)), std::fs::read(dir.join(f)));
        let same = match (a, b) {
            (Ok(a), Ok(b)) if f.ends_with(".json") => without_timing(&a) == without_timing(&b),
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            _ => false,
        };
        if !same {
            out.push(f.to_string());
        }
    }
    out
}

/// A JSON report without the fields that differ between identical runs: the seconds it took, where it ran.
fn without_timing(bytes: &[u8]) -> Option<serde_json::Value> {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if let Some(o) = v.as_object_mut() {
        o.remove("train_seconds");
        o.remove("run_dir");
    }
    Some(v)
}

/// The report's text: one line per phase reached, and the verdict.
pub fn format_crash(r: &CrashReport) -> String {
    let identical = r.trials.iter().filter(|t| t.differences.is_empty()).count();
    let mut s = format!(
        "crash consistency: `{}`, killed with SIGKILL at {} random moments of its {:.1} s and resumed\n",
        r.command,
        r.trials.len(),
        r.reference_seconds
    );
    let mut phases: Vec<&str> = r.trials.iter().map(|t| t.phase.as_str()).collect();
    phases.sort();
    phases.dedup();
    for p in phases {
        let of: Vec<&Trial> = r.trials.iter().filter(|t| t.phase == p).collect();
        let lo = of.iter().map(|t| t.epochs_done).min().unwrap_or(0);
        let hi = of.iter().map(|t| t.epochs_done).max().unwrap_or(0);
        let epochs = if p == "during training" {
            format!(" (after epoch {lo} to {hi})")
        } else {
            String::new()
        };
        s.push_str(&format!("  killed {p}: {}{epochs}\n", of.len()));
    }
    for t in r.trials.iter().filter(|t| !t.differences.is_empty()) {
        s.push_str(&format!(
            "  DIFFERS after a kill at {:.2} s ({}): {}\n",
            t.kill_at,
            t.phase,
            t.differences.join(", ")
        ));
    }
    s.push_str(&format!(
        "{identical} of {} resumed runs bit-identical to the uninterrupted run (report, metrics, best and last \
         weights and optimizer state)\n",
        r.trials.len()
    ));
    s
}
