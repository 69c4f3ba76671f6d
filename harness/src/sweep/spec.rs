//! Sweep files (TOML): a name, base settings, axes (grid product), zipped axes (varied together)
//! and explicit trials; expanded into fully resolved trial specs with deterministic ids. The
//! settings' keys are [`TrialSettings`]' (the flags of `clipscale train`, `_` for `-`), resolved
//! by its one resolver.
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
//!
//! `branch = true` (beside `name`) trains the constant-cooldown trials of each model as
//! cooldowns branched from one trunk ([`super::branch`]); `resolve` then lists the trunks first.
//!
//! Axes: model, samples, train_flops, batch, lr, warmup_samples, weight_decay, seed, dataset,
//! data_dir, curation (`curation = ["none", "align", "align+noise:fraction=0.2"]` over a
//! pool: `dataset = "pool"` in `[base]`), objective (`["clip", "siglip"]`), init_logit_scale,
//! init_logit_bias, schedule (`["cosine", "constant-cooldown"]`), cooldown_fraction and
//! cooldown_shape (`linear`, `1-sqrt`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use clipscale_analysis::records::Provenance;

use crate::model::{ModelLadder, Objective};
use crate::train::schedule::{CooldownShape, ScheduleKind};
use crate::train::{TrialSettings, TrialSpec};

#[derive(Debug, Error)]
pub enum SweepError {
    #[error("cannot read sweep file {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("sweep file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
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
    pub data_dir: Option<Vec<String>>,
    /// Curations of a pool (`none`, `align`, `noise:fraction=0.2`...).
    pub curation: Option<Vec<String>>,
    /// Training objectives (`clip`, `siglip`).
    pub objective: Option<Vec<Objective>>,
    pub init_logit_scale: Option<Vec<f64>>,
    pub init_logit_bias: Option<Vec<f64>>,
    /// Learning-rate schedules (`cosine`, `constant-cooldown`) and the cooldown's settings.
    pub schedule: Option<Vec<ScheduleKind>>,
    pub cooldown_fraction: Option<Vec<f64>>,
    pub cooldown_shape: Option<Vec<CooldownShape>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub base: TrialSettings,
    #[serde(default)]
    pub axes: Axes,
    #[serde(default)]
    pub zip: Vec<Axes>,
    #[serde(default)]
    pub trial: Vec<TrialSettings>,
    /// Train each group of constant-cooldown trials that differ only in length as cooldowns
    /// branched from one constant-rate trunk (see [`super::branch`]).
    #[serde(default)]
    pub branch: bool,
    #[serde(default)]
    pub slurm: Option<toml::Table>,
}

/// A sweep file read and expanded.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub path: PathBuf,
    pub file: SweepFile,
    /// Settings of every trial, in a deterministic order.
    pub trials: Vec<TrialSettings>,
}

type Setter = Box<dyn Fn(&mut TrialSettings)>;

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
                            Box::new(move |s: &mut TrialSettings| s.$key = Some(v.clone()))
                                as Setter
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
    col!(data_dir);
    col!(curation);
    col!(objective);
    col!(init_logit_scale);
    col!(init_logit_bias);
    col!(schedule);
    col!(cooldown_fraction);
    col!(cooldown_shape);
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
        trials.extend(file.trial.iter().map(|extra| file.base.overlay(extra)));
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
            let spec = t
                .resolve(&self.file.name, ladder, provenance)
                .map_err(|e| SweepError::Invalid {
                    path: self.path.clone(),
                    message: format!("trial {i}: {e}"),
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
        if self.file.branch {
            out = super::branch::branch(out).map_err(|message| SweepError::Invalid {
                path: self.path.clone(),
                message,
            })?;
        }
        Ok(out)
    }
}
