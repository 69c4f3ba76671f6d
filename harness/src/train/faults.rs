//! Faults that the tests inject into a training run through environment variables, read once
//! when the run starts: a loss that becomes NaN at a step (the run must end as diverged), and a
//! crash at a step (the executor must retry and the trial resume from its checkpoint).

use std::path::PathBuf;

use crate::batch::HostBatch;

/// The step whose batch is poisoned with a NaN pixel, so its loss is NaN.
pub const NAN_AT_STEP_ENV: &str = "CLIPSCALE_TEST_NAN_AT_STEP";
/// The process aborts (as a crash would) at this step...
pub const CRASH_AT_STEP_ENV: &str = "CLIPSCALE_TEST_CRASH_AT_STEP";
/// ...only in trials whose id contains this text (all trials when unset)...
pub const CRASH_TRIAL_ENV: &str = "CLIPSCALE_TEST_CRASH_TRIAL";
/// ...and only once per marker file when set (the crash creates it; a retry then runs through).
pub const CRASH_MARKER_ENV: &str = "CLIPSCALE_TEST_CRASH_MARKER";

/// The faults asked for this trial.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    nan_at: Option<u64>,
    crash_at: Option<u64>,
    crash_marker: Option<PathBuf>,
    trial_id: String,
}

impl Faults {
    /// The faults the environment asks for `trial_id` (none in normal use).
    pub fn from_env(trial_id: &str) -> Self {
        let step = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
        let for_this_trial = std::env::var(CRASH_TRIAL_ENV).map_or(true, |f| trial_id.contains(&f));
        Self {
            nan_at: step(NAN_AT_STEP_ENV),
            crash_at: step(CRASH_AT_STEP_ENV).filter(|_| for_this_trial),
            crash_marker: std::env::var_os(CRASH_MARKER_ENV).map(PathBuf::from),
            trial_id: trial_id.to_string(),
        }
    }

    /// Applies the faults due at `step` to its batch: a NaN pixel, or an abort.
    pub fn before_step(&self, step: u64, batch: &mut HostBatch) {
        if self.nan_at == Some(step)
            && let Some(pixel) = batch.images.first_mut()
        {
            *pixel = f32::NAN;
        }
        if self.crash_at == Some(step) && self.crash_now() {
            eprintln!("{CRASH_AT_STEP_ENV}: aborting at step {step} as asked");
            std::process::abort();
        }
    }

    fn crash_now(&self) -> bool {
        match &self.crash_marker {
            Some(marker) if marker.exists() => false,
            Some(marker) => std::fs::write(marker, &self.trial_id).is_ok(),
            None => true,
        }
    }
}
