//! Sweeps: a sweep file expanded into resolved trials ([`spec`]), their state on disk and the
//! plan ([`plan`]), trial locks ([`lock`]), the idempotent run of one trial from its folder
//! ([`exec`]), branched cooldowns from shared trunks ([`branch`]), and the executors that run
//! them: this machine ([`local`]) or a Slurm job array ([`slurm`]).

pub mod array;
pub mod branch;
pub mod exec;
pub mod local;
pub mod lock;
pub mod plan;
pub mod slurm;
pub mod spec;

pub use exec::{RunOneOutcome, prepare, run_one};
pub use plan::{TrialState, state};
pub use spec::{Sweep, SweepError};
