//! Feeding the training loop: a trial's [`DataSpec`] opened into a [`TrainingData`] (the
//! synthetic scenes, or WebDataset shards with a tokenizer) whose streams restart from a saved
//! [`DataPosition`], and a [`Prefetcher`] thread that prepares the next batches while the current
//! step runs. Also the data set and tokenizer resolution that a trial's settings go through.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use clipscale_analysis::records::DataPosition;
use clipscale_data::PairSource as _;
use clipscale_data::pool::curate::{Resources, open_subset_with};
use clipscale_data::pool::{Curation, Pool};
use clipscale_data::{
    ClipBpe, DataError, KeyFilter, ShardSpec, StreamPosition, StreamStats, Synthetic,
    SyntheticConfig, Tokenizer, WebDataset, WordTokenizer,
};
use thiserror::Error;

use crate::batch::HostBatch;
use crate::train::spec::{DataSpec, Dataset, TokenizerName};

/// A tokenizer usable from the data thread.
pub type SharedTokenizer = Arc<dyn Tokenizer + Send + Sync>;

/// Why a trial's data set or tokenizer cannot be used.
#[derive(Debug, Error)]
pub enum DataSetupError {
    #[error(
        "data set emoji: {dir}/manifest.json not found; prepare it first with `clipscale data prepare emoji --out {dir}` (or set data_dir / --data-dir)"
    )]
    NotPrepared { dir: String },
    #[error("tokenizer {tokenizer}: the synthetic scenes use word-synthetic")]
    WrongTokenizer { tokenizer: TokenizerName },
    #[error(
        "tokenizer {tokenizer} is trained on the training captions, and this data set has none to give (use it with emoji or wds)"
    )]
    NoCaptions { tokenizer: TokenizerName },
    #[error(transparent)]
    Data(#[from] DataError),
}

/// A batch with the stream position after it (what a checkpoint saves) and the stream's
/// statistics so far (shard and CSV streams only).
pub struct FedBatch {
    pub batch: HostBatch,
    pub position: DataPosition,
    pub stats: Option<StreamStats>,
}

/// A sequential stream of training batches.
pub trait BatchStream: Send {
    fn next_batch(&mut self, n: usize) -> Result<FedBatch, DataError>;
}

/// Image-caption pairs for training, as streams that can restart from a saved position.
pub trait TrainingData: Send + Sync {
    /// A stream from `from` (a position from an earlier [`FedBatch`]; `None` for the start).
    fn stream(&self, from: Option<DataPosition>) -> Result<Box<dyn BatchStream>, DataError>;
    /// Distinct training pairs (`None`: an endless stream of new ones).
    fn unique_pairs(&self) -> Option<u64>;
    /// Distinct pairs seen by a stream that stopped at `position`.
    fn unique_seen(&self, position: Option<DataPosition>, samples_seen: u64) -> u64;
    /// Passes over the data by then (`None` for an endless stream).
    fn epochs_seen(&self, position: Option<DataPosition>) -> Option<f64>;
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

/// The embedded synthetic scenes with the word tokenizer.
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
            position: DataPosition::Index { index: self.next },
            stats: None,
        })
    }
}

/// The synthetic scenes as training data: an endless stream whose position is the next index.
pub struct SyntheticData(pub Arc<SyntheticSource>);

impl TrainingData for SyntheticData {
    fn stream(&self, from: Option<DataPosition>) -> Result<Box<dyn BatchStream>, DataError> {
        let next = match from {
            Some(DataPosition::Index { index }) => index,
            Some(other) => return Err(bad_position(other, "a sample index")),
            None => 0,
        };
        Ok(Box::new(SyntheticStream {
            source: self.0.clone(),
            next,
        }))
    }
    fn unique_pairs(&self) -> Option<u64> {
        None
    }
    fn unique_seen(&self, _position: Option<DataPosition>, samples_seen: u64) -> u64 {
        samples_seen
    }
    fn epochs_seen(&self, _position: Option<DataPosition>) -> Option<f64> {
        None
    }
}

