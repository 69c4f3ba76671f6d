//! Fused element-wise kernels for the CPU backend, with their own backward passes.
//!
//! burn 0.21's Flex backend computes GELU through a scalar `erff` call per element (forward and
//! again in the backward), and under `Autodiff` softmax and layer norm are compositions of 5-10
//! tracked operations, each a full pass over memory with its own backward. Profiling the training
//! step (`perf record` on `clipscale bench train --model w64-d3 --batch 256`) put GELU alone at
//! about a quarter of the step. Here each of them is one vectorised, multi-threaded pass forward
//! and one backward, registered with burn's autodiff graph as a single operation.
//!
//! The functions are generic over the backend and pick the fused path at run time when the
//! backend is Flex (plain or under `Autodiff`) and the tensor is f32; every other backend (CUDA,
//! which fuses on its own) and dtype (bf16 in mixed precision) gets burn's own operation, so the
//! model code stays backend-generic and nothing changes on the GPU.
//!
//! Accuracy: GELU uses Abramowitz & Stegun 7.1.26 for erfc (absolute error below 1.5e-7, well
//! inside f32 training noise) and a degree-6 polynomial exp; softmax and layer norm are exact up
//! to f32 rounding. Tests compare each against burn's composite on the same inputs, values and
//! gradients.

use std::any::Any;
use std::mem::MaybeUninit;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{Flex, FlexTensor};
use burn::prelude::*;
use burn::tensor::activation;
use burn::tensor::{DType, TensorMetadata, TensorPrimitive};
use rayon::prelude::*;

type AdFlex = Autodiff<Flex>;

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
        .expect("fused kernel result has the caller's type")
}

/// A contiguous f32 view of a Flex tensor (copying only when it is a strided view).
fn f32_data(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().unwrap().to_vec()),
    }
}

fn flex_from(values: Vec<f32>, shape: burn::tensor::Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Applies `f` to (input chunk, output chunk) pairs in parallel; `f` writes every output.
fn map_chunks(x: &[f32], f: impl Fn(&[f32], &mut [MaybeUninit<f32>]) + Sync) -> Vec<f32> {
    let mut y: Vec<f32> = Vec::with_capacity(x.len());
    y.spare_capacity_mut()[..x.len()]
        .par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(yc, xc)| f(xc, yc));
    // SAFETY: every chunk of the first x.len() elements was written by `f`.
    unsafe { y.set_len(x.len()) };
    y
}

/// A gradient's values, owned and contiguous, to be overwritten in place (copied only when the
/// buffer is shared or strided).
fn owned_f32(t: FlexTensor) -> (Vec<f32>, burn::tensor::Shape) {
    let shape = t.shape();
    let values = t.into_data().into_vec::<f32>().expect("f32 tensor");
    (values, shape)
}

/// Compiles a slice kernel for AVX-512 and AVX2+FMA as well as the baseline, and picks the best
/// the CPU has at run time (the loops are written so that LLVM vectorises them).
macro_rules! multiversion {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$m])*
        fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn imp($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                unsafe fn v4($($arg: $ty),*) { imp($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn v3($($arg: $ty),*) { imp($($arg),*) }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                {
                    // SAFETY: the CPU has the features v4 is compiled for.
                    return unsafe { v4($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has the features v3 is compiled for.
                    return unsafe { v3($($arg),*) };
                }
            }
            imp($($arg),*)
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Element math (branch-free so that it vectorises)

/// e^v for v <= 0 (0 below -87): Cody-Waite range reduction and a degree-6 polynomial.
#[inline(always)]
fn exp_nonpos(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    let c = v.max(-87.0);
    let t = c * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let n_int = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
    let r = c - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n_int + 127) << 23) as u32);
    if v < -87.0 { 0.0 } else { p * scale }
}

/// (Phi(x), e^(-x^2/2)) for GELU: the standard normal CDF and the unnormalised density.
#[inline(always)]
fn normal_cdf_and_density(x: f32) -> (f32, f32) {
    const P: f32 = 0.327_591_1;
    const A1: f32 = 0.254_829_6;
    const A2: f32 = -0.284_496_74;
    const A3: f32 = 1.421_413_7;
    const A4: f32 = -1.453_152;
    const A5: f32 = 1.061_405_4;
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + P * z);
    let poly = t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5))));
    let e = exp_nonpos(-z * z);
    let half_erfc = 0.5 * poly * e;
    let cdf = if x >= 0.0 { 1.0 - half_erfc } else { half_erfc };
    (cdf, e)
}

const INV_SQRT_2PI: f32 = 0.398_942_3;

multiversion! {
    fn gelu_slice(x: &[f32], y: &mut [MaybeUninit<f32>]) {
        for (yi, &xi) in y.iter_mut().zip(x) {
            let (cdf, _) = normal_cdf_and_density(xi);
            yi.write(xi * cdf);
        }
    }
}

multiversion! {
    /// g <- g * gelu'(x), in place.
    fn gelu_backward_slice(x: &[f32], g: &mut [f32]) {
        for (gi, &xi) in g.iter_mut().zip(x) {
            let (cdf, e) = normal_cdf_and_density(xi);
            *gi *= cdf + xi * e * INV_SQRT_2PI;
        }
    }
}

