//! The law of Nezhurina et al. 2025 ("Scaling laws for robust comparison of open foundation
//! language-vision models and datasets"): E = a (C + b)^c + d with a, b, d >= 0 and c <= 0. The
//! shift b bends the curve at small compute, d is an irreducible error; they fit it on the
//! frontier of geometric compute bins and compare models and data sets by where the fitted
//! curves cross. Their ImageNet error fits on DataComp-1.4B (C in GFLOPs) were
//! CLIP: a 57.86, b 18.39, c -0.2266, d 0.1112 and MaMMUT: a 125.36, b 19.29, c -0.2557,
//! d 0.1011.
//!
//! Fitted here by least squares on ln residuals with L-BFGS (argmin) from a grid of starts, in
//! a parametrisation that keeps every bound: a = e^t0, b = e^t1, c = -e^t2 and
//! d = min(E) sigmoid(u), with compute scaled by its geometric mean while fitting. Four
//! parameters on few points are fragile: [`super::min_points`] applies.

use super::optim::{BestOfStarts, LbfgsOptions, Objective, best_of_starts};
use super::{Point, check_count, check_positive};
use crate::error::{AnalysisError, Result};

/// Law name used in records and errors.
pub const LAW: &str = "shifted";

/// A fitted E = a (C + b)^c + d.
#[derive(Debug, Clone, PartialEq)]
pub struct ShiftedFit {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub d: f64,
    /// Sum of squared ln residuals.
    pub objective: f64,
    pub n_points: usize,
    pub starts: usize,
    pub converged_starts: usize,
    pub iterations: u64,
}

impl ShiftedFit {
    /// Predicted E at compute `x`.
    pub fn predict(&self, x: f64) -> f64 {
        predict(&[self.a, self.b, self.c, self.d], x)
    }
}

/// E at compute `x` from parameters (a, b, c, d).
pub fn predict(p: &[f64], x: f64) -> f64 {
    p[0] * (x + p[1]).powf(p[2]) + p[3]
}

fn sigmoid(u: f64) -> f64 {
    1.0 / (1.0 + (-u).exp())
}

/// Sum of squared ln residuals in (t0, t1, t2, u), compute scaled to `x`.
struct ShiftedObjective {
    x: Vec<f64>,
    ln_e: Vec<f64>,
    m: f64,
}

impl ShiftedObjective {
    fn params(&self, p: &[f64]) -> [f64; 4] {
        [p[0].exp(), p[1].exp(), -p[2].exp(), self.m * sigmoid(p[3])]
    }
}

impl Objective for ShiftedObjective {
    fn dim(&self) -> usize {
        4
    }
    fn eval(&self, p: &[f64], g: &mut [f64]) -> f64 {
        let [a, b, c, d] = self.params(p);
        let s = sigmoid(p[3]);
        let dd_du = self.m * s * (1.0 - s);
        g.iter_mut().for_each(|v| *v = 0.0);
        let mut f = 0.0;
        for (&x, &ly) in self.x.iter().zip(&self.ln_e) {
            let xb = x + b;
            let t = a * xb.powf(c);
            let pred = t + d;
            let r = pred.ln() - ly;
            f += r * r;
            let h = 2.0 * r / pred;
            g[0] += h * t;
            g[1] += h * t * c * b / xb;
            g[2] += h * t * xb.ln() * c;
            g[3] += h * dd_du;
        }
        f
    }
}

/// Fits E = a (C + b)^c + d to positive points (at least 5: four parameters plus one).
pub fn fit_shifted(points: &[Point]) -> Result<ShiftedFit> {
    check_positive(points, "compute", "error")?;
    check_count(
        LAW,
        points.len(),
        5,
        "four parameters plus one degree of freedom",
    )?;
    let ln_c: Vec<f64> = points.iter().map(|p| p.x.ln()).collect();
    let mean = ln_c.iter().sum::<f64>() / ln_c.len() as f64;
    if ln_c.iter().all(|x| (x - mean).abs() < 1e-12) {
        return Err(AnalysisError::fit(LAW, "all points have the same compute"));
    }
    let scale = mean.exp();
    let m = points.iter().map(|p| p.y).fold(f64::INFINITY, f64::min);
    let obj = ShiftedObjective {
        x: points.iter().map(|p| p.x / scale).collect(),
        ln_e: points.iter().map(|p| p.y.ln()).collect(),
        m,
    };
    let lbfgs = LbfgsOptions {
        tol_grad: 1e-12,
        tol_cost: 0.0,
        max_iters: 3000,
        memory: 10,
    };
    let x_min = obj.x.iter().copied().fold(f64::INFINITY, f64::min);
    let mut grid = Vec::new();
    for c in [-0.05, -0.15, -0.3, -0.6, -1.0] {
        for b_rel in [1e-4, 1e-1, 1.0, 10.0] {
            for d_frac in [0.05, 0.5, 0.9] {
                let (b, d) = (b_rel * x_min, d_frac * m);
                // ln a from the mean of ln(E - d) - c ln(x + b)
                let ln_a = obj
                    .x
                    .iter()
                    .zip(points)
                    .map(|(x, p)| (p.y - d).max(1e-300).ln() - c * (x + b).ln())
                    .sum::<f64>()
                    / points.len() as f64;
                grid.push(vec![
                    ln_a,
                    b.ln(),
                    (-c).ln(),
                    (d_frac / (1.0 - d_frac)).ln(),
                ]);
            }
        }
    }
    let BestOfStarts {
        best,
        starts,
        converged,
    } = best_of_starts(&obj, grid, &lbfgs)
        .ok_or_else(|| AnalysisError::fit(LAW, "no start could be evaluated"))?;
    let [a, b, c, d] = obj.params(&best.x);
    Ok(ShiftedFit {
        a: a * scale.powf(-c),
        b: b * scale,
        c,
        d,
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
        let obj = ShiftedObjective {
            x: vec![0.01, 0.3, 1.0, 4.0, 30.0],
            ln_e: [0.9f64, 0.7, 0.5, 0.45, 0.3]
                .iter()
                .map(|v| v.ln())
                .collect(),
            m: 0.3,
        };
        let p = [0.2, -1.0, -1.3, 0.4];
        super::super::optim::assert_gradient(&obj, &p, 1e-6);
    }
}
