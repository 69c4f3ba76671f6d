//! The training run of one trial, read top to bottom in [`train`]: the trial folder's spec in,
//! its records out (metrics, evaluations, checkpoints, the data accounting, the final record).
//! The pieces it calls are named beside it: the step ([`Trainer`]), the data
//! ([`DataSpec::open`](crate::train::spec::DataSpec)), the evaluations ([`Evaluator`]),
//! checkpoints ([`checkpoint`]) and the test faults ([`Faults`]).

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use clipscale_analysis::records::{
    BenchmarkResult, Branching, CheckpointState, DataRecord, FinalRecord, MetricsRecord,
    SCHEMA_VERSION, TrialStatus, train_flops,
};
use clipscale_analysis::trial::TrialDir;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use thiserror::Error;

use crate::backend::{BackendInfo, BackendTask};
use crate::eval::engine::{EvalJob, record_results, run_jobs, training_jobs};
use crate::eval::sets::SetShape;
use crate::model::clip::max_logit_scale;
use crate::train::checkpoint::{self, CheckpointError};
use crate::train::data::{DataSetupError, Prefetcher, SharedTokenizer, TrainingData};
use crate::train::faults::Faults;
use crate::train::schedule::Schedule;
use crate::train::spec::TrialSpec;
use crate::train::trainer::{Diverged, StepSettings, Trainer};

