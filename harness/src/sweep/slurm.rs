//! Sweeps on Slurm: one job-array task per pending trial, each running `clipscale sweep run-one
//! --manifest M --index $SLURM_ARRAY_TASK_ID` on the trial folder listed at that line (the
//! submission writes each trial's spec there first); pre-emption handled by checkpoint and
//! requeue; job state read from `squeue --json` (Slurm's own JSON, parsed with serde).
//! Facts this relies on (Slurm 22.05 and later): `sbatch --parsable` prints the job id;
//! `--signal=B:USR1@T` signals the batch shell T seconds before the time limit; `scontrol
//! requeue JOBID_TASK` puts a task back in the queue, and `--open-mode=append` keeps its log.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use thiserror::Error;

use crate::backend::DeviceSpec;

#[derive(Debug, Error)]
pub enum SlurmError {
    #[error(
        "`{program}` was not found; install a Slurm client (Debian: apt-get install slurm-client) or run on a cluster login node: {message}"
    )]
    Missing { program: String, message: String },
    #[error("`{command}` failed (exit {code:?}): {stderr}")]
    Failed {
        command: String,
        code: Option<i32>,
        stderr: String,
    },
    #[error("could not read `squeue --json` output: {0}")]
    Parse(String),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
}

/// What each array task gets.
#[derive(Debug, Clone)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub gpus_per_task: usize,
    /// What each task trains on (`--device` of `sweep run-one`).
    pub device: DeviceSpec,
    pub cpus_per_task: usize,
    /// Slurm's time format, e.g. "04:00:00".
    pub time: Option<String>,
    /// At most this many tasks at once (the `%N` of `--array`).
    pub parallelism: Option<usize>,
    /// Seconds before the time limit at which the task is told to checkpoint and requeue.
    pub signal_grace_s: u32,
    /// Extra `#SBATCH` options, verbatim (e.g. "--account=abc").
    pub extra: Vec<String>,
    pub job_name: String,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// What one job array runs: the binary and the `tasks` trial folders listed in `manifest`.
#[derive(Debug, Clone, Copy)]
pub struct ArrayJob<'a> {
    pub exe: &'a Path,
    pub manifest: &'a Path,
    pub log_dir: &'a Path,
    pub tasks: usize,
    /// Array tasks (`JOB_TASK`) that must succeed first: a branch array's trunks.
    pub after: &'a [String],
}

/// The batch script of a job array over the trials of `job`.
pub fn batch_script(job: &ArrayJob<'_>, o: &SlurmOptions) -> String {
    let ArrayJob {
        exe,
        manifest,
        log_dir,
        tasks: n,
        after,
    } = *job;
    let mut h = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name={}", o.job_name),
        format!(
            "#SBATCH --array=0-{}{}",
            n.saturating_sub(1),
            o.parallelism.map(|p| format!("%{p}")).unwrap_or_default()
        ),
        format!("#SBATCH --output={}/%A_%a.out", log_dir.display()),
        "#SBATCH --open-mode=append".into(),
        "#SBATCH --requeue".into(),
        format!("#SBATCH --signal=B:USR1@{}", o.signal_grace_s),
        format!("#SBATCH --cpus-per-task={}", o.cpus_per_task),
    ];
    if !after.is_empty() {
        // a trunk that fails cancels its branches rather than leaving them pending forever
        h.push(format!("#SBATCH --dependency=afterok:{}", after.join(":")));
        h.push("#SBATCH --kill-on-invalid-dep=yes".into());
    }
    if let Some(p) = &o.partition {
        h.push(format!("#SBATCH --partition={p}"));
    }
    if let Some(t) = &o.time {
        h.push(format!("#SBATCH --time={t}"));
    }
    if o.gpus_per_task > 0 {
        h.push(format!("#SBATCH --gpus-per-task={}", o.gpus_per_task));
    }
    for e in &o.extra {
        h.push(format!("#SBATCH {e}"));
    }
    let device = o.device;
    let threads = if o.gpus_per_task > 0 {
        String::new()
    } else {
        format!(
            "export RAYON_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-{}}}\n",
            o.cpus_per_task
        )
    };
    format!(
        r#"{header}

# Written by clipscale: one array task per trial listed in the manifest. On the pre-emption
# warning (USR1) or a termination (TERM) the trial writes a checkpoint and stops, and this task
# puts itself back in the queue; when it runs again the trial resumes from the checkpoint.
set -u
{threads}echo "clipscale task ${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}} on $(hostname), restart ${{SLURM_RESTART_COUNT:-0}}, $(date -u +%FT%TZ)"
{exe} sweep run-one --manifest {manifest} --index "$SLURM_ARRAY_TASK_ID" --device {device} --quiet &
child=$!
requeue() {{
    echo "clipscale: signal received, checkpointing and requeueing"
    kill -TERM "$child" 2>/dev/null
    wait "$child"
    rc=$?
    if [ "$rc" = 75 ]; then
        scontrol requeue "${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}"
        exit 0
    fi
    exit "$rc"
}}
trap requeue USR1 TERM
wait "$child"
rc=$?
# a wait interrupted by the trap returns > 128; the trap handler exits on its own
exit "$rc"
"#,
        header = h.join("\n"),
        exe = quote(&exe.display().to_string()),
        manifest = quote(&manifest.display().to_string()),
    )
}

