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
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn step_lr_matches_pytorch() {
        // torch.optim.lr_scheduler.StepLR(opt(lr=0.1), step_size=2, gamma=0.5): 0.1, 0.1, 0.05, 0.05, 0.025
        let mut s = Scheduler::new(
            &Schedule::Step {
                every: 2,
                gamma: 0.5,
            },
            0.1,
            5,
            false,
        );
        let lrs: Vec<f64> = (0..5).map(|e| s.lr_for_epoch(e, None)).collect();
        for (a, b) in lrs.iter().zip([0.1, 0.1, 0.05, 0.05, 0.025]) {
            close(*a, b);
        }
    }

    #[test]
    fn cosine_matches_pytorch() {
        // CosineAnnealingLR(T_max=4, eta_min=0.01) from 0.1: 0.1, 0.08681980515339464, 0.055,
        // 0.023180194846605363, then eta_min at epoch 4.
        let mut s = Scheduler::new(&Schedule::Cosine { min_lr: 0.01 }, 0.1, 4, false);
        let expected = [0.1, 0.08681980515339464, 0.055, 0.023180194846605363, 0.01];
        for (e, want) in expected.iter().enumerate() {
            close(s.lr_for_epoch(e, None), *want);
        }
    }

    #[test]
    fn plateau_min_mode_matches_pytorch() {
        // ReduceLROnPlateau(mode='min', factor=0.5, patience=1) from lr 1.0, losses 1.0, 0.99995 (not better than
        // 1.0 by 1e-4 relative), 0.99991 (still not: needs < 0.9999), 0.5, 0.6, 0.7:
        // bad counts 0,1,2 -> reduce to 0.5 after the third, then 0, 1, 2 -> reduce to 0.25.
        let mut s = Scheduler::new(
            &Schedule::Plateau {
                factor: 0.5,
                patience: 1,
            },
            1.0,
            10,
            false,
        );
        close(s.lr_for_epoch(0, None), 1.0);
        let metrics = [1.0, 0.99995, 0.99991, 0.5, 0.6, 0.7];
        let expected = [1.0, 1.0, 0.5, 0.5, 0.5, 0.25];
        for (i, (m, want)) in metrics.iter().zip(expected).enumerate() {
            close(s.lr_for_epoch(i + 1, Some(*m)), want);
        }
    }

    #[test]
    fn plateau_max_mode_and_resume() {
        let mut s = Scheduler::new(
            &Schedule::Plateau {
                factor: 0.1,
                patience: 0,
            },
            1e-3,
            10,
            true,
        );
        close(s.lr_for_epoch(1, Some(0.5)), 1e-3);
        close(s.lr_for_epoch(2, Some(0.6)), 1e-3);
        let saved = serde_json::to_string(&s).unwrap();
        let mut resumed: Scheduler = serde_json::from_str(&saved).unwrap();
        assert_eq!(resumed, s);
        // 0.6 again is not an improvement: with patience 0 the rate drops at once.
        close(resumed.lr_for_epoch(3, Some(0.6)), 1e-4);
        close(s.lr_for_epoch(3, Some(0.6)), 1e-4);
    }
}
