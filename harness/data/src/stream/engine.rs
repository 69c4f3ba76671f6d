//! The pipeline behind [`SampleStream`]: the producer thread (epoch order, shuffle buffer,
//! restoring a position), the decoding workers, and the consumer's reorder buffer.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use clipscale_core::rng::SplitMix64;

use crate::error::DataError;
use crate::rng::sample_key;
use crate::transform::{Transform, decode_rgb};

use super::*;

/// The name of the thread reading the sources (the benchmark measures its CPU time).
pub(crate) const READER_THREAD: &str = "clipscale-read";

/// Problems attached to an item (found while reading, before it in sequence order).
#[derive(Default)]
struct Extra {
    skipped: Vec<(SkipReason, String)>,
    warnings: Vec<String>,
    truncated_shards: u64,
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
            .name(READER_THREAD.into())
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
    /// is shorter than `n` only when the stream has an end epoch and reached it. The images
    /// go into a buffer from [`crate::buffers`]: hand it back with
    /// [`recycle_f32`](crate::buffers::recycle_f32) when done with it.
    pub fn next_batch(&mut self, n: usize) -> Result<Batch, DataError> {
        let len = 3 * self.image_size * self.image_size;
        let mut batch = Batch {
            images: crate::buffers::take_f32(n * len),
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
        self.stats.truncated_shard += extra.truncated_shards;
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
            let mut rng = SplitMix64::new(sample_key(cfg.seed, STREAM_SAMPLE_BUFFER, self.epoch));
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
                    Event::TruncatedShard(w) => {
                        self.extra.truncated_shards += 1;
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
