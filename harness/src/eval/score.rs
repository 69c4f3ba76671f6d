//! DFN's filter network: a trial's model (its newest checkpoint) scores every pair of a pool by
//! the cosine similarity of its image and caption embeddings (Fang et al. 2023: the filter is
//! itself a CLIP, trained on a small high-quality set). Scores are cached per (filter trial,
//! pool) as `<pool>/scores/<trial id>.f32` (little-endian f32, pool order) beside a JSON
//! sidecar naming the pool, the checkpoint (its folder and a hash of its weights) and the time
//! it took, so that sweeping the kept fraction scores the pool once; a cache made from another
//! pool or other weights (a filter trial trained again) is recomputed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use clipscale_analysis::trial::TrialDir;
use clipscale_data::pool::Pool;
use clipscale_data::pool::curate::PairScorer;
use clipscale_data::{DataError, PairSource, ShardSpec, StreamPosition, WebDataset};
use serde::{Deserialize, Serialize};

use crate::backend::{BackendInfo, BackendTask, DeviceSpec, dispatch};
use crate::batch::HostBatch;
use crate::train::TrialSpec;
use crate::train::checkpoint::load_model;
use crate::train::data::SharedTokenizer;

/// What a score cache was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreCache {
    pub pool_id: String,
    pub trial_id: String,
    /// The checkpoint folder's name.
    pub checkpoint: String,
    /// FNV-1a of the checkpoint's model file: a filter trained again under the same id and
    /// step gets new scores.
    #[serde(default)]
    pub model_hash: String,
    pub pairs: usize,
    pub seconds: f64,
    pub device: String,
}

/// Scores pools with trials' models on one device.
pub struct TrialScorer {
    pub device: DeviceSpec,
    /// Pairs per forward pass.
    pub batch: usize,
    pub quiet: bool,
}

fn bad(filter: &str, detail: impl Into<String>) -> DataError {
    DataError::Format {
        path: filter.to_owned(),
        detail: detail.into(),
    }
}

impl TrialScorer {
    fn cache_paths(pool: &Pool, trial_id: &str) -> (PathBuf, PathBuf) {
        let dir = pool.dir.join("scores");
        (
            dir.join(format!("{trial_id}.f32")),
            dir.join(format!("{trial_id}.json")),
        )
    }

    fn cached(bin: &Path, meta: &Path, want: &ScoreCache) -> Option<Vec<f32>> {
        let found: ScoreCache = serde_json::from_slice(&std::fs::read(meta).ok()?).ok()?;
        let same = found.pool_id == want.pool_id
            && found.trial_id == want.trial_id
            && found.checkpoint == want.checkpoint
            && found.model_hash == want.model_hash
            && found.pairs == want.pairs;
        if !same {
            return None;
        }
        let bytes = std::fs::read(bin).ok()?;
        (bytes.len() == 4 * want.pairs).then(|| {
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
    }
}

impl PairScorer for TrialScorer {
    fn scores(&self, pool: &Pool, filter: &str) -> Result<Vec<f32>, DataError> {
        let trial = TrialDir::new(filter);
        let spec: TrialSpec = trial.read_spec().map_err(|e| {
            bad(
                filter,
                format!("the dfn filter must be a trial folder with a spec.json: {e}"),
            )
        })?;
        let checkpoint = trial.latest_checkpoint().ok_or_else(|| {
            bad(
                filter,
                "the filter trial has no checkpoint yet: train it first (`clipscale train ... --out DIR`)",
            )
        })?;
        let mut want = ScoreCache {
            pool_id: pool.id.clone(),
            trial_id: spec.head.trial_id.clone(),
            checkpoint: checkpoint
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            model_hash: std::fs::read(checkpoint.model_stem().with_extension("mpk"))
                .map(|b| format!("{:016x}", clipscale_core::rng::fnv1a(&b)))
                .map_err(|e| bad(filter, format!("reading the filter's model: {e}")))?,
            pairs: pool.entries.len(),
            seconds: 0.0,
            device: self.device.to_string(),
        };
        let (bin, meta) = Self::cache_paths(pool, &spec.head.trial_id);
        if let Some(scores) = Self::cached(&bin, &meta, &want) {
            if !self.quiet {
                eprintln!("dfn: scores of {filter} from {}", bin.display());
            }
            return Ok(scores);
        }
        let started = Instant::now();
        let tokenizer = spec
            .data
            .open_tokenizer()
            .map_err(|e| bad(filter, format!("the filter trial's tokenizer: {e}")))?;
        let index: HashMap<String, usize> = pool
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.key.clone(), i))
            .collect();
        let task = ScorePool {
            spec,
            trial,
            pattern: pool.pattern()?,
            index: Arc::new(index),
            tokenizer,
            batch: self.batch.max(1),
            quiet: self.quiet,
        };
        let scores = dispatch(self.device, task).map_err(|e| bad(filter, e.to_string()))??;
        want.seconds = started.elapsed().as_secs_f64();
        let bytes: Vec<u8> = scores.iter().flat_map(|s| s.to_le_bytes()).collect();
        let dir = pool.dir.join("scores");
        std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, &e))?;
        clipscale_core::fs::write_atomic(&bin, &bytes)
            .map_err(|e| DataError::io(&e.path, &e.source))?;
        let json = serde_json::to_vec_pretty(&want).unwrap_or_default();
        clipscale_core::fs::write_atomic(&meta, &json)
            .map_err(|e| DataError::io(&e.path, &e.source))?;
        if !self.quiet {
            eprintln!(
                "dfn: scored {} pairs with {filter} in {:.1} s ({})",
                scores.len(),
                want.seconds,
                bin.display()
            );
        }
        Ok(scores)
    }
}

