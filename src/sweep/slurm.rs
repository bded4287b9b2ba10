//! The Slurm executor: one job-array script per submission (`SWEEPDIR/slurm/array-<n>.sh`, one array task per
//! trial, the manifest's trial index as the task id), submitted with `sbatch --parsable`, then followed with
//! `squeue` until no task is left; a task that left the queue without its trial's `report.json` is a failure,
//! with the scheduler's state from `sacct` (or `scontrol` where accounting is off) and its log
//! (`SWEEPDIR/logs/slurm-<job>_<task>.log`). Trials are started with `fusec run --resume` like the local
//! executor's, so a preempted task that Slurm requeues continues from its checkpoint.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{trial_args, trial_dir, Launch, Manifest, TrialFailure, TrialState};
use crate::api::Reporter;

/// Per-trial resources of the array's tasks.
#[derive(Clone, Debug, Default)]
pub struct Resources {
    pub partition: Option<String>,
    pub cpus_per_trial: usize,
    /// `--mem` as Slurm reads it (`4G`).
    pub mem: Option<String>,
    /// `--time` as Slurm reads it (`02:00:00`).
    pub time: Option<String>,
    /// `--gres=gpu:1` (trials on CUDA).
    pub gpu: bool,
}

/// Quotes a word for bash.
fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The job-array script running the trials `indices`. `sweep_dir` and `launch.fusec` should be absolute: the
/// script runs on the cluster's nodes, in `cwd`.
pub fn script(
    manifest: &Manifest,
    indices: &[usize],
    sweep_dir: &Path,
    cwd: &Path,
    launch: &Launch,
    res: &Resources,
) -> String {
    let ids: Vec<String> = indices.iter().map(|i| i.to_string()).collect();
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!(
        "#SBATCH --job-name=fusec-sweep-{}\n",
        sweep_name(sweep_dir)
    ));
    s.push_str(&format!("#SBATCH --array={}\n", ids.join(",")));
    s.push_str(&format!("#SBATCH --chdir={}\n", cwd.display()));
    s.push_str(&format!(
        "#SBATCH --output={}/logs/slurm-%A_%a.log\n",
        sweep_dir.display()
    ));
    s.push_str("#SBATCH --ntasks=1\n");
    s.push_str(&format!(
        "#SBATCH --cpus-per-task={}\n",
        res.cpus_per_trial.max(1)
    ));
    if let Some(p) = &res.partition {
        s.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    if let Some(m) = &res.mem {
        s.push_str(&format!("#SBATCH --mem={m}\n"));
    }
    if let Some(t) = &res.time {
        s.push_str(&format!("#SBATCH --time={t}\n"));
    }
    if res.gpu {
        s.push_str("#SBATCH --gres=gpu:1\n");
    }
    // A preempted task goes back to the queue and resumes from its last checkpoint.
    s.push_str("#SBATCH --requeue\n\n");
    s.push_str("# Written by `fusec sweep`: one array task per trial (the task id is the trial's index in manifest.json).\n");
    s.push_str("set -u\ncase \"$SLURM_ARRAY_TASK_ID\" in\n");
    for &i in indices {
        let trial = &manifest.trials[i];
        let mut words = vec![quote(&launch.fusec.display().to_string())];
        words.extend(
            trial_args(manifest, trial, sweep_dir, launch)
                .iter()
                .map(|w| quote(w)),
        );
        s.push_str(&format!(
            "  {i}) # {}\n    exec {} ;;\n",
            trial.id,
            words.join(" ")
        ));
    }
    s.push_str("  *) echo \"no trial $SLURM_ARRAY_TASK_ID in this sweep\" >&2; exit 2 ;;\nesac\n");
    s
}

fn sweep_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "sweep".into())
}

/// Runs a Slurm client command; its stdout, or why it failed.
fn slurm(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program).args(args).output().map_err(|e| {
        format!("cannot run `{program}`: {e} (is Slurm's client installed and on PATH?)")
    })?;
    if !out.status.success() {
        return Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Writes the script for `indices` and submits it; returns the job id and the script's path.
pub fn submit(
    manifest: &Manifest,
    indices: &[usize],
    sweep_dir: &Path,
    cwd: &Path,
    launch: &Launch,
    res: &Resources,
) -> Result<(String, PathBuf), String> {
    let dir = sweep_dir.join("slurm");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::create_dir_all(sweep_dir.join("logs"))
        .map_err(|e| format!("{}: {e}", sweep_dir.display()))?;
    let n = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("array-"))
                .count()
        })
        .unwrap_or(0);
    let path = dir.join(format!("array-{}.sh", n + 1));
    std::fs::write(
        &path,
        script(manifest, indices, sweep_dir, cwd, launch, res),
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    let out = slurm("sbatch", &["--parsable", &path.display().to_string()])?;
    let job = out.trim().split(';').next().unwrap_or("").to_string();
    if job.is_empty() || !job.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("sbatch printed `{}`, not a job id", out.trim()));
    }
    Ok((job, path))
}

