//! Signed distance functions of the ten shapes, in the object's unit frame: origin at the
//! object's centre, y pointing up, lengths in units of the object's radius. Negative inside.
//!
//! The rasteriser scales a distance by the radius in pixels and turns it into 1-pixel-wide
//! anti-aliased coverage, so exactness matters only near the boundary. Formulas after Inigo
//! Quilez's 2-D distance functions. Every shape lies within `[-1, 1]^2` (tested), visually
//! centred, with roughly equal ink so size words stay comparable across shapes.

use crate::attributes::Shape;

/// A shape's distance function.
pub(crate) type Sdf = fn(f32, f32) -> f32;

/// The distance function of `shape`, resolved once per object rather than per pixel.
pub(crate) fn sdf_of(shape: Shape) -> Sdf {
    match shape {
        Shape::Circle => circle,
        Shape::Square => square,
        Shape::Triangle => triangle,
        Shape::Star => star,
        Shape::Cross => cross,
        Shape::Ring => ring,
        Shape::Diamond => diamond,
        Shape::Heart => heart,
        Shape::Crescent => crescent,
        Shape::Arrow => arrow,
    }
}

#[inline]
fn length(x: f32, y: f32) -> f32 {
    (x * x + y * y).sqrt()
}

/// Axis-aligned box of half extents `(bx, by)`.
#[inline]
fn sd_box(x: f32, y: f32, bx: f32, by: f32) -> f32 {
    let dx = x.abs() - bx;
    let dy = y.abs() - by;
    length(dx.max(0.0), dy.max(0.0)) + dx.max(dy).min(0.0)
}

/// Isosceles triangle with its apex at the origin, base half-width `qx` at height `qy`
/// (negative `qy`: pointing up).
#[inline]
fn sd_isosceles(x: f32, y: f32, qx: f32, qy: f32) -> f32 {
    let px = x.abs();
    let py = y;
    let qq = qx * qx + qy * qy;
    let ta = ((px * qx + py * qy) / qq).clamp(0.0, 1.0);
    let (ax, ay) = (px - qx * ta, py - qy * ta);
    let tb = (px / qx).clamp(0.0, 1.0);
    let (bx, by) = (px - qx * tb, py - qy);
    let s = -qy.signum();
    let da = (ax * ax + ay * ay, s * (px * qy - py * qx));
    let db = (bx * bx + by * by, s * (py - qy));
    let d = (da.0.min(db.0), da.1.min(db.1));
    -d.0.sqrt() * d.1.signum()
}

fn circle(x: f32, y: f32) -> f32 {
    length(x, y) - 0.9
}

fn square(x: f32, y: f32) -> f32 {
    sd_box(x, y, 0.78, 0.78)
}

/// Equilateral triangle, apex up, bounding box centred.
fn triangle(x: f32, y: f32) -> f32 {
    const K: f32 = 1.732_050_8; // sqrt(3)
    const R: f32 = 0.95; // half side
    let mut px = x.abs() - R;
    let mut py = y + 0.27 + R / K;
    if px + K * py > 0.0 {
        (px, py) = ((px - K * py) * 0.5, (-K * px - py) * 0.5);
    }
    px -= px.clamp(-2.0 * R, 0.0);
    -length(px, py) * py.signum()
}

/// Five-pointed star, one point up.
fn star(x: f32, y: f32) -> f32 {
    const R: f32 = 1.05;
    const RF: f32 = 0.45;
    const K1: (f32, f32) = (0.809_017, -0.587_785_24);
    const K2: (f32, f32) = (-0.809_017, -0.587_785_24);
    let mut px = x.abs();
    let mut py = y + 0.1;
    let d1 = 2.0 * (K1.0 * px + K1.1 * py).max(0.0);
    px -= d1 * K1.0;
    py -= d1 * K1.1;
    let d2 = 2.0 * (K2.0 * px + K2.1 * py).max(0.0);
    px -= d2 * K2.0;
    py -= d2 * K2.1;
    px = px.abs();
    py -= R;
    let (bax, bay) = (RF * -K1.1, RF * K1.0 - 1.0);
    let h = ((px * bax + py * bay) / (bax * bax + bay * bay)).clamp(0.0, R);
    length(px - bax * h, py - bay * h) * (py * bax - px * bay).signum()
}

fn cross(x: f32, y: f32) -> f32 {
    sd_box(x, y, 0.92, 0.3).min(sd_box(x, y, 0.3, 0.92))
}

/// Annulus: outer radius 0.92, inner 0.44.
fn ring(x: f32, y: f32) -> f32 {
    (length(x, y) - 0.68).abs() - 0.24
}

