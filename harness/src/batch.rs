//! Batches on the host (plain vectors) and their upload to a device as a [`ClipBatch`].

use std::mem::MaybeUninit;

use burn::prelude::*;
use burn::tensor::{AllocationProperty, Bytes};
use clipscale_core::rng::{Random, SplitMix64};
use cubecl_common::bytes::AllocationController;

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
    /// The batch's tensors on `device`, copying the host buffers (for batches used again, such
    /// as evaluation sets); the copy of the images goes into a recycled buffer.
    pub fn to_device<B: Backend>(&self, device: &B::Device) -> ClipBatch<B> {
        let mut images = clipscale_data::buffers::take_f32(self.images.len());
        images.extend_from_slice(&self.images);
        Self {
            images,
            tokens: self.tokens.clone(),
            eot_pos: self.eot_pos.clone(),
            ..*self
        }
        .into_device(device)
    }

    /// The batch's tensors on `device`, moving the host buffers into them: no copy of the
    /// images on the host (150 MB for ViT-B-32 at batch 256), which the training loop would
    /// otherwise make on its own thread every step. The image buffer goes back to the data
    /// pipeline's pool ([`clipscale_data::buffers`]) once the device is done with it: when the
    /// CPU tensor that holds it is dropped, or the upload to a GPU has finished.
    pub fn into_device<B: Backend>(self, device: &B::Device) -> ClipBatch<B> {
        let (b, s, t) = (self.batch, self.image_size, self.context_length);
        assert_eq!(
            self.images.len(),
            b * 3 * s * s,
            "a host batch's images do not match its shape"
        );
        let images = TensorData::from_bytes(
            recycling_bytes(self.images),
            [b, 3, s, s],
            burn::tensor::DType::F32,
        );
        ClipBatch {
            images: Tensor::from_data(images, device),
            tokens: Tensor::from_data(TensorData::new(self.tokens, [b, t]), device),
            eot_pos: Tensor::from_data(TensorData::new(self.eot_pos, [b]), device),
        }
    }

    /// Random inputs of the right shapes for `cfg`: standard-normal images, captions of random
    /// length with start token 1, end token 2 and padding 0, words drawn from the rest of the
    /// vocabulary. For demonstrations, checks and benchmarks, not for learning.
    pub fn random(cfg: &ClipConfig, batch: usize, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed ^ 0x5eed_ba7c);
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

/// Owns a batch's image buffer for burn's tensor bytes and hands it back to the pool when
/// burn drops them.
struct Recycling(Vec<f32>);

impl Recycling {
    fn byte_len(&self) -> usize {
        self.0.len() * size_of::<f32>()
    }
}

impl AllocationController for Recycling {
    fn alloc_align(&self) -> usize {
        align_of::<f32>()
    }

    fn property(&self) -> AllocationProperty {
        AllocationProperty::Native
    }

    unsafe fn memory_mut(&mut self) -> &mut [MaybeUninit<u8>] {
        let len = self.byte_len();
        // SAFETY: the vector's first `len` bytes are initialised f32 values; callers may only
        // write initialised bytes (the trait's contract), and any bytes are a valid f32.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast(), len) }
    }

    fn memory(&self) -> &[MaybeUninit<u8>] {
        // SAFETY: as above, read-only.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast(), self.byte_len()) }
    }
}

impl Drop for Recycling {
    fn drop(&mut self) {
        clipscale_data::buffers::recycle_f32(std::mem::take(&mut self.0));
    }
}

/// `images` as burn tensor bytes that return to the data pipeline's buffer pool when dropped.
fn recycling_bytes(images: Vec<f32>) -> Bytes {
    let controller = Recycling(images);
    let len = controller.byte_len();
    // SAFETY: `len` is exactly the number of initialised bytes the controller holds.
    unsafe { Bytes::from_controller(Box::new(controller), len) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use clipscale_data::buffers::{BATCH_IMAGES, MIN_POOLED_BYTES};

    #[test]
    fn a_batch_moved_to_a_device_hands_its_image_buffer_back_when_the_tensor_is_done() {
        // a batch whose images are large enough to be pooled
        let (b, s, t) = (8, 224, 5);
        assert!(b * 3 * s * s * 4 >= MIN_POOLED_BYTES);
        let images: Vec<f32> = (0..b * 3 * s * s)
            .map(|i| (i % 977) as f32 - 488.0)
            .collect();
        let host = HostBatch {
            batch: b,
            image_size: s,
            context_length: t,
            images: images.clone(),
            tokens: vec![3; b * t],
            eot_pos: vec![4; b],
        };
        let ptr = host.images.as_ptr();
        let dev = Default::default();
        let on_device = host.into_device::<Autodiff<Flex>>(&dev);
        assert!(!BATCH_IMAGES.holds(ptr), "still in use by the tensor");
        // the values arrive intact, and burn can compute with (and in) the buffer
        let got = on_device
            .images
            .clone()
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert_eq!(got, images);
        let doubled = (on_device.images * 2.0)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert!(doubled.iter().zip(&images).all(|(d, x)| *d == 2.0 * x));
        // the tensor is gone (the multiplication consumed it): the buffer is back in the pool
        assert!(BATCH_IMAGES.holds(ptr), "the buffer came back");
        // a batch used again is copied into a pooled buffer (this one), not a new allocation
        let kept = HostBatch {
            batch: b,
            image_size: s,
            context_length: t,
            images,
            tokens: vec![3; b * t],
            eot_pos: vec![4; b],
        };
        let copy = kept.to_device::<Autodiff<Flex>>(&dev);
        assert!(!BATCH_IMAGES.holds(ptr), "the copy took the pooled buffer");
        let got = copy.images.clone().into_data().to_vec::<f32>().unwrap();
        assert_eq!(got, kept.images);
        drop(copy);
        assert!(BATCH_IMAGES.holds(ptr), "and handed it back");
    }
}
