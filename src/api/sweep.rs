//! `fusec sweep` as a library call ([`sweep`]): reads the files, expands the trials and compiles every
//! configuration once (so a misspelt grid key is a `fusec::set::unknown` diagnostic with its "did you mean"
//! before anything runs), records or verifies the sweep directory's manifest under its lock, runs the trials
//! that are not finished with the chosen executor, and collects the table.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{compile_file, Error, Reporter, Silent};
use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::run::run_dir::RunLock;
use crate::sweep::spec::{check_distinct_keys, GridAxis, SpaceAxis, FLAG_CODE, MAX_TRIALS};
use crate::sweep::table::{read_result, trials_csv, Metric, SweepTable, TrialResult};
use crate::sweep::{self, Launch, Manifest, SweepSpec, TrialFailure, TrialState};

/// Where the trials run.
#[derive(Clone, Debug)]
pub enum Executor {
    /// Worker processes on this machine (default: as many as the cores allow at `threads` each).
    Local { workers: Option<usize> },
    /// One job array on a Slurm cluster.
    Slurm {
        resources: sweep::slurm::Resources,
        /// Submit the trials that failed (or were preempted and not requeued) once more.
        resubmit_failed: bool,
        /// How often `squeue` is asked.
        poll: Duration,
    },
}

/// A sweep: its files and settings, where it goes, and how it runs.
#[derive(Clone, Debug)]
pub struct SweepRequest {
    pub files: Vec<PathBuf>,
    pub grid: Vec<GridAxis>,
    pub space: Vec<SpaceAxis>,
    pub random: usize,
    pub random_seed: u64,
    pub seeds: Vec<u64>,
    /// `--set`s every trial gets.
    pub fixed: Vec<(String, String)>,
    /// The sweep directory.
    pub out: PathBuf,
    /// The metric of the table (default: the first file's selection metric).
    pub metric: Option<String>,
    pub executor: Executor,
    pub launch: Launch,
    /// Cores of this machine (the local executor's limit of workers × threads).
    pub cores: usize,
}

/// What a sweep leaves.
pub struct SweepResult {
    pub manifest: Manifest,
    pub table: SweepTable,
    /// Trials that ended without a report in this invocation.
    pub failures: Vec<TrialFailure>,
    /// Trials found finished (skipped) and interrupted (resumed) at the start.
    pub skipped: usize,
    pub resumed: usize,
}

impl SweepResult {
    /// The failures as one diagnostic (`fusec::sweep::failed`), if any.
    pub fn failure_diagnostic(&self) -> Option<Diagnostic> {
        if self.failures.is_empty() {
            return None;
        }
        let mut d = Diagnostic::error(
            "fusec::sweep::failed",
            format!("{} of {} trials did not finish", self.failures.len(), self.manifest.trials.len()),
        )
        .help("read their logs; running the same `fusec sweep` again resumes them (finished trials are skipped)");
        for f in &self.failures {
            let why = sweep::last_error_line(&f.log)
                .map(|l| format!(": {l}"))
                .unwrap_or_default();
            d = d.note(format!(
                "{} ({}){why}; log: {}",
                self.manifest.trials[f.index].id,
                f.reason,
                f.log.display()
            ));
        }
        Some(d)
    }
}

