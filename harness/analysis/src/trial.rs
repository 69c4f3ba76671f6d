//! The trial folder, `<results>/<sweep>/<trial-id>/`: the contract between the stages. Every
//! file name of the folder is written here once, and every stage reads and writes the folder
//! through [`TrialDir`]: the executor writes the spec, the trainer appends metrics and evaluations
//! and writes checkpoints, the data accounting and the final record; `collect` and the status
//! table read them.
//!
//! ```text
//! spec.json        the resolved spec (read here through TrialSpecHead; the harness owns the rest)
//! metrics.jsonl    MetricsRecord per log interval (appended)
//! evals.jsonl      EvalRecord per (samples seen, data set, metric) (appended)
//! data.json        DataRecord: distinct pairs, epochs, skips, the stream position
//! final.json       FinalRecord, atomically, when the trial stops
//! benchmark.json   the last evaluation as CLIP_benchmark-style results
//! attempts.jsonl   AttemptRecord per failed attempt of an executor
//! lock.json        who runs the trial now (the harness's lock)
//! train.log        for people; run.log: the output of the executor's child process
//! checkpoints/step-NNNNNNNNN/{model.mpk, optim.mpk, state.json}
//! ```
//!
//! JSON documents are written atomically (a temporary file renamed into place); JSON-lines files
//! are appended one whole line per write and read back tolerating a truncated last line.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{AnalysisError, Result};
use crate::records::{
    AttemptRecord, BenchmarkResult, CheckpointState, EvalRecord, FinalRecord, JsonlRead,
    MetricsRecord, TrialSpecHead, append_jsonl, read_json, read_jsonl, write_json_atomic,
};

const SPEC: &str = "spec.json";
const METRICS: &str = "metrics.jsonl";
const EVALS: &str = "evals.jsonl";
const DATA: &str = "data.json";
const FINAL: &str = "final.json";
const BENCHMARK: &str = "benchmark.json";
const FORECAST: &str = "forecast.json";
const ATTEMPTS: &str = "attempts.jsonl";
const LOCK: &str = "lock.json";
const LOG: &str = "train.log";
const RUN_LOG: &str = "run.log";
const CHECKPOINTS: &str = "checkpoints";
const CHECKPOINT_PREFIX: &str = "step-";
const CHECKPOINT_TMP_PREFIX: &str = ".tmp-step-";
const CHECKPOINT_STATE: &str = "state.json";
const CHECKPOINT_MODEL: &str = "model";
const CHECKPOINT_OPTIM: &str = "optim";

/// One trial's folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrialDir {
    root: PathBuf,
}

