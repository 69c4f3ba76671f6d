//! Training: a trial's settings ([`settings`]) resolved into its spec ([`spec`]), the training
//! step ([`trainer`]), the learning-rate schedule in samples ([`schedule`]), open_clip's
//! optimiser ([`optim`]), data feeding ([`data`]), checkpoints ([`checkpoint`]), test faults
//! ([`faults`]), and the run that ties them together ([`run`]).

pub mod checkpoint;
pub mod data;
pub mod faults;
pub mod optim;
pub mod run;
pub mod schedule;
pub mod settings;
pub mod spec;
pub mod trainer;

pub use run::{TrainError, TrainTask};
pub use settings::{SettingsError, TrialSettings};
pub use spec::{DataSpec, Dataset, Intervals, OptimSpec, TokenizerName, TrialSpec};
pub use trainer::{StepSettings, Trainer};

impl TrialSpec {
    /// The trial's planned training FLOPs (6 x forward MACs per pair x samples): the order
    /// executors start trials in, smallest first, so larger trials are forecast from smaller.
    pub fn planned_train_flops(&self) -> f64 {
        self.head.model_summary.train_flops_per_sample() * self.head.samples as f64
    }

    /// The trial's folder under `results`: `<results>/<sweep>/<trial-id>`.
    pub fn dir(&self, results: &std::path::Path) -> clipscale_analysis::trial::TrialDir {
        clipscale_analysis::trial::TrialDir::in_results(
            results,
            &self.head.sweep,
            &self.head.trial_id,
        )
    }
}
