//! `clipscale bench train`: timed training steps, and with --peer open_clip side by side on the
//! same config, batch, optimiser and synthetic data, alternating processes, medians reported.

use std::process::Command;

use clipscale_core::repo::repo_root;

use anyhow::{Context, Result, bail};
use clipscale::backend::{DeviceSpec, dispatch};
use clipscale::bench::{ShardFeed, StepTiming, TimeSteps, cpu_name, peak_flops};
use clipscale::cli::BenchTrainArgs;
use clipscale::model::ModelLadder;
use clipscale_data::WordTokenizer;

use super::bench::invocation;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Clock ticks from /proc: the machine's busy and total time over all CPUs, and the time used by
/// this process and its waited-for children, so that what OTHER processes used during a
/// measurement can be told apart (a second busy process ruins a 2-thread OpenMP peer).
#[derive(Debug, Clone, Copy)]
struct CpuTicks {
    busy: f64,
    total: f64,
    ours: f64,
}

fn cpu_ticks() -> Option<CpuTicks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).unwrap_or(&0.0);
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // after the ")" that ends the command name: utime, stime, cutime, cstime are fields 14-17
    let rest: Vec<f64> = own
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let ours = rest.get(11)? + rest.get(12)? + rest.get(13)? + rest.get(14)?;
    Some(CpuTicks {
        busy: total - idle,
        total,
        ours,
    })
}

/// Runs `f` and returns its result with the share of all CPU time that other processes used
/// meanwhile (None where /proc cannot tell).
fn measured<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, Option<f64>)> {
    let before = cpu_ticks();
    let r = f()?;
    let share = match (before, cpu_ticks()) {
        (Some(a), Some(b)) if b.total > a.total => {
            Some((((b.busy - a.busy) - (b.ours - a.ours)) / (b.total - a.total)).clamp(0.0, 1.0))
        }
        _ => None,
    };
    Ok((r, share))
}

/// The shards to stream from, with their decoding threads.
fn shard_feed(a: &BenchTrainArgs) -> Option<ShardFeed> {
    a.shards.as_ref().map(|pattern| ShardFeed {
        pattern: pattern.clone(),
        threads: a
            .data_threads
            .unwrap_or_else(clipscale_data::webdataset::default_threads)
            .max(1),
    })
}

fn threads(a: &BenchTrainArgs) -> usize {
    a.threads.unwrap_or_else(clipscale::provenance::cpu_threads)
}

fn device_name(device: DeviceSpec) -> String {
    match device {
        DeviceSpec::Cpu => cpu_name(),
        DeviceSpec::Cuda(i) => Command::new("nvidia-smi")
            .args([
                "--query-gpu=name",
                "--format=csv,noheader",
                &format!("--id={i}"),
            ])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown GPU".into()),
    }
}

