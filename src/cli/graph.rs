//! `fusec graph FILE [--format dot|text] [--model NAME] [--optimized] [--mode train|train:STEP|eval|predict]`:
//! the IR of one model, or of one mode of it (`passes::mode`), as the stable text dump or as Graphviz DOT
//! (render with `dot -Tsvg`).

use clap::{Args, ValueEnum};

use super::{report, Printer};
use crate::api;
use crate::ir::{dot::to_dot, print::print_model};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Text,
    Dot,
}

#[derive(Args, Debug, Clone)]
pub struct GraphArgs {
    pub file: String,
    #[arg(long, value_enum, default_value = "text")]
    pub format: GraphFormat,
    /// The model to show (default: the train plan's model, else the first).
    #[arg(long)]
    pub model: Option<String>,
    /// Show the graph after the pass pipeline (constant folding, dead-node elimination).
    #[arg(long)]
    pub optimized: bool,
    /// Show only what one mode computes: `train` (every step), `train:STEP` (a step's name or number, with
    /// the nodes its backward pass runs), `eval` (outputs and the losses metrics need) or `predict` (outputs).
    #[arg(long)]
    pub mode: Option<String>,
}

pub fn run(args: &GraphArgs, sets: &[(String, String)], json: bool) -> i32 {
    let compiled =
        match api::compile_file(&args.file, sets, args.optimized, &mut Printer::new(json)) {
            Ok(c) => c,
            Err(e) => return report(&e, json),
        };
    let i = match api::pick_model(&compiled.program, args.model.as_deref()) {
        Ok(i) => i,
        Err(e) => return report(&e, json),
    };
    if let Some(mode) = &args.mode {
        let text = api::parse_mode(mode).and_then(|m| {
            api::render_mode_graph(&compiled, i, &m, args.format == GraphFormat::Dot)
        });
        return match text {
            Ok(t) => {
                print!("{t}");
                0
            }
            Err(e) => report(&e, json),
        };
    }
    let model = &compiled.program.models[i];
    let shapes = compiled.shapes.get(i);
    match args.format {
        GraphFormat::Text => print!("{}", print_model(model, shapes)),
        GraphFormat::Dot => print!("{}", to_dot(model, shapes)),
    }
    0
}
