//! The single integration-test binary: one module per area, all talking in .fuse text in and text out.

mod lower;
mod syntax;
