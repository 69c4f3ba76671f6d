//! Training end to end through the real binary: records, learning, exact resume after SIGKILL,
//! divergence, and bad input refused before anything is written.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clipscale_analysis::records::{EvalRecord, FinalRecord, MetricsRecord, TrialStatus};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_clipscale"))
}

fn tmp(name: &str) -> PathBuf {
    common::fresh_dir("test", name)
}

fn train_args(out: &Path, samples: u64, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "train",
        "--model",
        "w32-d2",
        "--batch",
        "32",
        "--eval-samples",
        "64",
        "--eval-batch",
        "32",
        "--log-every",
        "32",
        "--quiet",
        "--lr",
        "2e-3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend([
        "--samples".to_string(),
        samples.to_string(),
        "--out".to_string(),
        out.display().to_string(),
    ]);
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

use common::adhoc_trial as trial_dir;

fn metrics(dir: &Path) -> Vec<MetricsRecord> {
    common::records(&dir.join("metrics.jsonl"))
}

fn final_record(dir: &Path) -> FinalRecord {
    serde_json::from_str(&std::fs::read_to_string(dir.join("final.json")).unwrap()).unwrap()
}

/// The part of a metrics record that must not depend on timing.
fn curve(m: &[MetricsRecord]) -> Vec<(u64, u64, u64, u64, u64)> {
    m.iter()
        .map(|r| {
            (
                r.step,
                r.samples_seen,
                r.loss.to_bits(),
                r.lr.to_bits(),
                r.logit_scale.to_bits(),
            )
        })
        .collect()
}

