//! Classical (linearised least-squares) intervals of a fitted law: the covariance
//! s^2 (J^T J)^-1 of the parameters, with J the Jacobian of ln(prediction) at the optimum and
//! s^2 the residual variance of ln(observed) on n - p degrees of freedom, and Student-t
//! intervals. For the power law, fitted by OLS in log space, this is exactly the textbook
//! regression interval; for the robust (Huber) fits it is the least-squares approximation.
//!
//! It is what a fit on few points can honestly report: a percentile bootstrap of 3 points
//! resamples mostly 1 or 2 distinct computes and draws a band far narrower than the data allow
//! (issue 21: OpenAI's three models, alpha in [-0.176, -0.144] by bootstrap against
//! [-0.277, -0.050] by the t-interval). Scale parameters (beta, A, a) are treated on a log
//! scale, so their intervals stay positive.

use serde::{Deserialize, Serialize};

use crate::error::{AnalysisError, Result};

/// One parameter's classical interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassicalParam {
    pub name: String,
    pub estimate: f64,
    /// Standard error (delta method for log-scale parameters).
    pub se: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

/// The classical intervals of a fit, and what a band needs to be drawn from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassicalSummary {
    /// How it was computed.
    pub method: String,
    pub level: f64,
    /// Residual degrees of freedom, n - p.
    pub dof: usize,
    /// The Student-t quantile used.
    pub t: f64,
    /// Residual standard deviation of ln(observed).
    pub sigma_ln: f64,
    pub params: Vec<ClassicalParam>,
    /// Which parameters are taken on a log scale (record order).
    pub log_scale: Vec<bool>,
    /// Covariance of the fitted parameters, log-scale ones as their logarithm.
    pub covariance: Vec<Vec<f64>>,
}

/// The method's name, as recorded.
pub const METHOD: &str = "linearised least squares on ln residuals, Student-t";

/// Parameters on the scale the covariance uses.
fn to_q(p: &[f64], log_scale: &[bool]) -> Vec<f64> {
    p.iter()
        .zip(log_scale)
        .map(|(&v, &l)| if l { v.ln() } else { v })
        .collect()
}

fn to_p(q: &[f64], log_scale: &[bool]) -> Vec<f64> {
    q.iter()
        .zip(log_scale)
        .map(|(&v, &l)| if l { v.exp() } else { v })
        .collect()
}

/// Central-difference gradient of `f` in q-space at `q`.
fn gradient(q: &[f64], log_scale: &[bool], f: &dyn Fn(&[f64]) -> f64) -> Vec<f64> {
    (0..q.len())
        .map(|k| {
            let h = 1e-6 * q[k].abs().max(1e-3);
            let (mut a, mut b) = (q.to_vec(), q.to_vec());
            a[k] += h;
            b[k] -= h;
            (f(&to_p(&a, log_scale)) - f(&to_p(&b, log_scale))) / (2.0 * h)
        })
        .collect()
}

/// Inverse of a symmetric positive definite matrix by Gauss-Jordan elimination with partial
/// pivoting; `None` when it is singular to working precision.
pub fn invert(m: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = m.len();
    let mut a: Vec<Vec<f64>> = m.to_vec();
    let mut inv: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    let scale = (0..n).map(|i| m[i][i].abs()).fold(0.0, f64::max);
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs().is_nan() || a[pivot][col].abs() <= 1e-13 * scale {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let d = a[col][col];
        for j in 0..n {
            a[col][j] /= d;
            inv[col][j] /= d;
        }
        for i in 0..n {
            if i != col {
                let f = a[i][col];
                for j in 0..n {
                    a[i][j] -= f * a[col][j];
                    inv[i][j] -= f * inv[col][j];
                }
            }
        }
    }
    Some(inv)
}

