//! Feeding the training loop: data sources that stream batches from a saved position (a sample
//! index for the synthetic scenes, an (epoch, offset) for WebDataset shards), and a prefetch
//! thread that prepares the next batches while the current step runs.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use clipscale_data::{
    ClipBpe, DataError, ShardSpec, StreamPosition, Synthetic, SyntheticConfig, Tokenizer,
    WebDataset, WordTokenizer,
};
use serde_json::{Value, json};

use crate::batch::HostBatch;
use clipscale_data::PairSource as _;

/// A tokenizer usable from the data thread.
pub type SharedTokenizer = Arc<dyn Tokenizer + Send + Sync>;

/// A batch with the stream position after it (what a checkpoint saves) and data statistics.
pub struct FedBatch {
    pub batch: HostBatch,
    pub position: Value,
    pub stats: Value,
}

/// A sequential stream of training batches.
pub trait BatchStream: Send {
    fn next_batch(&mut self, n: usize) -> Result<FedBatch, DataError>;
}

/// Image-caption pairs for training, as a stream that can restart from a saved position.
pub trait PairSource: Send + Sync {
    /// `from` is a position from an earlier [`FedBatch`], or null for the start.
    fn stream(&self, from: &Value) -> Result<Box<dyn BatchStream>, DataError>;
    /// Distinct training pairs (None: an endless stream of new ones).
    fn unique_pairs(&self) -> Option<u64>;
    /// Distinct pairs seen by a stream that stopped at `position` (None: unknown).
    fn unique_seen(&self, position: &Value, samples_seen: u64) -> u64;
    /// Epochs seen by then (None for an endless stream).
    fn epochs_seen(&self, position: &Value) -> Option<f64>;
}

fn tokenize(
    tokenizer: &dyn Tokenizer,
    images: Vec<f32>,
    captions: &[String],
    image_size: usize,
    context_length: usize,
) -> Result<HostBatch, DataError> {
    let (tokens, eot_pos) = tokenizer.encode_batch(captions, context_length)?;
    Ok(HostBatch {
        batch: captions.len(),
        image_size,
        context_length,
        images,
        tokens,
        eot_pos,
    })
}

/// The embedded synthetic scenes with the word tokenizer; position = the next sample index.
pub struct SyntheticSource {
    pub generator: Synthetic,
    pub tokenizer: Arc<WordTokenizer>,
    pub image_size: usize,
    pub context_length: usize,
}

impl SyntheticSource {
    pub fn new(seed: u64, image_size: usize, context_length: usize) -> Result<Self, DataError> {
        Ok(Self {
            generator: Synthetic::new(SyntheticConfig { seed, image_size })?,
            tokenizer: Arc::new(WordTokenizer::for_synthetic()),
            image_size,
            context_length,
        })
    }

    /// Tokenises captions into a host batch with the given images.
    pub fn host_batch(
        &self,
        images: Vec<f32>,
        captions: &[String],
    ) -> Result<HostBatch, DataError> {
        tokenize(
            self.tokenizer.as_ref(),
            images,
            captions,
            self.image_size,
            self.context_length,
        )
    }

    /// Training pairs [start, start + batch).
    pub fn train_batch(&self, start: u64, batch: usize) -> Result<HostBatch, DataError> {
        let mut images =
            clipscale_data::buffers::take_f32(batch * 3 * self.image_size * self.image_size);
        let mut captions = Vec::with_capacity(batch);
        self.generator
            .fill_batch(start, batch, &mut images, &mut captions);
        self.host_batch(images, &captions)
    }
}

struct SyntheticStream {
    source: Arc<SyntheticSource>,
    next: u64,
}

impl BatchStream for SyntheticStream {
    fn next_batch(&mut self, n: usize) -> Result<FedBatch, DataError> {
        let batch = self.source.train_batch(self.next, n)?;
        self.next += n as u64;
        Ok(FedBatch {
            batch,
            position: json!({ "index": self.next }),
            stats: Value::Null,
        })
    }
}

/// Shared handle so the stream can own the source.
pub struct SyntheticHandle(pub Arc<SyntheticSource>);

impl PairSource for SyntheticHandle {
    fn stream(&self, from: &Value) -> Result<Box<dyn BatchStream>, DataError> {
        let next = from.get("index").and_then(Value::as_u64).unwrap_or(0);
        Ok(Box::new(SyntheticStream {
            source: self.0.clone(),
            next,
        }))
    }
    fn unique_pairs(&self) -> Option<u64> {
        None
    }
    fn unique_seen(&self, _position: &Value, samples_seen: u64) -> u64 {
        samples_seen
    }
    fn epochs_seen(&self, _position: &Value) -> Option<f64> {
        None
    }
}