impl TrialDir {
    /// The folder at `root` (nothing is created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `<results>/<sweep>/<trial_id>`.
    pub fn in_results(results: &Path, sweep: &str, trial_id: &str) -> Self {
        Self::new(results.join(sweep).join(trial_id))
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The folder's name (the trial id for folders made by the harness).
    pub fn name(&self) -> String {
        self.root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Creates the folder and its parents.
    pub fn create(&self) -> Result<()> {
        std::fs::create_dir_all(&self.root)
            .map_err(|e| AnalysisError::io(&self.root, "creating the trial folder", e))
    }

    /// True when the folder holds a spec (every folder the harness started does).
    pub fn has_spec(&self) -> bool {
        self.spec_path().is_file()
    }

    /// `spec.json`.
    pub fn spec_path(&self) -> PathBuf {
        self.root.join(SPEC)
    }

    /// Writes the resolved spec (the harness's type) atomically.
    pub fn write_spec<T: Serialize>(&self, spec: &T) -> Result<()> {
        write_json_atomic(&self.spec_path(), spec)
    }

    /// Reads the whole spec into the harness's type.
    pub fn read_spec<T: DeserializeOwned>(&self) -> Result<T> {
        read_json(&self.spec_path())
    }

    /// Reads the fields of the spec that every reader needs.
    pub fn read_spec_head(&self) -> Result<TrialSpecHead> {
        read_json(&self.spec_path())
    }

    /// `metrics.jsonl`.
    pub fn metrics_path(&self) -> PathBuf {
        self.root.join(METRICS)
    }

    /// Appends one training record.
    pub fn append_metrics(&self, rec: &MetricsRecord) -> Result<()> {
        append_jsonl(&self.metrics_path(), rec)
    }

    /// The training records (none when the file does not exist yet).
    pub fn read_metrics(&self) -> Result<JsonlRead<MetricsRecord>> {
        read_jsonl_or_empty(&self.metrics_path())
    }

    /// The newest training record, if any can be read.
    pub fn last_metrics(&self) -> Option<MetricsRecord> {
        self.read_metrics().ok()?.records.pop().map(|(_, r)| r)
    }

    /// `evals.jsonl`.
    pub fn evals_path(&self) -> PathBuf {
        self.root.join(EVALS)
    }

    /// Appends one evaluation record.
    pub fn append_eval(&self, rec: &EvalRecord) -> Result<()> {
        append_jsonl(&self.evals_path(), rec)
    }

    /// The evaluation records (none when the file does not exist yet).
    pub fn read_evals(&self) -> Result<JsonlRead<EvalRecord>> {
        read_jsonl_or_empty(&self.evals_path())
    }

    /// The newest value of `metric` on any evaluation set, if any.
    pub fn last_eval(&self, metric: &str) -> Option<f64> {
        self.read_evals()
            .ok()?
            .records
            .into_iter()
            .rev()
            .find(|(_, r)| r.metric == metric)
            .map(|(_, r)| r.value)
    }

    /// Keeps only the records a checkpoint at `(step, samples_seen)` had already written, so a
    /// resumed run appends after them and nothing is counted twice.
    pub fn keep_records_upto(&self, step: u64, samples_seen: u64) -> Result<()> {
        if self.metrics_path().exists() {
            rewrite_jsonl(&self.metrics_path(), &self.metrics_upto(step)?)?;
        }
        if self.evals_path().exists() {
            rewrite_jsonl(&self.evals_path(), &self.evals_upto(samples_seen)?)?;
        }
        Ok(())
    }

    /// The metrics records of steps up to `step`.
    fn metrics_upto(&self, step: u64) -> Result<Vec<MetricsRecord>> {
        Ok(self
            .read_metrics()?
            .records
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| r.step <= step)
            .collect())
    }

    /// The evaluation records up to `samples_seen`.
    fn evals_upto(&self, samples_seen: u64) -> Result<Vec<EvalRecord>> {
        Ok(self
            .read_evals()?
            .records
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| r.samples_seen <= samples_seen)
            .collect())
    }

    /// Replaces this trial's metrics and evaluation records with those `source` had written
    /// by its checkpoint at `(step, samples_seen)`, as this trial's own (evaluation records
    /// take its id): how a branch starts from its trunk.
    pub fn copy_records_upto(&self, source: &TrialDir, step: u64, samples_seen: u64) -> Result<()> {
        rewrite_jsonl(&self.metrics_path(), &source.metrics_upto(step)?)?;
        let name = self.name();
        let evals: Vec<EvalRecord> = source
            .evals_upto(samples_seen)?
            .into_iter()
            .map(|r| EvalRecord {
                trial_id: name.clone(),
                ..r
            })
            .collect();
        rewrite_jsonl(&self.evals_path(), &evals)
    }

