//! From a tidy table to a fit record: rows chosen by [`crate::select`], reduced to a frontier,
//! fitted with the chosen law (the power law of Cherti et al. 2023, a saturating law, the
//! shifted law, Chinchilla approach 3 of Hoffmann et al. 2022, or its data-constrained form of
//! Muennighoff et al. 2023), with bootstrap intervals and a hold-out
//! extrapolation check on request. The CLI in [`crate::cli`] is a thin layer over [`fit_table`].

use std::time::Instant;

use crate::error::{AnalysisError, Result};
use crate::fit::bootstrap::{BootstrapOptions, BootstrapSummary, bootstrap, expand, resample_of};
use crate::fit::chinchilla::{self, ChinchillaFit, ChinchillaOptions};
use crate::fit::classical::{ClassicalSummary, classical};
use crate::fit::constrained::{self, ConstrainedFit, ConstrainedOptions, UniquePoint};
use crate::fit::extrapolate::{self, Extrapolation, HoldoutPoint};
use crate::fit::frontier::{Frontier, pareto};
use crate::fit::power::{self, PowerFit};
use crate::fit::record::*;
use crate::fit::saturating::{self, SaturatingFit, SaturatingOptions};
use crate::fit::shifted::{self, ShiftedFit};
use crate::fit::{Point, check_enough, check_positive, min_points, range};
use crate::import::NdlPoint;
use crate::table::Table;

pub use crate::fit::law::Law;
pub use crate::select::{Obs, SelectSpec, Selected, YKind, is_loss, select};

/// Most resamples of a bootstrap that may hold fewer distinct points than the law needs; above
/// it the percentile band is refused and the classical interval reported instead.
pub const MAX_THIN_RESAMPLES: f64 = 0.05;

/// What to fit and how.
#[derive(Debug, Clone, PartialEq)]
pub struct FitSpec {
    pub law: Law,
    pub frontier: Frontier,
    pub saturating: SaturatingOptions,
    pub chinchilla: ChinchillaOptions,
}

/// A fitted law of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Fitted {
    Power(PowerFit),
    Saturating(SaturatingFit),
    Shifted(ShiftedFit),
    Chinchilla(ChinchillaFit),
    DataConstrained(ConstrainedFit),
}

impl Fitted {
    /// Reported parameters in a fixed order.
    pub fn params(&self) -> Vec<(&'static str, f64)> {
        match self {
            Fitted::Power(f) => vec![("beta", f.beta), ("alpha", f.alpha)],
            Fitted::Saturating(f) => vec![("E_inf", f.e_inf), ("beta", f.beta), ("alpha", f.alpha)],
            Fitted::Shifted(f) => vec![("a", f.a), ("b", f.b), ("c", f.c), ("d", f.d)],
            Fitted::Chinchilla(f) => f.params.reported().to_vec(),
            Fitted::DataConstrained(f) => {
                let mut p = f.params.reported().to_vec();
                p.push(("R_star", f.r_star));
                p
            }
        }
    }

    /// Prediction for one observation.
    pub fn predict(&self, o: &Obs) -> f64 {
        match self {
            Fitted::Power(f) => f.predict(o.x),
            Fitted::Saturating(f) => f.predict(o.x),
            Fitted::Shifted(f) => f.predict(o.x),
            Fitted::Chinchilla(f) => f.params.predict(o.n, o.d),
            Fitted::DataConstrained(f) => f.predict(o.n, o.d, o.u),
        }
    }

    /// The law written out with its numbers.
    pub fn formula(&self) -> String {
        match self {
            Fitted::Power(f) => format!("E = {} * C^{}", sig(f.beta), sig(f.alpha)),
            Fitted::Saturating(f) => format!(
                "E = {} + {} * C^{}",
                sig(f.e_inf),
                sig(f.beta),
                sig(f.alpha)
            ),
            Fitted::Shifted(f) => format!(
                "E = {} * (C + {})^{} + {}",
                sig(f.a),
                sig(f.b),
                sig(f.c),
                sig(f.d)
            ),
            Fitted::Chinchilla(f) => chinchilla_formula(&f.params, "D"),
            Fitted::DataConstrained(f) => format!(
                "{}, D' = U + U R* (1 - e^(-R/R*)), R* = {}",
                chinchilla_formula(&f.params, "D'"),
                sig(f.r_star)
            ),
        }
    }
}

