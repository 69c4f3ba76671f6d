//! `clipscale eval --trial DIR --dataset NAME...`: a trial's newest checkpoint evaluated after the
//! fact, batched and without autodiff on the chosen device; results appended to evals.jsonl and
//! written as CLIP_benchmark-style JSON (dataset, model, task, metrics).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::{AutodiffModule, Module};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::AutodiffBackend;

use clipscale::backend::{BackendInfo, BackendTask, dispatch};
use clipscale::batch::HostBatch;
use clipscale::cli::EvalArgs;
use clipscale::eval::retrieval::{embed_and_score, retrieval_from_scores};
use clipscale::eval::{ZeroShotClassifier, validation_loss};
use clipscale::train::TrialSpec;
use clipscale::train::checkpoint;
use clipscale::train::data::{self, SharedTokenizer, SyntheticSource};
use clipscale::train::evalsets::{self, EvalTask};
use clipscale_analysis::records::{self, EVALS_FILE, EvalRecord, SCHEMA_VERSION, SPEC_FILE};
use clipscale_data::{Transform, decode_rgb};

enum Job {
    Classify(EvalTask),
    Retrieve {
        name: String,
        pairs: Vec<(Vec<f32>, String)>,
    },
}

fn imagefolder(
    dir: &Path,
    tok: &dyn clipscale_data::Tokenizer,
    size: usize,
    ctx: usize,
    samples: usize,
    batch: usize,
) -> Result<EvalTask> {
    let mut classes: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    classes.sort();
    if classes.is_empty() {
        bail!(
            "{}: no class sub-folders (ImageFolder layout: DIR/<class>/<image>)",
            dir.display()
        );
    }
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f)).ok().map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        })
    };
    let names = read("classnames.txt").unwrap_or_else(|| {
        classes
            .iter()
            .map(|c| {
                c.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .replace('_', " ")
            })
            .collect()
    });
    if names.len() != classes.len() {
        bail!(
            "{}: classnames.txt has {} names for {} class folders",
            dir.display(),
            names.len(),
            classes.len()
        );
    }
    let templates = read("templates.txt").unwrap_or_else(|| vec!["a photo of a {c}.".into()]);
    let prompts = names
        .iter()
        .map(|c| {
            tok.encode_batch(
                &templates
                    .iter()
                    .map(|t| t.replace("{c}", c))
                    .collect::<Vec<_>>(),
                ctx,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let transform = Transform::eval(size);
    let mut items = Vec::new();
    for (label, c) in classes.iter().enumerate() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(c)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
            match decode_rgb(&bytes, &f.display().to_string()) {
                Ok(img) => items.push((transform.apply(&img, 0), label)),
                Err(e) => eprintln!("skipped {}: {e}", f.display()),
            }
        }
    }
    // a fixed, spread subset when the folder is larger than asked
    let step = (items.len() / samples.max(1)).max(1);
    let items: Vec<_> = items.into_iter().step_by(step).take(samples).collect();
    let labelled = items
        .chunks(batch)
        .map(|chunk| {
            let n = chunk.len();
            let hb = HostBatch {
                batch: n,
                image_size: size,
                context_length: ctx,
                images: chunk.iter().flat_map(|x| x.0.iter().copied()).collect(),
                tokens: vec![0; n * ctx],
                eot_pos: vec![0; n],
            };
            (hb, chunk.iter().map(|x| x.1).collect())
        })
        .collect();
    Ok(EvalTask {
        name: format!("imagefolder:{}", dir.display()),
        loss_batches: Vec::new(),
        labelled,
        prompts,
    })
}

