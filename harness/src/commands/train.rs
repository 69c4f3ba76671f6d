//! `clipscale train`: resolve and check everything, then train one trial.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result, bail};
use clipscale::backend::{BackendInfo, dispatch};
use clipscale::cli::TrainArgs;
use clipscale::model::ModelLadder;
use clipscale::provenance;
use clipscale::train::optim::AdamWSpec;
use clipscale::train::{Intervals, OptimSpec, TrainTask, TrialRequest, resolve};
use clipscale_analysis::records::{FINAL_FILE, FinalRecord, SPEC_FILE, TrialStatus};

/// Fails unless `dir` (created if missing) accepts a new file.
pub fn check_writable(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    let probe = dir.join(format!(".clipscale-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .with_context(|| format!("the output folder {} is not writable", dir.display()))?;
    std::fs::remove_file(&probe).ok();
    Ok(())
}

fn default_every(total: u64, parts: u64, batch: usize) -> u64 {
    (total / parts).max(batch as u64)
}

pub fn train(args: &TrainArgs) -> Result<()> {
    let ladder = ModelLadder::load_or_builtin(args.ladder.models.as_deref())?;
    let model = ladder.get(&args.model)?.clone();
    let data = clipscale::train::data::resolve_data(
        &args.dataset,
        args.data_dir.as_deref(),
        args.tokenizer.as_deref(),
        args.seed,
    )
    .map_err(anyhow::Error::msg)?;
    let info = BackendInfo::for_device(args.device);
    let req = TrialRequest {
        sweep: args.sweep.clone(),
        model,
        data,
        samples: args.samples,
        batch_size: args.batch,
        seed: args.seed,
        optim: OptimSpec {
            lr: args.lr,
            warmup_samples: args.warmup_samples.unwrap_or(args.samples / 20),
            adamw: AdamWSpec {
                beta1: args.beta1,
                beta2: args.beta2,
                eps: args.eps,
                weight_decay: args.weight_decay,
            },
            grad_clip_norm: args.grad_clip_norm,
            precision: args.precision,
        },
        intervals: Intervals {
            log_every_samples: args
                .log_every
                .unwrap_or_else(|| default_every(args.samples, 100, args.batch)),
            eval_every_samples: args
                .eval_every
                .unwrap_or_else(|| default_every(args.samples, 5, args.batch)),
            checkpoint_every_samples: args
                .checkpoint_every
                .unwrap_or_else(|| default_every(args.samples, 10, args.batch)),
            keep_checkpoints: args.keep_checkpoints,
            eval_samples: args.eval_samples,
            eval_batch_size: args.eval_batch,
        },
    };
    let spec = resolve(req, provenance::collect(&info))?;
    check_writable(&args.out)?;
    let dir = args.out.join(&spec.head.sweep).join(&spec.head.trial_id);
    if dir.join(SPEC_FILE).exists() && !args.resume {
        let done = std::fs::read_to_string(dir.join(FINAL_FILE))
            .ok()
            .and_then(|t| serde_json::from_str::<FinalRecord>(&t).ok());
        match done {
            Some(f) if f.status == TrialStatus::Done => bail!(
                "trial {} is already done ({}); delete it to train again",
                spec.head.trial_id,
                dir.display()
            ),
            _ => bail!(
                "trial {} already exists at {}; pass --resume to continue it, or delete it",
                spec.head.trial_id,
                dir.display()
            ),
        }
    }
    if args.resume && dir.join(FINAL_FILE).exists() {
        let f: FinalRecord = serde_json::from_str(&std::fs::read_to_string(dir.join(FINAL_FILE))?)
            .with_context(|| format!("reading {}", dir.join(FINAL_FILE).display()))?;
        if f.status == TrialStatus::Done {
            println!(
                "trial {} is already done: {}",
                spec.head.trial_id,
                dir.display()
            );
            return Ok(());
        }
        std::fs::remove_file(dir.join(FINAL_FILE)).ok();
    }
    eprintln!("trial {} -> {}", spec.head.trial_id, dir.display());
    let task = TrainTask {
        spec,
        trial_dir: dir.clone(),
        resume: args.resume,
        progress: !args.quiet && std::io::stderr().is_terminal(),
    };
    clipscale::signals::install();
    let fin = match dispatch(args.device, task)? {
        Err(e @ clipscale::train::TrainError::Interrupted { .. }) => {
            eprintln!("{e}; continue with the same command and --resume");
            std::process::exit(clipscale::sweep::exec::EXIT_PREEMPTED)
        }
        other => other?,
    };
    println!(
        "{}: {} steps, {} samples, final loss {:.4}, {:.1} s; records in {}",
        fin.status,
        fin.steps,
        fin.samples_seen,
        fin.final_loss.unwrap_or(f64::NAN),
        fin.wall_s,
        dir.display()
    );
    match fin.status {
        TrialStatus::Done => Ok(()),
        TrialStatus::Diverged => {
            eprintln!("error: diverged: {}", fin.message.unwrap_or_default());
            std::process::exit(clipscale::sweep::exec::EXIT_DIVERGED)
        }
        TrialStatus::Failed => bail!("failed: {}", fin.message.unwrap_or_default()),
    }
}
