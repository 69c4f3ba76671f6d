//! Chinchilla approach 3 (Hoffmann et al. 2022, "Training compute-optimal large language
//! models"), as replicated by Besiroglu et al. 2024 ("Chinchilla scaling: a replication
//! attempt"): L(N, D) = E + A/N^alpha + B/D^beta, fitted as
//! log L = LSE(a - alpha log N, b - beta log D, e) with A = e^a, B = e^b, E = e^e, minimising the
//! sum of Huber losses (delta 1e-3) of predicted minus observed log L with L-BFGS (argmin) from
//! every point of the grid alpha, beta in {0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1},
//! a, b in {0, 5, ..., 25}; the best start is then polished with a tight tolerance. Also the
//! compute-optimal allocation N_opt(C), D_opt(C) under C = 6ND.

use std::time::Instant;

use super::check_count;
use super::optim::{LbfgsOptions, Minimum, Objective, huber, huber_grad, minimize};
use crate::error::{AnalysisError, Result};
use crate::import::NdlPoint;

/// Law name used in records and errors.
pub const LAW: &str = "chinchilla";

/// Parameter names in optimisation order.
pub const RAW_NAMES: [&str; 5] = ["a", "b", "e", "alpha", "beta"];

/// The start grid of Hoffmann et al. 2022 (4,500 points by default).
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    pub e: Vec<f64>,
    pub alpha: Vec<f64>,
    pub beta: Vec<f64>,
}

fn steps(lo: f64, step: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| lo + step * i as f64).collect()
}

impl Default for Grid {
    fn default() -> Self {
        Grid {
            a: steps(0.0, 5.0, 6),
            b: steps(0.0, 5.0, 6),
            e: steps(-1.0, 0.5, 5),
            alpha: steps(0.0, 0.5, 5),
            beta: steps(0.0, 0.5, 5),
        }
    }
}

impl Grid {
    /// A subset of the published grid, 243 starts (a, b in 0, 10, 20; e in -1, 0, 1; alpha,
    /// beta in 0, 0.5, 1): for the many small fits of forecasts, about 18 times faster.
    pub fn coarse() -> Self {
        Grid {
            a: steps(0.0, 10.0, 3),
            b: steps(0.0, 10.0, 3),
            e: steps(-1.0, 1.0, 3),
            alpha: steps(0.0, 0.5, 3),
            beta: steps(0.0, 0.5, 3),
        }
    }

    /// All starts as [a, b, e, alpha, beta], in a fixed order.
    pub fn starts(&self) -> Vec<[f64; 5]> {
        let mut out = Vec::with_capacity(self.len());
        for &alpha in &self.alpha {
            for &beta in &self.beta {
                for &e in &self.e {
                    for &a in &self.a {
                        for &b in &self.b {
                            out.push([a, b, e, alpha, beta]);
                        }
                    }
                }
            }
        }
        out
    }

