//! A fully connected layer on 2-D activations, weight stored as [in, out].
//!
//! Callers flatten [batch, tokens, width] to [batch * tokens, width] first: one matrix product
//! instead of one per sample, and a weight gradient without a [batch, in, out] intermediate.

use burn::module::Param;
use burn::prelude::*;

use super::init::{Init, ParamFactory};
use super::precision;

#[derive(Module, Debug)]
pub struct Dense<B: Backend> {
    /// [d_in, d_out]
    pub weight: Param<Tensor<B, 2>>,
    /// [d_out]
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Dense<B> {
    pub fn new(
        f: &ParamFactory<'_, B>,
        d_in: usize,
        d_out: usize,
        weight: Init,
        bias: Option<Init>,
    ) -> Self {
        Self {
            weight: f.param("weight", [d_in, d_out], weight),
            bias: bias.map(|b| f.param("bias", [d_out], b)),
        }
    }

    /// PyTorch's `nn.Linear` default: weight and bias uniform in +-1/sqrt(d_in).
    pub fn torch_default(f: &ParamFactory<'_, B>, d_in: usize, d_out: usize) -> Self {
        let bound = 1.0 / (d_in as f64).sqrt();
        Self::new(
            f,
            d_in,
            d_out,
            Init::Uniform { bound },
            Some(Init::Uniform { bound }),
        )
    }

    /// x: [rows, d_in] -> [rows, d_out] (in the current [`precision`](super::precision)).
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        precision::linear(x, self.weight.val(), self.bias.as_ref().map(|b| b.val()))
    }
}
