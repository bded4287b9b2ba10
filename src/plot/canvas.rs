//! Where figures are drawn: an SVG string or an RGB bitmap encoded as PNG, with the embedded DejaVu Sans
//! registered as plotters' only font (no system font lookup, so a figure is the same on every machine), and the
//! shared sizes, colours and text styles of every figure.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::Figure;

/// A drawing area on some plotters backend.
pub type Area<DB> = DrawingArea<DB, Shift>;

/// The file format of a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    /// The file extension (`svg`, `png`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Svg => "svg",
            Format::Png => "png",
        }
    }

    /// The format named by a file's extension, if it is one.
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext.to_ascii_lowercase().as_str() {
            "svg" => Some(Format::Svg),
            "png" => Some(Format::Png),
            _ => None,
        }
    }
}

/// The font every figure writes in.
pub const FONT: &str = "sans-serif";

/// Text sizes in pixels.
pub const TITLE_SIZE: u32 = 20;
pub const LABEL_SIZE: u32 = 15;
pub const TICK_SIZE: u32 = 12;

/// Distinct colours for series, in order (the "tab10" palette), so the first runs read well in print.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The i-th series colour (the palette repeats after ten).
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Pixel size of a figure: two panels side by side for curves, a heat map growing with its cells.
pub fn size_of(figure: &Figure) -> (u32, u32) {
    match figure {
        Figure::Curves(_) => (1200, 480),
        Figure::HeatMap(m) => {
            let longest = m.cols.iter().map(|c| c.chars().count()).max().unwrap_or(1) as u32;
            let cell = (8 * longest + 20).max(48);
            let w = 260 + cell * m.cols.len().max(1) as u32;
            let h = 160 + 40 * m.rows.len().max(1) as u32;
            (w.clamp(480, 2400), h.clamp(360, 2400))
        }
        Figure::Bars { bars, .. } => ((240 + 110 * bars.len() as u32).clamp(560, 2000), 480),
    }
}

/// Registers DejaVu Sans under [`FONT`] once per process; plotters measures (SVG) and draws (PNG) text with it.
fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        let font = |style, bytes| plotters::style::register_font(FONT, style, bytes).is_ok();
        font(FontStyle::Normal, dejavu::sans::regular())
            && font(FontStyle::Bold, dejavu::sans::bold())
    });
    if ok {
        Ok(())
    } else {
        Err("the embedded font could not be loaded".into())
    }
}

/// Draws a figure into the format's bytes.
pub fn render(figure: &Figure, format: Format) -> Result<Vec<u8>, String> {
    register_font()?;
    let (w, h) = size_of(figure);
    match format {
        Format::Svg => {
            let mut text = String::new();
            {
                let area = SVGBackend::with_string(&mut text, (w, h)).into_drawing_area();
                area.fill(&WHITE).map_err(err)?;
                super::draw_on(&area, figure)?;
                area.present().map_err(err)?;
            }
            Ok(text.into_bytes())
        }
        Format::Png => {
            let mut rgb = vec![255u8; (w * h * 3) as usize];
            {
                let area = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
                area.fill(&WHITE).map_err(err)?;
                super::draw_on(&area, figure)?;
                area.present().map_err(err)?;
            }
            encode_png(&rgb, w, h)
        }
    }
}

/// An RGB buffer as PNG bytes.
fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(err)?;
    writer.write_image_data(rgb).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}

/// Any drawing error as text (they are bugs in the figure code: the data is validated before drawing).
pub fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The text style of titles, axis descriptions and tick labels.
pub fn text(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().into()
}

/// A title drawn above a panel; returns the area below it.
pub fn titled<DB: DrawingBackend>(area: &Area<DB>, title: &str) -> Result<Area<DB>, String> {
    area.titled(title, (FONT, TITLE_SIZE).into_font())
        .map_err(err)
}
