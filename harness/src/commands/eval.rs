//! `clipscale eval --trial DIR --dataset NAME...`: a trial's newest checkpoint evaluated after the
//! fact, batched and without autodiff on the chosen device; results appended to its evaluation
//! records and written as CLIP_benchmark-style JSON. With `--open-clip-checkpoint FILE --model
//! NAME --samples-seen N` an open_clip checkpoint is evaluated instead, into a trial folder of
//! its own. Argument handling over `clipscale::eval`.

use std::time::Instant;

use anyhow::{Context, Result};
use clipscale::backend::{BackendInfo, DeviceSpec, dispatch};
use clipscale::cli::EvalArgs;
use clipscale::eval::engine::{EvalJob, EvaluateCheckpoint, Weights, record_results};
use clipscale::eval::sets::SetShape;
use clipscale::model::ModelLadder;
use clipscale::train::data::SharedTokenizer;
use clipscale::train::{TrialSettings, TrialSpec};
use clipscale_analysis::records::{FinalRecord, SCHEMA_VERSION, TrialStatus, train_flops};
use clipscale_analysis::trial::TrialDir;

pub fn eval(a: &EvalArgs) -> Result<()> {
    anyhow::ensure!(
        a.eval_samples >= 1 && a.eval_batch >= 1,
        "--eval-samples and --eval-batch must be at least 1 (got {} and {})",
        a.eval_samples,
        a.eval_batch
    );
    if let Some(file) = &a.open_clip_checkpoint {
        return eval_open_clip(a, file);
    }
    let path = a
        .trial
        .as_ref()
        .context("give --trial DIR or --open-clip-checkpoint FILE")?;
    let trial = TrialDir::new(path);
    let spec: TrialSpec = trial
        .read_spec()
        .with_context(|| format!("{} is not a trial folder", path.display()))?;
    let (jobs, tokenizer, shape) = jobs(a, &spec)?;
    let samples_seen = trial
        .latest_checkpoint_state()
        .map_or(0, |s| s.samples_seen);
    let results = dispatch(
        a.device,
        EvaluateCheckpoint {
            spec: spec.clone(),
            weights: Weights::NewestCheckpoint(trial.clone()),
            jobs,
            tokenizer,
            shape,
        },
    )??;
    for r in &results {
        print!("{}", r.describe(&spec.data.tokenizer.to_string()));
    }
    let benchmark = record_results(&trial, &spec, samples_seen, &results)?;
    let out = a.out.clone().unwrap_or_else(|| trial.benchmark_path());
    clipscale_analysis::records::write_json_atomic(&out, &benchmark)?;
    println!(
        "appended to {}; CLIP_benchmark-style results in {}",
        trial.evals_path().display(),
        out.display()
    );
    Ok(())
}

/// The evaluation jobs of `--dataset` for a trial of `spec`, with its tokenizer and set shape.
fn jobs(a: &EvalArgs, spec: &TrialSpec) -> Result<(Vec<EvalJob>, SharedTokenizer, SetShape)> {
    let tokenizer = spec.data.open_tokenizer()?;
    let shape = SetShape {
        image_size: spec.model.vision.image_size,
        context_length: spec.model.text.context_length,
        samples: a.eval_samples,
        batch: a.eval_batch,
        klite_prompts: a.klite_prompts,
    };
    let mut jobs = Vec::new();
    for set in &a.datasets {
        jobs.extend(set.jobs(&spec.data, tokenizer.as_ref(), shape)?);
    }
    Ok((jobs, tokenizer, shape))
}

/// An open_clip checkpoint evaluated into a trial folder of its own,
/// `<out>/open-clip/<trial-id>`: its spec (the model, open_clip's tokenizer, the file and its
/// SHA-256), its evaluations at `--samples-seen`, and a final record, so that `collect` reads
/// it like any trial.
fn eval_open_clip(a: &EvalArgs, file: &std::path::Path) -> Result<()> {
    let started = Instant::now();
    let model = a
        .model
        .clone()
        .context("--model names the checkpoint's architecture")?;
    let samples_seen = a
        .samples_seen
        .context("--samples-seen: the samples the checkpoint was trained on")?;
    let settings = TrialSettings {
        model: Some(model),
        samples: Some(samples_seen.max(64)),
        batch: Some(64),
        tokenizer: Some("clip-bpe".into()),
        // trained elsewhere, on data this harness does not read: named, never opened
        dataset: Some("wds".into()),
        data_dir: Some("trained-elsewhere".into()),
        init_from: Some(file.display().to_string()),
        eval_samples: Some(a.eval_samples),
        eval_batch: Some(a.eval_batch),
        ..TrialSettings::default()
    };
    let ladder = ModelLadder::load_or_builtin(a.ladder.models.as_deref())?;
    let provenance = clipscale::provenance::collect(&BackendInfo::for_device(DeviceSpec::Cpu));
    let mut spec = settings.resolve("open-clip", &ladder, &provenance)?;
    // trained elsewhere: its samples as given, not rounded to this harness's batches
    spec.head.samples = samples_seen;
    spec.head.trial_id = clipscale::train::spec::trial_id(&spec);
    let (jobs, tokenizer, shape) = jobs(a, &spec)?;
    let results = dispatch(
        a.device,
        EvaluateCheckpoint {
            spec: spec.clone(),
            weights: Weights::Start,
            jobs,
            tokenizer,
            shape,
        },
    )??;
    for r in &results {
        print!("{}", r.describe("clip-bpe"));
    }
    // the folder only once the checkpoint has loaded and evaluated
    let results_dir = a.out.clone().unwrap_or_else(|| "results".into());
    let trial = spec.dir(&results_dir);
    trial.create()?;
    trial.write_spec(&spec)?;
    trial.clear_records()?;
    let benchmark = record_results(&trial, &spec, samples_seen, &results)?;
    trial.write_benchmark(&benchmark)?;
    let macs = spec.head.model_summary.fwd_macs_per_pair;
    trial.write_final(&FinalRecord {
        schema_version: SCHEMA_VERSION,
        trial_id: spec.head.trial_id.clone(),
        status: TrialStatus::Done,
        steps: 0,
        samples_seen,
        train_flops: train_flops(macs, samples_seen),
        unique_samples: None,
        final_loss: None,
        wall_s: started.elapsed().as_secs_f64(),
        message: Some(format!(
            "evaluated from the open_clip checkpoint {} (trained elsewhere)",
            file.display()
        )),
    })?;
    println!(
        "trial folder {} (collect reads it like any trial)",
        trial.path().display()
    );
    Ok(())
}