/// Chinchilla's law written out, in data `d` (D, or the data-constrained law's D').
fn chinchilla_formula(p: &chinchilla::ChinchillaParams, d: &str) -> String {
    format!(
        "L = {} + {} / N^{} + {} / {d}^{}",
        sig(p.big_e()),
        sig(p.big_a()),
        sig(p.alpha),
        sig(p.big_b()),
        sig(p.beta)
    )
}

/// Four significant digits.
pub fn sig(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).max(0) as usize;
    if v.abs() >= 1e6 || v.abs() < 1e-4 {
        format!("{v:.3e}")
    } else {
        format!("{v:.digits$}")
    }
}

fn points_of(obs: &[Obs]) -> Vec<Point> {
    obs.iter()
        .map(|o| Point::new(o.x, o.y, o.label.clone()))
        .collect()
}

/// The points of the data-constrained law; fails naming the first without its unique pairs.
fn unique_of(obs: &[Obs]) -> Result<Vec<UniquePoint>> {
    obs.iter()
        .enumerate()
        .map(|(i, o)| {
            if !(o.u.is_finite() && o.u > 0.0) {
                return Err(AnalysisError::arg(
                    "law",
                    format!(
                        "{}: no unique_samples (the pairs its data held); the data-constrained \
                         law needs them (trials record them in data.json)",
                        o.label
                    ),
                ));
            }
            Ok(UniquePoint {
                n: o.n,
                d: o.d,
                unique: o.u,
                loss: o.y,
                line: i + 1,
            })
        })
        .collect()
}

/// The data-constrained fit's options: its profile over R* with `chinchilla`'s Huber delta and
/// threads on the coarse grid of starts (the law is refitted at every R* scanned).
pub fn constrained_options(chinchilla: &ChinchillaOptions) -> ConstrainedOptions {
    let d = ConstrainedOptions::default();
    ConstrainedOptions {
        chinchilla: ChinchillaOptions {
            huber_delta: chinchilla.huber_delta,
            threads: chinchilla.threads,
            ..d.chinchilla.clone()
        },
        ..d
    }
}

fn ndl_of(obs: &[Obs]) -> Vec<NdlPoint> {
    obs.iter()
        .enumerate()
        .map(|(i, o)| NdlPoint {
            n: o.n,
            d: o.d,
            loss: o.y,
            line: i + 1,
        })
        .collect()
}

/// Fits `spec.law` to `obs` (after the frontier); returns the fit and the points it used.
/// Fails when the points left are fewer than the law's [`min_points`].
pub fn fit_obs(obs: &[Obs], spec: &FitSpec) -> Result<(Fitted, Vec<Obs>)> {
    let n_params = spec.law.parameters().len();
    match spec.law {
        Law::Power | Law::Saturating | Law::Shifted => {
            let pts = points_of(obs);
            check_positive(&pts, "compute", "error")?;
            let used = spec.frontier.apply(&pts)?;
            let mut xs: Vec<u64> = used.iter().map(|p| p.x.to_bits()).collect();
            xs.sort_unstable();
            xs.dedup();
            let counted = match spec.frontier {
                Frontier::None => "distinct computes".to_string(),
                f => format!(
                    "distinct computes on the {} frontier of {} points",
                    f.describe(),
                    obs.len()
                ),
            };
            check_enough(spec.law.name(), n_params, xs.len(), &counted)?;
            let fitted = match spec.law {
                Law::Power => Fitted::Power(power::fit_power(&used)?),
                Law::Saturating => {
                    Fitted::Saturating(saturating::fit_saturating(&used, &spec.saturating)?)
                }
                _ => Fitted::Shifted(shifted::fit_shifted(&used)?),
            };
            let used = used
                .into_iter()
                .map(|p| Obs {
                    x: p.x,
                    y: p.y,
                    n: f64::NAN,
                    d: f64::NAN,
                    u: f64::NAN,
                    label: p.label,
                })
                .collect();
            Ok((fitted, used))
        }
        Law::Chinchilla | Law::DataConstrained => {
            if spec.frontier != Frontier::None {
                return Err(AnalysisError::arg(
                    "frontier",
                    format!(
                        "the {} law is fitted to all points; use --frontier none",
                        spec.law.name()
                    ),
                ));
            }
            let all: Vec<&Obs> = obs.iter().collect();
            let distinct = spec.law.distinct(&all);
            if spec.law == Law::Chinchilla {
                check_enough(chinchilla::LAW, n_params, distinct, "distinct (N, D) pairs")?;
                let fit = chinchilla::fit_chinchilla(&ndl_of(obs), &spec.chinchilla)?;
                return Ok((Fitted::Chinchilla(fit), obs.to_vec()));
            }
            check_enough(constrained::LAW, n_params, distinct, "distinct (N, D, U)")?;
            let opts = constrained_options(&spec.chinchilla);
            let fit = constrained::fit_data_constrained(&unique_of(obs)?, &opts)?;
            Ok((Fitted::DataConstrained(fit), obs.to_vec()))
        }
    }
}

