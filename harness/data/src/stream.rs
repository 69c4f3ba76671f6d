//! The sample stream shared by the webdataset and CSV sources: a deterministic, multi-threaded,
//! resumable stream of decoded image-text pairs.
//!
//! # Pipeline
//!
//! One producer thread walks the source epoch after epoch (a source lists an epoch's pairs
//! in a fixed order for `(seed, epoch)`: shards in a shuffled order, or CSV rows permuted),
//! passes them through a shuffle buffer driven by a SplitMix64 stream keyed by
//! `(seed, epoch)`, and numbers what comes out: item `i` of epoch `e` is the pair at
//! [`StreamPosition`] `(e, i)`. Items go to `threads` worker threads that decode and transform
//! the image (the random crop is keyed by `(seed, e, i)`); the consumer puts the results back
//! in sequence order through a reorder buffer. At most `prefetch` items are in flight (read,
//! queued, decoding, or decoded and waiting), so memory stays bounded while the workers keep
//! ahead of training. Thread timing therefore changes nothing: the same source, seed and
//! start position give the same samples, crops and batches.
//!
//! # Positions and resuming
//!
//! `StreamPosition { epoch, consumed_in_epoch }` counts the items of the epoch the consumer
//! has passed, including items whose image failed to decode (they are skipped, but they are
//! part of the order). [`Batch::position_after`] is the position after the batch's last item;
//! a stream started at that position continues with exactly the samples the original stream
//! would have produced next. Restoring costs re-reading the current epoch up to the position:
//! the producer replays the epoch's order (reading the shards, not decoding images) and drops
//! the first `consumed_in_epoch` items. A position past the end of its epoch continues with
//! the next epoch.
//!
//! # Epochs
//!
//! The stream never ends by itself: when an epoch's items run out the next epoch starts, with
//! a new shard order and shuffle, and batches run across the boundary ([`SampleStream::with_end_epoch`]
//! makes a stream stop at an epoch boundary, e.g. for a single evaluation pass). An epoch in
//! which no pair is usable ends the stream with [`DataError::NoUsableSamples`] rather than
//! spinning.
//!
//! # Accounting
//!
//! Skipped pairs are counted by [`SkipReason`] in [`StreamStats`]; problems found while
//! reading (a sample without caption, a truncated shard) are attached to the next item in
//! sequence order, so the counts are deterministic too, and a resumed stream counts exactly
//! what the original stream would have counted after the resume point (the two add up).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::rng::{Rng, sample_key};
use crate::transform::{Transform, decode_rgb};

/// RNG stream ids (mixed with the seed) for the different random choices.
pub(crate) const STREAM_SHARD_ORDER: u64 = 0x0053_4841_5244;
pub(crate) const STREAM_SAMPLE_BUFFER: u64 = 0x4255_4646;
pub(crate) const STREAM_CROP: u64 = 0x4352_4f50;
pub(crate) const STREAM_ROW_ORDER: u64 = 0x524f_5753;

/// How many skip messages a stream or a data set keeps as examples.
pub const MAX_SKIP_EXAMPLES: usize = 32;

/// Where a stream is: the epoch, and how many items of that epoch have been passed (delivered
/// or skipped). Serialisable for checkpoints.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct StreamPosition {
    pub epoch: u64,
    pub consumed_in_epoch: u64,
}

impl StreamPosition {
    /// The start of the data: epoch 0, nothing consumed.
    pub const START: StreamPosition = StreamPosition {
        epoch: 0,
        consumed_in_epoch: 0,
    };

    /// The position `(epoch, consumed_in_epoch)`.
    pub fn new(epoch: u64, consumed_in_epoch: u64) -> Self {
        Self {
            epoch,
            consumed_in_epoch,
        }
    }
}

/// Why a pair was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// No image member (webdataset) or an empty image path (CSV).
    MissingImage,
    /// No caption member (webdataset) or no caption field (CSV).
    MissingCaption,
    /// A caption that is empty or not UTF-8.
    BadCaption,
    /// Image bytes that do not decode (corrupt, unknown format, too large).
    CorruptImage,
    /// An image file that cannot be read (CSV: missing file, permissions).
    UnreadableImage,
    /// A CSV row that cannot be parsed.
    BadRow,
}

