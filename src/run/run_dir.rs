//! A run directory is a unit. One run at a time holds it ([`RunLock`]: an exclusive `flock` on `run.lock`, which
//! the kernel releases when the process ends, however it ends, so the lock of a killed run never blocks the
//! next one). A fresh run never writes into a directory that holds another run's files unless told to
//! ([`claim`]); default names cannot collide ([`unique_dir`]). Before the first epoch the run records everything
//! that evaluation, prediction, translation and resuming need ([`RunRecord`]: the sources it was compiled from,
//! the overrides, where it ran, which fields were standardized and which vocabularies saved), `config.json`
//! last, so its presence means the record is complete.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{write_atomic, RunError};
use crate::source::SourceMap;

pub const LOCK_FILE: &str = "run.lock";
pub const CONFIG_FILE: &str = "config.json";
pub const SOURCES_FILE: &str = "sources.json";
/// Marks a k-fold run's directory (`api::run_folds`), whose folds are runs in `fold-1`, `fold-2`, ...
pub const KFOLD_FILE: &str = "kfold.json";

/// The exclusive lock of a run directory, held as long as this value lives.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Locks `dir` (creating it) for this process, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock, RunError> {
        RunLock::acquire_file(dir, LOCK_FILE)
    }

    /// Locks `dir` through the lock file `name` (a sweep directory's is `sweep.lock`).
    pub fn acquire_file(dir: &Path, name: &str) -> Result<RunLock, RunError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| RunError::Io(format!("{}: {e}", dir.display())))?;
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| RunError::Io(format!("{}: {e}", path.display())))?;
        if !try_lock(&file) {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(RunError::Config(format!(
                "{} is in use by another run ({}); wait for it to end, or choose another `--out`",
                dir.display(),
                holder.trim()
            )));
        }
        // Who holds it, for the message of a run that is refused (the lock itself is the flock).
        let _ = file.set_len(0);
        let _ = write!(
            file,
            "process {} since {}",
            std::process::id(),
            unix_seconds()
        );
        Ok(RunLock { _file: file })
    }
}

#[cfg(unix)]
fn try_lock(file: &File) -> bool {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor this value owns; the lock goes with the descriptor.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> bool {
    true
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether `dir` holds files of a run (anything besides the lock file).
pub fn holds_a_run(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.file_name() != LOCK_FILE)
    })
}

/// Makes `dir` ready for a fresh run, under its lock: an empty or new directory is taken as it is; one that
/// holds another run's files is refused, or emptied when `overwrite` is set.
pub fn claim(dir: &Path, overwrite: bool) -> Result<(), RunError> {
    if !holds_a_run(dir) {
        return Ok(());
    }
    if !overwrite {
        return Err(refuse_existing(dir));
    }
    for entry in std::fs::read_dir(dir)?.filter_map(Result::ok) {
        if entry.file_name() == LOCK_FILE {
            continue;
        }
        let path = entry.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| RunError::Io(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// The error of a fresh run into a directory that holds another run.
pub fn refuse_existing(dir: &Path) -> RunError {
    RunError::Config(format!(
        "{} already holds a run; continue it with `--resume {}`, choose another `--out`, or replace it with \
         `--overwrite`",
        dir.display(),
        dir.display()
    ))
}

/// The default directory of a run of `name` without `--out`: `runs/NAME-SECONDS` (made unique, see
/// [`unique_dir`]).
pub fn default_dir(name: &str) -> Result<PathBuf, RunError> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    unique_dir(Path::new("runs"), &format!("{name}-{secs}"))
}

/// A new directory `parent/stem`, or `parent/stem-2`, `-3`, ... when taken: created atomically, so two runs
/// started at the same moment get different directories.
pub fn unique_dir(parent: &Path, stem: &str) -> Result<PathBuf, RunError> {
    std::fs::create_dir_all(parent)
        .map_err(|e| RunError::Io(format!("{}: {e}", parent.display())))?;
    for n in 1..10_000 {
        let name = if n == 1 {
            stem.to_string()
        } else {
            format!("{stem}-{n}")
        };
        let dir = parent.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(RunError::Io(format!("{}: {e}", dir.display()))),
        }
    }
    Err(RunError::Io(format!(
        "{}: no free name for `{stem}`",
        parent.display()
    )))
}

/// One user source file the run was compiled from, as the compiler read it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RecordedSource {
    pub path: String,
    pub text: String,
}

