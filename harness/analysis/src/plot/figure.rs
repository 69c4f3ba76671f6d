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

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{Axis, Ticks};
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

    fn rgb(self) -> RGBColor {
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

const SAMPLES: usize = 256;

/// Ranges, ticks and sampled functions, computed (and checked) before any file is created.
struct Plan {
    x: (f64, f64),
    y: (f64, f64),
    /// Tick choices, preferred first (see [`Axis::tick_candidates`]).
    xt: Vec<Ticks>,
    yt: Vec<Ticks>,
}

fn plan(fig: &Figure) -> Result<Plan> {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for layer in &fig.layers {
        match layer {
            Layer::Points { name, points, .. } | Layer::Line { name, points, .. } => {
                for (i, &(x, y)) in points.iter().enumerate() {
                    let at = format!("{name} (point {})", i + 1);
                    fig.x.check(x, &fig.x.label, &at)?;
                    fig.y.check(y, &fig.y.label, &at)?;
                    xs.push(x);
                    ys.push(y);
                }
            }
            Layer::Curve { .. } | Layer::Band { .. } => {}
        }
    }
    if xs.is_empty() {
        return Err(AnalysisError::NothingToPlot {
            what: "the figure has no points or lines".into(),
        });
    }
    let x = fig.x.span(&xs, 0.04)?;
    // Curves that fit the y range contribute their values across the x range.
    for layer in &fig.layers {
        if let Layer::Curve { f, fit_y: true, .. } = layer {
            for k in 0..=SAMPLES {
                let u = x.0 + (x.1 - x.0) * k as f64 / SAMPLES as f64;
                if let Some(v) = f(fig.x.inv(u))
                    && v.is_finite()
                    && (fig.y.scale == super::axis::Scale::Linear || v > 0.0)
                {
                    ys.push(v);
                }
            }
        }
    }
    let mut y = fig.y.span(&ys, 0.05)?;
    let mut x = x;
    if fig.same_range {
        let lo = x.0.min(y.0);
        let hi = x.1.max(y.1);
        x = (lo, hi);
        y = (lo, hi);
    }
    Ok(Plan {
        xt: fig.x.tick_candidates(x.0, x.1),
        yt: fig.y.tick_candidates(y.0, y.1),
        x,
        y,
    })
}

/// Draws `fig` into `path` (PNG or SVG by extension), creating the parent folder.
pub fn render(fig: &Figure, path: &Path) -> Result<()> {
    let format = Format::of(path)?;
    if fig.width < 200 || fig.height < 150 || fig.width > 10_000 || fig.height > 10_000 {
        return Err(AnalysisError::arg(
            "size",
            format!(
                "{}x{} pixels; use 200..10000 by 150..10000",
                fig.width, fig.height
            ),
        ));
    }
    let plan = plan(fig)?;
    register_font()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| AnalysisError::io(dir, "creating", e))?;
    }
    let fail = |message: String| AnalysisError::Plot {
        path: path.to_path_buf(),
        message,
    };
    match format {
        Format::Png => {
            let bitmap = BitMapBackend::new(path, (fig.width, fig.height));
            let root = super::glyph::GlyphBackend::new(bitmap, FONT_BYTES)
                .map_err(fail)?
                .into_drawing_area();
            draw(&root, fig, &plan).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))?;
        }
        Format::Svg => {
            let mut text = String::new();
            {
                let root =
                    SVGBackend::with_string(&mut text, (fig.width, fig.height)).into_drawing_area();
                draw(&root, fig, &plan).map_err(fail)?;
                root.present().map_err(|e| fail(e.to_string()))?;
            }
            std::fs::write(path, text).map_err(|e| AnalysisError::io(path, "writing SVG", e))?;
        }
    }
    Ok(())
}

type DrawResult<T> = std::result::Result<T, String>;

fn err<E: fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Font sizes and spacings scaled to the figure.
struct Metrics {
    s: f64,
    title: f64,
    desc: f64,
    tick: f64,
    legend: f64,
}

impl Metrics {
    fn of(fig: &Figure) -> Metrics {
        let s = (fig.width as f64 / 1400.0).min(fig.height as f64 / 820.0);
        Metrics {
            s,
            title: 27.0 * s,
            desc: 24.0 * s,
            tick: 21.0 * s,
            legend: 19.0 * s,
        }
    }
    fn px(&self, v: f64) -> i32 {
        (v * self.s).round() as i32
    }
}

