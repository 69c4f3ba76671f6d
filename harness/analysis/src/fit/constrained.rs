//! The data-constrained law of Muennighoff et al. 2023 ("Scaling data-constrained language
//! models"): repeated data is worth less than new data. With U unique pairs seen D times in
//! all, R = D / U - 1 repetitions beyond the first epoch count as
//!
//! D' = U + U R* (1 - exp(-R / R*)),
//!
//! effective pairs (D' = D without repetition, and at most U (1 + R*) however often the data is
//! repeated), and the loss follows Chinchilla's law in D': L = E + A / N^alpha + B / D'^beta.
//! R* (the paper fitted R*_D = 15.39) is found by profiling: the Chinchilla fit
//! ([`super::chinchilla`]) at each of a log-spaced scan of R*, then a golden-section search of
//! ln R* around the best, each step a polish from the best fit so far. A best R* at the top of
//! the scan means the points carry no sign of repetition losing value (`r_star_at_bound`).
//!
//! Filters shrink the unique pairs, so at equal compute a filtered variant repeats its data more;
//! fitting in D' separates the quality of the data from its repetition.

use super::check_count;
use super::chinchilla::{ChinchillaOptions, ChinchillaParams, Grid, fit_chinchilla, refit};
use crate::error::{AnalysisError, Result};
use crate::import::NdlPoint;

/// Law name used in records and errors.
pub const LAW: &str = "data-constrained";

/// Muennighoff et al. 2023's fitted R*_D.
pub const MUENNIGHOFF_R_STAR: f64 = 15.39;

/// One trial: parameters, pairs seen, unique pairs, loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UniquePoint {
    pub n: f64,
    pub d: f64,
    pub unique: f64,
    pub loss: f64,
    /// Where it came from (a line or row number), for messages.
    pub line: usize,
}

/// Repetitions beyond the first epoch: D / U - 1, at least 0.
pub fn repetitions(d: f64, unique: f64) -> f64 {
    (d / unique - 1.0).max(0.0)
}

/// Effective pairs D' = U + U R* (1 - exp(-R / R*)) (D itself while D <= U).
pub fn effective_data(d: f64, unique: f64, r_star: f64) -> f64 {
    if d <= unique {
        return d;
    }
    unique + unique * r_star * (1.0 - (-repetitions(d, unique) / r_star).exp())
}

/// Options of the data-constrained fit.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstrainedOptions {
    /// The Chinchilla fit at each scanned R* (the coarse grid by default).
    pub chinchilla: ChinchillaOptions,
    /// The scanned range of R*.
    pub r_star_min: f64,
    pub r_star_max: f64,
    /// Scan points, log-spaced.
    pub scan: usize,
    /// Golden-section steps after the scan.
    pub refine_steps: usize,
}

impl Default for ConstrainedOptions {
    fn default() -> Self {
        Self {
            chinchilla: ChinchillaOptions {
                grid: Grid::coarse(),
                ..ChinchillaOptions::default()
            },
            r_star_min: 0.1,
            r_star_max: 1000.0,
            scan: 13,
            refine_steps: 40,
        }
    }
}

/// The fitted law.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstrainedFit {
    pub params: ChinchillaParams,
    pub r_star: f64,
    /// The best R* is the top of the scan: repetition showed no cost in these points.
    pub r_star_at_bound: bool,
    /// The best R* is the bottom of the scan: a repeated pair worth next to nothing.
    pub r_star_at_lower_bound: bool,
    /// Sum of Huber losses at the optimum.
    pub objective: f64,
    /// (R*, objective) of every scan point.
    pub scan: Vec<(f64, f64)>,
    pub n_points: usize,
}

impl ConstrainedFit {
    /// The predicted loss of `n` parameters trained on `d` pairs of which `unique` distinct.
    pub fn predict(&self, n: f64, d: f64, unique: f64) -> f64 {
        self.params
            .predict(n, effective_data(d, unique, self.r_star))
    }
}

fn effective_points(points: &[UniquePoint], r_star: f64) -> Vec<NdlPoint> {
    points
        .iter()
        .map(|p| NdlPoint {
            n: p.n,
            d: effective_data(p.d, p.unique, r_star),
            loss: p.loss,
            line: p.line,
        })
        .collect()
}