    pub fn len(&self) -> usize {
        self.a.len() * self.b.len() * self.e.len() * self.alpha.len() * self.beta.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Options of the Chinchilla fit.
#[derive(Debug, Clone, PartialEq)]
pub struct ChinchillaOptions {
    pub huber_delta: f64,
    pub grid: Grid,
    /// Stopping rules for each grid start.
    pub grid_lbfgs: LbfgsOptions,
    /// Stopping rules for the polish of the best start (repeated while it still improves).
    pub polish_lbfgs: LbfgsOptions,
    /// Worker threads over starts; 0 = all logical cores.
    pub threads: usize,
}

impl Default for ChinchillaOptions {
    fn default() -> Self {
        ChinchillaOptions {
            huber_delta: 1e-3,
            grid: Grid::default(),
            grid_lbfgs: LbfgsOptions {
                tol_grad: 1e-7,
                tol_cost: 0.0,
                max_iters: 1000,
                memory: 10,
            },
            polish_lbfgs: LbfgsOptions {
                tol_grad: 1e-14,
                tol_cost: 0.0,
                max_iters: 20_000,
                memory: 20,
            },
            threads: 0,
        }
    }
}

/// Raw parameters (a, b, e, alpha, beta) of log L = LSE(a - alpha ln N, b - beta ln D, e).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChinchillaParams {
    pub a: f64,
    pub b: f64,
    pub e: f64,
    pub alpha: f64,
    pub beta: f64,
}

impl ChinchillaParams {
    pub fn from_raw(x: &[f64]) -> Self {
        ChinchillaParams {
            a: x[0],
            b: x[1],
            e: x[2],
            alpha: x[3],
            beta: x[4],
        }
    }
    pub fn raw(&self) -> [f64; 5] {
        [self.a, self.b, self.e, self.alpha, self.beta]
    }
    /// A = e^a.
    pub fn big_a(&self) -> f64 {
        self.a.exp()
    }
    /// B = e^b.
    pub fn big_b(&self) -> f64 {
        self.b.exp()
    }
    /// E = e^e, the irreducible loss.
    pub fn big_e(&self) -> f64 {
        self.e.exp()
    }
    /// L(N, D) = E + A/N^alpha + B/D^beta.
    pub fn predict(&self, n: f64, d: f64) -> f64 {
        self.big_e() + self.big_a() / n.powf(self.alpha) + self.big_b() / d.powf(self.beta)
    }
    /// Named reported parameters: E, A, B, alpha, beta.
    pub fn reported(&self) -> [(&'static str, f64); 5] {
        [
            ("E", self.big_e()),
            ("A", self.big_a()),
            ("B", self.big_b()),
            ("alpha", self.alpha),
            ("beta", self.beta),
        ]
    }
    /// The compute-optimal allocation that follows from these parameters.
    pub fn compute_optimal(&self) -> ComputeOptimal {
        let s = self.alpha + self.beta;
        ComputeOptimal {
            g: (self.alpha * self.big_a() / (self.beta * self.big_b())).powf(1.0 / s),
            n_exponent: self.beta / s,
            d_exponent: self.alpha / s,
        }
    }
}

/// N_opt(C) = G (C/6)^(beta/(alpha+beta)), D_opt(C) = G^-1 (C/6)^(alpha/(alpha+beta)), from
/// minimising L(N, D) subject to C = 6ND.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ComputeOptimal {
    /// G = (alpha A / (beta B))^(1/(alpha+beta)).
    pub g: f64,
    /// beta / (alpha + beta).
    pub n_exponent: f64,
    /// alpha / (alpha + beta).
    pub d_exponent: f64,
}

impl ComputeOptimal {
    /// (N_opt, D_opt) at training compute `c` FLOPs.
    pub fn at(&self, c: f64) -> (f64, f64) {
        let x = c / 6.0;
        (
            self.g * x.powf(self.n_exponent),
            x.powf(self.d_exponent) / self.g,
        )
    }
}

/// Result of a full grid fit.
#[derive(Debug, Clone, PartialEq)]
pub struct ChinchillaFit {
    pub params: ChinchillaParams,
    /// Sum of Huber losses at the optimum.
    pub objective: f64,
    pub n_points: usize,
    pub starts: usize,
    /// Starts that met a tolerance (rather than hitting the iteration cap or a line-search stop).
    pub converged_starts: usize,
    /// The grid point whose run ended lowest, [a, b, e, alpha, beta].
    pub best_start: [f64; 5],
    /// Objective of the best grid run before polishing.
    pub grid_objective: f64,
    pub polish_rounds: usize,
    pub threads: usize,
    pub grid_s: f64,
    pub polish_s: f64,
}

/// The Huber objective over (ln N, ln D, ln L) with optional integer weights (bootstrap counts).
pub struct ChinchillaObjective {
    ln_n: Vec<f64>,
    ln_d: Vec<f64>,
    ln_l: Vec<f64>,
    w: Vec<f64>,
    delta: f64,
}

impl ChinchillaObjective {
    /// Builds the objective; `weights` (one per point) default to 1. Points must be positive.
    pub fn new(points: &[NdlPoint], weights: Option<&[f64]>, delta: f64) -> Result<Self> {
        for p in points {
            for (axis, v) in [("N (params)", p.n), ("D (samples)", p.d), ("loss", p.loss)] {
                if !(v.is_finite() && v > 0.0) {
                    return Err(AnalysisError::NonPositive {
                        axis: axis.into(),
                        where_: format!("point at line {}", p.line),
                        value: v,
                    });
                }
            }
        }
        // Keep only points with positive weight: a bootstrap resample touches ~63% of them.
        let mut o = ChinchillaObjective {
            ln_n: vec![],
            ln_d: vec![],
            ln_l: vec![],
            w: vec![],
            delta,
        };
        for (i, p) in points.iter().enumerate() {
            let w = weights.map_or(1.0, |w| w.get(i).copied().unwrap_or(0.0));
            if w > 0.0 {
                o.ln_n.push(p.n.ln());
                o.ln_d.push(p.d.ln());
                o.ln_l.push(p.loss.ln());
                o.w.push(w);
            }
        }
        Ok(o)
    }