multiversion! {
    /// Softmax over rows of `n` (in place on `y`, which holds the input); with `causal`, entry j
    /// of row r (query r % n) is masked when j > r % n.
    fn softmax_rows(y: &mut [f32], n: usize, first_row: usize, causal: bool) {
        for (i, row) in y.chunks_exact_mut(n).enumerate() {
            let q = (first_row + i) % n;
            let valid = if causal { q + 1 } else { n };
            let (live, masked) = row.split_at_mut(valid);
            let mut max = f32::NEG_INFINITY;
            for &v in live.iter() {
                max = max.max(v);
            }
            let mut sum = 0.0f32;
            for v in live.iter_mut() {
                *v = exp_nonpos(*v - max);
                sum += *v;
            }
            let inv = 1.0 / sum;
            for v in live.iter_mut() {
                *v *= inv;
            }
            for v in masked.iter_mut() {
                *v = 0.0;
            }
        }
    }
}

multiversion! {
    fn softmax_backward_rows(y: &[f32], g: &[f32], dx: &mut [f32], n: usize) {
        for ((yr, gr), dr) in y.chunks_exact(n).zip(g.chunks_exact(n)).zip(dx.chunks_exact_mut(n)) {
            let mut dot = 0.0f32;
            for (&yi, &gi) in yr.iter().zip(gr) {
                dot += yi * gi;
            }
            for ((d, &yi), &gi) in dr.iter_mut().zip(yr).zip(gr) {
                *d = yi * (gi - dot);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GELU

fn gelu_flex(x: &FlexTensor) -> FlexTensor {
    let data = f32_data(x);
    flex_from(map_chunks(&data, gelu_slice), x.shape())
}

fn gelu_backward_flex(x: &FlexTensor, grad: FlexTensor) -> FlexTensor {
    let xd = f32_data(x);
    let (mut g, shape) = owned_f32(grad);
    assert_eq!(g.len(), xd.len(), "gelu backward: gradient size differs");
    g.par_chunks_mut(CHUNK)
        .zip(xd.par_chunks(CHUNK))
        .for_each(|(gc, xc)| gelu_backward_slice(xc, gc));
    flex_from(g, shape)
}

#[derive(Debug)]
struct GeluOp;

impl Backward<Flex, 1> for GeluOp {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let x = ops.state;
        burn::backend::autodiff::ops::unary::<Flex, _>(ops.parents, ops.node, grads, |g| {
            gelu_backward_flex(&x, g)
        });
    }
}

/// GELU (the exact, erf form that open_clip's `nn.GELU` uses).
pub fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    if x.dtype() != DType::F32 {
        return activation::gelu(x);
    }
    let x = match cast::<Tensor<B, D>, Tensor<AdFlex, D>>(x) {
        Ok(t) => {
            let t = t.into_primitive().tensor();
            let out = match GeluOp
                .prepare::<NoCheckpointing>([t.node.clone()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let y = gelu_flex(&t.primitive);
                    prep.finish(t.primitive, y)
                }
                OpsKind::UnTracked(prep) => prep.finish(gelu_flex(&t.primitive)),
            };
            return back(Tensor::<AdFlex, D>::from_primitive(TensorPrimitive::Float(
                out,
            )));
        }
        Err(x) => x,
    };
    match cast::<Tensor<B, D>, Tensor<Flex, D>>(x) {
        Ok(t) => {
            let y = gelu_flex(&t.into_primitive().tensor());
            back(Tensor::<Flex, D>::from_primitive(TensorPrimitive::Float(y)))
        }
        Err(x) => activation::gelu(x),
    }
}

// ---------------------------------------------------------------------------------------------
// Softmax over the last dimension, optionally causal

fn softmax_flex(x: &FlexTensor, causal: bool) -> FlexTensor {
    let shape = x.shape();
    let n = shape[shape.num_dims() - 1];
    let mut y = f32_data(x).into_owned();
    let rows_per_task = (CHUNK / n.max(1)).max(1);
    y.par_chunks_mut(rows_per_task * n)
        .enumerate()
        .for_each(|(i, c)| softmax_rows(c, n, i * rows_per_task, causal));
    flex_from(y, shape)
}

fn softmax_backward_flex(y: &FlexTensor, grad: &FlexTensor) -> FlexTensor {
    let shape = y.shape();
    let n = shape[shape.num_dims() - 1];
    let yd = f32_data(y);
    let gd = f32_data(grad);
    let rows_per_task = (CHUNK / n.max(1)).max(1);
    let mut dx = vec![0f32; yd.len()];
    dx.par_chunks_mut(rows_per_task * n)
        .zip(
            yd.par_chunks(rows_per_task * n)
                .zip(gd.par_chunks(rows_per_task * n)),
        )
        .for_each(|(d, (yc, gc))| softmax_backward_rows(yc, gc, d, n));
    flex_from(dx, shape)
}

#[derive(Debug)]
struct SoftmaxOp;

impl Backward<Flex, 1> for SoftmaxOp {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let y = ops.state;
        burn::backend::autodiff::ops::unary::<Flex, _>(ops.parents, ops.node, grads, |g| {
            softmax_backward_flex(&y, &g)
        });
    }
}

/// Softmax over the last dimension. With `causal`, the last two dimensions are a square
/// [query, key] block and keys after the query are masked out (probability exactly 0), which is
/// the text tower's attention mask fused into the softmax.
pub fn softmax_last<B: Backend, const D: usize>(x: Tensor<B, D>, causal: bool) -> Tensor<B, D> {
    if x.dtype() != DType::F32 {
        return softmax_composite(x, causal);
    }
    let x = match cast::<Tensor<B, D>, Tensor<AdFlex, D>>(x) {
        Ok(t) => {
            let t = t.into_primitive().tensor();
            let out = match SoftmaxOp
                .prepare::<NoCheckpointing>([t.node.clone()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let y = softmax_flex(&t.primitive, causal);
                    prep.finish(y.clone(), y)
                }
                OpsKind::UnTracked(prep) => prep.finish(softmax_flex(&t.primitive, causal)),
            };
            return back(Tensor::<AdFlex, D>::from_primitive(TensorPrimitive::Float(
                out,
            )));
        }
        Err(x) => x,
    };
    match cast::<Tensor<B, D>, Tensor<Flex, D>>(x) {
        Ok(t) => {
            let y = softmax_flex(&t.into_primitive().tensor(), causal);
            back(Tensor::<Flex, D>::from_primitive(TensorPrimitive::Float(y)))
        }
        Err(x) => softmax_composite(x, causal),
    }
}

/// burn's own softmax, with the causal mask added first: the reference the fused kernel matches.
pub fn softmax_composite<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    causal: bool,
) -> Tensor<B, D> {
    let x = if causal {
        let dims = x.dims();
        let n = dims[D - 1];
        let mut data = vec![0f32; n * n];
        for i in 0..n {
            for j in (i + 1)..n {
                data[i * n + j] = f32::NEG_INFINITY;
            }
        }
        let mask = Tensor::<B, 2>::from_data(TensorData::new(data, [n, n]), &x.device());
        let mut shape = [1usize; D];
        shape[D - 2] = n;
        shape[D - 1] = n;
        x + mask.reshape(shape)
    } else {
        x
    };
    activation::softmax(x, D - 1)
}

