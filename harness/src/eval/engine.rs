//! The evaluation engine that training and `clipscale eval` share: evaluation sets become jobs
//! (zero-shot classification with the validation loss, or image-text retrieval), a model runs
//! them without autodiff, and the results go to the trial folder as evaluation records and as
//! CLIP_benchmark-style results.

use std::collections::BTreeMap;

use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use clipscale_analysis::records::{BenchmarkResult, EvalRecord, SCHEMA_VERSION, train_flops};
use clipscale_analysis::trial::TrialDir;
use clipscale_data::{DataError, Tokenizer};

use crate::backend::{BackendInfo, BackendTask};
use crate::eval::retrieval::{RECALL_KS, embed_and_score, retrieval_from_scores};
use crate::eval::sets::{self, EMOJI_SETS, EvalSetSpec, EvalTask, SetShape};
use crate::eval::{ZeroShotClassifier, validation_loss};
use crate::model::Clip;
use crate::train::checkpoint::{CheckpointError, load_model};
use crate::train::data::{OpenedData, SharedTokenizer, SyntheticSource, split_pattern};
use crate::train::spec::{DEFAULT_EMOJI_DIR, DataSpec, Dataset, TrialSpec};

/// One evaluation to run on a model.
pub enum EvalJob {
    /// Zero-shot classification, and the validation loss where the set has full batches.
    Classify(EvalTask),
    /// Image-text retrieval over (image, caption) pairs.
    Retrieve {
        name: String,
        pairs: Vec<(Vec<f32>, String)>,
    },
}

/// The metrics of one evaluation set.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalResult {
    pub dataset: String,
    /// `zeroshot_classification` or `zeroshot_retrieval` (CLIP_benchmark's task names).
    pub task: &'static str,
    pub metrics: Vec<(String, f64)>,
}

/// The evaluation sets a training run tracks: `extra` (the `eval_sets` setting) after what its
/// data set holds out (the synthetic scenes'
/// held-out attribute combinations, the emoji folder's held-out styles and concepts, for a pool
/// those of the emoji folder it was decontaminated against; none for arbitrary shards).
pub fn training_jobs(
    data: &DataSpec,
    opened: &OpenedData,
    shape: SetShape,
    extra: &[String],
) -> Result<Vec<EvalJob>, DataError> {
    let tasks = match (&data.dataset, &opened.synthetic) {
        (Dataset::Synthetic, Some(source)) => sets::synthetic(source, shape.samples, shape.batch)?,
        (Dataset::Emoji { dir }, _) => sets::emoji(
            std::path::Path::new(dir),
            &EMOJI_SETS.map(|(_, n)| n),
            opened.tokenizer.as_ref(),
            shape,
        )?,
        (Dataset::Pool { dir }, _) => match pool_emoji_dir(std::path::Path::new(dir)) {
            Some(emoji) => sets::emoji(
                &emoji,
                &EMOJI_SETS.map(|(_, n)| n),
                opened.tokenizer.as_ref(),
                shape,
            )?,
            None => Vec::new(),
        },
        _ => Vec::new(),
    };
    let mut jobs: Vec<EvalJob> = tasks.into_iter().map(EvalJob::Classify).collect();
    for name in extra {
        let set: EvalSetSpec = name
            .parse()
            .map_err(|e: sets::EvalSetError| DataError::Format {
                path: "eval_sets".into(),
                detail: e.to_string(),
            })?;
        jobs.extend(set.jobs(data, opened.tokenizer.as_ref(), shape)?);
    }
    Ok(jobs)
}

/// The emoji folder a pool was decontaminated against (its held-out styles and concepts are
/// what a model trained on the pool is evaluated on), where it still exists.
fn pool_emoji_dir(pool: &std::path::Path) -> Option<std::path::PathBuf> {
    let manifest = clipscale_data::prepare::Manifest::load(pool).ok()?;
    let dir = manifest
        .details
        .pointer("/decontamination/emoji")?
        .as_str()?;
    let dir = std::path::PathBuf::from(dir);
    if dir.join("manifest.json").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "warning: the pool at {} was checked against the emoji folder {}, which is gone: no held-out emoji evaluation during training",
            pool.display(),
            dir.display()
        );
        None
    }
}

/// The emoji folder whose held-out sets a trial trained on `data` is evaluated on when a set
/// names none: its own, the one a pool was decontaminated against, or (other data sets) the
/// default folder. A pool whose folder is gone or was never given is an error: another
/// folder may overlap what the pool trained on.
pub fn trial_emoji_dir(data: &DataSpec) -> Result<std::path::PathBuf, DataError> {
    match &data.dataset {
        Dataset::Pool { dir } => {
            pool_emoji_dir(std::path::Path::new(dir)).ok_or_else(|| DataError::Format {
                path: dir.into(),
                detail: "this pool was not checked against an emoji folder that still exists, \
                         so its held-out emoji sets are not clean; name the folder \
                         (emoji-heldout-style=DIR) only if the pool was checked against it"
                    .into(),
            })
        }
        other => Ok(other.path().unwrap_or(DEFAULT_EMOJI_DIR).into()),
    }
}

