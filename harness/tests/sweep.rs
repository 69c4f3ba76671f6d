//! Sweeps: expansion and ids, bad files, locks, the local executor's retries, and a SIGKILL of
//! the executor mid-sweep followed by a rerun.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clipscale::model::ModelLadder;
use clipscale::sweep::lock::{LOCK_FILE, TrialLock};
use clipscale::sweep::{Sweep, TrialState, state};
use clipscale_analysis::records::Provenance;

fn prov() -> Provenance {
    Provenance {
        git_commit: "x".into(),
        git_dirty: false,
        clipscale_version: "0".into(),
        burn_version: "0.21.0".into(),
        backend: "flex".into(),
        device: "cpu".into(),
        float_type: "f32".into(),
        threads: 1,
        host: "h".into(),
        started_unix_s: 0.0,
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("clipscale-sweep-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_clipscale"))
}

#[test]
fn grid_zip_and_explicit_trials_expand_with_deterministic_ids() {
    let text = r#"
name = "t"
[base]
lr = 1e-3
[axes]
model = ["w32-d2", "w48-d2"]
samples = [640, 1280, 2560]
[[zip]]
seed = [0, 1]
batch = [32, 64]
[[trial]]
model = "w64-d3"
train_flops = 1e12
"#;
    let sweep = Sweep::parse(text, Path::new("t.toml")).unwrap();
    assert_eq!(sweep.trials.len(), 2 * 3 * 2 + 1);
    let ladder = ModelLadder::builtin();
    let specs = sweep.resolve(&ladder, &prov()).unwrap();
    let again = Sweep::parse(text, Path::new("t.toml"))
        .unwrap()
        .resolve(&ladder, &prov())
        .unwrap();
    let ids: Vec<_> = specs.iter().map(|s| s.head.trial_id.clone()).collect();
    assert_eq!(
        ids,
        again
            .iter()
            .map(|s| s.head.trial_id.clone())
            .collect::<Vec<_>>(),
        "ids are deterministic"
    );
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "ids are distinct");
    assert!(ids[0].starts_with("w32-d2-n640-b32-s0-"), "{}", ids[0]);
    // zipped: seed 1 always with batch 64
    assert!(
        specs[..12]
            .iter()
            .all(|s| (s.head.seed == 1) == (s.head.batch_size == 64))
    );
    // iso-FLOP: the explicit trial's samples come from its budget
    let last = specs.last().unwrap();
    let per = 6.0 * last.head.model_summary.fwd_macs_per_pair as f64;
    let want = ((1e12 / per).floor() as u64) / 64 * 64;
    assert_eq!(last.head.samples, want);
    assert!(specs.iter().all(|s| s.optim.lr == 1e-3));
}