    /// Removes the records of an earlier attempt (a fresh start keeps nothing of it).
    pub fn clear_records(&self) -> Result<()> {
        for path in [self.metrics_path(), self.evals_path()] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(AnalysisError::io(&path, "removing", e)),
            }
        }
        Ok(())
    }

    /// `data.json`.
    pub fn data_path(&self) -> PathBuf {
        self.root.join(DATA)
    }

    /// Writes the data accounting atomically ([`crate::records::DataRecord`], whose stream
    /// statistics are the data crate's type).
    pub fn write_data<T: Serialize>(&self, rec: &T) -> Result<()> {
        write_json_atomic(&self.data_path(), rec)
    }

    /// Reads the data accounting.
    pub fn read_data<T: DeserializeOwned>(&self) -> Result<T> {
        read_json(&self.data_path())
    }

    /// `final.json`.
    pub fn final_path(&self) -> PathBuf {
        self.root.join(FINAL)
    }

    /// Writes the final record atomically.
    pub fn write_final(&self, rec: &FinalRecord) -> Result<()> {
        write_json_atomic(&self.final_path(), rec)
    }

    /// The final record: `None` while the trial has not ended; an error when the file exists
    /// but cannot be read (a reader must not take a damaged record for "not finished").
    pub fn read_final(&self) -> Result<Option<FinalRecord>> {
        if !self.final_path().exists() {
            return Ok(None);
        }
        read_json(&self.final_path()).map(Some)
    }

    /// Removes the final record, so that a failed trial can be resumed.
    pub fn remove_final(&self) -> Result<()> {
        match std::fs::remove_file(self.final_path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(AnalysisError::io(&self.final_path(), "removing", e)),
        }
    }

    /// `forecast.json`: what the sweep's laws predicted before the trial ran.
    pub fn forecast_path(&self) -> PathBuf {
        self.root.join(FORECAST)
    }

    /// Writes the forecast atomically.
    pub fn write_forecast(&self, rec: &crate::forecast::ForecastRecord) -> Result<()> {
        write_json_atomic(&self.forecast_path(), rec)
    }

    /// The forecast, `None` when none was made.
    pub fn read_forecast(&self) -> Result<Option<crate::forecast::ForecastRecord>> {
        if !self.forecast_path().exists() {
            return Ok(None);
        }
        read_json(&self.forecast_path()).map(Some)
    }

    /// `benchmark.json`.
    pub fn benchmark_path(&self) -> PathBuf {
        self.root.join(BENCHMARK)
    }

    /// Writes the CLIP_benchmark-style results atomically.
    pub fn write_benchmark(&self, results: &[BenchmarkResult]) -> Result<()> {
        write_json_atomic(&self.benchmark_path(), &results)
    }

    /// `attempts.jsonl`.
    pub fn attempts_path(&self) -> PathBuf {
        self.root.join(ATTEMPTS)
    }

    /// Appends the record of an attempt that did not finish.
    pub fn append_attempt(&self, rec: &AttemptRecord) -> Result<()> {
        append_jsonl(&self.attempts_path(), rec)
    }

    /// The records of attempts that did not finish.
    pub fn read_attempts(&self) -> Result<JsonlRead<AttemptRecord>> {
        read_jsonl_or_empty(&self.attempts_path())
    }

    /// `lock.json` (taken and released by the harness's trial lock).
    pub fn lock_path(&self) -> PathBuf {
        self.root.join(LOCK)
    }

    /// `train.log`, for people.
    pub fn log_path(&self) -> PathBuf {
        self.root.join(LOG)
    }

    /// `run.log`: what the executor's child process printed.
    pub fn run_log_path(&self) -> PathBuf {
        self.root.join(RUN_LOG)
    }

    /// Appends a time-stamped line to `train.log` (best effort: the log is for people, and a
    /// full disk shows up in the records' writes anyway).
    pub fn log(&self, line: &str) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
        {
            let _ = writeln!(f, "[{now:.3}] {line}");
        }
    }

    /// `checkpoints/`.
    pub fn checkpoints_path(&self) -> PathBuf {
        self.root.join(CHECKPOINTS)
    }

    /// The checkpoint of `step` (complete or not).
    pub fn checkpoint(&self, step: u64) -> CheckpointDir {
        CheckpointDir(
            self.checkpoints_path()
                .join(format!("{CHECKPOINT_PREFIX}{step:09}")),
        )
    }

    /// Where the checkpoint of `step` is written before it is renamed into place.
    pub fn checkpoint_tmp(&self, step: u64) -> CheckpointDir {
        CheckpointDir(
            self.checkpoints_path()
                .join(format!("{CHECKPOINT_TMP_PREFIX}{step:09}")),
        )
    }

    /// The complete checkpoints, oldest first, as (step, folder).
    pub fn checkpoints(&self) -> Vec<(u64, CheckpointDir)> {
        let mut out: Vec<(u64, CheckpointDir)> = std::fs::read_dir(self.checkpoints_path())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let step = name.strip_prefix(CHECKPOINT_PREFIX)?.parse().ok()?;
                let dir = CheckpointDir(e.path());
                dir.state_path().is_file().then_some((step, dir))
            })
            .collect();
        out.sort_by_key(|(step, _)| *step);
        out
    }

    /// The newest complete checkpoint.
    pub fn latest_checkpoint(&self) -> Option<CheckpointDir> {
        self.checkpoints().pop().map(|(_, d)| d)
    }

    /// The loop state of the newest checkpoint that can be read.
    pub fn latest_checkpoint_state(&self) -> Option<CheckpointState> {
        self.checkpoints()
            .into_iter()
            .rev()
            .find_map(|(_, d)| d.read_state().ok())
    }
}

/// One checkpoint's folder: the model, the optimiser state (burn records, whose extension burn
/// adds) and the loop state (JSON, written last: a folder without it is incomplete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointDir(PathBuf);