impl EvalSetSpec {
    /// The jobs of this set for a trial trained on `data`.
    pub fn jobs(
        &self,
        data: &DataSpec,
        tokenizer: &dyn Tokenizer,
        shape: SetShape,
    ) -> Result<Vec<EvalJob>, DataError> {
        let trial_dir = || trial_emoji_dir(data);
        Ok(match self {
            EvalSetSpec::SyntheticHeldout => {
                let source =
                    SyntheticSource::new(data.seed, shape.image_size, shape.context_length)?;
                sets::synthetic(&source, shape.samples, shape.batch)?
                    .into_iter()
                    .map(EvalJob::Classify)
                    .collect()
            }
            EvalSetSpec::Emoji { name, dir } => {
                let dir = match dir {
                    Some(d) => d.clone(),
                    None => trial_dir()?,
                };
                sets::emoji(&dir, &[name], tokenizer, shape)?
                    .into_iter()
                    .map(EvalJob::Classify)
                    .collect()
            }
            EvalSetSpec::EmojiSubgroup { dir } => {
                let dir = match dir {
                    Some(d) => d.clone(),
                    None => trial_dir()?,
                };
                vec![EvalJob::Classify(sets::emoji_subgroups(
                    &dir, tokenizer, shape,
                )?)]
            }
            EvalSetSpec::FashionMnist { dir } => vec![EvalJob::Classify(sets::classification(
                "fashion-mnist",
                dir,
                "test",
                tokenizer,
                shape,
            )?)],
            EvalSetSpec::Classification { dir, split } => {
                vec![EvalJob::Classify(sets::classification(
                    &format!("classification:{}:{split}", dir.display()),
                    dir,
                    split,
                    tokenizer,
                    shape,
                )?)]
            }
            EvalSetSpec::ImageFolder { dir } => {
                vec![EvalJob::Classify(sets::imagefolder(dir, tokenizer, shape)?)]
            }
            EvalSetSpec::Tuxpaint { dir } => vec![EvalJob::Retrieve {
                name: "tuxpaint".into(),
                pairs: sets::retrieval_pairs(
                    &split_pattern(dir, "test")?,
                    shape.image_size,
                    shape.samples,
                )?,
            }],
            EvalSetSpec::WdsRetrieval { pattern } => vec![EvalJob::Retrieve {
                name: format!("wds:{pattern}"),
                pairs: sets::retrieval_pairs(pattern, shape.image_size, shape.samples)?,
            }],
        })
    }
}

/// Runs `jobs` on `model` (an inference model: no autodiff) of `shape`'s image size and
/// context length, `shape.batch` pairs at a time for retrieval.
pub fn run_jobs<B: Backend>(
    model: &Clip<B>,
    jobs: &[EvalJob],
    tokenizer: &dyn Tokenizer,
    shape: SetShape,
    device: &B::Device,
) -> Result<Vec<EvalResult>, DataError> {
    let (ctx, size, batch) = (shape.context_length, shape.image_size, shape.batch);
    let mut results = Vec::new();
    for job in jobs {
        match job {
            EvalJob::Classify(task) => {
                let mut metrics = Vec::new();
                if !task.loss_batches.is_empty() {
                    let loss = validation_loss(model, &task.loss_batches, device);
                    metrics.push(("val_loss".to_string(), loss.softmax));
                    if let Some(own) = loss.sigmoid {
                        metrics.push(("val_sigmoid_loss".to_string(), own));
                    }
                }
                if !task.prompts.is_empty() {
                    metrics.extend(classification_context(task, tokenizer, ctx));
                }
                if !task.prompts.is_empty() && !task.labelled.is_empty() {
                    let zs = ZeroShotClassifier::new(model, &task.prompts, ctx, device).evaluate(
                        model,
                        &task.labelled,
                        device,
                    );
                    metrics.extend([
                        ("acc1".to_string(), zs.acc1),
                        ("acc5".to_string(), zs.acc5),
                        (
                            "mean_per_class_recall".to_string(),
                            zs.mean_per_class_recall,
                        ),
                    ]);
                }
                results.push(EvalResult {
                    dataset: task.name.clone(),
                    task: "zeroshot_classification",
                    metrics,
                });
            }
            EvalJob::Retrieve { name, pairs } => {
                let images: Vec<(Vec<f32>, usize)> = pairs
                    .chunks(batch)
                    .map(|c| {
                        (
                            c.iter().flat_map(|p| p.0.iter().copied()).collect(),
                            c.len(),
                        )
                    })
                    .collect();
                let captions: Vec<String> = pairs.iter().map(|p| p.1.clone()).collect();
                let texts = captions
                    .chunks(batch)
                    .map(|c| tokenizer.encode_batch(c, ctx))
                    .collect::<Result<Vec<_>, _>>()?;
                let (scores, n_images, _) =
                    embed_and_score(model, &images, size, &texts, ctx, device);
                let mut context = Vec::new();
                if let Some(unk) = tokenizer.unknown_token() {
                    let share = unknown_share(texts.iter().map(|(ids, eot)| (ids, eot)), ctx, unk);
                    context.push(("unknown_token_share".to_string(), share));
                }
                let text_image: Vec<usize> = (0..pairs.len()).collect();
                let r = retrieval_from_scores(&scores, n_images, &text_image);
                let mut metrics = Vec::new();
                for (i, k) in RECALL_KS.iter().enumerate() {
                    metrics.push((
                        format!("image_retrieval_recall@{k}"),
                        r.image_retrieval_recall[i],
                    ));
                    metrics.push((
                        format!("text_retrieval_recall@{k}"),
                        r.text_retrieval_recall[i],
                    ));
                    // a random ranking finds the one match among n in the top k k/n of the time
                    metrics.push((
                        format!("chance_recall@{k}"),
                        (*k as f64 / n_images.max(1) as f64).min(1.0),
                    ));
                }
                metrics.extend(context);
                results.push(EvalResult {
                    dataset: name.clone(),
                    task: "zeroshot_retrieval",
                    metrics,
                });
            }
        }
    }
    Ok(results)
}