fn bad_position(found: DataPosition, expected: &str) -> DataError {
    DataError::Format {
        path: "the checkpoint's data position".into(),
        detail: format!(
            "{found:?} does not belong to this data set, which resumes from {expected}; the checkpoint is another trial's"
        ),
    }
}

/// WebDataset shards (a prepared data set's training split, or any shards) with a tokenizer.
pub struct ShardSource {
    pub dataset: WebDataset,
    pub tokenizer: SharedTokenizer,
    pub image_size: usize,
    pub context_length: usize,
}

impl ShardSource {
    fn position(from: Option<DataPosition>) -> Result<StreamPosition, DataError> {
        match from {
            Some(DataPosition::Epoch {
                epoch,
                consumed_in_epoch,
            }) => Ok(StreamPosition::new(epoch, consumed_in_epoch)),
            Some(other) => Err(bad_position(other, "an epoch and an offset")),
            None => Ok(StreamPosition::START),
        }
    }
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
        let StreamPosition {
            epoch,
            consumed_in_epoch,
        } = b.position_after;
        Ok(FedBatch {
            batch: tokenize(
                self.tokenizer.as_ref(),
                b.images,
                &b.captions,
                self.image_size,
                self.context_length,
            )?,
            position: DataPosition::Epoch {
                epoch,
                consumed_in_epoch,
            },
            stats: Some(self.stream.stats().clone()),
        })
    }
}

impl TrainingData for ShardSource {
    fn stream(&self, from: Option<DataPosition>) -> Result<Box<dyn BatchStream>, DataError> {
        Ok(Box::new(ShardStream {
            stream: self.dataset.stream_from(Self::position(from)?)?,
            tokenizer: self.tokenizer.clone(),
            image_size: self.image_size,
            context_length: self.context_length,
        }))
    }
    fn unique_pairs(&self) -> Option<u64> {
        Some(self.dataset.unique_samples())
    }
    fn unique_seen(&self, position: Option<DataPosition>, samples_seen: u64) -> u64 {
        Self::position(position)
            .map(|p| self.dataset.stats().unique_seen(p))
            .unwrap_or(samples_seen)
    }
    fn epochs_seen(&self, position: Option<DataPosition>) -> Option<f64> {
        Self::position(position)
            .ok()
            .map(|p| self.dataset.stats().epochs_seen(p))
    }
}

