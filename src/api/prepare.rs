//! What the training commands (`run`, `eval`, `check --grad`, `compare`) share: compiling a file for training
//! (front end, plan, data checked against the model, data loaded) and choosing a device.

use std::path::Path;

use candle_core::Device;

use super::{compile_file, Error, Reporter};
use crate::data::Dataset;
use crate::diag::{Diagnostic, Diagnostics};
use crate::front::{compile, Compiled};
use crate::ir::TrainPlan;
use crate::run::{RecordedSource, RunRecord};
use crate::source::MemoryLoader;

/// A compiled program with everything a training run needs.
pub struct Prepared {
    pub compiled: Compiled,
    pub model_index: usize,
    pub plan: TrainPlan,
    pub data: Dataset,
    /// The resolved configuration for `config.json`.
    pub config: serde_json::Value,
}

impl Prepared {
    pub fn model(&self) -> &crate::ir::Model {
        &self.compiled.program.models[self.model_index]
    }

    pub fn shapes(&self) -> &crate::check::Shapes {
        &self.compiled.shapes[self.model_index]
    }
}

/// The device of a `--device` flag (`cpu`, `cuda`, `cuda:N`), or a `fusec::cli::device` diagnostic.
pub fn device(flag: &str) -> Result<Device, Error> {
    device_from_flag(flag).map_err(|msg| {
        Error::user(
            Diagnostic::error("fusec::cli::device", msg).help("`--device cpu` runs everywhere"),
        )
    })
}

fn device_from_flag(flag: &str) -> Result<Device, String> {
    match flag {
        "cpu" => Ok(Device::Cpu),
        f if f == "cuda" || f.starts_with("cuda:") => {
            let ordinal = f
                .strip_prefix("cuda:")
                .map(|n| n.parse::<usize>())
                .transpose()
                .map_err(|_| {
                    format!("`--device {f}`: the GPU index must be a number, as in `cuda:0`")
                })?;
            Device::new_cuda(ordinal.unwrap_or(0)).map_err(|e| {
                format!("`--device {f}`: {e} (CUDA needs a build with `cargo build --release --features cuda` on a machine with the CUDA toolkit)")
            })
        }
        other => Err(format!(
            "unknown device `{other}`; use `cpu`, `cuda` or `cuda:N`"
        )),
    }
}

/// Compiles `file`, finds its plan, model and data set, checks the data against the model and loads it.
/// Warnings of the front end go to the reporter.
pub fn prepare(
    file: &Path,
    overrides: &[(String, String)],
    rep: &mut dyn Reporter,
) -> Result<Prepared, Error> {
    let path = file.to_string_lossy().to_string();
    let compiled = compile_file(&path, overrides, true, rep)?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| Path::new(".").to_path_buf());
    let prepared = finish_prepare(compiled, path, overrides, &cwd)?;
    rep.diagnostics(&prepared.data.warnings, &prepared.compiled.program.sources);
    Ok(prepared)
}

/// Like [`prepare`], for a recorded run: compiled from the sources it recorded (not the files on disk now),
/// with its overrides, and its data read relative to the folder it ran in.
pub fn prepare_recorded(
    record: &RunRecord,
    sources: &[RecordedSource],
    overrides: &[(String, String)],
    rep: &mut dyn Reporter,
) -> Result<Prepared, Error> {
    let compiled = compile_recorded(record, sources, overrides, rep)?;
    let prepared = finish_prepare(
        compiled,
        record.file.clone(),
        overrides,
        Path::new(&record.cwd),
    )?;
    check_recorded_classes(record, &prepared.data)?;
    Ok(prepared)
}

