//! Thin adapter from the crate's smooth objectives (value + analytic gradient in one pass) to
//! argmin's L-BFGS with a More-Thuente line search, the optimiser Hoffmann et al. 2022 and
//! Besiroglu et al. 2024 use (via SciPy) for Chinchilla approach 3. The adapter caches the
//! gradient computed with each value, since the line search asks for both at the same point.

use std::cell::{Cell, RefCell};

use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

/// A smooth function to minimise.
pub trait Objective {
    /// Number of parameters.
    fn dim(&self) -> usize;
    /// Value at `p`; writes the gradient into `grad` (length [`Objective::dim`]).
    fn eval(&self, p: &[f64], grad: &mut [f64]) -> f64;
}

/// Stopping rules of one L-BFGS run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LbfgsOptions {
    /// Stop when the gradient's L2 norm falls below this.
    pub tol_grad: f64,
    /// Stop when one iteration lowers the objective by less than this (absolute).
    pub tol_cost: f64,
    pub max_iters: u64,
    /// History size m.
    pub memory: usize,
}

impl Default for LbfgsOptions {
    fn default() -> Self {
        LbfgsOptions {
            tol_grad: 1e-8,
            tol_cost: 0.0,
            max_iters: 1000,
            memory: 10,
        }
    }
}

/// Where one run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub f: f64,
    pub iters: u64,
    pub evals: u64,
    /// True when a tolerance was met (not the iteration cap or a line-search failure).
    pub converged: bool,
    pub reason: String,
}

struct Adapter<'a, O: Objective> {
    obj: &'a O,
    cache: RefCell<(Vec<f64>, f64, Vec<f64>)>,
    evals: Cell<u64>,
}

impl<O: Objective> Adapter<'_, O> {
    fn compute(&self, p: &[f64]) -> (f64, Vec<f64>) {
        {
            let c = self.cache.borrow();
            if c.0.as_slice() == p {
                return (c.1, c.2.clone());
            }
        }
        let mut g = vec![0.0; self.obj.dim()];
        let f = self.obj.eval(p, &mut g);
        self.evals.set(self.evals.get() + 1);
        *self.cache.borrow_mut() = (p.to_vec(), f, g.clone());
        (f, g)
    }
}

fn non_finite() -> argmin::core::Error {
    argmin::core::Error::msg("objective or gradient is not finite")
}

impl<O: Objective> CostFunction for Adapter<'_, O> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        let (f, _) = self.compute(p);
        if f.is_finite() {
            Ok(f)
        } else {
            Err(non_finite())
        }
    }
}

impl<O: Objective> Gradient for Adapter<'_, O> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        let (_, g) = self.compute(p);
        if g.iter().all(|v| v.is_finite()) {
            Ok(g)
        } else {
            Err(non_finite())
        }
    }
}

/// Minimises `obj` from `x0` with L-BFGS. Returns the best point seen; `Err` only when the start
/// itself cannot be evaluated.
pub fn minimize<O: Objective>(obj: &O, x0: &[f64], opts: &LbfgsOptions) -> Result<Minimum, String> {
    let adapter = Adapter {
        obj,
        cache: RefCell::new((Vec::new(), f64::NAN, Vec::new())),
        evals: Cell::new(0),
    };
    let linesearch = MoreThuenteLineSearch::new();
    let solver = LBFGS::new(linesearch, opts.memory.max(1))
        .with_tolerance_grad(opts.tol_grad.max(0.0))
        .and_then(|s| s.with_tolerance_cost(opts.tol_cost.max(0.0)))
        .map_err(|e| e.to_string())?;
    let res = Executor::new(adapter, solver)
        .configure(|s| s.param(x0.to_vec()).max_iters(opts.max_iters))
        .timer(false)
        .run()
        .map_err(|e| format!("L-BFGS could not start: {e}"))?;
    let state = res.state();
    let x = state
        .get_best_param()
        .cloned()
        .unwrap_or_else(|| x0.to_vec());
    let reason = state.get_termination_reason();
    let converged = matches!(reason, Some(TerminationReason::SolverConverged));
    let reason = reason.map(|r| r.text().to_string()).unwrap_or_default();
    let evals = res
        .problem
        .problem
        .as_ref()
        .map(|a| a.evals.get())
        .unwrap_or(0);
    Ok(Minimum {
        f: state.get_best_cost(),
        x,
        iters: state.get_iter(),
        evals,
        converged,
        reason,
    })
}

