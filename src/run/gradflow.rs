//! The gradient-flow check: one batch forward and backward through every step before training starts (and for
//! `fusec check --grad`). A parameter that receives no gradient, an all-zero one, or a non-finite one is
//! reported by name, so a wiring mistake (a detached branch, a frozen layer) is found before hours of training.

use std::collections::{HashMap, HashSet};

use candle_core::Tensor;

use super::objective::Objectives;
use crate::backend::{Mode, Network};
use crate::ir::NodeId;
use crate::rng::SeededRng;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GradIssue {
    /// No step's objective depends on the parameter.
    NoGradient,
    /// The gradient exists but is exactly zero everywhere (a dead ReLU, a zero mask).
    Zero,
    /// NaN or infinity in the gradient.
    NonFinite,
}

#[derive(Clone, Debug)]
pub struct GradProblem {
    pub param: String,
    pub issue: GradIssue,
    /// The node that uses the parameter, for the diagnostic's span.
    pub node: Option<NodeId>,
}

/// Runs each step once on `inputs` and checks the gradients its optimizer would apply. `assignment` maps an
/// optimizer name to its parameter names. Buffers (batch-norm statistics) are restored afterwards, and the
/// generator is a copy, so the check leaves no trace on the run.
pub fn gradient_flow(
    net: &Network,
    objectives: &Objectives,
    assignment: &HashMap<String, Vec<String>>,
    inputs: &HashMap<String, Tensor>,
    rng: &SeededRng,
) -> candle_core::Result<Vec<GradProblem>> {
    let saved: Vec<(String, Tensor)> = net
        .params
        .iter()
        .map(|(k, v)| v.as_tensor().copy().map(|t| (k.clone(), t)))
        .collect::<candle_core::Result<_>>()?;
    let mut rng = rng.clone();
    let mut good: HashSet<String> = HashSet::new();
    let mut issues: HashMap<String, GradIssue> = HashMap::new();
    for obj in &objectives.steps {
        let out = net.forward(inputs, &mut Mode::Train(&mut rng))?;
        let (loss, _) = obj.eval(&out)?;
        let grads = loss.backward()?;
        for name in assignment.get(&obj.optimizer).into_iter().flatten() {
            let Some(var) = net.params.get(name) else {
                continue;
            };
            let issue = match grads.get(var.as_tensor()) {
                None => GradIssue::NoGradient,
                Some(g) => {
                    let g = g
                        .to_dtype(candle_core::DType::F32)?
                        .flatten_all()?
                        .to_vec1::<f32>()?;
                    if g.iter().any(|x| !x.is_finite()) {
                        GradIssue::NonFinite
                    } else if g.iter().all(|x| *x == 0.0) {
                        GradIssue::Zero
                    } else {
                        good.insert(name.clone());
                        continue;
                    }
                }
            };
            // A non-finite gradient is always reported; otherwise a parameter is fine if any step reaches it.
            let entry = issues.entry(name.clone()).or_insert(issue.clone());
            if issue == GradIssue::NonFinite
                || (issue == GradIssue::Zero && *entry == GradIssue::NoGradient)
            {
                *entry = issue;
            }
        }
    }
    for (name, t) in saved {
        if let Some(v) = net.params.get(&name) {
            v.set(&t)?;
        }
    }
    let mut problems: Vec<GradProblem> = issues
        .into_iter()
        .filter(|(name, issue)| *issue == GradIssue::NonFinite || !good.contains(name))
        .map(|(param, issue)| GradProblem {
            node: net.param_owner(&param),
            param,
            issue,
        })
        .collect();
    problems.sort_by(|a, b| a.param.cmp(&b.param));
    Ok(problems)
}
