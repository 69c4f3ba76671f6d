//! `clipscale sweep plan|status|run|run-one|submit`: argument handling over `clipscale::sweep`.

use std::io::IsTerminal;

use anyhow::{Context, Result, bail};
use clipscale::backend::{BackendInfo, DeviceSpec};
use clipscale::cli::{SweepCommand, SweepCommon, SweepPlanArgs, SweepRunArgs, SweepRunOneArgs};
use clipscale::model::ModelLadder;
use clipscale::provenance;
use clipscale::sweep::array::manifest_entry;
use clipscale::sweep::exec::{EXIT_PREEMPTED, RunOneError};
use clipscale::sweep::local::{self, LocalRun};
use clipscale::sweep::plan::{self, Estimator, format_duration};
use clipscale::sweep::{RunOneOutcome, Sweep, run_one};
use clipscale::train::{TrainError, TrialSpec};

pub fn sweep(cmd: &SweepCommand) -> Result<()> {
    match cmd {
        SweepCommand::Plan(a) => plan(a),
        SweepCommand::Status(a) => {
            let (_, specs) = load(&a.common, a.device)?;
            plan::print_status(&specs, &a.common.out);
            Ok(())
        }
        SweepCommand::Run(a) => run(a),
        SweepCommand::RunOne(a) => run_one_cmd(a),
        SweepCommand::Submit(a) => super::slurm::submit(a),
    }
}

/// Reads, expands and resolves a sweep file; every error names the file.
pub fn load(common: &SweepCommon, device: DeviceSpec) -> Result<(Sweep, Vec<TrialSpec>)> {
    let ladder = ModelLadder::load_or_builtin(common.ladder.models.as_deref())?;
    let sweep = Sweep::load(&common.file)?;
    let specs = sweep.resolve(
        &ladder,
        &provenance::collect(&BackendInfo::for_device(device)),
    )?;
    if specs.is_empty() {
        bail!("sweep file {}: no trials", common.file.display());
    }
    Ok((sweep, specs))
}

fn plan(a: &SweepPlanArgs) -> Result<()> {
    let (sweep, specs) = load(&a.common, a.device)?;
    println!(
        "sweep {} ({}): {} trials -> {}",
        sweep.file.name,
        sweep.path.display(),
        specs.len(),
        a.common.out.join(&sweep.file.name).display()
    );
    let mut estimator = Estimator::new(&a.common.out, a.device, !a.no_calibrate);
    let total_s = plan::print_plan(&specs, &a.common.out, &mut estimator)?;
    println!(
        "estimated training time on {}: {} (evaluations add a little)",
        a.device,
        format_duration(total_s)
    );
    if let Some(line) = plan::comparison_line(&specs) {
        println!("{line}");
    }
    plan::print_forecasts(&specs, &a.common.out, &sweep.file.name);
    Ok(())
}

fn run(a: &SweepRunArgs) -> Result<()> {
    let device = a.devices.first().copied().unwrap_or(DeviceSpec::Cpu);
    let (sweep, specs) = load(&a.common, device)?;
    println!(
        "sweep {}: {} trials in {}",
        sweep.file.name,
        specs.len(),
        a.common.out.join(&sweep.file.name).display()
    );
    if let Some(line) = plan::comparison_line(&specs) {
        println!("{line}");
    }
    let report = local::run(&LocalRun {
        specs: &specs,
        results: &a.common.out,
        devices: &a.devices,
        workers: a.workers,
        retries: a.retries,
        exe: std::env::current_exe().context("locating the clipscale binary")?,
    })?;
    println!();
    report.print();
    if !a.no_analysis {
        super::analyse::analyse_sweep(&a.common.out, &sweep.file.name, report.wall_s, a.record)?;
    }
    match report.unfinished() {
        0 => Ok(()),
        n => bail!(
            "{n} of {} trials did not finish (see the table above)",
            specs.len()
        ),
    }
}

fn run_one_cmd(a: &SweepRunOneArgs) -> Result<()> {
    let trial = match (&a.trial, &a.manifest, a.index) {
        (Some(dir), _, _) => clipscale_analysis::trial::TrialDir::new(dir),
        (None, Some(m), Some(i)) => manifest_entry(m, i)?,
        _ => bail!("give a trial folder, or --manifest FILE with --index I"),
    };
    let id = trial.name();
    clipscale::signals::install();
    let progress = !a.quiet && std::io::stderr().is_terminal();
    let outcome = match run_one(&trial, a.device, progress) {
        Err(RunOneError::Train(e @ TrainError::Interrupted { .. })) => {
            eprintln!("{id}: {e}");
            std::process::exit(EXIT_PREEMPTED)
        }
        other => other?,
    };
    match &outcome {
        RunOneOutcome::Finished(f)
        | RunOneOutcome::AlreadyDone(f)
        | RunOneOutcome::AlreadyDiverged(f) => println!(
            "{id}: {} ({} samples, final loss {}){}",
            f.status,
            f.samples_seen,
            plan::cell(f.final_loss, 4),
            f.message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
        RunOneOutcome::Locked(owner) => eprintln!(
            "{id} is being run by pid {} on {} (lock taken at {:.0}); skipping",
            owner.pid, owner.host, owner.acquired_unix_s
        ),
    }
    match outcome.exit_code() {
        0 => Ok(()),
        code => std::process::exit(code),
    }
}