/// Fits, and optionally bootstraps and checks extrapolation, returning the full record.
pub fn fit_selected(
    sel: &Selected,
    spec: &FitSpec,
    boot: Option<&BootstrapOptions>,
    holdout_above: Option<f64>,
) -> Result<FitRecord> {
    let t0 = Instant::now();
    let (fitted, used) = fit_obs(&sel.obs, spec)?;
    let fit_s = t0.elapsed().as_secs_f64();
    let params = fitted.params();
    let names: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
    let estimate: Vec<f64> = params.iter().map(|(_, v)| *v).collect();

    let level = boot.map_or(0.95, |b| b.level);
    let classical = classical_of(spec.law, &names, &estimate, &used, level);
    let t1 = Instant::now();
    let bootstrap_refused = boot.and_then(|b| thin_resamples(sel, spec, b)).map(|why| {
        if classical.is_some() {
            format!("{why}; the classical interval is reported instead")
        } else {
            format!("{why}; no classical interval could be computed either")
        }
    });
    let bootstrap = boot
        .filter(|_| bootstrap_refused.is_none())
        .map(|b| bootstrap_fit(sel, spec, &fitted, &names, &estimate, b))
        .transpose()?;
    let bootstrap_s = boot.map(|_| t1.elapsed().as_secs_f64());

    let t2 = Instant::now();
    let extrapolation = holdout_above
        .map(|c| holdout_check(sel, spec, c))
        .transpose()?;
    let extrapolation_s = holdout_above.map(|_| t2.elapsed().as_secs_f64());

    let (x_min, x_max) = range(used.iter().map(|o| o.x)).unwrap_or((f64::NAN, f64::NAN));
    let (y_min, y_max) = range(used.iter().map(|o| o.y)).unwrap_or((f64::NAN, f64::NAN));
    let Description {
        objective,
        optimiser,
        diagnostics,
        compute_optimal,
    } = describe(&fitted, spec, &used);
    let at_bound = parameters_at_bounds(&fitted, x_min, y_min);
    Ok(FitRecord {
        schema_version: FIT_SCHEMA_VERSION,
        law: spec.law.name().to_string(),
        formula: fitted.formula(),
        parameters: params.iter().map(|(n, v)| NamedValue::new(n, *v)).collect(),
        diagnostics,
        axes: sel.axes.clone(),
        selection: sel.selection.clone(),
        frontier: spec.frontier.describe(),
        objective,
        optimiser,
        points_input: sel.obs.len(),
        points_used: used
            .iter()
            .map(|o| UsedPoint {
                label: o.label.clone(),
                x: o.x,
                y: o.y,
                n: o.n.is_finite().then_some(o.n),
                d: o.d.is_finite().then_some(o.d),
                unique: o.u.is_finite().then_some(o.u),
            })
            .collect(),
        data_range: DataRange {
            x_min,
            x_max,
            y_min,
            y_max,
        },
        compute_optimal,
        bootstrap,
        bootstrap_refused,
        classical,
        extrapolation,
        at_bound,
        timings: Timings {
            fit_s,
            bootstrap_s,
            extrapolation_s,
            total_s: t0.elapsed().as_secs_f64(),
        },
        created_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        clipscale_analysis_version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

/// The bootstrap of a fit: `b.reps` refits on resampled points (Chinchilla: on reweighted
/// points, from the full fit's parameters).
fn bootstrap_fit(
    sel: &Selected,
    spec: &FitSpec,
    fitted: &Fitted,
    names: &[&str],
    estimate: &[f64],
    b: &BootstrapOptions,
) -> Result<BootstrapSummary> {
    match fitted {
        Fitted::Chinchilla(full) => {
            let pts = ndl_of(&sel.obs);
            bootstrap(pts.len(), names, estimate, b, |w| {
                let (p, _) = chinchilla::refit(&pts, Some(w), &full.params, &spec.chinchilla)?;
                Ok(p.reported().iter().map(|(_, v)| *v).collect())
            })
        }
        Fitted::DataConstrained(full) => {
            let pts = unique_of(&sel.obs)?;
            let opts = constrained_options(&spec.chinchilla);
            bootstrap(pts.len(), names, estimate, b, |w| {
                let (p, r_star) = constrained::refit_constrained(&pts, w, full, &opts)?;
                let mut v: Vec<f64> = p.reported().iter().map(|(_, v)| *v).collect();
                v.push(r_star);
                Ok(v)
            })
        }
        _ => bootstrap(sel.obs.len(), names, estimate, b, |w| {
            let (f, _) = fit_obs(&expand(&sel.obs, w), spec)?;
            Ok(f.params().iter().map(|(_, v)| *v).collect())
        }),
    }
}

/// The classical interval of the fit to `used` (`None` when it has no residual degree of
/// freedom or a parameter is not determined: then it is not reported).
fn classical_of(
    law: Law,
    names: &[&str],
    estimate: &[f64],
    used: &[Obs],
    level: f64,
) -> Option<ClassicalSummary> {
    let log_scale: Vec<bool> = law.parameters().iter().map(|(_, l)| *l).collect();
    let ln_y: Vec<f64> = used.iter().map(|o| o.y.ln()).collect();
    let ln_pred = |p: &[f64], i: usize| {
        let o = &used[i];
        law.predict(p, o.x, o.n, o.d, o.u).ln()
    };
    classical(names, estimate, &log_scale, &ln_y, &ln_pred, level).ok()
}

/// The classical interval of a recorded fit at `level` (rebuilt from its points and
/// parameters); `None` as for [`fit_selected`]'s.
pub fn classical_at(rec: &FitRecord, level: f64) -> Option<ClassicalSummary> {
    let law = Law::from_name(&rec.law).ok()?;
    let used: Vec<Obs> = rec
        .points_used
        .iter()
        .map(|u| Obs {
            x: u.x,
            y: u.y,
            n: u.n.unwrap_or(f64::NAN),
            d: u.d.unwrap_or(f64::NAN),
            u: u.unique.unwrap_or(f64::NAN),
            label: u.label.clone(),
        })
        .collect();
    let names: Vec<&str> = rec.parameters.iter().map(|p| p.name.as_str()).collect();
    let estimate: Vec<f64> = rec.parameters.iter().map(|p| p.value).collect();
    classical_of(law, &names, &estimate, &used, level)
}

/// Why a bootstrap of `sel` would mislead, if it would: more than [`MAX_THIN_RESAMPLES`] of its
/// resamples hold fewer distinct points than the law needs once the frontier is taken (their
/// refits fail, and a percentile band from the rest is narrower than the data allow). Draws the
/// same resamples the bootstrap would.
fn thin_resamples(sel: &Selected, spec: &FitSpec, b: &BootstrapOptions) -> Option<String> {
    let law = spec.law;
    let needed = min_points(law.parameters().len());
    let n = sel.obs.len();
    let thin = (0..b.reps)
        .filter(|&r| {
            let drawn = expand(&sel.obs, &resample_of(b.seed, r, n));
            if !law.of_compute() {
                return law.distinct(&drawn.iter().collect::<Vec<_>>()) < needed;
            }
            let Ok(front) = spec.frontier.apply(&points_of(&drawn)) else {
                return true;
            };
            let mut xs: Vec<u64> = front.iter().map(|p| p.x.to_bits()).collect();
            xs.sort_unstable();
            xs.dedup();
            xs.len() < needed
        })
        .count();
    let distinct = law.distinct(&sel.obs.iter().collect::<Vec<_>>());
    (thin as f64 > MAX_THIN_RESAMPLES * b.reps as f64).then(|| {
        format!(
            "{thin} of {} resamples ({:.0}%) of these {distinct} distinct points keep fewer than \
             the {needed} the {} law needs{}; percentile intervals from the rest would be \
             narrower than the data allow",
            b.reps,
            100.0 * thin as f64 / b.reps as f64,
            law.name(),
            match spec.frontier {
                Frontier::None => String::new(),
                f => format!(" on the {} frontier", f.describe()),
            }
        )
    })
}

/// The parameters that `fitted` left at a bound of their range, said in words. `y_min` is the
/// lowest fitted error or loss (the scale against which "zero" is judged), `x_min` the lowest
/// fitted compute (the scale of the shifted law's b).
fn parameters_at_bounds(fitted: &Fitted, x_min: f64, y_min: f64) -> Vec<String> {
    let zero = 1e-6 * y_min.abs();
    let mut out = Vec::new();
    match fitted {
        Fitted::Power(_) => {}
        Fitted::Shifted(f) => {
            for (name, v, what, tiny) in [
                ("b", f.b, "no bend at small compute", 1e-6 * x_min),
                ("c", f.c, "no decrease with compute", 1e-6),
                ("d", f.d, "no floor", zero),
            ] {
                if v.abs() <= tiny {
                    out.push(format!(
                        "{name} = {v:.2e} at its bound 0: the data show {what}"
                    ));
                }
            }
            if f.d >= (1.0 - 1e-6) * y_min {
                out.push(format!(
                    "d = {} at its upper bound, the lowest observed error: the floor is pinned \
                     to the best point",
                    sig(f.d)
                ));
            }
        }
        Fitted::Saturating(f) => {
            if f.e_inf_at_bound {
                out.push(format!(
                    "E_inf = {} at its upper bound, the lowest observed error: the data show no \
                     saturation below their lowest point",
                    sig(f.e_inf)
                ));
            } else if f.e_inf <= zero {
                out.push(format!(
                    "E_inf = {:.2e} at its lower bound 0: the data show no floor; the power law \
                     alone describes them",
                    f.e_inf
                ));
            }
        }
        Fitted::Chinchilla(ChinchillaFit { params, .. })
        | Fitted::DataConstrained(ConstrainedFit { params, .. }) => {
            for (name, v) in params.reported().into_iter().take(3) {
                if v <= zero {
                    out.push(format!(
                        "{name} = {v:.2e} at its lower bound 0: the points cannot pin this term \
                         (too few, or too narrow a range of N and D)"
                    ));
                }
            }
            if let Fitted::DataConstrained(f) = fitted {
                if f.r_star_at_bound {
                    out.push(format!(
                        "R* = {} at the top of its scan: repetition showed no cost in these \
                         points (D' = D; the law is Chinchilla's)",
                        sig(f.r_star)
                    ));
                }
                if f.r_star_at_lower_bound {
                    out.push(format!(
                        "R* = {} at the bottom of its scan: a repeated pair is worth next to \
                         nothing in these points, or they cannot tell",
                        sig(f.r_star)
                    ));
                }
            }
        }
    }
    out
}

/// The law fitted to the points below compute `c`, judged on those above it.
fn holdout_check(sel: &Selected, spec: &FitSpec, c: f64) -> Result<Extrapolation> {
    let (low, high) = extrapolate::split(&sel.obs, |o| o.x, c);
    let (f, _) = fit_obs(&low, spec)?;
    // A frontier law predicts the best achievable error, so it is judged on the held-out
    // frontier; without a frontier every held-out point counts.
    let judged = if spec.frontier == Frontier::None {
        high
    } else {
        let keep = pareto(&points_of(&high));
        high.into_iter()
            .filter(|o| keep.iter().any(|p| p.label == o.label))
            .collect()
    };
    let pts = judged
        .iter()
        .map(|o| HoldoutPoint::new(o.label.clone(), o.x, o.y, f.predict(o)))
        .collect();
    let params = f.params().into_iter();
    let fitted = (
        f.formula(),
        params.map(|(n, v)| NamedValue::new(n, v)).collect(),
    );
    extrapolate::summarise(c, &sel.axes.x, low.len(), pts, fitted)
}

/// How a law was fitted, for its record.
struct Description {
    objective: ObjectiveInfo,
    optimiser: Option<OptimiserInfo>,
    diagnostics: Vec<NamedValue>,
    compute_optimal: Option<ComputeOptimalRecord>,
}

/// The objective, optimiser, diagnostics and (Chinchilla) compute-optimal allocation of a fit
/// to the points `used`.
fn describe(fitted: &Fitted, spec: &FitSpec, used: &[Obs]) -> Description {
    let delta = spec.chinchilla.huber_delta;
    let (objective, optimiser, diagnostics, compute_optimal) = match fitted {
        Fitted::Power(f) => (
            ObjectiveInfo {
                name: "ols_log10_sse".into(),
                value: f.sse_log10,
                huber_delta: None,
            },
            None,
            vec![
                NamedValue::new("r2_log10", f.r2),
                NamedValue::new("rmse_log10", f.rmse_log10),
            ],
            None,
        ),
        Fitted::Saturating(f) => (
            ObjectiveInfo {
                name: "sum_huber_ln_residuals".into(),
                value: f.objective,
                huber_delta: Some(spec.saturating.huber_delta),
            },
            Some(OptimiserInfo::lbfgs(f.starts, f.converged_starts)),
            vec![
                NamedValue::new("iterations", f.iterations as f64),
                NamedValue::new("e_inf_at_bound", f64::from(u8::from(f.e_inf_at_bound))),
            ],
            None,
        ),
        Fitted::Shifted(f) => (
            ObjectiveInfo {
                name: "sum_squared_ln_residuals".into(),
                value: f.objective,
                huber_delta: None,
            },
            Some(OptimiserInfo::lbfgs(f.starts, f.converged_starts)),
            vec![NamedValue::new("iterations", f.iterations as f64)],
            None,
        ),
        Fitted::Chinchilla(f) => {
            let co = f.params.compute_optimal();
            let (c_lo, c_hi) = range(used.iter().map(|o| 6.0 * o.n * o.d)).unwrap_or((1e18, 1e24));
            let examples = (c_lo.log10().floor() as i32..=c_hi.log10().ceil() as i32 + 2)
                .map(|k| {
                    let c = 10f64.powi(k);
                    let (n, d) = co.at(c);
                    OptimalPoint {
                        train_flops: c,
                        n_opt: n,
                        d_opt: d,
                    }
                })
                .collect();
            (
                ObjectiveInfo {
                    name: "sum_huber_ln_residuals".into(),
                    value: f.objective,
                    huber_delta: Some(delta),
                },
                Some(OptimiserInfo {
                    name: "argmin L-BFGS (More-Thuente), grid of starts + polish".into(),
                    starts: f.starts,
                    converged_starts: f.converged_starts,
                    best_start: f.best_start.to_vec(),
                    polish_rounds: f.polish_rounds,
                    threads: f.threads,
                }),
                vec![
                    NamedValue::new("grid_objective", f.grid_objective),
                    NamedValue::new("grid_s", f.grid_s),
                    NamedValue::new("polish_s", f.polish_s),
                ],
                Some(ComputeOptimalRecord {
                    g: co.g,
                    n_exponent: co.n_exponent,
                    d_exponent: co.d_exponent,
                    examples,
                }),
            )
        }
        Fitted::DataConstrained(f) => {
            let mut diagnostics = vec![
                NamedValue::new("r_star_at_bound", f64::from(u8::from(f.r_star_at_bound))),
                NamedValue::new(
                    "max_epochs",
                    used.iter().map(|o| o.d / o.u).fold(0.0, f64::max),
                ),
            ];
            diagnostics.extend(f.scan.iter().map(|(r, obj)| {
                NamedValue::new(&format!("scan_objective_r_star_{}", sig(*r)), *obj)
            }));
            (
                ObjectiveInfo {
                    name: "sum_huber_ln_residuals".into(),
                    value: f.objective,
                    huber_delta: Some(delta),
                },
                Some(OptimiserInfo {
                    name: "R* profiled: log-spaced scan of Chinchilla fits in D', then \
                           golden-section search of ln R*, each step an L-BFGS polish"
                        .into(),
                    starts: f.scan.len(),
                    converged_starts: f.scan.len(),
                    best_start: Vec::new(),
                    polish_rounds: 0,
                    threads: spec.chinchilla.threads,
                }),
                diagnostics,
                None,
            )
        }
    };
    Description {
        objective,
        optimiser,
        diagnostics,
        compute_optimal,
    }
}

/// Selects from `table` and fits: the whole pipeline.
pub fn fit_table(
    table: &Table,
    select_spec: &SelectSpec,
    spec: &FitSpec,
    boot: Option<&BootstrapOptions>,
    holdout_above: Option<f64>,
) -> Result<FitRecord> {
    let sel = select(table, select_spec)?;
    fit_selected(&sel, spec, boot, holdout_above)
}