fn text_style(size: f64, color: &RGBColor) -> TextStyle<'_> {
    TextStyle::from((FONT, size).into_font()).color(color)
}

fn text_size<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    size: f64,
) -> DrawResult<(u32, u32)> {
    area.estimate_text_size(text, &text_style(size, &BLACK))
        .map_err(err)
}

/// Legend geometry at a given font size.
struct LegendLayout {
    font: f64,
    row: f64,
    symbol_w: f64,
    pad: f64,
}

impl LegendLayout {
    fn new(font: f64) -> Self {
        LegendLayout {
            font,
            row: font * 1.45,
            symbol_w: font * 2.6,
            pad: font * 0.8,
        }
    }

    fn height(&self, fig: &Figure) -> f64 {
        let mut h = self.pad;
        for (k, s) in fig.legend.iter().enumerate() {
            if k > 0 {
                h += self.row * 0.5;
            }
            if s.title.is_some() {
                h += self.row;
            }
            for e in &s.entries {
                h += self.row * e.lines.len().max(1) as f64;
            }
        }
        if !fig.notes.is_empty() {
            h += self.row * (0.5 + fig.notes.len() as f64);
        }
        h + self.pad
    }

    fn width<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        fig: &Figure,
    ) -> DrawResult<f64> {
        let mut w: f64 = 0.0;
        for s in &fig.legend {
            if let Some(t) = &s.title {
                w = w.max(text_size(area, t, self.font)?.0 as f64);
            }
            for e in &s.entries {
                for l in &e.lines {
                    w = w.max(self.symbol_w + text_size(area, l, self.font)?.0 as f64);
                }
            }
        }
        for n in &fig.notes {
            w = w.max(text_size(area, n, self.font * 0.85)?.0 as f64);
        }
        Ok(w + 2.0 * self.pad)
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &Figure,
    plan: &Plan,
) -> DrawResult<()> {
    let m = Metrics::of(fig);
    root.fill(&WHITE).map_err(err)?;
    let area = match &fig.title {
        Some(t) => {
            let a = root
                .margin(m.px(10.0), 0, 0, 0)
                .titled(t, text_style(m.title, &BLACK))
                .map_err(err)?;
            a.margin(m.px(6.0), 0, 0, 0)
        }
        None => root.margin(m.px(12.0), 0, 0, 0),
    };
    let (aw, _) = area.dim_in_pixel();

    // Legend panel width: the widest entry, at most 45% of the figure.
    let mut lay = LegendLayout::new(m.legend);
    let has_legend = !fig.legend.is_empty() || !fig.notes.is_empty();
    let mut legend_w = if has_legend {
        lay.width(&area, fig)?
    } else {
        0.0
    };
    let max_w = 0.45 * aw as f64;
    if legend_w > max_w {
        lay = LegendLayout::new(m.legend * max_w / legend_w);
        legend_w = lay.width(&area, fig)?;
    }
    let gap = if has_legend { m.px(14.0) } else { 0 };
    let (chart_area, legend_area) = area.split_horizontally(aw as i32 - legend_w as i32 - gap);

    // Ticks whose labels do not overlap at this size, and label areas sized from them.
    let (cw, ch) = chart_area.dim_in_pixel();
    let (_, tick_h) = text_size(&area, "10⁹", m.tick)?;
    let (_, desc_h) = text_size(&area, "Ag", m.desc)?;
    let x_label_area = tick_h as i32 + desc_h as i32 + m.px(30.0);
    let plot_h = (ch as f64 - x_label_area as f64 - m.px(12.0) as f64).max(10.0);
    let yt = pick_ticks(&area, &plan.yt, plan.y, plot_h, m.tick, false)?;
    let mut ytick_w: u32 = 0;
    for (_, l) in &yt.major {
        ytick_w = ytick_w.max(text_size(&area, l, m.tick)?.0);
    }
    let y_label_area = ytick_w as i32 + desc_h as i32 + m.px(34.0);
    let plot_w = (cw as f64 - y_label_area as f64 - m.px(20.0) as f64).max(10.0);
    let xt = pick_ticks(&area, &plan.xt, plan.x, plot_w, m.tick, true)?;

    let xs = xt.major.clone();
    let ys = yt.major.clone();
    let x_fmt = move |v: &f64| nearest_label(&xs, *v);
    let y_fmt = move |v: &f64| nearest_label(&ys, *v);
    let mut chart = ChartBuilder::on(&chart_area)
        .margin_top(m.px(8.0))
        .margin_right(m.px(12.0))
        .margin_left(m.px(8.0))
        .margin_bottom(m.px(4.0))
        .x_label_area_size(x_label_area)
        .y_label_area_size(y_label_area)
        .build_cartesian_2d(TickedRange::new(plan.x, &xt), TickedRange::new(plan.y, &yt))
        .map_err(err)?;
    let grid = RGBColor(205, 205, 205);
    let light = RGBColor(238, 238, 238);
    chart
        .configure_mesh()
        .x_desc(fig.x.label.as_str())
        .y_desc(fig.y.label.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(text_style(m.tick, &BLACK))
        .axis_desc_style(text_style(m.desc, &BLACK))
        .bold_line_style(grid.stroke_width(1))
        .light_line_style(light.stroke_width(1))
        .axis_style(BLACK.stroke_width(1))
        .set_all_tick_mark_size(m.px(6.0).max(2))
        .x_label_offset(0)
        .draw()
        .map_err(err)?;

    let pa = chart.plotting_area();
    let (prx, pry) = pa.get_pixel_range();
    let to_px = |x: f64, y: f64| pa.map_coordinate(&(fig.x.t(x), fig.y.t(y)));
    let x_at = |k: usize| {
        let u = plan.x.0 + (plan.x.1 - plan.x.0) * k as f64 / SAMPLES as f64;
        (u, fig.x.inv(u))
    };
    for layer in &fig.layers {
        match layer {
            Layer::Band {
                f, color, opacity, ..
            } => {
                // Runs of x where the band is defined become one polygon each, clamped to y.
                let mut run: Vec<(f64, f64, f64)> = Vec::new();
                let flush = |run: &mut Vec<(f64, f64, f64)>| -> DrawResult<()> {
                    if run.len() >= 2 {
                        let mut poly: Vec<(i32, i32)> = run
                            .iter()
                            .map(|&(u, lo, _)| pa.map_coordinate(&(u, lo)))
                            .collect();
                        poly.extend(
                            run.iter()
                                .rev()
                                .map(|&(u, _, hi)| pa.map_coordinate(&(u, hi))),
                        );
                        root.draw(&Polygon::new(poly, color.rgb().mix(*opacity).filled()))
                            .map_err(err)?;
                    }
                    run.clear();
                    Ok(())
                };
                for k in 0..=SAMPLES {
                    let (u, x) = x_at(k);
                    match f(x) {
                        Some((lo, hi)) if band_ok(fig, lo, hi) => {
                            let c = |v: f64| fig.y.t(v).clamp(plan.y.0, plan.y.1);
                            run.push((u, c(lo), c(hi)));
                        }
                        _ => flush(&mut run)?,
                    }
                }
                flush(&mut run)?;
            }
            Layer::Curve { f, style, .. } => {
                let pts: Vec<Option<(f64, f64)>> = (0..=SAMPLES)
                    .map(|k| {
                        let (u, x) = x_at(k);
                        f(x).filter(|v| {
                            v.is_finite() && (fig.y.scale == super::axis::Scale::Linear || *v > 0.0)
                        })
                        .map(|v| (u, fig.y.t(v)))
                    })
                    .collect();
                draw_polyline(root, pa, &pts, plan, style, &m)?;
            }
            Layer::Line { points, style, .. } => {
                let pts: Vec<Option<(f64, f64)>> = points
                    .iter()
                    .map(|&(x, y)| Some((fig.x.t(x), fig.y.t(y))))
                    .collect();
                draw_polyline(root, pa, &pts, plan, style, &m)?;
            }
            Layer::Points { points, style, .. } => {
                for &(x, y) in points {
                    let (u, v) = (fig.x.t(x), fig.y.t(y));
                    if u < plan.x.0 || u > plan.x.1 || v < plan.y.0 || v > plan.y.1 {
                        continue;
                    }
                    draw_marker(root, to_px(x, y), style, m.s)?;
                }
            }
        }
    }
    // Frame around the axes.
    root.draw(&Rectangle::new(
        [(prx.start, pry.start), (prx.end, pry.end)],
        BLACK.stroke_width(1),
    ))
    .map_err(err)?;

    if has_legend {
        draw_legend(&legend_area, fig, &mut lay, pry.start, m.s)?;
    }
    Ok(())
}

/// The first tick choice whose labels keep apart along an axis of `len` pixels (by width on
/// the x axis, by height on the y axis); if none does, the last one thinned until it does.
fn pick_ticks<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    candidates: &[Ticks],
    (lo, hi): (f64, f64),
    len: f64,
    font: f64,
    horizontal: bool,
) -> DrawResult<Ticks> {
    let fits = |t: &Ticks| -> DrawResult<bool> {
        let mut prev: Option<(f64, f64)> = None;
        for (u, l) in &t.major {
            let (w, h) = text_size(area, l, font)?;
            let extent = if horizontal { w as f64 } else { h as f64 };
            let pos = (u - lo) / (hi - lo) * len;
            if let Some((p, e)) = prev
                && (pos - p).abs() < (e + extent) / 2.0 + font * 0.6
            {
                return Ok(false);
            }
            prev = Some((pos, extent));
        }
        Ok(true)
    };
    for t in candidates {
        if fits(t)? {
            return Ok(t.clone());
        }
    }
    let last = candidates.last().cloned().unwrap_or(Ticks {
        major: vec![],
        minor: vec![],
    });
    for k in 2..=last.major.len().max(2) {
        let t = last.every(k);
        if fits(&t)? {
            return Ok(t);
        }
    }
    Ok(last.every(last.major.len().max(1)))
}

