//! Optimisation as open_clip does it: AdamW (PyTorch's algorithm, beta1 0.9, beta2 0.98,
//! eps 1e-6, weight decay 0.2) with no weight decay on parameters of fewer than 2 dimensions,
//! optional global gradient-norm clipping over all parameters together (as PyTorch's
//! `clip_grad_norm_`), and the logit scale clamped to [0, ln 100] after each step.
//!
//! open_clip exempts from decay every parameter with `ndim < 2` or whose name holds "bn", "ln",
//! "bias" or "logit_scale". In this model every norm gain and bias, the class token and the
//! logit scale are 1-D, so the rank rule alone is exact, while the 2-D token and positional
//! embedding tables are decayed, as in open_clip. burn 0.21 has no parameter groups, hence this
//! optimiser: the rank is known at compile time in [`SimpleOptimizer::step`].

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::SimpleOptimizer;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, LearningRate};
use burn::prelude::*;
use burn::record::Record;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::model::Clip;
use crate::model::clip::max_logit_scale;

/// AdamW settings; the defaults are open_clip's.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdamWSpec {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWSpec {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.98,
            eps: 1e-6,
            weight_decay: 0.2,
        }
    }
}

/// PyTorch's AdamW with decay only on parameters of 2 or more dimensions.
#[derive(Debug, Clone)]
pub struct ClipAdamW {
    pub spec: AdamWSpec,
}

/// Per-parameter state: moments and the parameter's own step count (for bias correction).
#[derive(Record, Clone)]
pub struct ClipAdamWState<B: Backend, const D: usize> {
    pub moment_1: Tensor<B, D>,
    pub moment_2: Tensor<B, D>,
    pub steps: usize,
}

impl<B: Backend> SimpleOptimizer<B> for ClipAdamW {
    type State<const D: usize> = ClipAdamWState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let s = &self.spec;
        let (m, v, steps) = match state {
            Some(st) => (
                st.moment_1 * s.beta1 + grad.clone() * (1.0 - s.beta1),
                st.moment_2 * s.beta2 + grad.square() * (1.0 - s.beta2),
                st.steps + 1,
            ),
            None => (
                grad.clone() * (1.0 - s.beta1),
                grad.square() * (1.0 - s.beta2),
                1,
            ),
        };
        let decayed = if D >= 2 && s.weight_decay != 0.0 {
            tensor * (1.0 - lr * s.weight_decay)
        } else {
            tensor
        };
        let bias_1 = 1.0 - s.beta1.powi(steps as i32);
        let bias_2 = 1.0 - s.beta2.powi(steps as i32);
        let denom = v.clone().sqrt() / bias_2.sqrt() + s.eps;
        let updated = decayed - m.clone() / denom * (lr / bias_1);
        (
            updated,
            Some(ClipAdamWState {
                moment_1: m,
                moment_2: v,
                steps,
            }),
        )
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        state.moment_1 = state.moment_1.to_device(device);
        state.moment_2 = state.moment_2.to_device(device);
        state
    }
}

/// The optimiser for a CLIP model on an autodiff backend.
pub type ClipOptimizer<B> = OptimizerAdaptor<ClipAdamW, Clip<B>, B>;

pub fn optimizer<B: AutodiffBackend>(spec: AdamWSpec) -> ClipOptimizer<B> {
    OptimizerAdaptor::from(ClipAdamW { spec })
}

/// Sums the squares of every gradient, on the device.
struct SquaredNorm<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    total: Option<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let s = g.square().sum(); // [1]
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

/// Multiplies every gradient by a factor (a [1] tensor, so no host round trip is needed).
struct Scale<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    factor: Tensor<B::InnerBackend, 1>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            let f = self.factor.clone().reshape([1; D]);
            self.grads.register::<B::InnerBackend, D>(param.id, g * f);
        }
    }
}

/// The global L2 norm of all gradients. -> [1]
pub fn global_grad_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &GradientsParams,
) -> Option<Tensor<B::InnerBackend, 1>> {
    let mut v = SquaredNorm::<B> { grads, total: None };
    model.visit(&mut v);
    v.total.map(|t| t.sqrt())
}

/// Scales all gradients together so that their global norm is at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_` (factor max_norm / (norm + 1e-6), capped at 1).
/// Returns the norm before clipping. -> [1]
pub fn clip_global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> Option<Tensor<B::InnerBackend, 1>> {
    let norm = global_grad_norm::<B, M>(model, grads)?;
    let factor = (norm.clone().add_scalar(1e-6).recip() * max_norm).clamp_max(1.0);
    let mut s = Scale::<B> { grads, factor };
    model.visit(&mut s);
    Some(norm)
}

/// Multiplies every gradient by `factor` (the f16 loss scale's inverse).
pub fn scale_grads<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &mut GradientsParams,
    factor: f64,
) {
    let device = model.devices().into_iter().next();
    let Some(device) = device else { return };
    let factor = Tensor::<B::InnerBackend, 1>::from_floats([factor as f32], &device);
    model.visit(&mut Scale::<B> { grads, factor });
}

/// After each step: logit scale into [0, ln 100].
/// Done on the inner (non-autodiff) tensor, so the parameter stays a leaf of the next graph.
pub fn clamp_logit_scale<B: AutodiffBackend>(mut model: Clip<B>) -> Clip<B> {
    model.logit_scale = model
        .logit_scale
        .map(|t| Tensor::from_inner(t.inner().clamp(0.0, max_logit_scale())).require_grad());
    model
}
