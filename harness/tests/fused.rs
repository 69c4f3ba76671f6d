//! The fused CPU kernels (model::fused) against burn's own operations on the same inputs:
//! forward values and gradients, on Flex under autodiff and on plain Flex.

use clipscale_core::rng::{Random, SplitMix64};

use burn::backend::{Autodiff, Flex};
use burn::nn::LayerNorm;
use burn::prelude::*;
use burn::tensor::activation;
use burn::tensor::{TensorData, Tolerance};
use clipscale::model::block::layer_norm;
use clipscale::model::fused;

type B = Autodiff<Flex>;

/// Normal(0, scale) values from the harness's host generator, local to the call. burn's `seed`
/// sets one process-wide generator, and the tests of this file run on parallel threads: seeding it
/// and then drawing let another test draw in between, so the two runs of a comparison could get
/// different "same-seed" inputs (CI saw the attention gradients differ that way).
fn input<const D: usize>(shape: [usize; D], scale: f64, seed: u64) -> Tensor<B, D> {
    let mut rng = SplitMix64::new(seed);
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| (scale * rng.normal()) as f32).collect();
    Tensor::<B, D>::from_data(TensorData::new(values, shape), &Default::default())
}

/// Gradient of sum(f(x) * w) with respect to x, for a fixed random w (so every output element
/// gets a different upstream gradient).
fn value_and_grad<const D: usize>(
    x: &Tensor<B, D>,
    f: impl Fn(Tensor<B, D>) -> Tensor<B, D>,
) -> (Tensor<Flex, D>, Tensor<Flex, D>) {
    let x = x.clone().detach().require_grad();
    let y = f(x.clone());
    let w = input(y.dims(), 1.0, 99);
    let grads = (y.clone() * w).sum().backward();
    (y.inner(), x.grad(&grads).expect("x has a gradient"))
}

fn assert_close<const D: usize>(what: &str, got: Tensor<Flex, D>, want: Tensor<Flex, D>, tol: f64) {
    let got = got.into_data();
    let want = want.into_data();
    assert_eq!(got.shape, want.shape, "{what}: shapes differ");
    got.assert_approx_eq::<f32>(&want, Tolerance::absolute(tol));
}

#[test]
fn gelu_matches_burn_values_and_gradients() {
    // wide range, tails included: |x| up to ~12
    let x = input([333, 77], 3.0, 1);
    let (y, dx) = value_and_grad(&x, fused::gelu);
    let (y_ref, dx_ref) = value_and_grad(&x, activation::gelu);
    assert_close("gelu", y, y_ref, 2e-6 * 12.0);
    assert_close("gelu grad", dx, dx_ref, 2e-6 * 12.0);
    // the plain (inference) backend takes the fused path too
    let plain = fused::gelu(x.clone().inner());
    assert_close(
        "gelu (no autodiff)",
        plain,
        activation::gelu(x.inner()),
        2e-6 * 12.0,
    );
}

#[test]
fn gelu_tails_are_exact_limits() {
    let dev = Default::default();
    let x = Tensor::<Flex, 1>::from_floats([-40.0, -10.0, 0.0, 10.0, 40.0], &dev);
    let y: Vec<f32> = fused::gelu(x).into_data().to_vec().unwrap();
    assert_eq!(
        y[0], 0.0,
        "gelu(-40) underflows to 0, not NaN or a small negative"
    );
    assert!(y[1].abs() < 1e-20, "gelu(-10) = {}", y[1]);
    assert_eq!(y[2], 0.0);
    assert_eq!(y[3], 10.0);
    assert_eq!(y[4], 40.0);
}