// ---------------------------------------------------------------------------------------------
// Attention heads: [batch * tokens, heads * head_dim] <-> [batch, heads, tokens, head_dim]

/// Which way a head permutation goes.
#[derive(Debug, Clone, Copy)]
enum HeadMove {
    /// [batch * tokens, width] -> [batch, heads, tokens, head_dim]
    Split,
    /// [batch, heads, tokens, head_dim] -> [batch * tokens, width]
    Merge,
}

#[derive(Debug, Clone, Copy)]
struct HeadDims {
    batch: usize,
    tokens: usize,
    heads: usize,
    head_dim: usize,
}

/// The permutation as a blocked copy: each (batch, token, head) moves one contiguous run of
/// `head_dim` values, where burn's generic strided iterator moves one element at a time.
fn move_heads_flex(x: &FlexTensor, dims: HeadDims, how: HeadMove) -> FlexTensor {
    let HeadDims {
        batch,
        tokens,
        heads,
        head_dim,
    } = dims;
    let width = heads * head_dim;
    let src = f32_data(x);
    let per_batch = tokens * width;
    assert_eq!(
        src.len(),
        batch * per_batch,
        "head permutation: size mismatch"
    );
    let mut dst = vec![0f32; src.len()];
    dst.par_chunks_mut(per_batch)
        .zip(src.par_chunks(per_batch))
        .for_each(|(d, s)| {
            for t in 0..tokens {
                for h in 0..heads {
                    let rows = t * width + h * head_dim; // [tokens, width] position
                    let split = (h * tokens + t) * head_dim; // [heads, tokens, head_dim] position
                    let (from, to) = match how {
                        HeadMove::Split => (rows, split),
                        HeadMove::Merge => (split, rows),
                    };
                    d[to..to + head_dim].copy_from_slice(&s[from..from + head_dim]);
                }
            }
        });
    let shape: burn::tensor::Shape = match how {
        HeadMove::Split => [batch, heads, tokens, head_dim].into(),
        HeadMove::Merge => [batch * tokens, width].into(),
    };
    flex_from(dst, shape)
}

#[derive(Debug)]
struct HeadMoveOp(HeadMove);

impl Backward<Flex, 1> for HeadMoveOp {
    type State = HeadDims;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let inverse = match self.0 {
            HeadMove::Split => HeadMove::Merge,
            HeadMove::Merge => HeadMove::Split,
        };
        let dims = ops.state;
        burn::backend::autodiff::ops::unary::<Flex, _>(ops.parents, ops.node, grads, |g| {
            move_heads_flex(&g, dims, inverse)
        });
    }
}

/// Runs a head permutation on Flex (plain or under autodiff), or gives the tensor back.
fn move_heads_fused<B: Backend, const D: usize, const E: usize>(
    x: Tensor<B, D>,
    dims: HeadDims,
    how: HeadMove,
) -> Result<Tensor<B, E>, Tensor<B, D>> {
    if x.dtype() != DType::F32 {
        return Err(x);
    }
    let x = match cast::<Tensor<B, D>, Tensor<AdFlex, D>>(x) {
        Ok(t) => {
            let t = t.into_primitive().tensor();
            let out = match HeadMoveOp(how)
                .prepare::<NoCheckpointing>([t.node.clone()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let y = move_heads_flex(&t.primitive, dims, how);
                    prep.finish(dims, y)
                }
                OpsKind::UnTracked(prep) => prep.finish(move_heads_flex(&t.primitive, dims, how)),
            };
            return Ok(back(Tensor::<AdFlex, E>::from_primitive(
                TensorPrimitive::Float(out),
            )));
        }
        Err(x) => x,
    };
    match cast::<Tensor<B, D>, Tensor<Flex, D>>(x) {
        Ok(t) => {
            let y = move_heads_flex(&t.into_primitive().tensor(), dims, how);
            Ok(back(Tensor::<Flex, E>::from_primitive(
                TensorPrimitive::Float(y),
            )))
        }
        Err(x) => Err(x),
    }
}