/// Our side, in a fresh process (like the peer's), so both are measured the same way.
fn ours_subprocess(a: &BenchTrainArgs, model: &str, batch: usize) -> Result<serde_json::Value> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .args([
            "bench",
            "train",
            "--json",
            "--no-record",
            "--model",
            model,
            "--batch",
            &batch.to_string(),
        ])
        .args([
            "--warmup",
            &a.warmup.to_string(),
            "--steps",
            &a.steps.to_string(),
            "--device",
            &a.device.to_string(),
            "--precision",
            a.precision.name(),
        ])
        .args(
            a.data_pool
                .map(|n| vec!["--data-pool".to_string(), n.to_string()])
                .unwrap_or_default(),
        )
        .env("RAYON_NUM_THREADS", threads(a).to_string())
        .output()?;
    if !out.status.success() {
        bail!(
            "clipscale bench train --json failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    serde_json::from_str(&line).with_context(|| format!("reading our JSON line {line:?}"))
}

fn peer(a: &BenchTrainArgs, model: &str, batch: usize, vocab: usize) -> Result<serde_json::Value> {
    let script = repo_root(None).join("harness/bench/openclip_peer.py");
    let mut cmd = Command::new(&a.python);
    cmd.arg(&script)
        .args([
            "--model",
            model,
            "--batch",
            &batch.to_string(),
            "--threads",
            &threads(a).to_string(),
        ])
        .args([
            "--steps",
            &a.steps.to_string(),
            "--warmup",
            &a.warmup.to_string(),
            "--vocab",
            &vocab.to_string(),
            "--json",
            "--precision",
            a.precision.name(),
            "--device",
            if matches!(a.device, DeviceSpec::Cpu) {
                "cpu"
            } else {
                "cuda"
            },
        ]);
    if std::env::var("OPENBLAS_CORETYPE").is_err() {
        // OpenBLAS 0.3.21 misdetects AVX-512 Xeons as having no AVX at all
        let avx512 = std::fs::read_to_string("/proc/cpuinfo")
            .map(|t| t.contains(" avx512f"))
            .unwrap_or(false);
        cmd.env(
            "OPENBLAS_CORETYPE",
            if avx512 { "SKYLAKEX" } else { "HASWELL" },
        );
    }
    let out = cmd
        .output()
        .with_context(|| format!("running {} {}", a.python, script.display()))?;
    if !out.status.success() {
        bail!(
            "the open_clip peer failed (set it up with harness/bench/setup-peer.sh): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    serde_json::from_str(&line).with_context(|| format!("reading the peer's JSON line {line:?}"))
}

#[allow(
    clippy::too_many_lines,
    reason = "the benchmark's steps in one command; moved into the library's Trainer by issue 19"
)]
pub fn bench_train(a: &BenchTrainArgs) -> Result<()> {
    if let Some(t) = a.threads {
        // before the CPU backend's thread pool exists
        unsafe { std::env::set_var("RAYON_NUM_THREADS", t.to_string()) };
    }
    let ladder = ModelLadder::builtin();
    let vocab = clipscale_data::Tokenizer::vocab_size(&WordTokenizer::for_synthetic());
    let dev_name = device_name(a.device);
    let peaks = peak_flops(&dev_name);
    let feed = shard_feed(a);
    let mut figures: Vec<(String, String)> = vec![
        ("device".into(), format!("{} ({})", dev_name, a.device)),
        ("threads".into(), threads(a).to_string()),
        ("precision".into(), a.precision.name().to_string()),
        (
            "data".into(),
            match (&feed, a.data_pool) {
                (Some(f), _) => format!("shards {} ({} decoding threads)", f.pattern, f.threads),
                (None, Some(n)) => format!("synthetic, a pool of {n} batches"),
                (None, None) => "synthetic, rendered while training".into(),
            },
        ),
    ];
    // the most that other processes used of the CPUs during any --peer repetition
    let mut max_other = 0f64;
    for model in &a.models {
        let cfg = ladder.get(model)?.clone();
        for &batch in &a.batches {
            anyhow::ensure!(batch >= 2, "--batch must be at least 2 (got {batch})");
            if a.json {
                let t: StepTiming = dispatch(
                    a.device,
                    TimeSteps {
                        model: cfg.clone(),
                        batch,
                        warmup: a.warmup,
                        steps: a.steps,
                        precision: a.precision,
                        data_pool: a.data_pool,
                        shards: feed.clone(),
                    },
                )?
                .map_err(anyhow::Error::msg)?;
                println!("{}", serde_json::to_string(&t)?);
                continue;
            }
            let key = format!("{model}_b{batch}");
            if a.peer {
                let (mut ours, mut theirs) = (Vec::new(), Vec::new());
                for rep in 0..a.reps.max(1) {
                    let (o, o_other) = measured(|| ours_subprocess(a, model, batch))?;
                    let (p, p_other) = measured(|| peer(a, model, batch, vocab))?;
                    let other = o_other.into_iter().chain(p_other).fold(0.0, f64::max);
                    max_other = max_other.max(other);
                    println!(
                        "{model} batch {batch} rep {rep}: clipscale {:.1} samples/s, open_clip {:.1} samples/s (other processes: {:.0}% of the CPUs)",
                        o["samples_per_s"].as_f64().unwrap_or(f64::NAN),
                        p["samples_per_s"].as_f64().unwrap_or(f64::NAN),
                        100.0 * other
                    );
                    if other > 0.10 {
                        eprintln!(
                            "warning: other processes used {:.0}% of the CPUs during this repetition; \
                             contention slows the peer's OpenMP threads badly, so this is not a \
                             fair comparison (measure on a quiet machine)",
                            100.0 * other
                        );
                    }
                    ours.push(o);
                    theirs.push(p);
                }
                let m = |v: &[serde_json::Value], k: &str| {
                    median(v.iter().filter_map(|x| x[k].as_f64()).collect())
                };
                let (so, sp) = (m(&ours, "samples_per_s"), m(&theirs, "samples_per_s"));
                println!(
                    "{model} batch {batch}: clipscale {so:.1} / open_clip {sp:.1} samples/s = ratio {:.2}",
                    so / sp
                );
                figures.push((format!("{key}_clipscale_samples_per_s"), format!("{so:.1}")));
                figures.push((format!("{key}_openclip_samples_per_s"), format!("{sp:.1}")));
                figures.push((format!("{key}_ratio"), format!("{:.2}", so / sp)));
                figures.push((
                    format!("{key}_clipscale_peak_rss_mib"),
                    format!("{:.0}", m(&ours, "peak_rss_mib")),
                ));
                figures.push((
                    format!("{key}_openclip_peak_rss_mib"),
                    format!("{:.0}", m(&theirs, "peak_rss_mib")),
                ));
                if let Some(p) = theirs.first() {
                    for k in ["torch_version", "open_clip_version", "blas"] {
                        if let Some(v) = p.get(k).and_then(|v| v.as_str()) {
                            figures.push((format!("peer_{k}"), v.to_string()));
                        }
                    }
                }
                continue;
            }
            let t: StepTiming = dispatch(
                a.device,
                TimeSteps {
                    model: cfg.clone(),
                    batch,
                    warmup: a.warmup,
                    steps: a.steps,
                    precision: a.precision,
                    data_pool: a.data_pool,
                    shards: feed.clone(),
                },
            )?
            .map_err(anyhow::Error::msg)?;
            println!(
                "{model} batch {batch} {} ({}): {:.1} samples/s, step {:.4} s (min {:.4}, max {:.4}), {:.2} GFLOP/s, data wait {:.1}%, upload {:.1}%, peak RSS {}",
                a.precision.name(),
                t.data,
                t.samples_per_s,
                t.step_s_median,
                t.step_s_min,
                t.step_s_max,
                t.train_flop_per_s / 1e9,
                100.0 * t.data_wait_share,
                100.0 * t.upload_share,
                t.peak_rss_mib
                    .map(|m| format!("{m:.0} MiB"))
                    .unwrap_or_else(|| "n/a".into())
            );
            for (what, peak) in &peaks {
                println!(
                    "  MFU {:.1}% of {what} ({:.0} TFLOP/s)",
                    100.0 * t.train_flop_per_s / peak,
                    peak / 1e12
                );
            }
            if peaks.is_empty() {
                println!("  MFU: no peak FLOP/s known for {dev_name:?}, so none is reported");
            }
            figures.push((
                format!("{key}_samples_per_s"),
                format!("{:.1}", t.samples_per_s),
            ));
            figures.push((
                format!("{key}_step_s_median"),
                format!("{:.4}", t.step_s_median),
            ));
            figures.push((
                format!("{key}_step_s_spread"),
                format!("{:.4}-{:.4}", t.step_s_min, t.step_s_max),
            ));
            figures.push((
                format!("{key}_train_gflop_per_s"),
                format!("{:.2}", t.train_flop_per_s / 1e9),
            ));
            figures.push((
                format!("{key}_upload_share"),
                format!("{:.4}", t.upload_share),
            ));
            figures.push((
                format!("{key}_data_wait_share"),
                format!("{:.4}", t.data_wait_share),
            ));
            if let Some(m) = t.peak_rss_mib {
                figures.push((format!("{key}_peak_rss_mib"), format!("{m:.0}")));
            }
        }
    }
    if a.peer {
        figures.push(("max_other_cpu_share".into(), format!("{max_other:.2}")));
    }
    if !a.json && !a.no_record {
        let topic = if a.peer {
            "train-step-vs-openclip"
        } else if a.shards.is_some() {
            "train-step-from-shards"
        } else {
            "train-step"
        };
        let f: Vec<(&str, String)> = figures
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let path = clipscale_analysis::bench::record(&repo_root(None), topic, &invocation(), &f)?;
        println!("recorded in {}", path.display());
    }
    Ok(())
}
