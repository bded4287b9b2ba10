//! Figures of runs (`fusec plot`): learning curves, the confusion matrix, a comparison's bars with error bars and
//! the robustness table as a heat map. Each figure is plain data ([`Figure`]) that `api::plot` reads from run
//! directories; [`render`] draws it with `plotters` as SVG (text stays text, so tests read the labels) or PNG.
//! Nothing here touches files.

mod bars;
mod canvas;
mod curves;
mod heatmap;

pub use canvas::Format;

/// One line of a plot: a label and its points (x ascending).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// The learning curves of one run: its losses per epoch (training steps and validation) and its selection
/// metric, with the selected epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct RunCurves {
    /// The run's name in legends (its directory's name).
    pub name: String,
    /// `train.loss.<step>` per step, then `valid.loss`.
    pub losses: Vec<Series>,
    /// The selection metric (`valid.accuracy`), unless it is `valid.loss`, which the loss panel already shows.
    pub metric: Option<Series>,
    /// What selects the best epoch (`valid.accuracy`).
    pub selection: String,
    /// The selected epoch, when the run has one.
    pub best_epoch: Option<usize>,
}

/// A matrix of numbers over named rows and columns, drawn as coloured cells with the value written in each.
#[derive(Clone, Debug, PartialEq)]
pub struct HeatMap {
    pub title: String,
    pub row_axis: String,
    pub col_axis: String,
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    /// `values[row][col]`; NaN cells are left blank.
    pub values: Vec<Vec<f64>>,
    /// The colour of each cell, in [-1, 1]: 0 is white, 1 full blue, -1 full red.
    pub shade: Vec<Vec<f64>>,
    /// How a cell's value is written (`{:.0}` for counts, `{:.3}` for metrics).
    pub decimals: usize,
}

/// One method of a comparison: the mean and standard deviation over seeds, and each seed's value.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    pub mean: f64,
    pub std: f64,
    pub values: Vec<f64>,
}

/// A figure, ready to draw.
#[derive(Clone, Debug, PartialEq)]
pub enum Figure {
    /// Losses and the selection metric per epoch, one or several runs overlaid.
    Curves(Vec<RunCurves>),
    /// The confusion matrix (rows: true class, columns: predicted) or the robustness table.
    HeatMap(HeatMap),
    /// A comparison: one bar per method with its standard deviation as error bar and the seeds as points.
    Bars {
        title: String,
        metric: String,
        bars: Vec<Bar>,
    },
}

/// Draws a figure as SVG text or PNG bytes. An error is a bug in the figure code, not a user mistake.
pub fn render(figure: &Figure, format: Format) -> Result<Vec<u8>, String> {
    canvas::render(figure, format)
}

/// Draws `figure` on any plotters backend (SVG or bitmap).
fn draw_on<DB: plotters::prelude::DrawingBackend>(
    area: &canvas::Area<DB>,
    figure: &Figure,
) -> Result<(), String> {
    match figure {
        Figure::Curves(runs) => curves::draw(area, runs),
        Figure::HeatMap(map) => heatmap::draw(area, map),
        Figure::Bars {
            title,
            metric,
            bars,
        } => bars::draw(area, title, metric, bars),
    }
}
