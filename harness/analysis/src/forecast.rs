//! Forecasts that are checked: before a trial of a sweep runs, the laws fitted on the sweep's
//! trials finished so far predict its results, with a prediction interval, into its folder
//! (`forecast.json`); `collect` puts them beside the results (`forecast`, `forecast_lo`,
//! `forecast_hi`) and the sweep's analysis reports how far off they were.
//!
//! The laws: the held-out validation loss as Chinchilla's L(N, D) = E + A/N^alpha + B/D^beta
//! (Hoffmann et al. 2022) once the finished trials hold enough distinct (N, D) pairs, else a
//! power law of compute; zero-shot error as a power law of compute (Cherti et al. 2023). Every
//! law is fitted to all finished trials (a forecast is of one run, not of the best run at that
//! compute), and the interval is the classical prediction interval of one new run: the fit's
//! uncertainty and the runs' scatter about the law, on the t-distribution. Chinchilla's law is
//! fitted from a 243-start subset of the published grid ([`Grid::coarse`]): a forecast is made
//! at every trial start.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::collect::collect_results;
use crate::error::Result;
use crate::fit::chinchilla::{ChinchillaOptions, Grid};
use crate::fit::frontier::Frontier;
use crate::fit::min_points;
use crate::fit::record::FitRecord;
use crate::pipeline::{
    FitSpec, Law, SelectSpec, YKind, classical_at, fit_selected, is_loss, select,
};
use crate::records::{SCHEMA_VERSION, total_gmacs};
use crate::table::{COLUMNS, TABLE_VERSION, Table, TidyRow};

/// The central level of every forecast interval.
pub const FORECAST_LEVEL: f64 = 0.9;

const NO_TRIALS: &str = "no trial of the sweep had finished: nothing to fit a law to";

/// The metrics forecast (those the sweep's analysis fits).
pub const FORECAST_METRICS: [&str; 2] = ["val_loss", "acc1"];

/// One result forecast, in the metric's own units (an accuracy, not its error).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    pub dataset: String,
    pub metric: String,
    pub law: String,
    /// The law with its numbers.
    pub formula: String,
    /// Finished trials it was fitted on.
    pub fitted_on: usize,
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
    pub level: f64,
}

/// A metric that got no forecast, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoForecast {
    pub dataset: String,
    pub metric: String,
    pub why: String,
}

/// `forecast.json`: what the laws said before the trial ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastRecord {
    pub schema_version: u32,
    pub trial_id: String,
    pub made_unix_s: f64,
    /// Trials of the sweep finished when the forecast was made.
    pub finished_trials: usize,
    pub forecasts: Vec<Forecast>,
    /// Metrics without a forecast, and why.
    #[serde(default)]
    pub missing: Vec<NoForecast>,
    /// Why nothing at all was forecast (no finished trials yet), if so.
    #[serde(default)]
    pub note: Option<String>,
}

impl ForecastRecord {
    /// The forecast of one data set and metric.
    pub fn get(&self, dataset: &str, metric: &str) -> Option<&Forecast> {
        self.forecasts
            .iter()
            .find(|f| f.dataset == dataset && f.metric == metric)
    }
}

/// The trial to forecast: its model size, samples and compute per sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub trial_id: String,
    pub params: u64,
    pub samples: u64,
    pub fwd_macs_per_pair: u64,
}

/// One metric's fitted law.
#[derive(Debug, Clone)]
struct MetricLaw {
    dataset: String,
    metric: String,
    law: Law,
    record: FitRecord,
}

/// The laws of a sweep's finished trials, ready to forecast any trial.
#[derive(Debug, Clone)]
pub struct Forecaster {
    laws: Vec<MetricLaw>,
    missing: Vec<NoForecast>,
    finished: usize,
}

impl Forecaster {
    /// Fits the laws on the finished trials under `sweep_dir` (a sweep's results folder), other
    /// than `exclude` (the trial to forecast).
    pub fn from_sweep_dir(sweep_dir: &Path, exclude: &str) -> Result<Forecaster> {
        let rows = if sweep_dir.is_dir() {
            collect_results(sweep_dir)?.rows
        } else {
            Vec::new()
        };
        Ok(Forecaster::from_rows(sweep_dir, rows, exclude))
    }

    /// Fits the laws on `rows` (tidy rows of finished trials; `path` names where they came
    /// from in messages), leaving out the rows of trial `exclude`.
    pub fn from_rows(path: &Path, rows: Vec<TidyRow>, exclude: &str) -> Forecaster {
        let rows: Vec<TidyRow> = rows.into_iter().filter(|r| r.trial_id != exclude).collect();
        let mut trials: Vec<&str> = rows.iter().map(|r| r.trial_id.as_str()).collect();
        trials.sort_unstable();
        trials.dedup();
        let finished = trials.len();
        let mut metrics: Vec<(String, String)> = rows
            .iter()
            .filter(|r| r.dataset != "train" && FORECAST_METRICS.contains(&r.metric.as_str()))
            .map(|r| (r.dataset.clone(), r.metric.clone()))
            .collect();
        metrics.sort();
        metrics.dedup();
        let table = Table {
            path: path.to_path_buf(),
            version: TABLE_VERSION,
            columns: COLUMNS.iter().map(|c| c.to_string()).collect(),
            lines: (2..rows.len() + 2).collect(),
            rows,
        };
        let mut laws = Vec::new();
        let mut missing = Vec::new();
        for (dataset, metric) in metrics {
            match fit_metric(&table, &dataset, &metric) {
                Ok((law, record)) => laws.push(MetricLaw {
                    dataset,
                    metric,
                    law,
                    record,
                }),
                Err(why) => missing.push(NoForecast {
                    dataset,
                    metric,
                    why,
                }),
            }
        }
        Forecaster {
            laws,
            missing,
            finished,
        }
    }

