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
    detect_layout, mult_label_kind, read_lmf, read_mult, ArrayData, LabelKind, Release,
    ReleaseProblem, SplitArrays, EMOTIONS,
};
pub use unpickle::{read_pickle, PickleError, PickleErrorKind};
pub use value::{fortran_to_c, Dtype, NdArray, Value};

use crate::diag::{Diagnostic, Diagnostics};
use crate::source::Span;

/// Reads a release file's bytes in one step: unpickles, detects the layout (MulT or LMF), picks MulT's label
/// kind from the labels' shape unless `labels` is given, and reads it. Every problem becomes a diagnostic that
/// names `file` and, when given, is labelled at `span` (the .fuse text that named the file).
pub fn load_release(
    bytes: &[u8],
    file: &str,
    labels: Option<LabelKind>,
    span: Option<Span>,
) -> Result<Release, Diagnostics> {
    let label = |d: Diagnostic| match span {
        Some(s) => d.label(s, format!("reading `{file}`")),
        None => d,
    };
    let value = read_pickle(bytes).map_err(|e| label(e.to_diagnostic(file)))?;
    let read = match detect_layout(&value) {
        Some("lmf") => read_lmf(&value),
        Some(_) => read_mult(&value, labels.unwrap_or_else(|| mult_label_kind(&value))),
        None => {
            let keys = value.key_reprs().join(", ");
            let d = Diagnostic::error(
                "fusec::data::pickle::layout",
                format!("`{file}` is not a MulT or LMF release (its top-level keys: {keys})"),
            )
            .help("MulT: {'train'|'valid'|'test': {'text', 'audio', 'vision', 'labels'}}; LMF: data[emotion][split][key]");
            return Err(label(d).into());
        }
    };
    read.map_err(|problems| {
        let diags = problems.iter().map(|p| match span {
            Some(s) => p.to_diagnostic(s),
            None => p.to_diagnostic_unlabelled(),
        });
        Diagnostics(diags.map(|d| d.note(format!("in `{file}`"))).collect())
    })
}

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