/// The classical intervals of parameters `estimate` (named `names`), given `ln_pred(p, i)`, the
/// law's ln prediction at point i, and the observed `ln_y`. Fails when there are no residual
/// degrees of freedom or the Jacobian is singular (a parameter the points do not determine).
pub fn classical(
    names: &[&str],
    estimate: &[f64],
    log_scale: &[bool],
    ln_y: &[f64],
    ln_pred: &dyn Fn(&[f64], usize) -> f64,
    level: f64,
) -> Result<ClassicalSummary> {
    let (n, p) = (ln_y.len(), estimate.len());
    if n <= p {
        return Err(AnalysisError::fit(
            "classical interval",
            format!("{n} points leave no residual degree of freedom for {p} parameters"),
        ));
    }
    if log_scale
        .iter()
        .zip(estimate)
        .any(|(&l, &v)| l && (v.is_nan() || v <= 0.0))
    {
        return Err(AnalysisError::fit(
            "classical interval",
            "a scale parameter is not positive",
        ));
    }
    let q = to_q(estimate, log_scale);
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| gradient(&q, log_scale, &|pp| ln_pred(pp, i)))
        .collect();
    let ssr: f64 = (0..n)
        .map(|i| (ln_y[i] - ln_pred(estimate, i)).powi(2))
        .sum();
    let dof = n - p;
    let s2 = ssr / dof as f64;
    let jtj: Vec<Vec<f64>> = (0..p)
        .map(|a| {
            (0..p)
                .map(|b| rows.iter().map(|r| r[a] * r[b]).sum())
                .collect()
        })
        .collect();
    let inv = invert(&jtj).ok_or_else(|| {
        AnalysisError::fit(
            "classical interval",
            "the points do not determine every parameter (singular Jacobian)",
        )
    })?;
    let covariance: Vec<Vec<f64>> = inv
        .iter()
        .map(|r| r.iter().map(|v| v * s2).collect())
        .collect();
    let t = student_t_quantile(0.5 + level / 2.0, dof as f64);
    let params = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let se_q = covariance[k][k].max(0.0).sqrt();
            let (lo, hi) = (q[k] - t * se_q, q[k] + t * se_q);
            let (ci_low, ci_high, se) = if log_scale[k] {
                (lo.exp(), hi.exp(), estimate[k] * se_q)
            } else {
                (lo, hi, se_q)
            };
            ClassicalParam {
                name: name.to_string(),
                estimate: estimate[k],
                se,
                ci_low,
                ci_high,
            }
        })
        .collect();
    Ok(ClassicalSummary {
        method: METHOD.into(),
        level,
        dof,
        t,
        sigma_ln: s2.sqrt(),
        params,
        log_scale: log_scale.to_vec(),
        covariance,
    })
}

impl ClassicalSummary {
    /// The pointwise confidence interval of the law's prediction, by the delta method:
    /// ln f +- t sqrt(g^T Cov g), g the gradient of ln f in the covariance's parameters.
    /// `f(p)` is the law's prediction with parameters `p` (record order).
    pub fn band(&self, f: &dyn Fn(&[f64]) -> f64) -> Option<(f64, f64)> {
        self.interval(f, 0.0)
    }

    /// The prediction interval of one new observation: the band widened by the residual
    /// scatter, ln f +- t sqrt(s^2 + g^T Cov g). What a forecast of one run's result states.
    pub fn prediction(&self, f: &dyn Fn(&[f64]) -> f64) -> Option<(f64, f64)> {
        self.interval(f, self.sigma_ln * self.sigma_ln)
    }

    fn interval(&self, f: &dyn Fn(&[f64]) -> f64, extra_var: f64) -> Option<(f64, f64)> {
        let est: Vec<f64> = self.params.iter().map(|p| p.estimate).collect();
        let centre = f(&est);
        if !(centre > 0.0 && centre.is_finite()) {
            return None;
        }
        let q = to_q(&est, &self.log_scale);
        let g = gradient(&q, &self.log_scale, &|p| f(p).ln());
        let var: f64 = (0..g.len())
            .map(|a| {
                (0..g.len())
                    .map(|b| g[a] * self.covariance[a][b] * g[b])
                    .sum::<f64>()
            })
            .sum();
        let half = self.t * (var.max(0.0) + extra_var).sqrt();
        half.is_finite()
            .then(|| (centre * (-half).exp(), centre * half.exp()))
    }

