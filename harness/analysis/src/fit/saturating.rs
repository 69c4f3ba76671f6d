//! A saturating power law E = E_inf + beta * C^alpha (an irreducible error plus a power-law
//! term), the form Cherti et al. 2023 discuss as the alternative to a pure power law and the
//! one-variable analogue of Hoffmann et al. 2022's L = E + A/N^alpha + B/D^beta. Fitted robustly:
//! Huber loss on log residuals, L-BFGS (argmin) from a grid of starts. E_inf is kept in
//! [0, min E) by the parametrisation E_inf = min(E) * sigmoid(u).

use super::optim::{BestOfStarts, LbfgsOptions, Objective, best_of_starts, huber, huber_grad};
use super::{Point, check_count, check_positive};
use crate::error::{AnalysisError, Result};

/// Law name used in records and errors.
pub const LAW: &str = "saturating";

/// Options of the saturating fit.
#[derive(Debug, Clone, PartialEq)]
pub struct SaturatingOptions {
    /// Huber delta on natural-log residuals.
    pub huber_delta: f64,
    /// Starting exponents.
    pub alpha_starts: Vec<f64>,
    /// Starting E_inf as fractions of min(E).
    pub e_inf_fraction_starts: Vec<f64>,
    pub lbfgs: LbfgsOptions,
}

impl Default for SaturatingOptions {
    fn default() -> Self {
        SaturatingOptions {
            huber_delta: 1e-3,
            alpha_starts: vec![-0.02, -0.05, -0.1, -0.2, -0.4, -0.8],
            e_inf_fraction_starts: vec![0.0, 0.3, 0.6, 0.9],
            lbfgs: LbfgsOptions {
                tol_grad: 1e-10,
                tol_cost: 0.0,
                max_iters: 2000,
                memory: 10,
            },
        }
    }
}

/// A fitted E = E_inf + beta * C^alpha.
#[derive(Debug, Clone, PartialEq)]
pub struct SaturatingFit {
    pub e_inf: f64,
    pub beta: f64,
    pub alpha: f64,
    /// Sum of Huber losses of ln(predicted) - ln(observed).
    pub objective: f64,
    pub n_points: usize,
    pub starts: usize,
    pub converged_starts: usize,
    /// Iterations of the winning start.
    pub iterations: u64,
    /// True when E_inf sits (within 1e-9 relative) at its upper bound min(E): the data do not
    /// show saturation below their lowest point.
    pub e_inf_at_bound: bool,
}

impl SaturatingFit {
    /// Predicted E at compute `c`.
    pub fn predict(&self, c: f64) -> f64 {
        self.e_inf + self.beta * c.powf(self.alpha)
    }
}

/// The objective in parameters (u, lb, alpha): E_inf = m sigmoid(u), term = exp(lb + alpha xc),
/// xc = ln C - mean ln C.
struct SatObjective {
    xc: Vec<f64>,
    ln_e: Vec<f64>,
    m: f64,
    delta: f64,
}

fn sigmoid(u: f64) -> f64 {
    1.0 / (1.0 + (-u).exp())
}

impl Objective for SatObjective {
    fn dim(&self) -> usize {
        3
    }
    fn eval(&self, p: &[f64], g: &mut [f64]) -> f64 {
        let (u, lb, alpha) = (p[0], p[1], p[2]);
        let s = sigmoid(u);
        let e_inf = self.m * s;
        let de_du = self.m * s * (1.0 - s);
        g.iter_mut().for_each(|v| *v = 0.0);
        let mut f = 0.0;
        for (&x, &ly) in self.xc.iter().zip(&self.ln_e) {
            let t = (lb + alpha * x).exp();
            let pred = e_inf + t;
            let r = pred.ln() - ly;
            f += huber(r, self.delta);
            let h = huber_grad(r, self.delta) / pred;
            g[0] += h * de_du;
            g[1] += h * t;
            g[2] += h * t * x;
        }
        f
    }
}

/// Fits E = E_inf + beta * C^alpha to positive points (needs 4: three parameters plus one).
pub fn fit_saturating(points: &[Point], opts: &SaturatingOptions) -> Result<SaturatingFit> {
    check_positive(points, "compute", "error")?;
    check_count(
        LAW,
        points.len(),
        4,
        "three parameters plus one degree of freedom",
    )?;
    let lnx: Vec<f64> = points.iter().map(|p| p.x.ln()).collect();
    let mean = lnx.iter().sum::<f64>() / lnx.len() as f64;
    if lnx.iter().all(|x| (x - mean).abs() < 1e-12) {
        return Err(AnalysisError::fit(LAW, "all points have the same compute"));
    }
    let m = points.iter().map(|p| p.y).fold(f64::INFINITY, f64::min);
    let obj = SatObjective {
        xc: lnx.iter().map(|x| x - mean).collect(),
        ln_e: points.iter().map(|p| p.y.ln()).collect(),
        m,
        delta: opts.huber_delta,
    };
    let mut grid = Vec::new();
    for &alpha in &opts.alpha_starts {
        for &frac in &opts.e_inf_fraction_starts {
            let frac = frac.clamp(1e-4, 0.999);
            let e_inf = frac * m;
            let lb = obj
                .xc
                .iter()
                .zip(points)
                .map(|(x, p)| (p.y - e_inf).max(1e-300).ln() - alpha * x)
                .sum::<f64>()
                / points.len() as f64;
            grid.push(vec![(frac / (1.0 - frac)).ln(), lb, alpha]);
        }
    }
    let BestOfStarts {
        best,
        starts,
        converged,
    } = best_of_starts(&obj, grid, &opts.lbfgs)
        .ok_or_else(|| AnalysisError::fit(LAW, "no start could be evaluated"))?;
    let (u, lb, alpha) = (best.x[0], best.x[1], best.x[2]);
    let s = sigmoid(u);
    Ok(SaturatingFit {
        // Strictly below min(E) even where the sigmoid rounds to 1.
        e_inf: m * s.min(1.0 - 1e-12),
        e_inf_at_bound: s > 1.0 - 1e-9,
        beta: (lb - alpha * mean).exp(),
        alpha,
        objective: best.f,
        n_points: points.len(),
        starts,
        converged_starts: converged,
        iterations: best.iters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let obj = SatObjective {
            xc: vec![-2.0, -0.5, 0.3, 1.9],
            ln_e: vec![0.1f64.ln(), 0.3f64.ln(), 0.2f64.ln(), 0.15f64.ln()],
            m: 0.1,
            delta: 0.05,
        };
        let p = [0.3, -1.5, -0.4];
        super::super::optim::assert_gradient(&obj, &p, 1e-6);
    }
}