/// The array tasks of `job` still in the queue, with their states.
fn queued(job: &str) -> Result<Vec<(usize, String)>, String> {
    let out = slurm("squeue", &["-h", "-r", "-j", job, "-o", "%K|%T"])?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let (k, st) = l.trim().split_once('|')?;
            Some((k.parse().ok()?, st.to_string()))
        })
        .collect())
}

/// The final state of task `index` of `job`: sacct's, or scontrol's where accounting is off.
fn final_state(job: &str, index: usize) -> String {
    let id = format!("{job}_{index}");
    if let Ok(out) = slurm(
        "sacct",
        &["-n", "-P", "-X", "-j", &id, "-o", "State,ExitCode"],
    ) {
        if let Some(line) = out.lines().map(str::trim).find(|l| !l.is_empty()) {
            return line.replace('|', ", exit ");
        }
    }
    if let Ok(out) = slurm("scontrol", &["show", "job", &id]) {
        let field = |name: &str| {
            out.split_whitespace()
                .find_map(|w| w.strip_prefix(name).map(str::to_string))
        };
        if let Some(state) = field("JobState=") {
            return format!("{state}, exit {}", field("ExitCode=").unwrap_or_default());
        }
    }
    "unknown (left the queue; neither sacct nor scontrol knows it)".into()
}

/// Submitted jobs are appended to `SWEEPDIR/slurm/jobs.txt` (`JOB idx,idx,...`), so a sweep started again
/// while its earlier job array is still queued follows those tasks instead of submitting them twice.
pub fn record_job(sweep_dir: &Path, job: &str, indices: &[usize]) -> std::io::Result<()> {
    use std::io::Write;
    let ids: Vec<String> = indices.iter().map(|i| i.to_string()).collect();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(sweep_dir.join("slurm").join("jobs.txt"))?;
    writeln!(f, "{job} {}", ids.join(","))
}

/// The recorded jobs' tasks that are still in the queue, as (job, trial indices).
pub fn still_queued(sweep_dir: &Path) -> Result<Vec<(String, Vec<usize>)>, String> {
    let Ok(text) = std::fs::read_to_string(sweep_dir.join("slurm").join("jobs.txt")) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((job, _)) = line.split_once(' ') else {
            continue;
        };
        let tasks: Vec<usize> = queued(job)?.into_iter().map(|(k, _)| k).collect();
        if !tasks.is_empty() {
            out.push((job.to_string(), tasks));
        }
    }
    Ok(out)
}

/// Follows `jobs` (each with the trial indices its tasks run) until none of their tasks is queued; reports each
/// trial as it ends and returns those that ended without a report.
pub fn follow(
    manifest: &Manifest,
    jobs: &[(String, Vec<usize>)],
    sweep_dir: &Path,
    done_before: usize,
    poll: Duration,
    rep: &mut dyn Reporter,
) -> Result<Vec<TrialFailure>, String> {
    let total = manifest.trials.len();
    let mut open: Vec<(&str, usize)> = jobs
        .iter()
        .flat_map(|(j, ids)| ids.iter().map(move |i| (j.as_str(), *i)))
        .collect();
    let (mut done, mut failures) = (done_before, Vec::new());
    let mut last_line = String::new();
    while !open.is_empty() {
        let mut queue: Vec<(&str, usize, String)> = Vec::new();
        for (job, _) in jobs {
            queue.extend(
                queued(job)?
                    .into_iter()
                    .map(|(k, st)| (job.as_str(), k, st)),
            );
        }
        let mut still = Vec::new();
        for &(job, i) in &open {
            let trial = &manifest.trials[i];
            let finished = TrialState::of(&trial_dir(sweep_dir, trial)) == TrialState::Finished;
            let in_queue = queue.iter().any(|(j, k, _)| *j == job && *k == i);
            if finished && !in_queue {
                done += 1;
                rep.log(&format!(
                    "[{done}/{total} done] finished {} (job {job}_{i})",
                    trial.id
                ));
            } else if !in_queue {
                done += 1;
                let log = sweep_dir.join("logs").join(format!("slurm-{job}_{i}.log"));
                let reason = final_state(job, i);
                rep.log(&format!(
                    "[{done}/{total} done] FAILED {} ({reason}); log: {}",
                    trial.id,
                    log.display()
                ));
                failures.push(TrialFailure {
                    index: i,
                    reason,
                    log,
                });
            } else {
                still.push((job, i));
            }
        }
        open = still;
        let running = queue.iter().filter(|(_, _, s)| s == "RUNNING").count();
        let line = format!(
            "[{done}/{total} done] {running} running, {} queued",
            queue.len() - running
        );
        if !open.is_empty() && line != last_line {
            rep.log(&line);
            last_line = line;
        }
        if !open.is_empty() {
            std::thread::sleep(poll);
        }
    }
    failures.sort_by_key(|f| f.index);
    Ok(failures)
}
