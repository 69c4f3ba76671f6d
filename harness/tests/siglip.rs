//! SigLIP's sigmoid objective (Zhai et al. 2023): the loss against the formula evaluated
//! directly, its gradients against finite differences, stability at extreme logits, the
//! softmax's logit clamp not applied to it, and a real run that learns with its temperature and
//! bias moving, recorded in the spec and evaluated on both losses.

mod common;

use std::path::PathBuf;
use std::process::Command;

use burn::prelude::*;
use clipscale::backend::{CpuBackend, CpuTrainBackend, to_vec};
use clipscale::batch::HostBatch;
use clipscale::model::{LossHead, ModelLadder, Objective, sigmoid_loss};
use clipscale::train::trainer::{StepSettings, Trainer};
use clipscale_analysis::records::{EvalRecord, MetricsRecord};

type B = CpuBackend;
type AD = CpuTrainBackend;

/// The loss evaluated directly in f64: sum over pairs of ln(1 + e^(-z (s x.y + b))) / batch.
fn direct(x: &[f64], y: &[f64], dim: usize, scale: f64, bias: f64) -> f64 {
    let n = x.len() / dim;
    let mut total = 0.0;
    for i in 0..n {
        for j in 0..n {
            let dot: f64 = (0..dim).map(|k| x[i * dim + k] * y[j * dim + k]).sum();
            let z = if i == j { 1.0 } else { -1.0 };
            let u = z * (scale * dot + bias);
            // ln(1 + e^-u), computed without overflow
            total += (-u).max(0.0) + (-u.abs()).exp().ln_1p();
        }
    }
    total / n as f64
}

fn values(n: usize, seed: u64) -> Vec<f64> {
    (0..n)
        .map(|i| (((i as u64 * 2654435761 + seed * 97) % 1000) as f64 / 500.0) - 1.0)
        .collect()
}

fn tensor<Bk: Backend>(v: &[f64], shape: [usize; 2], device: &Bk::Device) -> Tensor<Bk, 2> {
    let f: Vec<f32> = v.iter().map(|x| *x as f32).collect();
    Tensor::from_data(TensorData::new(f, shape), device)
}

fn scalar<Bk: Backend>(v: f64, device: &Bk::Device) -> Tensor<Bk, 1> {
    Tensor::from_data(TensorData::new(vec![v as f32], [1]), device)
}

#[test]
fn the_loss_is_the_formula_and_stays_finite_at_extreme_logits() {
    let device = Default::default();
    let (n, dim) = (5, 3);
    let (x, y) = (values(n * dim, 1), values(n * dim, 2));
    for (scale, bias) in [(7.0, -2.0), (10.0, -10.0), (1.0, 0.5), (2000.0, -10.0)] {
        let got = to_vec(sigmoid_loss(
            tensor::<B>(&x, [n, dim], &device),
            tensor::<B>(&y, [n, dim], &device),
            scalar::<B>(scale, &device),
            scalar::<B>(bias, &device),
        ))[0] as f64;
        let want = direct(&x, &y, dim, scale, bias);
        assert!(got.is_finite(), "scale {scale}, bias {bias}: {got}");
        assert!(
            (got - want).abs() <= 1e-4 * want.abs().max(1.0),
            "scale {scale}, bias {bias}: {got} vs {want}"
        );
    }
    // orthonormal pairs, matched: every logit is +-10 on the right side, so the loss is tiny;
    // at SigLIP's initialisation (t = 10, b = -10) the positives sit at logit 0: ln 2 each
    let eye = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
    let loss = |scale: f64, bias: f64| {
        to_vec(sigmoid_loss(
            tensor::<B>(&eye, [3, 3], &device),
            tensor::<B>(&eye, [3, 3], &device),
            scalar::<B>(scale, &device),
            scalar::<B>(bias, &device),
        ))[0] as f64
    };
    assert!(loss(20.0, -10.0) < 1e-3, "{}", loss(20.0, -10.0));
    let init = loss(10.0, -10.0);
    assert!(
        (init - (2f64.ln() + 2.0 * (-10f64).exp().ln_1p())).abs() < 1e-5,
        "{init}"
    );
}

