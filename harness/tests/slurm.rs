//! Sweeps on a real Slurm (the single-node cluster `.ci/slurm-cluster.sh up` starts): a 4-trial
//! job array with one trial made to fail, reported, and a resubmission that runs only that one;
//! and a pre-emption signal to a running task, which checkpoints, requeues and finishes.
//! With CLIPSCALE_REQUIRE_SLURM=1 a missing Slurm fails these tests instead of skipping them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clipscale::sweep::{TrialState, state};
use clipscale_analysis::trial::TrialDir;

fn slurm_available() -> bool {
    let ok = Command::new("sinfo")
        .arg("-h")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok && std::env::var("CLIPSCALE_REQUIRE_SLURM").as_deref() == Ok("1") {
        panic!(
            "CLIPSCALE_REQUIRE_SLURM=1 but no Slurm answers (`sinfo` failed): start one with `eval \"$(bash .ci/slurm-cluster.sh up)\"`"
        );
    }
    if !ok {
        eprintln!(
            "skipped: no Slurm here (sinfo failed); set CLIPSCALE_REQUIRE_SLURM=1 to make this a failure"
        );
    }
    ok
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("clipscale-slurm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn submit(file: &Path, out: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_clipscale"));
    c.args([
        "sweep",
        "submit",
        "--slurm",
        "--cpus-per-task",
        "1",
        "--poll",
        "1",
    ])
    .arg(file)
    .arg("--out")
    .arg(out);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn trial_dirs(out: &Path, sweep: &str) -> Vec<TrialDir> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(out.join(sweep))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v.into_iter()
        .map(TrialDir::new)
        .filter(TrialDir::has_spec)
        .collect()
}