/// [batch * tokens, heads * head_dim] -> [batch, heads, tokens, head_dim] (contiguous).
pub fn split_heads<B: Backend>(
    x: Tensor<B, 2>,
    batch: usize,
    tokens: usize,
    heads: usize,
) -> Tensor<B, 4> {
    let [_, width] = x.dims();
    let dims = HeadDims {
        batch,
        tokens,
        heads,
        head_dim: width / heads,
    };
    match move_heads_fused::<B, 2, 4>(x, dims, HeadMove::Split) {
        Ok(y) => y,
        Err(x) => x
            .reshape([batch, tokens, heads, width / heads])
            .swap_dims(1, 2),
    }
}

/// [batch, heads, tokens, head_dim] -> [batch * tokens, heads * head_dim].
pub fn merge_heads<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 2> {
    let [batch, heads, tokens, head_dim] = x.dims();
    let dims = HeadDims {
        batch,
        tokens,
        heads,
        head_dim,
    };
    match move_heads_fused::<B, 4, 2>(x, dims, HeadMove::Merge) {
        Ok(y) => y,
        Err(x) => x
            .swap_dims(1, 2)
            .reshape([batch * tokens, heads * head_dim]),
    }
}

// ---------------------------------------------------------------------------------------------
// Layer norm over the last dimension

/// open_clip's layer-norm epsilon (PyTorch's default).
pub const LAYER_NORM_EPS: f32 = 1e-5;

multiversion! {
    /// y = (x - mean) * rstd * gamma + beta per row of `w`; also keeps x_hat and rstd for the
    /// backward pass. Mean and variance in two passes, as PyTorch does.
    fn layer_norm_rows(
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        y: &mut [f32],
        x_hat: &mut [f32],
        rstd: &mut [f32],
        w: usize
    ) {
        for (((xr, yr), hr), r) in x
            .chunks_exact(w)
            .zip(y.chunks_exact_mut(w))
            .zip(x_hat.chunks_exact_mut(w))
            .zip(rstd.iter_mut())
        {
            let mut sum = 0.0f32;
            for &v in xr {
                sum += v;
            }
            let mean = sum / w as f32;
            let mut sq = 0.0f32;
            for &v in xr {
                sq += (v - mean) * (v - mean);
            }
            let inv = 1.0 / (sq / w as f32 + LAYER_NORM_EPS).sqrt();
            *r = inv;
            for ((((yv, hv), &xv), &gv), &bv) in
                yr.iter_mut().zip(hr.iter_mut()).zip(xr).zip(gamma).zip(beta)
            {
                let h = (xv - mean) * inv;
                *hv = h;
                *yv = h * gv + bv;
            }
        }
    }
}

multiversion! {
    /// dx per row, and the rows' contributions to dgamma and dbeta added to the accumulators.
    fn layer_norm_backward_rows(
        g: &[f32],
        x_hat: &[f32],
        rstd: &[f32],
        gamma: &[f32],
        dx: &mut [f32],
        dgamma: &mut [f32],
        dbeta: &mut [f32],
        w: usize
    ) {
        for (((gr, hr), &r), dr) in g
            .chunks_exact(w)
            .zip(x_hat.chunks_exact(w))
            .zip(rstd)
            .zip(dx.chunks_exact_mut(w))
        {
            let mut mean_gh = 0.0f32;
            let mut mean_ghh = 0.0f32;
            for ((&gv, &hv), &gam) in gr.iter().zip(hr).zip(gamma) {
                let gh = gv * gam;
                mean_gh += gh;
                mean_ghh += gh * hv;
            }
            mean_gh /= w as f32;
            mean_ghh /= w as f32;
            for ((((d, &gv), &hv), &gam), (dg, db)) in dr
                .iter_mut()
                .zip(gr)
                .zip(hr)
                .zip(gamma)
                .zip(dgamma.iter_mut().zip(dbeta.iter_mut()))
            {
                *d = r * (gv * gam - mean_gh - hv * mean_ghh);
                *dg += gv * hv;
                *db += gv;
            }
        }
    }
}

/// What the layer-norm backward pass needs: x_hat [rows, w], 1/std [rows], gamma [w].
#[derive(Debug, Clone)]
struct LayerNormState {
    x_hat: FlexTensor,
    rstd: Vec<f32>,
    gamma: Vec<f32>,
}

fn rows_per_task(w: usize) -> usize {
    (CHUNK / w.max(1)).max(1)
}

fn layer_norm_flex(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
) -> (FlexTensor, LayerNormState) {
    let shape = x.shape();
    let w = shape[shape.num_dims() - 1];
    let xd = f32_data(x);
    let gd = f32_data(gamma).into_owned();
    let bd = f32_data(beta);
    let rows = xd.len() / w.max(1);
    let mut y = vec![0f32; xd.len()];
    let mut x_hat = vec![0f32; xd.len()];
    let mut rstd = vec![0f32; rows];
    let step = rows_per_task(w);
    y.par_chunks_mut(step * w)
        .zip(x_hat.par_chunks_mut(step * w))
        .zip(rstd.par_chunks_mut(step))
        .zip(xd.par_chunks(step * w))
        .for_each(|(((yc, hc), rc), xc)| layer_norm_rows(xc, &gd, &bd, yc, hc, rc, w));
    let state = LayerNormState {
        x_hat: flex_from(x_hat, shape.clone()),
        rstd,
        gamma: gd,
    };
    (flex_from(y, shape), state)
}

