//! The training loop of one trial: resolved spec in, trial directory out (spec.json before the
//! first step, metrics.jsonl, evals.jsonl, checkpoints, train.log, final.json at the end).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use thiserror::Error;

use clipscale_analysis::records::{
    self, EVALS_FILE, EvalRecord, FINAL_FILE, FinalRecord, METRICS_FILE, MetricsRecord,
    SCHEMA_VERSION, SPEC_FILE, TrialStatus,
};

use crate::backend::{BackendInfo, BackendTask, to_vec};
use crate::eval::{ZeroShotClassifier, validation_loss};
use crate::model::Clip;
use crate::model::clip::max_logit_scale;
use crate::provenance::now_unix_s;
use crate::train::checkpoint::{self, LoopState};
use crate::train::data::{self, PairSource, Prefetcher, SyntheticHandle, SyntheticSource};
use crate::train::evalsets::{self, EvalTask};
use crate::train::optim::{ClipOptimizer, clamp_logit_scale, clip_global_norm, optimizer};
use crate::train::schedule::Schedule;
use crate::train::spec::TrialSpec;

/// Environment variable for fault-injection tests: the loss of this step is made NaN.
pub const NAN_AT_STEP_ENV: &str = "CLIPSCALE_TEST_NAN_AT_STEP";
/// Fault injection for tests: the process aborts (as a crash would) at this step...
pub const CRASH_AT_STEP_ENV: &str = "CLIPSCALE_TEST_CRASH_AT_STEP";
/// ...only in trials whose id contains this text (all trials when unset)...
pub const CRASH_TRIAL_ENV: &str = "CLIPSCALE_TEST_CRASH_TRIAL";
/// ...and only once per marker file when set (the crash creates it; a retry then runs through).
pub const CRASH_MARKER_ENV: &str = "CLIPSCALE_TEST_CRASH_MARKER";

fn injected_crash(trial_id: &str, step: u64) -> bool {
    let Some(at) = std::env::var(CRASH_AT_STEP_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return false;
    };
    if at != step
        || !std::env::var(CRASH_TRIAL_ENV)
            .map(|f| trial_id.contains(&f))
            .unwrap_or(true)
    {
        return false;
    }
    match std::env::var(CRASH_MARKER_ENV) {
        Ok(marker) if Path::new(&marker).exists() => false,
        Ok(marker) => std::fs::write(marker, trial_id).is_ok(),
        Err(_) => true,
    }
}

#[derive(Debug, Error)]
pub enum TrainError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error(transparent)]
    Records(#[from] clipscale_analysis::AnalysisError),
    #[error("data: {0}")]
    Data(#[from] clipscale_data::DataError),
    #[error("{0}")]
    Spec(String),
    #[error(
        "stopped by signal {signal} at step {step} ({samples_seen} samples seen); checkpoint written, the trial resumes from it"
    )]
    Interrupted {
        signal: i32,
        step: u64,
        samples_seen: u64,
    },
}