fn jobs(a: &EvalArgs, spec: &TrialSpec, tok: &SharedTokenizer) -> Result<Vec<Job>> {
    let (size, ctx) = (spec.model.vision.image_size, spec.model.text.context_length);
    let (n, b) = (a.eval_samples, a.eval_batch);
    let trial_data = spec
        .data
        .path
        .clone()
        .unwrap_or_else(|| "data/emoji".into());
    let mut out = Vec::new();
    for d in &a.datasets {
        let (name, arg) = d
            .split_once('=')
            .map(|(x, y)| (x, Some(y)))
            .unwrap_or((d.as_str(), None));
        match name {
            "synthetic-heldout" => {
                let s = SyntheticSource::new(spec.data.seed, size, ctx)?;
                out.extend(
                    evalsets::synthetic(&s, n, b)?
                        .into_iter()
                        .map(Job::Classify),
                );
            }
            "emoji-heldout-style" | "emoji-heldout-concept" => {
                let dir = PathBuf::from(arg.unwrap_or(&trial_data));
                let tasks = evalsets::emoji(&dir, &[name], tok.as_ref(), size, ctx, n, b)?;
                out.extend(
                    tasks
                        .into_iter()
                        .filter(|t| t.name == name)
                        .map(Job::Classify),
                );
            }
            "fashion-mnist" => {
                let dir = PathBuf::from(arg.context(
                    "fashion-mnist=DIR: the folder of `clipscale data prepare fashion-mnist`",
                )?);
                out.push(Job::Classify(evalsets::classification(
                    "fashion-mnist",
                    &dir,
                    "test",
                    tok.as_ref(),
                    size,
                    ctx,
                    n,
                    b,
                )?));
            }
            "classification" => {
                let arg = arg.context("classification=DIR:SPLIT")?;
                let (dir, split) = arg.rsplit_once(':').unwrap_or((arg, "test"));
                out.push(Job::Classify(evalsets::classification(
                    &format!("classification:{dir}:{split}"),
                    Path::new(dir),
                    split,
                    tok.as_ref(),
                    size,
                    ctx,
                    n,
                    b,
                )?));
            }
            "imagefolder" => out.push(Job::Classify(imagefolder(
                Path::new(arg.context("imagefolder=DIR")?),
                tok.as_ref(),
                size,
                ctx,
                n,
                b,
            )?)),
            "tuxpaint" => {
                let dir = PathBuf::from(
                    arg.context("tuxpaint=DIR: the folder of `clipscale data prepare tuxpaint`")?,
                );
                out.push(Job::Retrieve {
                    name: "tuxpaint".into(),
                    pairs: evalsets::retrieval_pairs(&data::split_pattern(&dir, "test")?, size, n)?,
                });
            }
            "wds-retrieval" => {
                let pattern = arg.context("wds-retrieval=PATTERN")?;
                out.push(Job::Retrieve {
                    name: format!("wds:{pattern}"),
                    pairs: evalsets::retrieval_pairs(pattern, size, n)?,
                });
            }
            other => bail!(
                "unknown evaluation set `{other}`; known: synthetic-heldout, emoji-heldout-style, emoji-heldout-concept, fashion-mnist=DIR, classification=DIR:SPLIT, imagefolder=DIR, tuxpaint=DIR, wds-retrieval=PATTERN"
            ),
        }
    }
    Ok(out)
}

struct EvalTaskRun {
    spec: TrialSpec,
    dir: PathBuf,
    jobs: Vec<Job>,
    tok: SharedTokenizer,
    batch: usize,
}

