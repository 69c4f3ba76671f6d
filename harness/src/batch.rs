//! Batches on the host (plain vectors) and their upload to a device as a [`ClipBatch`].

use burn::prelude::*;

use crate::model::init::HostRng;
use crate::model::{ClipBatch, ClipConfig};

/// A batch in host memory, backend-independent.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    pub batch: usize,
    pub image_size: usize,
    pub context_length: usize,
    /// [batch, 3, image_size, image_size], row-major
    pub images: Vec<f32>,
    /// [batch, context_length]
    pub tokens: Vec<i64>,
    /// [batch]: position of each caption's end-of-text token
    pub eot_pos: Vec<i64>,
}

impl HostBatch {
    /// The batch's tensors on `device`, copying the host buffers (for batches used again).
    pub fn to_device<B: Backend>(&self, device: &B::Device) -> ClipBatch<B> {
        self.clone().into_device(device)
    }

    /// The batch's tensors on `device`, moving the host buffers into them: no copy of the
    /// images on the host (150 MB for ViT-B-32 at batch 256), which the training loop would
    /// otherwise make on its own thread every step.
    pub fn into_device<B: Backend>(self, device: &B::Device) -> ClipBatch<B> {
        let (b, s, t) = (self.batch, self.image_size, self.context_length);
        ClipBatch {
            images: Tensor::from_data(TensorData::new(self.images, [b, 3, s, s]), device),
            tokens: Tensor::from_data(TensorData::new(self.tokens, [b, t]), device),
            eot_pos: Tensor::from_data(TensorData::new(self.eot_pos, [b]), device),
        }
    }

    /// Random inputs of the right shapes for `cfg`: standard-normal images, captions of random
    /// length with start token 1, end token 2 and padding 0, words drawn from the rest of the
    /// vocabulary. For demonstrations, checks and benchmarks, not for learning.
    pub fn random(cfg: &ClipConfig, batch: usize, seed: u64) -> Self {
        let mut rng = HostRng::new(seed ^ 0x5eed_ba7c);
        let s = cfg.vision.image_size;
        let t = cfg.text.context_length;
        let v = cfg.text.vocab_size as u64;
        let images = (0..batch * 3 * s * s)
            .map(|_| rng.normal() as f32)
            .collect();
        let mut tokens = vec![0i64; batch * t];
        let mut eot_pos = vec![0i64; batch];
        for i in 0..batch {
            let len = 1 + (rng.next_u64() as usize % (t - 1)); // end token at 1..t-1
            tokens[i * t] = 1;
            for j in 1..len {
                tokens[i * t + j] = (3 + rng.next_u64() % (v - 3)) as i64;
            }
            tokens[i * t + len] = 2;
            eot_pos[i] = len as i64;
        }
        Self {
            batch,
            image_size: s,
            context_length: t,
            images,
            tokens,
            eot_pos,
        }
    }
}
