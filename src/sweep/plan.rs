//! A sweep's trials: files × configurations (the grid's product, times the random draws) × seeds, expanded in
//! a fixed order, and the manifest (`manifest.json`) that records them with every file's content, so a sweep
//! directory says exactly what ran and a changed file or grid is noticed ([`Manifest::differences`]).

use serde::{Deserialize, Serialize};

use super::spec::{GridAxis, SpaceAxis};
use crate::rng::SeededRng;

/// The manifest's format version.
pub const MANIFEST_VERSION: u32 = 1;

/// What a sweep is, before anything runs.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepSpec {
    /// The model files as given, with their text.
    pub files: Vec<(String, String)>,
    pub grid: Vec<GridAxis>,
    pub space: Vec<SpaceAxis>,
    /// Random configurations drawn from `space` (0 without `--random`).
    pub random: usize,
    /// The generator seed of the random draws.
    pub random_seed: u64,
    pub seeds: Vec<u64>,
    /// `--set`s that every trial gets.
    pub fixed: Vec<(String, String)>,
}

/// One model file of a sweep, as it was when the sweep was planned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    /// The method's name in tables (the file's stem, with its folder when stems collide).
    pub method: String,
    pub sha256: String,
    pub text: String,
    /// The user files it imports, directly or not (a common `data` / `train` section, shared blocks), each with
    /// its SHA-256 when the sweep was planned, so an edited imported file is noticed as the file itself is.
    /// Absent in manifests written before imports were recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<ImportedFile>,
}

/// A user file a sweep's model file imports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportedFile {
    pub path: String,
    pub sha256: String,
}

/// One training: a file, a configuration (its overrides) and a seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// `<method>-c<config>-s<seed>`: its run directory's name under `trials/`.
    pub id: String,
    /// Index into the manifest's files.
    pub file: usize,
    /// Index of the configuration (the same overrides have the same index for every file).
    pub config: usize,
    /// The configuration's overrides (`--set`s fixed for the sweep first, then grid, then random values),
    /// written `"key=value"` in the manifest.
    #[serde(with = "settings")]
    pub overrides: Vec<(String, String)>,
    pub seed: u64,
}

/// Everything a sweep directory records about its trials.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub files: Vec<ManifestFile>,
    pub grid: Vec<GridAxis>,
    pub space: Vec<SpaceAxis>,
    pub random: usize,
    pub random_seed: u64,
    pub seeds: Vec<u64>,
    #[serde(with = "settings")]
    pub fixed: Vec<(String, String)>,
    pub trials: Vec<Trial>,
}

