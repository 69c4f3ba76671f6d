//! Training: a trial's settings ([`settings`]) resolved into its spec ([`spec`]), the training
//! step ([`trainer`]), the learning-rate schedule in samples ([`schedule`]), open_clip's
//! optimiser ([`optim`]), data feeding ([`data`]), checkpoints ([`checkpoint`]), test faults
//! ([`faults`]), branches seeded from a trunk ([`branch`]), and the run that ties them together
//! ([`run`]).

pub mod branch;
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

    /// The trial's folder under `results`: `<results>/<sweep>/<trial-id>`, or for a trunk
    /// `<results>/<sweep>/trunks/<trial-id>` (where `collect` and the views of trials do not
    /// look for trials).
    pub fn dir(&self, results: &std::path::Path) -> clipscale_analysis::trial::TrialDir {
        let sweep = results.join(&self.head.sweep);
        clipscale_analysis::trial::TrialDir::new(if self.head.is_trunk() {
            sweep
                .join(clipscale_analysis::branching::TRUNKS)
                .join(&self.head.trial_id)
        } else {
            sweep.join(&self.head.trial_id)
        })
    }

    /// A trunk's branch points as checkpoint steps, which its checkpoint retention keeps
    /// (none for every other trial).
    pub fn pinned_steps(&self) -> Vec<u64> {
        match &self.head.branching {
            Some(clipscale_analysis::records::Branching::Trunk { branch_points }) => branch_points
                .iter()
                .map(|s| s / self.head.batch_size as u64)
                .collect(),
            _ => Vec::new(),
        }
    }
}
