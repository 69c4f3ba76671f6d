//! A trial's resolved spec: every setting filled in and checked, a deterministic trial id from a
//! hash of what determines the result, written as `spec.json` before the first step.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use clipscale_analysis::records::{Provenance, SCHEMA_VERSION, TrialSpecHead};

use clipscale_data::pool::Curation;

use crate::flops::counts;
use crate::model::clip::{SIGLIP_LOGIT_BIAS, SIGLIP_LOGIT_SCALE};
use crate::model::{Clip, ClipConfig, ConfigError, LossHead, Objective, Precision};
use crate::train::optim::AdamWSpec;
use crate::train::schedule::ScheduleShape;

#[derive(Debug, Error)]
pub enum SpecError {
    #[error("{field} = {value} is invalid: {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error(transparent)]
    Model(#[from] ConfigError),
}

fn invalid(field: &'static str, value: impl ToString, reason: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        field,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// The training data set, typed. In `spec.json` (and so in the trial id) it is written as it was
/// before it was typed: a `name` and a `path` (see [`DataSpec`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dataset {
    /// The embedded procedural shape scenes: no files, an endless stream.
    Synthetic,
    /// A folder written by `clipscale data prepare emoji` (manifest.json, shards, held-out
    /// splits evaluated during training).
    Emoji { dir: String },
    /// Any WebDataset shards, by brace pattern.
    Wds { pattern: String },
    /// A pool folder written by `clipscale data prepare pool` (the noisy pool that curation
    /// operators subset; see [`DataSpec::curation`]).
    Pool { dir: String },
}

impl Dataset {
    /// Every data set name, for messages.
    pub const NAMES: &'static str = "synthetic, emoji (a folder from `clipscale data prepare emoji`), wds (WebDataset shards), pool (a folder from `clipscale data prepare pool`)";

    /// The name written in records and accepted on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Dataset::Synthetic => "synthetic",
            Dataset::Emoji { .. } => "emoji",
            Dataset::Wds { .. } => "wds",
            Dataset::Pool { .. } => "pool",
        }
    }

    /// The folder or pattern it reads, if any.
    pub fn path(&self) -> Option<&str> {
        match self {
            Dataset::Synthetic => None,
            Dataset::Emoji { dir } => Some(dir),
            Dataset::Wds { pattern } => Some(pattern),
            Dataset::Pool { dir } => Some(dir),
        }
    }

    /// The data set `name` at `path` (a folder or a shard pattern; emoji defaults to
    /// `data/emoji`).
    pub fn from_name(name: &str, path: Option<&str>) -> Result<Self, SpecError> {
        match (name, path) {
            ("synthetic", None) => Ok(Dataset::Synthetic),
            ("synthetic", Some(p)) => Err(invalid(
                "data_dir",
                p,
                "the synthetic scenes are generated, not read: leave data_dir unset",
            )),
            ("emoji", dir) => Ok(Dataset::Emoji {
                dir: dir.unwrap_or(DEFAULT_EMOJI_DIR).to_string(),
            }),
            ("pool", dir) => Ok(Dataset::Pool {
                dir: dir
                    .unwrap_or(clipscale_data::pool::DEFAULT_POOL_DIR)
                    .to_string(),
            }),
            ("wds", Some(pattern)) => Ok(Dataset::Wds {
                pattern: pattern.to_string(),
            }),
            ("wds", None) => Err(invalid(
                "data_dir",
                "(unset)",
                "data set wds needs a shard pattern, e.g. shards/{00000..00127}.tar",
            )),
            (other, _) => Err(invalid(
                "dataset",
                other,
                format!("unknown data set; available: {}", Dataset::NAMES),
            )),
        }
    }

    /// The tokenizer used when none is named: the synthetic scenes' word list, else a BPE of
    /// 1,024 tokens trained on the training captions.
    pub fn default_tokenizer(&self) -> TokenizerName {
        match self {
            Dataset::Synthetic => TokenizerName::WordSynthetic,
            Dataset::Emoji { .. } | Dataset::Wds { .. } | Dataset::Pool { .. } => {
                TokenizerName::Bpe(1024)
            }
        }
    }
}

