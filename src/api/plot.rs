//! `fusec plot`: the figures of run directories ([`figures`]) — learning curves (several runs overlaid), the
//! test confusion matrix, the robustness table and a comparison's bars — drawn by `crate::plot` and written as
//! SVG or PNG ([`plot`]). `fusec run --plots` and `fusec compare --plots` call the same function on their own
//! directory.

use std::path::{Path, PathBuf};

use super::plot_read;
use super::Error;
use crate::diag::{Diagnostic, Diagnostics};
use crate::plot::{render, Figure, Format};

/// The kinds of figure, in the order they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FigureKind {
    Curves,
    Confusion,
    Robustness,
    Compare,
}

/// Which directories, which figures, where they go.
#[derive(Clone, Debug)]
pub struct PlotRequest {
    /// Run directories (`fusec run`) or comparison folders (`fusec compare --out`).
    pub dirs: Vec<PathBuf>,
    /// A file (`.svg` or `.png`) when there is exactly one figure, or a folder. Default: `DIR/plots` for one
    /// directory, `plots` for several.
    pub output: Option<PathBuf>,
    /// Only these kinds (all that the directories hold when empty).
    pub only: Vec<FigureKind>,
    /// The format of figures written into a folder.
    pub format: Format,
}

/// A figure with the file name it is written under (without extension).
#[derive(Clone, Debug)]
pub struct NamedFigure {
    pub name: String,
    pub kind: FigureKind,
    pub figure: Figure,
}

