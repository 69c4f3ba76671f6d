//! Running one trial of a sweep, idempotently: take the trial's lock, skip it if done, resume it
//! from its newest checkpoint if interrupted or failed, train it otherwise. The local executor
//! and Slurm array tasks both run trials through this.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use thiserror::Error;

use clipscale_analysis::records::{FINAL_FILE, FinalRecord, SPEC_FILE};

use crate::backend::{DeviceError, DeviceSpec, dispatch};
use crate::train::{TrainError, TrainTask, TrialSpec};

use super::lock::{LockInfo, TrialLock};
use super::plan::{TrialState, state, trial_dir};

/// Exit codes of `clipscale sweep run-one`, read by the executors.
pub const EXIT_DONE: i32 = 0;
pub const EXIT_DIVERGED: i32 = 3;
pub const EXIT_LOCKED: i32 = 4;
/// Stopped by a signal (pre-emption, time limit, Ctrl-C) after writing a checkpoint: run it again.
pub const EXIT_PREEMPTED: i32 = 75;

#[derive(Debug, Error)]
pub enum RunOneError {
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(
        "{dir}: spec.json belongs to trial {found}, not {expected}; refusing to mix two trials in one folder"
    )]
    Mismatch {
        dir: String,
        found: String,
        expected: String,
    },
}

#[derive(Debug)]
pub enum RunOneOutcome {
    /// Trained (or resumed) to the end, or stopped as diverged/failed; final.json written.
    Finished(FinalRecord),
    AlreadyDone(FinalRecord),
    /// Diverged before: deterministic, so not run again.
    AlreadyDiverged(FinalRecord),
    Locked(LockInfo),
}

/// Keeps a lock's heartbeat fresh from a thread until dropped (which releases the lock).
struct Heartbeat {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    fn start(mut lock: TrialLock) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut ticks = 0u32;
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                ticks += 1;
                if ticks.is_multiple_of(150) {
                    lock.heartbeat();
                }
            }
            drop(lock);
        });
        Self {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

pub fn run_one(
    spec: TrialSpec,
    results: &Path,
    device: DeviceSpec,
    progress: bool,
) -> Result<RunOneOutcome, RunOneError> {
    let dir = trial_dir(results, &spec);
    let lock = match TrialLock::acquire(&dir)
        .map_err(|e| RunOneError::Io(format!("{}: {e}", dir.display())))?
    {
        Ok(l) => l,
        Err(owner) => return Ok(RunOneOutcome::Locked(owner)),
    };
    let _heartbeat = Heartbeat::start(lock);
    match state(&dir) {
        TrialState::Done(f) => return Ok(RunOneOutcome::AlreadyDone(f)),
        TrialState::Diverged(f) => return Ok(RunOneOutcome::AlreadyDiverged(f)),
        TrialState::Failed(_) => {
            // a failed attempt resumes from its newest checkpoint
            std::fs::remove_file(dir.join(FINAL_FILE))
                .map_err(|e| RunOneError::Io(format!("{}: {e}", dir.display())))?;
        }
        _ => {}
    }
    if let Ok(text) = std::fs::read_to_string(dir.join(SPEC_FILE)) {
        let found = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["trial_id"].as_str().map(String::from))
            .unwrap_or_default();
        if found != spec.head.trial_id {
            return Err(RunOneError::Mismatch {
                dir: dir.display().to_string(),
                found,
                expected: spec.head.trial_id.clone(),
            });
        }
    }
    let task = TrainTask {
        spec,
        trial_dir: dir,
        resume: true,
        progress,
    };
    let fin = dispatch(device, task)??;
    Ok(RunOneOutcome::Finished(fin))
}
