//! The linear layer, the attention core and the head split/merge, on gemm.

use super::math::*;
use super::*;
use burn::tensor::Shape;

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
    match on(x) {
        On::Tracked(t) => Ok(wrap(record(HeadMoveOp(how), [&t], || {
            (move_heads_flex(&t.primitive, dims, how), dims)
        }))),
        On::Plain(t) => Ok(wrap_plain(move_heads_flex(&t, dims, how))),
        On::Other(x) => Err(x),
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
    let out = written(a.rows * b.cols, |out| gemm_slice(out, a, b));
    flex_from(out, [a.rows, b.cols].into())
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
    if w.dtype() != DType::F32 || b.dtype() != DType::F32 {
        return x.matmul(w) + b.unsqueeze::<2>();
    }
    match on(x) {
        On::Tracked(t) => {
            let (w, b) = (tracked_operand(w), tracked_operand(b));
            wrap(record(DenseOp, [&t, &w, &b], || {
                let xc = contiguous(&t.primitive);
                let y = dense_flex(&xc, &w.primitive, &b.primitive);
                (y, (xc, w.primitive.clone()))
            }))
        }
        On::Plain(t) => wrap_plain(dense_flex(&t, &plain_operand(w), &plain_operand(b))),
        On::Other(x) => x.matmul(w) + b.unsqueeze::<2>(),
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
    assert!(size_of::<T>() == 4, "gemm: f32 output");
    assert!(out.len() >= a.rows * b.cols, "gemm: output too short");
    gemm_into(out.as_mut_ptr().cast(), a, b, false);
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
    if k.dtype() != DType::F32 || v.dtype() != DType::F32 {
        return composite(q, k, v);
    }
    let [batch, heads, tokens, head_dim] = q.dims();
    let dims = AttnDims {
        slices: batch * heads,
        tokens,
        head_dim,
        causal,
    };
    let shape: Shape = [batch, heads, tokens, head_dim].into();
    match on(q) {
        On::Tracked(qt) => {
            let (kt, vt) = (tracked_operand(k), tracked_operand(v));
            wrap(record(AttentionOp, [&qt, &kt, &vt], || {
                let q = contiguous(&qt.primitive);
                let k = contiguous(&kt.primitive);
                let v = contiguous(&vt.primitive);
                let (out, probs) =
                    attention_flex(&f32_data(&q), &f32_data(&k), &f32_data(&v), dims);
                let state = AttnState {
                    q,
                    k,
                    v,
                    probs,
                    dims,
                };
                (flex_from(out, shape), state)
            }))
        }
        On::Plain(qt) => {
            let q = contiguous(&qt);
            let k = contiguous(&plain_operand(k));
            let v = contiguous(&plain_operand(v));
            let (out, _) = attention_flex(&f32_data(&q), &f32_data(&k), &f32_data(&v), dims);
            wrap_plain(flex_from(out, shape))
        }
        On::Other(q) => composite(q, k, v),
    }
}