/// WebDataset shards (a prepared data set's training split, or any shards) with a tokenizer.
pub struct ShardSource {
    pub dataset: WebDataset,
    pub tokenizer: SharedTokenizer,
    pub image_size: usize,
    pub context_length: usize,
}

struct ShardStream {
    stream: clipscale_data::SampleStream,
    tokenizer: SharedTokenizer,
    image_size: usize,
    context_length: usize,
}

impl BatchStream for ShardStream {
    fn next_batch(&mut self, n: usize) -> Result<FedBatch, DataError> {
        let b = self.stream.next_batch(n)?;
        let position = serde_json::to_value(b.position_after).expect("plain struct");
        let stats = serde_json::to_value(self.stream.stats()).unwrap_or(Value::Null);
        Ok(FedBatch {
            batch: tokenize(
                self.tokenizer.as_ref(),
                b.images,
                &b.captions,
                self.image_size,
                self.context_length,
            )?,
            position,
            stats,
        })
    }
}

impl PairSource for ShardSource {
    fn stream(&self, from: &Value) -> Result<Box<dyn BatchStream>, DataError> {
        let pos: StreamPosition =
            serde_json::from_value(from.clone()).unwrap_or(StreamPosition::START);
        Ok(Box::new(ShardStream {
            stream: self.dataset.stream_from(pos)?,
            tokenizer: self.tokenizer.clone(),
            image_size: self.image_size,
            context_length: self.context_length,
        }))
    }
    fn unique_pairs(&self) -> Option<u64> {
        Some(self.dataset.unique_samples())
    }
    fn unique_seen(&self, position: &Value, samples_seen: u64) -> u64 {
        serde_json::from_value::<StreamPosition>(position.clone())
            .map(|p| self.dataset.stats().unique_seen(p))
            .unwrap_or(samples_seen)
    }
    fn epochs_seen(&self, position: &Value) -> Option<f64> {
        serde_json::from_value::<StreamPosition>(position.clone())
            .ok()
            .map(|p| self.dataset.stats().epochs_seen(p))
    }
}

/// The training split's shard pattern of a prepared data set (manifest.json), as a full path.
pub fn split_pattern(dir: &Path, split: &str) -> Result<String, DataError> {
    let manifest = dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).map_err(|e| DataError::io(&manifest, &e))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| DataError::Format {
        path: manifest.display().to_string(),
        detail: e.to_string(),
    })?;
    if v["splits"][split]["pattern"].as_str().is_none()
        && let Some(shards) = v["splits"][split]["shards"]
            .as_array()
            .filter(|a| !a.is_empty())
    {
        let all: Vec<String> = shards
            .iter()
            .filter_map(Value::as_str)
            .map(|s| dir.join(s).display().to_string())
            .collect();
        return Ok(all.join("::"));
    }
    let pattern = v["splits"][split]["pattern"]
        .as_str()
        .ok_or_else(|| DataError::Format {
            path: manifest.display().to_string(),
            detail: format!(
                "no split {split:?}; splits: {}",
                v["splits"]
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            ),
        })?;
    Ok(dir.join(pattern).display().to_string())
}

/// A tokenizer by name: `clip-bpe` (OpenAI's 49,408 tokens), `bpe-N` (trained on the training
/// split's captions, cached beside the data as tokenizer-bpe-N.txt), `word-synthetic`.
pub fn tokenizer_for(
    name: &str,
    train_pattern: Option<&str>,
    cache_dir: Option<&Path>,
) -> Result<SharedTokenizer, String> {
    match name {
        "word-synthetic" => Ok(Arc::new(WordTokenizer::for_synthetic())),
        "clip-bpe" => ClipBpe::openai()
            .map(|t| Arc::new(t) as SharedTokenizer)
            .map_err(|e| e.to_string()),
        other => {
            let n: usize = other
                .strip_prefix("bpe-")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("unknown tokenizer {other:?}; available: clip-bpe, bpe-N (e.g. bpe-1024, trained on the training captions), word-synthetic"))?;
            let cache = cache_dir.map(|d| d.join(format!("tokenizer-bpe-{n}.txt")));
            if let Some(c) = cache.as_ref().filter(|c| c.exists()) {
                return ClipBpe::load(c)
                    .map(|t| Arc::new(t) as SharedTokenizer)
                    .map_err(|e| e.to_string());
            }
            let pattern =
                train_pattern.ok_or("a trained BPE needs training captions (a shard data set)")?;
            let read = clipscale_data::shard_captions(pattern).map_err(|e| e.to_string())?;
            for w in &read.warnings {
                eprintln!("warning: training the {other} tokenizer: {w}");
            }
            let bpe =
                clipscale_data::train_bpe(read.captions.iter(), n).map_err(|e| e.to_string())?;
            if let Some(c) = cache {
                let _ = bpe.save(&c); // a read-only data folder only costs a retrain next time
            }
            Ok(Arc::new(bpe))
        }
    }
}