impl EvalResult {
    /// The figures for a terminal: each beside its chance level, and a warning when the
    /// tokenizer (named `tokenizer`) does not know most of the prompts' words.
    pub fn describe(&self, tokenizer: &str) -> String {
        let get = |name: &str| self.metrics.iter().find(|(k, _)| k == name).map(|m| m.1);
        let mut out = format!("{} ({}):\n", self.dataset, self.task);
        for (k, v) in &self.metrics {
            if k.starts_with("chance_") || k == "unknown_token_share" {
                continue;
            }
            let chance = match k.as_str() {
                "acc1" | "mean_per_class_recall" => get("chance_acc1"),
                "acc5" => get("chance_acc5"),
                other => other
                    .rsplit_once("recall@")
                    .and_then(|(_, at)| get(&format!("chance_recall@{at}"))),
            };
            match chance {
                Some(c) => out.push_str(&format!("  {k:<28} {v:.4}  (chance {c:.4})\n")),
                None => out.push_str(&format!("  {k:<28} {v:.4}\n")),
            }
        }
        if let Some(share) = get("unknown_token_share").filter(|s| *s > 0.2) {
            out.push_str(&format!(
                "  warning: {:.0}% of the words of the class names (or captions) are unknown to the trial's tokenizer ({tokenizer}): these figures say little about the model\n",
                100.0 * share
            ));
        }
        out
    }
}

/// What a classification's figures should be read against: chance (`chance_acc1`,
/// `chance_acc5`, and `chance_acc1` is also the chance mean per-class recall) and, for a
/// tokenizer with a word vocabulary, the share of the class
/// names' words it does not know (`unknown_token_share`: near 1, zero-shot figures say
/// nothing about the model).
fn classification_context(
    task: &EvalTask,
    tokenizer: &dyn Tokenizer,
    ctx: usize,
) -> Vec<(String, f64)> {
    let k = task.prompts.len() as f64;
    let mut out = vec![
        ("chance_acc1".to_string(), 1.0 / k),
        ("chance_acc5".to_string(), k.min(5.0) / k),
    ];
    if let Some(unk) = tokenizer.unknown_token()
        && let Ok(names) = tokenizer.encode_batch(&task.names, ctx)
    {
        let share = unknown_share(std::iter::once((&names.0, &names.1)), ctx, unk);
        out.push(("unknown_token_share".to_string(), share));
    }
    out
}

/// The share of `unk` among the tokens between the start token and the end token of every
/// row of `batches` (ids flattened `rows x ctx`, end positions per row).
fn unknown_share<'a>(
    batches: impl Iterator<Item = (&'a Vec<i64>, &'a Vec<i64>)>,
    ctx: usize,
    unk: u32,
) -> f64 {
    let (mut unknown, mut total) = (0usize, 0usize);
    for (ids, eot) in batches {
        for (row, &end) in eot.iter().enumerate() {
            let start = row * ctx;
            let words = &ids[start + 1..start + (end as usize).clamp(1, ctx)];
            total += words.len();
            unknown += words.iter().filter(|&&t| t == i64::from(unk)).count();
        }
    }
    if total == 0 {
        0.0
    } else {
        unknown as f64 / total as f64
    }
}