#[derive(Debug, Error)]
pub enum TrainError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Records(#[from] clipscale_analysis::AnalysisError),
    #[error("data: {0}")]
    Data(#[from] clipscale_data::DataError),
    #[error("data: {0}")]
    DataSetup(#[from] DataSetupError),
    #[error("model: {0}")]
    Model(#[from] crate::model::ConfigError),
    #[error(transparent)]
    Precision(#[from] crate::model::PrecisionError),
    #[error(transparent)]
    Branch(#[from] crate::train::branch::BranchError),
    #[error(transparent)]
    Init(#[from] crate::train::spec::InitError),
    #[error(
        "stopped by signal {signal} at step {step} ({samples_seen} samples seen); checkpoint written, the trial resumes from it"
    )]
    Interrupted {
        signal: i32,
        step: u64,
        samples_seen: u64,
    },
}

/// One trial, run from its folder (which holds its `spec.json`) on whichever backend
/// [`crate::backend::dispatch`] picks.
pub struct TrainTask {
    pub trial: TrialDir,
    /// Continue from the newest checkpoint (a fresh start when there is none).
    pub resume: bool,
    pub progress: bool,
}

impl BackendTask for TrainTask {
    type Output = Result<FinalRecord, TrainError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, info: BackendInfo) -> Self::Output {
        train::<B>(&self, &device, &info)
    }
}

/// What the trial's evaluation sets hold.
fn eval_shape(spec: &TrialSpec) -> SetShape {
    SetShape {
        image_size: spec.model.vision.image_size,
        context_length: spec.model.text.context_length,
        samples: spec.intervals.eval_samples,
        batch: spec.intervals.eval_batch_size,
        klite_prompts: spec.intervals.klite_prompts,
    }
}

/// The training run.
fn train<B: AutodiffBackend>(
    task: &TrainTask,
    device: &B::Device,
    backend: &BackendInfo,
) -> Result<FinalRecord, TrainError> {
    let trial = &task.trial;
    let spec: TrialSpec = trial.read_spec()?;
    let (batch, total) = (spec.head.batch_size as u64, spec.head.samples);
    let iv = &spec.intervals;
    let data = spec
        .data
        .open(spec.model.vision.image_size, spec.model.text.context_length)?;
    let shape = eval_shape(&spec);
    let evaluator = Evaluator {
        jobs: training_jobs(&spec.data, &data, shape, &spec.intervals.eval_sets)?,
        tokenizer: data.tokenizer.clone(),
        shape,
    };
    let (mut state, mut trainer, began) =
        start_or_resume::<B>(trial, &spec, task.resume, device, backend)?;
    if began {
        // where the trial really runs (the executor that wrote the spec may be another host)
        let mut ran = spec.clone();
        ran.head.provenance = crate::provenance::collect(backend);
        trial.write_spec(&ran)?;
    }
    let schedule = Schedule {
        peak_lr: spec.optim.lr,
        warmup_samples: spec.optim.warmup_samples,
        total_samples: total,
        shape: spec.optim.schedule,
    };
    // a trunk checkpoints at its branch points and keeps those checkpoints; it writes no
    // records at its end that the branches' own runs would not write there
    let (pinned, trunk) = (spec.pinned_steps(), spec.head.is_trunk());
    let faults = Faults::from_env(&spec.head.trial_id);
    let bar = progress_bar(&spec, task.progress, state.samples_seen);
    let feed = Prefetcher::start(
        data.train.clone(),
        state.data_position,
        batch as usize,
        (total - state.samples_seen) / batch,
        3,
    );
    let started = Instant::now();
    let wall_before = state.wall_s;
    let mut window = LogWindow::default();
    let mut stream_stats = None;
    let mut last_loss = f64::NAN;
    let mut ending = (TrialStatus::Done, None);
    let mut checkpointed_at = task.resume.then_some(state.step);
    if state.samples_seen == 0 {
        evaluator.evaluate(trial, &spec, trainer.model(), 0, device)?;
    }
    while state.samples_seen < total {
        if crate::signals::stop_requested() {
            bar.finish_and_clear();
            if checkpointed_at != Some(state.step) {
                state.wall_s = wall_before + started.elapsed().as_secs_f64();
                checkpoint::save(trial, &trainer, &state, iv.keep_checkpoints, &pinned)?;
            }
            return Err(stopped_by_signal(trial, &state));
        }
        // the next batch, from the data thread
        let waited = Instant::now();
        let fed = match feed.next() {
            Some(Ok(fed)) => fed,
            Some(Err(e)) => {
                ending = (TrialStatus::Failed, Some(format!("data: {e}")));
                break;
            }
            None => {
                ending = (
                    TrialStatus::Failed,
                    Some("the data thread stopped early".into()),
                );
                break;
            }
        };
        state.data_position = Some(fed.position);
        stream_stats = fed.stats;
        let mut host = fed.batch;
        faults.before_step(state.step, &mut host);
        let data_s = waited.elapsed().as_secs_f64();
        // one step
        let stepped = Instant::now();
        let lr = schedule.lr(state.samples_seen, batch);
        match trainer.step(host.into_device::<B>(device), lr) {
            Ok(loss) => last_loss = loss,
            Err(Diverged { loss }) => {
                last_loss = loss;
                let at = format!("step {} ({} samples seen)", state.step, state.samples_seen);
                ending = (
                    TrialStatus::Diverged,
                    Some(format!("loss became {loss} at {at}")),
                );
                break;
            }
        }
        let before = state.samples_seen;
        state.step += 1;
        state.samples_seen += batch;
        window.add(stepped.elapsed().as_secs_f64(), data_s);
        bar.set_position(state.samples_seen);
        // records, evaluations and checkpoints at their intervals, and all three at the end
        let end = state.samples_seen >= total;
        let due = |every: u64| before / every != state.samples_seen / every || (end && !trunk);
        if due(iv.log_every_samples) {
            let head = (trainer.logit_scale(), trainer.logit_bias());
            let rec = window.record(&spec, &state, last_loss, lr, head);
            trial.append_metrics(&rec)?;
            let scale = rec.logit_scale.exp().min(max_logit_scale().exp());
            bar.set_message(format!("loss {last_loss:.4} lr {lr:.2e} scale {scale:.1}"));
            trial.log(&step_line(&rec));
        }
        if due(iv.eval_every_samples) {
            evaluator.evaluate(trial, &spec, trainer.model(), state.samples_seen, device)?;
        }
        if due(iv.checkpoint_every_samples) || end || pinned.contains(&state.step) {
            state.wall_s = wall_before + started.elapsed().as_secs_f64();
            checkpoint::save(trial, &trainer, &state, iv.keep_checkpoints, &pinned)?;
            checkpointed_at = Some(state.step);
        }
    }
    drop(feed);
    bar.finish_and_clear();
    log_loss_scale(trial, &trainer);
    trial.write_data(&data_record(
        &spec,
        data.train.as_ref(),
        &state,
        stream_stats,
    ))?;
    let (status, message) = ending;
    let final_record = FinalRecord {
        schema_version: SCHEMA_VERSION,
        trial_id: spec.head.trial_id.clone(),
        status,
        steps: state.step,
        samples_seen: state.samples_seen,
        train_flops: train_flops(
            spec.head.model_summary.fwd_macs_per_pair,
            state.samples_seen,
        ),
        unique_samples: Some(
            data.train
                .unique_seen(state.data_position, state.samples_seen),
        ),
        final_loss: Some(last_loss),
        wall_s: wall_before + started.elapsed().as_secs_f64(),
        message,
    };
    trial.write_final(&final_record)?;
    trial.log(&final_line(&final_record));
    Ok(final_record)
}

/// In f16, the loss scale and the steps it skipped, in the trial's log.
fn log_loss_scale<B: AutodiffBackend>(trial: &TrialDir, trainer: &Trainer<B>) {
    if let Some(ls) = trainer.loss_scale() {
        trial.log(&format!(
            "f16 loss scale {} at the end; {} steps skipped for overflowing gradients",
            ls.scale, ls.skipped_steps
        ));
    }
}

/// The error a stop signal ends the run with (its checkpoint written), logged.
fn stopped_by_signal(trial: &TrialDir, state: &CheckpointState) -> TrainError {
    let signal = crate::signals::stop_signal();
    trial.log(&format!(
        "stopped by signal {signal} at step {} ({} samples); checkpoint written",
        state.step, state.samples_seen
    ));
    TrainError::Interrupted {
        signal,
        step: state.step,
        samples_seen: state.samples_seen,
    }
}

/// The log's last line: how the trial ended.
fn final_line(f: &FinalRecord) -> String {
    format!(
        "{}: {} steps, {} samples, final loss {}, {:.1} s{}",
        f.status,
        f.steps,
        f.samples_seen,
        f.final_loss
            .map_or_else(|| "-".into(), |l| format!("{l:.5}")),
        f.wall_s,
        f.message
            .as_deref()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default()
    )
}

/// A fresh model and optimiser, or (with `resume`) those of the newest checkpoint with the
/// records trimmed to what it had written. A fresh start keeps no records of an earlier one; a
/// branch starts from its trunk's checkpoint at its branch point. The flag says whether the
/// trial began here (a fresh start or a new branch) rather than resumed.
fn start_or_resume<B: AutodiffBackend>(
    trial: &TrialDir,
    spec: &TrialSpec,
    resume: bool,
    device: &B::Device,
    backend: &BackendInfo,
) -> Result<(CheckpointState, Trainer<B>, bool), TrainError> {
    // a precision the device lacks is refused before anything is written
    spec.optim.precision.check_supported::<B>(device, backend)?;
    let settings = StepSettings {
        adamw: spec.optim.adamw,
        grad_clip_norm: spec.optim.grad_clip_norm,
        precision: spec.optim.precision,
    };
    let model = spec.init_model::<B>(device)?;
    if resume
        && let Some((state, trainer)) =
            checkpoint::restore_latest(trial, model.clone(), settings, device)?
    {
        trial.keep_records_upto(state.step, state.samples_seen)?;
        trial.log(&format!(
            "resumed from step {} ({} samples seen)",
            state.step, state.samples_seen
        ));
        return Ok((state, trainer, false));
    }
    if let Some(Branching::Branch {
        trunk,
        from_samples,
    }) = &spec.head.branching
    {
        crate::train::branch::seed_from_trunk(trial, spec, trunk, *from_samples)?;
        let (state, trainer) = checkpoint::restore_latest(trial, model, settings, device)?
            .ok_or_else(|| CheckpointError::Io {
                path: trial.checkpoints_path(),
                message: "the checkpoint copied from the trunk cannot be found".into(),
            })?;
        return Ok((state, trainer, true));
    }
    trial.clear_records()?;
    trial.log(&format!(
        "training {}: {} on {} samples, batch {}",
        spec.head.trial_id, spec.model.name, spec.head.samples, spec.head.batch_size
    ));
    if let Some(init) = &spec.init {
        trial.log(&format!("starting from {} ({})", init.file, init.sha256));
    }
    let model = spec.load_init(model, device)?;
    let fresh = CheckpointState {
        schema_version: SCHEMA_VERSION,
        step: 0,
        samples_seen: 0,
        wall_s: 0.0,
        data_position: None,
    };
    Ok((fresh, Trainer::new(model, settings), true))
}

/// The trial's held-out evaluations, built once, run at each evaluation point.
struct Evaluator {
    jobs: Vec<EvalJob>,
    tokenizer: SharedTokenizer,
    shape: SetShape,
}

impl Evaluator {
    /// Evaluates the model after `samples_seen` pairs, appends the records, and at the end of
    /// the trial writes them as CLIP_benchmark-style results too.
    fn evaluate<B: AutodiffBackend>(
        &self,
        trial: &TrialDir,
        spec: &TrialSpec,
        model: &crate::model::Clip<B>,
        samples_seen: u64,
        device: &B::Device,
    ) -> Result<(), TrainError> {
        if self.jobs.is_empty() {
            return Ok(());
        }
        let results = run_jobs(
            &model.valid(),
            &self.jobs,
            self.tokenizer.as_ref(),
            self.shape,
            device,
        )?;
        let benchmark: Vec<BenchmarkResult> = record_results(trial, spec, samples_seen, &results)?;
        for r in &results {
            let shown: Vec<String> = r
                .metrics
                .iter()
                .map(|(k, v)| format!("{k} {v:.4}"))
                .collect();
            trial.log(&format!(
                "eval {} at {samples_seen} samples (loss batch {}): {}",
                r.dataset,
                self.shape.batch,
                shown.join(", ")
            ));
        }
        if samples_seen == spec.head.samples {
            trial.write_benchmark(&benchmark)?;
        }
        Ok(())
    }
}

/// Step and data-wait times since the last metrics record.
#[derive(Default)]
struct LogWindow {
    steps: u32,
    step_s: f64,
    data_s: f64,
}

impl LogWindow {
    fn add(&mut self, step_s: f64, data_s: f64) {
        self.steps += 1;
        self.step_s += step_s;
        self.data_s += data_s;
    }

    /// The metrics record after the window's last step; the window starts again.
    fn record(
        &mut self,
        spec: &TrialSpec,
        state: &CheckpointState,
        loss: f64,
        lr: f64,
        (logit_scale, logit_bias): (f64, Option<f64>),
    ) -> MetricsRecord {
        let n = f64::from(self.steps.max(1));
        let (step_s, data_s) = (self.step_s / n, self.data_s / n);
        *self = Self::default();
        MetricsRecord {
            schema_version: SCHEMA_VERSION,
            step: state.step,
            samples_seen: state.samples_seen,
            train_flops: train_flops(
                spec.head.model_summary.fwd_macs_per_pair,
                state.samples_seen,
            ),
            loss,
            lr,
            logit_scale,
            logit_bias,
            step_s,
            data_s,
            samples_per_s: spec.head.batch_size as f64 / (step_s + data_s),
        }
    }
}

/// A metrics record as `train.log` has it.
fn step_line(rec: &MetricsRecord) -> String {
    let bias = rec
        .logit_bias
        .map(|b| format!(" logit_bias {b:.4}"))
        .unwrap_or_default();
    format!(
        "step {} samples {} loss {:.5} lr {:.3e} logit_scale {:.4}{bias} {:.1} samples/s",
        rec.step, rec.samples_seen, rec.loss, rec.lr, rec.logit_scale, rec.samples_per_s
    )
}

/// What the trial saw of its data: distinct pairs, epochs, skips, where the stream stopped.
fn data_record(
    spec: &TrialSpec,
    train: &dyn TrainingData,
    state: &CheckpointState,
    stream: Option<clipscale_data::StreamStats>,
) -> DataRecord<clipscale_data::StreamStats> {
    DataRecord {
        schema_version: SCHEMA_VERSION,
        dataset: spec.data.dataset.name().to_string(),
        unique_pairs: train.unique_pairs(),
        unique_seen: train.unique_seen(state.data_position, state.samples_seen),
        samples_seen: state.samples_seen,
        epochs_seen: train.epochs_seen(state.data_position),
        position: state.data_position,
        stream,
    }
}

/// The trial's progress bar (hidden unless asked for).
fn progress_bar(spec: &TrialSpec, shown: bool, position: u64) -> ProgressBar {
    let bar = ProgressBar::new(spec.head.samples);
    if !shown {
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
    bar.set_position(position);
    bar
}
