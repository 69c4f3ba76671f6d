//! Rendering a [`Figure`] with plotters: the plan (ranges and ticks, every value checked against
//! its axis before a file is created), the axes, layers clipped to them, dashed lines, markers,
//! and the legend panel right of the axes. PNG through the bitmap backend, SVG through the svg
//! backend, chosen by the output's extension.

use std::fmt;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::Ticks;
use crate::error::{AnalysisError, Result};

use super::figure::*;
use super::legend::*;
use super::marks::*;

const SAMPLES: usize = 256;

/// Ranges, ticks and sampled functions, computed (and checked) before any file is created.
pub(super) struct Plan {
    pub(super) x: (f64, f64),
    pub(super) y: (f64, f64),
    /// Tick choices, preferred first (see [`Axis::tick_candidates`]).
    pub(super) xt: Vec<Ticks>,
    pub(super) yt: Vec<Ticks>,
}

pub(super) fn plan(fig: &Figure) -> Result<Plan> {
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

pub(super) type DrawResult<T> = std::result::Result<T, String>;

pub(super) fn err<E: fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Font sizes and spacings scaled to the figure.
pub(super) struct Metrics {
    pub(super) s: f64,
    pub(super) title: f64,
    pub(super) desc: f64,
    pub(super) tick: f64,
    pub(super) legend: f64,
}

impl Metrics {
    pub(super) fn of(fig: &Figure) -> Metrics {
        let s = (fig.width as f64 / 1400.0).min(fig.height as f64 / 820.0);
        Metrics {
            s,
            title: 27.0 * s,
            desc: 24.0 * s,
            tick: 21.0 * s,
            legend: 19.0 * s,
        }
    }
    pub(super) fn px(&self, v: f64) -> i32 {
        (v * self.s).round() as i32
    }
}

pub(super) fn text_style(size: f64, color: &RGBColor) -> TextStyle<'_> {
    TextStyle::from((FONT, size).into_font()).color(color)
}

pub(super) fn text_size<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    size: f64,
) -> DrawResult<(u32, u32)> {
    area.estimate_text_size(text, &text_style(size, &BLACK))
        .map_err(err)
}

pub(super) fn draw<DB: DrawingBackend>(
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
    for layer in &fig.layers {
        draw_layer(root, pa, layer, fig, plan, &m)?;
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

/// Draws one layer of the figure onto the plotting area `pa` (bands as polygons on `root`).
fn draw_layer<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    root: &DrawingArea<DB, Shift>,
    pa: &DrawingArea<DB, CT>,
    layer: &Layer,
    fig: &Figure,
    plan: &Plan,
    m: &Metrics,
) -> DrawResult<()> {
    let to_px = |x: f64, y: f64| pa.map_coordinate(&(fig.x.t(x), fig.y.t(y)));
    let x_at = |k: usize| {
        let u = plan.x.0 + (plan.x.1 - plan.x.0) * k as f64 / SAMPLES as f64;
        (u, fig.x.inv(u))
    };
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
            draw_polyline(root, pa, &pts, plan, style, m)?;
        }
        Layer::Line { points, style, .. } => {
            let pts: Vec<Option<(f64, f64)>> = points
                .iter()
                .map(|&(x, y)| Some((fig.x.t(x), fig.y.t(y))))
                .collect();
            draw_polyline(root, pa, &pts, plan, style, m)?;
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
    Ok(())
}

/// The first tick choice whose labels keep apart along an axis of `len` pixels (by width on
/// the x axis, by height on the y axis); if none does, the last one thinned until it does.
pub(super) fn pick_ticks<DB: DrawingBackend>(
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
pub(super) struct TickedRange {
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) major: Vec<f64>,
    pub(super) minor: Vec<f64>,
}

impl TickedRange {
    pub(super) fn new((lo, hi): (f64, f64), t: &Ticks) -> Self {
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

pub(super) fn band_ok(fig: &Figure, lo: f64, hi: f64) -> bool {
    lo.is_finite()
        && hi.is_finite()
        && (fig.y.scale == super::axis::Scale::Linear || (lo > 0.0 && hi > 0.0))
}

pub(super) fn nearest_label(majors: &[(f64, String)], v: f64) -> String {
    majors
        .iter()
        .min_by(|a, b| (a.0 - v).abs().total_cmp(&(b.0 - v).abs()))
        .map(|(_, l)| l.clone())
        .unwrap_or_default()
}
