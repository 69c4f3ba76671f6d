//! The real binary, run as a user would.

use std::path::Path;
use std::process::Command;

fn clipscale(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_clipscale"))
        .args(args)
        .output()
        .expect("run clipscale");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn flops_vit_b_32_prints_151_28_m_parameters_and_7_4_gmacs() {
    let (ok, out, err) = clipscale(&["flops", "--model", "ViT-B-32"]);
    assert!(ok, "{err}");
    assert!(out.contains("151.28 M"), "{out}");
    let gmacs_line = out
        .lines()
        .find(|l| l.starts_with("forward per pair"))
        .expect("forward line");
    let gmacs: f64 = gmacs_line
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert!((gmacs - 7.4).abs() / 7.4 < 0.01, "{gmacs_line}");
    assert!(out.contains("training per sample"), "{out}");
}

#[test]
fn models_lists_the_whole_ladder() {
    let (ok, out, err) = clipscale(&["models"]);
    assert!(ok, "{err}");
    for name in [
        "w32-d2", "w192-d5", "ViT-S-32", "ViT-M-32", "ViT-B-32", "ViT-B-16", "ViT-L-14",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(name)),
            "{name} missing:\n{out}"
        );
    }
}

#[test]
fn unknown_model_lists_the_known_ones() {
    let (ok, _, err) = clipscale(&["flops", "--model", "ViT-Q-7"]);
    assert!(!ok);
    assert!(
        err.contains("unknown model `ViT-Q-7`") && err.contains("ViT-B-32"),
        "{err}"
    );
}

#[test]
fn cuda_device_without_the_feature_is_a_clear_error() {
    if cfg!(feature = "cuda") {
        return;
    }
    let (ok, _, err) = clipscale(&["demo", "--device", "cuda"]);
    assert!(!ok);
    assert!(err.contains("--features cuda"), "{err}");
    let (ok, _, err) = clipscale(&["demo", "--device", "tpu"]);
    assert!(!ok && err.contains("tpu"), "{err}");
}

#[test]
fn demo_runs_a_forward_and_backward_pass() {
    let (ok, out, err) = clipscale(&["demo", "--model", "w32-d2", "--batch", "8", "--steps", "2"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("pass 0") && out.contains("pass 1") && out.contains("samples/s"),
        "{out}"
    );
}

#[test]
fn gpu_check_dry_run_passes_and_writes_json() {
    let dir = std::env::temp_dir().join(format!("clipscale-gpucheck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("check.json");
    let (ok, out, err) = clipscale(&[
        "gpu-check",
        "--dry-run",
        "--model",
        "w32-d2",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("PASS")
            && out.contains("grad visual.conv1")
            && out.contains("after one AdamW step: loss"),
        "{out}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["checks"][0]["pass"], true);
    assert!(
        doc["checks"][0]["relative_errors"]
            .as_array()
            .unwrap()
            .len()
            >= 10
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn gpu_check_script_dry_mode_runs_every_step_and_prints_the_table_last() {
    let dir = std::env::temp_dir().join(format!("clipscale-gpucheck-sh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new("bash")
        .arg(root.join("harness/scripts/gpu-check.sh"))
        .arg("--dry")
        .env("CLIPSCALE_BIN", env!("CARGO_BIN_EXE_clipscale"))
        .env("OUT", &dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let summary = stdout
        .split("== 4. summary")
        .nth(1)
        .unwrap_or_else(|| panic!("no summary: {stdout}"));
    assert!(summary.contains("correctness: w32-d2 PASS"), "{summary}");
    for precision in ["f32", "bf16"] {
        let row = summary
            .lines()
            .find(|l| l.starts_with("clipscale") && l.contains(precision))
            .unwrap_or_else(|| panic!("no clipscale {precision} row: {summary}"));
        let samples: f64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert!(samples > 0.0, "{row}");
    }
    // the run streaming JPEG shards through the decoding pipeline trained and says so
    let shards = summary
        .lines()
        .find(|l| l.starts_with("clipscale bf16 from JPEG shards (shards, "))
        .unwrap_or_else(|| panic!("no shard row: {summary}"));
    let rate: f64 = shards
        .split("): ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no rate in {shards}"));
    assert!(rate > 0.0 && shards.contains("data wait"), "{shards}");
    // the smallest model fits every batch the dry run tries (16, 32, 64)
    assert!(
        summary.contains("largest batch that fits (w32-d2, bf16): 64"),
        "{summary}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
