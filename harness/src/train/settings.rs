//! One trial's settings, as a user writes them: the flags of `clipscale train` and the keys of a
//! sweep file are this one struct (a `train` is a one-trial sweep), with one set of defaults and
//! one resolver into the trial's [`TrialSpec`]. A setting added here is reachable from both.
//!
//! Every field is optional; [`TrialSettings::overlay`] layers them (a sweep's base, then its axes
//! or zips, then an explicit trial), and [`TrialSettings::resolve`] fills in the defaults below,
//! checks everything and derives the rest (samples from a FLOP budget, the vocabulary from the
//! tokenizer, the intervals from the trial's length).

use clap::Args;
use serde::Deserialize;
use thiserror::Error;

use clipscale_analysis::records::Provenance;

use crate::flops::counts;
use crate::model::{LadderError, ModelLadder, Objective, Precision};
use crate::train::data::{DataSetupError, resolve_data};
use crate::train::optim::AdamWSpec;
use crate::train::schedule::{
    CooldownShape, DEFAULT_COOLDOWN_FRACTION, ScheduleKind, ScheduleShape,
};
use crate::train::spec::{
    Dataset, InitSpec, Intervals, OptimSpec, SpecError, TokenizerName, TrialRequest, TrialSpec,
    parse_curation, resolve,
};

/// The defaults of every setting a trial leaves unset.
pub mod defaults {
    /// Pairs per training step.
    pub const BATCH: usize = 64;
    /// Peak learning rate.
    pub const LR: f64 = 1e-3;
    /// Linear warm-up as a share of the trial's samples (a twentieth, in whole samples).
    pub const WARMUP_DIVISOR: u64 = 20;
    /// Seed of the weights and the data.
    pub const SEED: u64 = 0;
    /// The training data.
    pub const DATASET: &str = "synthetic";
    /// About this many metrics records per run.
    pub const LOG_PARTS: u64 = 100;
    /// This many held-out evaluations per run (and one at the start and the end).
    pub const EVAL_PARTS: u64 = 4;
    /// This many checkpoints per run (and one at the end).
    pub const CHECKPOINT_PARTS: u64 = 10;
    /// Checkpoints kept (the newest).
    pub const KEEP_CHECKPOINTS: usize = 2;
    /// Held-out pairs of the validation loss and the zero-shot evaluation.
    pub const EVAL_SAMPLES: usize = 1024;
    /// The fixed batch of the validation loss.
    pub const EVAL_BATCH: usize = 256;
}

/// Why a trial's settings do not make a trial.
#[derive(Debug, Error)]
pub enum SettingsError {
    #[error("no model: set model (--model, or base.model, axes.model or trial.model in a sweep)")]
    NoModel,
    #[error("model: {0}")]
    Model(#[from] LadderError),
    #[error(
        "neither samples nor train_flops is set: give the trial's length in pairs or its training budget in FLOPs"
    )]
    NoLength,
    #[error("both samples and train_flops are set; a trial takes one of them")]
    TwoLengths,
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Data(#[from] DataSetupError),
}

