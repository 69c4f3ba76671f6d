//! Mixed precision: bf16 matrix products with fp32 master weights, as PyTorch's autocast does.
//!
//! burn 0.21 has no automatic mixed precision, and pure bf16 training does not learn (the
//! logit-scale update is below one bf16 ulp, so it never moves). So the parameters stay f32 and
//! only the matrix products run in bf16: their inputs are cast at the product (casts are
//! differentiable, so gradients come back to the f32 parameters in f32) and their outputs cast
//! back to f32. Everything else — layer norms, GELU, the attention softmax, the residual stream,
//! the L2 normalisation, the logit scale and the contrastive loss — stays f32, as autocast keeps
//! softmax, norms and losses in fp32.
//!
//! The precision is a scoped setting of the forward pass (`autocast`), like `torch.autocast`;
//! the training loop enters it around the loss, and evaluation runs in f32 on the f32 weights.

use std::cell::Cell;

use burn::prelude::*;
use burn::tensor::FloatDType;
use serde::{Deserialize, Serialize};

use super::fused;

/// The compute precision of a trial's training step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in f32.
    #[default]
    F32,
    /// bf16 matrix products, f32 master weights, f32 everything else.
    Bf16,
}

impl Precision {
    pub fn is_f32(&self) -> bool {
        *self == Precision::F32
    }

    pub fn name(&self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }
}

thread_local! {
    static CURRENT: Cell<Precision> = const { Cell::new(Precision::F32) };
}

/// The precision the forward pass on this thread is in.
pub fn current() -> Precision {
    CURRENT.with(|c| c.get())
}

/// Runs `f` with the forward pass in precision `p` (restored afterwards, even on a panic).
pub fn autocast<R>(p: Precision, f: impl FnOnce() -> R) -> R {
    struct Restore(Precision);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(p)));
    f()
}

fn bf16<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, D> {
    t.cast(FloatDType::BF16)
}

fn f32<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, D> {
    t.cast(FloatDType::F32)
}

/// x [rows, in] W [in, out] (+ b [out]) in the current precision; the bias is added in f32.
pub fn linear<B: Backend>(
    x: Tensor<B, 2>,
    w: Tensor<B, 2>,
    b: Option<Tensor<B, 1>>,
) -> Tensor<B, 2> {
    match current() {
        Precision::F32 => match b {
            Some(b) => fused::dense(x, w, b),
            None => x.matmul(w),
        },
        Precision::Bf16 => {
            let y = f32(bf16(x).matmul(bf16(w)));
            match b {
                Some(b) => y + b.unsqueeze::<2>(),
                None => y,
            }
        }
    }
}

/// softmax(q k^T [causal]) v over [batch, heads, tokens, head_dim]: in bf16 mode both products
/// in bf16 and the softmax in f32.
pub fn attention<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    causal: bool,
) -> Tensor<B, 4> {
    match current() {
        Precision::F32 => fused::attention(q, k, v, causal),
        Precision::Bf16 => {
            let scores = f32(bf16(q).matmul(bf16(k).swap_dims(2, 3)));
            let probs = fused::softmax_last(scores, causal);
            f32(bf16(probs).matmul(bf16(v)))
        }
    }
}