/// Opens a shard data set for training, decoding on `threads` threads (`None`: the default,
/// all cores up to 32).
pub fn open_shards(
    pattern: &str,
    seed: u64,
    image_size: usize,
    context_length: usize,
    tokenizer: SharedTokenizer,
    threads: Option<usize>,
) -> Result<ShardSource, DataError> {
    let mut spec = ShardSpec::new(pattern, image_size);
    spec.seed = seed;
    if let Some(t) = threads {
        spec.threads = t;
    }
    Ok(ShardSource {
        dataset: WebDataset::open(spec)?,
        tokenizer,
        image_size,
        context_length,
    })
}

/// Prepares batches on a thread, `depth` ahead, starting from a saved position.
pub struct Prefetcher {
    rx: Receiver<Result<FedBatch, DataError>>,
    handle: Option<JoinHandle<()>>,
}

impl Prefetcher {
    pub fn start(
        source: Arc<dyn PairSource>,
        from: Value,
        batch: usize,
        batches: u64,
        depth: usize,
    ) -> Self {
        let (tx, rx) = sync_channel(depth.max(1));
        let handle = std::thread::Builder::new()
            .name("clipscale-data".into())
            .spawn(move || {
                let mut stream = match source.stream(&from) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                for _ in 0..batches {
                    if tx.send(stream.next_batch(batch)).is_err() {
                        return; // the trainer stopped
                    }
                }
            })
            .expect("spawn the data thread");
        Self {
            rx,
            handle: Some(handle),
        }
    }

    /// The next batch, or None when the planned batches are done or the thread died.
    pub fn next(&self) -> Option<Result<FedBatch, DataError>> {
        self.rx.recv().ok()
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        // Unblock the producer: dropping the receiver makes its send fail.
        let (_, rx) = sync_channel(1);
        drop(std::mem::replace(&mut self.rx, rx));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Resolves a data set name, its folder or shard pattern and a tokenizer name into the trial's
/// data spec, with the vocabulary size the tokenizer really has. Errors say what to run.
pub fn resolve_data(
    name: &str,
    path: Option<&str>,
    tokenizer: Option<&str>,
    seed: u64,
) -> Result<crate::train::DataSpec, String> {
    let spec = |path: Option<String>, tok: String, vocab: usize| crate::train::DataSpec {
        name: name.to_string(),
        seed,
        tokenizer: tok,
        vocab_size: vocab,
        path,
    };
    match name {
        "synthetic" => {
            let tok = tokenizer.unwrap_or("word-synthetic");
            if tok != "word-synthetic" {
                return Err(format!(
                    "tokenizer {tok:?}: the synthetic scenes use word-synthetic"
                ));
            }
            Ok(spec(
                None,
                tok.into(),
                WordTokenizer::for_synthetic().vocab_size(),
            ))
        }
        "emoji" => {
            let dir = path.unwrap_or("data/emoji");
            let root = Path::new(dir);
            if !root.join("manifest.json").is_file() {
                return Err(format!(
                    "data set emoji: {dir}/manifest.json not found; prepare it first with `clipscale data prepare emoji --out {dir}` (or set data_dir / --data-dir)"
                ));
            }
            let train = split_pattern(root, "train").map_err(|e| e.to_string())?;
            let tok = tokenizer.unwrap_or("bpe-1024");
            let t = tokenizer_for(tok, Some(&train), Some(root))?;
            Ok(spec(Some(dir.to_string()), tok.into(), t.vocab_size()))
        }
        "wds" => {
            let pattern = path.ok_or("data set wds needs a shard pattern (data_dir / --data-dir), e.g. shards/{00000..00127}.tar")?;
            let tok = tokenizer.unwrap_or("bpe-1024");
            let t = tokenizer_for(tok, Some(pattern), None)?;
            Ok(spec(Some(pattern.to_string()), tok.into(), t.vocab_size()))
        }
        other => Err(format!(
            "unknown data set {other:?}; available: synthetic, emoji (a folder from `clipscale data prepare emoji`), wds (WebDataset shards)"
        )),
    }
}