/// -> (dx, dgamma, dbeta)
fn layer_norm_backward_flex(
    s: &LayerNormState,
    grad: &FlexTensor,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let shape = grad.shape();
    let w = s.gamma.len();
    let gd = f32_data(grad);
    let hd = f32_data(&s.x_hat);
    let mut dx = vec![0f32; gd.len()];
    let step = rows_per_task(w);
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(step * w)
        .zip(gd.par_chunks(step * w))
        .zip(hd.par_chunks(step * w))
        .zip(s.rstd.par_chunks(step))
        .map(|(((dc, gc), hc), rc)| {
            let mut dgamma = vec![0f32; w];
            let mut dbeta = vec![0f32; w];
            layer_norm_backward_rows(gc, hc, rc, &s.gamma, dc, &mut dgamma, &mut dbeta, w);
            (dgamma, dbeta)
        })
        .collect();
    let mut dgamma = vec![0f32; w];
    let mut dbeta = vec![0f32; w];
    for (pg, pb) in partials {
        for i in 0..w {
            dgamma[i] += pg[i];
            dbeta[i] += pb[i];
        }
    }
    (
        flex_from(dx, shape),
        flex_from(dgamma, [w].into()),
        flex_from(dbeta, [w].into()),
    )
}

#[derive(Debug)]
struct LayerNormOp;

impl Backward<Flex, 3> for LayerNormOp {
    type State = LayerNormState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [px, pg, pb] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (dx, dgamma, dbeta) = layer_norm_backward_flex(&ops.state, &grad);
        if let Some(node) = px {
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = pg {
            grads.register::<Flex>(node.id, dgamma);
        }
        if let Some(node) = pb {
            grads.register::<Flex>(node.id, dbeta);
        }
    }
}

/// `ln.forward(x)` (over the last dimension, epsilon [`LAYER_NORM_EPS`]) as one fused pass on
/// the CPU. Layer norms without a bias take burn's path.
pub fn layer_norm<B: Backend, const D: usize>(
    ln: &burn::nn::LayerNorm<B>,
    x: Tensor<B, D>,
) -> Tensor<B, D> {
    let Some(beta) = ln.beta.as_ref() else {
        return ln.forward(x);
    };
    if x.dtype() != DType::F32 {
        return ln.forward(x);
    }
    let gamma = ln.gamma.val();
    let beta = beta.val();
    let x = match cast::<Tensor<B, D>, Tensor<AdFlex, D>>(x) {
        Ok(t) => {
            let t = t.into_primitive().tensor();
            let g = back::<_, Tensor<AdFlex, 1>>(gamma)
                .into_primitive()
                .tensor();
            let b = back::<_, Tensor<AdFlex, 1>>(beta).into_primitive().tensor();
            let out = match LayerNormOp
                .prepare::<NoCheckpointing>([t.node.clone(), g.node.clone(), b.node.clone()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let (y, state) = layer_norm_flex(&t.primitive, &g.primitive, &b.primitive);
                    prep.finish(state, y)
                }
                OpsKind::UnTracked(prep) => {
                    prep.finish(layer_norm_flex(&t.primitive, &g.primitive, &b.primitive).0)
                }
            };
            return back(Tensor::<AdFlex, D>::from_primitive(TensorPrimitive::Float(
                out,
            )));
        }
        Err(x) => x,
    };
    match cast::<Tensor<B, D>, Tensor<Flex, D>>(x) {
        Ok(t) => {
            let g = back::<_, Tensor<Flex, 1>>(gamma).into_primitive().tensor();
            let b = back::<_, Tensor<Flex, 1>>(beta).into_primitive().tensor();
            let (y, _) = layer_norm_flex(&t.into_primitive().tensor(), &g, &b);
            back(Tensor::<Flex, D>::from_primitive(TensorPrimitive::Float(y)))
        }
        Err(x) => ln.forward(x),
    }
}

// ---------------------------------------------------------------------------------------------
// Linear layer: y = x W + b

/// A 2-D f32 matrix in a Flex tensor's storage: base pointer (start offset applied), row stride
/// and column stride, so a narrowed or transposed weight is used in place.
struct MatRef<'a> {
    data: &'a [f32],
    offset: usize,
    rows: usize,
    cols: usize,
    rs: isize,
    cs: isize,
}

impl<'a> MatRef<'a> {
    fn of(t: &'a FlexTensor) -> Self {
        let shape = t.shape();
        let strides = t.layout().strides();
        assert!(
            shape.num_dims() == 2 && strides.len() == 2,
            "MatRef: not a matrix"
        );
        assert!(
            strides[0] >= 0 && strides[1] >= 0,
            "MatRef: negative strides"
        );
        Self {
            data: t.storage::<f32>(),
            offset: t.layout().start_offset(),
            rows: shape[0],
            cols: shape[1],
            rs: strides[0],
            cs: strides[1],
        }
    }

