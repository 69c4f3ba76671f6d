//! Reducing a cloud of (compute, error) points to a frontier before fitting. `binned` is the
//! crude frontier of Cherti et al. 2023 ("Reproducible scaling laws for contrastive
//! language-image learning", LAION-AI/scaling-laws-openclip): equal-width bins in log10 compute
//! over [min, max + 0.1], the minimum log10 error of each non-empty bin placed at the bin centre.
//! `pareto` is the exact alternative: the non-dominated points (no other point has lower-or-equal
//! compute and lower-or-equal error with at least one of the two strictly lower).

use super::Point;
use crate::error::{AnalysisError, Result};

/// Extra width Cherti et al. add above the largest log10 compute so it falls inside the last bin.
pub const BIN_PAD_LOG10: f64 = 0.1;

/// How points are reduced before a fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frontier {
    /// Fit all points.
    None,
    /// Cherti et al.'s binned minimum with this many bins.
    Bins(usize),
    /// The exact Pareto frontier.
    Pareto,
}

impl Frontier {
    /// Short name for records and summaries.
    pub fn describe(&self) -> String {
        match self {
            Frontier::None => "none".into(),
            Frontier::Bins(n) => format!("bins({n})"),
            Frontier::Pareto => "pareto".into(),
        }
    }

    /// Applies the reduction.
    pub fn apply(&self, points: &[Point]) -> Result<Vec<Point>> {
        match self {
            Frontier::None => Ok(points.to_vec()),
            Frontier::Bins(n) => binned(points, *n),
            Frontier::Pareto => Ok(pareto(points)),
        }
    }
}

/// Cherti et al.'s binned frontier: `nbins` equal-width bins over
/// [min log10 x, max log10 x + 0.1]; each non-empty bin yields (10^centre, min y). Points must
/// be positive (checked by the caller); labels say which point won each bin.
pub fn binned(points: &[Point], nbins: usize) -> Result<Vec<Point>> {
    if nbins == 0 {
        return Err(AnalysisError::arg("bins", "need at least one bin"));
    }
    if points.is_empty() {
        return Ok(Vec::new());
    }
    if points.len() <= nbins {
        // every point would sit alone in its bin, moved to the bin's centre: a fit to shifted
        // points that looks like a frontier fit
        return Err(AnalysisError::arg(
            "frontier",
            format!(
                "a binned frontier of {nbins} bins over {} points keeps every point and moves it \
                 to its bin's centre; use --frontier none (or pareto), or fewer bins than points",
                points.len()
            ),
        ));
    }
    let lx: Vec<f64> = points.iter().map(|p| p.x.log10()).collect();
    let lo = lx.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = lx.iter().copied().fold(f64::NEG_INFINITY, f64::max) + BIN_PAD_LOG10;
    let width = (hi - lo) / nbins as f64;
    let mut best: Vec<Option<(usize, usize)>> = vec![None; nbins]; // (point index, count)
    for (i, &x) in lx.iter().enumerate() {
        let k = (((x - lo) / width).floor() as usize).min(nbins - 1);
        best[k] = match best[k] {
            None => Some((i, 1)),
            Some((j, c)) if points[i].y < points[j].y => Some((i, c + 1)),
            Some((j, c)) => Some((j, c + 1)),
        };
    }
    Ok(best
        .iter()
        .enumerate()
        .filter_map(|(k, b)| {
            b.map(|(i, count)| {
                let centre = lo + (k as f64 + 0.5) * width;
                Point {
                    x: 10f64.powf(centre),
                    y: points[i].y,
                    label: format!(
                        "bin {k} of {nbins} ({count} points; min at {})",
                        points[i].label
                    ),
                }
            })
        })
        .collect())
}

/// The exact Pareto frontier: points not dominated by another (x' <= x and y' <= y with one of
/// them strict). Returned in ascending x; exact duplicates dominate neither and are both kept.
pub fn pareto(points: &[Point]) -> Vec<Point> {
    let mut idx: Vec<usize> = (0..points.len()).collect();
    idx.sort_by(|&a, &b| {
        points[a]
            .x
            .total_cmp(&points[b].x)
            .then(points[a].y.total_cmp(&points[b].y))
    });
    let mut out = Vec::new();
    let mut best_before = f64::INFINITY; // min y over strictly smaller x
    let mut g = 0;
    while g < idx.len() {
        let x = points[idx[g]].x;
        let mut end = g;
        while end < idx.len() && points[idx[end]].x == x {
            end += 1;
        }
        // Within a group of equal x the first is the minimum (sorted by y). A point survives if
        // nothing at equal x is lower and nothing at smaller x is lower or equal.
        let group_min = points[idx[g]].y;
        for &i in &idx[g..end] {
            if points[i].y == group_min && group_min < best_before {
                out.push(points[i].clone());
            }
        }
        best_before = best_before.min(group_min);
        g = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: f64, y: f64) -> Point {
        Point::new(x, y, format!("{x},{y}"))
    }

    #[test]
    fn pareto_keeps_non_dominated_points_only() {
        let pts = [
            p(1.0, 0.9),
            p(2.0, 0.95),
            p(2.0, 0.8),
            p(3.0, 0.8),
            p(4.0, 0.5),
            p(5.0, 0.6),
            p(0.5, 0.99),
        ];
        let f = pareto(&pts);
        let xy: Vec<(f64, f64)> = f.iter().map(|q| (q.x, q.y)).collect();
        assert_eq!(xy, vec![(0.5, 0.99), (1.0, 0.9), (2.0, 0.8), (4.0, 0.5)]);
        // Exact duplicates dominate neither each other.
        assert_eq!(pareto(&[p(1.0, 1.0), p(1.0, 1.0)]).len(), 2);
    }

    #[test]
    fn bins_take_the_minimum_at_the_centre() {
        // log10 x = 0, 1, 2, 3, 4 -> range [0, 4.1], width 0.82 with 5 bins.
        let pts = [
            p(1.0, 0.5),
            p(10.0, 0.4),
            p(10.0, 0.3),
            p(100.0, 0.2),
            p(1e4, 0.1),
            p(1e4, 0.15),
        ];
        let b = binned(&pts, 5).expect("bins");
        let w = 4.1 / 5.0;
        let centres: Vec<f64> = b.iter().map(|q| q.x.log10()).collect();
        let ys: Vec<f64> = b.iter().map(|q| q.y).collect();
        // Bin 0 holds x=1; bin 1 holds both x=10 points; bin 2 holds x=100; bin 3 is empty;
        // bin 4 holds both x=1e4 points.
        assert_eq!(ys, vec![0.5, 0.3, 0.2, 0.1]);
        for (c, k) in centres.iter().zip([0.0, 1.0, 2.0, 4.0]) {
            assert!((c - (k + 0.5) * w).abs() < 1e-12, "{c} vs bin {k}");
        }
        assert!(binned(&pts, 0).is_err());
        // no more points than bins: refused, pointing at the alternatives
        let err = binned(&pts[..3], 3)
            .expect_err("3 points, 3 bins")
            .to_string();
        assert!(err.contains("--frontier none"), "{err}");
        assert_eq!(binned(&pts[..4], 3).expect("4 points, 3 bins").len(), 3);
    }
}
