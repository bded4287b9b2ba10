//! A heat map over named rows and columns (the confusion matrix, the robustness table): one cell per value,
//! shaded white to blue (or red for negative shades), its value written in it, the names on both axes, the first
//! row on top.

use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::RangedCoordi32;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::{err, text, titled, Area, LABEL_SIZE, TICK_SIZE};
use super::HeatMap;

pub fn draw<DB: DrawingBackend>(area: &Area<DB>, map: &HeatMap) -> Result<(), String> {
    if map.rows.is_empty() || map.cols.is_empty() {
        return Err(format!(
            "{}: a heat map needs at least one row and column",
            map.title
        ));
    }
    // `(0..n - 1).into_segmented()` has n segments, one per row or column.
    let body = titled(area, &map.title)?;
    let (n_rows, n_cols) = (map.rows.len() as i32, map.cols.len() as i32);
    let row_width = map
        .rows
        .iter()
        .map(|r| r.chars().count())
        .max()
        .unwrap_or(1) as u32;
    let mut chart = ChartBuilder::on(&body)
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size((row_width * 8 + 40).clamp(60, 320))
        .build_cartesian_2d(
            (0..n_cols - 1).into_segmented(),
            (0..n_rows - 1).into_segmented(),
        )
        .map_err(err)?;
    // Row 0 is drawn on top: row r sits at y = n_rows - 1 - r.
    let row_name = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(y) => map
            .rows
            .get((n_rows - 1 - y) as usize)
            .cloned()
            .unwrap_or_default(),
        _ => String::new(),
    };
    let col_name = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(x) => map.cols.get(*x as usize).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(map.cols.len())
        .y_labels(map.rows.len())
        .x_desc(map.col_axis.clone())
        .y_desc(map.row_axis.clone())
        .axis_desc_style(text(LABEL_SIZE))
        .label_style(text(TICK_SIZE))
        .x_label_formatter(&col_name)
        .y_label_formatter(&row_name)
        .draw()
        .map_err(err)?;
    for (r, row) in map.values.iter().enumerate() {
        let y = n_rows - 1 - r as i32;
        for (c, value) in row.iter().enumerate() {
            let shade = map
                .shade
                .get(r)
                .and_then(|s| s.get(c))
                .copied()
                .unwrap_or(0.0);
            cell(&mut chart, c as i32, y, *value, shade, map.decimals)?;
        }
    }
    Ok(())
}

type Seg = SegmentedCoord<RangedCoordi32>;
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Seg, Seg>>;

fn cell<DB: DrawingBackend>(
    chart: &mut Chart<DB>,
    x: i32,
    y: i32,
    value: f64,
    shade: f64,
    decimals: usize,
) -> Result<(), String> {
    let corner = |x, y| (SegmentValue::Exact(x), SegmentValue::Exact(y));
    chart
        .draw_series([Rectangle::new(
            [corner(x, y), corner(x + 1, y + 1)],
            fill(shade).filled(),
        )])
        .map_err(err)?;
    if !value.is_finite() {
        return Ok(());
    }
    let ink = if shade.abs() > 0.6 { WHITE } else { BLACK };
    let style = text(TICK_SIZE)
        .color(&ink)
        .pos(Pos::new(HPos::Center, VPos::Center));
    chart
        .draw_series([Text::new(
            format!("{value:.*}", decimals),
            (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
            style,
        )])
        .map_err(err)?;
    Ok(())
}

/// White at 0, blue at 1, red at -1.
fn fill(shade: f64) -> RGBColor {
    let s = if shade.is_finite() {
        shade.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let (target, t) = if s >= 0.0 {
        ((8.0, 81.0, 156.0), s)
    } else {
        ((203.0, 24.0, 29.0), -s)
    };
    let mix = |to: f64| (255.0 + (to - 255.0) * t).round() as u8;
    RGBColor(mix(target.0), mix(target.1), mix(target.2))
}
