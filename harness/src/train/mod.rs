//! Training: the resolved trial spec, the learning-rate schedule (in samples), open_clip's
//! optimiser, data feeding, checkpoints, and the loop.

pub mod checkpoint;
pub mod data;
pub mod evalsets;
pub mod optim;
pub mod run;
pub mod schedule;
pub mod spec;

pub use run::{TrainError, TrainTask};
pub use spec::{DataSpec, Intervals, OptimSpec, TrialRequest, TrialSpec, resolve};
