//! Learning curves: the losses per epoch on the left (training steps solid, validation dashed) and the selection
//! metric on the right, the selected epoch marked with a point, a dashed vertical line and "best epoch N". Several
//! runs share the panels, one colour per run; a single run gets one colour per series.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::{color, err, text, titled, Area, LABEL_SIZE, TICK_SIZE};
use super::{RunCurves, Series};

pub fn draw<DB: DrawingBackend>(area: &Area<DB>, runs: &[RunCurves]) -> Result<(), String> {
    let title = match runs {
        [one] => format!("learning curves: {}", one.name),
        _ => format!("learning curves of {} runs", runs.len()),
    };
    let body = titled(area, &title)?;
    let with_metric = runs.iter().any(|r| r.metric.is_some());
    if !with_metric {
        return panel(&body, runs, Panel::Loss);
    }
    let (left, right) = body.split_horizontally(body.dim_in_pixel().0 / 2);
    panel(&left, runs, Panel::Loss)?;
    panel(&right, runs, Panel::Metric)
}

#[derive(Clone, Copy, PartialEq)]
enum Panel {
    Loss,
    Metric,
}

/// The series of one run that a panel shows.
fn series_of(run: &RunCurves, which: Panel) -> Vec<&Series> {
    match which {
        Panel::Loss => run.losses.iter().collect(),
        Panel::Metric => run.metric.iter().collect(),
    }
}

/// The series that selects the best epoch: the metric, or `valid.loss` when the run selects by loss.
fn selecting_series(run: &RunCurves, which: Panel) -> Option<&Series> {
    match (which, &run.metric) {
        (Panel::Metric, Some(m)) => Some(m),
        (Panel::Loss, None) => run.losses.iter().find(|s| s.label == "valid loss"),
        _ => None,
    }
}

fn panel<DB: DrawingBackend>(
    area: &Area<DB>,
    runs: &[RunCurves],
    which: Panel,
) -> Result<(), String> {
    let all: Vec<&Series> = runs.iter().flat_map(|r| series_of(r, which)).collect();
    let (x_range, y_range) = ranges(&all);
    let (caption, y_desc) = match which {
        Panel::Loss => ("loss".to_string(), "loss".to_string()),
        Panel::Metric => {
            let sel = runs
                .iter()
                .find(|r| r.metric.is_some())
                .map(|r| r.selection.clone())
                .unwrap_or_default();
            (format!("selection metric: {sel}"), sel)
        }
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, text(LABEL_SIZE))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(x_range, y_range)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_desc)
        .axis_desc_style(text(LABEL_SIZE))
        .label_style(text(TICK_SIZE))
        .x_label_formatter(&|x| whole_number(*x))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    let several = runs.len() > 1;
    let mut k = 0;
    for (r, run) in runs.iter().enumerate() {
        for (i, s) in series_of(run, which).into_iter().enumerate() {
            let c = if several { color(r) } else { color(k) };
            k += 1;
            let label = if several {
                format!("{}: {}", run.name, s.label)
            } else {
                s.label.clone()
            };
            let dash = match which {
                Panel::Metric => Dash::Solid,
                Panel::Loss => dash_of(&s.label, i),
            };
            line(&mut chart, s, c, dash, label)?;
        }
        if let (Some(best), Some(s)) = (run.best_epoch, selecting_series(run, which)) {
            let c = if several { color(r) } else { BLACK };
            mark_best(&mut chart, s, best, c)?;
        }
    }
    chart
        .configure_series_labels()
        .label_font(text(TICK_SIZE))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.5))
        .position(legend_corner(&all))
        .draw()
        .map_err(err)
}

/// Where the legend hides the least: bottom right when the curves rise (accuracy), top right when they fall.
fn legend_corner(series: &[&Series]) -> SeriesLabelPosition {
    let rising = series
        .iter()
        .find(|s| s.points.len() >= 2)
        .and_then(|s| Some(s.points.last()?.1 > s.points.first()?.1))
        .unwrap_or(false);
    if rising {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperRight
    }
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Solid, dashed (validation) or dotted (a second training step) lines.
#[derive(Clone, Copy)]
enum Dash {
    Solid,
    Dashed,
    Dotted,
}

fn dash_of(label: &str, index: usize) -> Dash {
    if label.starts_with("valid") {
        Dash::Dashed
    } else if index > 0 {
        Dash::Dotted
    } else {
        Dash::Solid
    }
}

fn line<DB: DrawingBackend>(
    chart: &mut Chart<DB>,
    s: &Series,
    c: RGBColor,
    dash: Dash,
    label: String,
) -> Result<(), String> {
    let style = c.stroke_width(2);
    let points = s.points.clone();
    let anno = match dash {
        Dash::Solid => chart.draw_series(LineSeries::new(points, style)),
        Dash::Dashed => chart.draw_series(DashedLineSeries::new(points, 8, 5, style)),
        Dash::Dotted => chart.draw_series(DashedLineSeries::new(points, 2, 4, style)),
    }
    .map_err(err)?;
    anno.label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    Ok(())
}

/// A point on the selected epoch's value, a dashed vertical line through it and "best epoch N".
fn mark_best<DB: DrawingBackend>(
    chart: &mut Chart<DB>,
    s: &Series,
    best: usize,
    c: RGBColor,
) -> Result<(), String> {
    let x = best as f64;
    let Some(&(_, y)) = s.points.iter().find(|(px, _)| *px == x) else {
        return Ok(());
    };
    let (x_range, y_range) = (chart.x_range(), chart.y_range());
    let style = c.stroke_width(1);
    chart
        .draw_series(DashedLineSeries::new(
            vec![(x, y_range.start), (x, y_range.end)],
            4,
            4,
            style,
        ))
        .map_err(err)?;
    chart
        .draw_series([Circle::new((x, y), 5, c.filled())])
        .map_err(err)?;
    // The label sits above the point, on the side with room.
    let side = if x > (x_range.start + x_range.end) / 2.0 {
        HPos::Right
    } else {
        HPos::Left
    };
    let style = text(TICK_SIZE).color(&c).pos(Pos::new(side, VPos::Bottom));
    chart
        .draw_series([Text::new(format!("best epoch {best}"), (x, y), style)])
        .map_err(err)?;
    Ok(())
}

/// The x and y ranges covering every point, padded by 5% (a flat or single-point series gets a unit range).
fn ranges(series: &[&Series]) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
    let pts = || series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1) = bounds(pts().map(|p| p.0));
    let (mut y0, mut y1) = bounds(pts().map(|p| p.1));
    // A quarter epoch of room on each side keeps the first and last points off the axes.
    (x0, x1) = (x0 - 0.25, x1 + 0.25);
    if y1 <= y0 {
        (y0, y1) = (y0 - 0.5, y0 + 0.5);
    }
    let pad = (y1 - y0) * 0.05;
    (x0..x1, y0 - pad..y1 + pad)
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    }
}

/// Epoch ticks: whole numbers only (plotters may place ticks at 2.5 on a short run).
fn whole_number(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round() as i64)
    } else {
        String::new()
    }
}
