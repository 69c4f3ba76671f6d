//! Typed records of one trial folder ([`crate::trial::TrialDir`] says which file holds which):
//! the spec (read through [`TrialSpecHead`]), [`MetricsRecord`], [`EvalRecord`], [`DataRecord`],
//! [`FinalRecord`], [`AttemptRecord`], [`BenchmarkResult`] and a checkpoint's
//! [`CheckpointState`]. The training harness writes them, `collect` and the status views read
//! them. Compute is counted as in Cherti et al. 2023 ("Reproducible scaling laws for
//! contrastive language-image learning"): forward MACs per image-text pair times samples seen;
//! training FLOPs = 6 x forward MACs x samples.
//!
//! # Schema versions
//! Every record carries `schema_version`; a reader refuses a version newer than its own. A
//! change that an older reader can ignore (a new optional field, a new record type) keeps the
//! version, so records stay readable by older readers:
//! - 1: the records above. Since then, without a new version: `data.json`'s stream statistics
//!   gained `truncated_shard`; `attempts.jsonl` lines gained `schema_version` (absent: 1);
//!   `data.json` and the checkpoint's `state.json` are typed ([`DataRecord`], [`CheckpointState`])
//!   with the same keys as before.
//!
//! The file helpers (`write_json_atomic`, `append_jsonl`, `read_jsonl`) live in [`io`].

pub mod io;

pub use io::{JsonlRead, append_jsonl, read_json, read_jsonl, write_json_atomic};

use serde::{Deserialize, Serialize};

/// Version of every record type below; bump when a field changes meaning (see the module
/// documentation for what does not).
pub const SCHEMA_VERSION: u32 = 1;

fn schema_version_1() -> u32 {
    1
}

/// Where and with what a trial ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub git_commit: String,
    pub git_dirty: bool,
    pub clipscale_version: String,
    pub burn_version: String,
    pub backend: String,
    pub device: String,
    pub float_type: String,
    pub threads: usize,
    pub host: String,
    pub started_unix_s: f64,
}

/// Size and cost of the model; MACs are per image-text pair, forward only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub name: String,
    pub params: u64,
    pub image_params: u64,
    pub text_params: u64,
    pub fwd_macs_per_pair: u64,
    pub image_fwd_macs: u64,
    pub text_fwd_macs: u64,
}

impl ModelSummary {
    /// Training FLOPs per image-text pair: 3 x forward, 2 FLOPs per MAC.
    pub fn train_flops_per_sample(&self) -> f64 {
        train_flops(self.fwd_macs_per_pair, 1)
    }

    /// Samples that a training budget in FLOPs buys.
    pub fn samples_for_flops(&self, train_flops: f64) -> u64 {
        (train_flops / self.train_flops_per_sample()).floor() as u64
    }
}

/// The fields of `spec.json` that `collect` needs. The real spec holds many more keys; they are
/// ignored on purpose (no `deny_unknown_fields`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialSpecHead {
    pub schema_version: u32,
    pub trial_id: String,
    pub sweep: String,
    pub provenance: Provenance,
    pub model_summary: ModelSummary,
    /// Training data set name.
    pub dataset: String,
    /// Samples (image-text pairs) the trial is planned to see.
    pub samples: u64,
    pub batch_size: usize,
    pub seed: u64,
    /// Where the trial sits in a branched sweep: absent for a trial that runs on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branching: Option<Branching>,
}

impl TrialSpecHead {
    /// Whether this is a trunk (the constant-rate run that branches start from), which is not a
    /// point of any scaling curve.
    pub fn is_trunk(&self) -> bool {
        matches!(self.branching, Some(Branching::Trunk { .. }))
    }

    /// The samples this trial trains itself: all of them, except for a branch, which starts
    /// from its trunk's checkpoint.
    pub fn own_samples(&self) -> u64 {
        match &self.branching {
            Some(Branching::Branch { from_samples, .. }) => {
                self.samples.saturating_sub(*from_samples)
            }
            _ => self.samples,
        }
    }
}

/// A branched sweep's roles (`schedule = "constant-cooldown"` with `branch = true`): one trunk
/// per group of trials that differ only in length, trained at the constant peak rate, and each
/// trial of the group a branch that starts from the trunk's checkpoint where its own cooldown
/// starts. A branch's records cover its whole run, as an independent run's would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Branching {
    /// The trunk keeps a checkpoint at every branch point (samples seen, ascending); it lives
    /// in the sweep folder's `trunks/`.
    Trunk { branch_points: Vec<u64> },
    /// A branch starts from checkpoint `from_samples` of the trunk `trunk` (a trial id under
    /// the sweep folder's `trunks/`).
    Branch { trunk: String, from_samples: u64 },
}

/// One line of `metrics.jsonl`: the state after a training step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsRecord {
    pub schema_version: u32,
    pub step: u64,
    pub samples_seen: u64,
    pub train_flops: f64,
    pub loss: f64,
    pub lr: f64,
    pub logit_scale: f64,
    /// SigLIP's logit bias (absent for CLIP's objective).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<f64>,
    pub step_s: f64,
    pub data_s: f64,
    pub samples_per_s: f64,
}

