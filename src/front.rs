//! The single entry of the front end: parse and lower (`lower`), check and resolve sizes (`check`), and
//! optionally run the pass pipeline (`passes`). The CLI and the back end's drivers call [`compile`]; tests call
//! [`compile_source`] with one in-memory file.

use crate::check::{self, Shapes};
use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::Program;
use crate::source::{Loader, MemoryLoader, SourceMap};

/// A program that checked: its models (size attributes folded), one `Shapes` per model (index-aligned with
/// `program.models`) and the warnings of every stage.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub program: Program,
    pub shapes: Vec<Shapes>,
    pub warnings: Diagnostics,
}

/// Every error of the first stage that failed (warnings of that stage included), with the sources they point into.
#[derive(Clone, Debug)]
pub struct Failed {
    pub diagnostics: Diagnostics,
    pub sources: SourceMap,
}

/// Compiles `path` (read through `loader`) with `--set` overrides. With `optimize`, the pass pipeline runs on
/// every model and the shapes are recomputed for what remains.
pub fn compile(
    loader: &dyn Loader,
    path: &str,
    overrides: &[(String, String)],
    optimize: bool,
) -> Result<Compiled, Failed> {
    let (mut program, mut warnings) = crate::lower::lower_program(loader, path, overrides)
        .map_err(|(diagnostics, sources)| Failed {
            diagnostics,
            sources,
        })?;
    let (mut shapes, diags) = match check::check_and_resolve(&mut program) {
        Ok(checked) => checked,
        Err(diags) => {
            warnings.extend(diags);
            return Err(Failed {
                diagnostics: warnings,
                sources: program.sources,
            });
        }
    };
    warnings.extend(diags);
    if optimize {
        for (model, s) in program.models.iter_mut().zip(&shapes) {
            crate::passes::optimize(model, s, &mut |_, _| {});
        }
        // Passes keep the types of surviving values; re-checking drops the entries of removed ones. A pass that
        // broke a checked model is a bug in fusec: its errors are reported as such.
        let rechecked: Result<Vec<Shapes>, Diagnostics> =
            program.models.iter().map(check::check_model).collect();
        shapes = rechecked.map_err(|diagnostics| Failed {
            diagnostics: bug_in_passes(diagnostics),
            sources: program.sources.clone(),
        })?;
    }
    Ok(Compiled {
        program,
        shapes,
        warnings,
    })
}

/// Errors after the pass pipeline: the program checked before it, so a pass broke it.
fn bug_in_passes(errors: Diagnostics) -> Diagnostics {
    let mut out = Diagnostics::default();
    out.push(Diagnostic::error(
        "fusec::internal",
        "the optimized program no longer checks (a bug in a pass); compile without optimizing to go on",
    ));
    out.extend(errors);
    out
}

/// Compiles one in-memory file named `name` (imports of other user files fail; `std.*` works).
pub fn compile_source(
    name: &str,
    text: &str,
    overrides: &[(String, String)],
    optimize: bool,
) -> Result<Compiled, Failed> {
    let loader = MemoryLoader::new().with(name, text);
    compile(&loader, name, overrides, optimize)
}
