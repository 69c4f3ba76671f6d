//! The training step, written once: forward under the trial's precision, the contrastive loss,
//! the divergence check, backward (through a dynamic loss scale in f16), global gradient-norm
//! clipping, AdamW at the given learning rate and (CLIP's objective only) the logit-scale
//! clamp. The training run,
//! `clipscale bench train`, the sweep plan's time estimate and the GPU check all call
//! [`Trainer::step`], so each times or checks the step that training runs.

use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;

use crate::backend::to_vec;
use crate::model::{Clip, ClipBatch, Precision, autocast};
use crate::train::optim::{
    AdamWSpec, ClipOptimizer, clamp_logit_scale, clip_global_norm, global_grad_norm, optimizer,
    scale_grads,
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

/// Dynamic loss scaling for f16 products, as PyTorch's `GradScaler` with its defaults: the loss
/// is multiplied by `scale` before the backward pass and the gradients divided by it after; a
/// step whose gradients overflow (a norm that is not finite) is skipped and the scale halved;
/// after `GROWTH_INTERVAL` good steps in a row it doubles. A resumed trial starts again from the
/// initial scale (the scale is not part of a checkpoint): at worst a few skipped steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossScale {
    pub scale: f64,
    good_steps: u32,
    /// Steps skipped because their gradients overflowed, since this trainer started.
    pub skipped_steps: u64,
}

impl LossScale {
    const INITIAL: f64 = 65536.0;
    const GROWTH_INTERVAL: u32 = 2000;

    fn new() -> Self {
        Self {
            scale: Self::INITIAL,
            good_steps: 0,
            skipped_steps: 0,
        }
    }

    /// Records a step's outcome; returns whether the step may be applied.
    fn update(&mut self, gradients_finite: bool) -> bool {
        if gradients_finite {
            self.good_steps += 1;
            if self.good_steps == Self::GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.good_steps = 0;
            }
        } else {
            self.scale /= 2.0;
            self.good_steps = 0;
            self.skipped_steps += 1;
        }
        gradients_finite
    }
}

/// A model with its optimiser, stepped one batch at a time.
pub struct Trainer<B: AutodiffBackend> {
    /// Always `Some` between calls; taken while the optimiser consumes and returns the model.
    model: Option<Clip<B>>,
    optim: ClipOptimizer<B>,
    settings: StepSettings,
    /// `Some` in f16 only.
    loss_scale: Option<LossScale>,
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
            loss_scale: (settings.precision == Precision::F16).then(LossScale::new),
        }
    }

    /// The f16 loss scale and its count of skipped steps (`None` in f32 and bf16).
    pub fn loss_scale(&self) -> Option<LossScale> {
        self.loss_scale
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

    /// The model's logit bias (SigLIP only).
    pub fn logit_bias(&self) -> Option<f64> {
        self.model()
            .logit_bias
            .as_ref()
            .map(|b| f64::from(to_vec(b.val().inner())[0]))
    }

    /// One training step on `batch` at learning rate `lr`; returns the loss before the step.
    /// Reading the loss waits for the device, so a returned step has finished.
    pub fn step(&mut self, batch: ClipBatch<B>, lr: f64) -> Result<f64, Diverged> {
        self.step_inspecting(batch, lr, |_, _| {})
    }

    /// [`Trainer::step`], showing `inspect` the model and its gradients before the optimiser
    /// uses them (the GPU check compares them across devices; in f16 they are still multiplied
    /// by the loss scale). A step whose f16 gradients overflow is skipped: `Ok` with its loss,
    /// the model unchanged, counted in [`Trainer::loss_scale`].
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
        let grads = match self.loss_scale {
            Some(ls) => loss.mul_scalar(ls.scale).backward(),
            None => loss.backward(),
        };
        inspect(&model, &grads);
        let mut grads = GradientsParams::from_grads(grads, &model);
        if let Some(ls) = self.loss_scale.as_mut() {
            let finite = global_grad_norm::<B, _>(&model, &grads)
                .is_none_or(|norm| to_vec(norm)[0].is_finite());
            if !ls.update(finite) {
                self.model = Some(model);
                return Ok(value);
            }
            scale_grads::<B, _>(&model, &mut grads, 1.0 / ls.scale);
        }
        if let Some(max_norm) = self.settings.grad_clip_norm {
            clip_global_norm::<B, _>(&model, &mut grads, max_norm);
        }
        let model = self.optim.step(lr, model, grads);
        // open_clip clamps the softmax's scale; SigLIP's scale and bias are left free
        self.model = Some(if model.objective().is_clip() {
            clamp_logit_scale(model)
        } else {
            model
        });
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::LossScale;

    #[test]
    fn the_loss_scale_halves_on_overflow_and_doubles_after_a_run_of_good_steps() {
        let mut ls = LossScale::new();
        assert!(!ls.update(false), "an overflowing step is skipped");
        assert_eq!((ls.scale, ls.skipped_steps), (LossScale::INITIAL / 2.0, 1));
        for _ in 0..LossScale::GROWTH_INTERVAL - 1 {
            assert!(ls.update(true));
        }
        assert_eq!(ls.scale, LossScale::INITIAL / 2.0, "not yet");
        assert!(ls.update(true));
        assert_eq!(ls.scale, LossScale::INITIAL, "doubled after the interval");
        // an overflow restarts the count
        ls.update(true);
        ls.update(false);
        for _ in 0..LossScale::GROWTH_INTERVAL - 1 {
            ls.update(true);
        }
        assert_eq!((ls.scale, ls.skipped_steps), (LossScale::INITIAL / 2.0, 2));
    }
}