impl SkipReason {
    /// The snake_case name used in records.
    pub fn name(self) -> &'static str {
        match self {
            SkipReason::MissingImage => "missing_image",
            SkipReason::MissingCaption => "missing_caption",
            SkipReason::BadCaption => "bad_caption",
            SkipReason::CorruptImage => "corrupt_image",
            SkipReason::UnreadableImage => "unreadable_image",
            SkipReason::BadRow => "bad_row",
        }
    }
}

/// Skipped pairs by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SkipCounts {
    pub missing_image: u64,
    pub missing_caption: u64,
    pub bad_caption: u64,
    pub corrupt_image: u64,
    pub unreadable_image: u64,
    pub bad_row: u64,
}

impl SkipCounts {
    /// Counts one skip.
    pub fn add(&mut self, reason: SkipReason) {
        *self.get_mut(reason) += 1;
    }

    /// Adds all of `other`'s counts.
    pub fn merge(&mut self, other: &SkipCounts) {
        self.missing_image += other.missing_image;
        self.missing_caption += other.missing_caption;
        self.bad_caption += other.bad_caption;
        self.corrupt_image += other.corrupt_image;
        self.unreadable_image += other.unreadable_image;
        self.bad_row += other.bad_row;
    }

    /// The count for `reason`.
    pub fn get(&self, reason: SkipReason) -> u64 {
        let mut copy = *self;
        *copy.get_mut(reason)
    }

    fn get_mut(&mut self, reason: SkipReason) -> &mut u64 {
        match reason {
            SkipReason::MissingImage => &mut self.missing_image,
            SkipReason::MissingCaption => &mut self.missing_caption,
            SkipReason::BadCaption => &mut self.bad_caption,
            SkipReason::CorruptImage => &mut self.corrupt_image,
            SkipReason::UnreadableImage => &mut self.unreadable_image,
            SkipReason::BadRow => &mut self.bad_row,
        }
    }

    /// All skips.
    pub fn total(&self) -> u64 {
        self.missing_image
            + self.missing_caption
            + self.bad_caption
            + self.corrupt_image
            + self.unreadable_image
            + self.bad_row
    }
}

/// One decoded pair.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedSample {
    /// The sample's key (webdataset key, or the CSV image path as written).
    pub key: String,
    pub caption: String,
    /// The raw `.json` member, when the shard has one.
    pub json: Option<String>,
    /// CHW, `3 * size * size`, CLIP-normalised.
    pub image: Vec<f32>,
    /// This sample's position: `(epoch, index in the epoch)`.
    pub position: StreamPosition,
}

/// A batch of decoded pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `len * 3 * image_size * image_size` values, row-major `[n, 3, h, w]`, CLIP-normalised.
    pub images: Vec<f32>,
    pub captions: Vec<String>,
    pub keys: Vec<String>,
    pub image_size: usize,
    /// The position after the batch's last item: save it to resume after this batch.
    pub position_after: StreamPosition,
}

impl Batch {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.captions.len()
    }

    /// True when the batch holds no pair (only at the end of a stream with an end epoch).
    pub fn is_empty(&self) -> bool {
        self.captions.is_empty()
    }
}

/// What a stream has seen since it started.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StreamStats {
    /// Where the stream started.
    pub start: StreamPosition,
    /// The current position.
    pub position: StreamPosition,
    /// Pairs delivered.
    pub delivered: u64,
    /// Epoch boundaries passed.
    pub epochs_completed: u64,
    /// Pairs delivered per epoch, `(epoch, delivered)`, oldest first.
    pub delivered_per_epoch: Vec<(u64, u64)>,
    /// Skipped pairs by reason.
    pub skipped: SkipCounts,
    /// The first skip messages (each names the file or tar member and the reason).
    pub skip_examples: Vec<String>,
    /// Shard-level problems (missing or truncated shards), each once.
    pub warnings: Vec<String>,
}

