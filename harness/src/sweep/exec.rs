//! Running one trial, idempotently, from its folder: [`prepare`] writes the trial's spec into
//! its folder (the executor's job, before anything runs), and [`run_one`] takes the trial's
//! lock, skips it if done, resumes it from its newest checkpoint if interrupted or failed, and
//! trains it otherwise. `clipscale train`, the local executor's child processes and Slurm array
//! tasks all run trials through these two.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clipscale_analysis::records::{FinalRecord, TrialStatus};
use clipscale_analysis::trial::TrialDir;
use thiserror::Error;

use crate::backend::{DeviceError, DeviceSpec, dispatch};
use crate::train::{TrainError, TrainTask, TrialSpec};

use super::lock::{LockInfo, TrialLock};
use super::plan::{TrialState, recorded_state};

/// Exit codes of `clipscale sweep run-one` (and `train`), read by the executors.
pub const EXIT_DONE: i32 = 0;
/// Any error: the trial failed, or could not be started.
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_DIVERGED: i32 = 3;
pub const EXIT_LOCKED: i32 = 4;
/// Stopped by a signal (pre-emption, time limit, Ctrl-C) after writing a checkpoint: run it again.
pub const EXIT_PREEMPTED: i32 = 75;

#[derive(Debug, Error)]
pub enum RunOneError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error(transparent)]
    Records(#[from] clipscale_analysis::AnalysisError),
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
    #[error(
        "{dir}: the final record cannot be read ({message}); move it aside to run the trial again"
    )]
    Unreadable { dir: String, message: String },
    #[error(
        "{0} is not a trial folder (no spec.json): give a folder under <results>/<sweep>/ that an executor or `clipscale train` prepared"
    )]
    NotATrial(String),
}

/// What running a trial came to.
#[derive(Debug)]
pub enum RunOneOutcome {
    /// Trained (or resumed) to the end, or stopped as diverged or failed; final.json written.
    Finished(FinalRecord),
    AlreadyDone(FinalRecord),
    /// Diverged before: deterministic, so not run again.
    AlreadyDiverged(FinalRecord),
    /// Another executor holds the trial.
    Locked(LockInfo),
}

impl RunOneOutcome {
    /// The exit code that tells an executor what happened.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunOneOutcome::Finished(f)
            | RunOneOutcome::AlreadyDone(f)
            | RunOneOutcome::AlreadyDiverged(f) => match f.status {
                TrialStatus::Done => EXIT_DONE,
                TrialStatus::Diverged => EXIT_DIVERGED,
                TrialStatus::Failed => EXIT_FAILED,
            },
            RunOneOutcome::Locked(_) => EXIT_LOCKED,
        }
    }
}

/// Creates the trial's folder under `results` and writes its spec there, unless the folder
/// already holds it (a spec of another trial there is an error).
pub fn prepare(spec: &TrialSpec, results: &std::path::Path) -> Result<TrialDir, RunOneError> {
    let trial = spec.dir(results);
    if trial.has_spec() {
        let found = trial.read_spec_head()?.trial_id;
        if found != spec.head.trial_id {
            return Err(RunOneError::Mismatch {
                dir: trial.path().display().to_string(),
                found,
                expected: spec.head.trial_id.clone(),
            });
        }
        return Ok(trial);
    }
    trial.create()?;
    trial.write_spec(spec)?;
    Ok(trial)
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

/// Writes what the laws of the sweep's finished trials (the trial folder's siblings) forecast
/// for this trial, once, before it first runs (a resumed trial keeps its first forecast). A
/// sibling that cannot be read is said in the record, not fatal: a forecast never stops a
/// trial, and it is not part of the spec (trial ids and results do not depend on it).
pub fn write_forecast(trial: &TrialDir) -> Result<(), RunOneError> {
    use clipscale_analysis::forecast::{Forecaster, Target};
    let head = trial.read_spec_head()?;
    let target = Target {
        trial_id: head.trial_id.clone(),
        params: head.model_summary.params,
        samples: head.samples,
        fwd_macs_per_pair: head.model_summary.fwd_macs_per_pair,
    };
    let sweep_dir = trial.path().parent().unwrap_or(trial.path());
    let rec = match Forecaster::from_sweep_dir(sweep_dir, &head.trial_id) {
        Ok(f) => f.forecast(&target),
        Err(e) => {
            let mut rec = Forecaster::from_rows(sweep_dir, Vec::new(), "").forecast(&target);
            rec.note = Some(format!(
                "no forecast: the sweep's results could not be read: {e}"
            ));
            rec
        }
    };
    trial.write_forecast(&rec)?;
    Ok(())
}

/// Runs the trial whose folder (with its spec) is `trial` on `device`, under its lock.
pub fn run_one(
    trial: &TrialDir,
    device: DeviceSpec,
    progress: bool,
) -> Result<RunOneOutcome, RunOneError> {
    if !trial.has_spec() {
        return Err(RunOneError::NotATrial(trial.path().display().to_string()));
    }
    let head = trial.read_spec_head()?;
    let found = head.trial_id.clone();
    if found != trial.name() {
        return Err(RunOneError::Mismatch {
            dir: trial.path().display().to_string(),
            found,
            expected: trial.name(),
        });
    }
    let io = |e: std::io::Error| RunOneError::Io {
        path: trial.path().display().to_string(),
        message: e.to_string(),
    };
    let lock = match TrialLock::acquire(trial).map_err(io)? {
        Ok(l) => l,
        Err(owner) => return Ok(RunOneOutcome::Locked(owner)),
    };
    let _heartbeat = Heartbeat::start(lock);
    match recorded_state(trial) {
        TrialState::Done(f) => return Ok(RunOneOutcome::AlreadyDone(f)),
        TrialState::Diverged(f) => return Ok(RunOneOutcome::AlreadyDiverged(f)),
        // a failed attempt resumes from its newest checkpoint
        TrialState::Failed(_) => trial.remove_final()?,
        TrialState::Unreadable(message) => {
            return Err(RunOneError::Unreadable {
                dir: trial.path().display().to_string(),
                message,
            });
        }
        TrialState::Pending | TrialState::Interrupted { .. } | TrialState::Running(_) => {}
    }
    // a trunk is no point of the sweep's laws: nothing to forecast
    if !head.is_trunk()
        && !trial.forecast_path().exists()
        && let Err(e) = write_forecast(trial)
    {
        eprintln!(
            "warning: {}: no forecast written: {e}",
            trial.path().display()
        );
    }
    let task = TrainTask {
        trial: trial.clone(),
        resume: true,
        progress,
    };
    let fin = dispatch(device, task)??;
    Ok(RunOneOutcome::Finished(fin))
}
