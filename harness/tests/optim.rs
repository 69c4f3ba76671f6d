//! open_clip's optimisation: PyTorch's AdamW step by step, no decay on parameters of fewer than
//! 2 dimensions, global gradient-norm clipping over all parameters together.

use burn::module::Module;
use burn::optim::{GradientsParams, SimpleOptimizer};
use burn::prelude::*;
use clipscale::backend::{CpuBackend, CpuTrainBackend, to_vec};
use clipscale::batch::HostBatch;
use clipscale::model::ModelLadder;
use clipscale::train::optim::{
    AdamWSpec, ClipAdamW, clamp_logit_scale, clip_global_norm, global_grad_norm,
};

type B = CpuBackend;

/// PyTorch's AdamW on one scalar, in f64, as the reference.
fn torch_adamw(mut p: f64, grads: &[f64], lr: f64, s: &AdamWSpec, decay: bool) -> f64 {
    let (mut m, mut v) = (0.0, 0.0);
    for (t, g) in grads.iter().enumerate() {
        let t = (t + 1) as i32;
        if decay {
            p *= 1.0 - lr * s.weight_decay;
        }
        m = s.beta1 * m + (1.0 - s.beta1) * g;
        v = s.beta2 * v + (1.0 - s.beta2) * g * g;
        let denom = (v / (1.0 - s.beta2.powi(t))).sqrt() + s.eps;
        p -= lr / (1.0 - s.beta1.powi(t)) * m / denom;
    }
    p
}

fn run<const D: usize>(shape: [usize; D], p0: f32, grads: &[f32], lr: f64) -> f32 {
    let opt = ClipAdamW {
        spec: AdamWSpec::default(),
    };
    let device = Default::default();
    let n: usize = shape.iter().product();
    let mut p = Tensor::<B, D>::from_data(TensorData::new(vec![p0; n], shape), &device);
    let mut state = None;
    for g in grads {
        let g = Tensor::<B, D>::from_data(TensorData::new(vec![*g; n], shape), &device);
        let (np, ns) = SimpleOptimizer::<B>::step(&opt, lr, p, g, state);
        p = np;
        state = ns;
    }
    to_vec(p)[0]
}

#[test]
fn adamw_matches_pytorch_and_exempts_parameters_below_two_dimensions() {
    let s = AdamWSpec::default();
    let grads = [0.5f32, -0.2, 0.1, 0.7, -0.4];
    let g64: Vec<f64> = grads.iter().map(|g| *g as f64).collect();
    let lr = 1e-2;
    let two_d = run([3, 2], 1.5, &grads, lr) as f64;
    let one_d = run([4], 1.5, &grads, lr) as f64;
    let with_decay = torch_adamw(1.5, &g64, lr, &s, true);
    let without = torch_adamw(1.5, &g64, lr, &s, false);
    assert!(
        (two_d - with_decay).abs() < 1e-5,
        "2-D: {two_d} vs PyTorch {with_decay}"
    );
    assert!(
        (one_d - without).abs() < 1e-5,
        "1-D: {one_d} vs PyTorch without decay {without}"
    );
    assert!(
        (with_decay - without).abs() > 1e-4,
        "the test must tell decay from none"
    );
    // with zero gradients only decay moves a parameter: 2-D shrinks, 1-D stays
    assert!((run([2, 2], 2.0, &[0.0], 0.1) as f64 - 2.0 * (1.0 - 0.1 * 0.2)).abs() < 1e-6);
    assert_eq!(run([2], 2.0, &[0.0], 0.1), 2.0);
}

#[test]
fn global_norm_clipping_scales_all_gradients_together() {
    type AB = CpuTrainBackend;
    let cfg = ModelLadder::builtin()
        .get("w32-d2")
        .unwrap()
        .clone()
        .with_vocab_size(64);
    let device = Default::default();
    let model = cfg.init::<AB>(1, &device).unwrap();
    let batch = HostBatch::random(&cfg, 8, 2);
    let grads = GradientsParams::from_grads(
        model.loss(batch.to_device::<AB>(&device)).backward(),
        &model,
    );
    let norm = to_vec(global_grad_norm::<AB, _>(&model, &grads).unwrap())[0] as f64;
    assert!(norm > 0.0);
    // the norm by hand: every parameter's gradient
    let mut by_hand = 0.0f64;
    let v = &model.visual;
    for g in [
        v.conv1.grad_remove_ok(&grads),
        v.proj.grad_remove_ok(&grads),
    ] {
        by_hand += g;
    }
    assert!(
        by_hand < norm * norm + 1e-9,
        "a part cannot exceed the whole"
    );

    let max = norm / 4.0;
    let mut clipped = GradientsParams::from_grads(
        model.loss(batch.to_device::<AB>(&device)).backward(),
        &model,
    );
    let before = to_vec(clip_global_norm::<AB, _>(&model, &mut clipped, max).unwrap())[0] as f64;
    assert!((before - norm).abs() / norm < 1e-5);
    let after = to_vec(global_grad_norm::<AB, _>(&model, &clipped).unwrap())[0] as f64;
    assert!(
        (after - max).abs() / max < 1e-4,
        "clipped norm {after}, wanted {max}"
    );
    // a limit above the norm changes nothing
    let mut loose = GradientsParams::from_grads(
        model.loss(batch.to_device::<AB>(&device)).backward(),
        &model,
    );
    clip_global_norm::<AB, _>(&model, &mut loose, norm * 10.0);
    let same = to_vec(global_grad_norm::<AB, _>(&model, &loose).unwrap())[0] as f64;
    assert!((same - norm).abs() / norm < 1e-5);
    assert_eq!(model.num_params(), model.clone().num_params());
}

#[test]
fn logit_scale_is_clamped_to_zero_and_ln_100() {
    type AB = CpuTrainBackend;
    let cfg = ModelLadder::builtin()
        .get("w32-d2")
        .unwrap()
        .clone()
        .with_vocab_size(64);
    let device = Default::default();
    for (value, want) in [(7.0f32, 100f32.ln()), (-3.0, 0.0), (2.0, 2.0)] {
        let mut model = cfg.init::<AB>(1, &device).unwrap();
        model.logit_scale = model.logit_scale.map(|_| {
            Tensor::<AB, 1>::from_data(TensorData::new(vec![value], [1]), &device).require_grad()
        });
        let got = to_vec(clamp_logit_scale(model).logit_scale.val())[0];
        assert!((got - want).abs() < 1e-6, "{value} -> {got}, wanted {want}");
    }
}

/// Squared norm of one parameter's gradient, for the by-hand check.
trait GradSq {
    fn grad_remove_ok(&self, grads: &GradientsParams) -> f64;
}

impl<const D: usize> GradSq for burn::module::Param<Tensor<CpuTrainBackend, D>> {
    fn grad_remove_ok(&self, grads: &GradientsParams) -> f64 {
        grads
            .get::<CpuBackend, D>(self.id)
            .map(|g| to_vec(g).iter().map(|x| (*x as f64).powi(2)).sum())
            .unwrap_or(0.0)
    }
}
