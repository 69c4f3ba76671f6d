//! The ViT image tower, as open_clip's `VisionTransformer`: patch embedding by a strided
//! convolution without bias, class token, learned positional embedding, ln_pre, residual
//! attention blocks, ln_post on the class token, projection without bias.

use burn::module::Param;
use burn::nn::LayerNorm;
use burn::prelude::*;

use super::block::{BlockInit, Transformer, layer_norm};
use super::config::ClipConfig;
use super::fused;
use super::init::{Init, ParamFactory};
use super::precision;

#[derive(Module, Debug)]
pub struct VisionTower<B: Backend> {
    /// Patch convolution weight in PyTorch's layout: [width, 3, patch, patch].
    pub conv1: Param<Tensor<B, 4>>,
    /// [width]
    pub class_embedding: Param<Tensor<B, 1>>,
    /// [grid * grid + 1, width]
    pub positional_embedding: Param<Tensor<B, 2>>,
    pub ln_pre: LayerNorm<B>,
    pub transformer: Transformer<B>,
    pub ln_post: LayerNorm<B>,
    /// [width, embed_dim]
    pub proj: Param<Tensor<B, 2>>,
    #[module(skip)]
    pub patch: usize,
    #[module(skip)]
    pub grid: usize,
}

impl<B: Backend> VisionTower<B> {
    pub fn new(f: &ParamFactory<'_, B>, cfg: &ClipConfig) -> Self {
        let v = &cfg.vision;
        let w = v.width;
        let p = v.patch_size;
        let scale = (w as f64).powf(-0.5);
        Self {
            // nn.Conv2d default: uniform in +-1/sqrt(fan_in), fan_in = 3 * p * p
            conv1: f.param(
                "conv1",
                [w, 3, p, p],
                Init::Uniform {
                    bound: 1.0 / ((3 * p * p) as f64).sqrt(),
                },
            ),
            class_embedding: f.param("class_embedding", [w], Init::Normal { std: scale }),
            positional_embedding: f.param(
                "positional_embedding",
                [v.tokens(), w],
                Init::Normal { std: scale },
            ),
            ln_pre: layer_norm(w, f.device),
            transformer: Transformer::new(
                &f.child("transformer"),
                &v.stack(),
                cfg.quick_gelu,
                BlockInit::TorchDefault,
            ),
            ln_post: layer_norm(w, f.device),
            proj: f.param("proj", [w, cfg.embed_dim], Init::Normal { std: scale }),
            patch: p,
            grid: v.grid(),
        }
    }

    /// images: [batch, 3, size, size] -> [batch, embed_dim] (not normalised)
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let [batch, _, _, _] = images.dims();
        let (p, g) = (self.patch, self.grid);
        let [width, _, _, _] = self.conv1.dims();
        // A convolution whose stride equals its kernel is a matrix product over patches. Each
        // image gets an all-zero "patch" in front, whose product is zero: adding the class
        // embedding to that row (with the positional embedding) gives the token sequence already
        // flattened to [batch * tokens, width], with no concatenation of activations (whose
        // backward pass would copy the gradient through a strided view).
        let tokens = g * g + 1;
        let patches = images
            .reshape([batch, 3, g, p, g, p])
            .permute([0, 2, 4, 1, 3, 5]) // [batch, g, g, 3, p, p]
            .reshape([batch, g * g, 3 * p * p]);
        let device = patches.device();
        let patches = Tensor::cat(
            vec![Tensor::zeros([batch, 1, 3 * p * p], &device), patches],
            1,
        )
        .reshape([batch * tokens, 3 * p * p]);
        let kernel = self.conv1.val().reshape([width, 3 * p * p]).transpose(); // [3 p p, width]
        let per_token = Tensor::cat(
            vec![
                self.class_embedding.val().reshape([1, width]),
                Tensor::zeros([g * g, width], &device),
            ],
            0,
        ) + self.positional_embedding.val(); // [tokens, width]
        let x = fused::add_per_token(precision::linear(patches, kernel, None), per_token); // [batch * tokens, width]
        let x = fused::layer_norm(&self.ln_pre, x);
        let x = self.transformer.forward(x, batch, tokens, false); // [batch * tokens, width]
        let cls_out = x
            .reshape([batch, tokens, width])
            .narrow(1, 0, 1)
            .reshape([batch, width]);
        precision::linear(
            fused::layer_norm(&self.ln_post, cls_out),
            self.proj.val(),
            None,
        )
    }
}