/// Where `clipscale data prepare emoji` writes by default, and where training looks.
pub const DEFAULT_EMOJI_DIR: &str = "data/emoji";

/// A tokenizer, by the name records use: `word-synthetic`, `clip-bpe` (OpenAI's 49,408 tokens)
/// or `bpe-N` (a BPE of N tokens trained on the training captions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenizerName {
    WordSynthetic,
    ClipBpe,
    Bpe(usize),
}

impl std::fmt::Display for TokenizerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenizerName::WordSynthetic => f.write_str("word-synthetic"),
            TokenizerName::ClipBpe => f.write_str("clip-bpe"),
            TokenizerName::Bpe(n) => write!(f, "bpe-{n}"),
        }
    }
}

impl std::str::FromStr for TokenizerName {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        match s {
            "word-synthetic" => Ok(TokenizerName::WordSynthetic),
            "clip-bpe" => Ok(TokenizerName::ClipBpe),
            other => other
                .strip_prefix("bpe-")
                .and_then(|n| n.parse::<usize>().ok())
                // written as it reads back (no sign, no leading zero), so the name is the id's
                .filter(|n| *n > 0 && format!("bpe-{n}") == other)
                .map(TokenizerName::Bpe)
                .ok_or_else(|| {
                    invalid(
                        "tokenizer",
                        other,
                        "available: clip-bpe, bpe-N (e.g. bpe-1024, trained on the training captions), word-synthetic",
                    )
                }),
        }
    }
}

/// The training data of a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "DataSpecRecord", into = "DataSpecRecord")]
pub struct DataSpec {
    pub dataset: Dataset,
    /// Seed of the data stream (and of its held-out split).
    pub seed: u64,
    pub tokenizer: TokenizerName,
    /// The tokenizer's vocabulary size (which sets the model's).
    pub vocab_size: usize,
    /// The curation of a pool (`align`, `align+noise:fraction=0.2`...), in canonical form;
    /// `None` for the raw pool and every other data set. Written to `spec.json` (and so into
    /// the trial id) only when set, so trials without it keep their ids.
    pub curation: Option<Curation>,
}

/// [`DataSpec`] as `spec.json` holds it (and as the trial id hashes it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataSpecRecord {
    name: String,
    #[serde(default)]
    path: Option<String>,
    seed: u64,
    tokenizer: String,
    vocab_size: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    curation: Option<String>,
}

impl TryFrom<DataSpecRecord> for DataSpec {
    type Error = SpecError;

    fn try_from(r: DataSpecRecord) -> Result<Self, SpecError> {
        let dataset = Dataset::from_name(&r.name, r.path.as_deref())?;
        Ok(DataSpec {
            curation: parse_curation(&dataset, r.curation.as_deref())?,
            dataset,
            seed: r.seed,
            tokenizer: r.tokenizer.parse()?,
            vocab_size: r.vocab_size,
        })
    }
}

impl From<DataSpec> for DataSpecRecord {
    fn from(d: DataSpec) -> Self {
        DataSpecRecord {
            name: d.dataset.name().to_string(),
            path: d.dataset.path().map(String::from),
            seed: d.seed,
            tokenizer: d.tokenizer.to_string(),
            vocab_size: d.vocab_size,
            curation: d.curation.as_ref().map(ToString::to_string),
        }
    }
}

/// A curation setting checked and made canonical: `None` when unset or `none` (the raw pool,
/// so that naming it keeps the trial id), an error for a bad one or for a data set that is not
/// a pool.
pub fn parse_curation(
    dataset: &Dataset,
    text: Option<&str>,
) -> Result<Option<Curation>, SpecError> {
    let Some(text) = text else { return Ok(None) };
    let curation: Curation = text
        .parse()
        .map_err(|e: clipscale_data::DataError| invalid("curation", text, e.to_string()))?;
    if curation.is_none() {
        return Ok(None);
    }
    if !matches!(dataset, Dataset::Pool { .. }) {
        return Err(invalid(
            "curation",
            text,
            format!(
                "curation subsets a pool (dataset = \"pool\", from `clipscale data prepare pool`); this trial trains on {}",
                dataset.name()
            ),
        ));
    }
    Ok(Some(curation))
}

