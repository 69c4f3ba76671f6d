//! Checkpoints: model, optimiser state and loop position, written to a temporary folder and
//! renamed into place (a killed run never leaves a half-written checkpoint that resume trusts),
//! with a retention policy that keeps the last few (the newest is the final one at the end).
//!
//! The data stream and the learning-rate schedule are functions of samples seen, and weights are
//! initialised from the seed on the host, so `samples_seen` is the whole random state. burn's
//! records are not stable across burn versions: the lasting record of a run is its JSON, not
//! its checkpoints.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::Clip;
use crate::train::optim::ClipOptimizer;

pub const CHECKPOINT_DIR: &str = "checkpoints";
const STATE_FILE: &str = "state.json";

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

/// Where the loop stood when the checkpoint was taken.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoopState {
    pub schema_version: u32,
    pub step: u64,
    pub samples_seen: u64,
    /// Training wall time before this checkpoint, so a resumed run reports the total.
    pub wall_s: f64,
    /// Where the data stream stood (a sample index, or a shard stream's epoch and offset).
    #[serde(default)]
    pub data_position: serde_json::Value,
}

fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::<FullPrecisionSettings>::new()
}

fn step_dir(trial: &Path, step: u64) -> PathBuf {
    trial.join(CHECKPOINT_DIR).join(format!("step-{step:09}"))
}

/// Writes a checkpoint for `state.step` and prunes all but the newest `keep`.
pub fn save<B: AutodiffBackend>(
    trial: &Path,
    model: &Clip<B>,
    optim: &ClipOptimizer<B>,
    state: &LoopState,
    keep: usize,
) -> Result<PathBuf, CheckpointError> {
    let root = trial.join(CHECKPOINT_DIR);
    std::fs::create_dir_all(&root).map_err(|e| io_err(&root, e))?;
    let final_dir = step_dir(trial, state.step);
    let tmp = root.join(format!(".tmp-step-{:09}", state.step));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
    model
        .clone()
        .save_file(tmp.join("model"), &recorder())
        .map_err(|e| io_err(&tmp, e))?;
    Recorder::<B>::record(&recorder(), optim.to_record(), tmp.join("optim"))
        .map_err(|e| io_err(&tmp, e))?;
    let state_path = tmp.join(STATE_FILE);
    std::fs::write(
        &state_path,
        serde_json::to_vec_pretty(state).expect("plain struct"),
    )
    .map_err(|e| io_err(&state_path, e))?;
    for f in ["model.mpk", "optim.mpk", STATE_FILE] {
        if let Ok(file) = std::fs::File::open(tmp.join(f)) {
            file.sync_all().map_err(|e| io_err(&tmp.join(f), e))?;
        }
    }
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(|e| io_err(&final_dir, e))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(|e| io_err(&final_dir, e))?;
    if let Ok(d) = std::fs::File::open(&root) {
        let _ = d.sync_all();
    }
    prune(trial, keep)?;
    Ok(final_dir)
}

/// Complete checkpoints (those with a state file), oldest first.
pub fn list(trial: &Path) -> Vec<(u64, PathBuf)> {
    let root = trial.join(CHECKPOINT_DIR);
    let mut out: Vec<(u64, PathBuf)> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let step = name.strip_prefix("step-")?.parse::<u64>().ok()?;
            e.path()
                .join(STATE_FILE)
                .is_file()
                .then(|| (step, e.path()))
        })
        .collect();
    out.sort();
    out
}

fn prune(trial: &Path, keep: usize) -> Result<(), CheckpointError> {
    let all = list(trial);
    let drop_n = all.len().saturating_sub(keep.max(1));
    for (_, path) in all.into_iter().take(drop_n) {
        std::fs::remove_dir_all(&path).map_err(|e| io_err(&path, e))?;
    }
    Ok(())
}

/// What a checkpoint restores: the loop's state, the model and the optimiser.
pub type Restored<B> = (LoopState, Clip<B>, ClipOptimizer<B>);

/// The newest complete checkpoint: its state, and the model and optimiser restored into the
/// freshly initialised ones given.
pub fn load_latest<B: AutodiffBackend>(
    trial: &Path,
    model: Clip<B>,
    optim: ClipOptimizer<B>,
    device: &B::Device,
) -> Result<Option<Restored<B>>, CheckpointError> {
    let Some((_, dir)) = list(trial).pop() else {
        return Ok(None);
    };
    let state_path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&state_path).map_err(|e| io_err(&state_path, e))?;
    let state: LoopState = serde_json::from_str(&text).map_err(|e| io_err(&state_path, e))?;
    let model = model
        .load_file(dir.join("model"), &recorder(), device)
        .map_err(|e| io_err(&dir, e))?;
    let record =
        Recorder::<B>::load(&recorder(), dir.join("optim"), device).map_err(|e| io_err(&dir, e))?;
    let optim = optim.load_record(record);
    Ok(Some((state, model, optim)))
}
