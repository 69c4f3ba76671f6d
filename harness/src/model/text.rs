//! The causal transformer text tower, as open_clip's `TextTransformer`: token and positional
//! embeddings, causal residual attention blocks, ln_final, pooling at the end-of-text token by
//! POSITION (given by the tokenizer, so vocabularies that put the end token anywhere work),
//! projection without bias.

use burn::module::Param;
use burn::nn::LayerNorm;
use burn::prelude::*;
use burn::tensor::module::embedding;

use super::block::{BlockInit, Transformer, layer_norm};
use super::config::ClipConfig;
use super::fused;
use super::init::{Init, ParamFactory};
use super::precision;

#[derive(Module, Debug)]
pub struct TextTower<B: Backend> {
    /// [vocab_size, width]
    pub token_embedding: Param<Tensor<B, 2>>,
    /// [context_length, width]
    pub positional_embedding: Param<Tensor<B, 2>>,
    pub transformer: Transformer<B>,
    pub ln_final: LayerNorm<B>,
    /// [width, embed_dim]
    pub text_projection: Param<Tensor<B, 2>>,
}

impl<B: Backend> TextTower<B> {
    pub fn new(f: &ParamFactory<'_, B>, cfg: &ClipConfig) -> Self {
        let t = &cfg.text;
        let w = t.width;
        Self {
            token_embedding: f.param(
                "token_embedding",
                [t.vocab_size, w],
                Init::Normal { std: 0.02 },
            ),
            positional_embedding: f.param(
                "positional_embedding",
                [t.context_length, w],
                Init::Normal { std: 0.01 },
            ),
            transformer: Transformer::new(
                &f.child("transformer"),
                &t.stack(),
                cfg.quick_gelu,
                BlockInit::OpenClipText,
            ),
            ln_final: layer_norm(w, f.device),
            text_projection: f.param(
                "text_projection",
                [w, cfg.embed_dim],
                Init::Normal {
                    std: (w as f64).powf(-0.5),
                },
            ),
        }
    }

    /// Hidden states of every position after the last block (before ln_final).
    /// tokens: [batch, len] (len <= context_length) -> [batch * len, width]
    pub fn hidden(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        let [batch, len] = tokens.dims();
        let [_, width] = self.positional_embedding.dims();
        let pos = self.positional_embedding.val().narrow(0, 0, len);
        let x = embedding(self.token_embedding.val(), tokens).reshape([batch * len, width]);
        let x = fused::add_per_token(x, pos); // [batch * len, width]
        self.transformer.forward(x, batch, len, true)
    }

    /// tokens: [batch, len] (len <= context_length); eot_pos: [batch], the position of each
    /// caption's end-of-text token. -> [batch, embed_dim] (not normalised)
    pub fn forward(&self, tokens: Tensor<B, 2, Int>, eot_pos: Tensor<B, 1, Int>) -> Tensor<B, 2> {
        let [batch, len] = tokens.dims();
        let device = tokens.device();
        let x = self.hidden(tokens); // [batch * len, width]
        // row of each caption's end token in the flattened [batch * len, width] stream
        let rows = Tensor::<B, 1, Int>::arange(0..batch as i64, &device) * (len as i64) + eot_pos;
        let pooled = x.select(0, rows); // [batch, width]
        precision::linear(
            fused::layer_norm(&self.ln_final, pooled),
            self.text_projection.val(),
            None,
        )
    }
}