/// Optimisation settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OptimSpec {
    pub lr: f64,
    pub warmup_samples: u64,
    pub adamw: AdamWSpec,
    /// Global gradient-norm clipping; none when absent.
    pub grad_clip_norm: Option<f64>,
    /// The decay after warm-up (cosine when absent, so cosine specs and their ids are
    /// unchanged).
    #[serde(default, skip_serializing_if = "ScheduleShape::is_cosine")]
    pub schedule: ScheduleShape,
    /// Compute precision of the training step (f32 when absent, so that f32 specs and their
    /// trial ids are unchanged by the field's existence).
    #[serde(default, skip_serializing_if = "Precision::is_f32")]
    pub precision: Precision,
    /// The training objective (CLIP's when absent, so CLIP specs and their ids are unchanged).
    #[serde(default, skip_serializing_if = "Objective::is_clip")]
    pub objective: Objective,
    /// The initial logit scale; the objective's default when absent (SigLIP's is written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_logit_scale: Option<f64>,
    /// SigLIP's initial logit bias (always written for SigLIP; never for CLIP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_logit_bias: Option<f64>,
}

impl OptimSpec {
    /// The objective with its initial logit scale and bias.
    pub fn loss_head(&self) -> LossHead {
        LossHead {
            objective: self.objective,
            logit_scale: self
                .init_logit_scale
                .unwrap_or_else(|| self.objective.default_logit_scale()),
            logit_bias: match self.objective {
                Objective::Clip => None,
                Objective::Siglip => Some(self.init_logit_bias.unwrap_or(SIGLIP_LOGIT_BIAS)),
            },
        }
    }
}

impl TrialSpec {
    /// The trial's model, freshly initialised from its seed for its objective (the template a
    /// checkpoint loads into).
    pub fn init_model<B: burn::tensor::backend::Backend>(
        &self,
        device: &B::Device,
    ) -> Result<Clip<B>, ConfigError> {
        self.model
            .init_with(self.head.seed, &self.optim.loss_head(), device)
    }

    /// The model the trial starts from, given its [`TrialSpec::init_model`]: the open_clip
    /// checkpoint of [`TrialSpec::init`] loaded into it when there is one (refused if the file
    /// changed since the spec was written), else `model` as it is.
    pub fn load_init<B: burn::tensor::backend::Backend>(
        &self,
        model: Clip<B>,
        device: &B::Device,
    ) -> Result<Clip<B>, InitError> {
        let Some(init) = &self.init else {
            return Ok(model);
        };
        let path = std::path::Path::new(&init.file);
        let found = sha256_file(path).map_err(|e| InitError::Read {
            file: init.file.clone(),
            message: e.to_string(),
        })?;
        if found != init.sha256 {
            return Err(InitError::Changed {
                file: init.file.clone(),
                expected: init.sha256.clone(),
                found,
            });
        }
        let sd = crate::model::openclip::read_state_dict(path)?;
        Ok(crate::model::openclip::load_state_dict(
            model,
            &self.model,
            sd,
            path,
            device,
        )?)
    }
}

/// Why the weights a trial starts from cannot be had.
#[derive(Debug, Error)]
pub enum InitError {
    #[error(transparent)]
    OpenClip(#[from] crate::model::openclip::OpenClipError),
    #[error("init_from {file}: {message}")]
    Read { file: String, message: String },
    #[error(
        "init_from {file}: the file changed since the trial was planned (SHA-256 {found}, the spec says {expected}); a trial's starting weights are part of its id"
    )]
    Changed {
        file: String,
        expected: String,
        found: String,
    },
}

/// When to log, evaluate and checkpoint, all in samples seen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Intervals {
    pub log_every_samples: u64,
    pub eval_every_samples: u64,
    pub checkpoint_every_samples: u64,
    pub keep_checkpoints: usize,
    /// Held-out pairs in the validation loss and zero-shot evaluation.
    pub eval_samples: usize,
    /// The FIXED batch size of the validation loss (the contrastive loss depends on it).
    pub eval_batch_size: usize,
    /// Zero-shot class prompts enriched with WordNet glosses (K-LITE); written (and part of the
    /// trial id) only when on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub klite_prompts: bool,
    /// More evaluation sets tracked during training (`clipscale eval --dataset` names);
    /// written (and part of the trial id) only when given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eval_sets: Vec<String>,
}

