//! What the layers are drawn with: segments clipped to the axes (Liang-Barsky), polylines
//! with gaps and dashes, marker outlines and legend symbols.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::figure::*;
use super::render::DrawResult;
use super::render::*;

/// Clips segment (a, b) to the rectangle; Liang-Barsky.
pub(super) fn clip(a: (f64, f64), b: (f64, f64), plan: &Plan) -> Option<((f64, f64), (f64, f64))> {
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
pub(super) fn draw_polyline<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
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
pub(super) fn dashes(run: &[(i32, i32)], on: f64, off: f64) -> Vec<Vec<(i32, i32)>> {
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
pub(super) fn outline(shape: Shape, r: f64) -> Vec<(f64, f64)> {
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

pub(super) fn draw_marker<DB: DrawingBackend>(
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

pub(super) fn draw_symbol<DB: DrawingBackend>(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn segments_are_clipped_to_the_axes() {
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
    pub(super) fn dashes_alternate_and_cover_the_line() {
        let d = dashes(&[(0, 0), (100, 0)], 10.0, 5.0);
        assert_eq!(d.len(), 7);
        assert_eq!(d[0], vec![(0, 0), (10, 0)]);
        assert_eq!(d[1], vec![(15, 0), (25, 0)]);
    }
}