/// A trial's settings (flags of `clipscale train`, keys of a sweep file; all optional, see
/// [`defaults`]).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Args)]
#[serde(deny_unknown_fields)]
pub struct TrialSettings {
    /// Model name from the ladder (`clipscale models` lists them).
    #[arg(long, required = true)]
    pub model: Option<String>,
    /// Image-text pairs to train on (rounded down to whole batches).
    #[arg(long, required_unless_present = "train_flops")]
    pub samples: Option<u64>,
    /// A training budget in FLOPs (3 x forward, 2 FLOPs per MAC) instead of samples: the
    /// samples follow from the model.
    #[arg(long, conflicts_with = "samples")]
    pub train_flops: Option<f64>,
    /// Pairs per step [default: 64].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Peak learning rate [default: 1e-3].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Linear warm-up, in samples [default: 5% of the samples].
    #[arg(long)]
    pub warmup_samples: Option<u64>,
    /// Linear warm-up as a fraction of the samples (when warmup_samples is unset).
    #[arg(long)]
    pub warmup_fraction: Option<f64>,
    /// Learning-rate schedule after warm-up: cosine (decay to 0 over the run) or
    /// constant-cooldown (the peak, then a cooldown to 0 over the last cooldown_fraction)
    /// [default: cosine]. Recorded in the spec (and the trial id) only when not cosine.
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleKind>,
    /// The cooldown's share of the run, in (0, 1] (constant-cooldown) [default: 0.2].
    #[arg(long)]
    pub cooldown_fraction: Option<f64>,
    /// The cooldown's shape: linear or 1-sqrt (constant-cooldown) [default: 1-sqrt].
    #[arg(long, value_enum)]
    pub cooldown_shape: Option<CooldownShape>,
    /// AdamW's decoupled weight decay, on parameters of 2 or more dimensions [default: 0.2].
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// AdamW's beta1 [default: 0.9].
    #[arg(long)]
    pub beta1: Option<f64>,
    /// AdamW's beta2 [default: 0.98].
    #[arg(long)]
    pub beta2: Option<f64>,
    /// AdamW's epsilon [default: 1e-6].
    #[arg(long)]
    pub eps: Option<f64>,
    /// Clip the global gradient norm to this value [default: no clipping].
    #[arg(long)]
    pub grad_clip_norm: Option<f64>,
    /// Compute precision: f32, bf16 or f16 (half-precision matrix products with f32 master
    /// weights; norms, softmax, loss and logit scale in f32; f16 with dynamic loss scaling, for
    /// wgpu, whose shaders have no bf16) [default: f32].
    #[arg(long, value_enum)]
    pub precision: Option<Precision>,
    /// Training objective: clip (softmax over the batch, Radford et al. 2021) or siglip (a
    /// sigmoid per pair with a learnable bias, Zhai et al. 2023) [default: clip]. Recorded in
    /// the spec (and the trial id) only when siglip.
    #[arg(long, value_enum)]
    pub objective: Option<Objective>,
    /// Initial logit scale, the log of the inverse temperature [default: ln(1/0.07) for clip,
    /// ln 10 for siglip].
    #[arg(long, allow_negative_numbers = true)]
    pub init_logit_scale: Option<f64>,
    /// SigLIP's initial logit bias [default: -10].
    #[arg(long, allow_negative_numbers = true)]
    pub init_logit_bias: Option<f64>,
    /// Start from an open_clip checkpoint (.pt, .bin or .safetensors, open_clip's state dict for
    /// this model) instead of the seed's initialisation; its SHA-256 is part of the trial id.
    #[arg(long)]
    pub init_from: Option<String>,
    /// Seed of the weights and the data stream [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Training data set: synthetic, emoji (a folder from `clipscale data prepare emoji`),
    /// wds, or pool (a folder from `clipscale data prepare pool`) [default: synthetic].
    #[arg(long)]
    pub dataset: Option<String>,
    /// The prepared data set's folder (emoji, default data/emoji; pool, default data/pool) or
    /// a shard pattern (wds).
    #[arg(long)]
    pub data_dir: Option<String>,
    /// The curation of a pool (dataset pool): `op[:key=value,...]` steps joined by `+`, from
    /// none, align (ALIGN-style filters) and noise (caption noise); e.g.
    /// `align:min_words=2+noise:fraction=0.2` [default: none, the raw pool]. Recorded in the
    /// spec (and the trial id) only when set to something other than none.
    #[arg(long)]
    pub curation: Option<String>,
    /// clip-bpe, bpe-N (trained on the training captions; default bpe-1024 for shards) or
    /// word-synthetic (the synthetic scenes').
    #[arg(long)]
    pub tokenizer: Option<String>,
    /// Held-out pairs for the validation loss and zero-shot accuracy [default: 1024].
    #[arg(long)]
    pub eval_samples: Option<usize>,
    /// The fixed batch size of the validation loss [default: 256].
    #[arg(long)]
    pub eval_batch: Option<usize>,
    /// Zero-shot class prompts enriched K-LITE's way (`prompt ; noun , gloss`, the class
    /// name's WordNet gloss; needs wordnet-base) [default: false].
    #[arg(long)]
    pub klite_prompts: Option<bool>,
    /// More evaluation sets tracked during training, as `clipscale eval --dataset` names them
    /// (repeatable: `fashion-mnist=DIR`, `tuxpaint=DIR`, `emoji-heldout-style-subgroup`...)
    /// [default: only what the data set holds out].
    #[arg(long = "eval-set")]
    pub eval_sets: Option<Vec<String>>,
    /// A metrics record every this many samples [default: about 100 per run].
    #[arg(long)]
    pub log_every: Option<u64>,
    /// Held-out evaluation every this many samples [default: 4 per run, and at the start and
    /// the end].
    #[arg(long)]
    pub eval_every: Option<u64>,
    /// A checkpoint every this many samples [default: 10 per run, and at the end].
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Checkpoints to keep, the newest [default: 2].
    #[arg(long)]
    pub keep_checkpoints: Option<usize>,
}

