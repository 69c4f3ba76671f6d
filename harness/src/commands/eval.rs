//! `clipscale eval --trial DIR --dataset NAME...`: a trial's newest checkpoint evaluated after the
//! fact, batched and without autodiff on the chosen device; results appended to its evaluation
//! records and written as CLIP_benchmark-style JSON. Argument handling over `clipscale::eval`.

use anyhow::{Context, Result};
use clipscale::backend::dispatch;
use clipscale::cli::EvalArgs;
use clipscale::eval::engine::{EvaluateCheckpoint, record_results};
use clipscale::eval::sets::SetShape;
use clipscale::train::TrialSpec;
use clipscale_analysis::trial::TrialDir;

pub fn eval(a: &EvalArgs) -> Result<()> {
    anyhow::ensure!(
        a.eval_samples >= 1 && a.eval_batch >= 1,
        "--eval-samples and --eval-batch must be at least 1 (got {} and {})",
        a.eval_samples,
        a.eval_batch
    );
    let trial = TrialDir::new(&a.trial);
    let spec: TrialSpec = trial
        .read_spec()
        .with_context(|| format!("{} is not a trial folder", a.trial.display()))?;
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
    let samples_seen = trial
        .latest_checkpoint_state()
        .map_or(0, |s| s.samples_seen);
    let results = dispatch(
        a.device,
        EvaluateCheckpoint {
            spec: spec.clone(),
            trial: trial.clone(),
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