/// What a data source holds, found when opening it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DataStats {
    /// The pattern or CSV path.
    pub source: String,
    /// Shards named by the pattern (0 for CSV).
    pub shards: usize,
    /// Shards that could be opened (including truncated ones).
    pub shards_readable: usize,
    /// Usable image-text pairs in one epoch: the unique samples.
    pub unique_samples: u64,
    /// Pairs skipped in one epoch, by reason (corrupt images are only found when decoding).
    pub skipped: SkipCounts,
    /// The first skip messages.
    pub skip_examples: Vec<String>,
    /// Missing, unreadable and truncated shards.
    pub warnings: Vec<String>,
}

impl DataStats {
    /// Distinct pairs seen by training that started at the beginning (possibly resumed since)
    /// and is now at `position`: every pair once the first epoch is complete. Items whose image
    /// failed to decode count as seen (they are part of the epoch's order).
    pub fn unique_seen(&self, position: StreamPosition) -> u64 {
        if position.epoch > 0 {
            self.unique_samples
        } else {
            position.consumed_in_epoch.min(self.unique_samples)
        }
    }

    /// Passes over the data at `position`, fractional (`epoch + consumed / unique`).
    pub fn epochs_seen(&self, position: StreamPosition) -> f64 {
        if self.unique_samples == 0 {
            return position.epoch as f64;
        }
        position.epoch as f64
            + position.consumed_in_epoch.min(self.unique_samples) as f64
                / self.unique_samples as f64
    }
}

/// What the training loop needs from a data source: streams and the open-time counts.
/// Implemented by [`crate::WebDataset`] and [`crate::CsvDataset`].
pub trait PairSource: Send + Sync {
    /// A stream starting at `position` ([`StreamPosition::START`] for a fresh start).
    fn stream_from(&self, position: StreamPosition) -> Result<SampleStream, DataError>;
    /// What opening found: unique pairs, per-epoch skips, warnings.
    fn stats(&self) -> &DataStats;
}

/// The image of one item before decoding.
pub(crate) enum ImageData {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// One pair as a source lists it.
pub(crate) struct RawItem {
    pub key: String,
    /// Where the image comes from, for messages (`shard.tar:member` or a file path).
    pub label: String,
    pub image: ImageData,
    pub caption: String,
    pub json: Option<String>,
}

/// What a source reports while listing an epoch.
pub(crate) enum Event {
    Item(RawItem),
    Skip { reason: SkipReason, message: String },
    Warning(String),
}

/// A data source the stream can walk.
pub(crate) trait EpochSource: Send + Sync + 'static {
    /// Lists epoch `epoch`'s pairs in order, calling `sink` for each event; stops early when
    /// `sink` returns false.
    fn for_each_event(&self, epoch: u64, sink: &mut dyn FnMut(Event) -> bool);
    /// A name for messages.
    fn name(&self) -> String;
}

/// Stream settings.
#[derive(Debug, Clone)]
pub(crate) struct StreamConfig {
    pub seed: u64,
    pub threads: usize,
    pub prefetch: usize,
    pub shuffle_buffer: usize,
    pub transform: Transform,
}

/// Problems attached to an item (found while reading, before it in sequence order).
#[derive(Default)]
struct Extra {
    skipped: Vec<(SkipReason, String)>,
    warnings: Vec<String>,
}

struct Work {
    seq: u64,
    epoch: u64,
    index: u64,
    item: RawItem,
    extra: Extra,
}

enum Payload {
    Sample {
        epoch: u64,
        index: u64,
        key: String,
        caption: String,
        json: Option<String>,
        image: Result<Vec<f32>, (SkipReason, String)>,
        extra: Extra,
    },
    EpochEnd {
        epoch: u64,
        extra: Extra,
    },
    Fatal(DataError),
}

struct Done {
    seq: u64,
    payload: Payload,
}

/// A deterministic, resumable stream of decoded pairs (see the module documentation).
/// Iterating yields `Result<DecodedSample, DataError>`; after an error the stream ends.
pub struct SampleStream {
    source_name: String,
    image_size: usize,
    results: Option<Receiver<Done>>,
    credits: Option<Receiver<()>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    reorder: BTreeMap<u64, Payload>,
    next_seq: u64,
    stats: StreamStats,
    warnings_seen: BTreeSet<String>,
    /// Delivered in the current epoch, and whether this stream saw the epoch from its start.
    epoch_delivered: u64,
    epoch_from_start: bool,
    end_epoch: Option<u64>,
    finished: bool,
}

