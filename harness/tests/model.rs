//! Model behaviour on the CPU: shapes, unit-norm embeddings, the loss at equal embeddings,
//! causality of the text tower, determinism under a seed, exact parameter counts, and bad
//! configs refused before any tensor is built.

use burn::module::Module;
use burn::prelude::*;
use clipscale::backend::{CpuBackend, CpuTrainBackend, to_vec};
use clipscale::batch::HostBatch;
use clipscale::check::{capture_pass, compare};
use clipscale::flops::counts;
use clipscale::model::{ClipConfig, ModelLadder, contrastive_loss};

type B = CpuBackend;

fn small(name: &str) -> ClipConfig {
    ModelLadder::builtin().get(name).unwrap().clone()
}

#[test]
fn output_shapes_and_unit_norm_embeddings() {
    let cfg = small("w48-d2");
    let device = Default::default();
    let model = cfg.init::<B>(1, &device).unwrap();
    let batch = HostBatch::random(&cfg, 5, 3);
    let out = model.forward(batch.to_device::<B>(&device));
    assert_eq!(out.image.dims(), [5, cfg.embed_dim]);
    assert_eq!(out.text.dims(), [5, cfg.embed_dim]);
    for emb in [out.image, out.text] {
        let norms = to_vec(emb.square().sum_dim(1).sqrt());
        for n in norms {
            assert!((n - 1.0).abs() < 1e-5, "norm {n}");
        }
    }
    let scale = to_vec(out.scale)[0] as f64;
    assert!(
        (scale - 1.0 / 0.07).abs() < 1e-3,
        "initial exp(logit_scale) = {scale}"
    );
}

#[test]
fn loss_is_ln_batch_when_all_embeddings_are_equal() {
    let device = Default::default();
    for batch in [2usize, 7, 64] {
        let v: Vec<f32> = (0..batch * 4)
            .map(|i| [0.5f32, -0.5, 0.5, 0.5][i % 4])
            .collect();
        let e = Tensor::<B, 2>::from_data(TensorData::new(v, [batch, 4]), &device);
        let scale = Tensor::<B, 1>::from_data(TensorData::new(vec![14.3f32], [1]), &device);
        let loss = to_vec(contrastive_loss(e.clone(), e, scale))[0] as f64;
        assert!(
            (loss - (batch as f64).ln()).abs() < 1e-5,
            "batch {batch}: loss {loss}"
        );
    }
}

#[test]
fn loss_is_small_for_matched_pairs_and_symmetric() {
    let device = Default::default();
    // orthonormal rows: perfect matches
    let eye = Tensor::<B, 2>::from_data(
        TensorData::new(vec![1f32, 0., 0., 0., 1., 0., 0., 0., 1.], [3, 3]),
        &device,
    );
    let scale = Tensor::<B, 1>::from_data(TensorData::new(vec![100f32], [1]), &device);
    let loss = to_vec(contrastive_loss(eye.clone(), eye, scale.clone()))[0];
    assert!(loss < 1e-6, "perfectly matched pairs: loss {loss}");
    // swapping the towers gives the same loss
    let a = Tensor::<B, 2>::from_data(
        TensorData::new(vec![0.6f32, 0.8, 1.0, 0.0, 0.0, 1.0], [3, 2]),
        &device,
    );
    let b = Tensor::<B, 2>::from_data(
        TensorData::new(vec![1.0f32, 0.0, 0.8, 0.6, 0.6, 0.8], [3, 2]),
        &device,
    );
    let l1 = to_vec(contrastive_loss(a.clone(), b.clone(), scale.clone()))[0];
    let l2 = to_vec(contrastive_loss(b, a, scale))[0];
    assert!((l1 - l2).abs() < 1e-5, "{l1} vs {l2}");
}

