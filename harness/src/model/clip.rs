//! The CLIP model: both towers, L2-normalised embeddings, a learnable logit scale, and its
//! objective: the symmetric cross-entropy (InfoNCE) loss of Radford et al. 2021 as open_clip's
//! `ClipLoss`, or the pairwise sigmoid loss of SigLIP (Zhai et al. 2023), which adds a
//! learnable logit bias.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

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

/// SigLIP's initial logit scale, ln 10 (a temperature of 10).
pub const SIGLIP_LOGIT_SCALE: f64 = std::f64::consts::LN_10;

/// SigLIP's initial logit bias, -10: every pair starts as a confident negative, so the loss
/// starts in its easy-negatives regime instead of being swamped by the batch's negatives.
pub const SIGLIP_LOGIT_BIAS: f64 = -10.0;

/// The training objective.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Softmax over the batch in both directions (Radford et al. 2021).
    #[default]
    Clip,
    /// An independent sigmoid per image-text pair with a learnable bias (Zhai et al. 2023).
    Siglip,
}

impl Objective {
    pub fn is_clip(&self) -> bool {
        *self == Objective::Clip
    }

    pub fn name(&self) -> &'static str {
        match self {
            Objective::Clip => "clip",
            Objective::Siglip => "siglip",
        }
    }

    /// The initial logit scale when none is set: ln(1/0.07) for CLIP, ln 10 for SigLIP.
    pub fn default_logit_scale(&self) -> f64 {
        match self {
            Objective::Clip => initial_logit_scale(),
            Objective::Siglip => SIGLIP_LOGIT_SCALE,
        }
    }
}

/// The objective with the initial values of its learnable logit scale and (SigLIP) bias.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossHead {
    pub objective: Objective,
    pub logit_scale: f64,
    /// SigLIP only.
    pub logit_bias: Option<f64>,
}

impl Default for LossHead {
    /// CLIP's: scale ln(1/0.07), no bias.
    fn default() -> Self {
        Self {
            objective: Objective::Clip,
            logit_scale: initial_logit_scale(),
            logit_bias: None,
        }
    }
}

#[derive(Module, Debug)]
pub struct Clip<B: Backend> {
    pub visual: VisionTower<B>,
    pub text: TextTower<B>,
    /// [1], log of the inverse temperature
    pub logit_scale: Param<Tensor<B, 1>>,
    /// [1], SigLIP's logit bias; `None` for CLIP (whose checkpoints have none).
    pub logit_bias: Option<Param<Tensor<B, 1>>>,
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
    /// [1], SigLIP's logit bias
    pub bias: Option<Tensor<B, 1>>,
}

impl ClipConfig {
    /// Validates the config, then builds the model with open_clip's initialisation from `seed`
    /// and CLIP's objective.
    pub fn init<B: Backend>(&self, seed: u64, device: &B::Device) -> Result<Clip<B>, ConfigError> {
        self.init_with(seed, &LossHead::default(), device)
    }

    /// [`ClipConfig::init`] for the objective `head` (its initial logit scale and bias).
    pub fn init_with<B: Backend>(
        &self,
        seed: u64,
        head: &LossHead,
        device: &B::Device,
    ) -> Result<Clip<B>, ConfigError> {
        self.validate()?;
        let f = ParamFactory::<B>::new(seed, device);
        Ok(Clip {
            visual: VisionTower::new(&f.child("visual"), self),
            text: TextTower::new(&f.child("text"), self),
            logit_scale: f.param("logit_scale", [1], Init::Constant(head.logit_scale)),
            logit_bias: head
                .logit_bias
                .map(|b| f.param("logit_bias", [1], Init::Constant(b))),
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
            bias: self.logit_bias.as_ref().map(Param::val),
        }
    }

    /// The model's objective: SigLIP when it has a logit bias.
    pub fn objective(&self) -> Objective {
        if self.logit_bias.is_some() {
            Objective::Siglip
        } else {
            Objective::Clip
        }
    }

    /// Forward pass and the model's own loss. -> [1]
    pub fn loss(&self, batch: ClipBatch<B>) -> Tensor<B, 1> {
        self.forward(batch).loss()
    }
}

impl<B: Backend> ClipOutput<B> {
    /// The objective's loss: sigmoid with a bias, else the softmax contrastive loss. -> [1]
    pub fn loss(self) -> Tensor<B, 1> {
        match self.bias {
            Some(bias) => sigmoid_loss(self.image, self.text, self.scale, bias),
            None => contrastive_loss(self.image, self.text, self.scale),
        }
    }
}

/// SigLIP's loss: -log sigmoid(z_ij (scale x_i . y_j + bias)) summed over every image-text pair
/// of the batch (z_ij = 1 on the diagonal, -1 elsewhere) and divided by the batch size, in the
/// stable form log sigmoid(u) = min(u, 0) - ln(1 + e^-|u|).
/// image, text: [batch, d] unit norm; scale, bias: [1]. -> [1]
pub fn sigmoid_loss<B: Backend>(
    image: Tensor<B, 2>,
    text: Tensor<B, 2>,
    scale: Tensor<B, 1>,
    bias: Tensor<B, 1>,
) -> Tensor<B, 1> {
    let [batch, _] = image.dims();
    let device = image.device();
    let logits = image.matmul(text.transpose()) * scale.unsqueeze::<2>() + bias.unsqueeze::<2>(); // [batch, batch]
    // z: +1 on the diagonal, -1 elsewhere
    let z = Tensor::<B, 2>::eye(batch, &device)
        .mul_scalar(2.0)
        .sub_scalar(1.0);
    let u = logits * z;
    let log_sig = u.clone().clamp_max(0.0) - u.abs().neg().exp().log1p();
    log_sig.sum().neg() / batch as f64
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
