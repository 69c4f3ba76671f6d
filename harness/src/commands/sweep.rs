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
        "sweep {} ({}): {} -> {}",
        sweep.file.name,
        sweep.path.display(),
        count_line(&specs),
        a.common.out.join(&sweep.file.name).display()
    );
    let mut estimator = Estimator::new(&a.common.out, a.device, !a.no_calibrate);
    let total_s = plan::print_plan(&specs, &a.common.out, &mut estimator)?;
    println!(
        "estimated training time on {}: {} (evaluations add a little)",
        a.device,
        format_duration(total_s)
    );
    if let Some(line) = plan::compute_line(&specs) {
        println!("{line}");
    }
    let trials = plan::trials_only(&specs);
    if let Some(line) = plan::comparison_line(&trials) {
        println!("{line}");
    }
    plan::print_forecasts(&trials, &a.common.out, &sweep.file.name);
    Ok(())
}

fn run(a: &SweepRunArgs) -> Result<()> {
    let device = a.devices.first().copied().unwrap_or(DeviceSpec::Cpu);
    let (sweep, specs) = load(&a.common, device)?;
    println!(
        "sweep {}: {} in {}",
        sweep.file.name,
        count_line(&specs),
        a.common.out.join(&sweep.file.name).display()
    );
    if let Some(line) = plan::compute_line(&specs) {
        println!("{line}");
    }
    if let Some(line) = plan::comparison_line(&plan::trials_only(&specs)) {
        println!("{line}");
    }
    keep_sweep_inputs(&a.common, &sweep, &specs)?;
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
    let page = clipscale_analysis::report::write_sweep_report(&a.common.out, &sweep.file.name)?;
    println!("report: {}", page.display());
    match report.unfinished() {
        0 => Ok(()),
        n => bail!(
            "{n} of {} trials did not finish (see the table above)",
            specs.len()
        ),
    }
}

/// The sweep file and its plan beside the trials, for the report (`sweep.toml`, `plan.json`).
pub fn keep_sweep_inputs(common: &SweepCommon, sweep: &Sweep, specs: &[TrialSpec]) -> Result<()> {
    let text = std::fs::read_to_string(&common.file)
        .with_context(|| format!("reading {}", common.file.display()))?;
    let plan: Vec<clipscale_analysis::report::PlannedTrial> = plan::trials_only(specs)
        .iter()
        .map(|s| clipscale_analysis::report::PlannedTrial {
            trial_id: s.head.trial_id.clone(),
            model: s.head.model_summary.name.clone(),
            samples: s.head.samples,
            fwd_macs_per_pair: s.head.model_summary.fwd_macs_per_pair,
        })
        .collect();
    clipscale_analysis::report::write_sweep_inputs(
        &common.out.join(&sweep.file.name),
        &text,
        &plan,
    )?;
    Ok(())
}

/// "N trials", and the trunks they branch from when there are any.
fn count_line(specs: &[TrialSpec]) -> String {
    match specs.iter().filter(|s| s.head.is_trunk()).count() {
        0 => format!("{} trials", specs.len()),
        trunks => format!(
            "{} trials, branched from {trunks} trunk{}",
            specs.len() - trunks,
            if trunks == 1 { "" } else { "s" }
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
