//! Checkpoints: model, optimiser state and loop state, written to a temporary folder and
//! renamed into place (a killed run never leaves a half-written checkpoint that resume trusts),
//! with a retention policy that keeps the last few (the newest is the final one at the end).
//! Where they go is the trial folder's business ([`TrialDir::checkpoint`]).
//!
//! The data stream and the learning-rate schedule are functions of samples seen, and weights are
//! initialised from the seed on the host, so `samples_seen` and the data position are the whole
//! random state. burn's records are not stable across burn versions: the lasting record of a run
//! is its JSON, not its checkpoints.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use clipscale_analysis::records::CheckpointState;
use clipscale_analysis::trial::{CheckpointDir, TrialDir};
use thiserror::Error;

use crate::model::Clip;
use crate::train::optim::ClipOptimizer;
use crate::train::trainer::{StepSettings, Trainer};

#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("checkpoint {path}: {message}")]
    Io { path: PathBuf, message: String },
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::<FullPrecisionSettings>::new()
}

/// Writes a checkpoint for `state.step` and prunes all but the newest `keep` and those of the
/// `pinned` steps (a trunk's branch points).
pub fn save<B: AutodiffBackend>(
    trial: &TrialDir,
    trainer: &Trainer<B>,
    state: &CheckpointState,
    keep: usize,
    pinned: &[u64],
) -> Result<CheckpointDir, CheckpointError> {
    let tmp = trial.checkpoint_tmp(state.step);
    if tmp.path().exists() {
        std::fs::remove_dir_all(tmp.path()).map_err(|e| io_err(tmp.path(), e))?;
    }
    std::fs::create_dir_all(tmp.path()).map_err(|e| io_err(tmp.path(), e))?;
    trainer
        .model()
        .clone()
        .save_file(tmp.model_stem(), &recorder())
        .map_err(|e| io_err(tmp.path(), e))?;
    Recorder::<B>::record(
        &recorder(),
        trainer.optimizer().to_record(),
        tmp.optim_stem(),
    )
    .map_err(|e| io_err(tmp.path(), e))?;
    tmp.write_state(state)
        .map_err(|e| io_err(&tmp.state_path(), e))?;
    for entry in std::fs::read_dir(tmp.path()).map_err(|e| io_err(tmp.path(), e))? {
        let path = entry.map_err(|e| io_err(tmp.path(), e))?.path();
        let file = std::fs::File::open(&path).map_err(|e| io_err(&path, e))?;
        file.sync_all().map_err(|e| io_err(&path, e))?;
    }
    let done = trial.checkpoint(state.step);
    if done.path().exists() {
        std::fs::remove_dir_all(done.path()).map_err(|e| io_err(done.path(), e))?;
    }
    std::fs::rename(tmp.path(), done.path()).map_err(|e| io_err(done.path(), e))?;
    if let Ok(d) = std::fs::File::open(trial.checkpoints_path()) {
        let _ = d.sync_all();
    }
    prune(trial, keep, pinned)?;
    Ok(done)
}

fn prune(trial: &TrialDir, keep: usize, pinned: &[u64]) -> Result<(), CheckpointError> {
    let all: Vec<_> = trial
        .checkpoints()
        .into_iter()
        .filter(|(step, _)| !pinned.contains(step))
        .collect();
    let drop_n = all.len().saturating_sub(keep.max(1));
    for (_, dir) in all.into_iter().take(drop_n) {
        std::fs::remove_dir_all(dir.path()).map_err(|e| io_err(dir.path(), e))?;
    }
    Ok(())
}

/// The model of checkpoint `dir`, loaded into `model` (freshly initialised with the trial's
/// config).
pub fn load_model<B: AutodiffBackend>(
    dir: &CheckpointDir,
    model: Clip<B>,
    device: &B::Device,
) -> Result<Clip<B>, CheckpointError> {
    model
        .load_file(dir.model_stem(), &recorder(), device)
        .map_err(|e| io_err(dir.path(), e))
}

/// The newest complete checkpoint of `trial`: its loop state, and a trainer with the model and
/// optimiser it saved (loaded into the freshly initialised `model`).
pub fn restore_latest<B: AutodiffBackend>(
    trial: &TrialDir,
    model: Clip<B>,
    settings: StepSettings,
    device: &B::Device,
) -> Result<Option<(CheckpointState, Trainer<B>)>, CheckpointError> {
    let Some(dir) = trial.latest_checkpoint() else {
        return Ok(None);
    };
    let state = dir.read_state().map_err(|e| io_err(&dir.state_path(), e))?;
    let model = load_model(&dir, model, device)?;
    let record = Recorder::<B>::load(&recorder(), dir.optim_stem(), device)
        .map_err(|e| io_err(dir.path(), e))?;
    let optim: ClipOptimizer<B> =
        crate::train::optim::optimizer::<B>(settings.adamw).load_record(record);
    Ok(Some((state, Trainer::resume(model, optim, settings))))
}