    /// `n` parameter vectors (record order) drawn from the multivariate Student-t the interval
    /// describes (centre the estimate, scale the covariance, `dof` degrees of freedom; scale
    /// parameters on their log scale): what comparisons of a classical fit resample, in place
    /// of bootstrap refits. Seeded; `None` when the covariance is not positive definite.
    pub fn draws(&self, n: usize, seed: u64) -> Option<Vec<Vec<f64>>> {
        use clipscale_core::rng::{Random, Xoshiro256};
        let l = cholesky(&self.covariance)?;
        let est: Vec<f64> = self.params.iter().map(|p| p.estimate).collect();
        let q = to_q(&est, &self.log_scale);
        let mut rng = Xoshiro256::new(seed);
        let k = q.len();
        Some(
            (0..n)
                .map(|_| {
                    let u: Vec<f64> = (0..k).map(|_| rng.normal()).collect();
                    let chi2: f64 = (0..self.dof).map(|_| rng.normal().powi(2)).sum();
                    let scale = (self.dof as f64 / chi2).sqrt();
                    let z: Vec<f64> = (0..k)
                        .map(|i| q[i] + scale * (0..=i).map(|j| l[i][j] * u[j]).sum::<f64>())
                        .collect();
                    to_p(&z, &self.log_scale)
                })
                .collect(),
        )
    }

    /// The interval of a named parameter.
    pub fn param(&self, name: &str) -> Option<&ClassicalParam> {
        self.params.iter().find(|p| p.name == name)
    }
}

/// The lower-triangular Cholesky factor of a symmetric positive definite matrix.
pub fn cholesky(m: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = m.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = m[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            if i == j {
                if s.is_nan() || s <= 0.0 {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    Some(l)
}

/// ln Gamma(x) for x > 0 (Lanczos approximation, g = 7, nine terms; |error| < 1e-13).
pub fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // reflection
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (k, c) in C.iter().enumerate().skip(1) {
        a += c / (x + k as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The continued fraction of the regularised incomplete beta function (modified Lentz).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The regularised incomplete beta function I_x(a, b).
pub fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_fraction(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// P(T <= t) for Student's t with `nu` degrees of freedom.
pub fn student_t_cdf(t: f64, nu: f64) -> f64 {
    let tail = 0.5 * incomplete_beta(nu / 2.0, 0.5, nu / (nu + t * t));
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// The `p` quantile of Student's t with `nu` degrees of freedom (bisection on the CDF).
pub fn student_t_quantile(p: f64, nu: f64) -> f64 {
    if p < 0.5 {
        return -student_t_quantile(1.0 - p, nu);
    }
    let mut hi = 1.0;
    while student_t_cdf(hi, nu) < p && hi < 1e12 {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if student_t_cdf(mid, nu) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn student_t_quantiles_match_the_tables() {
        // Two-sided 95% critical values from any statistics table.
        for (nu, want) in [(1.0, 12.7062), (2.0, 4.3027), (5.0, 2.5706), (30.0, 2.0423)] {
            let t = student_t_quantile(0.975, nu);
            assert!((t - want).abs() < 1e-4, "nu {nu}: {t} vs {want}");
        }
        assert!((student_t_quantile(0.95, 10.0) - 1.8125).abs() < 1e-4);
        assert!((student_t_cdf(0.0, 3.0) - 0.5).abs() < 1e-15);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn a_straight_line_gets_the_textbook_regression_interval() {
        // y = 1 + 2x with residuals; OLS slope se = s / sqrt(Sxx).
        let x = [0.0, 1.0, 2.0, 3.0, 4.0];
        let y = [1.1, 2.9, 5.2, 6.8, 9.1];
        let n = x.len() as f64;
        let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
        let slope = x
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - mx) * (b - my))
            .sum::<f64>()
            / sxx;
        let icept = my - slope * mx;
        let ssr: f64 = x
            .iter()
            .zip(&y)
            .map(|(a, b)| (b - icept - slope * a).powi(2))
            .sum();
        let se_slope = (ssr / (n - 2.0) / sxx).sqrt();
        // ln_pred is the line itself: the "ln" names the scale the residuals are taken on.
        let s = classical(
            &["icept", "slope"],
            &[icept, slope],
            &[false, false],
            &y,
            &|p, i| p[0] + p[1] * x[i],
            0.95,
        )
        .expect("interval");
        let sl = s.param("slope").expect("slope");
        assert!(
            (sl.se - se_slope).abs() < 1e-6 * se_slope,
            "{} vs {se_slope}",
            sl.se
        );
        assert!((sl.ci_high - slope - 3.1824 * se_slope).abs() < 1e-3 * se_slope);
        assert_eq!(s.dof, 3);
        let two = classical(
            &["a", "b"],
            &[1.0, 2.0],
            &[false, false],
            &y[..2],
            &|p, i| p[0] + p[1] * x[i],
            0.95,
        );
        assert!(two.is_err());
    }
}