#[test]
fn a_job_array_runs_the_sweep_reports_a_failure_and_the_resubmission_runs_only_it() {
    if !slurm_available() {
        return;
    }
    let dir = tmp("array");
    let file = dir.join("array.toml");
    std::fs::write(
        &file,
        "name = \"array\"\n[base]\nbatch = 32\nlr = 2e-3\neval_samples = 64\neval_batch = 32\ncheckpoint_every = 320\n[axes]\nmodel = [\"w32-d2\", \"w48-d2\"]\nsamples = [640, 960]\n",
    )
    .unwrap();
    let out = dir.join("results");
    let o = submit(
        &file,
        &out,
        &[
            ("CLIPSCALE_TEST_CRASH_AT_STEP", "5"),
            ("CLIPSCALE_TEST_CRASH_TRIAL", "w48-d2-n960"),
        ],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success(),
        "one trial failed, so the submission reports failure:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("submitted job array") && stdout.contains("4 tasks"),
        "{stdout}"
    );
    assert!(stderr.contains("1 of 4 trials did not finish"), "{stderr}");
    let failed_line = stdout
        .lines()
        .find(|l| l.contains("w48-d2-n960"))
        .expect("the failed trial is in the table");
    assert!(
        failed_line.contains("FAILED") && failed_line.contains(".out"),
        "state and log path reported: {failed_line}"
    );
    let dirs = trial_dirs(&out, "array");
    assert_eq!(
        dirs.iter()
            .filter(|d| matches!(state(d), TrialState::Done(_)))
            .count(),
        3
    );

    // again, without the fault: only the failed trial is submitted
    let o = submit(&file, &out, &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("1 to run") && stdout.contains("(1 tasks)"),
        "{stdout}"
    );
    assert!(
        trial_dirs(&out, "array")
            .iter()
            .all(|d| matches!(state(d), TrialState::Done(_)))
    );
    // and a third time there is nothing to do
    let o = submit(&file, &out, &[]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing to submit"));
}

#[test]
fn a_preempted_task_checkpoints_requeues_and_finishes() {
    if !slurm_available() {
        return;
    }
    let dir = tmp("requeue");
    let file = dir.join("requeue.toml");
    std::fs::write(
        &file,
        "name = \"requeue\"\n[base]\nmodel = \"w32-d2\"\nsamples = 12800\nbatch = 32\nlr = 2e-3\neval_samples = 64\neval_batch = 32\ncheckpoint_every = 3200\n",
    )
    .unwrap();
    let out = dir.join("results");
    let o = Command::new(env!("CARGO_BIN_EXE_clipscale"))
        .args([
            "sweep",
            "submit",
            "--slurm",
            "--no-follow",
            "--cpus-per-task",
            "1",
        ])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let job = stdout
        .split("submitted job array ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    // wait until the trial is training (it has written metrics), then send the pre-emption warning
    let deadline = Instant::now() + Duration::from_secs(240);
    let trial = loop {
        if let Some(t) = std::fs::read_dir(out.join("requeue")).ok().and_then(|d| {
            d.flatten()
                .map(|e| TrialDir::new(e.path()))
                .find(|t| t.metrics_path().exists())
        }) {
            break t;
        }
        assert!(Instant::now() < deadline, "the task never started");
        std::thread::sleep(Duration::from_millis(200));
    };
    let sig = Command::new("scancel")
        .args(["--signal=USR1", "--batch", &format!("{job}_0")])
        .output()
        .unwrap();
    assert!(
        sig.status.success(),
        "{}",
        String::from_utf8_lossy(&sig.stderr)
    );
    loop {
        if matches!(state(&trial), TrialState::Done(_)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the requeued task did not finish"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = std::fs::read_to_string(trial.log_path()).unwrap();
    assert!(
        log.contains("stopped by signal"),
        "the trial checkpointed on the signal:\n{log}"
    );
    assert!(
        log.contains("resumed from step"),
        "and resumed after the requeue:\n{log}"
    );
    let task_log = std::fs::read_to_string(
        out.join("requeue")
            .join("slurm")
            .join("logs")
            .join(format!("{job}_0.out")),
    )
    .unwrap();
    assert!(
        task_log.contains("restart 1"),
        "Slurm ran the task a second time:\n{task_log}"
    );
}

/// The unix time of the first line of a trial's `train.log` that contains `text`.
fn logged_at(trial: &TrialDir, text: &str) -> f64 {
    let log = std::fs::read_to_string(trial.log_path()).unwrap();
    log.lines()
        .find(|l| l.contains(text))
        .and_then(|l| l.strip_prefix('['))
        .and_then(|l| l.split(']').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{}: no line with {text:?}:\n{log}", trial.name()))
}

#[test]
fn branches_are_submitted_as_an_array_that_starts_after_their_trunk() {
    if !slurm_available() {
        return;
    }
    let dir = tmp("branched");
    let file = dir.join("branched.toml");
    std::fs::write(
        &file,
        "name = \"branched\"\nbranch = true\n[base]\nmodel = \"w32-d2\"\nbatch = 32\nlr = 2e-3\neval_samples = 64\neval_batch = 32\nschedule = \"constant-cooldown\"\nwarmup_samples = 64\n[axes]\nsamples = [640, 960, 1280]\n",
    )
    .unwrap();
    let out = dir.join("results");
    let o = submit(&file, &out, &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // the trunk in a first array, the three branches in a second that waits for it
    assert!(stdout.contains("(1 tasks)"), "{stdout}");
    assert!(
        stdout.contains("(3 tasks, branches starting after 1 trunk task succeeds)"),
        "{stdout}"
    );
    let scripts: Vec<String> = std::fs::read_dir(out.join("branched").join("slurm"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "sbatch"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    let first_job = stdout
        .split("submitted job array ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap();
    assert!(
        scripts
            .iter()
            .any(|s| s.contains(&format!("#SBATCH --dependency=afterok:{first_job}_0"))),
        "the branches' script waits for the trunk's task: {scripts:?}"
    );
    let trunk = std::fs::read_dir(out.join("branched").join("trunks"))
        .unwrap()
        .flatten()
        .map(|e| TrialDir::new(e.path()))
        .next()
        .expect("the trunk's folder");
    assert!(matches!(state(&trunk), TrialState::Done(_)));
    let trunk_done = logged_at(&trunk, "done:");
    let branches = trial_dirs(&out, "branched");
    assert_eq!(branches.len(), 3);
    for b in &branches {
        assert!(matches!(state(b), TrialState::Done(_)), "{}", b.name());
        assert!(
            logged_at(b, "branched from trunk") >= trunk_done,
            "{} started before its trunk had finished",
            b.name()
        );
    }
}