fn io(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// One trial to train on whichever backend [`crate::backend::dispatch`] picks.
pub struct TrainTask {
    pub spec: TrialSpec,
    pub trial_dir: PathBuf,
    pub resume: bool,
    pub progress: bool,
}

fn crossed(before: u64, after: u64, every: u64) -> bool {
    before / every != after / every
}

struct TrialFiles {
    dir: PathBuf,
    log: std::fs::File,
}

impl TrialFiles {
    fn log(&mut self, line: &str) {
        let _ = writeln!(self.log, "[{:.3}] {line}", now_unix_s());
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Keeps only the records a checkpoint at (step, samples_seen) had already written.
fn truncate_records(dir: &Path, state: &LoopState) -> Result<(), TrainError> {
    let metrics = dir.join(METRICS_FILE);
    if metrics.exists() {
        let kept: Vec<MetricsRecord> = records::read_jsonl::<MetricsRecord>(&metrics)?
            .records
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| r.step <= state.step)
            .collect();
        rewrite_jsonl(&metrics, &kept)?;
    }
    let evals = dir.join(EVALS_FILE);
    if evals.exists() {
        let kept: Vec<EvalRecord> = records::read_jsonl::<EvalRecord>(&evals)?
            .records
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| r.samples_seen <= state.samples_seen)
            .collect();
        rewrite_jsonl(&evals, &kept)?;
    }
    Ok(())
}

fn rewrite_jsonl<T: serde::Serialize>(path: &Path, rows: &[T]) -> Result<(), TrainError> {
    let tmp = path.with_extension("jsonl.tmp");
    let mut text = String::new();
    for r in rows {
        text.push_str(&serde_json::to_string(r).expect("plain record"));
        text.push('\n');
    }
    std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

impl BackendTask for TrainTask {
    type Output = Result<FinalRecord, TrainError>;

    #[allow(
        clippy::too_many_lines,
        reason = "the whole training run in one function; becomes train::Trainer in issue 19"
    )]
    fn run<B: AutodiffBackend>(self, device: B::Device, _info: BackendInfo) -> Self::Output {
        let spec = self.spec;
        let dir = self.trial_dir;
        let id = spec.head.trial_id.clone();
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let spec_path = dir.join(SPEC_FILE);
        if !spec_path.exists() {
            records::write_json_atomic(&spec_path, &spec)?;
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("train.log"))
            .map_err(|e| io(&dir.join("train.log"), e))?;
        let mut files = TrialFiles {
            dir: dir.clone(),
            log,
        };

        let (image_size, ctx) = (spec.model.vision.image_size, spec.model.text.context_length);
        let (iv_n, iv_b) = (spec.intervals.eval_samples, spec.intervals.eval_batch_size);
        let (source, eval_tasks): (Arc<dyn PairSource>, Vec<EvalTask>) = match (
            spec.data.name.as_str(),
            spec.data.path.as_deref(),
        ) {
            ("synthetic", _) => {
                let s = Arc::new(SyntheticSource::new(spec.data.seed, image_size, ctx)?);
                let tasks = evalsets::synthetic(&s, iv_n, iv_b)?;
                (Arc::new(SyntheticHandle(s)), tasks)
            }
            ("emoji", Some(path)) => {
                let root = Path::new(path);
                let train = data::split_pattern(root, "train")?;
                let tok = data::tokenizer_for(&spec.data.tokenizer, Some(&train), Some(root))
                    .map_err(TrainError::Spec)?;
                let tasks = evalsets::emoji(
                    root,
                    &evalsets::EMOJI_SETS.map(|(_, n)| n),
                    tok.as_ref(),
                    image_size,
                    ctx,
                    iv_n,
                    iv_b,
                )?;
                (
                    Arc::new(data::open_shards(
                        &train,
                        spec.data.seed,
                        image_size,
                        ctx,
                        tok,
                        None,
                    )?),
                    tasks,
                )
            }
            ("wds", Some(pattern)) => {
                let tok = data::tokenizer_for(&spec.data.tokenizer, Some(pattern), None)
                    .map_err(TrainError::Spec)?;
                (
                    Arc::new(data::open_shards(
                        pattern,
                        spec.data.seed,
                        image_size,
                        ctx,
                        tok,
                        None,
                    )?),
                    Vec::new(),
                )
            }
            (name, _) => {
                return Err(TrainError::Spec(format!(
                    "data set `{name}` needs a path (emoji: a prepared folder; wds: a shard pattern); available: synthetic, emoji, wds"
                )));
            }
        };

        let batch = spec.head.batch_size;
        let total = spec.head.samples;
        let macs = spec.head.model_summary.fwd_macs_per_pair;
        let schedule = Schedule {
            peak_lr: spec.optim.lr,
            warmup_samples: spec.optim.warmup_samples,
            total_samples: total,
        };
        let model = spec
            .model
            .init::<B>(spec.head.seed, &device)
            .map_err(|e| TrainError::Spec(e.to_string()))?;
        let optim = optimizer::<B>(spec.optim.adamw);
        let (mut model, mut optim, mut state) = match self
            .resume
            .then(|| checkpoint::load_latest(&dir, model.clone(), optim, &device))
        {
            Some(Ok(Some((state, m, o)))) => {
                truncate_records(&dir, &state)?;
                files.log(&format!(
                    "resumed from step {} ({} samples seen)",
                    state.step, state.samples_seen
                ));
                (m, o, state)
            }
            Some(Err(e)) => return Err(e.into()),
            _ => {
                // a fresh start: nothing of an earlier attempt may remain
                for f in [METRICS_FILE, EVALS_FILE] {
                    let _ = std::fs::remove_file(dir.join(f));
                }
                files.log(&format!(
                    "training {id}: {} on {} samples, batch {batch}",
                    spec.model.name, total
                ));
                (
                    model,
                    optimizer::<B>(spec.optim.adamw),
                    LoopState {
                        schema_version: SCHEMA_VERSION,
                        step: 0,
                        samples_seen: 0,
                        wall_s: 0.0,
                        data_position: serde_json::Value::Null,
                    },
                )
            }
        };

        let bar = ProgressBar::new(total);
        if !self.progress {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {human_pos}/{human_len} samples {per_sec} eta {eta} {msg}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_prefix(spec.model.name.clone());
        bar.set_position(state.samples_seen);

        let nan_at: Option<u64> = std::env::var(NAN_AT_STEP_ENV)
            .ok()
            .and_then(|v| v.parse().ok());
        let remaining = (total - state.samples_seen) / batch as u64;
        let feed = Prefetcher::start(
            source.clone(),
            state.data_position.clone(),
            batch,
            remaining,
            3,
        );
        let mut data_stats = serde_json::Value::Null;
        let started = Instant::now();
        let wall_before = state.wall_s;
        let mut since_log = (0u32, 0f64, 0f64);
        let mut last_loss = f64::NAN;
        let mut status = TrialStatus::Done;
        let mut message = None;

        let evaluate = |model: &Clip<B>,
                        samples_seen: u64,
                        files: &mut TrialFiles|
         -> Result<(), TrainError> {
            let m = model.valid();
            let inner_device = device.clone();
            let flops = records::train_flops(macs, samples_seen);
            let mut benchmark = Vec::new();
            for task in &eval_tasks {
                let mut results = Vec::new();
                if !task.loss_batches.is_empty() {
                    results.push((
                        "val_loss",
                        validation_loss(&m, &task.loss_batches, &inner_device),
                    ));
                }
                if !task.prompts.is_empty() && !task.labelled.is_empty() {
                    let zs = ZeroShotClassifier::new(&m, &task.prompts, ctx, &inner_device)
                        .evaluate(&m, &task.labelled, &inner_device);
                    results.extend([
                        ("acc1", zs.acc1),
                        ("acc5", zs.acc5),
                        ("mean_per_class_recall", zs.mean_per_class_recall),
                    ]);
                }
                for (metric, value) in &results {
                    records::append_jsonl(
                        &files.path(EVALS_FILE),
                        &EvalRecord {
                            schema_version: SCHEMA_VERSION,
                            trial_id: id.clone(),
                            samples_seen,
                            train_flops: flops,
                            dataset: task.name.clone(),
                            metric: (*metric).into(),
                            value: *value,
                        },
                    )?;
                }
                benchmark.push(serde_json::json!({
                    "dataset": task.name, "model": spec.model.name, "pretrained": id, "task": "zeroshot_classification",
                    "metrics": results.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
                    "samples_seen": samples_seen,
                }));
                let show: Vec<String> =
                    results.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
                files.log(&format!(
                    "eval {} at {samples_seen} samples ({} classes, loss batch {iv_b}): {}",
                    task.name,
                    task.prompts.len(),
                    show.join(", ")
                ));
            }
            if samples_seen == total && !benchmark.is_empty() {
                // the final results, also as CLIP_benchmark-style JSON
                records::write_json_atomic(&files.path("benchmark.json"), &benchmark)?;
            }
            Ok(())
        };

        if state.samples_seen == 0 {
            evaluate(&model, 0, &mut files)?;
        }
        // the wall time so far goes into the checkpoint with the rest of the loop state
        let save_checkpoint = |model: &Clip<B>,
                               optim: &ClipOptimizer<B>,
                               state: &mut LoopState|
         -> Result<PathBuf, checkpoint::CheckpointError> {
            state.wall_s = wall_before + started.elapsed().as_secs_f64();
            checkpoint::save(&dir, model, optim, state, spec.intervals.keep_checkpoints)
        };
        let mut last_checkpoint_step = if self.resume { state.step } else { u64::MAX };
        while state.samples_seen < total {
            if crate::signals::stop_requested() {
                if last_checkpoint_step != state.step {
                    save_checkpoint(&model, &optim, &mut state)?;
                }
                let signal = crate::signals::stop_signal();
                files.log(&format!(
                    "stopped by signal {signal} at step {} ({} samples); checkpoint written",
                    state.step, state.samples_seen
                ));
                bar.finish_and_clear();
                return Err(TrainError::Interrupted {
                    signal,
                    step: state.step,
                    samples_seen: state.samples_seen,
                });
            }
            let t_data = Instant::now();
            let host = match feed.next() {
                Some(Ok(fed)) => {
                    state.data_position = fed.position;
                    data_stats = fed.stats;
                    fed.batch
                }
                Some(Err(e)) => {
                    status = TrialStatus::Failed;
                    message = Some(format!("data: {e}"));
                    break;
                }
                None => {
                    status = TrialStatus::Failed;
                    message = Some("the data thread stopped early".into());
                    break;
                }
            };
            let data_s = t_data.elapsed().as_secs_f64();
            if injected_crash(&id, state.step) {
                eprintln!(
                    "{CRASH_AT_STEP_ENV}: aborting at step {} as asked",
                    state.step
                );
                std::process::abort();
            }
            let t_step = Instant::now();
            let lr = schedule.lr(state.samples_seen, batch as u64);
            let mut loss = crate::model::autocast(spec.optim.precision, || {
                model.loss(host.into_device::<B>(&device))
            });
            if nan_at == Some(state.step) {
                loss = loss * f64::NAN;
            }
            let value = to_vec(loss.clone().inner())[0] as f64;
            if !value.is_finite() {
                status = TrialStatus::Diverged;
                message = Some(format!(
                    "loss became {value} at step {} ({} samples seen)",
                    state.step, state.samples_seen
                ));
                last_loss = value;
                break;
            }
            let mut grads = GradientsParams::from_grads(loss.backward(), &model);
            if let Some(max_norm) = spec.optim.grad_clip_norm {
                clip_global_norm::<B, _>(&model, &mut grads, max_norm);
            }
            model = clamp_logit_scale(optim.step(lr, model, grads));
            let before = state.samples_seen;
            state.step += 1;
            state.samples_seen += batch as u64;
            last_loss = value;
            let step_s = t_step.elapsed().as_secs_f64();
            since_log = (since_log.0 + 1, since_log.1 + step_s, since_log.2 + data_s);
            bar.set_position(state.samples_seen);
            let done = state.samples_seen >= total;
            if crossed(before, state.samples_seen, spec.intervals.log_every_samples) || done {
                let (n, st, dt) = since_log;
                let step_mean = st / n as f64;
                let logit_scale = to_vec(model.logit_scale.val().inner())[0] as f64;
                let rec = MetricsRecord {
                    schema_version: SCHEMA_VERSION,
                    step: state.step,
                    samples_seen: state.samples_seen,
                    train_flops: records::train_flops(macs, state.samples_seen),
                    loss: value,
                    lr,
                    logit_scale,
                    step_s: step_mean,
                    data_s: dt / n as f64,
                    samples_per_s: batch as f64 / (step_mean + dt / n as f64),
                };
                records::append_jsonl(&files.path(METRICS_FILE), &rec)?;
                bar.set_message(format!(
                    "loss {value:.4} lr {lr:.2e} scale {:.1}",
                    logit_scale.exp().min(max_logit_scale().exp())
                ));
                files.log(&format!("step {} samples {} loss {value:.5} lr {lr:.3e} logit_scale {logit_scale:.4} {:.1} samples/s", state.step, state.samples_seen, rec.samples_per_s));
                since_log = (0, 0.0, 0.0);
            }
            if crossed(
                before,
                state.samples_seen,
                spec.intervals.eval_every_samples,
            ) || done
            {
                evaluate(&model, state.samples_seen, &mut files)?;
            }
            if crossed(
                before,
                state.samples_seen,
                spec.intervals.checkpoint_every_samples,
            ) || done
            {
                save_checkpoint(&model, &optim, &mut state)?;
                last_checkpoint_step = state.step;
            }
        }
        drop(feed);
        bar.finish_and_clear();
        // data accounting: distinct pairs in the data, how many were seen, epochs, skipped samples
        let data_record = serde_json::json!({
            "schema_version": SCHEMA_VERSION,
            "dataset": spec.data.name,
            "unique_pairs": source.unique_pairs(),
            "unique_seen": source.unique_seen(&state.data_position, state.samples_seen),
            "samples_seen": state.samples_seen,
            "epochs_seen": source.epochs_seen(&state.data_position),
            "position": state.data_position,
            "stream": data_stats,
        });
        records::write_json_atomic(&files.path("data.json"), &data_record)?;
        let wall_s = wall_before + started.elapsed().as_secs_f64();
        let final_record = FinalRecord {
            schema_version: SCHEMA_VERSION,
            trial_id: id.clone(),
            status,
            steps: state.step,
            samples_seen: state.samples_seen,
            train_flops: records::train_flops(macs, state.samples_seen),
            unique_samples: Some(source.unique_seen(&state.data_position, state.samples_seen)),
            final_loss: Some(last_loss),
            wall_s,
            message: message.clone(),
        };
        records::write_json_atomic(&files.path(FINAL_FILE), &final_record)?;
        files.log(&format!(
            "{status}: {} steps, {} samples, final loss {last_loss:.5}, {wall_s:.1} s{}",
            state.step,
            state.samples_seen,
            message.map(|m| format!(" ({m})")).unwrap_or_default()
        ));
        Ok(final_record)
    }
}
