//! fusec: a compiler for multimodal neural models. See ARCHITECTURE.md for the map of stages.

pub mod check;
pub mod diag;
pub mod ir;
pub mod passes;
pub mod rng;
pub mod source;
pub mod summary;
