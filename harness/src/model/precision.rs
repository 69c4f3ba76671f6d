//! Mixed precision: bf16 or f16 matrix products with fp32 master weights, as PyTorch's autocast
//! does.
//!
//! burn 0.21 has no automatic mixed precision, and pure bf16 training does not learn (the
//! logit-scale update is below one bf16 ulp, so it never moves). So the parameters stay f32 and
//! only the matrix products run in half precision: their inputs are cast at the product (casts
//! are differentiable, so gradients come back to the f32 parameters in f32) and their outputs
//! cast back to f32. Everything else — layer norms, GELU, the attention softmax, the residual
//! stream, the L2 normalisation, the logit scale and the contrastive loss — stays f32, as
//! autocast keeps softmax, norms and losses in fp32.
//!
//! bf16 has f32's range, so its gradients need no care. f16 (for wgpu, whose shaders have no
//! bf16) has five exponent bits: small gradients flush to zero in the products' backward pass,
//! so the trainer scales the loss up before the backward pass and the gradients down after it,
//! as PyTorch's `GradScaler` does ([`crate::train::Trainer`]).
//!
//! The precision is a scoped setting of the forward pass (`autocast`), like `torch.autocast`;
//! the training loop enters it around the loss, and evaluation runs in f32 on the f32 weights.

use std::cell::Cell;

use burn::prelude::*;
use burn::tensor::{DType, FloatDType};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::fused;
use crate::backend::BackendInfo;

/// The compute precision of a trial's training step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in f32.
    #[default]
    F32,
    /// bf16 matrix products, f32 master weights, f32 everything else.
    Bf16,
    /// f16 matrix products, f32 master weights, f32 everything else, dynamic loss scaling.
    F16,
}

/// The device cannot compute in the precision asked for.
#[derive(Debug, Error, PartialEq)]
pub enum PrecisionError {
    #[error(
        "--precision bf16 is not available on {device} ({backend} backend): its shaders have no \
         bf16 type; use --precision f16 (f16 products, f32 weights, loss scaling) or f32"
    )]
    NoBf16 {
        device: String,
        backend: &'static str,
    },
    #[error(
        "--precision f16 needs shader f16 (wgpu's SHADER_F16 feature; Vulkan's shaderFloat16 with \
         16-bit storage buffers), which {device} ({backend} backend) does not offer; use \
         --precision f32"
    )]
    NoF16 {
        device: String,
        backend: &'static str,
    },
}
impl Precision {
    pub fn is_f32(&self) -> bool {
        *self == Precision::F32
    }

    pub fn name(&self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }

    /// The element type of the matrix products (`None`: f32, no casts).
    fn product_dtype(self) -> Option<FloatDType> {
        match self {
            Precision::F32 => None,
            Precision::Bf16 => Some(FloatDType::BF16),
            Precision::F16 => Some(FloatDType::F16),
        }
    }

    /// Whether backend `B` on `device` computes in this precision: bf16 and f16 need the type
    /// for storage and arithmetic (burn's `supports_dtype`). `info` names the device in the
    /// error (its name is looked up only then: a driver query, not worth a trial's start).
    pub fn check_supported<B: Backend>(
        self,
        device: &B::Device,
        info: &BackendInfo,
    ) -> Result<(), PrecisionError> {
        let device_name = || crate::backend::device_name(info.device);
        let backend = info.backend;
        match self {
            Precision::F32 => Ok(()),
            Precision::Bf16 if !B::supports_dtype(device, DType::BF16) => {
                Err(PrecisionError::NoBf16 {
                    device: device_name(),
                    backend,
                })
            }
            Precision::F16 if !B::supports_dtype(device, DType::F16) => {
                Err(PrecisionError::NoF16 {
                    device: device_name(),
                    backend,
                })
            }
            _ => Ok(()),
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

fn low<B: Backend, const D: usize>(t: Tensor<B, D>, dtype: FloatDType) -> Tensor<B, D> {
    t.cast(dtype)
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
    match current().product_dtype() {
        None => match b {
            Some(b) => fused::dense(x, w, b),
            None => x.matmul(w),
        },
        Some(half) => {
            let y = f32(low(x, half).matmul(low(w, half)));
            match b {
                Some(b) => y + b.unsqueeze::<2>(),
                None => y,
            }
        }
    }
}

/// softmax(q k^T [causal]) v over [batch, heads, tokens, head_dim]: in bf16 or f16 mode both
/// products in half precision and the softmax in f32.
pub fn attention<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    causal: bool,
) -> Tensor<B, 4> {
    match current().product_dtype() {
        None => fused::attention(q, k, v, causal),
        Some(half) => {
            let scores = f32(low(q, half).matmul(low(k, half).swap_dims(2, 3)));
            let probs = fused::softmax_last(scores, causal);
            f32(low(probs, half).matmul(low(v, half)))
        }
    }
}
