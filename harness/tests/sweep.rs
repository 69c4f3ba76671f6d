//! Sweeps: expansion and ids (the quickstart's pinned), bad files, locks, the local executor's
//! retries, a SIGKILL of the executor mid-sweep followed by a rerun, and two executors sharing
//! one sweep.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clipscale::model::ModelLadder;
use clipscale::sweep::lock::TrialLock;
use clipscale::sweep::{Sweep, TrialState, state};
use clipscale_analysis::records::Provenance;
use clipscale_analysis::trial::TrialDir;

mod common;

fn prov() -> Provenance {
    common::test_provenance()
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
    let dir = TrialDir::new(tmp("lock"));
    let first = TrialLock::acquire(&dir).unwrap().expect("free");
    let second = TrialLock::acquire(&dir).unwrap();
    assert_eq!(second.unwrap_err().pid, std::process::id(), "held by us");
    drop(first);
    assert!(!dir.lock_path().exists());
    // a lock left by a process that is gone
    let mut dead = Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    std::fs::write(
        dir.lock_path(),
        format!(r#"{{"host":"{host}","pid":{pid},"acquired_unix_s":0,"heartbeat_unix_s":0}}"#),
    )
    .unwrap();
    assert!(
        TrialLock::acquire(&dir).unwrap().is_ok(),
        "a stale lock is taken over"
    );
}

#[test]
fn racing_for_a_lock_one_wins() {
    // Eight contenders at once, ten times over: exactly one holds the lock each time (a reader
    // that met a half-written lock used to take it for stale and take it over too).
    for round in 0..10 {
        let dir = TrialDir::new(tmp(&format!("race-{round}")));
        let barrier = std::sync::Barrier::new(8);
        let won = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        TrialLock::acquire(&dir).unwrap().ok()
                    })
                })
                .collect();
            let locks: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            locks.iter().filter(|l| l.is_some()).count()
        });
        assert_eq!(won, 1, "round {round}");
    }
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

fn trials(root: &Path) -> Vec<TrialDir> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("tiny"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v.into_iter().map(TrialDir::new).collect()
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
        assert!(matches!(state(t), TrialState::Done(_)), "{}", t.name());
    }
    let crashed = ts
        .iter()
        .find(|t| t.name().contains("w48-d2-n2560"))
        .unwrap();
    let attempts = std::fs::read_to_string(crashed.attempts_path()).unwrap();
    assert!(
        attempts.contains("\"attempt\":1") && attempts.contains("signal"),
        "the reason is recorded: {attempts}"
    );
    assert!(
        std::fs::read_to_string(crashed.log_path())
            .unwrap()
            .contains("resumed from step"),
        "the retry resumed from a checkpoint"
    );
    assert!(stdout.contains("retrying") || stderr.contains("retrying"));
    assert!(out.join("tiny").join("table.csv").is_file());
    // Four trials leave two or three points on the loss frontier: a law where there are three,
    // and where there are two, no law but the reason (a line through two points says nothing).
    assert!(
        out.join("tiny").join("fit-val_loss.json").is_file()
            || stdout.contains("val_loss: the power law needs at least 3 points"),
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
        let partial = ts
            .iter()
            .any(|t| matches!(state(t), TrialState::Running(_)) && !t.checkpoints().is_empty());
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
    let finished: Vec<(TrialDir, String)> = trials(&out)
        .into_iter()
        .filter(|t| matches!(state(t), TrialState::Done(_)))
        .map(|t| {
            let metrics = std::fs::read_to_string(t.metrics_path()).unwrap();
            (t, metrics)
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
            &std::fs::read_to_string(t.metrics_path()).unwrap(),
            metrics,
            "a finished trial was re-run: {}",
            t.name()
        );
    }
    let ts = trials(&out);
    assert_eq!(ts.len(), 4);
    assert!(ts.iter().all(|t| matches!(state(t), TrialState::Done(_))));
    assert!(
        ts.iter().any(|t| std::fs::read_to_string(t.log_path())
            .unwrap()
            .contains("resumed from step")),
        "the interrupted trial resumed"
    );
    // the summary has each trial once
    for t in &ts {
        let id = t.name();
        assert_eq!(
            stdout.lines().filter(|l| l.starts_with(&id)).count(),
            1,
            "{id} in:\n{stdout}"
        );
    }
}

#[test]
fn the_quickstart_trial_ids_are_pinned() {
    // The ids hash the resolved settings: typing them, moving their defaults or adding a setting
    // must not change them (results folders and recorded fits are keyed by them).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sweep = Sweep::load(&root.join("sweeps/quickstart.toml")).unwrap();
    let specs = sweep.resolve(&ModelLadder::builtin(), &prov()).unwrap();
    let ids: Vec<&str> = specs.iter().map(|s| s.head.trial_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "w32-d2-n9984-b64-s0-c284bd91",
            "w32-d2-n19968-b64-s0-4bef78c2",
            "w32-d2-n40k-b64-s0-c1fc767a",
            "w48-d2-n9984-b64-s0-2e3e7832",
            "w48-d2-n19968-b64-s0-27d8a413",
            "w48-d2-n40k-b64-s0-307e127e",
            "w64-d3-n9984-b64-s0-88a2eb5d",
            "w64-d3-n19968-b64-s0-f3d46ef0",
            "w64-d3-n40k-b64-s0-f257afc0",
        ]
    );
}

const EIGHT: &str = r#"
name = "eight"
[base]
batch = 32
lr = 2e-3
eval_samples = 64
eval_batch = 32
log_every = 32
[axes]
model = ["w32-d2", "w48-d2"]
samples = [640, 960, 1280, 1600]
"#;

