//! The power law E = beta * C^alpha of Cherti et al. 2023 ("Reproducible scaling laws for
//! contrastive language-image learning"), fitted by ordinary least squares as a straight line in
//! log10-log10 space: log10 E = log10 beta + alpha log10 C.

use super::{Point, check_count, check_positive};
use crate::error::{AnalysisError, Result};

/// Law name used in records and errors.
pub const LAW: &str = "power";

/// A fitted E = beta * C^alpha.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerFit {
    pub beta: f64,
    pub alpha: f64,
    /// Coefficient of determination in log10 space.
    pub r2: f64,
    /// Root mean squared residual in log10 space.
    pub rmse_log10: f64,
    /// Sum of squared log10 residuals (the OLS objective).
    pub sse_log10: f64,
    pub n_points: usize,
}

impl PowerFit {
    /// Predicted E at compute `c`.
    pub fn predict(&self, c: f64) -> f64 {
        self.beta * c.powf(self.alpha)
    }
}

/// Ordinary least squares of y on x: (intercept, slope). Needs two distinct x.
pub fn ols(xs: &[f64], ys: &[f64]) -> Result<(f64, f64)> {
    let n = xs.len().min(ys.len());
    check_count(LAW, n, 2, "a line has two parameters")?;
    let mx = xs.iter().sum::<f64>() / n as f64;
    let my = ys.iter().sum::<f64>() / n as f64;
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    if sxx <= f64::EPSILON * n as f64 * (1.0 + mx * mx) {
        return Err(AnalysisError::fit(
            LAW,
            "all points have the same compute; the slope is undefined",
        ));
    }
    let slope = sxy / sxx;
    Ok((my - slope * mx, slope))
}

/// Fits E = beta * C^alpha by OLS on (log10 C, log10 E). x and y must be positive.
pub fn fit_power(points: &[Point]) -> Result<PowerFit> {
    check_positive(points, "compute", "error")?;
    let lx: Vec<f64> = points.iter().map(|p| p.x.log10()).collect();
    let ly: Vec<f64> = points.iter().map(|p| p.y.log10()).collect();
    let (intercept, slope) = ols(&lx, &ly)?;
    let my = ly.iter().sum::<f64>() / ly.len() as f64;
    let sse: f64 = lx
        .iter()
        .zip(&ly)
        .map(|(x, y)| (y - intercept - slope * x).powi(2))
        .sum();
    let sst: f64 = ly.iter().map(|y| (y - my).powi(2)).sum();
    Ok(PowerFit {
        beta: 10f64.powf(intercept),
        alpha: slope,
        r2: if sst > 0.0 { 1.0 - sse / sst } else { 1.0 },
        rmse_log10: (sse / ly.len() as f64).sqrt(),
        sse_log10: sse,
        n_points: points.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_power_law_is_recovered_and_degenerate_inputs_fail() {
        let pts: Vec<Point> = [1e3, 1e5, 1e7]
            .iter()
            .map(|&c| Point::new(c, 3.0 * f64::powf(c, -0.2), "p"))
            .collect();
        let f = fit_power(&pts).expect("fit");
        assert!(
            (f.beta - 3.0).abs() < 1e-9 && (f.alpha + 0.2).abs() < 1e-12,
            "{f:?}"
        );
        assert!((f.predict(1e4) - 3.0 * 1e4f64.powf(-0.2)).abs() < 1e-9);
        let same: Vec<Point> = (0..3)
            .map(|i| Point::new(10.0, 0.5 + i as f64 * 0.1, "s"))
            .collect();
        assert!(fit_power(&same).is_err());
        assert!(fit_power(&pts[..1]).is_err());
    }
}
