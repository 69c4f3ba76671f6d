//! Nonparametric bootstrap for any fit: resample the points with replacement (as multiplicity
//! counts), refit, and report percentile intervals and standard errors of every parameter, as
//! Besiroglu et al. 2024 do for Chinchilla approach 3. Replicate r draws from its own seeded
//! stream, so results depend on the seed only, not on the number of threads.

use std::time::Instant;

use clipscale_core::rng::Xoshiro256;
use serde::{Deserialize, Serialize};

use crate::error::{AnalysisError, Result};

/// How many replicates, which seed, which interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BootstrapOptions {
    pub reps: usize,
    pub seed: u64,
    /// Central interval level, e.g. 0.95.
    pub level: f64,
    /// Worker threads; 0 = all logical cores.
    pub threads: usize,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            reps: 1000,
            seed: 0,
            level: 0.95,
            threads: 1,
        }
    }
}

/// Bootstrap distribution summary of one parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamInterval {
    pub name: String,
    /// Full-data estimate.
    pub estimate: f64,
    pub mean: f64,
    /// Standard deviation of the replicates (n - 1 denominator).
    pub se: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

/// Result of a bootstrap run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapSummary {
    pub reps: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub seed: u64,
    pub level: f64,
    pub threads: usize,
    pub elapsed_s: f64,
    pub params: Vec<ParamInterval>,
    /// The first few failure messages, if any.
    #[serde(default)]
    pub failures: Vec<String>,
    /// Every replicate's parameters (same order as `params`), kept in memory only.
    #[serde(skip)]
    pub replicates: Vec<Vec<f64>>,
}

/// Multiplicities of `n` points drawn with replacement.
pub fn resample_counts(n: usize, rng: &mut Xoshiro256) -> Vec<f64> {
    let mut counts = vec![0.0; n];
    for _ in 0..n {
        counts[rng.below(n as u64) as usize] += 1.0;
    }
    counts
}

/// The multiplicities of replicate `r` of a bootstrap with `seed` over `n` points (each
/// replicate draws from its own stream).
pub fn resample_of(seed: u64, r: usize, n: usize) -> Vec<f64> {
    let mut rng = Xoshiro256::stream(seed, r as u64);
    resample_counts(n, &mut rng)
}

/// The resampled list: each item repeated by its count.
pub fn expand<T: Clone>(items: &[T], counts: &[f64]) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    for (it, &c) in items.iter().zip(counts) {
        for _ in 0..(c as usize) {
            out.push(it.clone());
        }
    }
    out
}

/// Quantile with linear interpolation between order statistics (NumPy's default); `sorted`
/// must be ascending and non-empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Runs `opts.reps` refits. `refit` gets the counts of one resample and returns parameters in
/// the order of `names`; failed refits are counted and reported, not fatal (unless all fail).
pub fn bootstrap<F>(
    n_points: usize,
    names: &[&str],
    estimate: &[f64],
    opts: &BootstrapOptions,
    refit: F,
) -> Result<BootstrapSummary>
where
    F: Fn(&[f64]) -> Result<Vec<f64>> + Sync,
{
    if opts.reps < 2 {
        return Err(AnalysisError::arg(
            "bootstrap",
            "need at least 2 replicates",
        ));
    }
    if !(opts.level > 0.0 && opts.level < 1.0) {
        return Err(AnalysisError::arg(
            "level",
            format!("{} is not in (0, 1)", opts.level),
        ));
    }
    let t0 = Instant::now();
    let threads = super::chinchilla::worker_threads(opts.threads).min(opts.reps);
    let one = |r: usize| {
        let counts = resample_of(opts.seed, r, n_points);
        refit(&counts).and_then(|v| {
            if v.iter().all(|x| x.is_finite()) {
                Ok(v)
            } else {
                Err(AnalysisError::fit("bootstrap", "non-finite parameter"))
            }
        })
    };
    let mut results: Vec<Option<Result<Vec<f64>>>> = (0..opts.reps).map(|_| None).collect();
    if threads <= 1 {
        for (r, slot) in results.iter_mut().enumerate() {
            *slot = Some(one(r));
        }
    } else {
        let parts: Vec<Vec<(usize, Result<Vec<f64>>)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let one = &one;
                    s.spawn(move || {
                        (t..opts.reps)
                            .step_by(threads)
                            .map(|r| (r, one(r)))
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        for (r, res) in parts.into_iter().flatten() {
            results[r] = Some(res);
        }
    }
    let mut replicates = Vec::new();
    let mut failures = Vec::new();
    let mut failed = 0;
    for res in results {
        match res {
            Some(Ok(v)) if v.len() == names.len() => replicates.push(v),
            Some(Ok(v)) => {
                failed += 1;
                failures.push(format!(
                    "refit returned {} parameters, expected {}",
                    v.len(),
                    names.len()
                ));
            }
            Some(Err(e)) => {
                failed += 1;
                if failures.len() < 5 {
                    failures.push(e.to_string());
                }
            }
            None => failed += 1,
        }
    }
    if replicates.len() < 2 {
        return Err(AnalysisError::fit(
            "bootstrap",
            format!(
                "only {} of {} refits succeeded: {}",
                replicates.len(),
                opts.reps,
                failures.join("; ")
            ),
        ));
    }
    let tail = (1.0 - opts.level) / 2.0;
    let params = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let mut v: Vec<f64> = replicates.iter().map(|r| r[k]).collect();
            v.sort_by(f64::total_cmp);
            let n = v.len() as f64;
            let mean = v.iter().sum::<f64>() / n;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
            ParamInterval {
                name: name.to_string(),
                estimate: estimate.get(k).copied().unwrap_or(f64::NAN),
                mean,
                se: var.sqrt(),
                ci_low: quantile(&v, tail),
                ci_high: quantile(&v, 1.0 - tail),
            }
        })
        .collect();
    Ok(BootstrapSummary {
        reps: opts.reps,
        succeeded: replicates.len(),
        failed,
        seed: opts.seed,
        level: opts.level,
        threads,
        elapsed_s: t0.elapsed().as_secs_f64(),
        params,
        failures,
        replicates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipscale_core::rng::Random;

    #[test]
    fn quantiles_interpolate_and_counts_sum_to_n() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.25), 2.0);
        assert!((quantile(&v, 0.1) - 1.4).abs() < 1e-12);
        let mut rng = Xoshiro256::new(3);
        let c = resample_counts(50, &mut rng);
        assert_eq!(c.iter().sum::<f64>(), 50.0);
        assert_eq!(expand(&[1, 2, 3], &[2.0, 0.0, 1.0]), vec![1, 1, 3]);
    }

    #[test]
    fn bootstrap_of_a_mean_matches_the_textbook_standard_error() {
        let mut rng = Xoshiro256::new(11);
        let x: Vec<f64> = (0..200).map(|_| rng.normal()).collect();
        let mean = x.iter().sum::<f64>() / 200.0;
        let opts = BootstrapOptions {
            reps: 400,
            seed: 5,
            level: 0.9,
            threads: 2,
        };
        let s = bootstrap(200, &["mean"], &[mean], &opts, |c| {
            Ok(vec![
                x.iter().zip(c).map(|(v, w)| v * w).sum::<f64>() / 200.0,
            ])
        })
        .expect("bootstrap");
        let se = s.params[0].se;
        // Textbook SE of a mean of 200 standard normals: 1/sqrt(200) = 0.0707.
        assert!((se - 0.0707).abs() < 0.012, "{se}");
        assert!(s.params[0].ci_low < mean && mean < s.params[0].ci_high);
    }
}