#[test]
fn gradients_match_finite_differences() {
    let device = Default::default();
    let (n, dim) = (4, 3);
    let (x, y) = (values(n * dim, 3), values(n * dim, 4));
    let (scale, bias) = (3.0, -1.5);
    let xt = tensor::<AD>(&x, [n, dim], &device).require_grad();
    let yt = tensor::<AD>(&y, [n, dim], &device).require_grad();
    let st = scalar::<AD>(scale, &device).require_grad();
    let bt = scalar::<AD>(bias, &device).require_grad();
    let loss = sigmoid_loss(xt.clone(), yt.clone(), st.clone(), bt.clone());
    let grads = loss.backward();
    let gx = to_vec(xt.grad(&grads).unwrap());
    let gy = to_vec(yt.grad(&grads).unwrap());
    let gs = to_vec(st.grad(&grads).unwrap())[0] as f64;
    let gb = to_vec(bt.grad(&grads).unwrap())[0] as f64;
    let h = 1e-5;
    let close = |analytic: f64, numeric: f64, what: &str| {
        assert!(
            (analytic - numeric).abs() <= 2e-3 * numeric.abs().max(0.05),
            "{what}: autodiff {analytic} vs finite difference {numeric}"
        );
    };
    for k in 0..x.len() {
        let (mut up, mut down) = (x.clone(), x.clone());
        up[k] += h;
        down[k] -= h;
        let fd =
            (direct(&up, &y, dim, scale, bias) - direct(&down, &y, dim, scale, bias)) / (2.0 * h);
        close(gx[k] as f64, fd, &format!("d/dx[{k}]"));
        let (mut up, mut down) = (y.clone(), y.clone());
        up[k] += h;
        down[k] -= h;
        let fd =
            (direct(&x, &up, dim, scale, bias) - direct(&x, &down, dim, scale, bias)) / (2.0 * h);
        close(gy[k] as f64, fd, &format!("d/dy[{k}]"));
    }
    let fd =
        (direct(&x, &y, dim, scale + h, bias) - direct(&x, &y, dim, scale - h, bias)) / (2.0 * h);
    close(gs, fd, "d/dscale");
    let fd =
        (direct(&x, &y, dim, scale, bias + h) - direct(&x, &y, dim, scale, bias - h)) / (2.0 * h);
    close(gb, fd, "d/dbias");
}

#[test]
fn the_softmax_logit_clamp_does_not_apply_to_siglip() {
    let cfg = ModelLadder::builtin().get("w32-d2").unwrap().clone();
    let device = Default::default();
    let batch = HostBatch::random(&cfg, 8, 5);
    // both start above open_clip's clamp, ln 100
    let start = 5.0;
    let scale_after = |head: LossHead| {
        let model = cfg.init_with::<AD>(0, &head, &device).unwrap();
        assert_eq!(model.objective(), head.objective);
        let mut t = Trainer::new(model, StepSettings::default());
        t.step(batch.to_device::<AD>(&device), 1e-4).unwrap();
        (t.logit_scale(), t.logit_bias())
    };
    let (clip, no_bias) = scale_after(LossHead {
        objective: Objective::Clip,
        logit_scale: start,
        logit_bias: None,
    });
    assert!(clip <= 100f64.ln() + 1e-6, "clip clamped: {clip}");
    assert_eq!(no_bias, None);
    let (siglip, bias) = scale_after(LossHead {
        objective: Objective::Siglip,
        logit_scale: start,
        logit_bias: Some(-10.0),
    });
    assert!(siglip > 100f64.ln() + 0.3, "siglip not clamped: {siglip}");
    let bias = bias.expect("a SigLIP model has a bias");
    assert!(
        bias != -10.0 && (bias + 10.0).abs() < 0.01,
        "bias stepped: {bias}"
    );
}

fn tmp(name: &str) -> PathBuf {
    common::fresh_dir("siglip", name)
}