impl SampleStream {
    pub(crate) fn start(
        source: Arc<dyn EpochSource>,
        cfg: StreamConfig,
        position: StreamPosition,
    ) -> Result<Self, DataError> {
        if cfg.threads == 0 {
            return Err(DataError::InvalidOption {
                name: "threads",
                value: "0".into(),
                valid: "1 or more decoding threads",
            });
        }
        let source_name = source.name();
        let image_size = cfg.transform.size;
        let prefetch = cfg.prefetch.max(cfg.threads).max(1);
        let stop = Arc::new(AtomicBool::new(false));
        let (credit_tx, credit_rx) = mpsc::sync_channel::<()>(prefetch);
        let (work_tx, work_rx) = mpsc::channel::<Work>();
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let work_rx = Arc::new(Mutex::new(work_rx));
        let mut threads = Vec::with_capacity(cfg.threads + 1);
        for t in 0..cfg.threads {
            let (rx, tx, transform, seed) = (
                Arc::clone(&work_rx),
                done_tx.clone(),
                cfg.transform,
                cfg.seed,
            );
            let handle = std::thread::Builder::new()
                .name(format!("clipscale-decode-{t}"))
                .spawn(move || worker(&rx, &tx, transform, seed))
                .map_err(|e| DataError::StreamClosed {
                    source_name: source_name.clone(),
                    detail: format!("cannot start a decoding thread: {e}"),
                })?;
            threads.push(handle);
        }
        let producer_stop = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("clipscale-read".into())
            .spawn(move || {
                Producer {
                    credits: credit_tx,
                    work: work_tx,
                    done: done_tx,
                    stop: producer_stop,
                    seq: 0,
                    index: 0,
                    skip: 0,
                    epoch: 0,
                    extra: Extra::default(),
                }
                .run(source.as_ref(), &cfg, position)
            })
            .map_err(|e| DataError::StreamClosed {
                source_name: source_name.clone(),
                detail: format!("cannot start the reading thread: {e}"),
            })?;
        threads.push(handle);
        Ok(Self {
            source_name,
            image_size,
            results: Some(done_rx),
            credits: Some(credit_rx),
            stop,
            threads,
            reorder: BTreeMap::new(),
            next_seq: 0,
            stats: StreamStats {
                start: position,
                position,
                ..StreamStats::default()
            },
            warnings_seen: BTreeSet::new(),
            epoch_delivered: 0,
            epoch_from_start: position.consumed_in_epoch == 0,
            end_epoch: None,
            finished: false,
        })
    }

    /// Makes the stream end when it reaches the start of epoch `end` (exclusive): after that
    /// the iterator returns `None` and batches come back short or empty.
    pub fn with_end_epoch(mut self, end: u64) -> Self {
        self.end_epoch = Some(end);
        self
    }

    /// The position after the last item passed.
    pub fn position(&self) -> StreamPosition {
        self.stats.position
    }

    /// Output image side length.
    pub fn image_size(&self) -> usize {
        self.image_size
    }

    /// Counts since the stream started.
    pub fn stats(&self) -> &StreamStats {
        &self.stats
    }

    /// The next `n` decoded pairs as one batch. Batches run across epoch boundaries; the batch
    /// is shorter than `n` only when the stream has an end epoch and reached it.
    pub fn next_batch(&mut self, n: usize) -> Result<Batch, DataError> {
        let len = 3 * self.image_size * self.image_size;
        let mut batch = Batch {
            images: Vec::with_capacity(n * len),
            captions: Vec::with_capacity(n),
            keys: Vec::with_capacity(n),
            image_size: self.image_size,
            position_after: self.stats.position,
        };
        while batch.captions.len() < n {
            match self.next_sample()? {
                Some(s) => {
                    batch.images.extend_from_slice(&s.image);
                    batch.captions.push(s.caption);
                    batch.keys.push(s.key);
                }
                None => break,
            }
        }
        batch.position_after = self.stats.position;
        Ok(batch)
    }