impl CheckpointDir {
    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `state.json`.
    pub fn state_path(&self) -> PathBuf {
        self.0.join(CHECKPOINT_STATE)
    }

    /// The model record's path without its extension (burn's recorder adds `.mpk`).
    pub fn model_stem(&self) -> PathBuf {
        self.0.join(CHECKPOINT_MODEL)
    }

    /// The optimiser record's path without its extension.
    pub fn optim_stem(&self) -> PathBuf {
        self.0.join(CHECKPOINT_OPTIM)
    }

    /// Writes the loop state atomically.
    pub fn write_state(&self, state: &CheckpointState) -> Result<()> {
        write_json_atomic(&self.state_path(), state)
    }

    /// Reads the loop state.
    pub fn read_state(&self) -> Result<CheckpointState> {
        read_json(&self.state_path())
    }
}

fn read_jsonl_or_empty<T: DeserializeOwned>(path: &Path) -> Result<JsonlRead<T>> {
    if !path.exists() {
        return Ok(JsonlRead {
            records: Vec::new(),
            warnings: Vec::new(),
        });
    }
    read_jsonl(path)
}

/// Replaces a JSON-lines file with `rows`, atomically.
fn rewrite_jsonl<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut text = String::new();
    for r in rows {
        let line = serde_json::to_string(r).map_err(|source| AnalysisError::Json {
            path: path.to_path_buf(),
            line: None,
            source,
        })?;
        text.push_str(&line);
        text.push('\n');
    }
    clipscale_core::fs::write_atomic(path, text.as_bytes())
        .map_err(|e| AnalysisError::io(&e.path, e.action, e.source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{SCHEMA_VERSION, TrialStatus};

    fn metrics(step: u64) -> MetricsRecord {
        MetricsRecord {
            schema_version: SCHEMA_VERSION,
            step,
            samples_seen: step * 10,
            train_flops: 1.0,
            loss: 1.0,
            lr: 1e-3,
            logit_scale: 2.6,
            logit_bias: None,
            step_s: 0.1,
            data_s: 0.0,
            samples_per_s: 100.0,
        }
    }

    #[test]
    fn records_round_trip_and_resume_keeps_what_the_checkpoint_had() {
        let root = std::env::temp_dir().join(format!("clipscale-trialdir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let t = TrialDir::in_results(&root, "s", "t1");
        t.create().unwrap();
        assert!(t.read_final().unwrap().is_none());
        assert!(t.read_metrics().unwrap().records.is_empty());
        for step in 1..=5 {
            t.append_metrics(&metrics(step)).unwrap();
        }
        t.keep_records_upto(3, 30).unwrap();
        let steps: Vec<u64> = t
            .read_metrics()
            .unwrap()
            .records
            .iter()
            .map(|(_, r)| r.step)
            .collect();
        assert_eq!(steps, [1, 2, 3]);
        assert_eq!(t.last_metrics().unwrap().step, 3);
        let fin = FinalRecord {
            schema_version: SCHEMA_VERSION,
            trial_id: "t1".into(),
            status: TrialStatus::Done,
            steps: 3,
            samples_seen: 30,
            train_flops: 1.0,
            unique_samples: None,
            final_loss: Some(1.0),
            wall_s: 1.0,
            message: None,
        };
        t.write_final(&fin).unwrap();
        assert_eq!(t.read_final().unwrap(), Some(fin));
        // a damaged final record is an error, not "still running"
        std::fs::write(t.final_path(), "{").unwrap();
        assert!(t.read_final().is_err());
        t.remove_final().unwrap();
        assert!(t.read_final().unwrap().is_none());
        // checkpoints: only complete ones (with their state) count, oldest first
        for step in [20, 10] {
            let c = t.checkpoint(step);
            std::fs::create_dir_all(c.path()).unwrap();
            c.write_state(&CheckpointState {
                schema_version: SCHEMA_VERSION,
                step,
                samples_seen: step * 10,
                wall_s: 1.0,
                data_position: None,
            })
            .unwrap();
        }
        std::fs::create_dir_all(t.checkpoint(30).path()).unwrap();
        let steps: Vec<u64> = t.checkpoints().iter().map(|(s, _)| *s).collect();
        assert_eq!(steps, [10, 20]);
        assert_eq!(t.latest_checkpoint_state().unwrap().samples_seen, 200);
        std::fs::remove_dir_all(&root).ok();
    }
}
