//! Running a trained model on new inputs ([`predict`]) and writing what it computed ([`write_predictions`]).
//! The input file (safetensors or .npz) holds one tensor per model input, named like the input, examples on the
//! first axis; the run's training-split standardization is applied; every model output is returned (and written
//! as safetensors, .npz, or CSV with one row per example and, for a classification task, the predicted class).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use super::prepare::{compile_recorded, open_run};
use super::{Error, Reporter};
use crate::diag::Diagnostic;
use crate::ir::TaskKind;
use crate::run::{load_standardization, Checkpoint, RunError};

/// Which run, and the inputs to run it on.
#[derive(Clone, Debug)]
pub struct PredictRequest {
    /// The .fuse file the run was trained from.
    pub file: PathBuf,
    pub overrides: Vec<(String, String)>,
    /// The run directory (its selected checkpoint and standardization).
    pub run_dir: PathBuf,
    /// A .safetensors or .npz file with one tensor per model input (labels may be left out).
    pub input: PathBuf,
    pub device: Device,
}

/// Every output of the model for every example of the input file.
pub struct Predictions {
    /// (output name, f32 tensor with examples on the first axis), in the model's output order.
    pub outputs: Vec<(String, Tensor)>,
    /// The output of a classification task, which the CSV gives a predicted-class column.
    pub classify: Option<String>,
    /// The names of the task's classes (the run's record), which that column then holds instead of indices.
    pub class_names: Option<Vec<String>>,
}

impl Predictions {
    /// Number of examples.
    pub fn len(&self) -> Result<usize, Error> {
        Ok(self
            .outputs
            .first()
            .map(|(_, t)| t.dim(0))
            .transpose()?
            .unwrap_or(0))
    }

    pub fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.len()? == 0)
    }
}

fn read_inputs(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>, RunError> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let read = |e: candle_core::Error| RunError::Io(format!("cannot read {}: {e}", path.display()));
    let pairs: Vec<(String, Tensor)> = match ext {
        "safetensors" => candle_core::safetensors::load(path, device)
            .map_err(read)?
            .into_iter()
            .collect(),
        "npz" => {
            // candle inflates whole archives: the sizes they declare are checked first.
            crate::data::check_npz_sizes(path)
                .map_err(|m| RunError::Io(format!("cannot read {}: {m}", path.display())))?;
            Tensor::read_npz(path).map_err(read)?
        }
        other => {
            return Err(RunError::Io(format!(
                "{}: unsupported input format `.{other}`; use .safetensors or .npz",
                path.display()
            )))
        }
    };
    Ok(pairs.into_iter().collect())
}

/// Runs the run's selected checkpoint on the inputs of `req.input`.
pub fn predict(req: &PredictRequest, rep: &mut dyn Reporter) -> Result<Predictions, Error> {
    let path = req.file.to_string_lossy().to_string();
    let (record, sources, overrides) = open_run(&req.run_dir, &req.file, &req.overrides)?;
    let compiled = compile_recorded(&record, &sources, &overrides, rep)?;
    let plan = compiled.program.train.clone();
    let index = plan
        .as_ref()
        .and_then(|p| {
            compiled
                .program
                .models
                .iter()
                .position(|m| m.name == p.model)
        })
        .unwrap_or(0);
    let Some(model) = compiled.program.models.get(index) else {
        let d = Diagnostic::error(
            "fusec::predict::no_model",
            format!("`{path}` declares no model"),
        );
        return Err(Error::User {
            diagnostics: d.into(),
            sources: compiled.program.sources.clone(),
        });
    };
    let device = &req.device;
    let net =
        Checkpoint::restore_network(&req.run_dir, false, model, &compiled.shapes[index], device)?;
    let mut inputs = read_inputs(&req.input, device)?;
    let target = plan.as_ref().map(|p| p.task.target.clone());
    let shapes = &compiled.shapes[index];
    let shown = req.input.display().to_string();
    crate::run::check_inputs(model, shapes, &inputs, target.as_deref(), &shown)?;
    check_prediction_memory(model, shapes, &inputs)?;
    let stats = load_standardization(&req.run_dir)?;
    if let Some(missing) = record.standardized.iter().find(|f| !stats.contains_key(*f)) {
        return Err(Error::Run(RunError::Io(format!(
            "{}: the statistics of `{missing}` are missing, but the run standardized it; without them the \
             predictions would be made on unstandardized inputs",
            req.run_dir.join("standardization.safetensors").display()
        ))));
    }
    for input in &model.inputs {
        match inputs.get(&input.name) {
            Some(t) => {
                if let Some((mean, std)) = stats.get(&input.name) {
                    let m = Tensor::new(mean.as_slice(), device)?;
                    let s = Tensor::new(std.as_slice(), device)?;
                    let x = t
                        .to_dtype(DType::F32)?
                        .broadcast_sub(&m)?
                        .broadcast_div(&s)?;
                    inputs.insert(input.name.clone(), x);
                }
            }
            None if Some(&input.name) == target.as_ref() => {
                // Predictions need no labels; a dummy target keeps losses computable.
                let n = inputs
                    .values()
                    .next()
                    .map(|t| t.dim(0))
                    .transpose()?
                    .unwrap_or(0);
                let mut dims = vec![n];
                for d in input.dims.iter().skip(1) {
                    dims.push(match d {
                        crate::ir::DimExpr::Const(c) => *c as usize,
                        _ => 1,
                    });
                }
                inputs.insert(
                    input.name.clone(),
                    Tensor::zeros(dims, input.dtype_candle(), device)?,
                );
            }
            None => {
                return Err(Error::Run(RunError::Config(format!(
                    "{} has no tensor named `{}` (a model input)",
                    req.input.display(),
                    input.name
                ))))
            }
        }
    }
    // The prediction graph: only what the outputs need (no losses, decoders or discriminators).
    let targets = crate::passes::mode::predict_targets(model);
    let infer = crate::backend::infer::InferPlan::new(&net, &targets);
    let out = net.infer(&infer, &inputs)?;
    let mut outputs: Vec<(String, Tensor)> = Vec::new();
    for o in &model.outputs {
        outputs.push((o.name.clone(), out.get(o.value)?.to_dtype(DType::F32)?));
    }
    let classify = plan
        .as_ref()
        .filter(|p| p.task.kind == TaskKind::Classification)
        .map(|p| p.task.output.clone());
    let class_names = classify
        .as_ref()
        .and(target.as_ref())
        .and_then(|t| record.class_names.get(t))
        .cloned();
    check_class_names(
        &outputs,
        classify.as_deref(),
        class_names.as_deref(),
        &req.run_dir,
    )?;
    Ok(Predictions {
        outputs,
        classify,
        class_names,
    })
}

