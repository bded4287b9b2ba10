//! `precision = "bf16"` in a train plan -> `ir::Precision`: the dtype the forward and backward passes compute
//! in. Master weights and optimizer state stay f32 whatever it says (src/backend/precision.rs).

use crate::diag::Diagnostic;
use crate::ir::Precision;
use crate::source::Span;

use super::super::suggest;
use super::super::value::Val;
use super::Lowering;

impl Lowering<'_> {
    /// The plan's precision (`"f32"` unless set), with `--set precision=bf16` taking precedence.
    pub(super) fn precision(&mut self) -> Option<Precision> {
        let written = match self.get("precision") {
            Some(e) => {
                let name = super::super::statics::string(e, self.diags)?;
                Some(parse(&name, e.span, false, self.diags)?)
            }
            None => None,
        };
        let set = match self.ov.take("precision", self.diags) {
            Some((Val::Str(s), at)) => Some(parse(&s, at, true, self.diags)?),
            Some((other, at)) => {
                self.diags.push(
                    Diagnostic::error(
                        "fusec::set::value",
                        format!(
                            "`--set precision` expects a precision name, found {}",
                            other.kind()
                        ),
                    )
                    .label(at, "this value")
                    .help("pass `--set precision=f32` or `--set precision=bf16`"),
                );
                return None;
            }
            None => None,
        };
        Some(set.or(written).unwrap_or_default())
    }
}

fn parse(
    name: &str,
    at: Span,
    from_set: bool,
    diags: &mut crate::diag::Diagnostics,
) -> Option<Precision> {
    if let Some(p) = Precision::parse(name) {
        return Some(p);
    }
    let code = if from_set {
        "fusec::set::value"
    } else {
        "fusec::train::precision"
    };
    let d =
        Diagnostic::error(code, format!("unknown precision `{name}`")).label(at, "not a precision");
    let names: Vec<String> = Precision::NAMES.iter().map(|s| s.to_string()).collect();
    diags.push(suggest(d, name, &names, "precisions"));
    None
}
