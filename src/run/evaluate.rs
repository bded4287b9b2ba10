//! Evaluation of a network on one split: mean losses (weighted by batch size), the task's outputs collected over
//! the split, and the plan's metrics computed from them.

use std::collections::{BTreeMap, HashMap};

use candle_core::{DType, Tensor};

use super::objective::Objectives;
use super::RunError;
use crate::backend::infer::InferPlan;
use crate::backend::Network;
use crate::data::{BatchIndex, Dataset, ResidentData};
use crate::ir::{TaskKind, TrainPlan};

/// Evaluation batches hold this many examples; results do not depend on it beyond float rounding.
const EVAL_BATCH: usize = 256;

#[derive(Clone, Debug, Default)]
pub struct Evaluation {
    /// `loss` (the last step's objective) and `loss.<name>` for every reported loss, then the plan's metrics.
    pub metrics: Vec<(String, f64)>,
    /// The task output over the split, row-major, and its shape `[n, ..]`.
    pub outputs: Vec<f32>,
    pub output_shape: Vec<usize>,
    /// The task target over the split, row-major.
    pub targets: Vec<f64>,
}

impl Evaluation {
    /// The confusion matrix (rows are true classes) for a classification output `[n, C]`.
    pub fn confusion(&self) -> Option<Vec<Vec<usize>>> {
        let (&n, &c) = (self.output_shape.first()?, self.output_shape.get(1)?);
        if self.output_shape.len() != 2 || self.targets.len() != n || c == 0 {
            return None;
        }
        let preds: Vec<usize> = self
            .outputs
            .chunks(c)
            .map(crate::train::metrics::argmax)
            .collect();
        let labels: Vec<usize> = self
            .targets
            .iter()
            .map(|t| (*t).max(0.0) as usize)
            .collect();
        Some(crate::train::confusion_matrix(&preds, &labels, c))
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }
}

/// The model inputs of a batch, gathered from the data set on the host and copied to the network's device (for
/// one-off batches; loops gather from [`ResidentData`]).
pub fn batch_inputs(
    net: &Network,
    data: &Dataset,
    idx: &[usize],
) -> Result<HashMap<String, Tensor>, RunError> {
    let mut inputs = HashMap::new();
    for input in &net.model.inputs {
        let t = data.gather(&input.name, idx, &net.device)?;
        inputs.insert(input.name.clone(), t);
    }
    Ok(inputs)
}

/// Uploads the model inputs of `data` to the network's device, once for every batch that follows.
pub fn upload_inputs(net: &Network, data: &Dataset) -> Result<ResidentData, RunError> {
    let names = net.model.inputs.iter().map(|i| i.name.as_str());
    Ok(ResidentData::upload(data, names, &net.device)?)
}

/// The model inputs of a batch, gathered on the device from the uploaded data.
pub fn resident_inputs(
    net: &Network,
    data: &ResidentData,
    batch: &BatchIndex<'_>,
) -> Result<HashMap<String, Tensor>, RunError> {
    let mut inputs = HashMap::new();
    for input in &net.model.inputs {
        inputs.insert(input.name.clone(), data.gather(&input.name, batch)?);
    }
    Ok(inputs)
}

/// [`evaluate_resident`] after uploading `data`'s model inputs (one copy to the device for the whole split).
pub fn evaluate(
    net: &Network,
    data: &Dataset,
    indices: &[usize],
    plan: &TrainPlan,
    objectives: &Objectives,
) -> Result<Evaluation, RunError> {
    let resident = upload_inputs(net, data)?;
    evaluate_resident(net, data, &resident, indices, plan, objectives)
}

/// Evaluates `net` on the examples `indices`, batches gathered on the device from `resident`.
pub fn evaluate_resident(
    net: &Network,
    data: &Dataset,
    resident: &ResidentData,
    indices: &[usize],
    plan: &TrainPlan,
    objectives: &Objectives,
) -> Result<Evaluation, RunError> {
    let output = net.model.output_value(&plan.task.output).ok_or_else(|| {
        RunError::Config(format!(
            "the task output `{}` is not an output of the model",
            plan.task.output
        ))
    })?;
    let losses = objectives.reported_losses(&net.model);
    let last = objectives
        .steps
        .last()
        .ok_or_else(|| RunError::Config("no steps".into()))?;
    let translation = plan.task.kind == TaskKind::Translation;
    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    let mut outputs: Vec<f32> = Vec::new();
    let mut row_shape: Vec<usize> = Vec::new();
    let mut targets: Vec<f64> = Vec::new();
    let mut target_shape: Vec<usize> = Vec::new();
    // The evaluation graph (`passes::mode`): the task output and the losses the metrics report, nothing else.
    let wanted = crate::passes::mode::eval_targets(&net.model, Some(plan));
    let plan_nodes = InferPlan::new(net, &wanted);
    let order = resident.upload_order(indices.to_vec())?;
    for (k, chunk) in indices.chunks(EVAL_BATCH).enumerate() {
        let inputs = resident_inputs(net, resident, &order.batch(k * EVAL_BATCH, chunk.len())?)?;
        let out = net.infer(&plan_nodes, &inputs)?;
        let w = chunk.len() as f64;
        let (_, parts) = last.eval(&out)?;
        let objective: f64 = parts
            .iter()
            .zip(&last.terms)
            .map(|((_, v), (_, wt, _))| v * wt)
            .sum();
        *sums.entry("loss".into()).or_default() += objective * w;
        for (name, v) in &losses {
            let x = out.get(*v)?.to_dtype(DType::F32)?.to_scalar::<f32>()?;
            *sums.entry(format!("loss.{name}")).or_default() += f64::from(x) * w;
        }
        if translation {
            // Logits of different batches differ in length; translation metrics decode instead (below).
            continue;
        }
        let y = out.get(output)?.to_dtype(DType::F32)?;
        row_shape = y.dims().get(1..).map(|d| d.to_vec()).unwrap_or_default();
        outputs.extend(y.flatten_all()?.to_vec1::<f32>()?);
        let t = inputs.get(&plan.task.target).ok_or_else(|| {
            RunError::Config(format!(
                "the task target `{}` is not an input of the model",
                plan.task.target
            ))
        })?;
        target_shape = t.dims().get(1..).map(|d| d.to_vec()).unwrap_or_default();
        targets.extend(t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?);
    }
    let n = indices.len().max(1) as f64;
    let mut metrics: Vec<(String, f64)> = Vec::new();
    if let Some(v) = sums.remove("loss") {
        metrics.push(("loss".into(), v / n));
    }
    metrics.extend(sums.into_iter().map(|(k, v)| (k, v / n)));
    let mut output_shape = vec![indices.len()];
    output_shape.extend(&row_shape);
    let mut full_target_shape = vec![indices.len()];
    full_target_shape.extend(&target_shape);
    if translation {
        metrics.extend(super::translation::metrics(net, data, indices, plan, &[1])?);
        return Ok(Evaluation {
            metrics,
            outputs,
            output_shape: Vec::new(),
            targets: Vec::new(),
        });
    }
    // Named labels (IEMOCAP's emotions) give per-label metrics such as `happy.acc`.
    let label_names = data.label_names.get(&plan.task.target).map(Vec::as_slice);
    let task_metrics = crate::train::metrics::compute_metrics_with_labels(
        &plan.task.kind,
        &plan.metrics,
        label_names,
        &outputs,
        &output_shape,
        &targets,
        &full_target_shape,
    )
    .map_err(RunError::Config)?;
    metrics.extend(task_metrics);
    Ok(Evaluation {
        metrics,
        outputs,
        output_shape,
        targets,
    })
}
