//! Reading the public multimodal feature releases (MulT's and LMF's IEMOCAP / CMU-MOSI / CMU-MOSEI pickles) as
//! users hold them: a restricted unpickler that only understands plain values and NumPy arrays, and readers
//! that turn the known layouts into named float/integer arrays per split, with problems reported as data.

mod numpy;
mod releases;
pub mod summary;
mod text0;
mod unpickle;
mod value;

pub use releases::{
    detect_layout, read_lmf, read_mult, ArrayData, LabelKind, Release, ReleaseProblem, SplitArrays,
    EMOTIONS,
};
pub use unpickle::{read_pickle, PickleError, PickleErrorKind};
pub use value::{fortran_to_c, Dtype, NdArray, Value};

use crate::diag::Diagnostic;

impl PickleError {
    /// The stable diagnostic code of this kind of failure.
    pub fn code(&self) -> &'static str {
        match self.kind {
            PickleErrorKind::Truncated => "fusec::data::pickle::truncated",
            PickleErrorKind::BadOpcode => "fusec::data::pickle::bad_opcode",
            PickleErrorKind::Refused => "fusec::data::pickle::refused",
            PickleErrorKind::Malformed => "fusec::data::pickle::malformed",
        }
    }

    /// A diagnostic naming `file`; the caller labels it with the .fuse span that named the file.
    pub fn to_diagnostic(&self, file: &str) -> Diagnostic {
        let help = match self.kind {
            PickleErrorKind::Truncated => "the file may be an incomplete download; compare its size with the source's",
            PickleErrorKind::Refused => {
                "fusec reads pickles of NumPy arrays in dicts (the MulT and LMF releases); re-save other objects \
                 as arrays"
            }
            _ => "the file is not a pickle fusec can read (is it a pickle of NumPy arrays?)",
        };
        Diagnostic::error(
            self.code(),
            format!("cannot read pickle `{file}`: {}", self.message),
        )
        .note(format!("at byte {} of `{file}`", self.offset))
        .help(help)
    }
}