/// The best of L-BFGS runs from several starts, and how they fared.
#[derive(Debug, Clone, PartialEq)]
pub struct BestOfStarts {
    /// The run with the lowest finite objective.
    pub best: Minimum,
    pub starts: usize,
    pub converged: usize,
}

/// Minimises `obj` from every start and keeps the lowest finite objective; `None` when no
/// start could be evaluated.
pub fn best_of_starts<O: Objective>(
    obj: &O,
    starts: impl IntoIterator<Item = Vec<f64>>,
    opts: &LbfgsOptions,
) -> Option<BestOfStarts> {
    let (mut n, mut converged) = (0, 0);
    let mut best: Option<Minimum> = None;
    for x0 in starts {
        n += 1;
        let Ok(run) = minimize(obj, &x0, opts) else {
            continue;
        };
        converged += usize::from(run.converged);
        if run.f.is_finite() && best.as_ref().is_none_or(|b| run.f < b.f) {
            best = Some(run);
        }
    }
    best.map(|best| BestOfStarts {
        best,
        starts: n,
        converged,
    })
}

/// Huber loss h(r) = r^2/2 for |r| <= delta, delta (|r| - delta/2) beyond.
pub fn huber(r: f64, delta: f64) -> f64 {
    let a = r.abs();
    if a <= delta {
        0.5 * r * r
    } else {
        delta * (a - 0.5 * delta)
    }
}

/// Derivative of [`huber`]: r clipped to [-delta, delta].
pub fn huber_grad(r: f64, delta: f64) -> f64 {
    r.clamp(-delta, delta)
}

/// Asserts that `obj`'s gradient at `p` matches central finite differences (step 1e-6) to
/// `rtol` relative: the check every hand-written objective gets.
#[cfg(test)]
pub(crate) fn assert_gradient<O: Objective>(obj: &O, p: &[f64], rtol: f64) {
    let n = obj.dim();
    let mut g = vec![0.0; n];
    obj.eval(p, &mut g);
    let mut scratch = vec![0.0; n];
    for k in 0..n {
        let (mut a, mut b) = (p.to_vec(), p.to_vec());
        a[k] += 1e-6;
        b[k] -= 1e-6;
        let fd = (obj.eval(&a, &mut scratch) - obj.eval(&b, &mut scratch)) / 2e-6;
        assert!(
            (fd - g[k]).abs() < rtol * (1.0 + fd.abs()),
            "param {k}: finite difference {fd} vs gradient {}",
            g[k]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Quad;
    impl Objective for Quad {
        fn dim(&self) -> usize {
            2
        }
        fn eval(&self, p: &[f64], g: &mut [f64]) -> f64 {
            g[0] = 2.0 * (p[0] - 3.0);
            g[1] = 20.0 * (p[1] + 1.0);
            (p[0] - 3.0).powi(2) + 10.0 * (p[1] + 1.0).powi(2)
        }
    }

    #[test]
    fn lbfgs_finds_a_quadratic_minimum_and_huber_is_continuous() {
        let m = minimize(&Quad, &[0.0, 0.0], &LbfgsOptions::default()).expect("runs");
        assert!(
            (m.x[0] - 3.0).abs() < 1e-6 && (m.x[1] + 1.0).abs() < 1e-6,
            "{m:?}"
        );
        let d = 1e-3;
        assert!((huber(d, d) - huber(d + 1e-12, d)).abs() < 1e-14);
        assert_eq!(huber(-0.5, 1.0), 0.125);
        assert_eq!(huber(3.0, 1.0), 2.5);
        assert_eq!(huber_grad(5.0, 0.1), 0.1);
    }
}