fn run(program: &str, args: &[&str]) -> Result<String, SlurmError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| SlurmError::Missing {
            program: program.into(),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(SlurmError::Failed {
            command: format!("{program} {}", args.join(" ")),
            code: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Submits a batch script; returns the job id.
pub fn submit(script: &Path) -> Result<String, SlurmError> {
    let out = run("sbatch", &["--parsable", &script.display().to_string()])?;
    let id = out.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(SlurmError::Parse(format!(
            "sbatch printed {out:?}, not a job id"
        )));
    }
    Ok(id)
}

/// One array task as squeue reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskState {
    /// None while the array's pending tasks are still listed as one record ("0-3").
    pub task: Option<usize>,
    pub pending_range: Option<String>,
    pub state: String,
    pub reason: String,
}

#[derive(Deserialize)]
struct SqueueDoc {
    #[serde(default)]
    jobs: Vec<SqueueJob>,
}

#[derive(Deserialize)]
struct SqueueJob {
    #[serde(default)]
    array_job_id: serde_json::Value,
    #[serde(default)]
    array_task_id: serde_json::Value,
    #[serde(default)]
    array_task_string: Option<String>,
    #[serde(default)]
    job_state: serde_json::Value,
    #[serde(default)]
    state_reason: Option<String>,
}

/// A number that newer Slurm versions wrap as {"set": true, "number": N}.
fn number(v: &serde_json::Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.get("number")
            .and_then(|n| n.as_u64())
            .filter(|_| v.get("set").and_then(|s| s.as_bool()).unwrap_or(true))
    })
}

/// A state that newer Slurm versions give as a list (["RUNNING"]).
fn state_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str())
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    }
}

/// Parses `squeue --json` output, keeping the tasks of `array_job_id`.
pub fn parse_squeue(json: &str, array_job_id: &str) -> Result<Vec<TaskState>, SlurmError> {
    let doc: SqueueDoc =
        serde_json::from_str(json).map_err(|e| SlurmError::Parse(e.to_string()))?;
    let want: u64 = array_job_id
        .parse()
        .map_err(|_| SlurmError::Parse(format!("job id {array_job_id:?}")))?;
    Ok(doc
        .jobs
        .into_iter()
        .filter(|j| number(&j.array_job_id) == Some(want))
        .map(|j| {
            let task = number(&j.array_task_id).map(|t| t as usize);
            TaskState {
                pending_range: if task.is_none() {
                    j.array_task_string.clone()
                } else {
                    None
                },
                task,
                state: state_text(&j.job_state),
                reason: j.state_reason.unwrap_or_default(),
            }
        })
        .collect())
}

