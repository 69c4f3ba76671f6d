//! Where each trial stands on disk, the plan and status tables, and the time estimate: from the
//! throughput of earlier trials of the same model and batch, or a short calibration of the
//! training step ([`Trainer::step`], the step training runs) on this device.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use clipscale_analysis::records::{FinalRecord, TrialStatus};
use clipscale_analysis::trial::TrialDir;

use crate::backend::{BackendInfo, BackendTask, DeviceSpec, dispatch};
use crate::batch::HostBatch;
use crate::bench::median;
use crate::flops::counts;
use crate::model::{ClipConfig, ConfigError, Precision};
use crate::train::{StepSettings, Trainer, TrialSpec};

use super::lock::{LockInfo, holder};

/// Where a trial stands.
#[derive(Debug, Clone, PartialEq)]
pub enum TrialState {
    Pending,
    /// Started before and stopped; resumes from a checkpoint at this many samples (0: none).
    Interrupted {
        samples_seen: u64,
    },
    /// Held by a live executor (here or on another host).
    Running(LockInfo),
    Done(FinalRecord),
    Failed(FinalRecord),
    Diverged(FinalRecord),
    /// The final record exists but cannot be read.
    Unreadable(String),
}

impl TrialState {
    pub fn label(&self) -> &'static str {
        match self {
            TrialState::Pending => "pending",
            TrialState::Interrupted { .. } => "interrupted",
            TrialState::Running(_) => "running",
            TrialState::Done(_) => "done",
            TrialState::Failed(_) => "failed",
            TrialState::Diverged(_) => "diverged",
            TrialState::Unreadable(_) => "unreadable",
        }
    }

    /// Whether a (re)run would train: pending, interrupted or failed trials.
    pub fn runnable(&self) -> bool {
        matches!(
            self,
            TrialState::Pending | TrialState::Interrupted { .. } | TrialState::Failed(_)
        )
    }
}

/// The state of the trial in `trial`: running while a live executor holds its lock, else what
/// its records say.
pub fn state(trial: &TrialDir) -> TrialState {
    match holder(trial) {
        Some(owner) => TrialState::Running(owner),
        None => recorded_state(trial),
    }
}

/// What the trial's records say, whoever holds its lock (the holder itself asks this).
pub fn recorded_state(trial: &TrialDir) -> TrialState {
    match trial.read_final() {
        Ok(Some(f)) => {
            return match f.status {
                TrialStatus::Done => TrialState::Done(f),
                TrialStatus::Failed => TrialState::Failed(f),
                TrialStatus::Diverged => TrialState::Diverged(f),
            };
        }
        Ok(None) => {}
        Err(e) => return TrialState::Unreadable(e.to_string()),
    }
    if !trial.path().exists() {
        return TrialState::Pending;
    }
    let samples_seen = trial
        .latest_checkpoint_state()
        .map_or(0, |s| s.samples_seen);
    TrialState::Interrupted { samples_seen }
}

/// Median samples/s of earlier trials under `results`, by (model, batch).
pub fn measured_throughput(results: &Path) -> HashMap<(String, usize), f64> {
    let mut by: HashMap<(String, usize), Vec<f64>> = HashMap::new();
    let sweeps = std::fs::read_dir(results).into_iter().flatten().flatten();
    for sweep in sweeps {
        for entry in std::fs::read_dir(sweep.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let trial = TrialDir::new(entry.path());
            let (Ok(head), Ok(m)) = (trial.read_spec_head(), trial.read_metrics()) else {
                continue;
            };
            let v: Vec<f64> = m
                .records
                .iter()
                .map(|(_, r)| r.samples_per_s)
                .filter(|x| x.is_finite() && *x > 0.0)
                .collect();
            if v.len() >= 3 {
                by.entry((head.model_summary.name.clone(), head.batch_size))
                    .or_default()
                    .push(median(v));
            }
        }
    }
    by.into_iter().map(|(k, v)| (k, median(v))).collect()
}

/// Samples/s of the training step on random data of the right shapes.
pub struct Calibrate {
    pub model: ClipConfig,
    pub batch: usize,
    pub precision: Precision,
    pub steps: usize,
}

impl BackendTask for Calibrate {
    type Output = Result<f64, EstimateError>;
    fn run<B: AutodiffBackend>(self, device: B::Device, info: BackendInfo) -> Self::Output {
        self.precision.check_supported::<B>(&device, &info)?;
        let settings = StepSettings {
            precision: self.precision,
            ..StepSettings::default()
        };
        let model = self
            .model
            .init::<B>(0, &device)
            .map_err(|source| EstimateError::Model {
                model: self.model.name.clone(),
                source,
            })?;
        let mut trainer = Trainer::new(model, settings);
        let host = HostBatch::random(&self.model, self.batch, 0);
        let mut times = Vec::new();
        for i in 0..=self.steps {
            let t = Instant::now();
            // random data does not diverge in a few steps at this rate; a NaN would only make
            // this one timing meaningless
            let _ = trainer.step(host.to_device::<B>(&device), 1e-4);
            let _ = trainer.logit_scale(); // wait for the device
            if i > 0 {
                times.push(t.elapsed().as_secs_f64());
            }
        }
        Ok(self.batch as f64 / median(times))
    }
}