#[test]
fn text_tower_is_causal() {
    let cfg = small("w32-d2");
    let device = Default::default();
    let model = cfg.init::<B>(4, &device).unwrap();
    let t = cfg.text.context_length;
    let base: Vec<i64> = (0..t as i64).map(|i| 3 + (i * 7) % 50).collect();
    let width = cfg.text.width;
    for changed in [1usize, t / 2, t - 1] {
        let mut other = base.clone();
        other[changed] += 1;
        let tokens = Tensor::<B, 2, Int>::from_data(
            TensorData::new([base.clone(), other].concat(), [2, t]),
            &device,
        );
        let h = to_vec(model.text.hidden(tokens)); // [2 * t, width]
        let (a, b) = h.split_at(t * width);
        for pos in 0..t {
            let row = |x: &[f32]| x[pos * width..(pos + 1) * width].to_vec();
            let diff: f32 = row(a)
                .iter()
                .zip(row(b))
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            if pos < changed {
                assert!(
                    diff == 0.0,
                    "position {pos} changed ({diff}) when only token {changed} did"
                );
            } else if pos == changed {
                assert!(
                    diff > 1e-4,
                    "position {pos} did not change when its own token did"
                );
            }
        }
    }
}

#[test]
fn text_pooling_is_at_the_end_token_position() {
    // Changing a token AFTER the end token must not change the text embedding; changing one
    // before it must.
    let cfg = small("w32-d2");
    let device = Default::default();
    let model = cfg.init::<B>(5, &device).unwrap();
    let t = cfg.text.context_length;
    let mut a = vec![0i64; t];
    a[0] = 1;
    a[1] = 10;
    a[2] = 11;
    a[3] = 2; // end token at position 3; the rest is padding
    let mut after = a.clone();
    after[5] = 40;
    let mut before = a.clone();
    before[2] = 12;
    let tokens = Tensor::<B, 2, Int>::from_data(
        TensorData::new([a, after, before].concat(), [3, t]),
        &device,
    );
    let eot = Tensor::<B, 1, Int>::from_data(TensorData::new(vec![3i64, 3, 3], [3]), &device);
    let e = to_vec(model.encode_text(tokens, eot));
    let d = cfg.embed_dim;
    let diff = |i: usize, j: usize| {
        (0..d)
            .map(|k| (e[i * d + k] - e[j * d + k]).abs())
            .fold(0.0f32, f32::max)
    };
    assert_eq!(
        diff(0, 1),
        0.0,
        "a token after the end token changed the embedding"
    );
    assert!(
        diff(0, 2) > 1e-4,
        "a token before the end token did not change the embedding"
    );
}

#[test]
fn same_seed_same_model_and_gradients_other_seed_differs() {
    let cfg = small("w32-d2");
    let batch = HostBatch::random(&cfg, 6, 11);
    let device = Default::default();
    let a = capture_pass::<CpuTrainBackend>(&cfg, 42, &batch, &device).unwrap();
    let b = capture_pass::<CpuTrainBackend>(&cfg, 42, &batch, &device).unwrap();
    for (q, e) in compare(&a, &b) {
        assert_eq!(e, 0.0, "{q} differs between two runs with the same seed");
    }
    assert!(
        a.grads
            .iter()
            .all(|(n, g)| !g.is_empty() && g.iter().any(|v| *v != 0.0) || n.is_empty()),
        "every captured gradient exists and is non-zero"
    );
    assert!(
        a.loss_after_step < a.loss,
        "one AdamW step on the batch did not lower its loss: {} -> {}",
        a.loss,
        a.loss_after_step
    );
    let c = capture_pass::<CpuTrainBackend>(&cfg, 43, &batch, &device).unwrap();
    assert!(
        compare(&a, &c).iter().any(|(_, e)| *e > 1e-3),
        "another seed gives the same model"
    );
}

#[test]
fn initialised_parameter_count_equals_the_analytic_count() {
    let ladder = ModelLadder::builtin();
    let device = Default::default();
    let mut names: Vec<String> = ladder
        .models
        .iter()
        .filter(|m| !m.name.starts_with("ViT"))
        .map(|m| m.name.clone())
        .collect();
    names.push("ViT-B-32".into());
    for name in names {
        let cfg = ladder.get(&name).unwrap();
        let model = cfg.init::<B>(0, &device).unwrap();
        assert_eq!(model.num_params() as u64, counts(cfg).params, "{name}");
        assert_eq!(
            model.visual.num_params() as u64,
            counts(cfg).image_params,
            "{name} image tower"
        );
        assert_eq!(
            model.text.num_params() as u64,
            counts(cfg).text_params,
            "{name} text tower"
        );
    }
}

