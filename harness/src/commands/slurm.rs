//! `clipscale sweep submit FILE --slurm`: argument handling over `clipscale::sweep::array`.

use anyhow::{Context, Result, bail};
use clipscale::backend::DeviceSpec;
use clipscale::cli::SweepSubmitArgs;
use clipscale::sweep::TrialState;
use clipscale::sweep::array::{census, follow, submit_pending};
use clipscale::sweep::slurm::SlurmOptions;

pub fn submit(a: &SweepSubmitArgs) -> Result<()> {
    let device = a.device.unwrap_or(if a.gpus_per_task > 0 {
        DeviceSpec::Cuda(0)
    } else {
        DeviceSpec::Cpu
    });
    let (sweep, specs) = super::sweep::load(&a.common, DeviceSpec::Cpu)
        .or_else(|_| super::sweep::load(&a.common, device))?;
    // the compute nodes find the trial folders by these paths
    let out = std::fs::create_dir_all(&a.common.out)
        .and_then(|()| std::fs::canonicalize(&a.common.out))
        .with_context(|| format!("results folder {}", a.common.out.display()))?;
    super::sweep::keep_sweep_inputs(&a.common, &sweep, &specs)?;
    run(a, device, &sweep.file.name, &specs, &out)
}

fn run(
    a: &SweepSubmitArgs,
    device: DeviceSpec,
    sweep: &str,
    specs: &[clipscale::train::TrialSpec],
    out: &std::path::Path,
) -> Result<()> {
    let c = census(specs, out);
    println!(
        "sweep {sweep}: {} trials, {} to run, {} running elsewhere, {} finished",
        c.trials, c.to_run, c.running_elsewhere, c.finished
    );
    let options = SlurmOptions {
        partition: a.partition.clone(),
        gpus_per_task: a.gpus_per_task,
        device,
        cpus_per_task: a.cpus_per_task.max(1),
        time: a.time.clone(),
        parallelism: a.parallelism,
        signal_grace_s: a.signal_grace,
        extra: a.sbatch_args.clone(),
        job_name: format!("clipscale-{sweep}"),
    };
    let exe = std::env::current_exe().context("locating the clipscale binary")?;
    let arrays = submit_pending(specs, out, sweep, &exe, &options)?;
    if arrays.is_empty() {
        println!("nothing to submit");
        return Ok(());
    }
    for submitted in &arrays {
        let job = &submitted.job;
        let after = match submitted.after.len() {
            0 => String::new(),
            n => format!(
                ", branches starting after {n} trunk task{} succeed{}",
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" }
            ),
        };
        println!(
            "submitted job array {job} ({} tasks{after}): script {}, logs {}/{job}_<task>.out",
            submitted.trials.len(),
            submitted.script.display(),
            submitted.logs.display()
        );
    }
    if a.no_follow {
        let jobs: Vec<&str> = arrays.iter().map(|s| s.job.as_str()).collect();
        println!(
            "follow it with `squeue --jobs {}` or `clipscale sweep status {}`",
            jobs.join(","),
            a.common.file.display()
        );
        return Ok(());
    }
    let tasks = follow(&arrays, a.poll)?;
    println!();
    println!(
        "{:<12} {:<38} {:<12} {:<12} log",
        "task", "trial", "trial state", "slurm state"
    );
    for t in &tasks {
        println!(
            "{:<12} {:<38} {:<12} {:<12} {}",
            format!("{}_{}", t.job, t.task),
            t.trial.name(),
            t.state.label(),
            t.slurm_state,
            t.log.display()
        );
    }
    let failed = tasks
        .iter()
        .filter(|t| !matches!(t.state, TrialState::Done(_)))
        .count();
    if failed > 0 {
        bail!(
            "{failed} of {} trials did not finish; their logs are listed above. Submit again with the same command to run only those.",
            tasks.len()
        );
    }
    println!(
        "all {} trials done; collect and fit with `clipscale collect {}` and `clipscale fit`",
        tasks.len(),
        out.display()
    );
    Ok(())
}
