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
    /// The trial's folder under `results`: `<results>/<sweep>/<trial-id>`.
    pub fn dir(&self, results: &std::path::Path) -> clipscale_analysis::trial::TrialDir {
        clipscale_analysis::trial::TrialDir::in_results(
            results,
            &self.head.sweep,
            &self.head.trial_id,
        )
    }
}
