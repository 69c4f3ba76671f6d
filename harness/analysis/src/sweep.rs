//! The analysis at the end of a sweep, as typed calls of this crate: the results collected into
//! one tidy table, a power law of each held-out metric (validation loss and zero-shot error,
//! per evaluation set of the sweep) fitted on the Pareto frontier of compute (forward GMACs x
//! samples, as Cherti et al. 2023) with 200 bootstrap refits, the same law refitted without the
//! largest-compute frontier point to check how well it predicts it, and the plots: the metric
//! against compute with the law and its band, and against samples seen per model.
//!
//! Everything lands beside the table in `<results>/<sweep>/`: `table.csv`, `fit-<tag>.json`,
//! `fit-<tag>-holdout.json`, `scaling-<tag>.{png,svg}` and `samples-<tag>.{png,svg}`, where the
//! tag is the metric, prefixed by the evaluation set when the sweep has several.

use std::path::{Path, PathBuf};

use crate::collect::{SkippedTrial, collect_results};
use crate::compare::{CompareRecord, CompareSpec, compare};
use crate::error::{AnalysisError, Result};
use crate::fit::bootstrap::BootstrapOptions;
use crate::fit::frontier::Frontier;
use crate::fit::record::FitRecord;
use crate::forecast::FORECAST_LEVEL;
use crate::pipeline::{FitSpec, Law, SelectSpec, YKind, fit_table};
use crate::plot::Labels;
use crate::plot::compare::{CompareFigureSpec, compare_figure};
use crate::plot::figure::Figure;
use crate::plot::forecast::forecast_figure;
use crate::plot::render::render;
use crate::plot::samples::{SamplesSpec, samples_figure};
use crate::plot::scaling::{Fits, LawToDraw, ScalingSpec, scaling_figure};
use crate::records::write_json_atomic;
use crate::table::{self, Table, TidyRow};

/// The metrics fitted, with the words their plots use: (metric, against compute, against
/// samples seen).
const METRICS: [(&str, &str, &str); 2] = [
    (
        "val_loss",
        "held-out validation loss (batch 256)",
        "held-out validation loss (batch 256)",
    ),
    (
        "acc1",
        "held-out zero-shot top-1 error",
        "held-out zero-shot top-1 accuracy",
    ),
];

/// Bootstrap refits of each law (its band).
const BOOTSTRAP_REPS: usize = 200;

/// The columns a sweep's trials are compared by, in the order tried: the first with two or
/// more values among the sweep's trials groups them.
pub const COMPARE_BY: [&str; 6] = [
    "train_data",
    "curation",
    "objective",
    "family",
    "schedule",
    "varied",
];

/// The column `rows` are compared by (the first of [`COMPARE_BY`] with two or more values) and
/// its values, sorted; `None` when the rows are all one variant.
pub fn comparison_column(rows: &[&TidyRow]) -> Option<(&'static str, Vec<String>)> {
    COMPARE_BY.iter().find_map(|&col| {
        let mut values: Vec<String> = rows
            .iter()
            .filter_map(|r| r.text(col))
            .map(str::to_string)
            .collect();
        values.sort();
        values.dedup();
        (values.len() >= 2).then_some((col, values))
    })
}

/// How well the forecasts made before the trials ran matched their results, on one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastCheck {
    pub dataset: String,
    pub metric: String,
    pub tag: String,
    /// Results that had a forecast.
    pub n: usize,
    pub mean_abs_rel_error: f64,
    pub max_abs_rel_error: f64,
    /// Results inside their forecast's interval.
    pub inside: usize,
    pub level: f64,
}

