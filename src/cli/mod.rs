//! The command line (clap): global options, one [`Command`] variant per subcommand, each dispatching to its
//! own file. The CLI is the only place that reads files and prints; exit codes are 0 ok, 1 user error (a
//! diagnostic, a missing file, a bad flag) and 2 internal error (a bug: a panic anywhere below).

pub mod bench;
pub mod check;
pub mod compare;
pub mod data;
pub mod eval;
pub mod graph;
pub mod predict;
pub mod run;
pub mod session;
pub mod summary;
pub mod translate;

use std::io::IsTerminal;

use clap::{Parser, Subcommand, ValueEnum};

use crate::diag::{self, Diagnostic, Diagnostics};
use crate::front::{compile, Compiled};
use crate::ir::{Model, Program};
use crate::source::{Loader, SourceMap};

#[derive(Parser, Debug)]
#[command(
    name = "fusec",
    version,
    about = "A compiler for multimodal neural models (.fuse files)"
)]
pub struct Cli {
    /// How diagnostics are printed: human-readable reports on stderr, or one JSON object per line on stdout.
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub message_format: MessageFormat,
    /// Override a train key, data key, model param or block argument: `--set epochs=5 --set fusion.dim=128`.
    #[arg(long = "set", global = true, value_name = "KEY=VALUE", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
    /// CPU threads for tensor kernels. Default 1 (or RAYON_NUM_THREADS): on small models one thread is about
    /// twice as fast as two (`fusec bench` measures it), because the kernels are too short to amortise the pool.
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check files: print their diagnostics, or one "ok" line per file.
    Check(check::CheckArgs),
    /// Print a model's IR as text or as Graphviz DOT.
    Graph(graph::GraphArgs),
    /// Print a Keras-style table of a model: shapes, parameters and FLOPs per example.
    Summary(summary::SummaryArgs),
    /// Train a model by its file's plan; writes a run directory and prints the test report.
    Run(run::RunArgs),
    /// Evaluate a trained run's selected checkpoint on a split.
    Eval(eval::EvalArgs),
    /// Run a trained model on new inputs and write its outputs.
    Predict(predict::PredictArgs),
    /// Train several model files with several seeds and print one comparison table.
    Compare(compare::CompareArgs),
    /// Look into data files.
    Data(data::DataArgs),
    /// Training throughput of compiled models against the same models written directly in candle.
    Bench(bench::BenchArgs),
    /// Translate sentences with a trained translation run (greedy or beam search).
    Translate(translate::TranslateArgs),
}

fn parse_set(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!(
            "`{s}` is not KEY=VALUE (for example `--set epochs=5`)"
        )),
    }
}

/// Parses the arguments, runs the command and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // `--help` and `--version` are not errors.
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    let json = cli.message_format == MessageFormat::Json;
    set_threads(cli.threads);
    match &cli.command {
        Command::Check(a) => check::run(a, &cli.sets, json),
        Command::Graph(a) => graph::run(a, &cli.sets, json),
        Command::Summary(a) => summary::run(a, &cli.sets, json),
        Command::Run(a) => run::run(a, &cli.sets, json),
        Command::Eval(a) => eval::eval(a, &cli.sets, json),
        Command::Predict(a) => predict::predict(a, &cli.sets, json),
        Command::Compare(a) => compare::compare(a, &cli.sets, json),
        Command::Data(a) => data::run(a, json),
        Command::Bench(a) => bench::run(a, &cli.sets),
        Command::Translate(a) => translate::translate(a, &cli.sets, json),
    }
}

/// Reads user files from the file system, relative to the working folder.
pub struct FsLoader;

impl Loader for FsLoader {
    fn load(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read `{path}`: {e}"))
    }
}

/// Prints diagnostics: miette reports on stderr (coloured on a terminal), or JSON lines on stdout.
pub fn print_diagnostics(diags: &Diagnostics, sources: &SourceMap, json: bool) {
    if diags.is_empty() {
        return;
    }
    if json {
        print!("{}", diag::render_json(diags, sources));
    } else {
        eprint!(
            "{}",
            diag::render(diags, sources, std::io::stderr().is_terminal())
        );
    }
}

/// Compiles a file for `graph` and `summary`, printing warnings or errors. `Err` carries the exit code.
pub fn compile_file(
    path: &str,
    sets: &[(String, String)],
    optimize: bool,
    json: bool,
) -> Result<Compiled, i32> {
    match compile(&FsLoader, path, sets, optimize) {
        Ok(c) => {
            print_diagnostics(&c.warnings, &c.program.sources, json);
            Ok(c)
        }
        Err(f) => {
            print_diagnostics(&f.diagnostics, &f.sources, json);
            Err(1)
        }
    }
}

/// The model a command works on: `--model NAME`, else the train plan's model, else the first one.
pub fn pick_model<'a>(
    program: &'a Program,
    name: Option<&str>,
    json: bool,
) -> Result<(usize, &'a Model), i32> {
    let wanted = name
        .map(str::to_string)
        .or_else(|| program.train.as_ref().map(|t| t.model.clone()));
    let found = match &wanted {
        Some(n) => program.models.iter().position(|m| &m.name == n),
        None => (!program.models.is_empty()).then_some(0),
    };
    if let Some(i) = found {
        return Ok((i, &program.models[i]));
    }
    let names: Vec<&str> = program.models.iter().map(|m| m.name.as_str()).collect();
    let mut d = match &wanted {
        Some(n) => Diagnostic::error(
            "fusec::name::model",
            format!("there is no model `{n}` in this file"),
        ),
        None => Diagnostic::error("fusec::name::model", "this file declares no model"),
    };
    d = match wanted
        .as_deref()
        .and_then(|n| diag::did_you_mean(n, names.iter().copied()))
    {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None if names.is_empty() => d.help("declare one with `model Name { ... }`"),
        None => d.help(format!("the models are: {}", names.join(", "))),
    };
    print_diagnostics(&d.into(), &program.sources, json);
    Err(1)
}

/// candle reads `RAYON_NUM_THREADS` on every kernel launch; set it once, before any tensor exists.
fn set_threads(flag: Option<usize>) {
    let threads = match (flag, std::env::var("RAYON_NUM_THREADS").ok()) {
        (Some(n), _) => n.max(1),
        (None, Some(_)) => return,
        (None, None) => 1,
    };
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
}
