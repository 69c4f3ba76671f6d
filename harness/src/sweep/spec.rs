//! Sweep files (TOML): a name, base settings, axes (grid product), zipped axes (varied together)
//! and explicit trials; expanded into fully resolved trial specs with deterministic ids.
//!
//! ```toml
//! name = "quickstart"
//! [base]
//! batch = 64
//! lr = 2e-3
//! [axes]
//! model = ["w32-d2", "w48-d2", "w64-d3"]
//! samples = [10_000, 20_000, 40_000]      # or train_flops = [...]: iso-FLOP, samples from the budget
//! [[zip]]                                # lists of equal length, varied together
//! seed = [0, 1]
//! lr = [2e-3, 1e-3]
//! [[trial]]                              # one extra trial: base + these settings
//! model = "w96-d4"
//! samples = 40_000
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use clipscale_analysis::records::Provenance;

use crate::flops::counts;
use crate::model::ModelLadder;
use crate::model::Precision;
use crate::train::optim::AdamWSpec;
use crate::train::{Intervals, OptimSpec, TrialRequest, TrialSpec, resolve};

#[derive(Debug, Error)]
pub enum SweepError {
    #[error("cannot read sweep file {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("sweep file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Settings of one trial; every field optional (base < axes/zip < explicit trial).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub model: Option<String>,
    pub samples: Option<u64>,
    /// A training budget in FLOPs (3 x forward, 2 FLOPs per MAC); samples follow from the model.
    pub train_flops: Option<f64>,
    pub batch: Option<usize>,
    pub lr: Option<f64>,
    pub warmup_samples: Option<u64>,
    /// Warm-up as a fraction of the trial's samples (default 0.05) when warmup_samples is unset.
    pub warmup_fraction: Option<f64>,
    pub weight_decay: Option<f64>,
    pub grad_clip_norm: Option<f64>,
    /// "f32" (default) or "bf16" (bf16 matrix products with f32 master weights).
    pub precision: Option<Precision>,
    pub seed: Option<u64>,
    pub dataset: Option<String>,
    /// The prepared data set's folder (emoji) or a shard pattern (wds).
    pub data_dir: Option<String>,
    /// clip-bpe, bpe-N (trained on the training captions) or word-synthetic.
    pub tokenizer: Option<String>,
    pub eval_samples: Option<usize>,
    pub eval_batch: Option<usize>,
    pub log_every: Option<u64>,
    pub eval_every: Option<u64>,
    pub checkpoint_every: Option<u64>,
    pub keep_checkpoints: Option<usize>,
}

/// Lists of values; the grid product of those present (or, in a [[zip]], their zip).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Axes {
    pub model: Option<Vec<String>>,
    pub samples: Option<Vec<u64>>,
    pub train_flops: Option<Vec<f64>>,
    pub batch: Option<Vec<usize>>,
    pub lr: Option<Vec<f64>>,
    pub warmup_samples: Option<Vec<u64>>,
    pub weight_decay: Option<Vec<f64>>,
    pub seed: Option<Vec<u64>>,
    pub dataset: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub base: Settings,
    #[serde(default)]
    pub axes: Axes,
    #[serde(default)]
    pub zip: Vec<Axes>,
    #[serde(default)]
    pub trial: Vec<Settings>,
    #[serde(default)]
    pub slurm: Option<toml::Table>,
}

/// A sweep file read and expanded.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub path: PathBuf,
    pub file: SweepFile,
    /// Settings of every trial, in a deterministic order.
    pub trials: Vec<Settings>,
}

type Setter = Box<dyn Fn(&mut Settings)>;

