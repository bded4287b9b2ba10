//! `fusec plot`: figures of run directories and comparisons (`api::plot`) as SVG or PNG; also the `--plots` step
//! of `fusec run` and `fusec compare`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::report;
use crate::api::{self, FigureKind, PlotRequest};
use crate::plot::Format;

#[derive(Args, Debug, Clone)]
pub struct PlotArgs {
    /// Run directories (`fusec run`) or comparison folders (`fusec compare --out`); the learning curves of
    /// several runs are overlaid in one figure.
    #[arg(required = true, value_name = "RUNDIR")]
    pub dirs: Vec<PathBuf>,
    /// A `.svg` or `.png` file for a single figure, or a folder for all of them (default: RUNDIR/plots for one
    /// directory, ./plots for several).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Only these figures (repeatable or comma separated; default: every figure the directories hold).
    #[arg(long = "figure", value_enum, value_delimiter = ',')]
    pub figures: Vec<FigureArg>,
    /// The format of figures written into a folder (a `--output` file's extension decides for itself).
    #[arg(long, value_enum, default_value = "svg")]
    pub format: FormatArg,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum FigureArg {
    /// Training and validation loss and the selection metric per epoch, best epoch marked.
    Curves,
    /// The test confusion matrix of a classification run.
    Confusion,
    /// The table of `fusec eval --robustness` as a heat map.
    Robustness,
    /// A comparison's test metric per method, mean ± std over seeds.
    Compare,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Svg,
    Png,
}

pub fn run(args: &PlotArgs, json: bool) -> i32 {
    let req = PlotRequest {
        dirs: args.dirs.clone(),
        output: args.output.clone(),
        only: args.figures.iter().map(|f| kind(*f)).collect(),
        format: match args.format {
            FormatArg::Svg => Format::Svg,
            FormatArg::Png => Format::Png,
        },
    };
    match api::plot(&req) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            0
        }
        Err(e) => report(&e, json),
    }
}

fn kind(f: FigureArg) -> FigureKind {
    match f {
        FigureArg::Curves => FigureKind::Curves,
        FigureArg::Confusion => FigureKind::Confusion,
        FigureArg::Robustness => FigureKind::Robustness,
        FigureArg::Compare => FigureKind::Compare,
    }
}

/// `--plots` of `run` and `compare`: every figure of `dir` into `dir/plots` as SVG; prints what it wrote.
/// Returns the exit code (a figure that cannot be written is an error after the run itself succeeded).
pub fn plots_into(dir: &std::path::Path, json: bool) -> i32 {
    let req = PlotRequest {
        dirs: vec![dir.to_path_buf()],
        output: None,
        only: Vec::new(),
        format: Format::Svg,
    };
    match api::plot(&req) {
        Ok(files) => {
            for f in files {
                // With `--message-format json` stdout holds the report's JSON line only.
                if json {
                    eprintln!("figure: {}", f.display());
                } else {
                    println!("figure: {}", f.display());
                }
            }
            0
        }
        Err(e) => report(&e, json),
    }
}