    /// Objective value at raw parameters.
    pub fn value(&self, x: &[f64; 5]) -> f64 {
        self.eval(x, &mut [0.0; 5])
    }
}

impl Objective for ChinchillaObjective {
    fn dim(&self) -> usize {
        5
    }
    fn eval(&self, p: &[f64], g: &mut [f64]) -> f64 {
        let (a, b, e, alpha, beta) = (p[0], p[1], p[2], p[3], p[4]);
        let (mut f, mut ga, mut gb, mut ge, mut gal, mut gbe) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for i in 0..self.ln_l.len() {
            let (ln_n, ln_d) = (self.ln_n[i], self.ln_d[i]);
            let t1 = a - alpha * ln_n;
            let t2 = b - beta * ln_d;
            // Stable log-sum-exp: the largest term is exp(0) = 1, so only two exponentials.
            let (m, e1, e2, e3) = if t1 >= t2 && t1 >= e {
                (t1, 1.0, (t2 - t1).exp(), (e - t1).exp())
            } else if t2 >= e {
                (t2, (t1 - t2).exp(), 1.0, (e - t2).exp())
            } else {
                (e, (t1 - e).exp(), (t2 - e).exp(), 1.0)
            };
            let s = e1 + e2 + e3;
            let r = m + s.ln() - self.ln_l[i];
            let w = self.w[i];
            f += w * huber(r, self.delta);
            let h = w * huber_grad(r, self.delta) / s;
            ga += h * e1;
            gal -= h * e1 * ln_n;
            gb += h * e2;
            gbe -= h * e2 * ln_d;
            ge += h * e3;
        }
        g[0] = ga;
        g[1] = gb;
        g[2] = ge;
        g[3] = gal;
        g[4] = gbe;
        f
    }
}

/// Drops the `k` highest-loss points (Besiroglu et al. drop 5 of 245).
pub fn drop_highest_loss(points: &[NdlPoint], k: usize) -> Vec<NdlPoint> {
    let mut idx: Vec<usize> = (0..points.len()).collect();
    idx.sort_by(|&i, &j| points[j].loss.total_cmp(&points[i].loss));
    let mut drop = vec![false; points.len()];
    for &i in idx.iter().take(k) {
        drop[i] = true;
    }
    points
        .iter()
        .zip(drop)
        .filter(|(_, d)| !d)
        .map(|(p, _)| *p)
        .collect()
}

/// Number of worker threads for `requested` (0 = all logical cores).
pub fn worker_threads(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    }
}

/// Runs L-BFGS from every start, spread over `threads`; returns (best run, its start index,
/// converged count). Ties go to the lower start index, so the result does not depend on threads.
fn run_starts(
    obj: &ChinchillaObjective,
    starts: &[[f64; 5]],
    opts: &LbfgsOptions,
    threads: usize,
) -> (Option<(Minimum, usize)>, usize) {
    let threads = threads.clamp(1, starts.len().max(1));
    let work = |t: usize| {
        let mut best: Option<(Minimum, usize)> = None;
        let mut converged = 0;
        for i in (t..starts.len()).step_by(threads) {
            let Ok(run) = minimize(obj, &starts[i], opts) else {
                continue;
            };
            converged += usize::from(run.converged);
            if run.f.is_finite() && best.as_ref().is_none_or(|(b, _)| run.f < b.f) {
                best = Some((run, i));
            }
        }
        (best, converged)
    };
    let results: Vec<(Option<(Minimum, usize)>, usize)> = if threads == 1 {
        vec![work(0)]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|t| s.spawn(move || work(t))).collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        })
    };
    let mut best: Option<(Minimum, usize)> = None;
    let mut converged = 0;
    for (b, c) in results {
        converged += c;
        if let Some((run, i)) = b {
            let better = match &best {
                None => true,
                Some((bb, bi)) => run.f < bb.f || (run.f == bb.f && i < *bi),
            };
            if better {
                best = Some((run, i));
            }
        }
    }
    (best, converged)
}