/// The shard pattern of a prepared data set's split (from its manifest.json), as a full path.
pub fn split_pattern(dir: &Path, split: &str) -> Result<String, DataError> {
    let manifest = clipscale_data::prepare::Manifest::load(dir)?;
    let info = manifest
        .splits
        .get(split)
        .ok_or_else(|| DataError::Format {
            path: dir.join("manifest.json").display().to_string(),
            detail: format!(
                "no split {split:?}; splits: {}",
                manifest
                    .splits
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
    if info.pattern.is_empty() {
        // manifests written before the pattern was recorded list the shards one by one
        let all: Vec<String> = info
            .shards
            .iter()
            .map(|s| dir.join(s).display().to_string())
            .collect();
        return Ok(all.join("::"));
    }
    Ok(dir.join(&info.pattern).display().to_string())
}

/// The tokenizer `name`: `clip-bpe` (OpenAI's), `word-synthetic`, or `bpe-N` trained on the
/// training captions of `shards` (cached as `<prefix>tokenizer-bpe-N.txt` when the shards have
/// a cache prefix, so later runs load it).
pub fn tokenizer_for(
    name: TokenizerName,
    shards: Option<&ShardPlan>,
) -> Result<SharedTokenizer, DataSetupError> {
    match name {
        TokenizerName::WordSynthetic => Ok(Arc::new(WordTokenizer::for_synthetic())),
        TokenizerName::ClipBpe => Ok(Arc::new(ClipBpe::openai()?)),
        TokenizerName::Bpe(n) => {
            let shards = shards.ok_or(DataSetupError::NoCaptions { tokenizer: name })?;
            let cache = shards.tokenizer_cache.as_ref().map(|prefix| {
                let mut name = prefix.as_os_str().to_owned();
                name.push(format!("tokenizer-bpe-{n}.txt"));
                std::path::PathBuf::from(name)
            });
            if let Some(c) = cache.as_ref().filter(|c| c.exists()) {
                return Ok(Arc::new(ClipBpe::load(c)?));
            }
            let captions = match &shards.captions {
                Some(captions) => captions.clone(),
                None => {
                    let read = clipscale_data::shard_captions(&shards.pattern)?;
                    for w in &read.warnings {
                        eprintln!("warning: training the {name} tokenizer: {w}");
                    }
                    read.captions
                }
            };
            let bpe = clipscale_data::train_bpe(captions.iter(), n)?;
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
    shards: &ShardPlan,
    seed: u64,
    image_size: usize,
    context_length: usize,
    tokenizer: SharedTokenizer,
    threads: Option<usize>,
) -> Result<ShardSource, DataError> {
    let mut spec = ShardSpec::new(&shards.pattern, image_size);
    spec.seed = seed;
    if let Some(t) = threads {
        spec.threads = t;
    }
    Ok(ShardSource {
        dataset: WebDataset::open_filtered(spec, shards.filter.clone())?,
        tokenizer,
        image_size,
        context_length,
    })
}

/// A trial's data as the trainer and the evaluator use it.
pub struct OpenedData {
    pub train: Arc<dyn TrainingData>,
    pub tokenizer: SharedTokenizer,
    /// The synthetic scenes' source, whose held-out split is the synthetic evaluation set.
    pub synthetic: Option<Arc<SyntheticSource>>,
}

/// Where a data set that reads shards gets its training pairs.
#[derive(Clone, Default)]
pub struct ShardPlan {
    /// The shard pattern.
    pub pattern: String,
    /// The samples read (a pool's curated subset); all when `None`.
    pub filter: Option<Arc<KeyFilter>>,
    /// The training captions when known without reading the shards (a pool's index).
    pub captions: Option<Vec<String>>,
    /// Where a tokenizer trained on the captions is cached: a path prefix
    /// (`<folder>/` or `<pool>/subsets/<subset>.`).
    pub tokenizer_cache: Option<std::path::PathBuf>,
    /// What curation made (a line for the run's log), if any.
    pub note: Option<String>,
}

impl ShardPlan {
    /// All the shards of `pattern`.
    pub fn all(pattern: &str) -> Self {
        Self {
            pattern: pattern.to_owned(),
            ..Self::default()
        }
    }
}

/// The pool at `dir` as training data: all of it, or the subset of `curation` (made now, or
/// the one already made, checked against the pool).
fn pool_plan(dir: &str, curation: Option<&Curation>) -> Result<ShardPlan, DataError> {
    let pool = Pool::open(Path::new(dir))?;
    let pattern = pool.pattern()?;
    let Some(curation) = curation else {
        return Ok(ShardPlan {
            captions: Some(
                pool.entries
                    .iter()
                    .map(|e| e.caption.trim().to_owned())
                    .collect(),
            ),
            tokenizer_cache: Some(Path::new(dir).join("")),
            ..ShardPlan::all(&pattern)
        });
    };
    // DFN's filter scores on the CPU here; `clipscale data curate --device` scores elsewhere
    let scorer = crate::eval::score::TrialScorer {
        device: crate::backend::DeviceSpec::Cpu,
        batch: 256,
        quiet: false,
    };
    let resources = Resources {
        scorer: Some(&scorer),
        ..Resources::default()
    };
    let (subset, path, made) = open_subset_with(&pool, curation, &resources)?;
    let note = format!(
        "{} subset {} of {} pairs ({})",
        if made { "made" } else { "reused" },
        subset.after.pairs,
        subset.before.pairs,
        path.display()
    );
    let (filter, captions) = subset.training_view(&pool)?;
    let stem = path.with_extension("");
    let mut prefix = stem.into_os_string();
    prefix.push(".");
    Ok(ShardPlan {
        pattern,
        filter: Some(filter),
        captions: Some(captions),
        tokenizer_cache: Some(prefix.into()),
        note: Some(note),
    })
}

impl DataSpec {
    /// The training shards of a data set that reads shards (`None` for the synthetic scenes).
    pub fn shard_plan(&self) -> Result<Option<ShardPlan>, DataError> {
        Ok(match &self.dataset {
            Dataset::Synthetic => None,
            Dataset::Emoji { dir } => Some(ShardPlan {
                tokenizer_cache: Some(Path::new(dir).join("")),
                ..ShardPlan::all(&split_pattern(Path::new(dir), "train")?)
            }),
            Dataset::Wds { pattern } => Some(ShardPlan::all(pattern)),
            Dataset::Pool { dir } => Some(pool_plan(dir, self.curation.as_ref())?),
        })
    }

    /// The tokenizer the trial trains with.
    pub fn open_tokenizer(&self) -> Result<SharedTokenizer, DataSetupError> {
        tokenizer_for(self.tokenizer, self.shard_plan()?.as_ref())
    }

    /// Opens the training data for a model of `image_size` pixels and `context_length` tokens.
    pub fn open(
        &self,
        image_size: usize,
        context_length: usize,
    ) -> Result<OpenedData, DataSetupError> {
        let plan = self.shard_plan()?;
        if let Some(note) = plan.as_ref().and_then(|p| p.note.as_ref()) {
            eprintln!("data: {note}");
        }
        let tokenizer = tokenizer_for(self.tokenizer, plan.as_ref())?;
        Ok(match plan {
            None => {
                let s = Arc::new(SyntheticSource::new(self.seed, image_size, context_length)?);
                OpenedData {
                    train: Arc::new(SyntheticData(s.clone())),
                    tokenizer,
                    synthetic: Some(s),
                }
            }
            Some(plan) => OpenedData {
                train: Arc::new(open_shards(
                    &plan,
                    self.seed,
                    image_size,
                    context_length,
                    tokenizer.clone(),
                    None,
                )?),
                tokenizer,
                synthetic: None,
            },
        })
    }
}

/// Prepares batches on a thread, `depth` ahead, starting from a saved position.
pub struct Prefetcher {
    rx: Receiver<Result<FedBatch, DataError>>,
    handle: Option<JoinHandle<()>>,
}

impl Prefetcher {
    pub fn start(
        source: Arc<dyn TrainingData>,
        from: Option<DataPosition>,
        batch: usize,
        batches: u64,
        depth: usize,
    ) -> Self {
        let (tx, rx) = sync_channel(depth.max(1));
        let handle = std::thread::Builder::new()
            .name("clipscale-data".into())
            .spawn(move || {
                let mut stream = match source.stream(from) {
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

/// A trial's data spec: `dataset` read with `tokenizer` (whose real vocabulary size sets the
/// model's), after checking that the two go together and that a prepared folder is there.
pub fn resolve_data(
    dataset: Dataset,
    tokenizer: TokenizerName,
    seed: u64,
    curation: Option<Curation>,
) -> Result<DataSpec, DataSetupError> {
    match &dataset {
        Dataset::Synthetic if tokenizer != TokenizerName::WordSynthetic => {
            return Err(DataSetupError::WrongTokenizer { tokenizer });
        }
        Dataset::Emoji { dir } if !Path::new(dir).join("manifest.json").is_file() => {
            return Err(DataSetupError::NotPrepared { dir: dir.clone() });
        }
        _ => {}
    }
    let spec = DataSpec {
        dataset,
        seed,
        tokenizer,
        vocab_size: 0,
        curation,
    };
    let vocab_size = spec.open_tokenizer()?.vocab_size();
    Ok(DataSpec { vocab_size, ..spec })
}
