//! Setting a run up: splitting the parameters among the plan's optimizers, building the optimizers, and the
//! initial training state (generator streams, schedules) of a fresh run.

use std::collections::HashMap;

use candle_core::Var;

use super::checkpoint::TrainState;
use super::objective::Objectives;
use super::RunError;
use crate::backend::Network;
use crate::ir::TrainPlan;
use crate::rng::SeededRng;
use crate::train::{Optimizer, Scheduler};

/// Generator streams of a run: one seed, independent streams per purpose.
pub(super) const STREAM_INIT: u64 = 1;
pub(super) const STREAM_SHUFFLE: u64 = 2;
pub(super) const STREAM_TRAIN: u64 = 3;

/// The plan's optimizers over their parameters, and the parameter names of each (for the gradient-flow check).
pub(super) struct Optimizers {
    pub list: Vec<(String, Optimizer)>,
    pub assignment: HashMap<String, Vec<String>>,
}

/// Each optimizer's name with its parameters (full name, variable), in the plan's order.
pub type ParamGroups = Vec<(String, Vec<(String, Var)>)>;

/// Each optimizer of a plan, and the names of the parameters it applies.
pub type PlanOptimizers = (Vec<(String, Optimizer)>, HashMap<String, Vec<String>>);

/// Splits trainable parameters among the plan's optimizers by glob (`passes::mode::assign_params`, shared with
/// the training graphs `fusec graph --mode` shows). An optimizer without globs takes every parameter no other
/// optimizer claims; a parameter claimed twice is an error.
pub fn assign_params(plan: &TrainPlan, net: &Network) -> Result<ParamGroups, RunError> {
    let trainable: HashMap<String, Var> = net.trainable().into_iter().collect();
    let mut names: Vec<String> = trainable.keys().cloned().collect();
    names.sort();
    let assigned = crate::passes::mode::assign_params(plan, &names).map_err(RunError::Config)?;
    Ok(assigned
        .into_iter()
        .map(|(opt, ps)| {
            let vars = ps
                .into_iter()
                .filter_map(|p| trainable.get(&p).map(|v| (p, v.clone())))
                .collect();
            (opt, vars)
        })
        .collect())
}

/// Builds the optimizers; a step naming an undeclared optimizer is an error, a parameter no optimizer takes is
/// logged as frozen.
pub(super) fn build_optimizers(
    plan: &TrainPlan,
    net: &Network,
    objectives: &Objectives,
    log: &mut dyn FnMut(&str),
) -> Result<Optimizers, RunError> {
    let assigned = assign_params(plan, net)?;
    for obj in &objectives.steps {
        if !assigned.iter().any(|(n, _)| *n == obj.optimizer) {
            return Err(RunError::Config(format!(
                "step `{}` uses optimizer `{}`, which is not declared",
                obj.step, obj.optimizer
            )));
        }
    }
    let claimed = |n: &String| {
        assigned
            .iter()
            .any(|(_, ps)| ps.iter().any(|(p, _)| p == n))
    };
    let frozen: Vec<String> = net
        .trainable()
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| !claimed(n))
        .collect();
    if !frozen.is_empty() {
        log(&format!(
            "warning: {} parameter(s) belong to no optimizer and stay frozen: {}",
            frozen.len(),
            frozen.join(", ")
        ));
    }
    let mut list = Vec::with_capacity(assigned.len());
    for (spec, (name, params)) in plan.optimizers.iter().zip(assigned.iter()) {
        list.push((name.clone(), Optimizer::new(&spec.kind, params.clone())?));
    }
    let assignment = assigned
        .iter()
        .map(|(n, ps)| (n.clone(), ps.iter().map(|(p, _)| p.clone()).collect()))
        .collect();
    Ok(Optimizers { list, assignment })
}

/// The state of a run before its first epoch.
pub(super) fn initial_state(plan: &TrainPlan, optimizers: &[(String, Optimizer)]) -> TrainState {
    TrainState {
        epoch: 0,
        global_step: 0,
        rng_shuffle: SeededRng::stream(plan.seed, STREAM_SHUFFLE).state(),
        rng_train: SeededRng::stream(plan.seed, STREAM_TRAIN).state(),
        schedulers: optimizers
            .iter()
            .map(|(_, o)| Scheduler::new(&plan.schedule, o.lr(), plan.epochs, plan.select.maximize))
            .collect(),
        optimizer_steps: Default::default(),
        best_epoch: None,
        best_value: None,
        bad_epochs: 0,
        history: Vec::new(),
        train_seconds: 0.0,
    }
}

/// The optimizers of a plan over a network, without logging: what benchmarks and tools need to run training
/// steps outside a run.
pub fn plan_optimizers(
    plan: &TrainPlan,
    net: &Network,
    objectives: &Objectives,
) -> Result<PlanOptimizers, RunError> {
    let o = build_optimizers(plan, net, objectives, &mut |_| {})?;
    Ok((o.list, o.assignment))
}
