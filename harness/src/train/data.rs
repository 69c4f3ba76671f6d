//! Feeding the training loop: a data source addressed by sample index (so a resume is just an
//! index) and a prefetch thread that prepares the next batches while the current step runs.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use clipscale_data::{DataError, Synthetic, SyntheticConfig, WordTokenizer};

use crate::batch::HostBatch;

/// Image-caption pairs by index, tokenised for a model.
pub trait PairSource: Send + Sync {
    /// Training pairs [start, start + batch).
    fn train_batch(&self, start: u64, batch: usize) -> Result<HostBatch, DataError>;
    /// Distinct pairs available for training (None: an endless stream).
    fn unique_pairs(&self) -> Option<u64>;
}

/// The embedded synthetic scenes with the word tokenizer.
pub struct SyntheticSource {
    pub generator: Synthetic,
    pub tokenizer: WordTokenizer,
    pub image_size: usize,
    pub context_length: usize,
}

impl SyntheticSource {
    pub fn new(
        seed: u64,
        image_size: usize,
        context_length: usize,
    ) -> Result<Self, clipscale_data::DataError> {
        Ok(Self {
            generator: Synthetic::new(SyntheticConfig { seed, image_size })?,
            tokenizer: WordTokenizer::for_synthetic(),
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
        let (tokens, eot_pos) = self.tokenizer.encode_batch(captions, self.context_length)?;
        Ok(HostBatch {
            batch: captions.len(),
            image_size: self.image_size,
            context_length: self.context_length,
            images,
            tokens,
            eot_pos,
        })
    }
}

impl PairSource for SyntheticSource {
    fn train_batch(&self, start: u64, batch: usize) -> Result<HostBatch, DataError> {
        let mut images = Vec::with_capacity(batch * 3 * self.image_size * self.image_size);
        let mut captions = Vec::with_capacity(batch);
        self.generator
            .fill_batch(start, batch, &mut images, &mut captions);
        self.host_batch(images, &captions)
    }

    fn unique_pairs(&self) -> Option<u64> {
        None
    }
}

/// Prepares batches [start, start + batch), [start + batch, ...) on a thread, `depth` ahead.
pub struct Prefetcher {
    rx: Receiver<Result<HostBatch, DataError>>,
    handle: Option<JoinHandle<()>>,
}

impl Prefetcher {
    pub fn start(
        source: Arc<dyn PairSource>,
        start: u64,
        batch: usize,
        batches: u64,
        depth: usize,
    ) -> Self {
        let (tx, rx) = sync_channel(depth.max(1));
        let handle = std::thread::Builder::new()
            .name("clipscale-data".into())
            .spawn(move || {
                for k in 0..batches {
                    if tx
                        .send(source.train_batch(start + k * batch as u64, batch))
                        .is_err()
                    {
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
    pub fn next(&self) -> Option<Result<HostBatch, DataError>> {
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
