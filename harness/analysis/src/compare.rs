//! Comparing scaling laws: which variant scales better, where the laws cross, and how sure that
//! is. One law is fitted to each group of the tidy table (the rows sharing a value of one
//! column, after an optional value mapping), with bootstrap refits over the group's runs (or,
//! where the thin-data guard refuses the bootstrap, draws from the fit's classical interval),
//! and every pair of groups is compared: the difference of exponents and of asymptotes, the
//! compute where the laws cross (or "no crossing" in the range looked at), and the probability
//! that one group's law is below the other's at chosen computes. Each interval comes from
//! pairing the two groups' refits one to one (the groups are independent samples).
//!
//! Published comparisons fit each group once (Cherti et al. 2023: LAION against OpenAI's data;
//! Nezhurina et al. 2025: CLIP against MaMMUT) and give no interval on where the laws cross.

use serde::{Deserialize, Serialize};

use crate::error::{AnalysisError, Result};
use crate::fit::bootstrap::{BootstrapOptions, quantile};
use crate::fit::frontier::Frontier;
use crate::fit::record::FitRecord;
use crate::pipeline::{FitSpec, Law, SelectSpec, fit_table, sig};
use crate::plot::{distinct_sorted, sub_table, text_of};
use crate::records::SCHEMA_VERSION;
use crate::select::select_rows;
use crate::table::Table;

/// What to compare and how.
#[derive(Debug, Clone)]
pub struct CompareSpec {
    /// The rows looked at (data set, metric, axes, sweeps, ...), before grouping.
    pub select: SelectSpec,
    /// The column whose values are the groups.
    pub by: String,
    /// The law and the frontier every group is fitted with.
    pub fit: FitSpec,
    /// A different frontier for some groups (e.g. `CLIP-WIT` fitted to all its 3 points).
    pub frontier_of: Vec<(String, Frontier)>,
    pub bootstrap: BootstrapOptions,
    /// Computes at which to give the probability that one law is below the other.
    pub at: Vec<f64>,
    /// Where to look for crossings; default: from the lowest compute of the data to 100 times
    /// the highest.
    pub range: Option<(f64, f64)>,
}

/// How a group's uncertainty was resampled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupFit {
    pub name: String,
    /// `bootstrap` (refits over the group's runs) or `classical` (draws from the classical
    /// interval, when the bootstrap was refused).
    pub resampled_by: String,
    /// Parameter vectors the comparison used.
    pub draws: usize,
    pub fit: FitRecord,
    /// The parameter vectors themselves (record order), in memory only.
    #[serde(skip)]
    pub replicates: Vec<Vec<f64>>,
}

/// An estimate with its central interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub estimate: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

/// Where two laws cross.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Crossing {
    /// The compute range searched.
    pub range: [f64; 2],
    /// The lowest compute in the range where the fitted laws cross; `None`: no crossing.
    pub compute: Option<f64>,
    /// The central interval of the crossing over the pairs of refits that cross in the range.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Share of the pairs of refits whose laws cross in the range.
    pub share_crossing: f64,
    /// The group whose law is lower (better) at the start of the range.
    pub better_at_start: String,
}

/// The chance that group `a`'s law is below group `b`'s at one compute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BetterAt {
    pub compute: f64,
    pub a_predicted: f64,
    pub b_predicted: f64,
    /// Share of the pairs of refits in which `a` predicts the lower error.
    pub p_a_better: f64,
}

/// One pair of groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairComparison {
    pub a: String,
    pub b: String,
    /// a's exponent minus b's (more negative: a's error falls faster with compute).
    pub exponent_difference: Estimate,
    /// a's asymptote minus b's, for laws that have one (saturating E_inf, shifted d).
    #[serde(default)]
    pub asymptote_difference: Option<Estimate>,
    pub crossing: Crossing,
    pub better_at: Vec<BetterAt>,
}

/// The comparison record (`compare --out`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareRecord {
    pub schema_version: u32,
    pub law: String,
    pub by: String,
    pub table: String,
    pub dataset: String,
    pub metric: String,
    /// E.g. `1 - acc1` against `total_gmacs`.
    pub y: String,
    pub x: String,
    pub level: f64,
    pub seed: u64,
    pub groups: Vec<GroupFit>,
    /// Groups that could not be fitted, and why.
    #[serde(default)]
    pub not_fitted: Vec<String>,
    pub pairs: Vec<PairComparison>,
    pub clipscale_analysis_version: String,
}

