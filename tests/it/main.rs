//! The single integration-test binary: one module per area, all talking in .fuse text in and text out.

mod bleu;
mod check;
mod cli;
mod corpus;
mod data;
mod diagnostics;
mod emotion;
mod fuzz;
mod lower;
mod metrics;
mod nn_activation;
mod nn_attention;
mod nn_bench;
mod nn_conv;
mod nn_fusion;
mod nn_ganfusion;
mod nn_loss;
mod nn_norm;
mod nn_recurrent;
mod nn_util;
mod optim;
mod pickle;
mod summary;
mod syntax;
mod train;