/// Appends `results` (taken after `samples_seen` training pairs) to the trial's evaluation
/// records, and returns them as CLIP_benchmark-style entries.
pub fn record_results(
    trial: &TrialDir,
    spec: &TrialSpec,
    samples_seen: u64,
    results: &[EvalResult],
) -> Result<Vec<BenchmarkResult>, clipscale_analysis::AnalysisError> {
    let flops = train_flops(spec.head.model_summary.fwd_macs_per_pair, samples_seen);
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        for (metric, value) in &r.metrics {
            trial.append_eval(&EvalRecord {
                schema_version: SCHEMA_VERSION,
                trial_id: spec.head.trial_id.clone(),
                samples_seen,
                train_flops: flops,
                dataset: r.dataset.clone(),
                metric: metric.clone(),
                value: *value,
            })?;
        }
        out.push(BenchmarkResult {
            dataset: r.dataset.clone(),
            model: spec.model.name.clone(),
            pretrained: spec.head.trial_id.clone(),
            task: r.task.to_string(),
            metrics: r.metrics.iter().cloned().collect::<BTreeMap<_, _>>(),
            samples_seen,
        });
    }
    Ok(out)
}

/// Why a checkpoint could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointEvalError {
    #[error("{0}: no checkpoint to evaluate (train the trial first, or resume it)")]
    NoCheckpoint(String),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Model(#[from] crate::model::ConfigError),
    #[error(transparent)]
    Init(#[from] crate::train::spec::InitError),
    #[error(transparent)]
    Data(#[from] DataError),
}

/// Which weights of a trial are evaluated.
pub enum Weights {
    /// The newest checkpoint in the trial's folder.
    NewestCheckpoint(TrialDir),
    /// What the trial starts from: its `init` file (an open_clip checkpoint), else its seed's.
    Start,
}

/// A trial's weights, evaluated on `jobs` on whichever backend runs it.
pub struct EvaluateCheckpoint {
    pub spec: TrialSpec,
    pub weights: Weights,
    pub jobs: Vec<EvalJob>,
    pub tokenizer: SharedTokenizer,
    pub shape: SetShape,
}

impl BackendTask for EvaluateCheckpoint {
    type Output = Result<Vec<EvalResult>, CheckpointEvalError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, _info: BackendInfo) -> Self::Output {
        let model = self.spec.init_model::<B>(&device)?;
        let model = match &self.weights {
            Weights::NewestCheckpoint(trial) => {
                let dir = trial.latest_checkpoint().ok_or_else(|| {
                    CheckpointEvalError::NoCheckpoint(trial.path().display().to_string())
                })?;
                load_model(&dir, model, &device)?
            }
            Weights::Start => self.spec.load_init(model, &device)?,
        }
        .valid();
        Ok(run_jobs(
            &model,
            &self.jobs,
            self.tokenizer.as_ref(),
            self.shape,
            &device,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::spec::TokenizerName;

    fn spec(dataset: Dataset) -> DataSpec {
        DataSpec {
            dataset,
            seed: 0,
            tokenizer: TokenizerName::Bpe(1024),
            vocab_size: 1024,
            curation: None,
        }
    }

    fn manifest(dir: &std::path::Path, dataset: &str, details: serde_json::Value) {
        std::fs::create_dir_all(dir).unwrap();
        let m = serde_json::json!({
            "dataset": dataset, "image_size": 32, "seed": 0, "num_classes": 0,
            "splits": {}, "sources": [], "details": details, "wall_seconds": 0.0,
        });
        std::fs::write(dir.join("manifest.json"), m.to_string()).unwrap();
    }

    #[test]
    fn a_pool_trial_is_evaluated_on_the_emoji_folder_it_was_checked_against() {
        let root = std::env::temp_dir().join(format!("clipscale-emoji-dir-{}", std::process::id()));
        let (emoji, pool) = (root.join("my-emoji"), root.join("pool"));
        manifest(&emoji, "emoji", serde_json::json!({}));
        let emoji_s = emoji.display().to_string();
        manifest(
            &pool,
            "pool",
            serde_json::json!({"decontamination": {"emoji": emoji_s}}),
        );
        let pool_s = pool.display().to_string();
        assert_eq!(
            trial_emoji_dir(&spec(Dataset::Pool {
                dir: pool_s.clone()
            }))
            .unwrap(),
            emoji
        );
        // an emoji trial: its own folder
        assert_eq!(
            trial_emoji_dir(&spec(Dataset::Emoji { dir: emoji_s })).unwrap(),
            emoji
        );
        // the folder gone: refused, not another folder that may overlap the pool
        std::fs::remove_dir_all(&emoji).unwrap();
        let err = trial_emoji_dir(&spec(Dataset::Pool { dir: pool_s }))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not clean"), "{err}");
        std::fs::remove_dir_all(&root).ok();
    }
}