#[test]
fn a_short_run_writes_every_record_and_learns() {
    let out = tmp("learn");
    let status = bin().args(train_args(&out, 6400, &[])).status().unwrap();
    assert!(status.success());
    let dir = trial_dir(&out);
    for f in [
        "spec.json",
        "metrics.jsonl",
        "evals.jsonl",
        "final.json",
        "train.log",
        "benchmark.json",
        "data.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("spec.json")).unwrap()).unwrap();
    assert_eq!(spec["provenance"]["burn_version"], "0.21.0");
    assert_eq!(spec["provenance"]["backend"], "flex");
    assert_eq!(
        spec["model"]["text"]["vocab_size"], spec["data"]["vocab_size"],
        "the vocabulary comes from the tokenizer"
    );
    let m = metrics(&dir);
    assert_eq!(m.len(), 200, "one record per 32 samples");
    let first: f64 = m[..10].iter().map(|r| r.loss).sum::<f64>() / 10.0;
    let last: f64 = m[m.len() - 10..].iter().map(|r| r.loss).sum::<f64>() / 10.0;
    assert!(
        last < first - 0.3,
        "loss did not fall: {first:.3} -> {last:.3}"
    );
    for r in &m {
        assert!(
            (0.0..=100f64.ln() + 1e-6).contains(&r.logit_scale),
            "logit scale {} out of [0, ln 100]",
            r.logit_scale
        );
        assert!(r.samples_per_s > 0.0 && r.step_s > 0.0 && r.data_s >= 0.0);
        assert_eq!(
            r.train_flops,
            6.0 * spec["model_summary"]["fwd_macs_per_pair"].as_f64().unwrap()
                * r.samples_seen as f64
        );
    }
    let evals: Vec<EvalRecord> = common::records(&dir.join("evals.jsonl"));
    let val: Vec<&EvalRecord> = evals.iter().filter(|e| e.metric == "val_loss").collect();
    assert!(
        val.len() >= 2
            && val.first().unwrap().samples_seen == 0
            && val.last().unwrap().samples_seen == 6400
    );
    assert!(
        val.last().unwrap().value < val.first().unwrap().value,
        "held-out loss did not fall"
    );
    let f = final_record(&dir);
    assert_eq!(f.status, TrialStatus::Done);
    assert_eq!(
        (f.steps, f.samples_seen, f.unique_samples),
        (200, 6400, Some(6400))
    );
    // retention: the newest 2 checkpoints (the default, as in a sweep), the last being the
    // final step
    let ckpts: Vec<String> = std::fs::read_dir(dir.join("checkpoints"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(ckpts.len(), 2, "{ckpts:?}");
    assert!(ckpts.iter().any(|c| c == "step-000000200"), "{ckpts:?}");
    // a second run of the same trial is refused rather than overwriting it
    let again = bin().args(train_args(&out, 6400, &[])).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already done"));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn resume_after_sigkill_gives_the_uninterrupted_loss_curve_exactly() {
    let samples = 8192;
    let extra = ["--checkpoint-every", "512", "--eval-every", "4096"];
    let whole = tmp("whole");
    assert!(
        bin()
            .args(train_args(&whole, samples, &extra))
            .status()
            .unwrap()
            .success()
    );
    let reference = metrics(&trial_dir(&whole));

    let killed = tmp("killed");
    let mut child = bin()
        .args(train_args(&killed, samples, &extra))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // wait for the second complete checkpoint, then SIGKILL the process mid-run
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if common::complete_checkpoints(&killed) >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let dir = trial_dir(&killed);
    assert!(!dir.join("final.json").exists(), "killed before the end");
    let partial = metrics(&dir).len();
    assert!(
        partial < reference.len(),
        "killed mid-run ({partial} of {} records)",
        reference.len()
    );

    assert!(
        bin()
            .args(train_args(
                &killed,
                samples,
                &[&extra[..], &["--resume"]].concat()
            ))
            .status()
            .unwrap()
            .success()
    );
    let resumed = metrics(&dir);
    assert_eq!(
        curve(&resumed),
        curve(&reference),
        "the resumed loss curve differs from the uninterrupted one"
    );
    assert_eq!(final_record(&dir).status, TrialStatus::Done);
    std::fs::remove_dir_all(&whole).ok();
    std::fs::remove_dir_all(&killed).ok();
}

#[test]
fn a_nan_loss_ends_the_run_as_diverged_with_a_nonzero_exit() {
    let out = tmp("nan");
    let o = bin()
        .args(train_args(&out, 3200, &[]))
        .env("CLIPSCALE_TEST_NAN_AT_STEP", "7")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("diverged") && !stderr.contains("panicked"),
        "{stderr}"
    );
    let f = final_record(&trial_dir(&out));
    assert_eq!(f.status, TrialStatus::Diverged);
    assert_eq!(f.steps, 7);
    assert!(f.message.unwrap().contains("step 7"));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let out = tmp("bad");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--model", "w9-d9", "--samples", "100"], "w32-d2"),
        (vec!["--model", "w32-d2", "--samples", "0"], "samples"),
        (
            vec!["--model", "w32-d2", "--samples", "100", "--batch", "0"],
            "batch_size",
        ),
        (
            vec!["--model", "w32-d2", "--samples", "100", "--lr", "0"],
            "lr",
        ),
        (
            vec!["--model", "w32-d2", "--samples", "100", "--lr", "1.5"],
            "(0, 1]",
        ),
        (
            vec![
                "--model",
                "w32-d2",
                "--samples",
                "100",
                "--dataset",
                "laion",
            ],
            "synthetic",
        ),
    ];
    for (args, needle) in cases {
        let o = bin()
            .arg("train")
            .args(&args)
            .args(["--quiet", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} accepted");
        assert!(
            err.contains(needle) && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        0,
        "something was written"
    );
    // an output folder that cannot be created: under a plain file
    let file = out.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let o = bin()
        .args(train_args(&file.join("sub"), 320, &[]))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("a-file"), "{err}");
    std::fs::remove_dir_all(&out).ok();
}

/// Writes a WebDataset shard of synthetic scenes (key.png + key.txt), as img2dataset would.
fn write_shard(path: &Path, from: u64, n: u64) {
    let generator = clipscale_data::Synthetic::new(clipscale_data::SyntheticConfig {
        seed: 5,
        image_size: 32,
    })
    .unwrap();
    let mut members = Vec::new();
    for i in from..from + n {
        let s = generator.train_sample(i);
        let rgb = clipscale_data::to_rgb8(&s.image, 32).unwrap();
        let png = clipscale_data::png::encode_rgb(32, 32, &rgb).unwrap();
        members.push((format!("{i:06}.png"), png));
        members.push((format!("{i:06}.txt"), s.caption.into_bytes()));
    }
    clipscale_data::tarfile::write_tar(path, &members).unwrap();
}

#[test]
fn a_truncated_shard_trains_with_the_default_tokenizer_up_to_its_cut() {
    // As an interrupted download leaves it: the last of three shards cut at half its size plus
    // 123 bytes, mid-member. The default bpe tokenizer reads the captions too, and must keep
    // the samples before the cut as training does, not stop.
    let out = tmp("wds-truncated");
    let shards = out.join("shards");
    std::fs::create_dir_all(&shards).unwrap();
    for k in 0..3u64 {
        write_shard(&shards.join(format!("{k:05}.tar")), k * 200, 200);
    }
    let cut = shards.join("00002.tar");
    let bytes = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 123]).unwrap();
    let pattern = format!("{}/{{00000..00002}}.tar", shards.display());
    let o = bin()
        .args([
            "train",
            "--model",
            "w32-d2",
            "--batch",
            "32",
            "--samples",
            "640",
        ])
        .args(["--eval-samples", "64", "--eval-batch", "32", "--quiet"])
        .args(["--dataset", "wds", "--data-dir", &pattern])
        .arg("--out")
        .arg(out.join("results"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "training failed: {stderr}");
    assert!(
        stderr.contains("00002.tar") && stderr.contains("truncated"),
        "no warning names the cut shard: {stderr}"
    );
    let dir = trial_dir(&out.join("results"));
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("data.json")).unwrap()).unwrap();
    let unique = data["unique_pairs"].as_u64().unwrap();
    assert!(
        (401..600).contains(&unique),
        "the cut shard's first samples count, the rest do not: {data}"
    );
    // once per pass over the cut shard: 640 samples are one epoch and part of a second
    assert!(
        data["stream"]["truncated_shard"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{data}"
    );
    assert_eq!(final_record(&dir).status, TrialStatus::Done);
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn training_on_webdataset_shards_learns_and_accounts_for_its_data() {
    let out = tmp("wds");
    let shards = out.join("shards");
    std::fs::create_dir_all(&shards).unwrap();
    for k in 0..2u64 {
        write_shard(&shards.join(format!("{k:05}.tar")), k * 1000, 1000);
    }
    let pattern = format!("{}/{{00000..00001}}.tar", shards.display());
    let status = bin()
        .args([
            "train",
            "--model",
            "w32-d2",
            "--batch",
            "32",
            "--samples",
            "6400",
            "--lr",
            "2e-3",
            "--quiet",
        ])
        .args([
            "--dataset",
            "wds",
            "--data-dir",
            &pattern,
            "--tokenizer",
            "bpe-600",
            "--log-every",
            "32",
        ])
        .arg("--out")
        .arg(out.join("results"))
        .status()
        .unwrap();
    assert!(status.success());
    let dir = std::fs::read_dir(out.join("results").join("adhoc"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let m = metrics(&dir);
    let first: f64 = m[..10].iter().map(|r| r.loss).sum::<f64>() / 10.0;
    let last: f64 = m[m.len() - 10..].iter().map(|r| r.loss).sum::<f64>() / 10.0;
    assert!(
        last < first - 0.25,
        "loss did not fall on shards: {first:.3} -> {last:.3}"
    );
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("data.json")).unwrap()).unwrap();
    assert_eq!(data["unique_pairs"], 2000);
    assert_eq!(data["unique_seen"], 2000, "{data}");
    assert!(
        (data["epochs_seen"].as_f64().unwrap() - 3.2).abs() < 1e-9,
        "{data}"
    );
    assert_eq!(final_record(&dir).unique_samples, Some(2000));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn mixed_precision_learns_like_f32() {
    // Same seed, same data: a bf16 or f16 run (half-precision matrix products, f32 master
    // weights, f32 norms, softmax, loss and logit scale; f16 with dynamic loss scaling) must end
    // within 2% of the f32 run's loss, and its logit scale must move (in pure bf16 the update is
    // below one ulp and it never does).
    let run = |precision: &str| {
        let out = tmp(&format!("precision-{precision}"));
        let status = bin()
            .args(train_args(&out, 6400, &["--precision", precision]))
            .status()
            .unwrap();
        assert!(status.success(), "{precision} run failed");
        let dir = trial_dir(&out);
        let spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("spec.json")).unwrap()).unwrap();
        let log = std::fs::read_to_string(dir.join("train.log")).unwrap();
        (metrics(&dir), spec, log)
    };
    let (f32_curve, f32_spec, _) = run("f32");
    assert!(
        f32_spec["optim"].get("precision").is_none(),
        "f32 specs are written as before (their trial ids do not change)"
    );
    let tail = |m: &[MetricsRecord]| m[m.len() - 10..].iter().map(|r| r.loss).sum::<f64>() / 10.0;
    let a = tail(&f32_curve);
    let first = f32_curve[0].loss;
    assert!(
        a < first - 0.3,
        "the f32 run did not learn: {first:.3} -> {a:.3}"
    );
    let moved = |m: &[MetricsRecord]| (m.last().unwrap().logit_scale - m[0].logit_scale).abs();
    for precision in ["bf16", "f16"] {
        let (half_curve, half_spec, log) = run(precision);
        assert_eq!(half_spec["optim"]["precision"], precision);
        assert_eq!(f32_curve.len(), half_curve.len());
        let b = tail(&half_curve);
        assert!(
            (b - a).abs() <= 0.02 * a,
            "{precision} final loss {b:.4} is not within 2% of f32's {a:.4}"
        );
        assert!(
            moved(&half_curve) > 0.5 * moved(&f32_curve) && moved(&half_curve) > 1e-3,
            "{precision} logit scale moved {:.5}, f32 {:.5}",
            moved(&half_curve),
            moved(&f32_curve)
        );
        // and the two are different computations, not one run twice
        assert_ne!(
            curve(&f32_curve),
            curve(&half_curve),
            "the {precision} run reproduced the f32 run bit for bit: --precision had no effect"
        );
        // f16 reports its loss scale; the others have none
        assert_eq!(
            log.contains("f16 loss scale"),
            precision == "f16",
            "{precision}: {log}"
        );
    }
}