fn train(out: &std::path::Path, samples: u64, extra: &[&str]) -> PathBuf {
    let o = Command::new(env!("CARGO_BIN_EXE_clipscale"))
        .args(["train", "--model", "w32-d2", "--batch", "32", "--samples"])
        .arg(samples.to_string())
        .args([
            "--eval-samples",
            "64",
            "--eval-batch",
            "32",
            "--log-every",
            "64",
        ])
        .args(["--lr", "2e-3", "--quiet", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    common::adhoc_trial(out)
}

#[test]
fn a_siglip_run_learns_moves_its_temperature_and_bias_and_records_both_losses() {
    let out = tmp("run");
    let dir = train(&out, 25_600, &["--objective", "siglip"]);
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("spec.json")).unwrap()).unwrap();
    assert_eq!(spec["optim"]["objective"], "siglip");
    assert_eq!(spec["optim"]["init_logit_bias"], -10.0);
    assert!((spec["optim"]["init_logit_scale"].as_f64().unwrap() - 10f64.ln()).abs() < 1e-12);
    let m: Vec<MetricsRecord> = common::records(&dir.join("metrics.jsonl"));
    let mean = |r: &[MetricsRecord]| r.iter().map(|r| r.loss).sum::<f64>() / r.len() as f64;
    let (first, last) = (mean(&m[..5]), mean(&m[m.len() - 5..]));
    assert!(
        last < first - 0.3,
        "loss did not fall: {first:.3} -> {last:.3}"
    );
    // past the sigmoid's plateau (every pair at one cosine, about 800 steps at this size) the
    // held-out pairs are told apart: the softmax loss below chance, ln 32
    let end = m.last().unwrap();
    assert!(
        (end.logit_scale - 10f64.ln()).abs() > 1e-3,
        "temperature did not move: {}",
        end.logit_scale
    );
    let bias = end.logit_bias.expect("the bias is logged");
    assert!((bias + 10.0).abs() > 1e-3, "bias did not move: {bias}");
    // the validation record: the softmax loss (the common axis) and the sigmoid loss, both
    // lower at the end than at the start
    let evals: Vec<EvalRecord> = common::records(&dir.join("evals.jsonl"));
    for metric in ["val_loss", "val_sigmoid_loss"] {
        let v: Vec<&EvalRecord> = evals.iter().filter(|e| e.metric == metric).collect();
        assert!(v.len() >= 2, "{metric} recorded at start and end");
        let (a, b) = (v[0].value, v[v.len() - 1].value);
        assert!(b < a, "{metric}: {a} -> {b}");
    }
    let val = evals
        .iter()
        .rfind(|e| e.metric == "val_loss")
        .unwrap()
        .value;
    assert!(val < 32f64.ln() - 0.3, "val_loss {val} not below chance");
    // the tidy table says which objective
    let table = out.join("table.csv");
    let o = Command::new(env!("CARGO_BIN_EXE_clipscale"))
        .arg("collect")
        .arg(&out)
        .arg("--out")
        .arg(&table)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = clipscale_analysis::table::read_csv(&table).unwrap();
    assert!(!t.rows.is_empty() && t.rows.iter().all(|r| r.objective == "siglip"));

    // CLIP's objective set explicitly: the same trial as leaving it unset; a bias is refused
    let clip = tmp("clip");
    let a = train(&clip, 64, &["--objective", "clip"]);
    let id = a.file_name().unwrap().to_string_lossy().into_owned();
    let o = Command::new(env!("CARGO_BIN_EXE_clipscale"))
        .args([
            "train",
            "--model",
            "w32-d2",
            "--batch",
            "32",
            "--samples",
            "64",
        ])
        .args([
            "--eval-samples",
            "64",
            "--eval-batch",
            "32",
            "--lr",
            "2e-3",
            "--out",
        ])
        .arg(&clip)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("already done") && err.contains(&id),
        "an explicit clip objective keeps the trial id: {err}"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_clipscale"))
        .args([
            "train",
            "--model",
            "w32-d2",
            "--samples",
            "64",
            "--init-logit-bias",
            "-5",
        ])
        .arg("--out")
        .arg(&clip)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("init_logit_bias") && err.contains("siglip"),
        "{err}"
    );
    std::fs::remove_dir_all(&out).ok();
    std::fs::remove_dir_all(&clip).ok();
}
