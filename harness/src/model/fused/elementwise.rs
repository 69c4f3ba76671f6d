//! GELU, softmax, layer norm and the per-token add.

use super::math::*;
use super::*;
use burn::tensor::activation;

/// open_clip's layer-norm epsilon (PyTorch's default).
pub const LAYER_NORM_EPS: f32 = 1e-5;

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
    match on(x) {
        On::Tracked(t) => wrap(record(GeluOp, [&t], || {
            (gelu_flex(&t.primitive), t.primitive.clone())
        })),
        On::Plain(t) => wrap_plain(gelu_flex(&t)),
        On::Other(x) => activation::gelu(x),
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
    match on(x) {
        On::Tracked(t) => wrap(record(SoftmaxOp, [&t], || {
            let y = softmax_flex(&t.primitive, causal);
            (y.clone(), y)
        })),
        On::Plain(t) => wrap_plain(softmax_flex(&t, causal)),
        On::Other(x) => softmax_composite(x, causal),
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
// Layer norm over the last dimension

/// What the layer-norm backward pass needs: x_hat [rows, w], 1/std [rows], gamma [w].
#[derive(Debug, Clone)]
struct LayerNormState {
    x_hat: FlexTensor,
    rstd: Vec<f32>,
    gamma: Vec<f32>,
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
    ln: &nn::LayerNorm<B>,
    x: Tensor<B, D>,
) -> Tensor<B, D> {
    let Some(beta) = ln.beta.as_ref() else {
        return ln.forward(x);
    };
    let (gamma, beta) = (ln.gamma.val(), beta.val());
    if gamma.dtype() != DType::F32 || beta.dtype() != DType::F32 {
        return ln.forward(x);
    }
    match on(x) {
        On::Tracked(t) => {
            let (g, b) = (tracked_operand(gamma), tracked_operand(beta));
            wrap(record(LayerNormOp, [&t, &g, &b], || {
                layer_norm_flex(&t.primitive, &g.primitive, &b.primitive)
            }))
        }
        On::Plain(t) => {
            let (g, b) = (plain_operand(gamma), plain_operand(beta));
            wrap_plain(layer_norm_flex(&t, &g, &b).0)
        }
        On::Other(x) => ln.forward(x),
    }
}

// ---------------------------------------------------------------------------------------------
// Per-token addition: x [batch * tokens, width] + p [tokens, width] (positional embeddings)

fn add_per_token_flex(x: &FlexTensor, p: &FlexTensor) -> FlexTensor {
    let xd = f32_data(x);
    let pd = f32_data(p);
    let block = pd.len();
    assert!(
        block > 0 && xd.len().is_multiple_of(block),
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
    type State = Shape;

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
    if p.dtype() != DType::F32 {
        return composite(x, p);
    }
    match on(x) {
        On::Tracked(t) => {
            let p = tracked_operand(p);
            wrap(record(AddPerTokenOp, [&t, &p], || {
                (
                    add_per_token_flex(&t.primitive, &p.primitive),
                    p.primitive.shape(),
                )
            }))
        }
        On::Plain(t) => wrap_plain(add_per_token_flex(&t, &plain_operand(p))),
        On::Other(x) => composite(x, p),
    }
}