/// Every pair of a pool's shards through one model.
struct ScorePool {
    spec: TrialSpec,
    trial: TrialDir,
    pattern: String,
    index: Arc<HashMap<String, usize>>,
    tokenizer: SharedTokenizer,
    batch: usize,
    quiet: bool,
}

impl BackendTask for ScorePool {
    type Output = Result<Vec<f32>, DataError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, _info: BackendInfo) -> Self::Output {
        let filter = self.trial.path().display().to_string();
        let dir = self
            .trial
            .latest_checkpoint()
            .ok_or_else(|| bad(&filter, "no checkpoint"))?;
        let model = self
            .spec
            .init_model::<B>(&device)
            .map_err(|e| bad(&filter, e.to_string()))?;
        let model = load_model(&dir, model, &device)
            .map_err(|e| bad(&filter, e.to_string()))?
            .valid();
        let (size, ctx) = (
            self.spec.model.vision.image_size,
            self.spec.model.text.context_length,
        );
        let data = WebDataset::open(ShardSpec::eval(&self.pattern, size))?;
        let mut stream = data.stream_from(StreamPosition::START)?.with_end_epoch(1);
        let n = self.index.len();
        let mut scores = vec![f32::NAN; n];
        let bar = if self.quiet {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(n as u64)
        };
        loop {
            let b = stream.next_batch(self.batch)?;
            if b.captions.is_empty() {
                break;
            }
            let (tokens, eot_pos) = self.tokenizer.encode_batch(&b.captions, ctx)?;
            let host = HostBatch {
                batch: b.captions.len(),
                image_size: size,
                context_length: ctx,
                images: b.images,
                tokens,
                eot_pos,
            };
            let batch = host.into_device::<B::InnerBackend>(&device);
            let image = model.encode_image(batch.images);
            let text = model.encode_text(batch.tokens, batch.eot_pos);
            let cos: Vec<f32> = (image * text)
                .sum_dim(1)
                .into_data()
                .convert::<f32>()
                .to_vec()
                .map_err(|e| bad(&filter, format!("{e:?}")))?;
            for (key, s) in b.keys.iter().zip(cos) {
                if let Some(&i) = self.index.get(key) {
                    scores[i] = s;
                }
            }
            bar.inc(b.captions.len() as u64);
        }
        bar.finish_and_clear();
        let missing = scores.iter().filter(|s| s.is_nan()).count();
        if missing > 0 {
            return Err(bad(
                &self.pattern,
                format!("{missing} pairs of the pool's index were not found in its shards"),
            ));
        }
        Ok(scores)
    }
}