pub fn format_duration(s: f64) -> String {
    if !s.is_finite() {
        return "?".into();
    }
    let s = s.round() as u64;
    match s {
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// A number for a table, or `-` when there is none.
pub fn cell(value: Option<f64>, decimals: usize) -> String {
    value
        .filter(|v| v.is_finite())
        .map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

/// Why a time estimate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    #[error(transparent)]
    Device(#[from] crate::backend::DeviceError),
    #[error("timing a step of {model}: {source}")]
    Model { model: String, source: ConfigError },
    #[error(transparent)]
    Precision(#[from] crate::model::PrecisionError),
}

/// How long each pending trial should take on `device`, and where the figure comes from.
pub struct Estimator {
    device: DeviceSpec,
    calibrate: bool,
    measured: HashMap<(String, usize), f64>,
    timed: HashMap<(String, usize), f64>,
}

impl Estimator {
    /// Estimates from the trials already under `results`, timing a few steps where there are
    /// none (unless `calibrate` is off).
    pub fn new(results: &Path, device: DeviceSpec, calibrate: bool) -> Self {
        Self {
            device,
            calibrate,
            measured: measured_throughput(results),
            timed: HashMap::new(),
        }
    }

    /// Samples per second for `spec`, and the source: `measured`, `timed`, `too big` or `-`.
    pub fn throughput(&mut self, spec: &TrialSpec) -> Result<(f64, &'static str), EstimateError> {
        let key = (spec.model.name.clone(), spec.head.batch_size);
        if let Some(v) = self.measured.get(&key) {
            return Ok((*v, "measured"));
        }
        if !self.calibrate {
            return Ok((f64::NAN, "-"));
        }
        let step_flops = counts(&spec.model).train_flops_per_sample() * spec.head.batch_size as f64;
        // a step this large would take minutes to time on a CPU: no estimate rather than a wait
        if self.device == DeviceSpec::Cpu && step_flops > 2e12 {
            return Ok((f64::NAN, "too big"));
        }
        if let Some(v) = self.timed.get(&key) {
            return Ok((*v, "timed"));
        }
        let task = Calibrate {
            model: spec.model.clone(),
            batch: spec.head.batch_size,
            precision: spec.optim.precision,
            steps: 2,
        };
        let v = dispatch(self.device, task)??;
        self.timed.insert(key, v);
        Ok((v, "timed"))
    }
}

/// The column the analysis will compare this sweep's trials by, and its groups (see
/// `clipscale_analysis::sweep::comparison_column`): read from the specs as `collect` will read
/// them from spec.json. `None` when the trials are all one variant.
pub fn comparison_groups(specs: &[TrialSpec]) -> Option<(&'static str, Vec<String>)> {
    use clipscale_analysis::collect::{flatten_settings, variant_of, varied_texts};
    let settings: Vec<_> = specs
        .iter()
        .map(|s| {
            serde_json::to_value(s)
                .map(|v| flatten_settings(&v))
                .unwrap_or_default()
        })
        .collect();
    let varied = varied_texts(&settings.iter().collect::<Vec<_>>());
    let rows: Vec<clipscale_analysis::table::TidyRow> = specs
        .iter()
        .zip(&settings)
        .zip(varied)
        .map(|((spec, s), varied)| {
            let v = variant_of(s);
            clipscale_analysis::table::TidyRow {
                train_data: spec.head.dataset.clone(),
                objective: v.objective,
                curation: v.curation,
                family: v.family,
                schedule: v.schedule,
                varied,
                ..Default::default()
            }
        })
        .collect();
    clipscale_analysis::sweep::comparison_column(&rows.iter().collect::<Vec<_>>())
}

/// The plan's line on the comparison the analysis ends with, if the trials form groups.
pub fn comparison_line(specs: &[TrialSpec]) -> Option<String> {
    comparison_groups(specs).map(|(by, groups)| {
        format!(
            "the analysis will end with a comparison of the {} groups by {by} ({}), as planned \
             (the trials that finish make the groups): a law per group, where the laws cross and \
             how sure that is",
            groups.len(),
            groups.join(", ")
        )
    })
}

/// The line on a branched sweep's compute against independent runs' (`None` when nothing
/// branches).
pub fn compute_line(specs: &[TrialSpec]) -> Option<String> {
    let account = clipscale_analysis::branching::ComputeAccount::of(specs.iter().map(|s| &s.head));
    (account.branches > 0).then(|| account.line())
}

/// The sweep's trials, without its trunks (which are no points of its laws).
pub fn trials_only(specs: &[TrialSpec]) -> Vec<TrialSpec> {
    specs
        .iter()
        .filter(|s| !s.head.is_trunk())
        .cloned()
        .collect()
}

/// Prints the plan: each trial's size, cost (a branch's: its cooldown's), estimated time and
/// state; returns the total estimated seconds.
pub fn print_plan(
    specs: &[TrialSpec],
    results: &Path,
    estimator: &mut Estimator,
) -> Result<f64, EstimateError> {
    println!(
        "{:<38} {:<8} {:>10} {:>9} {:>10} {:>9} {:>9}  status",
        "trial", "model", "params", "samples", "train FLOPs", "est.", "source"
    );
    let mut total_s = 0.0;
    for spec in specs {
        let st = state(&spec.dir(results));
        let (per_s, source) = estimator.throughput(spec)?;
        let remaining = match &st {
            TrialState::Done(_) | TrialState::Diverged(_) => 0,
            TrialState::Interrupted { samples_seen } if *samples_seen > 0 => {
                spec.head.samples - samples_seen
            }
            // a branch trains only its cooldown
            _ => spec.head.own_samples(),
        };
        let est = remaining as f64 / per_s;
        if est.is_finite() {
            total_s += est;
        }
        let c = &spec.head.model_summary;
        println!(
            "{:<38} {:<8} {:>10} {:>9} {:>10.3e} {:>9} {:>9}  {}",
            spec.head.trial_id,
            spec.model.name,
            c.params,
            spec.head.samples,
            c.train_flops_per_sample() * spec.head.own_samples() as f64,
            format_duration(est),
            source,
            st.label()
        );
    }
    Ok(total_s)
}

/// Prints what the laws of the sweep's finished trials forecast for each trial not yet done
/// (as a trial's own forecast is made when it starts); says why when there is no law yet.
pub fn print_forecasts(specs: &[TrialSpec], results: &Path, sweep: &str) {
    use clipscale_analysis::forecast::{Forecaster, Target};
    let pending: Vec<&TrialSpec> = specs
        .iter()
        .filter(|s| {
            !matches!(
                state(&s.dir(results)),
                TrialState::Done(_) | TrialState::Diverged(_)
            )
        })
        .collect();
    if pending.is_empty() {
        return;
    }
    let forecaster = match Forecaster::from_sweep_dir(&results.join(sweep), "") {
        Ok(f) => f,
        Err(e) => {
            println!("no forecasts: {e}");
            return;
        }
    };
    if let Some(why) = forecaster.why_none() {
        println!("no forecasts for the pending trials yet: {why}");
        return;
    }
    println!("forecasts for the pending trials (laws of the finished ones, 90% intervals):");
    for spec in pending {
        let rec = forecaster.forecast(&Target {
            trial_id: spec.head.trial_id.clone(),
            params: spec.head.model_summary.params,
            samples: spec.head.samples,
            fwd_macs_per_pair: spec.head.model_summary.fwd_macs_per_pair,
        });
        let cells: Vec<String> = rec
            .forecasts
            .iter()
            .map(|f| {
                format!(
                    "{} {} {:.4} [{:.4}, {:.4}]",
                    f.dataset, f.metric, f.value, f.lo, f.hi
                )
            })
            .collect();
        println!("  {:<38} {}", spec.head.trial_id, cells.join("; "));
    }
}

/// Prints where each trial stands: samples seen, the training loss and zero-shot accuracy so
/// far (`-` where there is none yet), and its log.
pub fn print_status(specs: &[TrialSpec], results: &Path) {
    println!(
        "{:<38} {:<12} {:>9} {:>9} {:>8}  log",
        "trial", "status", "samples", "loss", "acc1"
    );
    for spec in specs {
        let dir = spec.dir(results);
        let st = state(&dir);
        let (seen, loss) = progress(&st, &dir);
        println!(
            "{:<38} {:<12} {:>9} {:>9} {:>8}  {}",
            spec.head.trial_id,
            st.label(),
            seen.map_or_else(|| "-".into(), |s| s.to_string()),
            cell(loss, 4),
            cell(dir.last_eval("acc1"), 3),
            dir.log_path().display()
        );
    }
}

/// Samples seen and the latest training loss of a trial in `st`, as far as its records tell.
pub fn progress(st: &TrialState, dir: &TrialDir) -> (Option<u64>, Option<f64>) {
    match st {
        TrialState::Done(f) | TrialState::Failed(f) | TrialState::Diverged(f) => {
            (Some(f.samples_seen), f.final_loss)
        }
        TrialState::Running(_) | TrialState::Interrupted { .. } => {
            let last = dir.last_metrics();
            (last.as_ref().map(|m| m.samples_seen), last.map(|m| m.loss))
        }
        TrialState::Pending | TrialState::Unreadable(_) => (None, None),
    }
}