/// The whole resolved spec of one trial (`spec.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrialSpec {
    #[serde(flatten)]
    pub head: TrialSpecHead,
    pub model: ClipConfig,
    pub data: DataSpec,
    pub optim: OptimSpec,
    pub intervals: Intervals,
    /// The weights the trial starts from instead of its seed's initialisation (written, and
    /// part of the trial id, only when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<InitSpec>,
}

/// An open_clip checkpoint a trial starts from: the file, and its SHA-256 (which the trial id
/// covers, and which is checked again when the file is read).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InitSpec {
    pub file: String,
    pub sha256: String,
}

impl InitSpec {
    /// The file `path` with its hash; an unreadable file is an error naming it.
    pub fn of_file(path: &str) -> Result<Self, SpecError> {
        Ok(InitSpec {
            file: path.to_string(),
            sha256: sha256_file(std::path::Path::new(path))
                .map_err(|e| invalid("init_from", path, e.to_string()))?,
        })
    }
}

/// The SHA-256 of a file, in hex.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// What a user asks for; [`resolve`] turns it into a [`TrialSpec`].
#[derive(Debug, Clone)]
pub struct TrialRequest {
    pub sweep: String,
    pub model: ClipConfig,
    pub data: DataSpec,
    pub samples: u64,
    pub batch_size: usize,
    pub seed: u64,
    pub optim: OptimSpec,
    pub intervals: Intervals,
}