    /// The next decoded pair; `Ok(None)` only at the end epoch or after an error.
    pub fn next_sample(&mut self) -> Result<Option<DecodedSample>, DataError> {
        loop {
            if self.finished {
                return Ok(None);
            }
            if self
                .end_epoch
                .is_some_and(|end| self.stats.position.epoch >= end)
            {
                self.finished = true;
                return Ok(None);
            }
            let payload = match self.next_payload() {
                Ok(p) => p,
                Err(e) => {
                    self.finished = true;
                    return Err(e);
                }
            };
            match payload {
                Payload::Sample {
                    epoch,
                    index,
                    key,
                    caption,
                    json,
                    image,
                    extra,
                } => {
                    self.absorb(extra);
                    let position = StreamPosition::new(epoch, index);
                    self.stats.position = StreamPosition::new(epoch, index + 1);
                    match image {
                        Ok(image) => {
                            self.stats.delivered += 1;
                            self.epoch_delivered += 1;
                            match self.stats.delivered_per_epoch.last_mut() {
                                Some((e, n)) if *e == epoch => *n += 1,
                                _ => self.stats.delivered_per_epoch.push((epoch, 1)),
                            }
                            return Ok(Some(DecodedSample {
                                key,
                                caption,
                                json,
                                image,
                                position,
                            }));
                        }
                        Err((reason, message)) => self.count_skip(reason, message),
                    }
                }
                Payload::EpochEnd { epoch, extra } => {
                    self.absorb(extra);
                    self.stats.epochs_completed += 1;
                    if self.epoch_from_start && self.epoch_delivered == 0 {
                        self.finished = true;
                        return Err(DataError::NoUsableSamples {
                            source_name: self.source_name.clone(),
                            detail: format!(
                                "epoch {epoch} delivered nothing (skipped: {:?})",
                                self.stats.skipped
                            ),
                        });
                    }
                    self.stats.position = StreamPosition::new(epoch + 1, 0);
                    self.epoch_delivered = 0;
                    self.epoch_from_start = true;
                }
                Payload::Fatal(e) => {
                    self.finished = true;
                    return Err(e);
                }
            }
        }
    }

    fn absorb(&mut self, extra: Extra) {
        for (reason, message) in extra.skipped {
            self.count_skip(reason, message);
        }
        for w in extra.warnings {
            if self.warnings_seen.insert(w.clone()) {
                self.stats.warnings.push(w);
            }
        }
    }

    fn count_skip(&mut self, reason: SkipReason, message: String) {
        self.stats.skipped.add(reason);
        if self.stats.skip_examples.len() < MAX_SKIP_EXAMPLES {
            self.stats.skip_examples.push(message);
        }
    }

    fn next_payload(&mut self) -> Result<Payload, DataError> {
        loop {
            if let Some(p) = self.reorder.remove(&self.next_seq) {
                self.next_seq += 1;
                if let Some(credits) = &self.credits {
                    let _ = credits.try_recv();
                }
                return Ok(p);
            }
            let received = self.results.as_ref().map(Receiver::recv);
            match received {
                Some(Ok(done)) => {
                    self.reorder.insert(done.seq, done.payload);
                }
                _ => {
                    return Err(DataError::StreamClosed {
                        source_name: self.source_name.clone(),
                        detail: "the reading and decoding threads ended".into(),
                    });
                }
            }
        }
    }
}

impl Iterator for SampleStream {
    type Item = Result<DecodedSample, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_sample().transpose()
    }
}

impl Drop for SampleStream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Closing the channels unblocks the producer; the workers end when it does.
        self.results.take();
        self.credits.take();
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

/// The reading thread's state.
struct Producer {
    credits: SyncSender<()>,
    work: Sender<Work>,
    done: Sender<Done>,
    stop: Arc<AtomicBool>,
    seq: u64,
    /// Items numbered so far in the current epoch.
    index: u64,
    /// Items of the current epoch to drop (resuming).
    skip: u64,
    epoch: u64,
    extra: Extra,
}