/// What a run records about itself before its first epoch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    /// The compiled file as given (relative to `cwd`) and its normalized name among `sources`.
    pub file: String,
    pub root: String,
    /// SHA-256 of the root file's text.
    pub file_sha256: String,
    /// The working folder of the run: data paths are relative to it.
    pub cwd: String,
    /// `--set` overrides, in order (`seed=3`, `epochs=5`, ...).
    pub overrides: Vec<String>,
    /// Fields standardized with the training split's statistics (`standardization.safetensors` holds them).
    pub standardized: Vec<String>,
    /// Text fields whose vocabularies are saved in `vocab/`.
    pub vocabularies: Vec<String>,
    /// Named classes per label field.
    #[serde(default)]
    pub label_names: std::collections::BTreeMap<String, Vec<String>>,
    /// Class names per label field whose classes have names, in class-index order: what the predicted class
    /// indices mean. `eval` and `resume` check that the data still gives these classes; `predict` names its
    /// predicted classes with them.
    #[serde(default)]
    pub class_names: std::collections::BTreeMap<String, Vec<String>>,
    /// The resolved configuration (model, train plan, data spec) for people and tools.
    pub resolved: serde_json::Value,
}

impl RunRecord {
    /// The overrides as `(key, value)` pairs.
    pub fn override_pairs(&self) -> Vec<(String, String)> {
        self.overrides
            .iter()
            .filter_map(|o| o.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// The user files of a compilation (the stdlib and `--set` values excluded), for [`RunRecord`]'s sources.
pub fn user_sources(sources: &SourceMap) -> Vec<RecordedSource> {
    sources
        .files()
        .filter(|(_, f)| !f.is_std && !f.name.starts_with("--set "))
        .map(|(_, f)| RecordedSource {
            path: f.name.clone(),
            text: f.text.clone(),
        })
        .collect()
}

/// Writes the record: the sources first, `config.json` last.
pub fn write_record(
    dir: &Path,
    record: &RunRecord,
    sources: &[RecordedSource],
) -> Result<(), RunError> {
    let sources = serde_json::to_string_pretty(sources).map_err(|e| RunError::Io(e.to_string()))?;
    write_atomic(&dir.join(SOURCES_FILE), sources.as_bytes())?;
    let config = serde_json::to_string_pretty(record).map_err(|e| RunError::Io(e.to_string()))?;
    write_atomic(&dir.join(CONFIG_FILE), config.as_bytes())
}

/// Reads a run's record and sources; what is missing or unreadable is an error naming the file.
pub fn read_record(dir: &Path) -> Result<(RunRecord, Vec<RecordedSource>), RunError> {
    let config = dir.join(CONFIG_FILE);
    if !config.exists() && dir.join(KFOLD_FILE).is_file() {
        return Err(RunError::Io(format!(
            "{} holds a k-fold run, not one run: each fold is a run of its own; name one of them, as in {}",
            dir.display(),
            dir.join("fold-1").display()
        )));
    }
    let text = std::fs::read_to_string(&config).map_err(|e| {
        RunError::Io(format!(
            "{}: {e}; {} is not a complete run directory (its run was stopped before it started training, or \
             it was written by an older fusec)",
            config.display(),
            dir.display()
        ))
    })?;
    let record: RunRecord = serde_json::from_str(&text).map_err(|e| {
        RunError::Io(format!(
            "{}: {e}; the run's record is damaged or from an older fusec",
            config.display()
        ))
    })?;
    let path = dir.join(SOURCES_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| RunError::Io(format!("{}: {e}", path.display())))?;
    let sources: Vec<RecordedSource> = serde_json::from_str(&text)
        .map_err(|e| RunError::Io(format!("{}: {e}", path.display())))?;
    if !sources.iter().any(|s| s.path == record.root) {
        return Err(RunError::Io(format!(
            "{}: the compiled file `{}` is missing",
            path.display(),
            record.root
        )));
    }
    Ok((record, sources))
}
