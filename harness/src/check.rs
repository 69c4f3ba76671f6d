//! One training step captured on the host (the forward pass, the gradients the step computes,
//! and the model after its optimiser update), and the comparison of two such captures: the core
//! of the GPU check (CUDA against the CPU on the same weights and batch) and of the determinism
//! tests. The step is [`Trainer::step`], the one training runs.

use burn::tensor::backend::AutodiffBackend;

use crate::backend::to_vec;
use crate::batch::HostBatch;
use crate::model::{Clip, ClipConfig, ConfigError, contrastive_loss};
use crate::train::{StepSettings, Trainer};

/// Outputs and selected gradients of one forward/backward pass.
#[derive(Debug, Clone)]
pub struct PassCapture {
    pub image_embeddings: Vec<f32>,
    pub text_embeddings: Vec<f32>,
    pub loss: f32,
    /// (parameter name, gradient values)
    pub grads: Vec<(&'static str, Vec<f32>)>,
    /// After one AdamW step (open_clip's settings, lr 1e-3) on these gradients: the loss on the
    /// same batch and the logit scale. (Whole weight tensors are not compared after the step:
    /// AdamW's first step moves each weight by about +-lr whatever its gradient's size, so a
    /// gradient within rounding of zero may flip sign between devices.)
    pub loss_after_step: f32,
    pub logit_scale_after_step: f32,
}

/// Builds `cfg` from `seed` on `device`, runs the batch forward, then one training step at
/// learning rate 1e-3, copying out the embeddings, the loss, the gradients of one parameter of
/// each family, and the loss and logit scale after the step.
pub fn capture_pass<B: AutodiffBackend>(
    cfg: &ClipConfig,
    seed: u64,
    batch: &HostBatch,
    device: &B::Device,
) -> Result<PassCapture, ConfigError> {
    let mut trainer = Trainer::new(cfg.init::<B>(seed, device)?, StepSettings::default());
    let out = trainer.model().forward(batch.to_device::<B>(device));
    let loss = contrastive_loss(out.image.clone(), out.text.clone(), out.scale);
    let mut grads_out = Vec::new();
    // a loss that is not finite is captured as it is; the comparison reports it
    let _ = trainer.step_inspecting(batch.to_device::<B>(device), 1e-3, |model, grads| {
        grads_out = family_grads(model, grads);
    });
    let loss_after_step = to_vec(trainer.model().loss(batch.to_device::<B>(device)).inner())[0];
    Ok(PassCapture {
        image_embeddings: to_vec(out.image.inner()),
        text_embeddings: to_vec(out.text.inner()),
        loss: to_vec(loss.inner())[0],
        grads: grads_out,
        loss_after_step,
        logit_scale_after_step: trainer.logit_scale() as f32,
    })
}

/// The gradient of one parameter of each family.
fn family_grads<B: AutodiffBackend>(
    model: &Clip<B>,
    grads: &B::Gradients,
) -> Vec<(&'static str, Vec<f32>)> {
    let g = |name: &'static str, t: Option<Vec<f32>>| (name, t.unwrap_or_default());
    let v = &model.visual;
    let t = &model.text;
    vec![
        g("logit_scale", model.logit_scale.grad(grads).map(to_vec)),
        g("visual.conv1", v.conv1.grad(grads).map(to_vec)),
        g(
            "visual.positional_embedding",
            v.positional_embedding.grad(grads).map(to_vec),
        ),
        g(
            "visual.blocks.0.attn_in.weight",
            v.transformer.blocks[0]
                .attn_in
                .weight
                .grad(grads)
                .map(to_vec),
        ),
        g(
            "visual.blocks.0.mlp_fc.weight",
            v.transformer.blocks[0]
                .mlp_fc
                .weight
                .grad(grads)
                .map(to_vec),
        ),
        g("visual.proj", v.proj.grad(grads).map(to_vec)),
        g(
            "text.token_embedding",
            t.token_embedding.grad(grads).map(to_vec),
        ),
        g(
            "text.blocks.0.attn_in.weight",
            t.transformer.blocks[0]
                .attn_in
                .weight
                .grad(grads)
                .map(to_vec),
        ),
        g(
            "text.ln_final.gamma",
            t.ln_final.gamma.grad(grads).map(to_vec),
        ),
        g(
            "text.text_projection",
            t.text_projection.grad(grads).map(to_vec),
        ),
    ]
}

/// max |a - b| / max |a| (0 when both are all zeros; infinite when lengths differ or any
/// value is not finite).
pub fn relative_error(reference: &[f32], other: &[f32]) -> f64 {
    if reference.len() != other.len() {
        return f64::INFINITY;
    }
    let mut diff = 0f64;
    let mut scale = 0f64;
    for (&a, &b) in reference.iter().zip(other) {
        if !a.is_finite() || !b.is_finite() {
            return f64::INFINITY;
        }
        diff = diff.max((a as f64 - b as f64).abs());
        scale = scale.max((a as f64).abs());
    }
    if scale == 0.0 {
        if diff == 0.0 { 0.0 } else { f64::INFINITY }
    } else {
        diff / scale
    }
}

/// (quantity, relative error) for every captured quantity.
pub fn compare(reference: &PassCapture, other: &PassCapture) -> Vec<(String, f64)> {
    let mut rows = vec![
        (
            "image embeddings".to_string(),
            relative_error(&reference.image_embeddings, &other.image_embeddings),
        ),
        (
            "text embeddings".to_string(),
            relative_error(&reference.text_embeddings, &other.text_embeddings),
        ),
        (
            "loss".to_string(),
            relative_error(&[reference.loss], &[other.loss]),
        ),
    ];
    for ((name, a), (_, b)) in reference.grads.iter().zip(&other.grads) {
        rows.push((format!("grad {name}"), relative_error(a, b)));
    }
    rows.push((
        "after one AdamW step: loss".to_string(),
        relative_error(&[reference.loss_after_step], &[other.loss_after_step]),
    ));
    rows.push((
        "after one AdamW step: logit_scale".to_string(),
        relative_error(
            &[reference.logit_scale_after_step],
            &[other.logit_scale_after_step],
        ),
    ));
    rows
}