/// A linear f64 range (in drawing coordinates) with our own major and minor ticks.
struct TickedRange {
    lo: f64,
    hi: f64,
    major: Vec<f64>,
    minor: Vec<f64>,
}

impl TickedRange {
    fn new((lo, hi): (f64, f64), t: &Ticks) -> Self {
        TickedRange {
            lo,
            hi,
            major: t.major.iter().map(|(u, _)| *u).collect(),
            minor: t.minor.clone(),
        }
    }
}

impl Ranged for TickedRange {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let f = (value - self.lo) / (self.hi - self.lo);
        limit.0 + (f * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.major.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

fn band_ok(fig: &Figure, lo: f64, hi: f64) -> bool {
    lo.is_finite()
        && hi.is_finite()
        && (fig.y.scale == super::axis::Scale::Linear || (lo > 0.0 && hi > 0.0))
}

fn nearest_label(majors: &[(f64, String)], v: f64) -> String {
    majors
        .iter()
        .min_by(|a, b| (a.0 - v).abs().total_cmp(&(b.0 - v).abs()))
        .map(|(_, l)| l.clone())
        .unwrap_or_default()
}

/// Clips segment (a, b) to the rectangle; Liang-Barsky.
fn clip(a: (f64, f64), b: (f64, f64), plan: &Plan) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let mut t0: f64 = 0.0;
    let mut t1: f64 = 1.0;
    for (p, q) in [
        (-dx, a.0 - plan.x.0),
        (dx, plan.x.1 - a.0),
        (-dy, a.1 - plan.y.0),
        (dy, plan.y.1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    (t0 <= t1).then_some((
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    ))
}

/// Draws a polyline given in drawing coordinates (None = gap), clipped to the axes.
fn draw_polyline<DB: DrawingBackend, CT: plotters::coord::CoordTranslate<From = (f64, f64)>>(
    root: &DrawingArea<DB, Shift>,
    pa: &DrawingArea<DB, CT>,
    pts: &[Option<(f64, f64)>],
    plan: &Plan,
    style: &LineStyle,
    m: &Metrics,
) -> DrawResult<()> {
    let mut runs: Vec<Vec<(i32, i32)>> = Vec::new();
    let mut cur: Vec<(i32, i32)> = Vec::new();
    for w in pts.windows(2) {
        match (w[0], w[1]) {
            (Some(a), Some(b)) => match clip(a, b, plan) {
                Some((p, q)) => {
                    let pp = pa.map_coordinate(&p);
                    let qp = pa.map_coordinate(&q);
                    if cur.last() != Some(&pp) {
                        if !cur.is_empty() {
                            runs.push(std::mem::take(&mut cur));
                        }
                        cur.push(pp);
                    }
                    cur.push(qp);
                }
                None => {
                    if !cur.is_empty() {
                        runs.push(std::mem::take(&mut cur));
                    }
                }
            },
            _ => {
                if !cur.is_empty() {
                    runs.push(std::mem::take(&mut cur));
                }
            }
        }
    }
    if !cur.is_empty() {
        runs.push(cur);
    }
    let width = ((style.width * m.s).round() as u32).max(1);
    let shape = style.color.rgb().stroke_width(width);
    for run in runs {
        if style.dashed {
            for seg in dashes(&run, 11.0 * m.s, 7.0 * m.s) {
                root.draw(&PathElement::new(seg, shape)).map_err(err)?;
            }
        } else {
            root.draw(&PathElement::new(run, shape)).map_err(err)?;
        }
    }
    Ok(())
}

/// Splits a pixel polyline into dashes of length `on` separated by `off`.
fn dashes(run: &[(i32, i32)], on: f64, off: f64) -> Vec<Vec<(i32, i32)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(i32, i32)> = Vec::new();
    let mut drawing = true;
    let mut left = on;
    for w in run.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (ax, ay) = (a.0 as f64, a.1 as f64);
        let (dx, dy) = (b.0 as f64 - ax, b.1 as f64 - ay);
        let len = (dx * dx + dy * dy).sqrt();
        let mut t = 0.0;
        if drawing && cur.is_empty() {
            cur.push(a);
        }
        while len - t > left {
            t += left;
            let p = (
                (ax + dx * t / len).round() as i32,
                (ay + dy * t / len).round() as i32,
            );
            if drawing {
                cur.push(p);
                out.push(std::mem::take(&mut cur));
                left = off;
            } else {
                cur.push(p);
                left = on;
            }
            drawing = !drawing;
        }
        left -= len - t;
        if drawing {
            cur.push(b);
        }
    }
    if drawing && cur.len() >= 2 {
        out.push(cur);
    }
    out
}

/// Polygon vertices of a shape of radius `r` around (0, 0), in pixels (y down).
fn outline(shape: Shape, r: f64) -> Vec<(f64, f64)> {
    let regular = |n: usize, r: f64, start: f64| -> Vec<(f64, f64)> {
        (0..n)
            .map(|k| {
                let a = start + std::f64::consts::TAU * k as f64 / n as f64;
                (r * a.cos(), r * a.sin())
            })
            .collect()
    };
    let up = -std::f64::consts::FRAC_PI_2;
    match shape {
        Shape::Circle => regular(28, r, 0.0),
        Shape::Square => {
            let h = r * 0.85;
            vec![(-h, -h), (h, -h), (h, h), (-h, h)]
        }
        Shape::TriangleUp => regular(3, r * 1.2, up)
            .into_iter()
            .map(|(x, y)| (x, y + r * 0.15))
            .collect(),
        Shape::TriangleDown => regular(3, r * 1.2, -up)
            .into_iter()
            .map(|(x, y)| (x, y - r * 0.15))
            .collect(),
        Shape::Diamond => vec![(0.0, -r * 1.25), (r, 0.0), (0.0, r * 1.25), (-r, 0.0)],
        Shape::Pentagon => regular(5, r * 1.05, up),
        Shape::Star => (0..10)
            .map(|k| {
                let rr = if k % 2 == 0 { r * 1.45 } else { r * 0.6 };
                let a = up + std::f64::consts::PI * k as f64 / 5.0;
                (rr * a.cos(), rr * a.sin())
            })
            .collect(),
    }
}

fn draw_marker<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (px, py): (i32, i32),
    style: &MarkerStyle,
    s: f64,
) -> DrawResult<()> {
    let r = style.size * s;
    let pts: Vec<(i32, i32)> = outline(style.shape, r)
        .into_iter()
        .map(|(x, y)| (px + x.round() as i32, py + y.round() as i32))
        .collect();
    let mut closed = pts.clone();
    closed.push(pts[0]);
    if style.filled {
        root.draw(&Polygon::new(pts, style.color.rgb().filled()))
            .map_err(err)?;
        let edge = style.color.darker(0.45).rgb().stroke_width(1);
        root.draw(&PathElement::new(closed, edge)).map_err(err)?;
    } else {
        let w = ((2.2 * s).round() as u32).max(1);
        root.draw(&PathElement::new(closed, style.color.rgb().stroke_width(w)))
            .map_err(err)?;
    }
    Ok(())
}

