//! Extrapolation check: fit a law on the points below a compute threshold and predict the ones
//! above, the test any scaling law used for planning must pass (Cherti et al. 2023 and Hoffmann
//! et al. 2022 both extrapolate their fits by orders of magnitude). Reports per-point and mean
//! relative errors, (predicted - observed) / observed.

use serde::{Deserialize, Serialize};

use super::record::NamedValue;
use crate::error::{AnalysisError, Result};

/// One held-out point and its prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutPoint {
    pub label: String,
    pub x: f64,
    pub observed: f64,
    pub predicted: f64,
    /// (predicted - observed) / observed.
    pub rel_error: f64,
}

impl HoldoutPoint {
    pub fn new(label: impl Into<String>, x: f64, observed: f64, predicted: f64) -> Self {
        HoldoutPoint {
            label: label.into(),
            x,
            observed,
            predicted,
            rel_error: (predicted - observed) / observed,
        }
    }
}

/// Summary of an extrapolation check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extrapolation {
    /// Points with x <= threshold were fitted, the others predicted.
    pub threshold: f64,
    pub axis: String,
    pub n_fit: usize,
    pub n_held_out: usize,
    pub mean_rel_error: f64,
    pub mean_abs_rel_error: f64,
    pub max_abs_rel_error: f64,
    pub points: Vec<HoldoutPoint>,
    /// The law fitted to the points at or below the threshold, whose predictions these are
    /// (records written before it was kept read back empty).
    #[serde(default)]
    pub fitted_formula: String,
    #[serde(default)]
    pub fitted_parameters: Vec<NamedValue>,
}

/// Splits items into (x <= threshold, x > threshold).
pub fn split<T: Clone>(items: &[T], x: impl Fn(&T) -> f64, threshold: f64) -> (Vec<T>, Vec<T>) {
    items.iter().cloned().partition(|it| x(it) <= threshold)
}

/// Summarises the held-out predictions of the law `fitted` (formula, parameters); fails when
/// nothing was held out.
pub fn summarise(
    threshold: f64,
    axis: &str,
    n_fit: usize,
    points: Vec<HoldoutPoint>,
    fitted: (String, Vec<NamedValue>),
) -> Result<Extrapolation> {
    if points.is_empty() {
        return Err(AnalysisError::arg(
            "holdout-above",
            format!("no point has {axis} above {threshold:e}; nothing to predict"),
        ));
    }
    let n = points.len() as f64;
    Ok(Extrapolation {
        threshold,
        axis: axis.to_string(),
        n_fit,
        n_held_out: points.len(),
        mean_rel_error: points.iter().map(|p| p.rel_error).sum::<f64>() / n,
        mean_abs_rel_error: points.iter().map(|p| p.rel_error.abs()).sum::<f64>() / n,
        max_abs_rel_error: points.iter().map(|p| p.rel_error.abs()).fold(0.0, f64::max),
        points,
        fitted_formula: fitted.0,
        fitted_parameters: fitted.1,
    })
}