/// Reads, expands and validates a sweep without running anything: its manifest, the FLOPs per example of every
/// file and configuration (`[file][config]`), and the table's metric.
pub fn plan_sweep(req: &SweepRequest) -> Result<(Manifest, Vec<Vec<i64>>, Metric), Error> {
    let mut diags = Diagnostics::default();
    for d in check_distinct_keys(&req.grid, &req.space, &req.fixed) {
        diags.push(d);
    }
    if req.fixed.iter().any(|(k, _)| k == "seed") {
        diags.push(
            Diagnostic::error(
                FLAG_CODE,
                "`--set seed=...` in a sweep: the seeds come from `--seeds`",
            )
            .help("write `--seeds 1..5`"),
        );
    }
    if req.random > 0 && req.space.is_empty() {
        diags.push(
            Diagnostic::error(
                FLAG_CODE,
                format!("`--random {}` without a `--space` to draw from", req.random),
            )
            .help("add e.g. `--space optimizer.main.lr=1e-4..1e-2log`"),
        );
    }
    if req.random == 0 && !req.space.is_empty() {
        diags.push(
            Diagnostic::error(
                FLAG_CODE,
                "`--space` without `--random N`: how many configurations should be drawn?",
            )
            .help("add e.g. `--random 8`"),
        );
    }
    if req.seeds.is_empty() {
        diags.push(Diagnostic::error(FLAG_CODE, "no seeds").help("give them with `--seeds 1..5`"));
    }
    let mut files = Vec::new();
    for f in &req.files {
        let name = f.display().to_string();
        if files.iter().any(|(n, _): &(String, String)| *n == name) {
            diags.push(
                Diagnostic::error(FLAG_CODE, format!("`{name}` is given twice"))
                    .help("give each file once"),
            );
            continue;
        }
        match std::fs::read_to_string(f) {
            Ok(text) => files.push((name, crate::source::normalize_line_endings(text))),
            Err(e) => diags.push(Diagnostic::error(
                "fusec::import::missing",
                format!("cannot read `{name}`: {e}"),
            )),
        }
    }
    if !diags.is_empty() {
        return Err(Error::User {
            diagnostics: diags,
            sources: Default::default(),
        });
    }
    let spec = SweepSpec {
        files,
        grid: req.grid.clone(),
        space: req.space.clone(),
        random: req.random,
        random_seed: req.random_seed,
        seeds: req.seeds.clone(),
        fixed: req.fixed.clone(),
    };
    let configs = spec.grid.iter().map(|g| g.values.len()).product::<usize>() * req.random.max(1);
    let n_trials = spec
        .files
        .len()
        .saturating_mul(configs)
        .saturating_mul(spec.seeds.len());
    if n_trials > MAX_TRIALS {
        return Err(Error::user(
            Diagnostic::error(FLAG_CODE, format!("the sweep expands to {n_trials} trials, more than {MAX_TRIALS}"))
                .help("use fewer grid values, a smaller `--random`, or fewer seeds; or split it into several sweeps"),
        ));
    }
    let mut manifest = Manifest::expand(&spec);
    let (flops, metric) = validate(&mut manifest, req.metric.as_deref())?;
    Ok((manifest, flops, metric))
}

/// Compiles every file with every configuration (the first seed): FLOPs per example, and the metric checked
/// against every plan. Records in the manifest the user files each file imports.
fn validate(
    manifest: &mut Manifest,
    metric: Option<&str>,
) -> Result<(Vec<Vec<i64>>, Metric), Error> {
    let n_configs = manifest
        .trials
        .iter()
        .map(|t| t.config + 1)
        .max()
        .unwrap_or(0);
    let mut flops = vec![vec![0; n_configs]; manifest.files.len()];
    let mut imports = vec![Vec::new(); manifest.files.len()];
    let mut chosen: Option<Metric> = None;
    for trial in manifest
        .trials
        .iter()
        .filter(|t| t.seed == manifest.seeds[0])
    {
        let file = &manifest.files[trial.file];
        let mut overrides = trial.overrides.clone();
        overrides.push(("seed".into(), trial.seed.to_string()));
        let compiled = compile_file(&file.path, &overrides, true, &mut Silent)
            .map_err(|e| in_trial(e, manifest, trial))?;
        if trial.config == 0 {
            imports[trial.file] = imported_files(&file.path, &compiled.program.sources);
        }
        let Some(plan) = compiled.program.train.clone() else {
            return Err(Error::user(
                Diagnostic::error("fusec::train::missing", format!("`{}` has no `train {{ }}` plan", file.path))
                    .help("every file of a sweep is trained: add a `train { }` block (see docs/LANGUAGE.md)"),
            ));
        };
        let index = super::pick_model(&compiled.program, None)?;
        let (model, shapes) = (&compiled.program.models[index], &compiled.shapes[index]);
        flops[trial.file][trial.config] =
            crate::summary::summarize(model, shapes, &Default::default()).flops;
        let m = chosen.get_or_insert_with(|| Metric {
            name: metric.unwrap_or(&plan.select.metric).to_string(),
            maximize: metric.map_or(plan.select.maximize, super::higher_is_better),
        });
        if !plan.metrics.contains(&m.name) && plan.select.metric != m.name {
            let known: Vec<&str> = plan
                .metrics
                .iter()
                .map(String::as_str)
                .chain([plan.select.metric.as_str()])
                .collect();
            let mut d = Diagnostic::error(
                FLAG_CODE,
                format!(
                    "`{}` does not measure `{}` on the test split",
                    file.path, m.name
                ),
            );
            d = match did_you_mean(&m.name, known.iter().copied()) {
                Some(s) => d.help(format!("did you mean `--metric {s}`?")),
                None => d.help(format!("its plan measures: {}", known.join(", "))),
            };
            return Err(Error::user(d));
        }
    }
    for (file, imports) in manifest.files.iter_mut().zip(imports) {
        file.imports = imports;
    }
    Ok((
        flops,
        chosen.unwrap_or(Metric {
            name: "metric".into(),
            maximize: true,
        }),
    ))
}

