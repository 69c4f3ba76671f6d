//! A plotters drawing backend for PNG: plotters' bitmap backend for every shape, with text laid
//! out and rasterised here by ab_glyph from the bundled font, honouring each glyph's side
//! bearings and kerning (plotters' own ab_glyph path places glyphs by advance only, which makes
//! spacing uneven, e.g. "Vi T"). Text size, anchors and the 90/180/270-degree rotations plotters
//! uses for axis descriptions behave as plotters documents them.

use ab_glyph::{Font, FontRef, Glyph, PxScale, ScaleFont, point};
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

/// The bitmap backend with bearing-aware text.
pub struct GlyphBackend<'a> {
    inner: BitMapBackend<'a>,
    font: FontRef<'static>,
}

impl<'a> GlyphBackend<'a> {
    /// Wraps `inner`; `font` must be a TrueType/OpenType font.
    pub fn new(inner: BitMapBackend<'a>, font: &'static [u8]) -> Result<Self, String> {
        let font = FontRef::try_from_slice(font).map_err(|e| format!("font: {e}"))?;
        Ok(GlyphBackend { inner, font })
    }
}

/// Glyphs placed with the top of the ascent at y = 0, and the box size.
struct Laid {
    glyphs: Vec<Glyph>,
    width: f32,
    height: f32,
}

fn layout(font: &FontRef<'static>, text: &str, size: f64) -> Laid {
    let scale = PxScale::from(size as f32);
    let sf = font.as_scaled(scale);
    let mut caret = 0.0f32;
    let mut prev = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars().filter(|c| !c.is_control()) {
        let id = sf.glyph_id(c);
        if let Some(p) = prev {
            caret += sf.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(scale, point(caret, sf.ascent())));
        caret += sf.h_advance(id);
        prev = Some(id);
    }
    Laid {
        glyphs,
        width: caret,
        height: sf.ascent() - sf.descent(),
    }
}

type Res<T> = Result<T, DrawingErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>>;

impl DrawingBackend for GlyphBackend<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Res<()> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Res<()> {
        self.inner.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Res<()> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Res<()> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Res<()> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Res<()> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Res<()> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Res<()> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> Res<()> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> Res<(u32, u32)> {
        let l = layout(&self.font, text, style.size());
        Ok((l.width.ceil() as u32, l.height.ceil() as u32))
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Res<()> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let l = layout(&self.font, text, style.size());
        let dx = match style.anchor().h_pos {
            HPos::Left => 0.0,
            HPos::Center => -l.width / 2.0,
            HPos::Right => -l.width,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0.0,
            VPos::Center => -l.height / 2.0,
            VPos::Bottom => -l.height,
        };
        // Whole-pixel offsets, so rounding never merges or skips a row of a glyph.
        let (dx, dy) = (dx.round() as i32, dy.round() as i32);
        let trans = style.transform();
        let (w, h) = self.get_size();
        let mut first_err = None;
        for g in l.glyphs {
            let Some(og) = self.font.outline_glyph(g) else {
                continue;
            };
            let b = og.px_bounds();
            og.draw(|x, y, cov| {
                if cov <= 0.0 || first_err.is_some() {
                    return;
                }
                let gx = b.min.x.round() as i32 + x as i32 + dx;
                let gy = b.min.y.round() as i32 + y as i32 + dy;
                let (tx, ty) = trans.transform(gx, gy);
                let (px, py) = (pos.0 + tx, pos.1 + ty);
                if px >= 0 && py >= 0 && (px as u32) < w && (py as u32) < h {
                    let c = BackendColor {
                        alpha: color.alpha * f64::from(cov.min(1.0)),
                        rgb: color.rgb,
                    };
                    if let Err(e) = self.inner.draw_pixel((px, py), c) {
                        first_err = Some(e);
                    }
                }
            });
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
