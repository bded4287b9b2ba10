//! fusec: a compiler for multimodal neural models. See ARCHITECTURE.md for the map of stages.

pub mod backend;
pub mod check;
pub mod data;
pub mod diag;
pub mod ir;
pub mod nn;
pub mod rng;
pub mod run;
pub mod source;
pub mod train;