impl Producer {
    fn run(mut self, source: &dyn EpochSource, cfg: &StreamConfig, start: StreamPosition) {
        self.epoch = start.epoch;
        self.skip = start.consumed_in_epoch;
        loop {
            self.index = 0;
            self.extra = Extra::default();
            let mut rng = Rng::new(sample_key(cfg.seed, STREAM_SAMPLE_BUFFER, self.epoch));
            let cap = cfg.shuffle_buffer;
            let mut buffer: Vec<RawItem> = Vec::with_capacity(cap.min(1 << 16));
            let mut alive = true;
            source.for_each_event(self.epoch, &mut |event| {
                if self.stop.load(Ordering::Relaxed) {
                    alive = false;
                    return false;
                }
                alive = match event {
                    Event::Item(item) if cap <= 1 => self.emit(item),
                    Event::Item(item) if buffer.len() < cap => {
                        buffer.push(item);
                        true
                    }
                    Event::Item(item) => {
                        let j = rng.below(cap);
                        let out = std::mem::replace(&mut buffer[j], item);
                        self.emit(out)
                    }
                    Event::Skip { reason, message } => {
                        self.extra.skipped.push((reason, message));
                        true
                    }
                    Event::Warning(w) => {
                        self.extra.warnings.push(w);
                        true
                    }
                };
                alive
            });
            if !alive || self.stop.load(Ordering::Relaxed) {
                return;
            }
            while !buffer.is_empty() {
                let j = rng.below(buffer.len());
                let out = buffer.swap_remove(j);
                if !self.emit(out) {
                    return;
                }
            }
            let (epoch, items) = (self.epoch, self.index);
            let extra = std::mem::take(&mut self.extra);
            if !self.send_direct(Payload::EpochEnd { epoch, extra }) {
                return;
            }
            if items == 0 {
                let fatal = DataError::NoUsableSamples {
                    source_name: source.name(),
                    detail: format!("epoch {epoch} lists no image-text pair"),
                };
                self.send_direct(Payload::Fatal(fatal));
                return;
            }
            self.epoch += 1;
            self.skip = 0;
        }
    }

    /// Numbers `item` and sends it to the workers (or drops it while resuming); false when the
    /// stream was dropped.
    fn emit(&mut self, item: RawItem) -> bool {
        let index = self.index;
        self.index += 1;
        let extra = std::mem::take(&mut self.extra);
        if index < self.skip {
            return true;
        }
        if self.credits.send(()).is_err() {
            return false;
        }
        let work = Work {
            seq: self.seq,
            epoch: self.epoch,
            index,
            item,
            extra,
        };
        self.seq += 1;
        self.work.send(work).is_ok()
    }

    /// Sends a marker straight to the consumer, in sequence.
    fn send_direct(&mut self, payload: Payload) -> bool {
        if self.credits.send(()).is_err() {
            return false;
        }
        let done = Done {
            seq: self.seq,
            payload,
        };
        self.seq += 1;
        self.done.send(done).is_ok()
    }
}

/// A decoding thread: takes items until the producer is gone.
fn worker(rx: &Mutex<Receiver<Work>>, tx: &Sender<Done>, transform: Transform, seed: u64) {
    loop {
        let work = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(w) => w,
                Err(_) => return,
            }
        };
        let Work {
            seq,
            epoch,
            index,
            item,
            extra,
        } = work;
        let key = sample_key(seed, STREAM_CROP ^ epoch.wrapping_mul(0x9E37_79B9), index);
        let image = decode_item(&item, &transform, key);
        let payload = Payload::Sample {
            epoch,
            index,
            key: item.key,
            caption: item.caption,
            json: item.json,
            image,
            extra,
        };
        if tx.send(Done { seq, payload }).is_err() {
            return;
        }
    }
}

/// Reads (CSV), decodes and transforms one item's image.
fn decode_item(
    item: &RawItem,
    transform: &Transform,
    key: u64,
) -> Result<Vec<f32>, (SkipReason, String)> {
    let owned;
    let bytes: &[u8] = match &item.image {
        ImageData::Bytes(b) => b,
        ImageData::File(path) => {
            owned = std::fs::read(path).map_err(|e| {
                (
                    SkipReason::UnreadableImage,
                    format!("{}: cannot read the image: {e}", item.label),
                )
            })?;
            &owned
        }
    };
    let rgb =
        decode_rgb(bytes, &item.label).map_err(|e| (SkipReason::CorruptImage, e.to_string()))?;
    if rgb.width() == 0 || rgb.height() == 0 {
        return Err((
            SkipReason::CorruptImage,
            format!("{}: the image is empty (0 pixels)", item.label),
        ));
    }
    Ok(transform.apply(&rgb, key))
}
