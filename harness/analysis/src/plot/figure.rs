//! A backend-free description of one figure (axes, layers of points, lines, functions and
//! bands, a legend) and its rendering with plotters: PNG through the bitmap backend, SVG through
//! the svg backend, chosen by the output's extension. Text is drawn with the DejaVu Sans font
//! bundled in `assets/` (registered through plotters' `ab_glyph` feature), so no system fonts or
//! fontconfig are needed. The legend sits in its own panel right of the axes, so it never covers
//! data; lines and bands are clipped to the axes. Every value is checked against its axis (log
//! axes need > 0) before a file is created.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use plotters::prelude::*;

use super::axis::Axis;
use crate::error::{AnalysisError, Result};

/// DejaVu Sans (Bitstream Vera licence, see assets/DejaVuSans-LICENSE.txt).
pub static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
/// Font family name the figures use.
pub const FONT: &str = "sans-serif";

/// Registers the bundled font with plotters once per process.
pub fn register_font() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(AnalysisError::Plot {
            path: PathBuf::from("assets/DejaVuSans.ttf"),
            message: "the bundled font could not be loaded".into(),
        })
    }
}

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub const BLACK: Rgb = Rgb(0, 0, 0);
    pub const GREY: Rgb = Rgb(110, 110, 110);

    /// Mixed towards black by `f` (0 = unchanged, 1 = black).
    pub fn darker(self, f: f64) -> Rgb {
        let m = |c: u8| (c as f64 * (1.0 - f)).round() as u8;
        Rgb(m(self.0), m(self.1), m(self.2))
    }

    pub(crate) fn rgb(self) -> RGBColor {
        RGBColor(self.0, self.1, self.2)
    }
}

/// Marker shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Circle,
    Square,
    TriangleUp,
    Diamond,
    TriangleDown,
    Pentagon,
    Star,
}

impl Shape {
    /// Shapes in the order they are assigned to groups.
    pub const CYCLE: [Shape; 6] = [
        Shape::Circle,
        Shape::Square,
        Shape::TriangleUp,
        Shape::Diamond,
        Shape::TriangleDown,
        Shape::Pentagon,
    ];
}

/// How a point is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarkerStyle {
    pub shape: Shape,
    pub color: Rgb,
    /// Radius in pixels at the reference size (1400 x 820).
    pub size: f64,
    /// Filled (with a thin darker edge) or hollow (a thick outline).
    pub filled: bool,
}

/// How a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineStyle {
    pub color: Rgb,
    /// Width in pixels at the reference size.
    pub width: f64,
    pub dashed: bool,
}

/// y = f(x) in data units; `None` where undefined.
pub type CurveFn = Arc<dyn Fn(f64) -> Option<f64> + Send + Sync>;
/// (low, high) of a band at x, in data units.
pub type BandFn = Arc<dyn Fn(f64) -> Option<(f64, f64)> + Send + Sync>;

/// One layer of a figure, drawn in order.
#[derive(Clone)]
pub enum Layer {
    /// Scatter points; they set the x and y ranges. `name` says where they came from (errors).
    Points {
        name: String,
        points: Vec<(f64, f64)>,
        style: MarkerStyle,
    },
    /// A polyline through given points; it sets both ranges.
    Line {
        name: String,
        points: Vec<(f64, f64)>,
        style: LineStyle,
    },
    /// A function sampled across the whole x range; it widens the y range when `fit_y`.
    Curve {
        name: String,
        f: CurveFn,
        style: LineStyle,
        fit_y: bool,
    },
    /// A shaded band sampled across the x range (never widens a range).
    Band {
        name: String,
        f: BandFn,
        color: Rgb,
        opacity: f64,
    },
}

impl fmt::Debug for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layer::Points { name, points, .. } => write!(f, "Points({name}, {})", points.len()),
            Layer::Line { name, points, .. } => write!(f, "Line({name}, {})", points.len()),
            Layer::Curve { name, .. } => write!(f, "Curve({name})"),
            Layer::Band { name, .. } => write!(f, "Band({name})"),
        }
    }
}

/// The little picture in front of a legend entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Symbol {
    Marker(MarkerStyle),
    Line(LineStyle),
    /// A line over its shaded band.
    LineBand(LineStyle, f64),
    Band(Rgb, f64),
}

/// One legend entry: a symbol and one or more lines of text.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendEntry {
    pub symbol: Symbol,
    pub lines: Vec<String>,
}

impl LegendEntry {
    pub fn new(symbol: Symbol, text: impl Into<String>) -> Self {
        LegendEntry {
            symbol,
            lines: vec![text.into()],
        }
    }
}

/// A titled group of legend entries.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendSection {
    pub title: Option<String>,
    pub entries: Vec<LegendEntry>,
}

/// Everything needed to draw one figure.
#[derive(Debug, Clone)]
pub struct Figure {
    pub width: u32,
    pub height: u32,
    pub title: Option<String>,
    pub x: Axis,
    pub y: Axis,
    pub layers: Vec<Layer>,
    pub legend: Vec<LegendSection>,
    /// Text lines under the legend (data source, fit details).
    pub notes: Vec<String>,
    /// Use one range for both axes (predicted against observed).
    pub same_range: bool,
}

impl Figure {
    pub fn new(x: Axis, y: Axis) -> Self {
        Figure {
            width: 1400,
            height: 820,
            title: None,
            x,
            y,
            layers: Vec::new(),
            legend: Vec::new(),
            notes: Vec::new(),
            same_range: false,
        }
    }

    /// All text of the figure (title, axis labels, legend, notes), for checks.
    pub fn texts(&self) -> Vec<String> {
        let mut v: Vec<String> = self.title.iter().cloned().collect();
        v.push(self.x.label.clone());
        v.push(self.y.label.clone());
        for s in &self.legend {
            v.extend(s.title.iter().cloned());
            for e in &s.entries {
                v.extend(e.lines.iter().cloned());
            }
        }
        v.extend(self.notes.iter().cloned());
        v
    }
}

/// Output format, from the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    /// `.png` or `.svg` (any case); anything else is an error naming the path.
    pub fn of(path: &Path) -> Result<Format> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "png" => Ok(Format::Png),
            "svg" => Ok(Format::Svg),
            _ => Err(AnalysisError::arg(
                "out",
                format!(
                    "{}: the extension must be .png or .svg (it picks the format)",
                    path.display()
                ),
            )),
        }
    }
}

pub use super::render::render;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_extensions() {
        assert_eq!(Format::of(Path::new("a/b.PNG")).expect("png"), Format::Png);
        assert_eq!(Format::of(Path::new("b.svg")).expect("svg"), Format::Svg);
        assert!(Format::of(Path::new("b.pdf")).is_err());
        assert!(Format::of(Path::new("b")).is_err());
    }
}
