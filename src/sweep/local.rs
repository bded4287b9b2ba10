//! The local executor: up to `workers` trial processes at a time on this machine, each `fusec run` with its
//! output in `SWEEPDIR/logs/<trial>.log`, and one progress line per trial that starts or ends, counted over the
//! whole sweep (finished trials skipped at the start count as done).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{trial_args, trial_dir, Launch, Manifest, TrialFailure, TrialState};
use crate::api::Reporter;

/// Runs the trials `todo` (indices into the manifest's trials); returns those that failed. `done_before` is how
/// many trials of the sweep were already finished, for the progress count.
pub fn run_local(
    manifest: &Manifest,
    todo: &[usize],
    sweep_dir: &Path,
    launch: &Launch,
    workers: usize,
    done_before: usize,
    rep: &mut dyn Reporter,
) -> std::io::Result<Vec<TrialFailure>> {
    let total = manifest.trials.len();
    let logs = sweep_dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut queue = todo
        .iter()
        .copied()
        .collect::<std::collections::VecDeque<_>>();
    let mut running: Vec<(usize, Child, Instant)> = Vec::new();
    let (mut done, mut failures) = (done_before, Vec::new());
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < workers.max(1) {
            let Some(i) = queue.pop_front() else { break };
            let trial = &manifest.trials[i];
            let log_path = logs.join(format!("{}.log", trial.id));
            let verb = match TrialState::of(&trial_dir(sweep_dir, trial)) {
                TrialState::Interrupted => "resuming",
                _ => "starting",
            };
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)?;
            let mut command = Command::new(&launch.fusec);
            command
                .args(trial_args(manifest, trial, sweep_dir, launch))
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log);
            end_with_parent(&mut command);
            let child = command.spawn();
            match child {
                Ok(child) => {
                    rep.log(&format!(
                        "[{done}/{total} done, {} running] {verb} {}",
                        running.len() + 1,
                        trial.id
                    ));
                    running.push((i, child, Instant::now()));
                }
                Err(e) => {
                    done += 1;
                    failures.push(TrialFailure {
                        index: i,
                        reason: format!("cannot start {}: {e}", launch.fusec.display()),
                        log: log_path,
                    });
                }
            }
        }
        let mut k = 0;
        while k < running.len() {
            let Some(status) = running[k].1.try_wait()? else {
                k += 1;
                continue;
            };
            let (i, _, started) = running.swap_remove(k);
            let trial = &manifest.trials[i];
            done += 1;
            let secs = started.elapsed().as_secs_f64();
            if status.success()
                && TrialState::of(&trial_dir(sweep_dir, trial)) == TrialState::Finished
            {
                rep.log(&format!(
                    "[{done}/{total} done, {} running] finished {} in {secs:.1} s",
                    running.len(),
                    trial.id
                ));
            } else {
                let log = logs.join(format!("{}.log", trial.id));
                let reason = match status.code() {
                    Some(c) => format!("exit code {c}"),
                    None => "killed by a signal".into(),
                };
                rep.log(&format!(
                    "[{done}/{total} done, {} running] FAILED {} ({reason}); log: {}",
                    running.len(),
                    trial.id,
                    log.display()
                ));
                failures.push(TrialFailure {
                    index: i,
                    reason,
                    log,
                });
            }
        }
        if !running.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    failures.sort_by_key(|f| f.index);
    Ok(failures)
}

/// A trial dies with the sweep (Linux: `PR_SET_PDEATHSIG`), so a killed sweep leaves no orphan holding a trial's
/// lock, and running the sweep again resumes the trial from its checkpoint.
#[cfg(target_os = "linux")]
fn end_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl, which is
    // async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn end_with_parent(_: &mut Command) {}