/// Square rotated by 45 degrees.
fn diamond(x: f32, y: f32) -> f32 {
    (x.abs() + y.abs() - 1.0) * std::f32::consts::FRAC_1_SQRT_2
}

/// Heart, tip down, bounding box centred.
fn heart(x: f32, y: f32) -> f32 {
    const S: f32 = 1.62;
    let px = (x / S).abs();
    let py = y / S + 0.552;
    let d = if px + py > 1.0 {
        length(px - 0.25, py - 0.75) - std::f32::consts::SQRT_2 / 4.0
    } else {
        let a = (px * px + (py - 1.0) * (py - 1.0)).min({
            let m = 0.5 * (px + py).max(0.0);
            (px - m) * (px - m) + (py - m) * (py - m)
        });
        a.sqrt() * (px - py).signum()
    };
    d * S
}

/// Disc with an offset disc cut away, opening to the upper right.
fn crescent(x: f32, y: f32) -> f32 {
    let outer = length(x + 0.05, y) - 0.92;
    let cut = length(x - 0.42, y - 0.22) - 0.75;
    outer.max(-cut)
}

/// Upward arrow: a triangular head on a rectangular shaft.
fn arrow(x: f32, y: f32) -> f32 {
    let head = sd_isosceles(x, y - 0.95, 0.75, -0.95);
    let shaft = sd_box(x, y + 0.45, 0.25, 0.5);
    head.min(shaft)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inside(shape: Shape, x: f32, y: f32) -> bool {
        sdf_of(shape)(x, y) < 0.0
    }

    #[test]
    fn known_points_are_inside_or_outside() {
        let inner = [
            (Shape::Circle, 0.0, 0.0),
            (Shape::Square, 0.7, -0.7),
            (Shape::Triangle, 0.0, 0.0),
            (Shape::Triangle, 0.0, 0.75),
            (Shape::Star, 0.0, 0.9),
            (Shape::Star, 0.0, 0.0),
            (Shape::Cross, 0.85, 0.0),
            (Shape::Ring, 0.68, 0.0),
            (Shape::Diamond, 0.0, 0.95),
            (Shape::Heart, 0.0, -0.7),
            (Shape::Heart, 0.5, 0.5),
            (Shape::Crescent, -0.7, 0.0),
            (Shape::Arrow, 0.0, 0.85),
            (Shape::Arrow, 0.0, -0.85),
        ];
        for (shape, x, y) in inner {
            assert!(inside(shape, x, y), "{shape:?} should contain ({x}, {y})");
        }
        let outer = [
            (Shape::Circle, 0.7, 0.7),
            (Shape::Triangle, 0.7, 0.5),
            (Shape::Star, 0.0, -0.65),
            (Shape::Cross, 0.7, 0.7),
            (Shape::Ring, 0.0, 0.0),
            (Shape::Diamond, 0.6, 0.6),
            (Shape::Heart, 0.0, 0.8),
            (Shape::Crescent, 0.4, 0.2),
            (Shape::Arrow, 0.6, -0.5),
        ];
        for (shape, x, y) in outer {
            assert!(
                !inside(shape, x, y),
                "{shape:?} should not contain ({x}, {y})"
            );
        }
    }

    #[test]
    fn every_shape_fits_the_unit_square_and_has_comparable_ink() {
        let n = 200;
        for shape in Shape::ALL {
            let mut area = 0usize;
            for j in 0..n {
                for i in 0..n {
                    let x = -1.3 + 2.6 * (i as f32 + 0.5) / n as f32;
                    let y = -1.3 + 2.6 * (j as f32 + 0.5) / n as f32;
                    if inside(shape, x, y) {
                        assert!(
                            x.abs() <= 1.0 && y.abs() <= 1.0,
                            "{shape:?} leaks at ({x}, {y})"
                        );
                        area += 1;
                    }
                }
            }
            let frac = area as f32 * (2.6 * 2.6) / (n * n) as f32 / 4.0;
            assert!(
                (0.2..0.75).contains(&frac),
                "{shape:?} covers {frac} of the unit square"
            );
        }
    }

    #[test]
    fn distances_are_roughly_euclidean_near_the_boundary() {
        // Stepping 0.1 outward from a boundary point raises the distance by about 0.1.
        assert!((circle(1.0, 0.0) - 0.1).abs() < 1e-5);
        assert!((square(0.88, 0.0) - 0.1).abs() < 1e-5);
        assert!((diamond(1.1, 0.0) - 0.1 * std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-5);
        assert!((ring(0.0, 0.0) - 0.44).abs() < 1e-5);
    }
}