/// The (key, setters) of every non-empty axis present, in a fixed key order.
fn axis_columns(
    axes: &Axes,
    path: &Path,
    what: &str,
) -> Result<Vec<(&'static str, Vec<Setter>)>, SweepError> {
    let mut cols: Vec<(&'static str, Vec<Setter>)> = Vec::new();
    macro_rules! col {
        ($key:ident) => {
            if let Some(values) = &axes.$key {
                if values.is_empty() {
                    return Err(SweepError::Invalid {
                        path: path.into(),
                        message: format!(
                            "{what}.{} is an empty list; give at least one value or remove the key",
                            stringify!($key)
                        ),
                    });
                }
                cols.push((
                    stringify!($key),
                    values
                        .iter()
                        .cloned()
                        .map(|v| {
                            Box::new(move |s: &mut Settings| s.$key = Some(v.clone())) as Setter
                        })
                        .collect(),
                ));
            }
        };
    }
    col!(model);
    col!(samples);
    col!(train_flops);
    col!(batch);
    col!(lr);
    col!(warmup_samples);
    col!(weight_decay);
    col!(seed);
    col!(dataset);
    Ok(cols)
}

impl Sweep {
    pub fn load(path: &Path) -> Result<Self, SweepError> {
        let text = std::fs::read_to_string(path).map_err(|e| SweepError::Io {
            path: path.into(),
            message: e.to_string(),
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, SweepError> {
        let invalid = |message: String| SweepError::Invalid {
            path: path.into(),
            message,
        };
        let file: SweepFile =
            toml::from_str(text).map_err(|e| invalid(e.to_string().trim().to_string()))?;
        if file.name.trim().is_empty()
            || !file
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(invalid(format!(
                "name = {:?}: use letters, digits, '-', '_' or '.' (it names the results folder)",
                file.name
            )));
        }
        // grid product of the axes
        let mut trials = vec![file.base.clone()];
        for (_, setters) in axis_columns(&file.axes, path, "axes")? {
            trials = trials
                .iter()
                .flat_map(|t| {
                    setters.iter().map(move |set| {
                        let mut t = t.clone();
                        set(&mut t);
                        t
                    })
                })
                .collect();
        }
        // each zip group varies its lists together
        for (g, group) in file.zip.iter().enumerate() {
            let cols = axis_columns(group, path, &format!("zip[{g}]"))?;
            let len = cols
                .first()
                .map(|c| c.1.len())
                .ok_or_else(|| invalid(format!("zip[{g}] has no keys")))?;
            if let Some((key, c)) = cols.iter().find(|c| c.1.len() != len) {
                return Err(invalid(format!(
                    "zip[{g}]: all lists must have the same length; {} has {len} values but {key} has {}",
                    cols[0].0,
                    c.len()
                )));
            }
            trials = trials
                .iter()
                .flat_map(|t| {
                    (0..len)
                        .map(|i| {
                            let mut t = t.clone();
                            for (_, c) in &cols {
                                c[i](&mut t);
                            }
                            t
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
        }
        if file.axes == Axes::default() && file.zip.is_empty() && !file.trial.is_empty() {
            trials.clear();
        }
        for extra in &file.trial {
            let mut t = file.base.clone();
            macro_rules! over { ($($k:ident),*) => { $( if extra.$k.is_some() { t.$k = extra.$k.clone(); } )* }; }
            over!(
                model,
                samples,
                train_flops,
                batch,
                lr,
                warmup_samples,
                warmup_fraction,
                weight_decay,
                grad_clip_norm,
                precision,
                seed,
                dataset,
                data_dir,
                tokenizer,
                eval_samples,
                eval_batch,
                log_every,
                eval_every,
                checkpoint_every,
                keep_checkpoints
            );
            trials.push(t);
        }
        Ok(Self {
            path: path.into(),
            file,
            trials,
        })
    }

    /// Resolves every trial against the ladder: all derived numbers filled in and checked.
    pub fn resolve(
        &self,
        ladder: &ModelLadder,
        provenance: &Provenance,
    ) -> Result<Vec<TrialSpec>, SweepError> {
        let mut out = Vec::with_capacity(self.trials.len());
        let mut seen = std::collections::HashMap::new();
        for (i, t) in self.trials.iter().enumerate() {
            let spec = resolve_settings(&self.file.name, t, ladder, provenance).map_err(|m| {
                SweepError::Invalid {
                    path: self.path.clone(),
                    message: format!("trial {i}: {m}"),
                }
            })?;
            if let Some(j) = seen.insert(spec.head.trial_id.clone(), i) {
                return Err(SweepError::Invalid {
                    path: self.path.clone(),
                    message: format!(
                        "trials {j} and {i} are the same trial ({}); remove the duplicate",
                        spec.head.trial_id
                    ),
                });
            }
            out.push(spec);
        }
        Ok(out)
    }
}

/// One trial's settings into a resolved spec (the same rules as `clipscale train`).
pub fn resolve_settings(
    sweep: &str,
    t: &Settings,
    ladder: &ModelLadder,
    provenance: &Provenance,
) -> Result<TrialSpec, String> {
    let name = t
        .model
        .as_deref()
        .ok_or("no model: set base.model, axes.model or trial.model")?;
    let model = ladder.get(name).map_err(|e| format!("model: {e}"))?.clone();
    let dataset = t.dataset.clone().unwrap_or_else(|| "synthetic".into());
    let data = crate::train::data::resolve_data(
        &dataset,
        t.data_dir.as_deref(),
        t.tokenizer.as_deref(),
        t.seed.unwrap_or(0),
    )?;
    let samples = match (t.samples, t.train_flops) {
        (Some(s), None) => s,
        (None, Some(f)) => {
            if !(f > 0.0 && f.is_finite()) {
                return Err(format!("train_flops = {f}: must be a positive number"));
            }
            counts(&model).samples_for_flops(f)
        }
        (Some(_), Some(_)) => {
            return Err("both samples and train_flops are set; a trial takes one of them".into());
        }
        (None, None) => return Err("neither samples nor train_flops is set".into()),
    };
    let batch = t.batch.unwrap_or(64);
    let warmup = match (t.warmup_samples, t.warmup_fraction) {
        (Some(w), _) => w,
        (None, Some(f)) if (0.0..=1.0).contains(&f) => (samples as f64 * f) as u64,
        (None, Some(f)) => return Err(format!("warmup_fraction = {f}: must be in [0, 1]")),
        (None, None) => samples / 20,
    };
    let every = |given: Option<u64>, parts: u64| {
        given.unwrap_or_else(|| (samples / parts).max(batch as u64))
    };
    let req = TrialRequest {
        sweep: sweep.to_string(),
        model,
        data,
        samples,
        batch_size: batch,
        seed: t.seed.unwrap_or(0),
        optim: OptimSpec {
            lr: t.lr.unwrap_or(1e-3),
            warmup_samples: warmup,
            adamw: AdamWSpec {
                weight_decay: t.weight_decay.unwrap_or(0.2),
                ..AdamWSpec::default()
            },
            grad_clip_norm: t.grad_clip_norm,
            precision: t.precision.unwrap_or_default(),
        },
        intervals: Intervals {
            log_every_samples: every(t.log_every, 100),
            eval_every_samples: every(t.eval_every, 4),
            checkpoint_every_samples: every(t.checkpoint_every, 10),
            keep_checkpoints: t.keep_checkpoints.unwrap_or(2),
            eval_samples: t.eval_samples.unwrap_or(1024),
            eval_batch_size: t.eval_batch.unwrap_or(256),
        },
    };
    resolve(req, provenance.clone()).map_err(|e| e.to_string())
}