    fn transposed(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    fn ptr(&self) -> *const f32 {
        // the last element touched is within the storage
        let last = self.offset as isize
            + (self.rows as isize - 1).max(0) * self.rs
            + (self.cols as isize - 1).max(0) * self.cs;
        assert!(
            self.rows == 0 || self.cols == 0 || (last as usize) < self.data.len(),
            "MatRef: view outside its storage"
        );
        self.data[self.offset..].as_ptr()
    }
}

/// out = [out +] a b, out row-major [a.rows, b.cols]; `accumulate` reads what `out` holds.
fn gemm_into(out: *mut f32, a: &MatRef, b: &MatRef, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "gemm: inner dimensions differ");
    let parallelism = if m * n * k >= 192 * 192 * 192 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `out` has m * n writable f32 (the callers allocate it); a and b are checked views
    // into live storage; gemm writes every element of out when `accumulate` is false.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out,
            1,
            n as isize,
            accumulate,
            a.ptr(),
            a.cs,
            a.rs,
            b.ptr(),
            b.cs,
            b.rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// A fresh [rows, cols] result written entirely by gemm (no zero fill, no copy).
fn gemm_new(a: &MatRef, b: &MatRef) -> FlexTensor {
    let len = a.rows * b.cols;
    let mut out: Vec<f32> = Vec::with_capacity(len);
    gemm_into(out.spare_capacity_mut().as_mut_ptr().cast(), a, b, false);
    // SAFETY: gemm wrote all `len` elements.
    unsafe { out.set_len(len) };
    flex_from(out, [a.rows, b.cols].into())
}

fn contiguous(t: &FlexTensor) -> FlexTensor {
    if t.is_contiguous() && t.layout().start_offset() == 0 {
        t.clone()
    } else {
        t.to_contiguous()
    }
}

fn dense_flex(x: &FlexTensor, w: &FlexTensor, b: &FlexTensor) -> FlexTensor {
    let x = contiguous(x);
    let (xm, wm) = (MatRef::of(&x), MatRef::of(w));
    let bias = f32_data(b);
    assert_eq!(
        bias.len(),
        wm.cols,
        "dense: bias length differs from the output width"
    );
    // start from the bias in every row, then accumulate x W onto it
    let mut out: Vec<f32> = Vec::with_capacity(xm.rows * wm.cols);
    for _ in 0..xm.rows {
        out.extend_from_slice(&bias);
    }
    gemm_into(out.as_mut_ptr(), &xm, &wm, true);
    flex_from(out, [xm.rows, wm.cols].into())
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

#[derive(Debug)]
struct DenseOp;

impl Backward<Flex, 3> for DenseOp {
    /// (x contiguous, weight as given)
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [px, pw, pb] = ops.parents;
        let g = contiguous(&grads.consume::<Flex>(&ops.node));
        let (x, w) = ops.state;
        let gm = MatRef::of(&g);
        if let Some(node) = px {
            // dx = g W^T
            grads.register::<Flex>(node.id, gemm_new(&gm, &MatRef::of(&w).transposed()));
        }
        if let Some(node) = pw {
            // dW = x^T g
            grads.register::<Flex>(node.id, gemm_new(&MatRef::of(&x).transposed(), &gm));
        }
        if let Some(node) = pb {
            let cols = gm.cols;
            let sums = column_sums(g.as_slice::<f32>().expect("contiguous"), cols);
            grads.register::<Flex>(node.id, flex_from(sums, [cols].into()));
        }
    }
}

/// x [rows, in] W [in, out] + b [out] as one operation on the CPU: gemm writes onto the
/// broadcast bias (no separate add, and none of the zero-fill and realignment copy that burn
/// 0.21's Flex matmul does for every output); the backward pass is two gemms and a column sum.
pub fn dense<B: Backend>(x: Tensor<B, 2>, w: Tensor<B, 2>, b: Tensor<B, 1>) -> Tensor<B, 2> {
    if x.dtype() != DType::F32 || w.dtype() != DType::F32 || b.dtype() != DType::F32 {
        return x.matmul(w) + b.unsqueeze::<2>();
    }
    let x = match cast::<Tensor<B, 2>, Tensor<AdFlex, 2>>(x) {
        Ok(t) => {
            let t = t.into_primitive().tensor();
            let w = back::<_, Tensor<AdFlex, 2>>(w).into_primitive().tensor();
            let b = back::<_, Tensor<AdFlex, 1>>(b).into_primitive().tensor();
            let out = match DenseOp
                .prepare::<NoCheckpointing>([t.node.clone(), w.node.clone(), b.node.clone()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let xc = contiguous(&t.primitive);
                    let y = dense_flex(&xc, &w.primitive, &b.primitive);
                    prep.finish((xc, w.primitive), y)
                }
                OpsKind::UnTracked(prep) => {
                    prep.finish(dense_flex(&t.primitive, &w.primitive, &b.primitive))
                }
            };
            return back(Tensor::<AdFlex, 2>::from_primitive(TensorPrimitive::Float(
                out,
            )));
        }
        Err(x) => x,
    };
    match cast::<Tensor<B, 2>, Tensor<Flex, 2>>(x) {
        Ok(t) => {
            let w = back::<_, Tensor<Flex, 2>>(w).into_primitive().tensor();
            let b = back::<_, Tensor<Flex, 1>>(b).into_primitive().tensor();
            let y = dense_flex(&t.into_primitive().tensor(), &w, &b);
            back(Tensor::<Flex, 2>::from_primitive(TensorPrimitive::Float(y)))
        }
        Err(x) => x.matmul(w) + b.unsqueeze::<2>(),
    }
}

// ---------------------------------------------------------------------------------------------
// Attention core: softmax(q k^T [+ causal mask]) v per (batch, head)

impl<'a> MatRef<'a> {
    /// A row-major [rows, cols] block of a slice.
    fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "MatRef: slice too short");
        Self {
            data,
            offset: 0,
            rows,
            cols,
            rs: cols as isize,
            cs: 1,
        }
    }
}

