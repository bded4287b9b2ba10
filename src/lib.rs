//! fusec: a compiler for multimodal neural models. See ARCHITECTURE.md for the map of stages.

pub mod api;
pub mod backend;
pub mod bench;
pub mod check;
pub mod cli;
pub mod codes;
pub mod data;
pub mod diag;
pub mod export;
pub mod front;
pub mod guarded_read;
pub mod ir;
pub mod lower;
pub mod lsp;
pub mod nn;
pub mod ops;
pub mod passes;
pub mod plot;
pub mod rng;
pub mod run;
pub mod source;
pub mod stdlib;
pub mod summary;
pub mod sweep;
pub mod syntax;
pub mod train;
