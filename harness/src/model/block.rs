//! The residual attention block and stack shared by both towers, as open_clip's
//! `ResidualAttentionBlock` / `Transformer` (pre-LayerNorm, multi-head attention, MLP with GELU or
//! QuickGELU, no dropout).
//!
//! The residual stream is kept 2-D, [batch * tokens, width], so every projection is one matrix
//! product; only attention itself reshapes to [batch, heads, tokens, head_dim].

use burn::nn::{LayerNorm, LayerNormConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, sigmoid, softmax};

use super::config::StackDims;
use super::dense::Dense;
use super::init::{Init, ParamFactory};

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
    LayerNormConfig::new(width).with_epsilon(1e-5).init(device)
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

    /// x: [batch * tokens, width]; mask: additive [1, 1, tokens, tokens] (0 or -inf).
    pub fn forward(
        &self,
        x: Tensor<B, 2>,
        batch: usize,
        tokens: usize,
        mask: Option<Tensor<B, 4>>,
    ) -> Tensor<B, 2> {
        let x = x.clone() + self.attention(self.ln_1.forward(x), batch, tokens, mask);
        let h = self.mlp_fc.forward(self.ln_2.forward(x.clone())); // [batch * tokens, mlp]
        let h = if self.quick_gelu {
            h.clone() * sigmoid(h * 1.702)
        } else {
            gelu(h)
        };
        x + self.mlp_proj.forward(h)
    }

    fn attention(
        &self,
        x: Tensor<B, 2>,
        batch: usize,
        tokens: usize,
        mask: Option<Tensor<B, 4>>,
    ) -> Tensor<B, 2> {
        let [_, width] = x.dims();
        let head_dim = width / self.heads;
        let qkv = self.attn_in.forward(x); // [batch * tokens, 3 * width]
        let split = |i: usize| {
            qkv.clone()
                .narrow(1, i * width, width)
                .reshape([batch, tokens, self.heads, head_dim])
                .swap_dims(1, 2) // [batch, heads, tokens, head_dim]
        };
        let q = split(0) * (head_dim as f64).powf(-0.5);
        let k = split(1);
        let v = split(2);
        let scores = q.matmul(k.swap_dims(2, 3)); // [batch, heads, tokens, tokens]
        let scores = match mask {
            Some(m) => scores + m,
            None => scores,
        };
        let out = softmax(scores, 3).matmul(v); // [batch, heads, tokens, head_dim]
        let out = out.swap_dims(1, 2).reshape([batch * tokens, width]);
        self.attn_out.forward(out)
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
        mask: Option<Tensor<B, 4>>,
    ) -> Tensor<B, 2> {
        for block in &self.blocks {
            x = block.forward(x, batch, tokens, mask.clone());
        }
        x
    }
}

/// Additive causal mask: 0 on and below the diagonal, -inf above. [1, 1, tokens, tokens]
pub fn causal_mask<B: Backend>(tokens: usize, device: &B::Device) -> Tensor<B, 4> {
    let mut data = vec![0f32; tokens * tokens];
    for i in 0..tokens {
        for j in (i + 1)..tokens {
            data[i * tokens + j] = f32::NEG_INFINITY;
        }
    }
    Tensor::<B, 2>::from_data(TensorData::new(data, [tokens, tokens]), device)
        .reshape([1, 1, tokens, tokens])
}