#[test]
fn initialisation_follows_openclip_stds() {
    let cfg = small("w192-d5");
    let model = cfg.init::<B>(9, &Default::default()).unwrap();
    let std = |v: Vec<f32>| {
        let n = v.len() as f64;
        let mean = v.iter().map(|x| *x as f64).sum::<f64>() / n;
        (v.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / n).sqrt()
    };
    let w = cfg.text.width as f64;
    let layers = cfg.text.layers as f64;
    let cases = [
        (
            "token_embedding",
            std(to_vec(model.text.token_embedding.val())),
            0.02,
        ),
        (
            "text positional_embedding",
            std(to_vec(model.text.positional_embedding.val())),
            0.01,
        ),
        (
            "text attn_in",
            std(to_vec(
                model.text.transformer.blocks[0].attn_in.weight.val(),
            )),
            w.powf(-0.5),
        ),
        (
            "text attn_out",
            std(to_vec(
                model.text.transformer.blocks[0].attn_out.weight.val(),
            )),
            w.powf(-0.5) * (2.0 * layers).powf(-0.5),
        ),
        (
            "text mlp_fc",
            std(to_vec(model.text.transformer.blocks[0].mlp_fc.weight.val())),
            (2.0 * w).powf(-0.5),
        ),
        (
            "text_projection",
            std(to_vec(model.text.text_projection.val())),
            w.powf(-0.5),
        ),
        (
            "visual class_embedding+pos",
            std(to_vec(model.visual.positional_embedding.val())),
            (cfg.vision.width as f64).powf(-0.5),
        ),
        // xavier uniform on [3w, w]: std = sqrt(2 / (w + 3w))
        (
            "visual attn_in",
            std(to_vec(
                model.visual.transformer.blocks[0].attn_in.weight.val(),
            )),
            (2.0 / (4.0 * cfg.vision.width as f64)).sqrt(),
        ),
    ];
    for (name, got, want) in cases {
        assert!(
            (got / want - 1.0).abs() < 0.06,
            "{name}: std {got:.5}, open_clip's {want:.5}"
        );
    }
    assert_eq!(
        to_vec(
            model.visual.transformer.blocks[0]
                .attn_in
                .bias
                .as_ref()
                .unwrap()
                .val()
        )
        .iter()
        .filter(|v| **v != 0.0)
        .count(),
        0
    );
}

#[test]
fn bad_configs_are_refused_before_any_tensor_is_built() {
    let base = small("w32-d2");
    type Mutation = Box<dyn Fn(&mut ClipConfig)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("vision.width", Box::new(|c| c.vision.heads = 3)),
        ("text.width", Box::new(|c| c.text.heads = 5)),
        ("vision.layers", Box::new(|c| c.vision.layers = 0)),
        ("text.layers", Box::new(|c| c.text.layers = 0)),
        ("vision.image_size", Box::new(|c| c.vision.image_size = 30)),
        ("vision.patch_size", Box::new(|c| c.vision.patch_size = 0)),
        ("embed_dim", Box::new(|c| c.embed_dim = 0)),
        (
            "text.context_length",
            Box::new(|c| c.text.context_length = 1),
        ),
    ];
    for (field, mutate) in cases {
        let mut cfg = base.clone();
        mutate(&mut cfg);
        let err = cfg
            .init::<B>(0, &Default::default())
            .err()
            .unwrap_or_else(|| panic!("{field}: accepted"));
        assert_eq!(err.field, field);
        let msg = err.to_string();
        assert!(
            msg.contains("w32-d2") && msg.contains(field),
            "message names model and field: {msg}"
        );
    }
}

#[test]
fn ladder_file_errors_name_the_file_and_the_model() {
    let bad = r#"
[[model]]
name = "bad"
embed_dim = 8
vision = { image_size = 32, patch_size = 8, width = 30, layers = 1, heads = 4, mlp_ratio = 4.0 }
text = { context_length = 8, vocab_size = 10, width = 8, layers = 1, heads = 2, mlp_ratio = 4.0 }
"#;
    let err = ModelLadder::parse(bad, "my-models.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("my-models.toml") && err.contains("bad") && err.contains("vision.width"),
        "{err}"
    );
    let typo = bad.replace("embed_dim", "embed_dims");
    let err = ModelLadder::parse(&typo, "typo.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("typo.toml") && err.contains("embed_dims"),
        "{err}"
    );
    let err = ModelLadder::builtin()
        .get("ViT-X-99")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ViT-X-99") && err.contains("ViT-B-32") && err.contains("w32-d2"),
        "{err}"
    );
}
