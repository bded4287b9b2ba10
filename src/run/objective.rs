//! The objectives of a training plan resolved against a model: for each step, its weighted loss terms as
//! values of the graph, and the optimizer that applies its gradients.

use candle_core::{Result, Tensor};

use crate::backend::Outputs;
use crate::ir::{Model, TrainPlan, Value};

/// One step's objective: `Σ weight · value`.
#[derive(Clone, Debug)]
pub struct Objective {
    pub step: String,
    pub optimizer: String,
    pub terms: Vec<(String, f64, Value)>,
}

impl Objective {
    /// The weighted sum, and each term's value (for reports and the non-finite check).
    pub fn eval(&self, out: &Outputs) -> Result<(Tensor, Vec<(String, f64)>)> {
        let mut total: Option<Tensor> = None;
        let mut parts = Vec::with_capacity(self.terms.len());
        for (name, w, v) in &self.terms {
            // Objectives sum in f32 (under mixed precision a scalar that is not a loss may be bf16).
            let t = &out.get(*v)?.to_dtype(candle_core::DType::F32)?;
            parts.push((
                name.clone(),
                f64::from(t.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()?),
            ));
            let term = if (*w - 1.0).abs() < f64::EPSILON {
                t.clone()
            } else {
                t.affine(*w, 0.0)?
            };
            total = Some(match total {
                None => term,
                Some(acc) => acc.add(&term)?,
            });
        }
        let total = total
            .ok_or_else(|| candle_core::Error::Msg(format!("step `{}` has no terms", self.step)))?;
        Ok((total, parts))
    }
}

/// Every step of a plan, in execution order.
#[derive(Clone, Debug)]
pub struct Objectives {
    pub steps: Vec<Objective>,
}

impl Objectives {
    /// Resolves loss names; unknown names are a configuration error (the front end normally catches them).
    pub fn resolve(plan: &TrainPlan, model: &Model) -> std::result::Result<Objectives, String> {
        let mut steps = Vec::new();
        for s in &plan.steps {
            let mut terms = Vec::new();
            for t in &s.terms {
                let v = model.loss_value(&t.name).ok_or_else(|| {
                    format!(
                        "step `{}` names `{}`, which is not a loss of model `{}`",
                        s.name, t.name, model.name
                    )
                })?;
                terms.push((t.name.clone(), t.weight, v));
            }
            steps.push(Objective {
                step: s.name.clone(),
                optimizer: s.optimizer.clone(),
                terms,
            });
        }
        if steps.is_empty() {
            return Err("the training plan has no `step ... minimize ...`".into());
        }
        Ok(Objectives { steps })
    }

    /// Every named loss any step uses, and every model loss, deduplicated, in a stable order: what evaluation
    /// reports as `loss.<name>`.
    pub fn reported_losses(&self, model: &Model) -> Vec<(String, Value)> {
        let mut out: Vec<(String, Value)> = model
            .losses
            .iter()
            .map(|l| (l.name.clone(), l.value))
            .collect();
        for s in &self.steps {
            for (name, _, v) in &s.terms {
                if !out.iter().any(|(n, _)| n == name) {
                    out.push((name.clone(), *v));
                }
            }
        }
        out
    }
}