impl Manifest {
    /// Expands a spec into its trials: for each file, each configuration, each seed.
    pub fn expand(spec: &SweepSpec) -> Manifest {
        let configs = configurations(spec);
        let files = method_names(&spec.files);
        let mut trials = Vec::new();
        for (fi, file) in files.iter().enumerate() {
            for (ci, overrides) in configs.iter().enumerate() {
                for &seed in &spec.seeds {
                    trials.push(Trial {
                        id: format!("{}-c{ci}-s{seed}", file.method),
                        file: fi,
                        config: ci,
                        overrides: overrides.clone(),
                        seed,
                    });
                }
            }
        }
        Manifest {
            version: MANIFEST_VERSION,
            files,
            grid: spec.grid.clone(),
            space: spec.space.clone(),
            random: spec.random,
            random_seed: spec.random_seed,
            seeds: spec.seeds.clone(),
            fixed: spec.fixed.clone(),
            trials,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// What makes `self` (the sweep asked for now) another sweep than `recorded` (the directory's), one line
    /// each; empty when they are the same sweep.
    pub fn differences(&self, recorded: &Manifest) -> Vec<String> {
        let mut out = Vec::new();
        for f in &self.files {
            match recorded.files.iter().find(|r| r.path == f.path) {
                None => out.push(format!("`{}` is not one of the recorded files", f.path)),
                Some(r) if r.sha256 != f.sha256 => out.push(format!(
                    "`{}` was edited since the sweep started (SHA-256 {} then, {} now)",
                    f.path,
                    &r.sha256[..12.min(r.sha256.len())],
                    &f.sha256[..12.min(f.sha256.len())]
                )),
                Some(r) => out.extend(import_differences(f, r)),
            }
        }
        for r in &recorded.files {
            if !self.files.iter().any(|f| f.path == r.path) {
                out.push(format!(
                    "`{}` was part of the sweep and is not given now",
                    r.path
                ));
            }
        }
        let grid = |m: &Manifest| {
            m.grid
                .iter()
                .map(|g| format!("{}={}", g.key, g.values.join(",")))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let space = |m: &Manifest| {
            m.space
                .iter()
                .map(|a| {
                    format!(
                        "{}={}..{}{}",
                        a.key,
                        a.low,
                        a.high,
                        if a.log { "log" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let seeds = |m: &Manifest| {
            m.seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let fixed = |m: &Manifest| {
            m.fixed
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let random = |m: &Manifest| format!("{} draws with seed {}", m.random, m.random_seed);
        let fields = [
            ("--grid", grid(recorded), grid(self)),
            ("--space", space(recorded), space(self)),
            ("--random", random(recorded), random(self)),
            ("--seeds", seeds(recorded), seeds(self)),
            ("--set", fixed(recorded), fixed(self)),
        ];
        for (flag, then, now) in fields {
            if then != now {
                let none = |s: String| {
                    if s.is_empty() {
                        "nothing".to_string()
                    } else {
                        format!("`{s}`")
                    }
                };
                out.push(format!(
                    "{flag}: recorded {}, given {}",
                    none(then),
                    none(now)
                ));
            }
        }
        if out.is_empty() && self != recorded {
            out.push(
                "the expanded trials differ (the manifest was written by another fusec)".into(),
            );
        }
        out
    }

    /// The overrides of a configuration as `k=v k=v` (or `defaults`), for tables.
    pub fn config_label(&self, config: usize) -> String {
        let Some(t) = self.trials.iter().find(|t| t.config == config) else {
            return String::new();
        };
        let varied: Vec<String> = t
            .overrides
            .iter()
            .filter(|(k, _)| !self.fixed.iter().any(|(f, _)| f == k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if varied.is_empty() {
            "defaults".into()
        } else {
            varied.join(" ")
        }
    }
}

/// The grid's product (last axis fastest) times the random draws; one empty configuration when neither is given.
fn configurations(spec: &SweepSpec) -> Vec<Vec<(String, String)>> {
    let mut configs: Vec<Vec<(String, String)>> = vec![spec.fixed.clone()];
    for axis in &spec.grid {
        configs = configs
            .iter()
            .flat_map(|c| {
                axis.values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((axis.key.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    if spec.random == 0 || spec.space.is_empty() {
        return configs;
    }
    // Drawn once and shared by every grid point and file, so methods are compared on the same settings.
    let mut rng = SeededRng::stream(spec.random_seed, 0);
    let draws: Vec<Vec<(String, String)>> = (0..spec.random)
        .map(|_| {
            spec.space
                .iter()
                .map(|a| (a.key.clone(), draw(a, &mut rng)))
                .collect()
        })
        .collect();
    configs
        .iter()
        .flat_map(|c| {
            draws.iter().map(move |d| {
                let mut c = c.clone();
                c.extend(d.iter().cloned());
                c
            })
        })
        .collect()
}

/// One value of an axis, written as `--set` reads it (4 significant digits for real numbers).
fn draw(axis: &SpaceAxis, rng: &mut SeededRng) -> String {
    let u = rng.uniform(0.0, 1.0);
    if axis.integer {
        let (lo, hi) = (axis.low as i64, axis.high as i64);
        let x = if axis.log {
            (axis.low.ln() + u * ((axis.high + 1.0).ln() - axis.low.ln()))
                .exp()
                .floor() as i64
        } else {
            lo + (u * (hi - lo + 1) as f64).floor() as i64
        };
        return x.clamp(lo, hi).to_string();
    }
    let x = if axis.log {
        (axis.low.ln() + u * (axis.high.ln() - axis.low.ln())).exp()
    } else {
        axis.low + u * (axis.high - axis.low)
    };
    // Rust writes `1.234e-4`, which the .fuse number syntax reads as it is.
    format!("{x:.3e}")
}

/// How the files `now` imports differ from those it imported when the sweep was planned (`recorded`); nothing
/// when the recorded manifest predates recorded imports.
fn import_differences(now: &ManifestFile, recorded: &ManifestFile) -> Vec<String> {
    if recorded.imports.is_empty() {
        return Vec::new();
    }
    let short = |h: &str| h[..12.min(h.len())].to_string();
    let mut out = Vec::new();
    for r in &recorded.imports {
        match now.imports.iter().find(|i| i.path == r.path) {
            None => out.push(format!(
                "`{}` no longer imports `{}`",
                now.path, r.path
            )),
            Some(i) if i.sha256 != r.sha256 => out.push(format!(
                "`{}` (imported by `{}`) was edited since the sweep started (SHA-256 {} then, {} now)",
                r.path,
                now.path,
                short(&r.sha256),
                short(&i.sha256)
            )),
            Some(_) => {}
        }
    }
    for i in &now.imports {
        if !recorded.imports.iter().any(|r| r.path == i.path) {
            out.push(format!("`{}` now imports `{}`", now.path, i.path));
        }
    }
    out
}

/// The method name of each file: its stem, or `folder_stem` when two files share a stem.
fn method_names(files: &[(String, String)]) -> Vec<ManifestFile> {
    let path = std::path::Path::new;
    let stem = |p: &str| {
        path(p)
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| p.to_string())
    };
    files
        .iter()
        .map(|(p, text)| {
            let s = stem(p);
            let shared = files.iter().filter(|(q, _)| stem(q) == s).count() > 1;
            let method = if shared {
                let folder = path(p)
                    .parent()
                    .and_then(|d| d.file_name())
                    .map(|d| d.to_string_lossy().to_string())
                    .unwrap_or_default();
                format!("{folder}_{s}")
            } else {
                s
            };
            ManifestFile {
                path: p.clone(),
                method,
                sha256: crate::run::manifest::sha256_hex(text.as_bytes()),
                text: text.clone(),
                imports: Vec::new(),
            }
        })
        .collect()
}

/// `(key, value)` pairs as `"key=value"` strings in the manifest (keys never hold `=`).
mod settings {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(pairs: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(pairs.iter().map(|(k, v)| format!("{k}={v}")))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| match t.split_once('=') {
                Some((k, v)) => Ok((k.to_string(), v.to_string())),
                None => Err(serde::de::Error::custom(format!("`{t}` is not key=value"))),
            })
            .collect()
    }
}
