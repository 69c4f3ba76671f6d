//! Fused kernels for the CPU backend, with their own backward passes.
//!
//! burn 0.21's Flex backend computes GELU through a scalar `erff` call per element (forward and
//! again in the backward); under `Autodiff`, softmax and layer norm are compositions of 5-10
//! tracked operations, each a full pass over memory with its own backward; and every matrix
//! product's output is zero-filled and then copied once more to realign it. Profiling the
//! training step (`perf record` on `clipscale bench train --model w64-d3 --batch 256`) put GELU
//! alone at a quarter of the step and layout copies at another quarter. Here GELU, softmax, layer
//! norm, the per-token add, the linear layer, the attention core and the head split/merge are
//! each one vectorised, multi-threaded pass forward and one backward, registered with burn's
//! autodiff graph as a single operation (`harness/bench/README.md` has the measurements).
//!
//! The functions are generic over the backend and pick the fused path at run time when the
//! backend is Flex (plain or under `Autodiff`) and the tensors are f32; every other backend
//! (CUDA, which fuses on its own) and dtype (bf16 in mixed precision) gets burn's own operations,
//! so the model code stays backend-generic and nothing changes on the GPU.
//!
//! Accuracy: GELU uses Abramowitz & Stegun 7.1.26 for erfc (absolute error below 1.5e-7, well
//! inside f32 training noise) and a degree-6 polynomial exp; the rest is exact up to f32
//! rounding. `harness/tests/fused.rs` compares each against burn's composite on the same inputs,
//! values and gradients.

use std::any::Any;
use std::mem::MaybeUninit;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{Flex, FlexTensor};
use burn::prelude::*;
use burn::tensor::{DType, TensorMetadata, TensorPrimitive};
use rayon::prelude::*;

type AdFlex = Autodiff<Flex>;
/// A Flex tensor under autodiff: the primitive and its graph node.
type AdPrim = burn::tensor::ops::FloatTensor<AdFlex>;

/// Elements per parallel task: large enough that scheduling is noise, small enough that two
/// threads share a [256 * 65, 256] activation evenly.
const CHUNK: usize = 1 << 14;

// ---------------------------------------------------------------------------------------------
// Backend selection

/// Moves a value to type `U` when it is one (the caller's generic `B` is Flex), else gives it back.
fn cast<T: 'static, U: 'static>(x: T) -> Result<U, T> {
    let boxed: Box<dyn Any> = Box::new(x);
    match boxed.downcast::<U>() {
        Ok(u) => Ok(*u),
        Err(b) => Err(*b.downcast::<T>().expect("type round trip")),
    }
}

fn back<T: 'static, U: 'static>(x: T) -> U {
    cast::<T, U>(x)
        .ok()
        .expect("fused kernel operand or result has the caller's type")
}

/// Where a caller's tensor lives, as far as the fused kernels are concerned.
enum On<B: Backend, const D: usize> {
    /// f32 Flex under autodiff: the kernel, recorded with its own backward.
    Tracked(AdPrim),
    /// f32 plain Flex (inference): the kernel alone.
    Plain(FlexTensor),
    /// Any other backend or dtype: burn's own operations.
    Other(Tensor<B, D>),
}

fn on<B: Backend, const D: usize>(x: Tensor<B, D>) -> On<B, D> {
    if x.dtype() != DType::F32 {
        return On::Other(x);
    }
    match cast::<Tensor<B, D>, Tensor<AdFlex, D>>(x) {
        Ok(t) => On::Tracked(t.into_primitive().tensor()),
        Err(x) => match cast::<Tensor<B, D>, Tensor<Flex, D>>(x) {
            Ok(t) => On::Plain(t.into_primitive().tensor()),
            Err(x) => On::Other(x),
        },
    }
}

/// A further operand of a kernel whose first operand was [`On::Tracked`] (same backend).
fn tracked_operand<B: Backend, const D: usize>(t: Tensor<B, D>) -> AdPrim {
    back::<Tensor<B, D>, Tensor<AdFlex, D>>(t)
        .into_primitive()
        .tensor()
}

/// A further operand of a kernel whose first operand was [`On::Plain`] (same backend).
fn plain_operand<B: Backend, const D: usize>(t: Tensor<B, D>) -> FlexTensor {
    back::<Tensor<B, D>, Tensor<Flex, D>>(t)
        .into_primitive()
        .tensor()
}

fn wrap<B: Backend, const D: usize>(out: AdPrim) -> Tensor<B, D> {
    back(Tensor::<AdFlex, D>::from_primitive(TensorPrimitive::Float(
        out,
    )))
}

fn wrap_plain<B: Backend, const D: usize>(out: FlexTensor) -> Tensor<B, D> {
    back(Tensor::<Flex, D>::from_primitive(TensorPrimitive::Float(
        out,
    )))
}

/// Runs a kernel on autodiff operands and records it as one operation: `run` gives the output
/// and the state its backward pass needs (kept only when a parent requires gradients).
fn record<O: Backward<Flex, N>, const N: usize>(
    op: O,
    parents: [&AdPrim; N],
    run: impl FnOnce() -> (FlexTensor, O::State),
) -> AdPrim {
    match op
        .prepare::<NoCheckpointing>(parents.map(|p| p.node.clone()))
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (y, state) = run();
            prep.finish(state, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(run().0),
    }
}

// ---------------------------------------------------------------------------------------------
// Buffers and parallel loops

/// A contiguous f32 view of a Flex tensor (copying only when it is a strided view).
fn f32_data(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().unwrap().to_vec()),
    }
}

fn flex_from(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Applies `f` to (input chunk, output chunk) pairs in parallel; `f` writes every output.
fn map_chunks(x: &[f32], f: impl Fn(&[f32], &mut [MaybeUninit<f32>]) + Sync) -> Vec<f32> {
    written(x.len(), |y| {
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(yc, xc)| f(xc, yc))
    })
}

/// A gradient's values, owned and contiguous, to be overwritten in place (copied only when the
/// buffer is shared or strided).
fn owned_f32(t: FlexTensor) -> (Vec<f32>, Shape) {
    let shape = t.shape();
    let values = t.into_data().into_vec::<f32>().expect("f32 tensor");
    (values, shape)
}

fn rows_per_task(w: usize) -> usize {
    (CHUNK / w.max(1)).max(1)
}

fn contiguous(t: &FlexTensor) -> FlexTensor {
    if t.is_contiguous() && t.layout().start_offset() == 0 {
        t.clone()
    } else {
        t.to_contiguous()
    }
}

/// Column sums of a row-major [rows, cols] matrix.
fn column_sums(g: &[f32], cols: usize) -> Vec<f32> {
    let step = rows_per_task(cols);
    let partials: Vec<Vec<f32>> = g
        .par_chunks(step * cols)
        .map(|c| {
            let mut acc = vec![0f32; cols];
            for row in c.chunks_exact(cols) {
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a += v;
                }
            }
            acc
        })
        .collect();
    let mut total = vec![0f32; cols];
    for p in partials {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

/// A Vec of `len` f32 whose every element `fill` writes.
fn written(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut v: Vec<f32> = Vec::with_capacity(len);
    fill(&mut v.spare_capacity_mut()[..len]);
    // SAFETY: `fill` wrote all `len` elements (its callers write every chunk).
    unsafe { v.set_len(len) };
    v
}

mod elementwise;
mod linear;
mod math;

pub use elementwise::{
    LAYER_NORM_EPS, add_per_token, gelu, layer_norm, softmax_composite, softmax_last,
};
pub use linear::{attention, dense, merge_heads, split_heads};
