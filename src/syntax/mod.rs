//! The surface syntax: grammar/fuse.pest bound with pest and turned into the owned AST of [`ast`]. Nothing
//! outside this module sees pest's `Rule`; the entry points are [`parse`] (a whole file) and [`parse_expr`]
//! (a lone `--set` value).

pub mod ast;
pub mod dump;
mod errors;
pub mod format;
pub(crate) mod limits;
mod parse;

pub use limits::MAX_SOURCE_BYTES;
pub use parse::{parse, parse_expr};