    /// Why no law could be fitted (no finished trial, or the first metric's reason); `None`
    /// when there is a law.
    pub fn why_none(&self) -> Option<String> {
        if !self.laws.is_empty() {
            return None;
        }
        Some(match self.missing.first() {
            _ if self.finished == 0 => NO_TRIALS.to_string(),
            Some(m) => format!("{} {}: {}", m.dataset, m.metric, m.why),
            None => "the finished trials hold no validation loss or zero-shot accuracy".into(),
        })
    }

    /// The forecast of `target` by every law.
    pub fn forecast(&self, target: &Target) -> ForecastRecord {
        let x = total_gmacs(target.fwd_macs_per_pair, target.samples);
        let (n, d) = (target.params as f64, target.samples as f64);
        let mut forecasts = Vec::new();
        let mut missing = self.missing.clone();
        for m in &self.laws {
            let Some(c) = &m.record.classical else {
                missing.push(NoForecast {
                    dataset: m.dataset.clone(),
                    metric: m.metric.clone(),
                    why: "the law has no interval (a parameter the trials do not determine)".into(),
                });
                continue;
            };
            let law = m.law;
            let f = |p: &[f64]| law.predict(p, x, n, d, f64::NAN);
            let est: Vec<f64> = m.record.parameters.iter().map(|p| p.value).collect();
            let (value, interval) = (f(&est), c.prediction(&f));
            let why = if !(value.is_finite() && value > 0.0) {
                Some(format!("the law predicts {value} here"))
            } else if interval.is_none() {
                Some("the law's interval is not finite here".to_string())
            } else {
                None
            };
            let (Some((lo, hi)), None) = (interval, why.clone()) else {
                missing.push(NoForecast {
                    dataset: m.dataset.clone(),
                    metric: m.metric.clone(),
                    why: why.unwrap_or_default(),
                });
                continue;
            };
            // Scores are fitted as errors: back to the score, the interval turned round and kept
            // in [0, 1] (a law of the error can exceed 1 where it extrapolates).
            let (value, lo, hi) = if is_loss(&m.metric) {
                (value, lo, hi)
            } else {
                let score = |e: f64| (1.0 - e).clamp(0.0, 1.0);
                (score(value), score(hi), score(lo))
            };
            forecasts.push(Forecast {
                dataset: m.dataset.clone(),
                metric: m.metric.clone(),
                law: m.record.law.clone(),
                formula: m.record.formula.clone(),
                fitted_on: m.record.points_input,
                value,
                lo,
                hi,
                level: c.level,
            });
        }
        ForecastRecord {
            schema_version: SCHEMA_VERSION,
            trial_id: target.trial_id.clone(),
            made_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            finished_trials: self.finished,
            forecasts,
            missing,
            note: (self.finished == 0).then(|| NO_TRIALS.into()),
        }
    }
}

/// The law of one metric on every finished trial: Chinchilla's L(N, D) for a loss when the
/// trials hold enough distinct (N, D) pairs, else a power law of compute; the error message
/// (why no forecast) when neither can be fitted.
fn fit_metric(
    table: &Table,
    dataset: &str,
    metric: &str,
) -> std::result::Result<(Law, FitRecord), String> {
    let mut laws = vec![Law::Power];
    if is_loss(metric) {
        let mut nd: Vec<(Option<u64>, Option<u64>)> = table
            .rows
            .iter()
            .filter(|r| r.dataset == dataset && r.metric == metric)
            .map(|r| (r.params, r.samples_seen))
            .collect();
        nd.sort_unstable();
        nd.dedup();
        if nd.len() >= min_points(5) {
            laws.insert(0, Law::Chinchilla);
        }
    }
    let mut why = String::new();
    for law in laws {
        let select_spec = SelectSpec {
            sweeps: vec![],
            train_data: None,
            model: None,
            dataset: Some(dataset.to_string()),
            metric: Some(metric.to_string()),
            x_column: "total_gmacs".into(),
            y: YKind::Auto,
            drop_highest: 0,
            need_nd: law == Law::Chinchilla,
        };
        let spec = FitSpec {
            law,
            frontier: Frontier::None,
            saturating: Default::default(),
            chinchilla: ChinchillaOptions {
                grid: Grid::coarse(),
                ..Default::default()
            },
        };
        let fitted = select(table, &select_spec).and_then(|sel| {
            let mut r = fit_selected(&sel, &spec, None, None)?;
            r.classical = classical_at(&r, FORECAST_LEVEL);
            Ok(r)
        });
        match fitted {
            Ok(r) if r.classical.is_some() => return Ok((law, r)),
            // a law without an interval (a parameter the trials do not pin): try the next
            Ok(r) => {
                why = format!(
                    "the {} law ({}) has no interval: a parameter the trials do not determine",
                    r.law, r.formula
                );
            }
            Err(e) => why = e.to_string(),
        }
    }
    Err(why)
}
