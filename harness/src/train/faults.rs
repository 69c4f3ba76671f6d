//! Faults that the tests inject into a training run through environment variables, read once
//! when the run starts: a loss that becomes NaN at a step (the run must end as diverged), and a
//! SIGKILL at one or more steps (the executor must retry and the trial resume from its
//! checkpoint, with nothing lost).

use std::path::PathBuf;

use crate::batch::HostBatch;

/// The step whose batch is poisoned with a NaN pixel, so its loss is NaN.
pub const NAN_AT_STEP_ENV: &str = "CLIPSCALE_TEST_NAN_AT_STEP";
/// The process kills itself with SIGKILL (as the kernel's OOM killer or a pre-empting host
/// would, with no chance to clean up) at these steps (`20`, or `40,120`)...
pub const CRASH_AT_STEP_ENV: &str = "CLIPSCALE_TEST_CRASH_AT_STEP";
/// ...only in trials whose id contains this text (all trials when unset)...
pub const CRASH_TRIAL_ENV: &str = "CLIPSCALE_TEST_CRASH_TRIAL";
/// ...and only once per step when set: the crash at step N creates the marker file `<this>`
/// (`<this>.N` when several steps are given); a retry then runs through.
pub const CRASH_MARKER_ENV: &str = "CLIPSCALE_TEST_CRASH_MARKER";

/// The faults asked for this trial.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    nan_at: Option<u64>,
    crash_at: Vec<u64>,
    crash_marker: Option<PathBuf>,
    trial_id: String,
}

impl Faults {
    /// The faults the environment asks for `trial_id` (none in normal use).
    pub fn from_env(trial_id: &str) -> Self {
        let var = |name: &str| std::env::var(name).ok();
        let for_this_trial = var(CRASH_TRIAL_ENV).is_none_or(|f| trial_id.contains(&f));
        let crash_at = var(CRASH_AT_STEP_ENV)
            .filter(|_| for_this_trial)
            .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
            .unwrap_or_default();
        Self {
            nan_at: var(NAN_AT_STEP_ENV).and_then(|v| v.parse().ok()),
            crash_at,
            crash_marker: std::env::var_os(CRASH_MARKER_ENV).map(PathBuf::from),
            trial_id: trial_id.to_string(),
        }
    }

    /// Applies the faults due at `step` to its batch: a NaN pixel, or a SIGKILL.
    pub fn before_step(&self, step: u64, batch: &mut HostBatch) {
        if self.nan_at == Some(step)
            && let Some(pixel) = batch.images.first_mut()
        {
            *pixel = f32::NAN;
        }
        if self.crash_at.contains(&step) && self.crash_now(step) {
            eprintln!("{CRASH_AT_STEP_ENV}: killing this process at step {step} as asked");
            kill_self();
        }
    }

    fn crash_now(&self, step: u64) -> bool {
        let marker = self.crash_marker.as_ref().map(|m| {
            if self.crash_at.len() > 1 {
                let mut name = m.clone().into_os_string();
                name.push(format!(".{step}"));
                PathBuf::from(name)
            } else {
                m.clone()
            }
        });
        match marker {
            Some(marker) if marker.exists() => false,
            Some(marker) => std::fs::write(marker, &self.trial_id).is_ok(),
            None => true,
        }
    }
}

/// SIGKILL to this process (an abort where there is no SIGKILL).
fn kill_self() -> ! {
    #[cfg(unix)]
    // SAFETY: kill(2) on our own pid with a signal that cannot be caught; no memory is touched.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort()
}
