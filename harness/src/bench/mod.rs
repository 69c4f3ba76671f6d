//! Benchmarks: timing of training steps on the embedded synthetic data (or WebDataset shards),
//! peak memory, the peak-FLOPs table used for MFU, and the `bench train` run ([`train`]) with its
//! open_clip side by side ([`peer`]).

pub mod peer;
pub mod train;

use std::sync::Arc;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;

use crate::backend::{BackendInfo, BackendTask};
use crate::flops::counts;
use crate::model::{ClipBatch, ClipConfig, Precision};
use crate::train::data::{
    Prefetcher, ShardPlan, SyntheticData, SyntheticSource, TrainingData, open_shards, tokenizer_for,
};
use crate::train::spec::TokenizerName;
use crate::train::{StepSettings, Trainer};

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Option(String),
    #[error("`{command}`: {message}")]
    Command { command: String, message: String },
    #[error(transparent)]
    Device(#[from] crate::backend::DeviceError),
    #[error(transparent)]
    Model(#[from] crate::model::LadderError),
    #[error("timing the step: {0}")]
    Step(String),
}

/// The median (the upper one of an even count); NaN for none.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Peak dense FLOP/s by device name (datasheet figures unless noted). Devices not listed get no
/// MFU: a guessed peak would make the figure meaningless.
pub const PEAK_FLOPS: &[(&str, &str, f64)] = &[
    ("NVIDIA H200", "bf16 dense, datasheet", 989e12),
    ("NVIDIA H200", "bf16 dense, measured matmul ceiling", 790e12),
    ("NVIDIA H100 80GB HBM3", "bf16 dense, datasheet", 989e12),
    ("NVIDIA A100-SXM4-80GB", "bf16 dense, datasheet", 312e12),
    ("NVIDIA A100-SXM4-40GB", "bf16 dense, datasheet", 312e12),
];

pub fn peak_flops(device_name: &str) -> Vec<(&'static str, f64)> {
    PEAK_FLOPS
        .iter()
        .filter(|(d, _, _)| *d == device_name)
        .map(|(_, what, v)| (*what, *v))
        .collect()
}

/// Peak resident memory of this process so far, in MiB (Linux VmHWM).
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Figures of one timed run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepTiming {
    pub model: String,
    pub batch: usize,
    pub params: u64,
    pub samples_per_s: f64,
    pub step_s_median: f64,
    pub step_s_min: f64,
    pub step_s_max: f64,
    pub train_flop_per_s: f64,
    pub data_wait_share: f64,
    /// Share of step time spent making the batch's device tensors on the host thread (zero
    /// with a pool, which is uploaded once, before timing).
    pub upload_share: f64,
    pub peak_rss_mib: Option<f64>,
    /// Compute precision of the step.
    pub precision: Precision,
    /// Where the batches came from: `synthetic` (rendered as the steps run), `synthetic-pool`
    /// (cycled, rendered beforehand) or `shards, N decoding threads`.
    pub data: String,
}

/// WebDataset shards streamed through the decoding pipeline.
#[derive(Debug, Clone)]
pub struct ShardFeed {
    /// Brace pattern of the shards.
    pub pattern: String,
    /// Decoding threads.
    pub threads: usize,
}

/// Warm-up, then timed training steps ([`Trainer::step`], the step training runs) with their
/// data wait and upload.
pub struct TimeSteps {
    pub model: ClipConfig,
    pub batch: usize,
    pub warmup: usize,
    pub steps: usize,
    pub precision: Precision,
    /// Cycle this many batches rendered before timing (as the open_clip peer does) instead of
    /// streaming fresh ones from the prefetching data thread.
    pub data_pool: Option<usize>,
    /// Stream from shards instead of the synthetic scenes (excludes `data_pool`).
    pub shards: Option<ShardFeed>,
}

impl BackendTask for TimeSteps {
    type Output = Result<StepTiming, String>;
    fn run<B: AutodiffBackend>(self, device: B::Device, info: BackendInfo) -> Self::Output {
        self.precision
            .check_supported::<B>(&device, &info)
            .map_err(|e| e.to_string())?;
        let image_size = self.model.vision.image_size;
        let context_length = self.model.text.context_length;
        let total = (self.warmup + self.steps) as u64;
        let mut pool = Vec::new();
        let (source, vocab, data): (Arc<dyn TrainingData>, usize, String) = match &self.shards {
            Some(feed) => {
                if self.data_pool.is_some() {
                    return Err("a data pool and shards exclude each other".into());
                }
                // the synthetic runs' tokenizer, so that the model (its token embedding) is
                // the same as theirs; the benchmark captions mean nothing anyway
                let tokenizer =
                    tokenizer_for(TokenizerName::WordSynthetic, None).map_err(|e| e.to_string())?;
                let vocab = tokenizer.vocab_size();
                let shards = open_shards(
                    &ShardPlan::all(&feed.pattern),
                    0,
                    image_size,
                    context_length,
                    tokenizer,
                    Some(feed.threads),
                )
                .map_err(|e| e.to_string())?;
                let data = format!("shards, {} decoding threads", feed.threads);
                (Arc::new(shards), vocab, data)
            }
            None => {
                let source = Arc::new(
                    SyntheticSource::new(0, image_size, context_length)
                        .map_err(|e| e.to_string())?,
                );
                if let Some(n) = self.data_pool {
                    pool = (0..n.max(1) as u64)
                        .map(|i| source.train_batch(i * self.batch as u64, self.batch))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| e.to_string())?;
                }
                let vocab = source.tokenizer.vocab_size();
                let data = if pool.is_empty() {
                    "synthetic"
                } else {
                    "synthetic-pool"
                };
                (Arc::new(SyntheticData(source)), vocab, data.into())
            }
        };
        let cfg = self.model.clone().with_vocab_size(vocab);
        let settings = StepSettings {
            precision: self.precision,
            ..StepSettings::default()
        };
        let model = cfg.init::<B>(0, &device).map_err(|e| e.to_string())?;
        let mut trainer = Trainer::new(model, settings);
        let feed = Prefetcher::start(
            source,
            None,
            self.batch,
            if pool.is_empty() { total } else { 0 },
            3,
        );
        // The pool lives on the device, as the peer's does: cycling it costs no upload.
        let pool: Vec<ClipBatch<B>> = pool.into_iter().map(|h| h.into_device(&device)).collect();
        let mut step_times = Vec::new();
        let (mut wait, mut upload) = (0.0, 0.0);
        for i in 0..total {
            let t0 = Instant::now();
            let fed = if pool.is_empty() {
                Some(
                    feed.next()
                        .ok_or("the data thread stopped")?
                        .map_err(|e| e.to_string())?
                        .batch,
                )
            } else {
                None
            };
            let waited = t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            // a fed batch moves into the tensors as in training (no host copy)
            let batch = match fed {
                Some(host) => host.into_device::<B>(&device),
                None => pool[i as usize % pool.len()].clone(),
            };
            let uploaded = t1.elapsed().as_secs_f64();
            trainer
                .step(batch, 1e-4)
                .map_err(|d| format!("the benchmark's loss became {} at step {i}", d.loss))?;
            let _ = trainer.logit_scale(); // wait for the device
            if i as usize >= self.warmup {
                step_times.push(t0.elapsed().as_secs_f64());
                wait += waited;
                upload += uploaded;
            }
        }
        let total_s: f64 = step_times.iter().sum();
        let mut sorted = step_times.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let c = counts(&cfg);
        Ok(StepTiming {
            model: cfg.name.clone(),
            batch: self.batch,
            params: c.params,
            samples_per_s: self.batch as f64 / median,
            step_s_median: median,
            step_s_min: sorted[0],
            step_s_max: sorted[sorted.len() - 1],
            train_flop_per_s: c.train_flops_per_sample() * self.batch as f64 / median,
            data_wait_share: wait / total_s,
            upload_share: upload / total_s,
            peak_rss_mib: peak_rss_mib(),
            precision: self.precision,
            data,
        })
    }
}
