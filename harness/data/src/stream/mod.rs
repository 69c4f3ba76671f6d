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

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::transform::Transform;

mod engine;
pub(crate) use engine::READER_THREAD;
pub use engine::SampleStream;

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
    /// Shards found cut short (the samples before the cut delivered, the rest lost), counted
    /// once per shard per pass over it.
    #[serde(default)]
    pub truncated_shard: u64,
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
    /// Shards found cut short when opening (their samples before the cut are counted).
    #[serde(default)]
    pub truncated_shard: u64,
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
    /// Usable pairs per epoch.
    fn unique_samples(&self) -> u64 {
        self.stats().unique_samples
    }
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
    Skip {
        reason: SkipReason,
        message: String,
    },
    Warning(String),
    /// A shard that ends early; the message names it and what was kept.
    TruncatedShard(String),
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

impl StreamConfig {
    /// The settings of a data set's streams: `prefetch` 0 means `8 * threads` (at least 64),
    /// `train` picks the random resized crop over resize and centre crop.
    pub(crate) fn for_dataset(
        seed: u64,
        threads: usize,
        prefetch: usize,
        shuffle_buffer: usize,
        image_size: usize,
        train: bool,
    ) -> Self {
        Self {
            seed,
            threads,
            prefetch: if prefetch == 0 {
                (8 * threads).max(64)
            } else {
                prefetch
            },
            shuffle_buffer,
            transform: if train {
                Transform::train(image_size)
            } else {
                Transform::eval(image_size)
            },
        }
    }
}
