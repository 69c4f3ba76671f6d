//! Scaling-law fits: the power law E = beta * C^alpha of Cherti et al. 2023 (OLS in log10-log10
//! space, optionally on a frontier), a saturating law E = E_inf + beta * C^alpha, the Chinchilla
//! approach-3 law L(N, D) = E + A/N^alpha + B/D^beta of Hoffmann et al. 2022 as replicated by
//! Besiroglu et al. 2024, its data-constrained form in effective data D' of Muennighoff et al.
//! 2023 ([`constrained`]), the shifted law E = a (C + b)^c + d of Nezhurina et al. 2025,
//! bootstrap and classical intervals, hold-out extrapolation checks, and the fit record written
//! for each fit. A law is fitted only on enough distinct points ([`min_points`]: 1.5 per
//! parameter), and a bootstrap whose resamples too often fall below that is refused in favour of
//! the classical interval (see [`crate::pipeline`]).

pub mod bootstrap;
pub mod chinchilla;
pub mod classical;
pub mod constrained;
pub mod extrapolate;
pub mod frontier;
pub mod law;
pub mod optim;
pub mod power;
pub mod record;
pub mod saturating;
pub mod shifted;

use crate::error::{AnalysisError, Result};

/// One (compute, error) observation with a label saying where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Compute (or any positive scale variable).
    pub x: f64,
    /// Error or loss (lower is better), > 0.
    pub y: f64,
    /// Source, e.g. `file:line` or a trial id.
    pub label: String,
}

impl Point {
    pub fn new(x: f64, y: f64, label: impl Into<String>) -> Self {
        Point {
            x,
            y,
            label: label.into(),
        }
    }
}

/// Fails, naming the point and value, unless every x and y is finite and > 0.
pub fn check_positive(points: &[Point], x_name: &str, y_name: &str) -> Result<()> {
    for p in points {
        for (axis, v) in [(x_name, p.x), (y_name, p.y)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(AnalysisError::NonPositive {
                    axis: axis.to_string(),
                    where_: p.label.clone(),
                    value: v,
                });
            }
        }
    }
    Ok(())
}

/// Fails unless at least `needed` points are available.
pub fn check_count(law: &str, got: usize, needed: usize, why: &str) -> Result<()> {
    if got < needed {
        return Err(AnalysisError::TooFewPoints {
            law: law.to_string(),
            needed,
            got,
            why: why.to_string(),
        });
    }
    Ok(())
}

/// Distinct points a law of `params` parameters needs before it is fitted: one and a half per
/// parameter, and always one more than the parameters (a residual degree of freedom, so the fit
/// can be judged at all). Power law 3, saturating 5, shifted 6, Chinchilla 8.
pub fn min_points(params: usize) -> usize {
    (params + 1).max((3 * params).div_ceil(2))
}

/// Fails unless `distinct` distinct points are enough for a law of `params` parameters; `what`
/// says which points were counted (e.g. "after the pareto frontier").
pub fn check_enough(law: &str, params: usize, distinct: usize, what: &str) -> Result<()> {
    let needed = min_points(params);
    if distinct < needed {
        return Err(AnalysisError::TooFewPoints {
            law: law.to_string(),
            needed,
            got: distinct,
            why: format!(
                "1.5 per parameter and one more than its {params} parameters; counted: {what}; \
                 fit a law with fewer parameters, or add runs"
            ),
        });
    }
    Ok(())
}

/// Minimum and maximum of an iterator of finite values, `None` when empty.
pub fn range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}