#[test]
fn softmax_matches_burn_plain_and_causal() {
    let x = input([3, 2, 17, 17], 4.0, 2);
    for causal in [false, true] {
        let (y, dx) = value_and_grad(&x, |t| fused::softmax_last(t, causal));
        let (y_ref, dx_ref) = value_and_grad(&x, |t| fused::softmax_composite(t, causal));
        assert_close(&format!("softmax causal={causal}"), y.clone(), y_ref, 1e-6);
        assert_close(&format!("softmax grad causal={causal}"), dx, dx_ref, 1e-5);
        if causal {
            // masked entries are exactly zero: row 0 attends only to key 0
            let row0: Vec<f32> = y
                .slice([0..1, 0..1, 0..1, 0..17])
                .into_data()
                .to_vec()
                .unwrap();
            assert_eq!(row0[0], 1.0);
            assert!(row0[1..].iter().all(|&v| v == 0.0), "{row0:?}");
        }
    }
}

#[test]
fn layer_norm_matches_burn_values_and_all_gradients() {
    let dev = Default::default();
    let w = 48;
    let ln: LayerNorm<B> = layer_norm(w, &dev);
    // non-trivial gamma and beta so their gradients and effect are tested
    let mut ln = ln;
    ln.gamma = ln.gamma.map(|_| input([w], 1.0, 3).require_grad());
    ln.beta = ln
        .beta
        .map(|b| b.map(|_| input([w], 1.0, 4).require_grad()));
    let x = input([129, w], 2.0, 5) + 3.0; // an offset mean, as residual streams have
    let run = |fused_path: bool| {
        let xg = x.clone().detach().require_grad();
        let y = if fused_path {
            fused::layer_norm(&ln, xg.clone())
        } else {
            ln.forward(xg.clone())
        };
        let grads = (y.clone() * input(y.dims(), 1.0, 6)).sum().backward();
        (
            y.inner(),
            xg.grad(&grads).unwrap(),
            ln.gamma.val().grad(&grads).unwrap(),
            ln.beta.as_ref().unwrap().val().grad(&grads).unwrap(),
        )
    };
    let (y, dx, dg, db) = run(true);
    let (y_ref, dx_ref, dg_ref, db_ref) = run(false);
    assert_close("layer norm", y, y_ref, 1e-5);
    assert_close("layer norm dx", dx, dx_ref, 1e-4);
    assert_close("layer norm dgamma", dg, dg_ref, 1e-3);
    assert_close("layer norm dbeta", db, db_ref, 1e-3);
}

#[test]
fn head_split_and_merge_match_reshape_and_swap() {
    let (batch, tokens, heads, head_dim) = (3, 5, 4, 6);
    let x = input([batch * tokens, heads * head_dim], 1.0, 7);
    let split = |t: Tensor<B, 2>| fused::split_heads(t, batch, tokens, heads);
    let reference = |t: Tensor<B, 2>| t.reshape([batch, tokens, heads, head_dim]).swap_dims(1, 2);
    // through a round trip so value_and_grad sees a 2-D function; the split is checked directly
    assert_close(
        "split",
        split(x.clone()).inner(),
        reference(x.clone()).inner(),
        0.0,
    );
    let scale = input([batch, heads, tokens, head_dim], 1.0, 8);
    let (y, dx) = value_and_grad(&x, |t| fused::merge_heads(split(t) * scale.clone()));
    let (y_ref, dx_ref) = value_and_grad(&x, |t| {
        (reference(t) * scale.clone())
            .swap_dims(1, 2)
            .reshape([batch * tokens, heads * head_dim])
    });
    assert_close("merge(split)", y, y_ref, 0.0);
    assert_close("merge(split) grad", dx, dx_ref, 0.0);
}