fn gemm_slice<T>(out: &mut [T], a: &MatRef, b: &MatRef) {
    // T is f32 or MaybeUninit<f32> (gemm writes without reading)
    assert!(std::mem::size_of::<T>() == 4, "gemm: f32 output");
    assert!(out.len() >= a.rows * b.cols, "gemm: output too short");
    gemm_into(out.as_mut_ptr().cast(), a, b, false);
}

/// A Vec of `len` f32 whose every element `fill` writes.
fn written(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut v: Vec<f32> = Vec::with_capacity(len);
    fill(&mut v.spare_capacity_mut()[..len]);
    // SAFETY: `fill` wrote all `len` elements (its callers write every chunk).
    unsafe { v.set_len(len) };
    v
}

#[derive(Debug, Clone, Copy)]
struct AttnDims {
    slices: usize,
    tokens: usize,
    head_dim: usize,
    causal: bool,
}

/// -> (output [slices, t, d], probabilities [slices, t, t])
fn attention_flex(q: &[f32], k: &[f32], v: &[f32], a: AttnDims) -> (Vec<f32>, Vec<f32>) {
    let (t, d) = (a.tokens, a.head_dim);
    let mut probs = Vec::new();
    let out = written(a.slices * t * d, |out| {
        probs = written(a.slices * t * t, |probs| {
            out.par_chunks_mut(t * d)
                .zip(probs.par_chunks_mut(t * t))
                .enumerate()
                .for_each(|(s, (o, p))| {
                    let qs = MatRef::rows(&q[s * t * d..], t, d);
                    let ks = MatRef::rows(&k[s * t * d..], t, d);
                    let vs = MatRef::rows(&v[s * t * d..], t, d);
                    gemm_slice(p, &qs, &ks.transposed()); // scores
                    // SAFETY: gemm wrote all t * t scores.
                    let p = unsafe { assume_init(p) };
                    softmax_rows(p, t, 0, a.causal);
                    gemm_slice(o, &MatRef::rows(p, t, t), &vs);
                });
        });
    });
    (out, probs)
}