/// Draws the figures of the request's directories and writes them; returns the files written.
pub fn plot(req: &PlotRequest) -> Result<Vec<PathBuf>, Error> {
    let figures = figures(&req.dirs, &req.only)?;
    let targets = targets(req, &figures)?;
    let mut written = Vec::new();
    for (fig, (path, format)) in figures.iter().zip(targets) {
        let bytes = render(&fig.figure, format).map_err(|e| {
            Error::user(Diagnostic::error(
                "fusec::internal::plot",
                format!("drawing {} failed: {e}", fig.name),
            ))
        })?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| cannot_write(parent, e))?;
        }
        crate::run::write_atomic(&path, &bytes).map_err(|e| cannot_write(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

fn cannot_write(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::user(
        Diagnostic::error(
            "fusec::plot::output",
            format!("cannot write {}: {e}", path.display()),
        )
        .help("choose a folder you can write to with `--output`"),
    )
}

/// Where each figure goes, and in which format.
fn targets(req: &PlotRequest, figures: &[NamedFigure]) -> Result<Vec<(PathBuf, Format)>, Error> {
    let folder = match &req.output {
        Some(out) if out.extension().is_some() && !out.is_dir() => {
            return single_file(out, figures).map(|t| vec![t]);
        }
        Some(out) => out.clone(),
        None => match req.dirs.as_slice() {
            [one] => one.join("plots"),
            _ => PathBuf::from("plots"),
        },
    };
    let ext = req.format.extension();
    Ok(figures
        .iter()
        .map(|f| (folder.join(format!("{}.{ext}", f.name)), req.format))
        .collect())
}

/// `--output FILE`: its extension is the format, and it holds the one figure there is.
fn single_file(out: &Path, figures: &[NamedFigure]) -> Result<(PathBuf, Format), Error> {
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or("");
    let Some(format) = Format::from_extension(ext) else {
        return Err(Error::user(
            Diagnostic::error(
                "fusec::plot::output",
                format!(
                    "`--output {}`: figures are written as .svg or .png, not .{ext}",
                    out.display()
                ),
            )
            .help("name a .svg or .png file, or a folder to write every figure into"),
        ));
    };
    if let [_] = figures {
        return Ok((out.to_path_buf(), format));
    }
    let names: Vec<&str> = figures.iter().map(|f| f.name.as_str()).collect();
    Err(Error::user(
        Diagnostic::error(
            "fusec::plot::output",
            format!(
                "`--output {}` names one file, but there are {} figures: {}",
                out.display(),
                figures.len(),
                names.join(", ")
            ),
        )
        .help("choose one with `--figure` (e.g. `--figure curves`), or give a folder to write them all into"),
    ))
}

/// Every figure the directories hold (restricted to `only` when it is not empty). Learning curves of several
/// runs are overlaid in one figure; the other figures are one per directory. A directory that is missing or
/// holds nothing to plot, and a damaged file, are diagnostics, all reported at once.
pub fn figures(dirs: &[PathBuf], only: &[FigureKind]) -> Result<Vec<NamedFigure>, Error> {
    let wanted = |k| only.is_empty() || only.contains(&k);
    let names = display_names(dirs);
    let (mut diags, mut curves, mut others) = (Diagnostics::default(), Vec::new(), Vec::new());
    for (dir, name) in dirs.iter().zip(&names) {
        match dir_figures(dir, name, dirs.len() > 1) {
            Ok((c, rest)) if c.is_none() && rest.is_empty() => diags.push(nothing_to_plot(dir)),
            Ok((c, rest)) => {
                curves.extend(c.filter(|_| wanted(FigureKind::Curves)));
                others.extend(rest.into_iter().filter(|f| wanted(f.kind)));
            }
            Err(d) => diags.push(d),
        }
    }
    if !diags.is_empty() {
        return Err(Error::User {
            diagnostics: diags,
            sources: Default::default(),
        });
    }
    let mut out = Vec::new();
    if !curves.is_empty() {
        out.push(NamedFigure {
            name: "curves".into(),
            kind: FigureKind::Curves,
            figure: Figure::Curves(curves),
        });
    }
    out.extend(others);
    if out.is_empty() {
        return Err(Error::user(
            Diagnostic::error(
                "fusec::plot::rundir",
                "these directories hold none of the figures asked for with `--figure`",
            )
            .help("learning curves need metrics.jsonl, the confusion matrix a finished classification run, robustness `fusec eval --robustness`, compare `fusec compare`"),
        ));
    }
    Ok(out)
}

type DirFigures = (Option<crate::plot::RunCurves>, Vec<NamedFigure>);

/// The curves of one directory and its other figures (their names prefixed by `name` when there are several
/// directories).
fn dir_figures(dir: &Path, name: &str, prefixed: bool) -> Result<DirFigures, Diagnostic> {
    if !dir.is_dir() {
        return Err(Diagnostic::error(
            "fusec::plot::rundir",
            format!("{} is not a directory", dir.display()),
        )
        .help("give a run directory (`fusec run` prints it when it ends) or a `fusec compare --out` folder"));
    }
    let file_name = |base: &str| {
        if prefixed {
            format!("{}-{base}", name.replace(['/', '\\'], "_"))
        } else {
            base.to_string()
        }
    };
    let curves = plot_read::curves(dir, name)?;
    let mut rest = Vec::new();
    if let Some(map) = plot_read::confusion(dir, name)? {
        rest.push(NamedFigure {
            name: file_name("confusion"),
            kind: FigureKind::Confusion,
            figure: Figure::HeatMap(map),
        });
    }
    for (stem, map) in plot_read::robustness(dir, name)? {
        rest.push(NamedFigure {
            name: file_name(&stem),
            kind: FigureKind::Robustness,
            figure: Figure::HeatMap(map),
        });
    }
    if let Some((metric, bars)) = plot_read::comparison(dir)? {
        let seeds = bars.iter().map(|b| b.values.len()).max().unwrap_or(0);
        rest.push(NamedFigure {
            name: file_name("compare"),
            kind: FigureKind::Compare,
            figure: Figure::Bars {
                title: format!("test {metric}: mean ± std over {seeds} seeds"),
                metric: format!("test {metric}"),
                bars,
            },
        });
    }
    Ok((curves, rest))
}

fn nothing_to_plot(dir: &Path) -> Diagnostic {
    Diagnostic::error(
        "fusec::plot::rundir",
        format!(
            "{} holds nothing to plot: no metrics.jsonl, report.json, robustness_*.csv or compare.csv",
            dir.display()
        ),
    )
    .help("give a run directory (`fusec run` prints it when it ends) or a `fusec compare --out` folder")
}

/// How each directory is named in legends and file names: its last component, or its whole path when two
/// directories share a last component.
fn display_names(dirs: &[PathBuf]) -> Vec<String> {
    let last = |d: &PathBuf| {
        d.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| d.display().to_string())
    };
    let lasts: Vec<String> = dirs.iter().map(last).collect();
    dirs.iter()
        .zip(&lasts)
        .map(|(d, l)| {
            if lasts.iter().filter(|o| *o == l).count() > 1 {
                d.display().to_string()
            } else {
                l.clone()
            }
        })
        .collect()
}