#[test]
fn dense_matches_matmul_plus_bias_with_all_gradients() {
    // a weight slice of a packed matrix (strided view), as the attention's q/k/v use, and a
    // whole contiguous one
    let (rows, d_in, d_out) = (37, 24, 20);
    let packed = input([d_in, 3 * d_out], 0.3, 10);
    let bias = input([d_out], 0.3, 11);
    let x = input([rows, d_in], 1.0, 12);
    for sliced in [false, true] {
        let run = |fused_path: bool| {
            let xg = x.clone().detach().require_grad();
            let pg = packed.clone().detach().require_grad();
            let bg = bias.clone().detach().require_grad();
            let w = if sliced {
                pg.clone().narrow(1, d_out, d_out)
            } else {
                pg.clone().narrow(1, 0, d_out) * 1.0 // contiguous copy
            };
            let y = if fused_path {
                fused::dense(xg.clone(), w, bg.clone())
            } else {
                xg.clone().matmul(w) + bg.clone().unsqueeze::<2>()
            };
            let grads = (y.clone() * input(y.dims(), 1.0, 13)).sum().backward();
            (
                y.inner(),
                xg.grad(&grads).unwrap(),
                pg.grad(&grads).unwrap(),
                bg.grad(&grads).unwrap(),
            )
        };
        let (y, dx, dw, db) = run(true);
        let (y_ref, dx_ref, dw_ref, db_ref) = run(false);
        assert_close(&format!("dense sliced={sliced}"), y, y_ref, 1e-5);
        assert_close("dense dx", dx, dx_ref, 1e-5);
        assert_close("dense dW", dw, dw_ref, 1e-4);
        assert_close("dense db", db, db_ref, 1e-4);
    }
}

#[test]
fn attention_matches_matmul_softmax_matmul_with_all_gradients() {
    let shape = [3, 2, 9, 8];
    let (q, k, v) = (
        input(shape, 1.0, 20),
        input(shape, 1.0, 21),
        input(shape, 1.0, 22),
    );
    for causal in [false, true] {
        let run = |fused_path: bool| {
            let (qg, kg, vg) = (
                q.clone().detach().require_grad(),
                k.clone().detach().require_grad(),
                v.clone().detach().require_grad(),
            );
            let y = if fused_path {
                fused::attention(qg.clone(), kg.clone(), vg.clone(), causal)
            } else {
                fused::softmax_composite(qg.clone().matmul(kg.clone().swap_dims(2, 3)), causal)
                    .matmul(vg.clone())
            };
            let grads = (y.clone() * input(y.dims(), 1.0, 23)).sum().backward();
            (
                y.inner(),
                qg.grad(&grads).unwrap(),
                kg.grad(&grads).unwrap(),
                vg.grad(&grads).unwrap(),
            )
        };
        let (y, dq, dk, dv) = run(true);
        let (y_ref, dq_ref, dk_ref, dv_ref) = run(false);
        let what = format!("attention causal={causal}");
        assert_close(&what, y, y_ref, 1e-5);
        assert_close(&format!("{what} dq"), dq, dq_ref, 1e-5);
        assert_close(&format!("{what} dk"), dk, dk_ref, 1e-5);
        assert_close(&format!("{what} dv"), dv, dv_ref, 1e-5);
    }
}

#[test]
fn add_per_token_matches_broadcast_add_with_gradients() {
    let (batch, tokens, width) = (4, 7, 10);
    let x = input([batch * tokens, width], 1.0, 30);
    let p = input([tokens, width], 1.0, 31);
    let run = |fused_path: bool| {
        let (xg, pg) = (
            x.clone().detach().require_grad(),
            p.clone().detach().require_grad(),
        );
        let y = if fused_path {
            fused::add_per_token(xg.clone(), pg.clone())
        } else {
            (xg.clone().reshape([batch, tokens, width]) + pg.clone().unsqueeze::<3>())
                .reshape([batch * tokens, width])
        };
        let grads = (y.clone() * input(y.dims(), 1.0, 32)).sum().backward();
        (
            y.inner(),
            xg.grad(&grads).unwrap(),
            pg.grad(&grads).unwrap(),
        )
    };
    let (y, dx, dp) = run(true);
    let (y_ref, dx_ref, dp_ref) = run(false);
    assert_close("add_per_token", y, y_ref, 0.0);
    assert_close("add_per_token dx", dx, dx_ref, 0.0);
    assert_close("add_per_token dp", dp, dp_ref, 1e-5);
}