/// Repeats tight L-BFGS runs from `x` (fresh history each time) while the objective still drops.
/// Returns (x, f, rounds).
pub fn polish(
    obj: &ChinchillaObjective,
    x: [f64; 5],
    f: f64,
    opts: &LbfgsOptions,
) -> ([f64; 5], f64, usize) {
    let (mut x, mut f) = (x, f);
    let mut rounds = 0;
    for _ in 0..20 {
        let Ok(run) = minimize(obj, &x, opts) else {
            break;
        };
        rounds += 1;
        if run.f.is_nan() || run.f >= f {
            break;
        }
        let gain = f - run.f;
        x.copy_from_slice(&run.x);
        f = run.f;
        if gain <= 1e-15 * f.abs().max(1e-300) {
            break;
        }
    }
    (x, f, rounds)
}

/// Fits the Chinchilla law to (N, D, L) points (needs 6: five parameters plus one) from the full
/// grid of starts, then polishes the winner.
pub fn fit_chinchilla(points: &[NdlPoint], opts: &ChinchillaOptions) -> Result<ChinchillaFit> {
    check_count(
        LAW,
        points.len(),
        6,
        "five parameters plus one degree of freedom",
    )?;
    let obj = ChinchillaObjective::new(points, None, opts.huber_delta)?;
    let starts = opts.grid.starts();
    if starts.is_empty() {
        return Err(AnalysisError::arg("grid", "the start grid is empty"));
    }
    let threads = worker_threads(opts.threads);
    let t0 = Instant::now();
    let (best, converged) = run_starts(&obj, &starts, &opts.grid_lbfgs, threads);
    let grid_s = t0.elapsed().as_secs_f64();
    let (run, start_idx) =
        best.ok_or_else(|| AnalysisError::fit(LAW, "no start of the grid could be evaluated"))?;
    let t1 = Instant::now();
    let mut x = [0.0; 5];
    x.copy_from_slice(&run.x);
    let (x, f, rounds) = polish(&obj, x, run.f, &opts.polish_lbfgs);
    Ok(ChinchillaFit {
        params: ChinchillaParams::from_raw(&x),
        objective: f,
        n_points: points.len(),
        starts: starts.len(),
        converged_starts: converged,
        best_start: starts[start_idx],
        grid_objective: run.f,
        polish_rounds: rounds,
        threads,
        grid_s,
        polish_s: t1.elapsed().as_secs_f64(),
    })
}

/// Refits from one start (e.g. the full-data optimum) with per-point weights, polishing to the
/// same tolerance. Used by the bootstrap.
pub fn refit(
    points: &[NdlPoint],
    weights: Option<&[f64]>,
    start: &ChinchillaParams,
    opts: &ChinchillaOptions,
) -> Result<(ChinchillaParams, f64)> {
    let obj = ChinchillaObjective::new(points, weights, opts.huber_delta)?;
    let x0 = start.raw();
    let f0 = obj.value(&x0);
    if !f0.is_finite() {
        return Err(AnalysisError::fit(LAW, "the start cannot be evaluated"));
    }
    let (x, f, _) = polish(&obj, x0, f0, &opts.polish_lbfgs);
    Ok((ChinchillaParams::from_raw(&x), f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let pts: Vec<NdlPoint> = (0..12)
            .map(|i| {
                let n = 1e7 * 3f64.powi(i % 5);
                let d = 1e9 * 2f64.powi(i / 2);
                NdlPoint {
                    n,
                    d,
                    loss: 1.7
                        + 400.0 / n.powf(0.34)
                        + 2000.0 / d.powf(0.37)
                        + 0.01 * (i as f64).sin(),
                    line: i as usize,
                }
            })
            .collect();
        // A large delta keeps every residual in the smooth quadratic zone for the check.
        let obj = ChinchillaObjective::new(&pts, None, 10.0).expect("points");
        let p = [6.0, 7.5, 0.5, 0.3, 0.35];
        super::super::optim::assert_gradient(&obj, &p, 1e-5);
        assert_eq!(Grid::default().len(), 4500);
    }

    #[test]
    fn compute_optimal_allocation_minimises_loss_on_the_budget() {
        let p = ChinchillaParams {
            a: 6.0,
            b: 7.6,
            e: 0.6,
            alpha: 0.35,
            beta: 0.37,
        };
        let co = p.compute_optimal();
        let c = 1e22;
        let (n, d) = co.at(c);
        assert!((6.0 * n * d / c - 1.0).abs() < 1e-9);
        let l = p.predict(n, d);
        for f in [0.8, 0.95, 1.05, 1.25] {
            assert!(p.predict(n * f, d / f) > l, "factor {f}");
        }
    }
}
