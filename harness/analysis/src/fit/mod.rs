//! Scaling-law fits: the power law E = beta * C^alpha of Cherti et al. 2023 (OLS in log10-log10
//! space, optionally on a frontier), a saturating law E = E_inf + beta * C^alpha, the Chinchilla
//! approach-3 law L(N, D) = E + A/N^alpha + B/D^beta of Hoffmann et al. 2022 as replicated by
//! Besiroglu et al. 2024, bootstrap intervals, hold-out extrapolation checks, and the fit record
//! written for each fit.

pub mod bootstrap;
pub mod chinchilla;
pub mod extrapolate;
pub mod frontier;
pub mod optim;
pub mod power;
pub mod record;
pub mod saturating;

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

/// Minimum and maximum of an iterator of finite values, `None` when empty.
pub fn range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}
