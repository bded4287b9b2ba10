//! The command line (clap): global options, one [`Command`] variant per subcommand, each in its own file that
//! parses its arguments, calls the library API (`crate::api`) and renders the result. Exit codes are 0 ok, 1 user
//! error (a diagnostic, a missing file, a bad flag) and 2 internal error (a bug: a panic anywhere below).

pub mod bench;
pub mod check;
pub mod compare;
pub mod data;
pub mod eval;
pub mod export;
pub mod fmt;
pub mod graph;
pub mod lsp;
pub mod plot;
pub mod predict;
pub mod run;
pub mod summary;
pub mod sweep;
pub mod translate;

use std::io::IsTerminal;

use clap::{Parser, Subcommand, ValueEnum};

use crate::api;
use crate::diag::{self, Diagnostics};
use crate::source::SourceMap;

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
    /// CPU threads for tensor kernels and for running independent parts of a training step side by side.
    /// Default 1 (or RAYON_NUM_THREADS), which suits small models (most mfeat ones train up to 30% faster on one
    /// thread than on two); the IEMOCAP-size models of the paper train 1.3-1.7x faster on two
    /// (docs/PERFORMANCE.md; `fusec bench` measures yours).
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    /// A folder outside the project whose .fuse files imports may read (repeatable). By default imports stay
    /// inside the folder of the file being compiled.
    #[arg(long = "allow-import", global = true, value_name = "DIR")]
    pub allow_import: Vec<std::path::PathBuf>,
    /// Memory a command may plan to use (`16G`, `512M`); models whose estimated needs exceed it are refused
    /// before anything is allocated. Default: the machine's memory.
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    pub max_memory: Option<u64>,
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
    /// Rewrite .fuse files in the canonical layout (`--check`: only report files that are not in it).
    Fmt(fmt::FmtArgs),
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
    /// Write a trained run's prediction graph as an ONNX file (weights and standardization included).
    Export(export::ExportArgs),
    /// Train several model files with several seeds and print one comparison table.
    Compare(compare::CompareArgs),
    /// Train files × settings × seeds as separate runs, here or on a Slurm cluster, and print one table.
    Sweep(sweep::SweepArgs),
    /// Draw figures of runs: learning curves, confusion matrix, robustness heat map, comparison bars (SVG, PNG).
    Plot(plot::PlotArgs),
    /// Look into data files.
    Data(data::DataArgs),
    /// Training throughput of compiled models against the same models written directly in candle.
    Bench(bench::BenchArgs),
    /// Translate sentences with a trained translation run (greedy or beam search).
    Translate(translate::TranslateArgs),
    /// Run the language server on stdin/stdout (diagnostics, hover, go to definition, completion).
    Lsp(lsp::LspArgs),
}

/// Parses `--max-memory`: bytes, or a number with K, M, G or T (powers of 1024; `GiB`, `GB` and `g` alike).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (for example `16G` or `512M`)"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let scale: u64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(format!("`{s}`: the unit must be K, M, G or T")),
    };
    let bytes = value * scale as f64;
    if !bytes.is_finite() || bytes < 1.0 {
        return Err(format!("`{s}` is not a positive size"));
    }
    Ok(bytes.min(u64::MAX as f64) as u64)
}

/// A count flag that must be at least 1 (`--beam`, `--max-len`).
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(_) => Err("must be at least 1".into()),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

/// A finite number of at least 0 (`--alpha`).
pub fn finite_non_negative(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        Ok(_) => Err("must be a finite number of at least 0".into()),
        Err(_) => Err(format!("`{s}` is not a number")),
    }
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
    let threads = set_threads(cli.threads);
    api::allow_imports_from(&cli.allow_import);
    crate::guarded_read::set_max_memory(cli.max_memory);
    if threads > 1 {
        // The command runs on a worker of one rayon pool of `threads` threads, which every parallel section
        // then shares (the fused kernels' `join`s and per-example loops, the GEMMs): the caller takes part
        // in its own sections instead of waking a pool and sleeping, and no second pool competes for the
        // cores. Measured on MulT at 2 threads: without it, 10-15% of the time went to waking and spinning.
        // Workers get the main thread's stack size (deeply nested sources recurse in the parser).
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .stack_size(WORKER_STACK_BYTES)
            .build();
        if let Ok(pool) = pool {
            return pool.install(|| run_command(&cli, json));
        }
    }
    run_command(&cli, json)
}

/// The stack of each compute thread: the main thread's usual 8 MiB.
const WORKER_STACK_BYTES: usize = 8 << 20;

fn run_command(cli: &Cli, json: bool) -> i32 {
    match &cli.command {
        Command::Check(a) => check::run(a, &cli.sets, json),
        Command::Fmt(a) => fmt::run(a, json),
        Command::Graph(a) => graph::run(a, &cli.sets, json),
        Command::Summary(a) => summary::run(a, &cli.sets, json),
        Command::Run(a) => run::run(a, &cli.sets, json),
        Command::Eval(a) => eval::eval(a, &cli.sets, json),
        Command::Predict(a) => predict::predict(a, &cli.sets, json),
        Command::Export(a) => export::export(a, &cli.sets, json),
        Command::Compare(a) => compare::compare(a, &cli.sets, json),
        Command::Sweep(a) => sweep::sweep(a, &cli.sets, cli.threads, json),
        Command::Plot(a) => plot::run(a, json),
        Command::Data(a) => data::run(a, json),
        Command::Bench(a) => bench::run(a, &cli.sets),
        Command::Translate(a) => translate::translate(a, &cli.sets, json),
        Command::Lsp(a) => lsp::run(a),
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

/// Prints an API error's diagnostics and returns the exit code.
pub fn report(e: &api::Error, json: bool) -> i32 {
    let (diags, sources) = e.diagnostics();
    print_diagnostics(&diags, &sources, json);
    e.exit_code()
}

/// The CLI's [`api::Reporter`]: warnings are always printed; progress lines go to stderr unless `quiet`.
pub struct Printer {
    pub json: bool,
    pub quiet: bool,
}

impl Printer {
    pub fn new(json: bool) -> Printer {
        Printer { json, quiet: false }
    }
}

impl api::Reporter for Printer {
    fn diagnostics(&mut self, diags: &Diagnostics, sources: &SourceMap) {
        print_diagnostics(diags, sources, self.json);
    }

    fn log(&mut self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }
}

/// The device of a `--device` flag, or the exit code after printing its diagnostic.
pub fn device_or_report(flag: &str, json: bool) -> Result<candle_core::Device, i32> {
    api::device(flag).map_err(|e| report(&e, json))
}

/// candle reads `RAYON_NUM_THREADS` on every kernel launch; set it once, before any tensor exists. Returns the
/// thread count.
///
/// `CANDLE_NUM_THREADS=1` keeps candle's element-wise maps on the calling thread: otherwise candle starts a
/// pool of its own for maps of 64K elements or more, whose threads spin beside the rayon pool's on the same
/// cores (the large element-wise work of fusec's models is in its fused kernels, which use the rayon pool).
fn set_threads(flag: Option<usize>) -> usize {
    let threads = match (flag, std::env::var("RAYON_NUM_THREADS").ok()) {
        (Some(n), _) => n.max(1),
        (None, Some(v)) => v.trim().parse().unwrap_or(1).max(1),
        (None, None) => 1,
    };
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    threads
}
