//! The fit record: one JSON document per fit with the law, its parameters (and bootstrap
//! intervals), the points used, the data range, the axes, the objective, the optimiser's
//! outcome and timings, so a figure or a claim can be traced back to exactly what was fitted.
//! Mirrors the quantities Cherti et al. 2023 and Besiroglu et al. 2024 report for their fits.

use serde::{Deserialize, Serialize};

use super::bootstrap::BootstrapSummary;
use super::classical::ClassicalSummary;
use super::extrapolate::Extrapolation;
use crate::records::SCHEMA_VERSION;

/// A named number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedValue {
    pub name: String,
    pub value: f64,
}

impl NamedValue {
    pub fn new(name: &str, value: f64) -> Self {
        NamedValue {
            name: name.to_string(),
            value,
        }
    }
}

/// What was plotted against what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axes {
    /// Compute column (or `6ND` for Chinchilla).
    pub x: String,
    /// E.g. `1 - acc1` or `loss`.
    pub y: String,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub d: Option<String>,
}

/// Which rows were selected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Selection {
    pub table: String,
    pub sweeps: Vec<String>,
    pub dataset: String,
    pub metric: String,
    #[serde(default)]
    pub train_data: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    /// Highest-y points dropped before fitting.
    #[serde(default)]
    pub dropped_highest: usize,
    /// Values read as one group before selecting (`column: NAME=V1,V2`), if any.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Rows kept before selecting (`--where column=value`, the value as matched), if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wheres: Vec<String>,
}

/// One point the fit used (after any frontier reduction).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsedPoint {
    pub label: String,
    pub x: f64,
    pub y: f64,
    #[serde(default)]
    pub n: Option<f64>,
    #[serde(default)]
    pub d: Option<f64>,
    /// Unique pairs the point's data held (the data-constrained law).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique: Option<f64>,
}

/// Minimum and maximum of the used data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRange {
    pub x_min: f64,
    pub x_max: f64,
    pub y_min: f64,
    pub y_max: f64,
}

/// The minimised objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveInfo {
    /// E.g. `ols_log10` or `sum_huber_ln_residuals`.
    pub name: String,
    pub value: f64,
    #[serde(default)]
    pub huber_delta: Option<f64>,
}

/// How the optimiser fared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimiserInfo {
    pub name: String,
    pub starts: usize,
    pub converged_starts: usize,
    #[serde(default)]
    pub best_start: Vec<f64>,
    #[serde(default)]
    pub polish_rounds: usize,
    #[serde(default)]
    pub threads: usize,
}

impl OptimiserInfo {
    /// L-BFGS from a grid of starts on one thread, no polish.
    pub fn lbfgs(starts: usize, converged_starts: usize) -> Self {
        OptimiserInfo {
            name: "argmin L-BFGS (More-Thuente)".into(),
            starts,
            converged_starts,
            best_start: vec![],
            polish_rounds: 0,
            threads: 1,
        }
    }
}

/// N_opt and D_opt at one compute budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimalPoint {
    pub train_flops: f64,
    pub n_opt: f64,
    pub d_opt: f64,
}

/// Compute-optimal allocation of a Chinchilla fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComputeOptimalRecord {
    pub g: f64,
    pub n_exponent: f64,
    pub d_exponent: f64,
    pub examples: Vec<OptimalPoint>,
}

/// Wall-clock seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Timings {
    pub fit_s: f64,
    #[serde(default)]
    pub bootstrap_s: Option<f64>,
    #[serde(default)]
    pub extrapolation_s: Option<f64>,
    pub total_s: f64,
}

/// Everything about one fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitRecord {
    pub schema_version: u32,
    pub law: String,
    /// The law with its numbers, e.g. `E = 5.858 * C^-0.1114`.
    pub formula: String,
    pub parameters: Vec<NamedValue>,
    #[serde(default)]
    pub diagnostics: Vec<NamedValue>,
    pub axes: Axes,
    pub selection: Selection,
    pub frontier: String,
    pub objective: ObjectiveInfo,
    #[serde(default)]
    pub optimiser: Option<OptimiserInfo>,
    pub points_input: usize,
    pub points_used: Vec<UsedPoint>,
    pub data_range: DataRange,
    #[serde(default)]
    pub compute_optimal: Option<ComputeOptimalRecord>,
    #[serde(default)]
    pub bootstrap: Option<BootstrapSummary>,
    /// Why the bootstrap asked for was not run (too few distinct points in too many of its
    /// resamples); `classical` holds the interval reported instead.
    #[serde(default)]
    pub bootstrap_refused: Option<String>,
    /// Classical (linearised least-squares, Student-t) intervals of the parameters, when the
    /// fit has a residual degree of freedom and determines every parameter.
    #[serde(default)]
    pub classical: Option<ClassicalSummary>,
    #[serde(default)]
    pub extrapolation: Option<Extrapolation>,
    /// Parameters the fit left at a bound of their range, each with what that means (empty when
    /// none): the data do not pin them, and the law's other numbers lean on that.
    #[serde(default)]
    pub at_bound: Vec<String>,
    pub timings: Timings,
    pub created_unix_s: f64,
    pub clipscale_analysis_version: String,
}

impl FitRecord {
    /// Value of a named parameter.
    pub fn param(&self, name: &str) -> Option<f64> {
        self.parameters
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value)
    }
}

/// The current schema version for fit records (shared with the trial records).
pub const FIT_SCHEMA_VERSION: u32 = SCHEMA_VERSION;