/// The data must give the classes the run was trained with: a class index the network predicts means the
/// recorded class name, so a data set whose names sort differently now (a class added or renamed) is refused.
fn check_recorded_classes(record: &RunRecord, data: &Dataset) -> Result<(), Error> {
    let fields = record.class_names.keys().chain(data.class_names.keys());
    for field in fields {
        let (was, now) = (record.class_names.get(field), data.class_names.get(field));
        if was == now {
            continue;
        }
        let shown = |n: Option<&Vec<String>>| match n {
            Some(names) => format!("[{}]", names.join(", ")),
            None => "no class names".to_string(),
        };
        let d = Diagnostic::error(
            "fusec::run::classes",
            format!(
                "the classes of `{field}` are {} in the data now, but the run was trained with {}",
                shown(now),
                shown(was)
            ),
        )
        .help(
            "the network's class indices mean the recorded classes: use the data the run was trained on, or \
             fix the order with `classes = [...]` in the data block and train again",
        );
        return Err(Error::user(d));
    }
    Ok(())
}

/// Whether `file`, read now (line endings normalised), has the text the run recorded for its root file.
pub(super) fn matches_recorded_root(
    file: &Path,
    record: &RunRecord,
    sources: &[RecordedSource],
) -> Result<bool, Error> {
    let recorded = sources
        .iter()
        .find(|s| s.path == record.root)
        .map(|s| s.text.as_str())
        .unwrap_or_default();
    let now = std::fs::read_to_string(file)
        .map(crate::source::normalize_line_endings)
        .map_err(|e| {
            Error::user(Diagnostic::error(
                "fusec::import::missing",
                format!("cannot read `{}`: {e}", file.display()),
            ))
        })?;
    Ok(now == recorded)
}

/// A run's record, its recorded sources, and the overrides to compile it with.
pub type OpenedRun = (RunRecord, Vec<RecordedSource>, Vec<(String, String)>);

/// A trained run opened for use (`eval`, `predict`, `translate`): its record and sources, and the overrides to
/// compile with: the recorded ones, then `extra` (a key given again replaces the recorded value; one that
/// changes the model makes its checkpoints refuse to load). `file` must be the file the run was trained from.
pub fn open_run(
    run_dir: &Path,
    file: &Path,
    extra: &[(String, String)],
) -> Result<OpenedRun, Error> {
    let (record, sources) = crate::run::read_record(run_dir)?;
    if !matches_recorded_root(file, &record, &sources)? {
        return Err(Error::user(
            Diagnostic::error(
                "fusec::run::source",
                format!(
                    "`{}` is not the file the run in {} was trained from (`{}`): it differs from the recorded text",
                    file.display(),
                    run_dir.display(),
                    record.file
                ),
            )
            .help(format!(
                "use the file as it was when the run started; its text is recorded in {}/sources.json",
                run_dir.display()
            )),
        ));
    }
    let mut overrides = record.override_pairs();
    for (k, v) in extra {
        overrides.retain(|(rk, _)| rk != k);
        overrides.push((k.clone(), v.clone()));
    }
    Ok((record, sources, overrides))
}

/// Compiles a recorded run's sources (not the files on disk now) with `overrides`.
pub fn compile_recorded(
    record: &RunRecord,
    sources: &[RecordedSource],
    overrides: &[(String, String)],
    rep: &mut dyn Reporter,
) -> Result<Compiled, Error> {
    let mut loader = MemoryLoader::new();
    for s in sources {
        loader = loader.with(&s.path, &s.text);
    }
    match compile(&loader, &record.root, overrides, true) {
        Ok(c) => {
            rep.diagnostics(&c.warnings, &c.program.sources);
            Ok(c)
        }
        Err(f) => Err(Error::User {
            diagnostics: f.diagnostics,
            sources: f.sources,
        }),
    }
}