/// The array's tasks that Slurm still knows about (finished ones stay until MinJobAge).
pub fn query(array_job_id: &str) -> Result<Vec<TaskState>, SlurmError> {
    let out = run("squeue", &["--json", "--jobs", array_job_id])?;
    parse_squeue(&out, array_job_id)
}

/// States in which a task will not run again by itself.
pub fn is_final(state: &str) -> bool {
    !matches!(
        state,
        "PENDING"
            | "RUNNING"
            | "CONFIGURING"
            | "COMPLETING"
            | "REQUEUED"
            | "REQUEUE_HOLD"
            | "REQUEUE_FED"
            | "RESIZING"
            | "SUSPENDED"
            | "SIGNALING"
            | "STAGE_OUT"
    ) && !state.contains("PENDING")
        && !state.contains("RUNNING")
        && !state.contains("COMPLETING")
}

/// The log file of one task.
pub fn task_log(log_dir: &Path, job: &str, task: usize) -> PathBuf {
    log_dir.join(format!("{job}_{task}.out"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_json_of_22_05_and_newer_formats() {
        let old = r#"{"jobs":[
            {"job_id":12,"array_job_id":10,"array_task_id":2,"job_state":"RUNNING","state_reason":"None"},
            {"job_id":10,"array_job_id":10,"array_task_id":null,"array_task_string":"3-5","job_state":"PENDING","state_reason":"Resources"},
            {"job_id":99,"array_job_id":98,"array_task_id":0,"job_state":"RUNNING"}]}"#;
        let t = parse_squeue(old, "10").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[0],
            TaskState {
                task: Some(2),
                pending_range: None,
                state: "RUNNING".into(),
                reason: "None".into()
            }
        );
        assert_eq!(t[1].task, None);
        assert_eq!(t[1].pending_range.as_deref(), Some("3-5"));
        let new = r#"{"jobs":[{"array_job_id":{"set":true,"number":10},"array_task_id":{"set":true,"number":1},"job_state":["COMPLETED"]}]}"#;
        let t = parse_squeue(new, "10").unwrap();
        assert_eq!((t[0].task, t[0].state.as_str()), (Some(1), "COMPLETED"));
        assert!(
            is_final("COMPLETED")
                && is_final("FAILED")
                && !is_final("PENDING")
                && !is_final("RUNNING")
        );
        assert!(parse_squeue("not json", "1").is_err());
    }

    #[test]
    fn the_batch_script_runs_one_trial_per_task_and_requeues_on_the_warning() {
        let o = SlurmOptions {
            partition: Some("gpu".into()),
            gpus_per_task: 1,
            device: DeviceSpec::Cuda(0),
            cpus_per_task: 8,
            time: Some("04:00:00".into()),
            parallelism: Some(3),
            signal_grace_s: 120,
            extra: vec!["--account=x".into()],
            job_name: "clipscale-s".into(),
        };
        let job = ArrayJob {
            exe: Path::new("/bin/clipscale"),
            manifest: Path::new("/r/m.txt"),
            log_dir: Path::new("/r/logs"),
            tasks: 5,
            after: &[],
        };
        let s = batch_script(&job, &o);
        for needle in [
            "#SBATCH --array=0-4%3",
            "--partition=gpu",
            "--gpus-per-task=1",
            "--time=04:00:00",
            "--signal=B:USR1@120",
            "--requeue",
            "--account=x",
            "--index \"$SLURM_ARRAY_TASK_ID\"",
            "--manifest '/r/m.txt'",
            "--device cuda:0",
            "scontrol requeue",
            "trap requeue USR1 TERM",
        ] {
            assert!(s.contains(needle), "missing {needle}:\n{s}");
        }
        assert!(
            !s.contains("--dependency"),
            "no dependency unless asked:\n{s}"
        );
        let after = ["7_0".to_string(), "7_2".to_string()];
        let s = batch_script(
            &ArrayJob {
                after: &after,
                ..job
            },
            &o,
        );
        for needle in [
            "#SBATCH --dependency=afterok:7_0:7_2",
            "#SBATCH --kill-on-invalid-dep=yes",
        ] {
            assert!(s.contains(needle), "missing {needle}:\n{s}");
        }
    }
}