fn draw_symbol<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    symbol: &Symbol,
    (x0, yc, w): (i32, i32, i32),
    font: f64,
    s: f64,
) -> DrawResult<()> {
    let line = |st: &LineStyle| -> DrawResult<()> {
        let width = ((st.width * s).round() as u32).max(1);
        let shape = st.color.rgb().stroke_width(width);
        let run = vec![(x0, yc), (x0 + w, yc)];
        if st.dashed {
            for seg in dashes(&run, 9.0 * s, 5.0 * s) {
                area.draw(&PathElement::new(seg, shape)).map_err(err)?;
            }
        } else {
            area.draw(&PathElement::new(run, shape)).map_err(err)?;
        }
        Ok(())
    };
    let half = (font * 0.42) as i32;
    match symbol {
        Symbol::Marker(ms) => {
            let scaled = MarkerStyle {
                size: ms.size.min(font * 0.45 / s),
                ..*ms
            };
            draw_marker(area, (x0 + w / 2, yc), &scaled, s)?;
        }
        Symbol::Line(st) => line(st)?,
        Symbol::LineBand(st, op) => {
            area.draw(&Rectangle::new(
                [(x0, yc - half), (x0 + w, yc + half)],
                st.color.rgb().mix(*op).filled(),
            ))
            .map_err(err)?;
            line(st)?;
        }
        Symbol::Band(c, op) => {
            area.draw(&Rectangle::new(
                [(x0, yc - half), (x0 + w, yc + half)],
                c.rgb().mix(*op).filled(),
            ))
            .map_err(err)?;
        }
    }
    Ok(())
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    fig: &Figure,
    lay: &mut LegendLayout,
    top_abs: i32,
    s: f64,
) -> DrawResult<()> {
    let (w, h) = area.dim_in_pixel();
    let (_, ry) = area.get_pixel_range();
    // Align the legend's top with the axes' top; shrink the font if it would not fit.
    let top = (top_abs - ry.start).max(0) as f64;
    let avail = h as f64 - top - 4.0;
    let need = lay.height(fig);
    if need > avail {
        *lay = LegendLayout::new((lay.font * avail / need).max(8.0));
    }
    let box_h = lay.height(fig).min(avail);
    area.draw(&Rectangle::new(
        [(0, top as i32), (w as i32 - 2, (top + box_h) as i32)],
        RGBColor(150, 150, 150).stroke_width(1),
    ))
    .map_err(err)?;
    let left = Pos::new(HPos::Left, VPos::Center);
    let mut y = top + lay.pad + lay.row * 0.5;
    let x0 = lay.pad as i32;
    let sym_w = (lay.symbol_w * 0.78) as i32;
    for (k, sec) in fig.legend.iter().enumerate() {
        if k > 0 {
            y += lay.row * 0.5;
        }
        if let Some(t) = &sec.title {
            area.draw_text(t, &text_style(lay.font, &BLACK).pos(left), (x0, y as i32))
                .map_err(err)?;
            y += lay.row;
        }
        for e in &sec.entries {
            draw_symbol(area, &e.symbol, (x0, y as i32, sym_w), lay.font, s)?;
            for l in &e.lines {
                area.draw_text(
                    l,
                    &text_style(lay.font, &BLACK).pos(left),
                    (x0 + lay.symbol_w as i32, y as i32),
                )
                .map_err(err)?;
                y += lay.row;
            }
        }
    }
    if !fig.notes.is_empty() {
        y += lay.row * 0.5;
        let grey = RGBColor(80, 80, 80);
        for n in &fig.notes {
            area.draw_text(
                n,
                &text_style(lay.font * 0.85, &grey).pos(left),
                (x0, y as i32),
            )
            .map_err(err)?;
            y += lay.row;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_clipped_to_the_axes() {
        let plan = Plan {
            x: (0.0, 1.0),
            y: (0.0, 1.0),
            xt: vec![],
            yt: vec![],
        };
        let (p, q) = clip((-1.0, 0.5), (2.0, 0.5), &plan).expect("crosses");
        assert_eq!((p, q), ((0.0, 0.5), (1.0, 0.5)));
        assert!(clip((-1.0, 2.0), (-0.5, 3.0), &plan).is_none());
        let (p, q) = clip((0.2, 0.2), (0.4, 0.4), &plan).expect("inside");
        assert_eq!((p, q), ((0.2, 0.2), (0.4, 0.4)));
    }

    #[test]
    fn dashes_alternate_and_cover_the_line() {
        let d = dashes(&[(0, 0), (100, 0)], 10.0, 5.0);
        assert_eq!(d.len(), 7);
        assert_eq!(d[0], vec![(0, 0), (10, 0)]);
        assert_eq!(d[1], vec![(15, 0), (25, 0)]);
    }

    #[test]
    fn formats_come_from_extensions() {
        assert_eq!(Format::of(Path::new("a/b.PNG")).expect("png"), Format::Png);
        assert_eq!(Format::of(Path::new("b.svg")).expect("svg"), Format::Svg);
        assert!(Format::of(Path::new("b.pdf")).is_err());
        assert!(Format::of(Path::new("b")).is_err());
    }
}