impl TrialSettings {
    /// The learning-rate schedule's shape; cooldown settings without a constant-cooldown
    /// schedule, or a cooldown fraction outside (0, 1], are refused.
    fn schedule_shape(&self) -> Result<ScheduleShape, SettingsError> {
        let invalid = |field: &'static str, value: String, reason: &str| {
            SettingsError::Spec(SpecError::Invalid {
                field,
                value,
                reason: reason.into(),
            })
        };
        match self.schedule.unwrap_or_default() {
            ScheduleKind::Cosine => {
                if let Some(f) = self.cooldown_fraction {
                    return Err(invalid(
                        "cooldown_fraction",
                        f.to_string(),
                        "a cooldown needs schedule = \"constant-cooldown\"",
                    ));
                }
                if let Some(s) = self.cooldown_shape {
                    return Err(invalid(
                        "cooldown_shape",
                        format!("{s:?}"),
                        "a cooldown needs schedule = \"constant-cooldown\"",
                    ));
                }
                Ok(ScheduleShape::Cosine)
            }
            ScheduleKind::ConstantCooldown => {
                let fraction = self.cooldown_fraction.unwrap_or(DEFAULT_COOLDOWN_FRACTION);
                if !(fraction > 0.0 && fraction <= 1.0) {
                    return Err(invalid(
                        "cooldown_fraction",
                        fraction.to_string(),
                        "must be in (0, 1]: the share of the run spent cooling down",
                    ));
                }
                Ok(ScheduleShape::ConstantCooldown {
                    cooldown_fraction: fraction,
                    cooldown_shape: self.cooldown_shape.unwrap_or_default(),
                })
            }
        }
    }

    /// The extra evaluation sets, each checked to be a known name.
    fn checked_eval_sets(&self) -> Result<Vec<String>, SettingsError> {
        let sets = self.eval_sets.clone().unwrap_or_default();
        for s in &sets {
            s.parse::<crate::eval::sets::EvalSetSpec>()
                .map_err(|e| SpecError::Invalid {
                    field: "eval_sets",
                    value: s.clone(),
                    reason: e.to_string(),
                })?;
        }
        Ok(sets)
    }

    /// These settings with every setting that `over` sets replaced by its value.
    #[must_use]
    pub fn overlay(&self, over: &TrialSettings) -> TrialSettings {
        macro_rules! pick {
            ($($field:ident),* $(,)?) => {
                TrialSettings { $($field: over.$field.clone().or_else(|| self.$field.clone()),)* }
            };
        }
        pick!(
            model,
            samples,
            train_flops,
            batch,
            lr,
            warmup_samples,
            warmup_fraction,
            schedule,
            cooldown_fraction,
            cooldown_shape,
            weight_decay,
            beta1,
            beta2,
            eps,
            grad_clip_norm,
            precision,
            objective,
            init_logit_scale,
            init_logit_bias,
            init_from,
            seed,
            dataset,
            data_dir,
            curation,
            tokenizer,
            eval_samples,
            eval_batch,
            klite_prompts,
            eval_sets,
            log_every,
            eval_every,
            checkpoint_every,
            keep_checkpoints,
        )
    }

    /// The trial these settings describe, for `sweep`: defaults filled in, the model taken from
    /// the ladder, the data set opened far enough to know its tokenizer's vocabulary, and
    /// everything checked.
    pub fn resolve(
        &self,
        sweep: &str,
        ladder: &ModelLadder,
        provenance: &Provenance,
    ) -> Result<TrialSpec, SettingsError> {
        let name = self.model.as_deref().ok_or(SettingsError::NoModel)?;
        let model = ladder.get(name)?.clone();
        let seed = self.seed.unwrap_or(defaults::SEED);
        let dataset = Dataset::from_name(
            self.dataset.as_deref().unwrap_or(defaults::DATASET),
            self.data_dir.as_deref(),
        )?;
        let tokenizer = match &self.tokenizer {
            Some(t) => t.parse::<TokenizerName>()?,
            None => dataset.default_tokenizer(),
        };
        let curation = parse_curation(&dataset, self.curation.as_deref())?;
        let data = resolve_data(dataset, tokenizer, seed, curation)?;
        let samples = match (self.samples, self.train_flops) {
            (Some(s), None) => s,
            (None, Some(f)) if f > 0.0 && f.is_finite() => counts(&model).samples_for_flops(f),
            (None, Some(f)) => {
                return Err(SpecError::Invalid {
                    field: "train_flops",
                    value: f.to_string(),
                    reason: "must be a positive number".into(),
                }
                .into());
            }
            (Some(_), Some(_)) => return Err(SettingsError::TwoLengths),
            (None, None) => return Err(SettingsError::NoLength),
        };
        let batch = self.batch.unwrap_or(defaults::BATCH);
        let warmup_samples = match (self.warmup_samples, self.warmup_fraction) {
            (Some(w), _) => w,
            (None, Some(f)) if (0.0..=1.0).contains(&f) => (samples as f64 * f) as u64,
            (None, Some(f)) => {
                return Err(SpecError::Invalid {
                    field: "warmup_fraction",
                    value: f.to_string(),
                    reason: "must be in [0, 1]".into(),
                }
                .into());
            }
            (None, None) => samples / defaults::WARMUP_DIVISOR,
        };
        let every = |given: Option<u64>, parts: u64| {
            given.unwrap_or_else(|| (samples / parts).max(batch as u64))
        };
        let open_clip = AdamWSpec::default();
        let req = TrialRequest {
            sweep: sweep.to_string(),
            model,
            data,
            samples,
            batch_size: batch,
            seed,
            optim: OptimSpec {
                lr: self.lr.unwrap_or(defaults::LR),
                warmup_samples,
                adamw: AdamWSpec {
                    beta1: self.beta1.unwrap_or(open_clip.beta1),
                    beta2: self.beta2.unwrap_or(open_clip.beta2),
                    eps: self.eps.unwrap_or(open_clip.eps),
                    weight_decay: self.weight_decay.unwrap_or(open_clip.weight_decay),
                },
                grad_clip_norm: self.grad_clip_norm,
                schedule: self.schedule_shape()?,
                precision: self.precision.unwrap_or_default(),
                objective: self.objective.unwrap_or_default(),
                init_logit_scale: self.init_logit_scale,
                init_logit_bias: self.init_logit_bias,
            },
            intervals: Intervals {
                log_every_samples: every(self.log_every, defaults::LOG_PARTS),
                eval_every_samples: every(self.eval_every, defaults::EVAL_PARTS),
                checkpoint_every_samples: every(self.checkpoint_every, defaults::CHECKPOINT_PARTS),
                keep_checkpoints: self.keep_checkpoints.unwrap_or(defaults::KEEP_CHECKPOINTS),
                eval_samples: self.eval_samples.unwrap_or(defaults::EVAL_SAMPLES),
                eval_batch_size: self.eval_batch.unwrap_or(defaults::EVAL_BATCH),
                klite_prompts: self.klite_prompts.unwrap_or(false),
                eval_sets: self.checked_eval_sets()?,
            },
        };
        let mut spec = resolve(req, provenance.clone())?;
        if let Some(file) = &self.init_from {
            spec.init = Some(InitSpec::of_file(file)?);
            spec.head.trial_id = crate::train::spec::trial_id(&spec);
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_takes_what_is_set_and_keeps_the_rest() {
        let base = TrialSettings {
            model: Some("w32-d2".into()),
            lr: Some(2e-3),
            batch: Some(64),
            ..TrialSettings::default()
        };
        let over = TrialSettings {
            batch: Some(128),
            beta2: Some(0.95),
            ..TrialSettings::default()
        };
        let t = base.overlay(&over);
        assert_eq!(t.model.as_deref(), Some("w32-d2"));
        assert_eq!(t.lr, Some(2e-3));
        assert_eq!(t.batch, Some(128));
        assert_eq!(t.beta2, Some(0.95));
    }

    #[test]
    fn every_setting_is_a_flag_and_a_sweep_key() {
        // the same names both ways: a flag --x-y is the key x_y
        use clap::CommandFactory;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            s: TrialSettings,
        }
        let flags: Vec<String> = Cli::command()
            .get_arguments()
            .filter_map(|a| a.get_long().map(|l| l.replace('-', "_")))
            .collect();
        let toml = flags
            .iter()
            .map(|k| {
                format!(
                    "{k} = {}",
                    if k == "model" || k == "dataset" {
                        "\"x\""
                    } else {
                        "1"
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        // every flag parses as a key (precision, data_dir, curation and tokenizer want strings)
        let toml = toml
            .replace("precision = 1", "precision = \"bf16\"")
            .replace("objective = 1", "objective = \"siglip\"")
            .replace("schedule = 1", "schedule = \"constant-cooldown\"")
            .replace("cooldown_shape = 1", "cooldown_shape = \"1-sqrt\"")
            .replace("data_dir = 1", "data_dir = \"d\"")
            .replace("curation = 1", "curation = \"align\"")
            .replace("klite_prompts = 1", "klite_prompts = true")
            .replace("eval_set = 1", "eval_sets = [\"synthetic-heldout\"]")
            .replace("tokenizer = 1", "tokenizer = \"bpe-8\"")
            .replace("init_from = 1", "init_from = \"model.safetensors\"");
        let parsed: TrialSettings = toml::from_str(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
        assert_eq!(parsed.beta1, Some(1.0));
        assert_eq!(parsed.objective, Some(Objective::Siglip));
        assert_eq!(parsed.cooldown_shape, Some(CooldownShape::OneMinusSqrt));
        assert_eq!(flags.len(), 33, "{flags:?}");
    }
}