/// Runs a sweep (or continues it: finished trials are skipped, interrupted ones resumed) and collects its table
/// into `SWEEPDIR/sweep.md`, `sweep.csv` and `trials.csv`.
pub fn sweep(req: &SweepRequest, rep: &mut dyn Reporter) -> Result<SweepResult, Error> {
    let (manifest, flops, metric) = plan_sweep(req)?;
    let workers = local_workers(req)?;
    let _lock = RunLock::acquire_file(&req.out, sweep::LOCK_FILE)?;
    check_or_write_manifest(&req.out, &manifest)?;
    let states: Vec<TrialState> = manifest
        .trials
        .iter()
        .map(|t| TrialState::of(&sweep::trial_dir(&req.out, t)))
        .collect();
    let count = |s: TrialState| states.iter().filter(|x| **x == s).count();
    let (skipped, resumed) = (count(TrialState::Finished), count(TrialState::Interrupted));
    rep.log(&format!(
        "sweep {}: {} trials ({} × {} × {}); {skipped} finished (skipped), {resumed} interrupted (resumed), {} new",
        req.out.display(),
        manifest.trials.len(),
        count_of(manifest.files.len(), "file"),
        count_of(flops.first().map_or(0, Vec::len), "configuration"),
        count_of(manifest.seeds.len(), "seed"),
        count(TrialState::New)
    ));
    let todo: Vec<usize> = (0..states.len())
        .filter(|&i| states[i] != TrialState::Finished)
        .collect();
    let failures = match &req.executor {
        Executor::Local { .. } => sweep::local::run_local(
            &manifest,
            &todo,
            &req.out,
            &req.launch,
            workers,
            skipped,
            rep,
        )
        .map_err(|e| crate::run::RunError::Io(format!("{}: {e}", req.out.display())))?,
        Executor::Slurm {
            resources,
            resubmit_failed,
            poll,
        } => run_slurm(
            &manifest,
            &todo,
            req,
            resources,
            *resubmit_failed,
            *poll,
            skipped,
            rep,
        )?,
    };
    let results: Vec<Option<TrialResult>> = manifest
        .trials
        .iter()
        .map(|t| read_result(&sweep::trial_dir(&req.out, t), &metric.name))
        .collect();
    let table = SweepTable::collect(&manifest, &results, &flops, metric);
    write_tables(&req.out, &manifest, &table, &results, &failures, &states)?;
    Ok(SweepResult {
        manifest,
        table,
        failures,
        skipped,
        resumed,
    })
}

/// The local executor's worker count: given or the most the cores allow; workers × threads must fit the cores.
fn local_workers(req: &SweepRequest) -> Result<usize, Error> {
    let Executor::Local { workers } = &req.executor else {
        return Ok(0);
    };
    let threads = req.launch.threads.max(1);
    let most = (req.cores / threads).max(1);
    match workers {
        None => Ok(most),
        Some(0) => Err(Error::user(
            Diagnostic::error(FLAG_CODE, "`--workers 0`: at least one worker is needed")
                .help(format!("`--workers {most}` uses every core")),
        )),
        Some(w) if w * threads > req.cores => Err(Error::user(
            Diagnostic::error(
                FLAG_CODE,
                format!(
                    "{w} workers × {} each is more than this machine's {} cores",
                    count_of(threads, "thread"),
                    req.cores
                ),
            )
            .help(format!("use `--workers {most}` (or fewer `--threads`)")),
        )),
        Some(w) => Ok(*w),
    }
}

/// The user files a compilation of `root` read besides `root` itself, with their SHA-256.
fn imported_files(root: &str, sources: &crate::source::SourceMap) -> Vec<sweep::ImportedFile> {
    let root = crate::lower::modules::normalize(root);
    crate::run::run_dir::user_sources(sources)
        .into_iter()
        .filter(|s| s.path != root)
        .map(|s| sweep::ImportedFile {
            sha256: crate::run::manifest::sha256_hex(s.text.as_bytes()),
            path: s.path,
        })
        .collect()
}

