//! The constant learning rate with a cooldown, through the real binary: the recorded rates hold
//! the peak and then fall to 0 over the last fraction, the spec says so (a cosine trial's spec
//! and id do not change), and cooldown settings without the schedule are refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clipscale_analysis::records::MetricsRecord;
use common::adhoc_trial as only_trial;

fn tmp(name: &str) -> PathBuf {
    common::fresh_dir("schedule", name)
}

fn train(out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clipscale"))
        .args([
            "train",
            "--model",
            "w32-d2",
            "--batch",
            "32",
            "--samples",
            "3200",
        ])
        .args([
            "--eval-samples",
            "64",
            "--eval-batch",
            "32",
            "--log-every",
            "32",
        ])
        .args([
            "--lr",
            "2e-3",
            "--warmup-samples",
            "320",
            "--quiet",
            "--out",
        ])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_constant_rate_holds_the_peak_then_cools_down_to_zero() {
    let out = tmp("cooldown");
    let o = train(
        &out,
        &[
            "--schedule",
            "constant-cooldown",
            "--cooldown-fraction",
            "0.25",
            "--cooldown-shape",
            "linear",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = only_trial(&out);
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("spec.json")).unwrap()).unwrap();
    assert_eq!(
        spec["optim"]["schedule"],
        serde_json::json!({"name": "constant-cooldown", "cooldown_fraction": 0.25, "cooldown_shape": "linear"})
    );
    let m: Vec<MetricsRecord> = common::records(&dir.join("metrics.jsonl"));
    // each record holds the rate of its window's last step, which started at samples_seen - 32
    let lr_at = |seen: u64| m.iter().find(|r| r.samples_seen == seen).unwrap().lr;
    for seen in [352u64, 1600, 2400] {
        assert_eq!(lr_at(seen), 2e-3, "the peak at {seen}");
    }
    // the cooldown: 2400 -> 3200, linear; the step starting at 2784 runs at 1 - 384/800 of it
    let want = 2e-3 * (1.0 - 384.0 / 800.0);
    assert!((lr_at(2816) - want).abs() < 1e-12, "{}", lr_at(2816));
    assert!(lr_at(3200) < 1e-4 && lr_at(3200) > 0.0);
    let rates: Vec<f64> = m
        .iter()
        .filter(|r| r.samples_seen > 2432)
        .map(|r| r.lr)
        .collect();
    assert!(rates.windows(2).all(|w| w[1] < w[0]), "falls every step");

    // cosine by default: not written, so its id is what it was; cooldown settings need the
    // schedule
    let cos = tmp("cosine");
    let o = train(&cos, &[]);
    assert!(o.status.success());
    let spec = std::fs::read_to_string(only_trial(&cos).join("spec.json")).unwrap();
    assert!(!spec.contains("schedule"), "{spec}");
    let o = train(&tmp("refused"), &["--cooldown-fraction", "0.1"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cooldown_fraction") && err.contains("constant-cooldown"),
        "{err}"
    );
    let o = train(
        &tmp("bad-fraction"),
        &[
            "--schedule",
            "constant-cooldown",
            "--cooldown-fraction",
            "1.5",
        ],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1.5") && err.contains("(0, 1]"), "{err}");
    // a cooldown shorter than one batch would never run
    let o = train(
        &tmp("short-cooldown"),
        &[
            "--schedule",
            "constant-cooldown",
            "--cooldown-fraction",
            "0.005",
        ],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("fewer samples than one batch"), "{err}");
    for d in [out, cos] {
        std::fs::remove_dir_all(d).ok();
    }
}