#[test]
fn two_executors_share_a_sweep_each_trial_runs_once_and_both_exit_0() {
    let dir = tmp("two");
    let file = dir.join("eight.toml");
    std::fs::write(&file, EIGHT).unwrap();
    let out = dir.join("results");
    let start = || {
        bin()
            .args(["sweep", "run", "--no-analysis"])
            .arg(&file)
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    // while they run, the status table shows no NaN for a trial in progress
    let mut seen_running = false;
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        let status = bin()
            .args(["sweep", "status"])
            .arg(&file)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&status.stdout);
        assert!(!text.contains("NaN"), "{text}");
        seen_running |= text.contains(" running ");
        if text.matches(" done ").count() == 8 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        seen_running,
        "the status table never showed a trial in progress"
    );
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for o in [&a, &b] {
        assert!(
            o.status.success(),
            "an executor reported the sweep incomplete:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let dirs: Vec<TrialDir> = {
        let mut v: Vec<PathBuf> = std::fs::read_dir(out.join("eight"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("spec.json").is_file())
            .collect();
        v.sort();
        v.into_iter().map(TrialDir::new).collect()
    };
    assert_eq!(dirs.len(), 8);
    for t in &dirs {
        assert!(matches!(state(t), TrialState::Done(_)), "{}", t.name());
        let log = std::fs::read_to_string(t.log_path()).unwrap();
        assert_eq!(
            log.matches("training ").count(),
            1,
            "{} was trained more than once:\n{log}",
            t.name()
        );
        assert!(!log.contains("resumed"), "{log}");
    }
    // each executor's table has every trial done, by itself or by the other
    for o in [&a, &b] {
        let table = String::from_utf8_lossy(&o.stdout);
        let done = table
            .lines()
            .filter(|l| l.contains(" done") && dirs.iter().any(|t| l.starts_with(&t.name())))
            .count();
        assert_eq!(done, 8, "{table}");
    }
}

#[test]
fn the_plan_says_when_the_analysis_will_compare_variants() {
    let dir = tmp("plan-compare");
    let plan = |name: &str, text: &str| {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        let o = bin()
            .args(["sweep", "plan", "--no-calibrate"])
            .arg(&path)
            .arg("--out")
            .arg(dir.join("r"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let two_lrs = TINY.replace("name = \"tiny\"", "name = \"lrs\"") + "lr = [1e-3, 2e-3]\n";
    let out = plan("lrs", &two_lrs);
    assert!(
        out.contains("comparison of the 2 groups by varied (optim.lr=0.001, optim.lr=0.002)"),
        "{out}"
    );
    // One variant (models and sample counts only): nothing to compare.
    let out = plan("tiny", TINY);
    assert!(!out.contains("comparison"), "{out}");
}

#[test]
fn each_trial_is_forecast_before_it_runs_and_the_forecast_changes_nothing() {
    let dir = tmp("forecast");
    let file = dir.join("tiny.toml");
    std::fs::write(&file, TINY).unwrap();
    let out = dir.join("results");
    let o = bin()
        .args(["sweep", "run"])
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
    // Trials run in order of compute: the smallest had nothing to learn from, the largest was
    // forecast from the three before it.
    let ts = trials(&out);
    let forecast = |t: &TrialDir| {
        let text = std::fs::read_to_string(t.forecast_path()).expect("forecast.json");
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    let smallest = ts
        .iter()
        .find(|t| t.name().contains("w32-d2-n1280"))
        .unwrap();
    let largest = ts
        .iter()
        .find(|t| t.name().contains("w48-d2-n2560"))
        .unwrap();
    let f = forecast(smallest);
    assert_eq!(f["finished_trials"], 0, "{f}");
    assert!(
        f["note"].as_str().is_some_and(|n| n.contains("no trial")),
        "{f}"
    );
    let f = forecast(largest);
    assert_eq!(f["finished_trials"], 3, "{f}");
    let val = f["forecasts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["metric"] == "val_loss")
        .unwrap_or_else(|| panic!("a loss forecast: {f}"));
    assert!(
        val["lo"].as_f64() < val["value"].as_f64() && val["value"].as_f64() < val["hi"].as_f64()
    );
    // The table carries it beside the result, and the analysis reports how it did.
    let table = std::fs::read_to_string(out.join("tiny").join("table.csv")).unwrap();
    assert!(
        table
            .lines()
            .next()
            .unwrap()
            .contains("forecast,forecast_lo,forecast_hi")
    );
    assert!(
        stdout.contains("forecast before each trial ran"),
        "{stdout}"
    );
    // The forecast is not in the spec: the same trial run alone, with nothing to forecast
    // from, has the same id and the same results.
    let spec = std::fs::read_to_string(largest.spec_path()).unwrap();
    assert!(!spec.contains("forecast"));
    let alone = dir.join("alone.toml");
    std::fs::write(
        &alone,
        TINY.replace("[\"w32-d2\", \"w48-d2\"]", "[\"w48-d2\"]")
            .replace("[1280, 2560]", "[2560]"),
    )
    .unwrap();
    let out2 = dir.join("alone-results");
    let o = bin()
        .args(["sweep", "run", "--no-analysis"])
        .arg(&alone)
        .arg("--out")
        .arg(&out2)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let solo = TrialDir::new(out2.join("tiny").join(largest.name()));
    assert_eq!(forecast(&solo)["finished_trials"], 0);
    let fin = |t: &TrialDir| {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(t.final_path()).unwrap()).unwrap();
        (v["final_loss"].clone(), v["samples_seen"].clone())
    };
    assert_eq!(fin(&solo), fin(largest));
    assert_eq!(
        std::fs::read_to_string(solo.evals_path())
            .unwrap()
            .lines()
            .count(),
        std::fs::read_to_string(largest.evals_path())
            .unwrap()
            .lines()
            .count()
    );
}