fn short_count(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 && n % 1_000_000_000 == 0 => format!("{}G", n / 1_000_000_000),
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// Checks a request and fills in everything derived: the model's vocabulary from the tokenizer,
/// samples rounded down to whole batches, parameter and MAC counts, the trial id.
pub fn resolve(req: TrialRequest, provenance: Provenance) -> Result<TrialSpec, SpecError> {
    if req.batch_size < 2 {
        return Err(invalid(
            "batch_size",
            req.batch_size,
            "the contrastive loss needs at least 2 pairs per batch",
        ));
    }
    if req.samples == 0 {
        return Err(invalid("samples", 0, "must be at least one batch"));
    }
    if req.samples < req.batch_size as u64 {
        return Err(invalid(
            "samples",
            req.samples,
            format!("must be at least one batch ({})", req.batch_size),
        ));
    }
    let lr = req.optim.lr;
    if !(lr > 0.0 && lr <= 1.0) {
        return Err(invalid("lr", lr, "must be in (0, 1]"));
    }
    if req.optim.warmup_samples > req.samples {
        return Err(invalid(
            "warmup_samples",
            req.optim.warmup_samples,
            format!("must not exceed samples ({})", req.samples),
        ));
    }
    if let Some(c) = req.optim.grad_clip_norm
        && !(c > 0.0 && c.is_finite())
    {
        return Err(invalid("grad_clip_norm", c, "must be a positive number"));
    }
    if let ScheduleShape::ConstantCooldown {
        cooldown_fraction, ..
    } = req.optim.schedule
        && (req.samples as f64 * cooldown_fraction) < req.batch_size as f64
    {
        return Err(invalid(
            "cooldown_fraction",
            cooldown_fraction,
            format!(
                "cools down over fewer samples than one batch ({} of {}): the run would end at the peak",
                (req.samples as f64 * cooldown_fraction).round(),
                req.batch_size
            ),
        ));
    }
    let mut req = req;
    let o = &mut req.optim;
    for (field, v) in [
        ("init_logit_scale", o.init_logit_scale),
        ("init_logit_bias", o.init_logit_bias),
    ] {
        if let Some(v) = v.filter(|v| !v.is_finite()) {
            return Err(invalid(field, v, "must be a finite number"));
        }
    }
    match o.objective {
        Objective::Clip => {
            if let Some(b) = o.init_logit_bias {
                return Err(invalid(
                    "init_logit_bias",
                    b,
                    "only the siglip objective has a logit bias (set objective = \"siglip\")",
                ));
            }
        }
        Objective::Siglip => {
            // written out, so the spec says what the model started from
            o.init_logit_scale = Some(o.init_logit_scale.unwrap_or(SIGLIP_LOGIT_SCALE));
            o.init_logit_bias = Some(o.init_logit_bias.unwrap_or(SIGLIP_LOGIT_BIAS));
        }
    }
    let a = &req.optim.adamw;
    if !(0.0..1.0).contains(&a.beta1) || !(0.0..1.0).contains(&a.beta2) {
        return Err(invalid(
            "adamw.beta",
            format!("({}, {})", a.beta1, a.beta2),
            "betas must be in [0, 1)",
        ));
    }
    let positive_eps_and_decay = a.eps > 0.0 && a.weight_decay >= 0.0; // false for NaN too
    if !positive_eps_and_decay {
        return Err(invalid(
            "adamw",
            format!("eps {}, weight_decay {}", a.eps, a.weight_decay),
            "eps must be > 0 and weight decay >= 0",
        ));
    }
    let iv = &req.intervals;
    if iv.log_every_samples == 0 || iv.checkpoint_every_samples == 0 || iv.eval_every_samples == 0 {
        return Err(invalid(
            "intervals",
            format!("{iv:?}"),
            "log, eval and checkpoint intervals must be positive",
        ));
    }
    if iv.keep_checkpoints == 0 {
        return Err(invalid(
            "keep_checkpoints",
            0,
            "keep at least the last checkpoint",
        ));
    }
    if iv.eval_batch_size < 2 || iv.eval_samples < iv.eval_batch_size {
        return Err(invalid(
            "eval_samples",
            format!("{} (eval batch {})", iv.eval_samples, iv.eval_batch_size),
            "the validation set needs at least one fixed-size batch of at least 2",
        ));
    }
    let model = req.model.with_vocab_size(req.data.vocab_size);
    model.validate()?;
    let samples = req.samples / req.batch_size as u64 * req.batch_size as u64;
    let model_summary = counts(&model);
    let mut spec = TrialSpec {
        head: TrialSpecHead {
            schema_version: SCHEMA_VERSION,
            trial_id: String::new(),
            sweep: req.sweep,
            provenance,
            model_summary,
            dataset: req.data.dataset.name().to_string(),
            samples,
            batch_size: req.batch_size,
            seed: req.seed,
            branching: None,
        },
        model,
        data: req.data,
        optim: req.optim,
        intervals: req.intervals,
        init: None,
    };
    spec.head.trial_id = trial_id(&spec);
    Ok(spec)
}

/// `<model>-n<samples>-b<batch>-s<seed>-<hash>`: the hash covers everything that determines
/// the result (model, data, optimisation, samples, batch, seed, evaluation set), not where or
/// when it ran nor how often it logs or checkpoints.
pub fn trial_id(spec: &TrialSpec) -> String {
    let mut identity = serde_json::json!({
        "model": spec.model,
        "data": spec.data,
        "optim": spec.optim,
        "samples": spec.head.samples,
        "batch_size": spec.head.batch_size,
        "seed": spec.head.seed,
        "eval_samples": spec.intervals.eval_samples,
        "eval_batch_size": spec.intervals.eval_batch_size,
    });
    // these only when set, so that every other trial keeps its id
    if spec.intervals.klite_prompts {
        identity["klite_prompts"] = true.into();
    }
    if !spec.intervals.eval_sets.is_empty() {
        identity["eval_sets"] = spec.intervals.eval_sets.clone().into();
    }
    if let Some(init) = &spec.init {
        // the content, not where the file lies
        identity["init_sha256"] = init.sha256.clone().into();
    }
    let hash = clipscale_core::rng::fnv1a(identity.to_string().as_bytes());
    format!(
        "{}-n{}-b{}-s{}-{:08x}",
        spec.model.name,
        short_count(spec.head.samples),
        spec.head.batch_size,
        spec.head.seed,
        (hash >> 32) as u32 ^ hash as u32
    )
}