/// One line of `evals.jsonl`: one metric on one downstream data set at one point of training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    pub schema_version: u32,
    pub trial_id: String,
    pub samples_seen: u64,
    pub train_flops: f64,
    /// Downstream (evaluation) data set, e.g. `imagenet1k`.
    pub dataset: String,
    /// Metric name, e.g. `acc1`, `image_retrieval_recall@5`, `loss`.
    pub metric: String,
    pub value: f64,
}

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialStatus {
    Done,
    Failed,
    Diverged,
}

impl std::fmt::Display for TrialStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrialStatus::Done => "done",
            TrialStatus::Failed => "failed",
            TrialStatus::Diverged => "diverged",
        })
    }
}

/// `final.json`: written once, atomically, when the trial stops for any reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalRecord {
    pub schema_version: u32,
    pub trial_id: String,
    pub status: TrialStatus,
    pub steps: u64,
    pub samples_seen: u64,
    pub train_flops: f64,
    /// Distinct samples seen (the data set size actually touched), when known.
    #[serde(default)]
    pub unique_samples: Option<u64>,
    #[serde(default)]
    pub final_loss: Option<f64>,
    pub wall_s: f64,
    #[serde(default)]
    pub message: Option<String>,
}

/// Where a training data stream stands: what a checkpoint saves to resume the data exactly.
/// Written as before it was typed: `{"index": n}` for the synthetic scenes (the next sample),
/// `{"epoch": e, "consumed_in_epoch": c}` for shard and CSV streams; `null` at the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DataPosition {
    /// The next sample index of an endless generated stream.
    Index { index: u64 },
    /// The epoch and the items of it already passed.
    Epoch { epoch: u64, consumed_in_epoch: u64 },
}

/// A checkpoint's `state.json`: where the loop stood when the checkpoint was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    pub schema_version: u32,
    pub step: u64,
    pub samples_seen: u64,
    /// Training wall time before this checkpoint, so a resumed run reports the total.
    pub wall_s: f64,
    /// Where the data stream stood (`None`: at the start).
    #[serde(default)]
    pub data_position: Option<DataPosition>,
}

/// `data.json`: what the trial saw of its data. `S` is the stream's statistics (the data crate's
/// `StreamStats`, for shard and CSV data; absent for generated data); readers that do not need
/// them read a `serde_json::Value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRecord<S = serde_json::Value> {
    pub schema_version: u32,
    /// The training data set's name.
    pub dataset: String,
    /// Distinct pairs in the data (`None`: an endless generated stream).
    pub unique_pairs: Option<u64>,
    /// Distinct pairs the trial has seen.
    pub unique_seen: u64,
    pub samples_seen: u64,
    /// Passes over the data (`None` for an endless stream).
    pub epochs_seen: Option<f64>,
    /// Where the stream stopped.
    pub position: Option<DataPosition>,
    /// Skips, truncated shards and warnings of the stream.
    pub stream: Option<S>,
}

/// One line of `attempts.jsonl`: an attempt of an executor that did not finish the trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    #[serde(default = "schema_version_1")]
    pub schema_version: u32,
    /// 1 for the first attempt.
    pub attempt: usize,
    /// The trial process's exit code (`None`: ended by a signal).
    pub exit_code: Option<i32>,
    /// What happened, with the end of the process's output.
    pub reason: String,
    pub unix_s: f64,
}

/// One entry of `benchmark.json`: one evaluation set's results in the layout of LAION's
/// CLIP_benchmark (`dataset`, `model`, `pretrained`, `task`, `metrics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkResult {
    pub dataset: String,
    pub model: String,
    /// The trial id (CLIP_benchmark's name for the weights).
    pub pretrained: String,
    /// `zeroshot_classification` or `zeroshot_retrieval`.
    pub task: String,
    pub metrics: std::collections::BTreeMap<String, f64>,
    pub samples_seen: u64,
}

/// Training FLOPs of `samples` pairs at `fwd_macs_per_pair`: 1 MAC = 2 FLOPs, training costs
/// 3 forward passes, so 6 x MACs x samples.
pub fn train_flops(fwd_macs_per_pair: u64, samples: u64) -> f64 {
    6.0 * fwd_macs_per_pair as f64 * samples as f64
}

/// Cherti et al.'s compute axis: forward GMACs per pair x samples seen.
pub fn total_gmacs(fwd_macs_per_pair: u64, samples: u64) -> f64 {
    fwd_macs_per_pair as f64 * samples as f64 / 1e9
}

/// Records that carry a schema version, so readers can refuse newer ones.
pub trait Versioned {
    fn schema_version(&self) -> u32;
}

macro_rules! versioned {
    ($($t:ty),*) => {$(
        impl Versioned for $t {
            fn schema_version(&self) -> u32 {
                self.schema_version
            }
        }
    )*};
}
versioned!(
    TrialSpecHead,
    MetricsRecord,
    EvalRecord,
    FinalRecord,
    CheckpointState,
    AttemptRecord
);