impl CompareRecord {
    /// The comparison of groups `a` and `b` (in either order as recorded).
    pub fn pair(&self, a: &str, b: &str) -> Option<&PairComparison> {
        self.pairs.iter().find(|p| p.a == a && p.b == b)
    }
}

/// The exponent's and the asymptote's names of a law.
fn exponent_and_asymptote(law: Law) -> Result<(&'static str, Option<&'static str>)> {
    match law {
        Law::Power => Ok(("alpha", None)),
        Law::Saturating => Ok(("alpha", Some("E_inf"))),
        Law::Shifted => Ok(("c", Some("d"))),
        Law::Chinchilla | Law::DataConstrained => Err(AnalysisError::arg(
            "law",
            format!(
                "the {} law is not a function of compute alone; compare with a law of compute",
                law.name()
            ),
        )),
    }
}

/// Fits every group of `table` and compares each pair (see the module documentation).
pub fn compare(table: &Table, spec: &CompareSpec) -> Result<CompareRecord> {
    let law = spec.fit.law;
    let (exponent, asymptote) = exponent_and_asymptote(law)?;
    let (sel, rows) = select_rows(table, &spec.select)?;
    if table.rows.first().and_then(|r| r.text(&spec.by)).is_none() {
        return Err(AnalysisError::arg(
            "by",
            format!(
                "{:?} is not a text column of {}",
                spec.by,
                table.path.display()
            ),
        ));
    }
    let names = distinct_sorted(table, &rows, &spec.by);
    for (g, _) in &spec.frontier_of {
        if !names.contains(g) {
            return Err(AnalysisError::arg(
                "frontier-of",
                format!(
                    "no group {g:?}; the groups by {} are {}",
                    spec.by,
                    names.join(", ")
                ),
            ));
        }
    }
    if names.len() < 2 {
        return Err(AnalysisError::arg(
            "by",
            format!(
                "the selected rows of {} have {} value(s) of {} ({}); a comparison needs two",
                table.path.display(),
                names.len(),
                spec.by,
                names.join(", ")
            ),
        ));
    }
    let mut groups = Vec::new();
    let mut not_fitted = Vec::new();
    for name in names {
        match fit_group(table, &rows, spec, &name) {
            Ok(g) => groups.push(g),
            Err(e) => not_fitted.push(format!("{name}: {e}")),
        }
    }
    if groups.len() < 2 {
        return Err(AnalysisError::fit(
            law.name(),
            format!(
                "fewer than two groups could be fitted: {}",
                not_fitted.join("; ")
            ),
        ));
    }
    let range = spec.range.unwrap_or_else(|| {
        let (lo, hi) = crate::fit::range(sel.obs.iter().map(|o| o.x)).unwrap_or((1.0, 10.0));
        (lo, 100.0 * hi)
    });
    if !(range.0 > 0.0 && range.1 > range.0) {
        return Err(AnalysisError::arg(
            "range",
            format!(
                "{} to {} is not a range of positive computes",
                range.0, range.1
            ),
        ));
    }
    let mut pairs = Vec::new();
    for i in 0..groups.len() {
        for j in i + 1..groups.len() {
            pairs.push(compare_pair(
                law, &groups[i], &groups[j], exponent, asymptote, range, spec,
            ));
        }
    }
    Ok(CompareRecord {
        schema_version: SCHEMA_VERSION,
        law: law.name().to_string(),
        by: spec.by.clone(),
        table: table.path.display().to_string(),
        dataset: sel.selection.dataset.clone(),
        metric: sel.selection.metric.clone(),
        y: sel.axes.y.clone(),
        x: sel.axes.x.clone(),
        level: spec.bootstrap.level,
        seed: spec.bootstrap.seed,
        groups,
        not_fitted,
        pairs,
        clipscale_analysis_version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

/// One group's fit with its refits (or classical draws).
fn fit_group(table: &Table, rows: &[usize], spec: &CompareSpec, name: &str) -> Result<GroupFit> {
    let members: Vec<usize> = rows
        .iter()
        .copied()
        .filter(|&i| text_of(&table.rows[i], &spec.by) == name)
        .collect();
    let sub = sub_table(table, &members);
    let mut fit = spec.fit.clone();
    if let Some((_, f)) = spec.frontier_of.iter().find(|(g, _)| g == name) {
        fit.frontier = *f;
    }
    // the group's own sweeps of those asked for (groups may come from different sweeps)
    let mut select = spec.select.clone();
    select
        .sweeps
        .retain(|s| sub.rows.iter().any(|r| &r.sweep == s));
    let mut rec = fit_table(&sub, &select, &fit, Some(&spec.bootstrap), None)?;
    let (resampled_by, replicates) = match rec.bootstrap.as_mut() {
        Some(b) => ("bootstrap", std::mem::take(&mut b.replicates)),
        None => {
            let c = rec.classical.as_ref().ok_or_else(|| {
                AnalysisError::fit(
                    fit.law.name(),
                    "neither a bootstrap nor a classical interval could be computed",
                )
            })?;
            let draws = c
                .draws(spec.bootstrap.reps, spec.bootstrap.seed)
                .ok_or_else(|| {
                    AnalysisError::fit(fit.law.name(), "the classical covariance is singular")
                })?;
            ("classical", draws)
        }
    };
    Ok(GroupFit {
        name: name.to_string(),
        resampled_by: resampled_by.to_string(),
        draws: replicates.len(),
        fit: rec,
        replicates,
    })
}

fn params(rec: &FitRecord) -> Vec<f64> {
    rec.parameters.iter().map(|p| p.value).collect()
}

fn index_of(rec: &FitRecord, name: &str) -> usize {
    rec.parameters
        .iter()
        .position(|p| p.name == name)
        .unwrap_or(0)
}

/// Central interval of `values` (finite ones) at `level`.
fn interval(values: &mut Vec<f64>, level: f64) -> Option<(f64, f64)> {
    values.retain(|v| v.is_finite());
    if values.len() < 2 {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some((quantile(values, tail), quantile(values, 1.0 - tail)))
}

/// The lowest compute in `range` where the laws with parameters `a` and `b` cross: the first
/// sign change of ln f_a - ln f_b on a log grid, refined by bisection.
pub fn crossing(law: Law, a: &[f64], b: &[f64], range: (f64, f64)) -> Option<f64> {
    let g = |lc: f64| {
        let c = lc.exp();
        law.predict(a, c, f64::NAN, f64::NAN, f64::NAN).ln()
            - law.predict(b, c, f64::NAN, f64::NAN, f64::NAN).ln()
    };
    let (lo, hi) = (range.0.ln(), range.1.ln());
    const STEPS: usize = 400;
    let mut prev = (lo, g(lo));
    for k in 1..=STEPS {
        let x = lo + (hi - lo) * k as f64 / STEPS as f64;
        let v = g(x);
        if prev.1.is_finite() && v.is_finite() && (prev.1 == 0.0 || prev.1.signum() != v.signum()) {
            let (mut l, mut h, gl) = (prev.0, x, prev.1);
            if gl == 0.0 {
                return Some(l.exp());
            }
            for _ in 0..80 {
                let m = 0.5 * (l + h);
                if g(m).signum() == gl.signum() {
                    l = m;
                } else {
                    h = m;
                }
            }
            return Some((0.5 * (l + h)).exp());
        }
        prev = (x, v);
    }
    None
}

fn compare_pair(
    law: Law,
    a: &GroupFit,
    b: &GroupFit,
    exponent: &str,
    asymptote: Option<&str>,
    range: (f64, f64),
    spec: &CompareSpec,
) -> PairComparison {
    let level = spec.bootstrap.level;
    let (pa, pb) = (params(&a.fit), params(&b.fit));
    let n = a.replicates.len().min(b.replicates.len());
    let pairs = || a.replicates.iter().zip(&b.replicates).take(n);
    let difference = |name: &str| {
        let (ia, ib) = (index_of(&a.fit, name), index_of(&b.fit, name));
        let mut d: Vec<f64> = pairs().map(|(x, y)| x[ia] - y[ib]).collect();
        let (lo, hi) = interval(&mut d, level).unwrap_or((f64::NAN, f64::NAN));
        Estimate {
            estimate: pa[ia] - pb[ib],
            ci_low: lo,
            ci_high: hi,
        }
    };
    let mut crossings: Vec<f64> = pairs()
        .filter_map(|(x, y)| crossing(law, x, y, range))
        .collect();
    let share_crossing = if n == 0 {
        0.0
    } else {
        crossings.len() as f64 / n as f64
    };
    let ci = interval(&mut crossings, level);
    let start = |p: &[f64]| law.predict(p, range.0, f64::NAN, f64::NAN, f64::NAN);
    let better_at_start = if start(&pa) <= start(&pb) {
        &a.name
    } else {
        &b.name
    };
    let better_at = spec
        .at
        .iter()
        .map(|&c| {
            let f = |p: &[f64]| law.predict(p, c, f64::NAN, f64::NAN, f64::NAN);
            // over the pairs where both laws predict a number
            let both: Vec<(f64, f64)> = pairs()
                .map(|(x, y)| (f(x), f(y)))
                .filter(|(u, v)| u.is_finite() && v.is_finite())
                .collect();
            let wins = both.iter().filter(|(u, v)| u < v).count();
            BetterAt {
                compute: c,
                a_predicted: f(&pa),
                b_predicted: f(&pb),
                p_a_better: if both.is_empty() {
                    f64::NAN
                } else {
                    wins as f64 / both.len() as f64
                },
            }
        })
        .collect();
    PairComparison {
        a: a.name.clone(),
        b: b.name.clone(),
        exponent_difference: difference(exponent),
        asymptote_difference: asymptote.map(difference),
        crossing: Crossing {
            range: [range.0, range.1],
            compute: crossing(law, &pa, &pb, range),
            ci_low: ci.map(|c| c.0),
            ci_high: ci.map(|c| c.1),
            share_crossing,
            better_at_start: better_at_start.clone(),
        },
        better_at,
    }
}

/// The comparison as a readable table.
pub fn summary(rec: &CompareRecord) -> Vec<String> {
    let pct = 100.0 * rec.level;
    let mut out = vec![format!(
        "{} law per {} on {} {} ({} against {}):",
        rec.law, rec.by, rec.dataset, rec.metric, rec.y, rec.x
    )];
    for g in &rec.groups {
        out.push(format!(
            "  {:<16} {}   ({} points -> {} used, frontier {}; {} {} draws)",
            g.name,
            g.fit.formula,
            g.fit.points_input,
            g.fit.points_used.len(),
            g.fit.frontier,
            g.draws,
            g.resampled_by
        ));
    }
    for n in &rec.not_fitted {
        out.push(format!("  not fitted: {n}"));
    }
    for p in &rec.pairs {
        let e = &p.exponent_difference;
        out.push(format!(
            "  {} vs {}: exponent difference {} [{}, {}] ({pct:.0}%)",
            p.a,
            p.b,
            sig(e.estimate),
            sig(e.ci_low),
            sig(e.ci_high)
        ));
        if let Some(d) = &p.asymptote_difference {
            out.push(format!(
                "    asymptote difference {} [{}, {}]",
                sig(d.estimate),
                sig(d.ci_low),
                sig(d.ci_high)
            ));
        }
        let c = &p.crossing;
        let range = format!("[{:.3e}, {:.3e}]", c.range[0], c.range[1]);
        out.push(match (c.compute, c.ci_low, c.ci_high) {
            (Some(x), Some(lo), Some(hi)) => format!(
                "    laws cross at C = {x:.3e} [{lo:.3e}, {hi:.3e}] ({:.0}% of refit pairs cross in {range}); {} is better below",
                100.0 * c.share_crossing,
                c.better_at_start
            ),
            (Some(x), _, _) => format!(
                "    laws cross at C = {x:.3e} ({:.0}% of refit pairs cross in {range})",
                100.0 * c.share_crossing
            ),
            (None, _, _) => format!(
                "    no crossing in {range} ({:.0}% of refit pairs cross there); {} is better throughout",
                100.0 * c.share_crossing,
                c.better_at_start
            ),
        });
        for b in &p.better_at {
            out.push(format!(
                "    at C = {:.3e}: {} {} vs {} {}; P({} better) = {:.3}",
                b.compute,
                p.a,
                sig(b.a_predicted),
                p.b,
                sig(b.b_predicted),
                p.a,
                b.p_a_better
            ));
        }
    }
    out
}
