//! Learning-rate schedules with PyTorch's semantics, stepped once per epoch: StepLR, CosineAnnealingLR and
//! ReduceLROnPlateau. The state is serde-serialisable so a resumed run continues the same schedule.

use serde::{Deserialize, Serialize};

use crate::ir::Schedule;

/// PyTorch's ReduceLROnPlateau default: an improvement must beat the best value by this relative margin.
const PLATEAU_THRESHOLD: f64 = 1e-4;
/// PyTorch's ReduceLROnPlateau `eps`: reductions smaller than this are skipped.
const PLATEAU_EPS: f64 = 1e-8;

/// A schedule with its running state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scheduler {
    rule: Rule,
    base_lr: f64,
    epochs: usize,
    maximize: bool,
    /// The rate of the most recent epoch (Plateau changes it in place).
    lr: f64,
    /// Best selection metric so far (Plateau); `None` until the first one (PyTorch starts from ±inf).
    best: Option<f64>,
    /// Epochs since the last improvement (Plateau).
    num_bad: usize,
}

/// A serialisable copy of [`Schedule`] (the IR type is not `Deserialize`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Rule {
    Constant,
    Step { every: usize, gamma: f64 },
    Cosine { min_lr: f64 },
    Plateau { factor: f64, patience: usize },
}

impl Scheduler {
    /// `epochs` is the length of the run (CosineAnnealingLR's `T_max`); `maximize` says whether the selection
    /// metric that Plateau watches is better when larger.
    pub fn new(schedule: &Schedule, base_lr: f64, epochs: usize, maximize: bool) -> Scheduler {
        let rule = match *schedule {
            Schedule::Constant => Rule::Constant,
            Schedule::Step { every, gamma } => Rule::Step { every, gamma },
            Schedule::Cosine { min_lr } => Rule::Cosine { min_lr },
            Schedule::Plateau { factor, patience } => Rule::Plateau { factor, patience },
        };
        Scheduler {
            rule,
            base_lr,
            epochs,
            maximize,
            lr: base_lr,
            best: None,
            num_bad: 0,
        }
    }

    /// The rate for 0-based `epoch`, called once per epoch before training it. `last_metric` is the selection
    /// metric of the previous epoch (`None` before the first); only Plateau reads it.
    pub fn lr_for_epoch(&mut self, epoch: usize, last_metric: Option<f64>) -> f64 {
        self.lr = match self.rule {
            Rule::Constant => self.base_lr,
            // An `every` of 0 is rejected by the front end; treat it as "never decay" rather than divide by 0.
            Rule::Step { every, gamma } if every > 0 => {
                self.base_lr * gamma.powi((epoch / every) as i32)
            }
            Rule::Step { .. } => self.base_lr,
            Rule::Cosine { min_lr } => {
                let t_max = self.epochs.max(1) as f64;
                let cos = (std::f64::consts::PI * epoch as f64 / t_max).cos();
                min_lr + (self.base_lr - min_lr) * (1.0 + cos) / 2.0
            }
            Rule::Plateau { factor, patience } => match last_metric {
                Some(m) => self.plateau_step(m, factor, patience),
                None => self.lr,
            },
        };
        self.lr
    }

    /// The rate last returned by [`Scheduler::lr_for_epoch`] (the base rate before the first call).
    pub fn current_lr(&self) -> f64 {
        self.lr
    }

    fn plateau_step(&mut self, metric: f64, factor: f64, patience: usize) -> f64 {
        if self.is_better(metric) {
            self.best = Some(metric);
            self.num_bad = 0;
        } else {
            self.num_bad += 1;
        }
        if self.num_bad > patience {
            self.num_bad = 0;
            let new_lr = self.lr * factor;
            if self.lr - new_lr > PLATEAU_EPS {
                return new_lr;
            }
        }
        self.lr
    }

    /// PyTorch's relative threshold test; NaN is never better.
    fn is_better(&self, metric: f64) -> bool {
        let Some(best) = self.best else {
            return !metric.is_nan();
        };
        if self.maximize {
            metric > best * (1.0 + PLATEAU_THRESHOLD)
        } else {
            metric < best * (1.0 - PLATEAU_THRESHOLD)
        }
    }
}

#[cfg(test)]
#[path = "tests/schedule.rs"]
mod tests;
