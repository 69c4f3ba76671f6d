//! The CLIP model: both towers, L2-normalised embeddings, a learnable logit scale, and the
//! symmetric cross-entropy (InfoNCE) loss of Radford et al. 2021 as open_clip's `ClipLoss`.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use super::config::{ClipConfig, ConfigError};
use super::init::{Init, ParamFactory};
use super::text::TextTower;
use super::vision::VisionTower;

/// ln(1 / 0.07): CLIP's initial temperature.
pub fn initial_logit_scale() -> f64 {
    (1.0f64 / 0.07).ln()
}

/// The upper clamp of the logit scale after each optimiser step, ln(100), as open_clip.
pub fn max_logit_scale() -> f64 {
    100f64.ln()
}

#[derive(Module, Debug)]
pub struct Clip<B: Backend> {
    pub visual: VisionTower<B>,
    pub text: TextTower<B>,
    /// [1], log of the inverse temperature
    pub logit_scale: Param<Tensor<B, 1>>,
}

/// A batch as the model takes it.
#[derive(Debug, Clone)]
pub struct ClipBatch<B: Backend> {
    /// [batch, 3, size, size], normalised
    pub images: Tensor<B, 4>,
    /// [batch, context_length]
    pub tokens: Tensor<B, 2, Int>,
    /// [batch]
    pub eot_pos: Tensor<B, 1, Int>,
}

/// What a forward pass gives.
#[derive(Debug, Clone)]
pub struct ClipOutput<B: Backend> {
    /// [batch, embed_dim], unit norm
    pub image: Tensor<B, 2>,
    /// [batch, embed_dim], unit norm
    pub text: Tensor<B, 2>,
    /// [1], exp(logit_scale)
    pub scale: Tensor<B, 1>,
}

impl ClipConfig {
    /// Validates the config, then builds the model with open_clip's initialisation from `seed`.
    pub fn init<B: Backend>(&self, seed: u64, device: &B::Device) -> Result<Clip<B>, ConfigError> {
        self.validate()?;
        let f = ParamFactory::<B>::new(seed, device);
        Ok(Clip {
            visual: VisionTower::new(&f.child("visual"), self),
            text: TextTower::new(&f.child("text"), self),
            logit_scale: f.param("logit_scale", [1], Init::Constant(initial_logit_scale())),
        })
    }
}

/// Rows scaled to unit L2 norm (as `F.normalize`, norm floored at 1e-12). [n, d] -> [n, d]
pub fn l2_normalize<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-12); // [n, 1]
    x / norm
}

impl<B: Backend> Clip<B> {
    /// [batch, 3, size, size] -> [batch, embed_dim], unit norm
    pub fn encode_image(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        l2_normalize(self.visual.forward(images))
    }

    /// [batch, tokens], [batch] -> [batch, embed_dim], unit norm
    pub fn encode_text(
        &self,
        tokens: Tensor<B, 2, Int>,
        eot_pos: Tensor<B, 1, Int>,
    ) -> Tensor<B, 2> {
        l2_normalize(self.text.forward(tokens, eot_pos))
    }

    pub fn forward(&self, batch: ClipBatch<B>) -> ClipOutput<B> {
        ClipOutput {
            image: self.encode_image(batch.images),
            text: self.encode_text(batch.tokens, batch.eot_pos),
            scale: self.logit_scale.val().exp(),
        }
    }

    /// Forward pass and contrastive loss. -> [1]
    pub fn loss(&self, batch: ClipBatch<B>) -> Tensor<B, 1> {
        let out = self.forward(batch);
        contrastive_loss(out.image, out.text, out.scale)
    }
}

/// Symmetric cross-entropy over the in-batch similarity matrix: the mean of the image-to-text
/// and text-to-image losses, with the i-th image and i-th caption as the positive pair.
/// image, text: [batch, d] unit norm; scale: [1]. -> [1]
pub fn contrastive_loss<B: Backend>(
    image: Tensor<B, 2>,
    text: Tensor<B, 2>,
    scale: Tensor<B, 1>,
) -> Tensor<B, 1> {
    let [batch, _] = image.dims();
    let device = image.device();
    let logits = image.matmul(text.transpose()) * scale.unsqueeze::<2>(); // [batch, batch]
    let diag = Tensor::<B, 1, Int>::arange(0..batch as i64, &device);
    let per_image = log_softmax(logits.clone(), 1).gather(1, diag.clone().reshape([batch, 1])); // [batch, 1]
    let per_text = log_softmax(logits, 0).gather(0, diag.reshape([1, batch])); // [1, batch]
    (per_image.sum() + per_text.sum()).neg() / (2.0 * batch as f64)
}
