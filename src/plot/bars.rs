//! A comparison as bars: one bar per method at its mean over seeds, an error bar of ± one standard deviation,
//! and each seed's value as a point. The value axis is zoomed to the data (metrics of close methods differ in the
//! third decimal), so bars start at the bottom of the axis, not at 0.

use plotters::prelude::*;

use super::canvas::{color, err, text, titled, Area, LABEL_SIZE, TICK_SIZE};
use super::Bar;

pub fn draw<DB: DrawingBackend>(
    area: &Area<DB>,
    title: &str,
    metric: &str,
    bars: &[Bar],
) -> Result<(), String> {
    if bars.is_empty() {
        return Err(format!("{title}: no bars"));
    }
    let body = titled(area, title)?;
    // `(0..n - 1).into_segmented()` has n segments, one per bar.
    let n = bars.len() as i32;
    let (lo, hi) = value_range(bars);
    let mut chart = ChartBuilder::on(&body)
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d((0..n - 1).into_segmented(), lo..hi)
        .map_err(err)?;
    let method = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => bars
            .get(*i as usize)
            .map(|b| b.label.clone())
            .unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len())
        .x_desc("method")
        .y_desc(metric)
        .axis_desc_style(text(LABEL_SIZE))
        .label_style(text(TICK_SIZE))
        .x_label_formatter(&method)
        .draw()
        .map_err(err)?;
    for (i, b) in bars.iter().enumerate() {
        let (x, c) = (i as i32, color(i));
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(x), lo),
                (SegmentValue::Exact(x + 1), finite_or(b.mean, lo)),
            ],
            c.mix(0.75).filled(),
        );
        bar.set_margin(0, 0, 18, 18);
        chart.draw_series([bar]).map_err(err)?;
        if b.mean.is_finite() && b.std.is_finite() {
            chart
                .draw_series([ErrorBar::new_vertical(
                    SegmentValue::CenterOf(x),
                    b.mean - b.std,
                    b.mean,
                    b.mean + b.std,
                    BLACK.stroke_width(2),
                    14,
                )])
                .map_err(err)?;
        }
        let seeds = b.values.iter().filter(|v| v.is_finite());
        chart
            .draw_series(
                seeds.map(|v| Circle::new((SegmentValue::CenterOf(x), *v), 3, BLACK.filled())),
            )
            .map_err(err)?;
    }
    Ok(())
}

fn finite_or(v: f64, fallback: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        fallback
    }
}

/// From below the lowest (mean - std, seed value) to above the highest, with 10% room.
fn value_range(bars: &[Bar]) -> (f64, f64) {
    let values = bars.iter().flat_map(|b| {
        [b.mean - b.std, b.mean + b.std]
            .into_iter()
            .chain(b.values.iter().copied())
    });
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.1).max(1e-3);
    (lo - pad, hi + pad)
}
