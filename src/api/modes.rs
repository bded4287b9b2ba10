//! `fusec graph --mode` and `fusec summary [--mode]` over a compiled file: a mode's graph (`passes::mode`) as
//! text or DOT, and the summary table at the data's lengths with the FLOPs of every mode.

use super::Error;
use crate::diag::{did_you_mean, Diagnostic};
use crate::front::Compiled;
use crate::passes::mode::{mode_graph, specialize, GraphMode, ModeGraph};
use crate::passes::mode_print::{mode_dot, print_mode_graph};
use crate::summary::modes::{bind_dims, data_dims, env_of, mode_flops, render_mode_flops};
use crate::summary::summarize;

/// Parses a `--mode` value into a diagnostic-carrying error.
pub fn parse_mode(s: &str) -> Result<GraphMode, Error> {
    GraphMode::parse(s).map_err(|m| {
        let d = Diagnostic::error("fusec::cli::mode", m);
        let d = match did_you_mean(s, ["train", "eval", "predict"]) {
            Some(t) => d.help(format!("did you mean `{t}`?")),
            None => d.help("for example `--mode predict` or `--mode train:1`"),
        };
        Error::user(d)
    })
}

/// The graph of `mode` for model `index` of `compiled`.
pub fn graph_of_mode(
    compiled: &Compiled,
    index: usize,
    mode: &GraphMode,
) -> Result<ModeGraph, Error> {
    let (model, shapes) = (&compiled.program.models[index], &compiled.shapes[index]);
    let plan = compiled
        .program
        .train
        .as_ref()
        .filter(|p| p.model == model.name);
    mode_graph(model, shapes, plan, mode).map_err(|m| {
        Error::user(Diagnostic::error("fusec::cli::mode", m).help(
            "`--mode train:STEP` takes a step of the file's `train { }` section (its name or number)",
        ))
    })
}

/// A mode's graph as the text dump, or as DOT.
pub fn render_mode_graph(
    compiled: &Compiled,
    index: usize,
    mode: &GraphMode,
    dot: bool,
) -> Result<String, Error> {
    let g = graph_of_mode(compiled, index, mode)?;
    let (model, shapes) = (&compiled.program.models[index], &compiled.shapes[index]);
    Ok(if dot {
        mode_dot(model, shapes, &g)
    } else {
        print_mode_graph(model, shapes, &g)
    })
}

/// `fusec summary`: the table of the whole model (or of `mode`'s graph), FLOPs at the data's declared lengths
/// (`dims` override them); without a mode, one line of FLOPs per mode after the table.
pub fn summary_text(
    compiled: &Compiled,
    index: usize,
    mode: Option<&GraphMode>,
    dims: &[(String, i64)],
) -> Result<String, Error> {
    let (model, shapes) = (&compiled.program.models[index], &compiled.shapes[index]);
    let bound = bind_dims(data_dims(&compiled.program, model, shapes), dims);
    let env = env_of(&bound);
    let mut out = match mode {
        Some(mode) => {
            let g = graph_of_mode(compiled, index, mode)?;
            let mut m = specialize(model, &g);
            m.name = format!("{} (mode {mode})", model.name);
            let mut s = summarize(&m, shapes, &env);
            s.bound = bound;
            s.render()
        }
        None => {
            let mut s = summarize(model, shapes, &env);
            s.bound = bound;
            s.render()
        }
    };
    if mode.is_none() {
        let plan = compiled
            .program
            .train
            .as_ref()
            .filter(|p| p.model == model.name);
        // A plan the training graphs cannot be built from (a bad glob) is reported by `check` and `run`; the
        // table stands without the mode lines then.
        if let Ok(modes) = mode_flops(model, shapes, plan, &env) {
            out.push_str(&render_mode_flops(&modes));
        }
    }
    Ok(out)
}