impl BackendTask for EvalTaskRun {
    type Output = Result<Vec<(String, String, Vec<(String, f64)>)>>;
    fn run<B: AutodiffBackend>(self, device: B::Device, _info: BackendInfo) -> Self::Output {
        let ckpt = checkpoint::list(&self.dir)
            .pop()
            .map(|(_, p)| p)
            .with_context(|| format!("{}: no checkpoint to evaluate", self.dir.display()))?;
        let model = self.spec.model.init::<B>(self.spec.head.seed, &device)?;
        let model = model
            .load_file(
                ckpt.join("model"),
                &NamedMpkFileRecorder::<FullPrecisionSettings>::new(),
                &device,
            )
            .with_context(|| format!("loading {}", ckpt.display()))?;
        let m = model.valid();
        let (size, ctx) = (
            self.spec.model.vision.image_size,
            self.spec.model.text.context_length,
        );
        let mut results = Vec::new();
        for job in self.jobs {
            match job {
                Job::Classify(t) => {
                    let mut r = Vec::new();
                    if !t.loss_batches.is_empty() {
                        r.push((
                            "val_loss".to_string(),
                            validation_loss(&m, &t.loss_batches, &device),
                        ));
                    }
                    let zs = ZeroShotClassifier::new(&m, &t.prompts, ctx, &device).evaluate(
                        &m,
                        &t.labelled,
                        &device,
                    );
                    r.extend([
                        ("acc1".to_string(), zs.acc1),
                        ("acc5".into(), zs.acc5),
                        ("mean_per_class_recall".into(), zs.mean_per_class_recall),
                    ]);
                    results.push((t.name, "zeroshot_classification".to_string(), r));
                }
                Job::Retrieve { name, pairs } => {
                    let images: Vec<(Vec<f32>, usize)> = pairs
                        .chunks(self.batch)
                        .map(|c| {
                            (
                                c.iter().flat_map(|p| p.0.iter().copied()).collect(),
                                c.len(),
                            )
                        })
                        .collect();
                    let captions: Vec<String> = pairs.iter().map(|p| p.1.clone()).collect();
                    let texts = captions
                        .chunks(self.batch)
                        .map(|c| self.tok.encode_batch(c, ctx))
                        .collect::<Result<Vec<_>, _>>()?;
                    let (scores, ni, _) = embed_and_score(&m, &images, size, &texts, ctx, &device);
                    let text_image: Vec<usize> = (0..pairs.len()).collect();
                    let rm = retrieval_from_scores(&scores, ni, &text_image);
                    let mut r = Vec::new();
                    for (i, k) in clipscale::eval::retrieval::RECALL_KS.iter().enumerate() {
                        r.push((
                            format!("image_retrieval_recall@{k}"),
                            rm.image_retrieval_recall[i],
                        ));
                        r.push((
                            format!("text_retrieval_recall@{k}"),
                            rm.text_retrieval_recall[i],
                        ));
                    }
                    results.push((name, "zeroshot_retrieval".to_string(), r));
                }
            }
        }
        Ok(results)
    }
}

pub fn eval(a: &EvalArgs) -> Result<()> {
    let spec_path = a.trial.join(SPEC_FILE);
    let spec: TrialSpec = serde_json::from_str(
        &std::fs::read_to_string(&spec_path)
            .with_context(|| format!("reading {}", spec_path.display()))?,
    )
    .with_context(|| format!("parsing {}", spec_path.display()))?;
    let train_pattern = spec
        .data
        .path
        .as_deref()
        .and_then(|p| data::split_pattern(Path::new(p), "train").ok());
    let tok = data::tokenizer_for(
        &spec.data.tokenizer,
        train_pattern.as_deref().or(spec.data.path.as_deref()),
        spec.data.path.as_deref().map(Path::new),
    )
    .map_err(anyhow::Error::msg)?;
    let jobs = jobs(a, &spec, &tok)?;
    let state = checkpoint::list(&a.trial)
        .pop()
        .and_then(|(_, p)| std::fs::read_to_string(p.join("state.json")).ok())
        .and_then(|t| serde_json::from_str::<checkpoint::LoopState>(&t).ok());
    let samples_seen = state.map_or(0, |s| s.samples_seen);
    let results = dispatch(
        a.device,
        EvalTaskRun {
            spec: spec.clone(),
            dir: a.trial.clone(),
            jobs,
            tok,
            batch: a.eval_batch,
        },
    )??;
    let mut bench = Vec::new();
    for (dataset, task, metrics) in &results {
        println!("{dataset} ({task}):");
        for (k, v) in metrics {
            println!("  {k:<28} {v:.4}");
            records::append_jsonl(
                &a.trial.join(EVALS_FILE),
                &EvalRecord {
                    schema_version: SCHEMA_VERSION,
                    trial_id: spec.head.trial_id.clone(),
                    samples_seen,
                    train_flops: records::train_flops(
                        spec.head.model_summary.fwd_macs_per_pair,
                        samples_seen,
                    ),
                    dataset: dataset.clone(),
                    metric: k.clone(),
                    value: *v,
                },
            )?;
        }
        bench.push(serde_json::json!({
            "dataset": dataset, "model": spec.model.name, "pretrained": spec.head.trial_id, "task": task,
            "metrics": metrics.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
            "samples_seen": samples_seen,
        }));
    }
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| a.trial.join("benchmark.json"));
    records::write_json_atomic(&out, &bench)?;
    println!(
        "appended to {}; CLIP_benchmark-style results in {}",
        a.trial.join(EVALS_FILE).display(),
        out.display()
    );
    Ok(())
}