/// The forecast checks of `sweep`'s rows, one per evaluation set and metric with forecasts.
pub fn forecast_checks(table: &Table, sweep: &str, several_sets: bool) -> Vec<ForecastCheck> {
    let mut keys: Vec<(&str, &str)> = table
        .rows
        .iter()
        .filter(|r| r.sweep == sweep && r.forecast.is_some())
        .map(|r| (r.dataset.as_str(), r.metric.as_str()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|(dataset, metric)| {
            let rows: Vec<(f64, f64, f64, f64)> = table
                .rows
                .iter()
                .filter(|r| r.sweep == sweep && r.dataset == dataset && r.metric == metric)
                .filter_map(|r| Some((r.value, r.forecast?, r.forecast_lo?, r.forecast_hi?)))
                .collect();
            // relative to the result; a result of 0 (no correct answer) has none
            let rel: Vec<f64> = rows
                .iter()
                .filter(|(v, ..)| *v != 0.0)
                .map(|(v, f, ..)| (f - v).abs() / v.abs())
                .collect();
            ForecastCheck {
                dataset: dataset.to_string(),
                metric: metric.to_string(),
                tag: if several_sets {
                    format!("{dataset}-{metric}")
                } else {
                    metric.to_string()
                },
                n: rows.len(),
                mean_abs_rel_error: rel.iter().sum::<f64>() / rel.len().max(1) as f64,
                max_abs_rel_error: rel.iter().copied().fold(0.0, f64::max),
                inside: rows
                    .iter()
                    .filter(|(v, _, lo, hi)| (*lo..=*hi).contains(v))
                    .count(),
                level: FORECAST_LEVEL,
            }
        })
        .collect()
}

/// One comparison of the sweep's variants on one metric.
#[derive(Debug, Clone)]
pub struct SweepComparison {
    pub tag: String,
    pub record: CompareRecord,
    pub path: PathBuf,
}

/// One fitted metric.
#[derive(Debug, Clone)]
pub struct SweepFit {
    pub dataset: String,
    pub metric: String,
    /// `metric`, or `dataset-metric` when the sweep has several evaluation sets.
    pub tag: String,
    pub record: FitRecord,
    pub path: PathBuf,
    /// R^2 of the law in log10 space.
    pub r2_log10: f64,
    /// Relative error of the law fitted without the largest-compute frontier point, on that
    /// point (`None` with fewer than 4 frontier points).
    pub heldout_rel_error: Option<f64>,
}

/// What the analysis of a sweep produced.
#[derive(Debug, Clone, Default)]
pub struct SweepAnalysis {
    pub table: PathBuf,
    pub rows: usize,
    pub trials: usize,
    pub skipped: Vec<SkippedTrial>,
    pub warnings: Vec<String>,
    pub fits: Vec<SweepFit>,
    /// Metrics that could not be fitted, and why.
    pub not_fitted: Vec<String>,
    pub plots: Vec<PathBuf>,
    /// Plots that could not be drawn, and why.
    pub not_plotted: Vec<String>,
    /// The column the sweep's trials form groups by, and the groups, when they do.
    pub compared_by: Option<(String, Vec<String>)>,
    pub comparisons: Vec<SweepComparison>,
    /// Comparisons that could not be made, and why.
    pub not_compared: Vec<String>,
    /// How the forecasts made before each trial ran compare with its results.
    pub forecast_checks: Vec<ForecastCheck>,
    /// A branched sweep's compute against independent runs' (`None` for other sweeps).
    pub compute: Option<crate::branching::ComputeAccount>,
}

impl SweepAnalysis {
    /// The figures a benchmark record keeps of this analysis: per fit its law, R^2, frontier
    /// size and the held-out point's error.
    pub fn figures(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(c) = &self.compute {
            out.extend(c.figures());
        }
        for f in &self.fits {
            let key = f.tag.replace('-', "_");
            out.push((format!("{key}_law"), f.record.formula.clone()));
            out.push((format!("{key}_r2_log10"), format!("{:.3}", f.r2_log10)));
            out.push((
                format!("{key}_frontier_points"),
                f.record.points_used.len().to_string(),
            ));
            if let Some(e) = f.heldout_rel_error {
                out.push((format!("{key}_heldout_point_rel_error"), format!("{e:+.4}")));
            }
        }
        for c in &self.forecast_checks {
            let key = c.tag.replace('-', "_");
            out.push((
                format!("{key}_forecast_mean_abs_rel_error"),
                format!("{:.4}", c.mean_abs_rel_error),
            ));
            out.push((
                format!("{key}_forecast_max_abs_rel_error"),
                format!("{:.4}", c.max_abs_rel_error),
            ));
            out.push((
                format!("{key}_forecast_inside_interval"),
                format!("{} of {}", c.inside, c.n),
            ));
        }
        out
    }
}

/// Collects every trial under `results`, fits and plots the sweep `sweep` (see the module
/// documentation).
pub fn analyse_sweep(results: &Path, sweep: &str) -> Result<SweepAnalysis> {
    let dir = results.join(sweep);
    std::fs::create_dir_all(&dir).map_err(|e| AnalysisError::io(&dir, "creating", e))?;
    let collected = collect_results(results)?;
    let table_path = dir.join("table.csv");
    table::write_csv(&table_path, &collected.rows)?;
    let table = table::read_csv(&table_path)?;
    let mut out = SweepAnalysis {
        table: table_path,
        rows: collected.rows.len(),
        trials: collected.trials,
        skipped: collected.skipped,
        warnings: collected.warnings,
        compute: crate::branching::account_sweep_dir(&dir)?,
        ..SweepAnalysis::default()
    };
    let datasets = eval_datasets(&table, sweep);
    for dataset in &datasets {
        for (metric, against_compute, against_samples) in METRICS {
            let tag = if datasets.len() == 1 {
                metric.to_string()
            } else {
                format!("{dataset}-{metric}")
            };
            match fit_metric(&table, &dir, sweep, dataset, metric, &tag) {
                Ok(fit) => {
                    let title = |what: &str| {
                        if datasets.len() > 1 {
                            format!("{sweep}: {what}, {dataset}")
                        } else {
                            format!("{sweep}: {what}")
                        }
                    };
                    let figures = [
                        (
                            "scaling",
                            scaling_plot(&table, sweep, &fit, title(against_compute)),
                        ),
                        (
                            "samples",
                            samples_plot(&table, sweep, &fit, title(against_samples)),
                        ),
                    ];
                    for (kind, figure) in figures {
                        draw(&dir, kind, &fit.tag, figure, &mut out);
                    }
                    out.fits.push(fit);
                }
                Err(e) => out.not_fitted.push(format!("{dataset} {metric}: {e}")),
            }
        }
    }
    let checks = forecast_checks(&table, sweep, datasets.len() > 1);
    for c in &checks {
        let rows: Vec<&TidyRow> = table
            .rows
            .iter()
            .filter(|r| r.sweep == sweep && r.dataset == c.dataset && r.metric == c.metric)
            .collect();
        let title = format!(
            "{sweep}: {} {} forecast before each trial ran",
            c.dataset, c.metric
        );
        draw(
            &dir,
            "forecast",
            &c.tag,
            forecast_figure(&rows, Some(title)),
            &mut out,
        );
    }
    out.forecast_checks = checks;
    let rows: Vec<&TidyRow> = table.rows.iter().filter(|r| r.sweep == sweep).collect();
    out.compared_by = comparison_column(&rows).map(|(c, v)| (c.to_string(), v));
    if let Some((by, _)) = out.compared_by.clone() {
        for fit in &out.fits {
            match compare_metric(&table, &dir, sweep, fit, &by) {
                Ok(c) => {
                    out.plots.push(c.path.with_extension("png"));
                    out.comparisons.push(c);
                }
                Err(e) => out
                    .not_compared
                    .push(format!("{} {} by {by}: {e}", fit.dataset, fit.metric)),
            }
        }
    }
    Ok(out)
}

/// The evaluation sets the table has for `sweep` (sorted), other than the training data.
pub fn eval_datasets(table: &Table, sweep: &str) -> Vec<String> {
    let mut sets: Vec<String> = table
        .rows
        .iter()
        .filter(|r| r.sweep == sweep && r.dataset != "train")
        .filter(|r| r.metric == "val_loss" || r.metric == "acc1")
        .map(|r| r.dataset.clone())
        .collect();
    sets.sort();
    sets.dedup();
    sets
}

fn select(sweep: &str, dataset: &str, metric: &str) -> SelectSpec {
    SelectSpec {
        sweeps: vec![sweep.to_string()],
        train_data: None,
        model: None,
        dataset: Some(dataset.to_string()),
        metric: Some(metric.to_string()),
        x_column: "total_gmacs".into(),
        y: YKind::Auto,
        drop_highest: 0,
        need_nd: false,
    }
}

/// The power law on the Pareto frontier with its bootstrap, and the hold-out check.
fn fit_metric(
    table: &Table,
    dir: &Path,
    sweep: &str,
    dataset: &str,
    metric: &str,
    tag: &str,
) -> Result<SweepFit> {
    let spec = FitSpec {
        law: Law::Power,
        frontier: Frontier::Pareto,
        saturating: Default::default(),
        chinchilla: Default::default(),
    };
    let boot = BootstrapOptions {
        reps: BOOTSTRAP_REPS,
        seed: 0,
        level: 0.95,
        threads: 0,
    };
    let sel = select(sweep, dataset, metric);
    let record = fit_table(table, &sel, &spec, Some(&boot), None)?;
    let path = dir.join(format!("fit-{tag}.json"));
    write_json_atomic(&path, &record)?;
    // fitted below the largest-compute frontier point, predicting it
    let xs: Vec<f64> = record.points_used.iter().map(|p| p.x).collect();
    let top = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let below = xs
        .iter()
        .copied()
        .filter(|x| *x < top)
        .fold(f64::NEG_INFINITY, f64::max);
    let heldout_rel_error = if xs.len() >= 4 {
        fit_table(table, &sel, &spec, Some(&boot), Some((below + top) / 2.0))
            .ok()
            .and_then(|h| {
                let path = dir.join(format!("fit-{tag}-holdout.json"));
                let error = h.extrapolation.as_ref().map(|e| e.mean_rel_error);
                write_json_atomic(&path, &h).ok().and(error)
            })
    } else {
        None
    };
    let r2_log10 = record
        .diagnostics
        .iter()
        .find(|d| d.name == "r2_log10")
        .map_or(f64::NAN, |d| d.value);
    Ok(SweepFit {
        dataset: dataset.to_string(),
        metric: metric.to_string(),
        tag: tag.to_string(),
        record,
        path,
        r2_log10,
        heldout_rel_error,
    })
}

/// One law per group of the sweep's trials (by `by`) on the metric of `fit`, compared; the
/// record and its figure land beside the fits (`compare-<tag>.json`, `.png`, `.svg`).
fn compare_metric(
    table: &Table,
    dir: &Path,
    sweep: &str,
    fit: &SweepFit,
    by: &str,
) -> Result<SweepComparison> {
    let spec = CompareSpec {
        select: select(sweep, &fit.dataset, &fit.metric),
        by: by.to_string(),
        fit: FitSpec {
            law: Law::Power,
            frontier: Frontier::Pareto,
            saturating: Default::default(),
            chinchilla: Default::default(),
        },
        frontier_of: Vec::new(),
        bootstrap: BootstrapOptions {
            reps: BOOTSTRAP_REPS,
            seed: 0,
            level: 0.95,
            threads: 0,
        },
        at: Vec::new(),
        range: None,
    };
    let record = compare(table, &spec)?;
    let path = dir.join(format!("compare-{}.json", fit.tag));
    write_json_atomic(&path, &record)?;
    let figure = compare_figure(
        table,
        &record,
        &CompareFigureSpec {
            select: spec.select,
            marker_by: Some("model".into()),
            labels: Labels::default(),
            title: Some(format!("{sweep}: {} {} by {by}", fit.dataset, fit.metric)),
            width: 1400,
            height: 820,
        },
    )?;
    let png = path.with_extension("png");
    render(&figure, &png)?;
    render(&figure, &png.with_extension("svg"))?;
    Ok(SweepComparison {
        tag: fit.tag.clone(),
        record,
        path,
    })
}

/// The metric against compute: every trial, the law and its band, the frontier.
fn scaling_plot(table: &Table, sweep: &str, fit: &SweepFit, title: String) -> Result<Figure> {
    let mut record = fit.record.clone();
    let replicates = record
        .bootstrap
        .as_mut()
        .map(|b| std::mem::take(&mut b.replicates))
        .unwrap_or_default();
    let spec = ScalingSpec {
        select: select(sweep, &fit.dataset, &fit.metric),
        color_by: "model".into(),
        marker_by: None,
        fits: Fits::Given(vec![LawToDraw {
            label: format!("{sweep}, Pareto frontier"),
            record,
            replicates,
        }]),
        band: true,
        dashed_beyond_data: false,
        labels: Labels::default(),
        title: Some(title),
        x_label: None,
        y_label: None,
        width: 1400,
        height: 820,
    };
    Ok(scaling_figure(table, &spec)?.figure)
}

/// The metric against samples seen, one line per model.
fn samples_plot(table: &Table, sweep: &str, fit: &SweepFit, title: String) -> Result<Figure> {
    let spec = SamplesSpec {
        sweeps: vec![sweep.to_string()],
        train_data: None,
        model: None,
        dataset: Some(fit.dataset.clone()),
        metric: Some(fit.metric.clone()),
        x_column: "samples_seen".into(),
        y: YKind::Auto,
        y_log: false,
        group_by: vec!["model".into()],
        color_by: None,
        marker_by: None,
        labels: Labels::default(),
        title: Some(title),
        x_label: None,
        y_label: None,
        width: 1400,
        height: 820,
    };
    samples_figure(table, &spec)
}

/// Renders `figure` as PNG and SVG, or notes why it could not be drawn.
fn draw(dir: &Path, kind: &str, tag: &str, figure: Result<Figure>, out: &mut SweepAnalysis) {
    let png = dir.join(format!("{kind}-{tag}.png"));
    let drawn = figure.and_then(|fig| {
        render(&fig, &png)?;
        render(&fig, &png.with_extension("svg"))
    });
    match drawn {
        Ok(()) => out.plots.push(png),
        Err(e) => out.not_plotted.push(format!("{kind} plot of {tag}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_is_analysed_on_each_of_its_own_evaluation_sets() {
        let dir = std::env::temp_dir().join(format!("clipscale-analyse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("table.csv");
        let header = "sweep,trial_id,model,params,samples_seen,unique_samples,train_flops,fwd_macs_per_pair,total_gmacs,dataset,metric,value,source,train_data";
        let row = |sweep: &str, dataset: &str, metric: &str| {
            format!(
                "{sweep},t,w32-d2,93057,1000,1000,1e9,981000,0.98,{dataset},{metric},0.5,clipscale,"
            )
        };
        let rows = [
            row("emoji", "emoji-heldout-style", "acc1"),
            row("emoji", "emoji-heldout-concept", "val_loss"),
            row("emoji", "train", "loss"),
            row("quick", "synthetic-heldout", "acc1"),
        ];
        std::fs::write(&path, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
        let table = table::read_csv(&path).unwrap();
        assert_eq!(
            eval_datasets(&table, "emoji"),
            ["emoji-heldout-concept", "emoji-heldout-style"]
        );
        assert_eq!(eval_datasets(&table, "quick"), ["synthetic-heldout"]);
        assert!(eval_datasets(&table, "absent").is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }
}