/// A new sweep directory gets the manifest; an existing one must hold the same sweep.
fn check_or_write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), Error> {
    let path = dir.join(sweep::MANIFEST_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let recorded: Manifest = serde_json::from_str(&text).map_err(|e| {
            Error::user(Diagnostic::error("fusec::sweep::changed", format!("{}: {e}", path.display()))
                .help("the manifest is damaged or from another fusec; run this sweep into a new `--out`"))
        })?;
        let diffs = manifest.differences(&recorded);
        if diffs.is_empty() {
            return Ok(());
        }
        let mut d = Diagnostic::error("fusec::sweep::changed", format!("{} holds another sweep", dir.display()))
            .help("run the changed sweep into a new `--out`; to continue the recorded one, give its files and settings as they were (manifest.json has them)");
        for line in diffs {
            d = d.note(line);
        }
        return Err(Error::user(d));
    }
    if dir.join("trials").exists() {
        return Err(Error::user(
            Diagnostic::error(
                "fusec::sweep::changed",
                format!("{} holds trials but no manifest.json", dir.display()),
            )
            .help("choose a new `--out`"),
        ));
    }
    crate::run::write_atomic(&path, manifest.to_json().as_bytes())?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_slurm(
    manifest: &Manifest,
    todo: &[usize],
    req: &SweepRequest,
    resources: &sweep::slurm::Resources,
    resubmit: bool,
    poll: Duration,
    skipped: usize,
    rep: &mut dyn Reporter,
) -> Result<Vec<TrialFailure>, Error> {
    let slurm_error =
        |msg: String| {
            Error::user(Diagnostic::error("fusec::sweep::slurm", msg).help(
                "check that `sinfo` shows an idle node and that `sbatch` works from this shell",
            ))
        };
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let cwd =
        std::env::current_dir().map_err(|e| slurm_error(format!("the working folder: {e}")))?;
    let dir = absolute(&req.out);
    let launch = Launch {
        fusec: absolute(&req.launch.fusec),
        ..req.launch.clone()
    };
    // Tasks of an earlier invocation still in the queue are followed, not submitted again.
    let mut jobs = sweep::slurm::still_queued(&dir).map_err(slurm_error)?;
    for (job, ids) in &jobs {
        rep.log(&format!(
            "following job array {job} of an earlier invocation ({} trials still queued)",
            ids.len()
        ));
    }
    let mut todo: Vec<usize> = todo
        .iter()
        .copied()
        .filter(|i| !jobs.iter().any(|(_, ids)| ids.contains(i)))
        .collect();
    let mut done = skipped;
    let mut failures = Vec::new();
    for round in 0..2 {
        if !todo.is_empty() {
            let (job, script) =
                sweep::slurm::submit(manifest, &todo, &dir, &cwd, &launch, resources)
                    .map_err(slurm_error)?;
            rep.log(&format!(
                "submitted job array {job} ({} trials): {}",
                todo.len(),
                script.display()
            ));
            let _ = sweep::slurm::record_job(&dir, &job, &todo);
            jobs.push((job, todo.clone()));
        }
        if jobs.is_empty() {
            break;
        }
        let n: usize = jobs.iter().map(|(_, ids)| ids.len()).sum();
        failures =
            sweep::slurm::follow(manifest, &jobs, &dir, done, poll, rep).map_err(slurm_error)?;
        done += n - failures.len();
        jobs.clear();
        if round == 0 && resubmit && !failures.is_empty() {
            rep.log(&format!("resubmitting {} failed trials", failures.len()));
            todo = failures.iter().map(|f| f.index).collect();
        } else {
            break;
        }
    }
    Ok(failures)
}

fn write_tables(
    dir: &Path,
    manifest: &Manifest,
    table: &SweepTable,
    results: &[Option<TrialResult>],
    failures: &[TrialFailure],
    before: &[TrialState],
) -> Result<(), Error> {
    let states: Vec<String> = (0..manifest.trials.len())
        .map(|i| {
            match (
                &results[i],
                failures.iter().any(|f| f.index == i),
                before[i],
            ) {
                (Some(_), _, TrialState::Finished) => "finished (earlier)".to_string(),
                (Some(_), _, TrialState::Interrupted) => "finished (resumed)".to_string(),
                (Some(_), _, TrialState::New) => "finished".to_string(),
                (None, true, _) => "failed".to_string(),
                (None, false, _) => "not finished".to_string(),
            }
        })
        .collect();
    let logs: Vec<String> = (0..manifest.trials.len())
        .map(|i| {
            failures
                .iter()
                .find(|f| f.index == i)
                .map(|f| f.log.display().to_string())
                .unwrap_or_default()
        })
        .collect();
    let write =
        |name: &str, text: String| crate::run::write_atomic(&dir.join(name), text.as_bytes());
    write("sweep.md", table.markdown())?;
    write("sweep.csv", table.csv())?;
    write(
        "trials.csv",
        trials_csv(manifest, &states, results, &logs, &table.metric.name),
    )?;
    Ok(())
}

/// A compile error of a trial's configuration, with a note naming the trial and its settings.
fn in_trial(e: Error, manifest: &Manifest, trial: &sweep::Trial) -> Error {
    let Error::User {
        mut diagnostics,
        sources,
    } = e
    else {
        return e;
    };
    let settings: Vec<String> = trial
        .overrides
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for d in diagnostics.0.iter_mut() {
        d.notes.push(format!(
            "in trial {} ({} with {})",
            trial.id,
            manifest.files[trial.file].path,
            if settings.is_empty() {
                "its own settings".to_string()
            } else {
                settings.join(" ")
            }
        ));
    }
    Error::User {
        diagnostics,
        sources,
    }
}

fn count_of(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