/// The recorded class names must name every score of the classified output (a damaged record would otherwise
/// name predictions wrongly).
fn check_class_names(
    outputs: &[(String, Tensor)],
    classify: Option<&str>,
    names: Option<&[String]>,
    run_dir: &Path,
) -> Result<(), RunError> {
    let (Some(output), Some(names)) = (classify, names) else {
        return Ok(());
    };
    let width = outputs
        .iter()
        .find(|(n, _)| n == output)
        .map(|(_, t)| t.dims().last().copied().unwrap_or(0));
    match width {
        Some(w) if w != names.len() => Err(RunError::Io(format!(
            "{}: the run records {} class names, but `{output}` scores {w} classes; the record is damaged",
            run_dir.join(crate::run::CONFIG_FILE).display(),
            names.len()
        ))),
        _ => Ok(()),
    }
}

/// The whole input runs as one batch: refused when its activations would not fit the memory budget.
fn check_prediction_memory(
    model: &crate::ir::Model,
    shapes: &crate::check::Shapes,
    inputs: &HashMap<String, Tensor>,
) -> Result<(), RunError> {
    let rows = inputs
        .values()
        .next()
        .map(|t| t.dim(0))
        .transpose()?
        .unwrap_or(1);
    let estimate =
        crate::summary::memory::inference_memory(model, shapes, rows as i64, &HashMap::new());
    let limit = crate::guarded_read::max_memory();
    match crate::summary::memory::memory_error(&estimate, limit, "predicting") {
        None => Ok(()),
        Some(d) => Err(RunError::Config(format!(
            "{}; {}",
            d.message,
            d.notes.join("; ")
        ))),
    }
}

/// Writes predictions to `path` (.safetensors, .npz or .csv) and returns the number of examples.
pub fn write_predictions(p: &Predictions, path: &Path) -> Result<usize, Error> {
    Ok(write_outputs(
        path,
        &p.outputs,
        p.classify.as_deref(),
        p.class_names.as_deref(),
    )?)
}

fn write_outputs(
    path: &Path,
    results: &[(String, Tensor)],
    classify: Option<&str>,
    class_names: Option<&[String]>,
) -> Result<usize, RunError> {
    let n = results
        .first()
        .map(|(_, t)| t.dim(0))
        .transpose()?
        .unwrap_or(0);
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "safetensors" => {
            let map: HashMap<String, Tensor> = results.iter().cloned().collect();
            crate::run::save_tensors(&map, path)?;
        }
        "npz" => {
            let pairs: Vec<(&str, &Tensor)> =
                results.iter().map(|(k, t)| (k.as_str(), t)).collect();
            Tensor::write_npz(&pairs, path)?;
        }
        "csv" => {
            let mut header = Vec::new();
            let mut columns: Vec<Vec<String>> = Vec::new();
            for (name, t) in results {
                let flat = t.flatten_from(1)?;
                let w = flat.dim(1)?;
                let rows = flat.to_vec2::<f32>()?;
                if Some(name.as_str()) == classify {
                    header.push(format!("{name}.class"));
                    let class = |r: &[f32]| {
                        let k = argmax(r);
                        class_names
                            .and_then(|names| names.get(k))
                            .map_or_else(|| k.to_string(), |n| csv_cell(n))
                    };
                    columns.push(rows.iter().map(|r| class(r)).collect());
                }
                for j in 0..w {
                    header.push(format!("{name}.{j}"));
                    columns.push(rows.iter().map(|r| format!("{}", r[j])).collect());
                }
            }
            let mut s = header.join(",") + "\n";
            for i in 0..n {
                let row: Vec<&str> = columns.iter().map(|c| c[i].as_str()).collect();
                s.push_str(&row.join(","));
                s.push('\n');
            }
            crate::run::write_atomic(path, s.as_bytes())?;
        }
        other => {
            return Err(RunError::Io(format!(
                "{}: unsupported output format `.{other}`; use .safetensors, .npz or .csv",
                path.display()
            )))
        }
    }
    Ok(n)
}

/// A class name as a CSV cell: quoted when it holds a comma, a quote or a line break.
fn csv_cell(name: &str) -> String {
    if name.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", name.replace('"', "\"\""))
    } else {
        name.to_string()
    }
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, v)| {
            if *v > bv {
                (i, *v)
            } else {
                (bi, bv)
            }
        })
        .0
}