/// Fits the data-constrained law (needs 9 points: six parameters, 1.5 points each).
pub fn fit_data_constrained(
    points: &[UniquePoint],
    opts: &ConstrainedOptions,
) -> Result<ConstrainedFit> {
    check_count(LAW, points.len(), 9, "six parameters, 1.5 points each")?;
    for p in points {
        if !(p.unique.is_finite() && p.unique > 0.0) {
            return Err(AnalysisError::NonPositive {
                axis: "unique pairs".into(),
                where_: format!("point at line {}", p.line),
                value: p.unique,
            });
        }
    }
    if !points.iter().any(|p| p.d > p.unique) {
        return Err(AnalysisError::fit(
            LAW,
            "no point repeats its data (every trial saw at most its unique pairs), so R* does \
             not enter the law and cannot be fitted; fit --law chinchilla instead",
        ));
    }
    if !(opts.r_star_min > 0.0 && opts.r_star_max > opts.r_star_min && opts.scan >= 3) {
        return Err(AnalysisError::arg(
            "r_star",
            "the scan needs 0 < r_star_min < r_star_max and at least 3 points",
        ));
    }
    let (lo, hi) = (opts.r_star_min.ln(), opts.r_star_max.ln());
    let grid: Vec<f64> = (0..opts.scan)
        .map(|i| (lo + (hi - lo) * i as f64 / (opts.scan - 1) as f64).exp())
        .collect();
    let mut scan = Vec::with_capacity(grid.len());
    let mut best: Option<(usize, ChinchillaParams, f64)> = None;
    for (i, &r) in grid.iter().enumerate() {
        let fit = fit_chinchilla(&effective_points(points, r), &opts.chinchilla)?;
        scan.push((r, fit.objective));
        if best.as_ref().is_none_or(|b| fit.objective < b.2) {
            best = Some((i, fit.params, fit.objective));
        }
    }
    let (i, params, objective) =
        best.ok_or_else(|| AnalysisError::fit(LAW, "no R* of the scan could be fitted"))?;
    // golden-section search of ln R* between the scan's neighbours of the best
    let bracket = (
        grid[i.saturating_sub(1)].ln(),
        grid[(i + 1).min(grid.len() - 1)].ln(),
    );
    let best = (grid[i], params, objective);
    let (r_star, params, objective) = golden(points, None, bracket, best, opts)?;
    Ok(ConstrainedFit {
        params,
        r_star,
        r_star_at_bound: i == grid.len() - 1 && r_star >= grid[grid.len() - 2],
        r_star_at_lower_bound: i == 0 && r_star <= grid[1],
        objective,
        scan,
        n_points: points.len(),
    })
}

/// Golden-section search of ln R* over `bracket`, each step a polish of the Chinchilla fit in
/// D' from the better neighbour; returns the best of `best` (R*, parameters, objective) and the
/// points searched.
fn golden(
    points: &[UniquePoint],
    weights: Option<&[f64]>,
    bracket: (f64, f64),
    best: (f64, ChinchillaParams, f64),
    opts: &ConstrainedOptions,
) -> Result<(f64, ChinchillaParams, f64)> {
    let (mut r_star, mut params, mut objective) = best;
    let at = |ln_r: f64, start: &ChinchillaParams| -> Result<(ChinchillaParams, f64)> {
        refit(
            &effective_points(points, ln_r.exp()),
            weights,
            start,
            &opts.chinchilla,
        )
    };
    let (mut a, mut b) = bracket;
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - phi * (b - a), a + phi * (b - a));
    let (mut pc, mut fc) = at(c, &params)?;
    let (mut pd, mut fd) = at(d, &params)?;
    for _ in 0..opts.refine_steps {
        if fc < fd {
            (b, d, pd, fd) = (d, c, pc, fc);
            c = b - phi * (b - a);
            (pc, fc) = at(c, &pd)?;
        } else {
            (a, c, pc, fc) = (c, d, pd, fd);
            d = a + phi * (b - a);
            (pd, fd) = at(d, &pc)?;
        }
    }
    for (ln_r, p, f) in [(c, pc, fc), (d, pd, fd)] {
        if f < objective {
            (r_star, params, objective) = (ln_r.exp(), p, f);
        }
    }
    Ok((r_star, params, objective))
}

/// The law refitted to reweighted `points` (a bootstrap resample) from the full fit `full`:
/// a golden-section search of ln R* over the whole scanned range, no new scan.
pub fn refit_constrained(
    points: &[UniquePoint],
    weights: &[f64],
    full: &ConstrainedFit,
    opts: &ConstrainedOptions,
) -> Result<(ChinchillaParams, f64)> {
    let (start, start_obj) = refit(
        &effective_points(points, full.r_star),
        Some(weights),
        &full.params,
        &opts.chinchilla,
    )?;
    let bracket = (opts.r_star_min.ln(), opts.r_star_max.ln());
    let best = (full.r_star, start, start_obj);
    let (r_star, params, _) = golden(points, Some(weights), bracket, best, opts)?;
    Ok((params, r_star))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_data_is_the_data_until_it_repeats_and_saturates_after() {
        assert_eq!(effective_data(50.0, 100.0, 15.0), 50.0);
        assert_eq!(effective_data(100.0, 100.0, 15.0), 100.0);
        // one repetition is worth a little less than one epoch of new data
        let one = effective_data(200.0, 100.0, 15.0);
        assert!(one < 200.0 && one > 190.0, "{one}");
        // however often repeated, at most U (1 + R*)
        assert!(effective_data(1e9, 100.0, 15.0) <= 100.0 * 16.0 + 1e-9);
        assert!((effective_data(1e9, 100.0, 15.0) - 1600.0).abs() < 1e-6);
    }
}
