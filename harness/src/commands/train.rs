//! `clipscale train`: a one-trial sweep. The settings resolve as a sweep's do, the trial's
//! folder gets its spec, and the trial runs from it as an executor's would.

use std::io::IsTerminal;

use anyhow::{Context, Result, bail};
use clipscale::backend::BackendInfo;
use clipscale::cli::TrainArgs;
use clipscale::model::ModelLadder;
use clipscale::provenance;
use clipscale::sweep::exec::{EXIT_DIVERGED, EXIT_LOCKED, EXIT_PREEMPTED, RunOneError};
use clipscale::sweep::{RunOneOutcome, prepare, run_one};
use clipscale::train::TrainError;
use clipscale_analysis::records::TrialStatus;

pub fn train(args: &TrainArgs) -> Result<()> {
    let ladder = ModelLadder::load_or_builtin(args.ladder.models.as_deref())?;
    let provenance = provenance::collect(&BackendInfo::for_device(args.device));
    let spec = args.settings.resolve(&args.sweep, &ladder, &provenance)?;
    let dir = spec.dir(&args.out);
    if dir.has_spec() && !args.resume {
        let done = matches!(dir.read_final(), Ok(Some(f)) if f.status == TrialStatus::Done);
        bail!(
            "trial {} {} at {}; {}",
            spec.head.trial_id,
            if done {
                "is already done"
            } else {
                "already exists"
            },
            dir.path().display(),
            if done {
                "delete it to train again"
            } else {
                "pass --resume to continue it, or delete it"
            }
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
    let dir = prepare(&spec, &args.out)?;
    eprintln!("trial {} -> {}", spec.head.trial_id, dir.path().display());
    clipscale::signals::install();
    let progress = !args.quiet && std::io::stderr().is_terminal();
    let fin = match run_one(&dir, args.device, progress) {
        Ok(RunOneOutcome::Finished(f) | RunOneOutcome::AlreadyDiverged(f)) => f,
        Ok(RunOneOutcome::AlreadyDone(f)) => {
            println!(
                "trial {} is already done: {}",
                f.trial_id,
                dir.path().display()
            );
            return Ok(());
        }
        Ok(RunOneOutcome::Locked(owner)) => {
            eprintln!(
                "error: trial {} is being trained by pid {} on {}",
                spec.head.trial_id, owner.pid, owner.host
            );
            std::process::exit(EXIT_LOCKED)
        }
        Err(RunOneError::Train(e @ TrainError::Interrupted { .. })) => {
            eprintln!("{e}; continue with the same command and --resume");
            std::process::exit(EXIT_PREEMPTED)
        }
        Err(e) => return Err(e.into()),
    };
    println!(
        "{}: {} steps, {} samples, final loss {}, {:.1} s; records in {}",
        fin.status,
        fin.steps,
        fin.samples_seen,
        clipscale::sweep::plan::cell(fin.final_loss, 4),
        fin.wall_s,
        dir.path().display()
    );
    match fin.status {
        TrialStatus::Done => Ok(()),
        TrialStatus::Diverged => {
            eprintln!("error: diverged: {}", fin.message.unwrap_or_default());
            std::process::exit(EXIT_DIVERGED)
        }
        TrialStatus::Failed => bail!("failed: {}", fin.message.unwrap_or_default()),
    }
}