/// # Safety
/// Every element of `s` must have been written.
unsafe fn assume_init(s: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: MaybeUninit<f32> has f32's layout; the caller guarantees initialisation.
    unsafe { &mut *(s as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// -> (dq, dk, dv)
fn attention_backward_flex(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    probs: &[f32],
    g: &[f32],
    a: AttnDims,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (t, d) = (a.tokens, a.head_dim);
    let n = a.slices * t * d;
    let (mut dk, mut dv) = (Vec::new(), Vec::new());
    let dq = written(n, |dq| {
        dk = written(n, |dk| {
            dv = written(n, |dv| {
                dq.par_chunks_mut(t * d)
                    .zip(dk.par_chunks_mut(t * d))
                    .zip(dv.par_chunks_mut(t * d))
                    .enumerate()
                    .for_each(|(s, ((dqs, dks), dvs))| {
                        let off = s * t * d;
                        let ps = MatRef::rows(&probs[s * t * t..], t, t);
                        let gs = MatRef::rows(&g[off..], t, d);
                        // dV = P^T dO
                        gemm_slice(dvs, &ps.transposed(), &gs);
                        // dP = dO V^T, then dS = P * (dP - rowsum(dP * P))
                        let mut dp = vec![0f32; t * t];
                        gemm_slice(&mut dp, &gs, &MatRef::rows(&v[off..], t, d).transposed());
                        let mut ds = vec![0f32; t * t];
                        softmax_backward_rows(&probs[s * t * t..(s + 1) * t * t], &dp, &mut ds, t);
                        let dsm = MatRef::rows(&ds, t, t);
                        // dQ = dS K, dK = dS^T Q
                        gemm_slice(dqs, &dsm, &MatRef::rows(&k[off..], t, d));
                        gemm_slice(dks, &dsm.transposed(), &MatRef::rows(&q[off..], t, d));
                    });
            });
        });
    });
    (dq, dk, dv)
}

#[derive(Debug, Clone)]
struct AttnState {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    probs: Vec<f32>,
    dims: AttnDims,
}

#[derive(Debug)]
struct AttentionOp;

impl Backward<Flex, 3> for AttentionOp {
    type State = AttnState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [pq, pk, pv] = ops.parents;
        let g = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let shape = s.q.shape();
        let (dq, dk, dv) = attention_backward_flex(
            &f32_data(&s.q),
            &f32_data(&s.k),
            &f32_data(&s.v),
            &s.probs,
            &f32_data(&g),
            s.dims,
        );
        for (parent, grad) in [(pq, dq), (pk, dk), (pv, dv)] {
            if let Some(node) = parent {
                grads.register::<Flex>(node.id, flex_from(grad, shape.clone()));
            }
        }
    }
}

/// softmax(q k^T) v over [batch, heads, tokens, head_dim] (the query already scaled), with the
/// causal mask when asked: on the CPU one operation per (batch, head) whose scores never leave
/// the cache, and whose backward recomputes nothing but keeps the probabilities.
pub fn attention<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    causal: bool,
) -> Tensor<B, 4> {
    let composite = |q: Tensor<B, 4>, k: Tensor<B, 4>, v: Tensor<B, 4>| {
        softmax_last(q.matmul(k.swap_dims(2, 3)), causal).matmul(v)
    };
    if q.dtype() != DType::F32 || k.dtype() != DType::F32 || v.dtype() != DType::F32 {
        return composite(q, k, v);
    }
    let [batch, heads, tokens, head_dim] = q.dims();
    let dims = AttnDims {
        slices: batch * heads,
        tokens,
        head_dim,
        causal,
    };
    let shape: burn::tensor::Shape = [batch, heads, tokens, head_dim].into();
    let q = match cast::<Tensor<B, 4>, Tensor<AdFlex, 4>>(q) {
        Ok(qt) => {
            let qt = qt.into_primitive().tensor();
            let kt = back::<_, Tensor<AdFlex, 4>>(k).into_primitive().tensor();
            let vt = back::<_, Tensor<AdFlex, 4>>(v).into_primitive().tensor();
            let (qc, kc, vc) = (
                contiguous(&qt.primitive),
                contiguous(&kt.primitive),
                contiguous(&vt.primitive),
            );
            let (out, probs) = attention_flex(&f32_data(&qc), &f32_data(&kc), &f32_data(&vc), dims);
            let out_t = flex_from(out, shape);
            let out = match AttentionOp
                .prepare::<NoCheckpointing>([qt.node.clone(), kt.node.clone(), vt.node.clone()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(
                    AttnState {
                        q: qc,
                        k: kc,
                        v: vc,
                        probs,
                        dims,
                    },
                    out_t,
                ),
                OpsKind::UnTracked(prep) => prep.finish(out_t),
            };
            return back(Tensor::<AdFlex, 4>::from_primitive(TensorPrimitive::Float(
                out,
            )));
        }
        Err(q) => q,
    };
    match cast::<Tensor<B, 4>, Tensor<Flex, 4>>(q) {
        Ok(qt) => {
            let qc = contiguous(&qt.into_primitive().tensor());
            let kc = contiguous(&back::<_, Tensor<Flex, 4>>(k).into_primitive().tensor());
            let vc = contiguous(&back::<_, Tensor<Flex, 4>>(v).into_primitive().tensor());
            let (out, _) = attention_flex(&f32_data(&qc), &f32_data(&kc), &f32_data(&vc), dims);
            back(Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(
                flex_from(out, shape),
            )))
        }
        Err(q) => composite(q, k, v),
    }
}

// ---------------------------------------------------------------------------------------------
// Per-token addition: x [batch * tokens, width] + p [tokens, width] (positional embeddings)

fn add_per_token_flex(x: &FlexTensor, p: &FlexTensor) -> FlexTensor {
    let xd = f32_data(x);
    let pd = f32_data(p);
    let block = pd.len();
    assert!(
        block > 0 && xd.len() % block == 0,
        "add_per_token: sizes do not divide"
    );
    let y = written(xd.len(), |y| {
        y.par_chunks_mut(block)
            .zip(xd.par_chunks(block))
            .for_each(|(yc, xc)| {
                for ((o, &a), &b) in yc.iter_mut().zip(xc).zip(pd.iter()) {
                    o.write(a + b);
                }
            })
    });
    flex_from(y, x.shape())
}

#[derive(Debug)]
struct AddPerTokenOp;

impl Backward<Flex, 2> for AddPerTokenOp {
    /// the shape of p
    type State = burn::tensor::Shape;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [px, pp] = ops.parents;
        let g = grads.consume::<Flex>(&ops.node);
        if let Some(node) = pp {
            let block = ops.state.num_elements();
            let sums = column_sums(&f32_data(&g), block);
            grads.register::<Flex>(node.id, flex_from(sums, ops.state.clone()));
        }
        if let Some(node) = px {
            grads.register::<Flex>(node.id, g);
        }
    }
}

/// x [batch * tokens, width] + p [tokens, width], p repeated for every sample: one pass where
/// burn's broadcast add walks a strided iterator element by element.
pub fn add_per_token<B: Backend>(x: Tensor<B, 2>, p: Tensor<B, 2>) -> Tensor<B, 2> {
    let composite = |x: Tensor<B, 2>, p: Tensor<B, 2>| {
        let [rows, width] = x.dims();
        let [tokens, _] = p.dims();
        (x.reshape([rows / tokens, tokens, width]) + p.unsqueeze::<3>()).reshape([rows, width])
    };
    if x.dtype() != DType::F32 || p.dtype() != DType::F32 {
        return composite(x, p);
    }
    let x = match cast::<Tensor<B, 2>, Tensor<AdFlex, 2>>(x) {
        Ok(t) => {
            let t = t.into_primitive().tensor();
            let p = back::<_, Tensor<AdFlex, 2>>(p).into_primitive().tensor();
            let y = add_per_token_flex(&t.primitive, &p.primitive);
            let out = match AddPerTokenOp
                .prepare::<NoCheckpointing>([t.node.clone(), p.node.clone()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(p.primitive.shape(), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            };
            return back(Tensor::<AdFlex, 2>::from_primitive(TensorPrimitive::Float(
                out,
            )));
        }
        Err(x) => x,
    };
    match cast::<Tensor<B, 2>, Tensor<Flex, 2>>(x) {
        Ok(t) => {
            let p = back::<_, Tensor<Flex, 2>>(p).into_primitive().tensor();
            let y = add_per_token_flex(&t.into_primitive().tensor(), &p);
            back(Tensor::<Flex, 2>::from_primitive(TensorPrimitive::Float(y)))
        }
        Err(x) => composite(x, p),
    }
}
