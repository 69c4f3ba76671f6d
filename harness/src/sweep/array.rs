//! A sweep's pending trials as one Slurm job array: each trial's spec written into its folder,
//! a manifest of the folders (one per array task), the batch script, `sbatch`; then a modest
//! watch of the queue (`squeue --json` every `poll` seconds, never faster than once a second)
//! until every task has finished, and a report of where each trial ended up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clipscale_analysis::trial::TrialDir;
use serde::Serialize;
use thiserror::Error;

use crate::provenance::now_unix_s;
use crate::train::TrialSpec;

use super::exec::{RunOneError, prepare};
use super::plan::{TrialState, state};
use super::slurm::{self, ArrayJob, SlurmError, SlurmOptions, TaskState};

#[derive(Debug, Error)]
pub enum ArrayError {
    #[error(transparent)]
    Slurm(#[from] SlurmError),
    #[error(transparent)]
    Prepare(#[from] RunOneError),
    #[error(transparent)]
    Records(#[from] clipscale_analysis::AnalysisError),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ArrayError {
    let path = path.to_path_buf();
    move |source| ArrayError::Io { what, path, source }
}

/// How many trials of a sweep stand where, before submitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Census {
    pub trials: usize,
    pub to_run: usize,
    pub running_elsewhere: usize,
    pub finished: usize,
}

/// A submitted job array.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub job: String,
    /// The array tasks it waits for (`afterok`), as `JOB_TASK`: the trunks of its branches.
    pub after: Vec<String>,
    /// Array task i runs `trials[i]`.
    pub trials: Vec<TrialDir>,
    pub script: PathBuf,
    pub logs: PathBuf,
}

/// One line of `<results>/<sweep>/slurm/submissions.jsonl`.
#[derive(Debug, Serialize)]
struct SubmissionRecord<'a> {
    job_id: &'a str,
    script: &'a Path,
    manifest: &'a Path,
    trials: Vec<String>,
    unix_s: f64,
}

/// Where the trials of `specs` stand under `results`.
pub fn census(specs: &[TrialSpec], results: &Path) -> Census {
    let states: Vec<TrialState> = specs.iter().map(|s| state(&s.dir(results))).collect();
    let to_run = states.iter().filter(|s| s.runnable()).count();
    let running_elsewhere = states
        .iter()
        .filter(|s| matches!(s, TrialState::Running(_)))
        .count();
    Census {
        trials: specs.len(),
        to_run,
        running_elsewhere,
        finished: specs.len() - to_run - running_elsewhere,
    }
}

/// Submits the trials of `specs` that still need a run (pending, interrupted, failed) as job
/// arrays of `sweep`, run by `exe` with `options`: one array, and in a branched sweep a second
/// one of the branches whose trunk is in the first, which Slurm starts only after those trunk
/// tasks succeed (`--dependency=afterok:JOB_TASK:...`). Empty when there is nothing to run.
pub fn submit_pending(
    specs: &[TrialSpec],
    results: &Path,
    sweep: &str,
    exe: &Path,
    options: &SlurmOptions,
) -> Result<Vec<Submitted>, ArrayError> {
    let mut pending: Vec<&TrialSpec> = specs
        .iter()
        .filter(|s| state(&s.dir(results)).runnable())
        .collect();
    // trunks, then smallest first: Slurm starts array tasks in index order as resources allow,
    // so the larger trials are forecast from the smaller ones' laws
    pending.sort_by(|a, b| {
        (!a.head.is_trunk())
            .cmp(&!b.head.is_trunk())
            .then(a.planned_train_flops().total_cmp(&b.planned_train_flops()))
    });
    let trunk_ids: Vec<&str> = pending
        .iter()
        .filter(|s| s.head.is_trunk())
        .map(|s| s.head.trial_id.as_str())
        .collect();
    // a branch waits when its trunk runs in the first array (and has not yet its checkpoint)
    let waits = |s: &TrialSpec| {
        super::branch::trunk_of(s).is_some_and(|t| trunk_ids.contains(&t))
            && !super::branch::ready(s, results)
    };
    let (second, first): (Vec<&TrialSpec>, Vec<&TrialSpec>) =
        pending.into_iter().partition(|s| waits(s));
    let mut out = Vec::new();
    if !first.is_empty() {
        out.push(submit_array(
            &first,
            results,
            sweep,
            exe,
            options,
            Vec::new(),
        )?);
    }
    if !second.is_empty() {
        let job = &out[0].job;
        let after = first
            .iter()
            .enumerate()
            .filter(|(_, s)| s.head.is_trunk())
            .map(|(i, _)| format!("{job}_{i}"))
            .collect();
        out.push(submit_array(&second, results, sweep, exe, options, after)?);
    }
    Ok(out)
}

