//! `clipscale sweep submit FILE --slurm`: the pending trials as one job array, then a modest
//! watch of the queue (`squeue --json` every --poll seconds, never faster than once a second)
//! until every task has finished, and a table of what happened.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use clipscale::backend::DeviceSpec;
use clipscale::cli::SweepSubmitArgs;
use clipscale::sweep::slurm::{self, SlurmOptions, TaskState};
use clipscale::sweep::{TrialState, state, trial_dir};

pub fn submit(a: &SweepSubmitArgs) -> Result<()> {
    let device = if a.gpus_per_task > 0 {
        DeviceSpec::Cuda(0)
    } else {
        DeviceSpec::Cpu
    };
    let (sweep, specs) = super::sweep::load(&a.common, DeviceSpec::Cpu)
        .or_else(|_| super::sweep::load(&a.common, device))?;
    let out = std::fs::canonicalize(&a.common.out)
        .or_else(|_| {
            std::fs::create_dir_all(&a.common.out)?;
            std::fs::canonicalize(&a.common.out)
        })
        .with_context(|| format!("results folder {}", a.common.out.display()))?;
    let pending: Vec<_> = specs
        .iter()
        .filter(|s| {
            matches!(
                state(&trial_dir(&out, s)),
                TrialState::Pending | TrialState::Interrupted { .. } | TrialState::Failed(_)
            )
        })
        .collect();
    let busy = specs
        .iter()
        .filter(|s| matches!(state(&trial_dir(&out, s)), TrialState::Running(_)))
        .count();
    println!(
        "sweep {}: {} trials, {} to run, {} running elsewhere, {} finished",
        sweep.file.name,
        specs.len(),
        pending.len(),
        busy,
        specs.len() - pending.len() - busy
    );
    if pending.is_empty() {
        println!("nothing to submit");
        return Ok(());
    }
    let dir = out.join(&sweep.file.name).join("slurm");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let stamp = format!("{:.0}", clipscale::provenance::now_unix_s() * 1000.0);
    let manifest = dir.join(format!("{stamp}.manifest"));
    let ids: Vec<String> = pending.iter().map(|s| s.head.trial_id.clone()).collect();
    std::fs::write(&manifest, ids.join("\n") + "\n")
        .with_context(|| format!("writing {}", manifest.display()))?;
    let exe = std::env::current_exe().context("locating the clipscale binary")?;
    let file = std::fs::canonicalize(&a.common.file)?;
    let models = a
        .common
        .ladder
        .models
        .as_ref()
        .map(std::fs::canonicalize)
        .transpose()?;
    let opts = SlurmOptions {
        partition: a.partition.clone(),
        gpus_per_task: a.gpus_per_task,
        cpus_per_task: a.cpus_per_task.max(1),
        time: a.time.clone(),
        parallelism: a.parallelism,
        signal_grace_s: a.signal_grace,
        extra: a.sbatch_args.clone(),
        job_name: format!("clipscale-{}", sweep.file.name),
    };
    let script = dir.join(format!("{stamp}.sbatch"));
    std::fs::write(
        &script,
        slurm::batch_script(
            &slurm::ArrayJob {
                exe: &exe,
                sweep_file: &file,
                results: &out,
                models: models.as_deref(),
                manifest: &manifest,
                log_dir: &logs,
                tasks: ids.len(),
            },
            &opts,
        ),
    )
    .with_context(|| format!("writing {}", script.display()))?;
    let job = slurm::submit(&script)?;
    let note = serde_json::json!({"job_id": job, "script": script, "manifest": manifest, "trials": ids, "unix_s": clipscale::provenance::now_unix_s()});
    clipscale_analysis::records::append_jsonl(&dir.join("submissions.jsonl"), &note)?;
    println!(
        "submitted job array {job} ({} tasks): script {}, logs {}/{job}_<task>.out",
        ids.len(),
        script.display(),
        logs.display()
    );
    if a.no_follow {
        println!(
            "follow it with `squeue --jobs {job}` or `clipscale sweep status {}`",
            a.common.file.display()
        );
        return Ok(());
    }
    follow(&job, &ids, &out, &sweep.file.name, &logs, a.poll.max(1.0))
}

fn follow(
    job: &str,
    ids: &[String],
    out: &std::path::Path,
    sweep: &str,
    logs: &std::path::Path,
    poll_s: f64,
) -> Result<()> {
    let mut last: BTreeMap<usize, TaskState> = BTreeMap::new();
    let mut shown = String::new();
    let started = Instant::now();
    loop {
        let tasks = match slurm::query(job) {
            Ok(t) => t,
            // once Slurm has forgotten the job (MinJobAge), squeue refuses its id
            Err(slurm::SlurmError::Failed { .. }) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let pending_range = tasks.iter().any(|t| t.task.is_none());
        for t in &tasks {
            if let Some(i) = t.task {
                last.insert(i, t.clone());
            }
        }
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for t in &tasks {
            *counts.entry(t.state.clone()).or_default() +=
                t.pending_range.as_deref().map(count_range).unwrap_or(1);
        }
        let done = ids
            .iter()
            .filter(|id| matches!(state(&out.join(sweep).join(id)), TrialState::Done(_)))
            .count();
        let line = format!(
            "job {job}: {} | trials done {done}/{}",
            counts
                .iter()
                .map(|(k, v)| format!("{v} {}", k.to_lowercase()))
                .collect::<Vec<_>>()
                .join(", "),
            ids.len()
        );
        if line != shown {
            println!("[{:>5.0} s] {line}", started.elapsed().as_secs_f64());
            shown = line;
        }
        let active = pending_range || tasks.iter().any(|t| !slurm::is_final(&t.state));
        if !active {
            break;
        }
        std::thread::sleep(Duration::from_secs_f64(poll_s));
    }
    println!();
    println!(
        "{:<4} {:<38} {:<12} {:<12} log",
        "task", "trial", "trial state", "slurm state"
    );
    let mut failed = 0;
    for (i, id) in ids.iter().enumerate() {
        let st = state(&out.join(sweep).join(id));
        let slurm_state = last
            .get(&i)
            .map(|t| t.state.clone())
            .unwrap_or_else(|| "?".into());
        if !matches!(st, TrialState::Done(_)) {
            failed += 1;
        }
        println!(
            "{i:<4} {id:<38} {:<12} {slurm_state:<12} {}",
            st.label(),
            slurm::task_log(logs, job, i).display()
        );
    }
    if failed > 0 {
        bail!(
            "{failed} of {} trials did not finish; their logs are listed above. Submit again with the same command to run only those.",
            ids.len()
        );
    }
    println!(
        "all {} trials done; collect and fit with `clipscale collect {}` and `clipscale fit`",
        ids.len(),
        out.display()
    );
    Ok(())
}

/// Tasks in a range string such as "0-3", "2,5-7" or "4-9%2".
fn count_range(s: &str) -> usize {
    s.split('%')
        .next()
        .unwrap_or("")
        .split(',')
        .map(|part| match part.split_once('-') {
            Some((a, b)) => {
                b.trim()
                    .parse::<usize>()
                    .unwrap_or(0)
                    .saturating_sub(a.trim().parse().unwrap_or(0))
                    + 1
            }
            None => 1,
        })
        .sum()
}
