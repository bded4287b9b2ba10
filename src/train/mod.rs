//! Training infrastructure the loop is built from: optimizers, gradient clipping, learning-rate schedules and
//! evaluation metrics (classification, MulT's binary-per-label IEMOCAP, regression, BLEU and chrF).

mod adam_host;
pub mod bleu;
pub mod clip;
mod grads;
pub mod metrics;
pub mod optim;
pub mod schedule;

pub use clip::{clip_grad_norm, missing_or_zero_grads, non_finite_grads};
pub use grads::Gradients;
pub use metrics::{compute_metrics, confusion_matrix};
pub use optim::Optimizer;
pub use schedule::Scheduler;