#[test]
fn bad_sweep_files_name_the_file_the_key_and_the_choices() {
    let cases = [
        ("name = \"x\"\n[axes]\nmodle = [\"w32-d2\"]\n", "modle"),
        (
            "name = \"x\"\n[axes]\nmodel = [\"w9-d9\"]\nsamples = [640]\n",
            "w32-d2",
        ),
        (
            "name = \"x\"\n[axes]\nmodel = [\"w32-d2\"]\nsamples = [\"many\"]\n",
            "samples",
        ),
        (
            "name = \"x\"\n[axes]\nmodel = []\nsamples = [640]\n",
            "axes.model",
        ),
        (
            "name = \"x\"\n[base]\nmodel = \"w32-d2\"\nsamples = 640\nlr = 3.0\n",
            "lr",
        ),
        (
            "name = \"x\"\n[[zip]]\nseed = [0, 1]\nlr = [1e-3]\n",
            "same length",
        ),
    ];
    let dir = tmp("bad");
    for (text, needle) in cases {
        let path = dir.join("bad-sweep.toml");
        std::fs::write(&path, text).unwrap();
        let o = bin()
            .args(["sweep", "plan", "--no-calibrate"])
            .arg(&path)
            .arg("--out")
            .arg(dir.join("r"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "accepted: {text}");
        assert!(
            err.contains("bad-sweep.toml") && err.contains(needle) && !err.contains("panicked"),
            "{text}\n{err}"
        );
        if needle == "modle" {
            assert!(err.contains("model"), "lists the valid keys: {err}");
        }
        if needle == "w32-d2" {
            assert!(err.contains("w9-d9"), "{err}");
        }
    }
    assert!(!dir.join("r").exists(), "nothing written before the error");
}

#[test]
fn a_trial_lock_is_exclusive_and_a_dead_owner_is_taken_over() {
    let dir = tmp("lock");
    let first = TrialLock::acquire(&dir).unwrap().expect("free");
    let second = TrialLock::acquire(&dir).unwrap();
    assert_eq!(second.unwrap_err().pid, std::process::id(), "held by us");
    drop(first);
    assert!(!dir.join(LOCK_FILE).exists());
    // a lock left by a process that is gone
    let mut dead = Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    std::fs::write(
        dir.join(LOCK_FILE),
        format!(r#"{{"host":"{host}","pid":{pid},"acquired_unix_s":0,"heartbeat_unix_s":0}}"#),
    )
    .unwrap();
    assert!(
        TrialLock::acquire(&dir).unwrap().is_ok(),
        "a stale lock is taken over"
    );
}

const TINY: &str = r#"
name = "tiny"
[base]
batch = 32
lr = 2e-3
eval_samples = 64
eval_batch = 32
checkpoint_every = 320
log_every = 32
[axes]
model = ["w32-d2", "w48-d2"]
samples = [1280, 2560]
"#;

fn trials(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("tiny"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

#[test]
fn run_retries_a_crashed_trial_and_ends_with_a_table_and_fits() {
    let dir = tmp("retry");
    let file = dir.join("tiny.toml");
    std::fs::write(&file, TINY).unwrap();
    let out = dir.join("results");
    let o = bin()
        .args(["sweep", "run"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .env("CLIPSCALE_TEST_CRASH_AT_STEP", "20")
        .env("CLIPSCALE_TEST_CRASH_TRIAL", "w48-d2-n2560")
        .env("CLIPSCALE_TEST_CRASH_MARKER", dir.join("crashed-once"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(dir.join("crashed-once").exists(), "the crash was injected");
    let ts = trials(&out);
    assert_eq!(ts.len(), 4);
    for t in &ts {
        assert!(matches!(state(t), TrialState::Done(_)), "{}", t.display());
    }
    let crashed = ts
        .iter()
        .find(|t| t.to_string_lossy().contains("w48-d2-n2560"))
        .unwrap();
    let attempts = std::fs::read_to_string(crashed.join("attempts.jsonl")).unwrap();
    assert!(
        attempts.contains("\"attempt\":1") && attempts.contains("signal"),
        "the reason is recorded: {attempts}"
    );
    assert!(
        std::fs::read_to_string(crashed.join("train.log"))
            .unwrap()
            .contains("resumed from step"),
        "the retry resumed from a checkpoint"
    );
    assert!(stdout.contains("retrying") || stderr.contains("retrying"));
    assert!(out.join("tiny").join("table.csv").is_file());
    assert!(
        out.join("tiny").join("fit-val_loss.json").is_file(),
        "{stdout}"
    );
    // a second run does nothing but report
    let o = bin()
        .args(["sweep", "run", "--no-analysis"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .matches("done (earlier)")
            .count(),
        4
    );
}

#[test]
fn sigkill_of_the_executor_loses_nothing_and_the_rerun_resumes() {
    let dir = tmp("kill");
    let file = dir.join("tiny.toml");
    std::fs::write(&file, TINY).unwrap();
    let out = dir.join("results");
    let mut exec = bin()
        .args(["sweep", "run", "--no-analysis"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // kill once the first trial is done and the second has a checkpoint
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let ts = if out.join("tiny").exists() {
            trials(&out)
        } else {
            vec![]
        };
        let done = ts
            .iter()
            .filter(|t| matches!(state(t), TrialState::Done(_)))
            .count();
        let partial = ts.iter().any(|t| {
            matches!(state(t), TrialState::Running(_))
                && t.join("checkpoints")
                    .read_dir()
                    .map(|d| {
                        d.flatten()
                            .any(|e| e.file_name().to_string_lossy().starts_with("step-"))
                    })
                    .unwrap_or(false)
        });
        if done >= 1 && partial {
            break;
        }
        assert!(Instant::now() < deadline, "no progress");
        assert!(
            exec.try_wait().unwrap().is_none(),
            "the sweep ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    exec.kill().unwrap();
    exec.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300)); // the child dies with its parent
    let finished: Vec<(PathBuf, String)> = trials(&out)
        .into_iter()
        .filter(|t| matches!(state(t), TrialState::Done(_)))
        .map(|t| {
            (
                t.clone(),
                std::fs::read_to_string(t.join("metrics.jsonl")).unwrap(),
            )
        })
        .collect();
    assert!(!finished.is_empty());
    let o = bin()
        .args(["sweep", "run", "--no-analysis"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for (t, metrics) in &finished {
        assert_eq!(
            &std::fs::read_to_string(t.join("metrics.jsonl")).unwrap(),
            metrics,
            "a finished trial was re-run: {}",
            t.display()
        );
    }
    let ts = trials(&out);
    assert_eq!(ts.len(), 4);
    assert!(ts.iter().all(|t| matches!(state(t), TrialState::Done(_))));
    assert!(
        ts.iter()
            .any(|t| std::fs::read_to_string(t.join("train.log"))
                .unwrap()
                .contains("resumed from step")),
        "the interrupted trial resumed"
    );
    // the summary has each trial once
    for t in &ts {
        let id = t.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(
            stdout.lines().filter(|l| l.starts_with(&id)).count(),
            1,
            "{id} in:\n{stdout}"
        );
    }
}