/// Submits one array over `pending` (after the tasks `after`, if any).
fn submit_array(
    pending: &[&TrialSpec],
    results: &Path,
    sweep: &str,
    exe: &Path,
    options: &SlurmOptions,
    after: Vec<String>,
) -> Result<Submitted, ArrayError> {
    let trials = pending
        .iter()
        .map(|s| prepare(s, results))
        .collect::<Result<Vec<_>, _>>()?;
    let dir = results.join(sweep).join("slurm");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(io("creating", &logs))?;
    let stamp = format!(
        "{:.0}{}",
        now_unix_s() * 1000.0,
        if after.is_empty() { "" } else { "-branches" }
    );
    let manifest = dir.join(format!("{stamp}.manifest"));
    let lines: Vec<String> = trials
        .iter()
        .map(|t| t.path().display().to_string())
        .collect();
    std::fs::write(&manifest, lines.join("\n") + "\n").map_err(io("writing", &manifest))?;
    let script = dir.join(format!("{stamp}.sbatch"));
    let job = ArrayJob {
        exe,
        manifest: &manifest,
        log_dir: &logs,
        tasks: trials.len(),
        after: &after,
    };
    std::fs::write(&script, slurm::batch_script(&job, options)).map_err(io("writing", &script))?;
    let job = slurm::submit(&script)?;
    clipscale_analysis::records::append_jsonl(
        &dir.join("submissions.jsonl"),
        &SubmissionRecord {
            job_id: &job,
            script: &script,
            manifest: &manifest,
            trials: trials.iter().map(TrialDir::name).collect(),
            unix_s: now_unix_s(),
        },
    )?;
    Ok(Submitted {
        job,
        after,
        trials,
        script,
        logs,
    })
}

/// The line at `index` of a manifest: the trial folder array task `index` runs.
pub fn manifest_entry(manifest: &Path, index: usize) -> Result<TrialDir, ArrayError> {
    let text = std::fs::read_to_string(manifest).map_err(io("reading", manifest))?;
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .get(index)
        .map(|l| TrialDir::new(PathBuf::from(l)))
        .ok_or_else(|| ArrayError::Io {
            what: "finding the task's trial in",
            path: manifest.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "it lists {} trials; index {index} is out of range",
                    lines.len()
                ),
            ),
        })
}

/// One task of a followed array at the end.
#[derive(Debug, Clone)]
pub struct TaskReport {
    pub job: String,
    pub task: usize,
    pub trial: TrialDir,
    pub state: TrialState,
    /// Slurm's last word on the task (`?` when it was never seen).
    pub slurm_state: String,
    pub log: PathBuf,
}

/// Watches the arrays until every task has finished, printing a line whenever the counts
/// change; returns each task's trial state and Slurm state.
pub fn follow(arrays: &[Submitted], poll_s: f64) -> Result<Vec<TaskReport>, ArrayError> {
    let mut last: BTreeMap<(usize, usize), TaskState> = BTreeMap::new();
    let mut shown = String::new();
    let started = Instant::now();
    loop {
        let mut lines = Vec::new();
        let mut finished = true;
        for (a, submitted) in arrays.iter().enumerate() {
            let tasks = match slurm::query(&submitted.job) {
                Ok(t) => t,
                // once Slurm has forgotten the job (MinJobAge), squeue refuses its id
                Err(SlurmError::Failed { .. }) => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            finished &= !tasks.iter().any(|t| t.task.is_none())
                && tasks.iter().all(|t| slurm::is_final(&t.state));
            for t in &tasks {
                if let Some(i) = t.task {
                    last.insert((a, i), t.clone());
                }
            }
            lines.push(array_line(submitted, &tasks));
        }
        let line = lines.join("; ");
        if line != shown {
            println!("[{:>5.0} s] {line}", started.elapsed().as_secs_f64());
            shown = line;
        }
        if finished {
            break;
        }
        std::thread::sleep(Duration::from_secs_f64(poll_s.max(1.0)));
    }
    Ok(arrays
        .iter()
        .enumerate()
        .flat_map(|(a, submitted)| {
            let last = &last;
            submitted
                .trials
                .iter()
                .enumerate()
                .map(move |(i, trial)| TaskReport {
                    job: submitted.job.clone(),
                    task: i,
                    trial: trial.clone(),
                    state: state(trial),
                    slurm_state: last
                        .get(&(a, i))
                        .map_or_else(|| "?".into(), |t| t.state.clone()),
                    log: slurm::task_log(&submitted.logs, &submitted.job, i),
                })
        })
        .collect())
}

/// One array's counts by Slurm state, and its trials done.
fn array_line(submitted: &Submitted, tasks: &[TaskState]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks {
        *counts.entry(t.state.clone()).or_default() +=
            t.pending_range.as_deref().map_or(1, count_range);
    }
    let done = submitted
        .trials
        .iter()
        .filter(|t| matches!(state(t), TrialState::Done(_)))
        .count();
    format!(
        "job {}: {} | trials done {done}/{}",
        submitted.job,
        counts
            .iter()
            .map(|(k, v)| format!("{v} {}", k.to_lowercase()))
            .collect::<Vec<_>>()
            .join(", "),
        submitted.trials.len()
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_ranges_count_their_tasks() {
        assert_eq!(count_range("0-3"), 4);
        assert_eq!(count_range("2,5-7"), 4);
        assert_eq!(count_range("4-9%2"), 6);
    }
}
