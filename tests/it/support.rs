//! Helpers shared by the test modules: the `fusec` binary, fresh temporary folders, training a compiled file
//! through the library, and the rounded training summary that snapshots show.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::Device;
use fusec::api::FsLoader;
use fusec::backend::Network;
use fusec::front::{compile, Compiled};
use fusec::rng::SeededRng;
use fusec::run::{assign_params, train, Objectives, RunError, RunOptions, RunOutcome};

/// Runs the `fusec` binary in the crate root with one compute thread; returns (exit code, stdout, stderr).
/// `FUSEC_BIN` overrides the binary (a build folder shared by several checkouts may hold another one).
pub fn fusec(args: &[&str]) -> (i32, String, String) {
    let bin =
        std::env::var("FUSEC_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_fusec").to_string());
    let out = std::process::Command::new(bin)
        .args(args)
        .env("RAYON_NUM_THREADS", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// A fresh folder under the system temp dir, unique per module, test name and process.
pub fn temp_dir(module: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fusec-{module}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiles a file from disk with `--set` overrides, panicking with the rendered diagnostics if it fails.
pub fn compile_file(path: &str, sets: &[(&str, &str)], optimize: bool) -> Compiled {
    let sets: Vec<(String, String)> = sets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    compile(&FsLoader, path, &sets, optimize)
        .unwrap_or_else(|f| panic!("{}", fusec::diag::render(&f.diagnostics, &f.sources, false)))
}

/// Trains a compiled file by its plan into `dir` on the CPU (data paths relative to the repository root).
pub fn train_into(
    c: &Compiled,
    dir: &Path,
    resume: bool,
    stop_after: Option<usize>,
) -> Result<RunOutcome, RunError> {
    train_on(c, dir, resume, stop_after, &Device::Cpu)
}

/// [`train_into`] on `device`.
pub fn train_on(
    c: &Compiled,
    dir: &Path,
    resume: bool,
    stop_after: Option<usize>,
    device: &Device,
) -> Result<RunOutcome, RunError> {
    assert_threads_pinned();
    let plan = c.program.train.clone().unwrap();
    let index = plan_model_index(c);
    let spec = c.program.data_spec(&plan.data).unwrap();
    let data = fusec::data::load(spec, Path::new(".")).unwrap();
    let opts = RunOptions {
        run_dir: dir.to_path_buf(),
        resume,
        overwrite: false,
        device: device.clone(),
        progress: false,
        stop_after,
        config: serde_json::json!({}),
        sources: Vec::new(),
    };
    train(
        &c.program.models[index],
        &c.shapes[index],
        &plan,
        &data,
        &opts,
        &mut |_| {},
    )
}

/// The per-epoch history and the test metrics, rounded to 3 decimals so snapshots read well.
pub fn rounded_summary(outcome: &RunOutcome) -> String {
    let report = outcome.report.as_ref().unwrap();
    let history = std::fs::read_to_string(Path::new(&report.run_dir).join("metrics.csv")).unwrap();
    let mut s = String::new();
    for line in history.lines() {
        let cells: Vec<String> = line
            .split(',')
            .map(|c| match (c.parse::<i64>(), c.parse::<f64>()) {
                (Ok(_), _) | (_, Err(_)) => c.to_string(),
                (_, Ok(v)) => format!("{v:.3}"),
            })
            .collect();
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    s.push_str(&format!(
        "best epoch {} of {}, {} parameters\n",
        report.best_epoch, report.epochs_run, report.params
    ));
    for (k, v) in &report.test {
        s.push_str(&format!("test {k} = {v:.3}\n"));
    }
    s
}

/// In-process training tests need one compute thread (`.cargo/config.toml` sets it for every process cargo
/// runs): candle splits kernels by `RAYON_NUM_THREADS`, and another split can change the last digits.
pub fn assert_threads_pinned() {
    assert_eq!(
        std::env::var("RAYON_NUM_THREADS").as_deref(),
        Ok("1"),
        "run the tests through cargo (.cargo/config.toml pins RAYON_NUM_THREADS=1) or set it yourself"
    );
}

/// A JSON fixture under `tests/fixtures/` (`rel` is relative to that folder).
pub fn json_fixture(rel: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A JSON array of strings.
pub fn json_strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// An example's network on the CPU (parameters drawn from `seed`), its plan's objectives, each optimizer's
/// parameter names and its data: what a test that runs training steps by hand needs.
pub struct StepSetup {
    pub net: Network,
    pub objectives: Objectives,
    pub assignment: HashMap<String, Vec<String>>,
    pub data: fusec::data::Dataset,
}

pub fn step_setup(path: &str, seed: u64) -> StepSetup {
    let c = compile_file(path, &[], true);
    let plan = c.program.train.clone().unwrap();
    let index = plan_model_index(&c);
    let (model, shapes) = (&c.program.models[index], &c.shapes[index]);
    let data = fusec::data::load(c.program.data_spec(&plan.data).unwrap(), Path::new(".")).unwrap();
    let net = Network::build(model, shapes, &Device::Cpu, &mut SeededRng::new(seed)).unwrap();
    let objectives = Objectives::resolve(&plan, model).unwrap();
    let assignment = assign_params(&plan, &net)
        .unwrap()
        .iter()
        .map(|(n, ps)| (n.clone(), ps.iter().map(|(p, _)| p.clone()).collect()))
        .collect();
    StepSetup {
        net,
        objectives,
        assignment,
        data,
    }
}

/// The index of the model the compiled file's train plan trains (in `program.models` and `shapes`).
pub fn plan_model_index(c: &Compiled) -> usize {
    let plan = c.program.train.as_ref().unwrap();
    c.program
        .models
        .iter()
        .position(|m| m.name == plan.model)
        .unwrap()
}
