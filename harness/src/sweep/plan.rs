//! The state of each trial on disk, the plan table, and the time estimate: from the throughput
//! of earlier trials of the same model and batch, or a short calibration of the training step on
//! this device.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;

use clipscale_analysis::records::{
    FINAL_FILE, FinalRecord, METRICS_FILE, MetricsRecord, TrialStatus, read_jsonl,
};

use crate::backend::{BackendInfo, BackendTask};
use crate::batch::HostBatch;
use crate::model::ClipConfig;
use crate::train::TrialSpec;
use crate::train::checkpoint;
use crate::train::optim::{AdamWSpec, optimizer};

use super::lock::{LockInfo, holder};

/// Where a trial stands.
#[derive(Debug, Clone, PartialEq)]
pub enum TrialState {
    Pending,
    /// Started before and stopped; resumes from a checkpoint at this many samples (0: none).
    Interrupted {
        samples_seen: u64,
    },
    Running(LockInfo),
    Done(FinalRecord),
    Failed(FinalRecord),
    Diverged(FinalRecord),
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
        }
    }
}

pub fn trial_dir(results: &Path, spec: &TrialSpec) -> PathBuf {
    results.join(&spec.head.sweep).join(&spec.head.trial_id)
}

pub fn state(dir: &Path) -> TrialState {
    if let Some(owner) = holder(dir) {
        return TrialState::Running(owner);
    }
    if let Some(f) = std::fs::read_to_string(dir.join(FINAL_FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<FinalRecord>(&t).ok())
    {
        return match f.status {
            TrialStatus::Done => TrialState::Done(f),
            TrialStatus::Failed => TrialState::Failed(f),
            TrialStatus::Diverged => TrialState::Diverged(f),
        };
    }
    if !dir.exists() {
        return TrialState::Pending;
    }
    let samples_seen = checkpoint::list(dir)
        .last()
        .and_then(|(_, p)| std::fs::read_to_string(p.join("state.json")).ok())
        .and_then(|t| serde_json::from_str::<checkpoint::LoopState>(&t).ok())
        .map_or(0, |s| s.samples_seen);
    TrialState::Interrupted { samples_seen }
}

/// Median samples/s of earlier trials under `results`, by (model, batch).
pub fn measured_throughput(results: &Path) -> HashMap<(String, usize), f64> {
    let mut by: HashMap<(String, usize), Vec<f64>> = HashMap::new();
    let sweeps = std::fs::read_dir(results).into_iter().flatten().flatten();
    for sweep in sweeps {
        for trial in std::fs::read_dir(sweep.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let Some(spec) = std::fs::read_to_string(trial.path().join("spec.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<TrialSpec>(&t).ok())
            else {
                continue;
            };
            let Ok(m) = read_jsonl::<MetricsRecord>(&trial.path().join(METRICS_FILE)) else {
                continue;
            };
            let mut v: Vec<f64> = m
                .records
                .iter()
                .map(|(_, r)| r.samples_per_s)
                .filter(|x| x.is_finite() && *x > 0.0)
                .collect();
            if v.len() >= 3 {
                v.sort_by(f64::total_cmp);
                by.entry((spec.model.name.clone(), spec.head.batch_size))
                    .or_default()
                    .push(v[v.len() / 2]);
            }
        }
    }
    by.into_iter()
        .map(|(k, mut v)| {
            v.sort_by(f64::total_cmp);
            (k, v[v.len() / 2])
        })
        .collect()
}

/// Samples/s of full training steps (forward, backward, AdamW) on random data.
pub struct Calibrate {
    pub model: ClipConfig,
    pub batch: usize,
    pub steps: usize,
}

impl BackendTask for Calibrate {
    type Output = Result<f64, String>;
    fn run<B: AutodiffBackend>(self, device: B::Device, _info: BackendInfo) -> Self::Output {
        let mut model = self
            .model
            .init::<B>(0, &device)
            .map_err(|e| e.to_string())?;
        let mut optim = optimizer::<B>(AdamWSpec::default());
        let host = HostBatch::random(&self.model, self.batch, 0);
        let mut times = Vec::new();
        for i in 0..self.steps + 1 {
            let t = Instant::now();
            let loss = model.loss(host.to_device::<B>(&device));
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-4, model, grads);
            let _ = crate::backend::to_vec(model.logit_scale.val().inner()); // wait for the device
            if i > 0 {
                times.push(t.elapsed().as_secs_f64());
            }
        }
        times.sort_by(f64::total_cmp);
        Ok(self.batch as f64 / times[times.len() / 2])
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
