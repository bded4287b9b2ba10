//! The single integration-test binary: one module per area, all talking in .fuse text in and text out.

mod check;
mod corpus;
mod diagnostics;
mod fuzz;
mod lower;
mod summary;
mod syntax;