fn finish_prepare(
    compiled: Compiled,
    path: String,
    overrides: &[(String, String)],
    cwd: &Path,
) -> Result<Prepared, Error> {
    let fail = |d: Diagnostics| Error::User {
        diagnostics: d,
        sources: compiled.program.sources.clone(),
    };
    let Some(plan) = compiled.program.train.clone() else {
        let d = Diagnostic::error("fusec::train::missing", format!("`{path}` has no `train {{ }}` plan"))
            .help("add a `train { model = ...  data = ...  optimizer ... step ... }` block (see docs/LANGUAGE.md)");
        return Err(fail(d.into()));
    };
    let Some(model_index) = compiled
        .program
        .models
        .iter()
        .position(|m| m.name == plan.model)
    else {
        let d = Diagnostic::error(
            "fusec::train::model",
            format!(
                "the plan trains `{}`, which is not a model of this file",
                plan.model
            ),
        )
        .label(plan.span, "this plan");
        return Err(fail(d.into()));
    };
    let Some(spec) = compiled.program.data_spec(&plan.data).cloned() else {
        let d = Diagnostic::error(
            "fusec::train::data",
            format!("the plan reads data `{}`, which is not declared", plan.data),
        )
        .label(plan.span, "this plan");
        return Err(fail(d.into()));
    };
    super::budget::check_memory(&compiled).map_err(fail)?;
    let model = &compiled.program.models[model_index];
    let problems = crate::data::check_against_model(&spec, model);
    if problems.has_errors() {
        return Err(fail(problems));
    }
    let data = crate::data::load(&spec, cwd).map_err(fail)?;
    let problems = task_fits_data(&plan, model, &compiled.shapes[model_index], &data);
    if problems.has_errors() {
        return Err(fail(problems));
    }
    let config = serde_json::json!({
        "file": path,
        "cwd": cwd.display().to_string(),
        "overrides": overrides.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "model": plan.model,
        "train": plan,
        "data": spec,
    });
    Ok(Prepared {
        compiled,
        model_index,
        plan,
        data,
        config,
    })
}

/// The labels of a classification task must index the output's classes: a model with 3 logits cannot learn
/// 10 classes. Checked on the loaded values, so it also catches files whose labels exceed a `classes` declaration.
pub fn task_fits_data(
    plan: &TrainPlan,
    model: &crate::ir::Model,
    shapes: &crate::check::Shapes,
    data: &Dataset,
) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let Some(out) = model.output_value(&plan.task.output) else {
        return diags;
    };
    let Some(width) = shapes
        .ty(out)
        .and_then(|t| t.dims.last())
        .and_then(|d| d.fixed())
    else {
        return diags;
    };
    let classes = match plan.task.kind {
        crate::ir::TaskKind::Classification => width,
        crate::ir::TaskKind::BinaryPerLabel => 2,
        crate::ir::TaskKind::Regression => return diags,
        // Target ids index the decoder's vocabulary: the data's vocabulary must fit the model's `vocab`.
        crate::ir::TaskKind::Translation => {
            let have = data
                .texts
                .get(&plan.task.target)
                .map(|t| t.vocab.len() as i64);
            if let Some(n) = have.filter(|n| *n > width) {
                diags.push(
                    Diagnostic::error(
                        "fusec::train::vocab",
                        format!(
                            "the target `{}` has a vocabulary of {n} tokens, but `{}` scores {width}",
                            plan.task.target, plan.task.output
                        ),
                    )
                    .label(plan.task.span, "this task")
                    .help(format!(
                        "raise the decoder's `vocab` to at least {n}, or cap the field with `max_vocab = {width}`"
                    )),
                );
            }
            return diags;
        }
    };
    let Some(field) = data.fields.get(&plan.task.target) else {
        return diags;
    };
    if let crate::data::FieldValues::I64(values) = &field.values {
        let (lo, hi) = values
            .iter()
            .fold((i64::MAX, i64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
        if !values.is_empty() && (lo < 0 || hi >= classes) {
            diags.push(
                Diagnostic::error(
                    "fusec::train::classes",
                    format!(
                        "the labels of `{}` take values {lo}..={hi}, but `{}` scores {classes} classes",
                        plan.task.target, plan.task.output
                    ),
                )
                .label(plan.task.span, "this task")
                .help(format!("make `{}` produce {} logits, or check the label field", plan.task.output, hi + 1)),
            );
        }
    }
    diags
}
