//! Sweeps: a sweep file expanded into resolved trials, their state on disk and the plan, trial
//! locks, and idempotent execution of one trial (used by the local executor and Slurm).

pub mod exec;
pub mod lock;
pub mod plan;
pub mod slurm;
pub mod spec;

pub use exec::{RunOneOutcome, run_one};
pub use plan::{TrialState, state, trial_dir};
pub use spec::{Sweep, SweepError};
