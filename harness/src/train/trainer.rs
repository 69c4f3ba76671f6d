//! The training step, written once: forward under the trial's precision, the contrastive loss,
//! the divergence check, backward, global gradient-norm clipping, AdamW at the given learning
//! rate and the logit-scale clamp. The training run, `clipscale bench train`, the sweep plan's
//! time estimate and the GPU check all call [`Trainer::step`], so each times or checks the step
//! that training runs.

use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;

use crate::backend::to_vec;
use crate::model::{Clip, ClipBatch, Precision, autocast};
use crate::train::optim::{
    AdamWSpec, ClipOptimizer, clamp_logit_scale, clip_global_norm, optimizer,
};

/// How the step trains: the optimiser's settings, gradient clipping and precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepSettings {
    pub adamw: AdamWSpec,
    /// Global gradient-norm clipping (`None`: none).
    pub grad_clip_norm: Option<f64>,
    pub precision: Precision,
}

impl Default for StepSettings {
    /// open_clip's AdamW, no clipping, f32.
    fn default() -> Self {
        Self {
            adamw: AdamWSpec::default(),
            grad_clip_norm: None,
            precision: Precision::F32,
        }
    }
}

/// The loss of a step was not a finite number: the step was not applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diverged {
    pub loss: f64,
}

/// A model with its optimiser, stepped one batch at a time.
pub struct Trainer<B: AutodiffBackend> {
    /// Always `Some` between calls; taken while the optimiser consumes and returns the model.
    model: Option<Clip<B>>,
    optim: ClipOptimizer<B>,
    settings: StepSettings,
}

impl<B: AutodiffBackend> Trainer<B> {
    /// A trainer of `model` with a fresh optimiser.
    pub fn new(model: Clip<B>, settings: StepSettings) -> Self {
        Self::resume(model, optimizer::<B>(settings.adamw), settings)
    }

    /// A trainer that continues with an optimiser restored from a checkpoint.
    pub fn resume(model: Clip<B>, optim: ClipOptimizer<B>, settings: StepSettings) -> Self {
        Self {
            model: Some(model),
            optim,
            settings,
        }
    }

    /// The model as trained so far.
    pub fn model(&self) -> &Clip<B> {
        self.model
            .as_ref()
            .expect("the model is back after every step")
    }

    /// The optimiser (its state goes into checkpoints).
    pub fn optimizer(&self) -> &ClipOptimizer<B> {
        &self.optim
    }

    /// The model's logit scale (the log of the softmax temperature's inverse).
    pub fn logit_scale(&self) -> f64 {
        f64::from(to_vec(self.model().logit_scale.val().inner())[0])
    }

    /// One training step on `batch` at learning rate `lr`; returns the loss before the step.
    /// Reading the loss waits for the device, so a returned step has finished.
    pub fn step(&mut self, batch: ClipBatch<B>, lr: f64) -> Result<f64, Diverged> {
        self.step_inspecting(batch, lr, |_, _| {})
    }

    /// [`Trainer::step`], showing `inspect` the model and its gradients before the optimiser
    /// uses them (the GPU check compares them across devices).
    pub fn step_inspecting(
        &mut self,
        batch: ClipBatch<B>,
        lr: f64,
        inspect: impl FnOnce(&Clip<B>, &B::Gradients),
    ) -> Result<f64, Diverged> {
        let model = self
            .model
            .take()
            .expect("the model is back after every step");
        let loss = autocast(self.settings.precision, || model.loss(batch)); // [1]
        let value = f64::from(to_vec(loss.clone().inner())[0]);
        if !value.is_finite() {
            self.model = Some(model);
            return Err(Diverged { loss: value });
        }
        let grads = loss.backward();
        inspect(&model, &grads);
        let mut grads = GradientsParams::from_grads(grads, &model);
        if let Some(max_norm) = self.settings.grad_clip_norm {
            clip_global_norm::<B, _>(&model, &mut grads, max_norm);
        }
        self.model = Some(clamp_logit_scale(self.optim.step(lr, model, grads)));
        Ok(value)
    }
}
