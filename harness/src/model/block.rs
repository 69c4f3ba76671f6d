//! The residual attention block and stack shared by both towers, as open_clip's
//! `ResidualAttentionBlock` / `Transformer` (pre-LayerNorm, multi-head attention, MLP with GELU or
//! QuickGELU, no dropout).
//!
//! The residual stream is kept 2-D, [batch * tokens, width], so every projection is one matrix
//! product; only attention itself reshapes to [batch, heads, tokens, head_dim].

use burn::nn::{LayerNorm, LayerNormConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use super::config::StackDims;
use super::dense::Dense;
use super::fused;
use super::init::{Init, ParamFactory};
use super::precision;

/// How a block's weights are initialised.
#[derive(Debug, Clone, Copy)]
pub enum BlockInit {
    /// PyTorch's defaults (`nn.MultiheadAttention`, `nn.Linear`): open_clip's image tower.
    TorchDefault,
    /// open_clip's `TextTransformer.init_parameters`: normal weights with per-family stds.
    OpenClipText,
}

/// LayerNorm with open_clip's epsilon.
pub fn layer_norm<B: Backend>(width: usize, device: &B::Device) -> LayerNorm<B> {
    LayerNormConfig::new(width)
        .with_epsilon(fused::LAYER_NORM_EPS as f64)
        .init(device)
}

#[derive(Module, Debug)]
pub struct ResidualAttentionBlock<B: Backend> {
    pub ln_1: LayerNorm<B>,
    /// Packed query, key, value projection: [width, 3 * width], columns q | k | v.
    pub attn_in: Dense<B>,
    pub attn_out: Dense<B>,
    pub ln_2: LayerNorm<B>,
    pub mlp_fc: Dense<B>,
    pub mlp_proj: Dense<B>,
    #[module(skip)]
    pub heads: usize,
    #[module(skip)]
    pub quick_gelu: bool,
}

impl<B: Backend> ResidualAttentionBlock<B> {
    pub fn new(
        f: &ParamFactory<'_, B>,
        dims: &StackDims,
        quick_gelu: bool,
        init: BlockInit,
    ) -> Self {
        let w = dims.width;
        let m = dims.mlp_width;
        let (attn_in, attn_out, mlp_fc, mlp_proj) = match init {
            BlockInit::TorchDefault => (
                // xavier_uniform_ on the packed [3w, w] weight; bias zero
                Dense::new(
                    &f.child("attn_in"),
                    w,
                    3 * w,
                    Init::Uniform {
                        bound: (6.0 / (4.0 * w as f64)).sqrt(),
                    },
                    Some(Init::Zeros),
                ),
                // out_proj: Linear default weight, bias zeroed by nn.MultiheadAttention
                Dense::new(
                    &f.child("attn_out"),
                    w,
                    w,
                    Init::Uniform {
                        bound: 1.0 / (w as f64).sqrt(),
                    },
                    Some(Init::Zeros),
                ),
                Dense::torch_default(&f.child("mlp_fc"), w, m),
                Dense::torch_default(&f.child("mlp_proj"), m, w),
            ),
            BlockInit::OpenClipText => {
                let attn_std = (w as f64).powf(-0.5);
                let proj_std = attn_std * ((2 * dims.layers) as f64).powf(-0.5);
                let fc_std = (2.0 * w as f64).powf(-0.5);
                (
                    Dense::new(
                        &f.child("attn_in"),
                        w,
                        3 * w,
                        Init::Normal { std: attn_std },
                        Some(Init::Zeros),
                    ),
                    Dense::new(
                        &f.child("attn_out"),
                        w,
                        w,
                        Init::Normal { std: proj_std },
                        Some(Init::Zeros),
                    ),
                    // biases keep nn.Linear's default
                    Dense::new(
                        &f.child("mlp_fc"),
                        w,
                        m,
                        Init::Normal { std: fc_std },
                        Some(Init::Uniform {
                            bound: 1.0 / (w as f64).sqrt(),
                        }),
                    ),
                    Dense::new(
                        &f.child("mlp_proj"),
                        m,
                        w,
                        Init::Normal { std: proj_std },
                        Some(Init::Uniform {
                            bound: 1.0 / (m as f64).sqrt(),
                        }),
                    ),
                )
            }
        };
        Self {
            ln_1: layer_norm(w, f.device),
            attn_in,
            attn_out,
            ln_2: layer_norm(w, f.device),
            mlp_fc,
            mlp_proj,
            heads: dims.heads,
            quick_gelu,
        }
    }

    /// x: [batch * tokens, width]; `causal`: each token attends only to itself and earlier ones.
    pub fn forward(
        &self,
        x: Tensor<B, 2>,
        batch: usize,
        tokens: usize,
        causal: bool,
    ) -> Tensor<B, 2> {
        let x = x.clone() + self.attention(fused::layer_norm(&self.ln_1, x), batch, tokens, causal);
        let h = self
            .mlp_fc
            .forward(fused::layer_norm(&self.ln_2, x.clone())); // [batch * tokens, mlp]
        let h = if self.quick_gelu {
            h.clone() * sigmoid(h * 1.702)
        } else {
            fused::gelu(h)
        };
        x + self.mlp_proj.forward(h)
    }

    /// One of the packed projections (0 = query, 1 = key, 2 = value) as [batch, heads, tokens,
    /// head_dim]. Slicing the WEIGHT rather than the packed [rows, 3 * width] output keeps the
    /// backward pass from building three zero-filled [rows, 3 * width] gradients, and the query's
    /// 1/sqrt(head_dim) is folded into its weight and bias (a [width, width] multiply instead of
    /// one over every activation).
    fn head_projection(
        &self,
        x: Tensor<B, 2>,
        which: usize,
        batch: usize,
        tokens: usize,
    ) -> Tensor<B, 4> {
        let [_, width] = x.dims();
        let head_dim = width / self.heads;
        let mut w = self.attn_in.weight.val().narrow(1, which * width, width);
        let mut b = self
            .attn_in
            .bias
            .as_ref()
            .map(|b| b.val().narrow(0, which * width, width));
        if which == 0 {
            let scale = (head_dim as f64).powf(-0.5);
            w = w * scale;
            b = b.map(|b| b * scale);
        }
        let y = precision::linear(x, w, b);
        fused::split_heads(y, batch, tokens, self.heads)
    }

    fn attention(
        &self,
        x: Tensor<B, 2>,
        batch: usize,
        tokens: usize,
        causal: bool,
    ) -> Tensor<B, 2> {
        let q = self.head_projection(x.clone(), 0, batch, tokens);
        let k = self.head_projection(x.clone(), 1, batch, tokens);
        let v = self.head_projection(x, 2, batch, tokens);
        let out = precision::attention(q, k, v, causal); // [batch, heads, tokens, head_dim]
        self.attn_out.forward(fused::merge_heads(out))
    }
}

/// A stack of residual attention blocks.
#[derive(Module, Debug)]
pub struct Transformer<B: Backend> {
    pub blocks: Vec<ResidualAttentionBlock<B>>,
}

impl<B: Backend> Transformer<B> {
    pub fn new(
        f: &ParamFactory<'_, B>,
        dims: &StackDims,
        quick_gelu: bool,
        init: BlockInit,
    ) -> Self {
        let blocks = (0..dims.layers)
            .map(|i| {
                ResidualAttentionBlock::new(
                    &f.child(&format!("blocks.{i}")),
                    dims,
                    quick_gelu,
                    init,
                )
            })
            .collect();
        Self { blocks }
    }

    /// x: [batch * tokens, width] -> same shape.
    pub fn forward(
        &self,
        mut x: Tensor<B, 2>,
        batch: usize,
        tokens: usize,
        causal: bool,
    ) -> Tensor<B, 2> {
        for block in &self.blocks {
            x = block.forward(x, batch, tokens, causal);
        }
        x
    }
}
