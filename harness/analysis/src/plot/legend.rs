//! The legend panel right of the axes: its layout at a given font size, and its drawing.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figure::*;
use super::marks::*;
use super::render::DrawResult;
use super::render::*;

/// Legend geometry at a given font size.
pub(super) struct LegendLayout {
    pub(super) font: f64,
    pub(super) row: f64,
    pub(super) symbol_w: f64,
    pub(super) pad: f64,
}

impl LegendLayout {
    pub(super) fn new(font: f64) -> Self {
        LegendLayout {
            font,
            row: font * 1.45,
            symbol_w: font * 2.6,
            pad: font * 0.8,
        }
    }

    pub(super) fn height(&self, fig: &Figure) -> f64 {
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

    pub(super) fn width<DB: DrawingBackend>(
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

pub(super) fn draw_legend<DB: DrawingBackend>(
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
