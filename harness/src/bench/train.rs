//! `clipscale bench train`: timed training steps of each model and batch ([`TimeSteps`], the
//! step training runs), and with `--peer` open_clip side by side on the same config, batch,
//! optimiser and synthetic data, in alternating processes, medians reported. Returns the
//! figures that the command records in results/benchmarks/.

use super::peer::{measured, ours_subprocess, peer};
use super::{BenchError, ShardFeed, StepTiming, TimeSteps, median, peak_flops};
use crate::backend::device_name;
use crate::backend::dispatch;
use crate::cli::BenchTrainArgs;
use crate::model::{ClipConfig, ModelLadder};
use clipscale_data::WordTokenizer;

/// What a run measured: (name, value) pairs, and under which topic to record them.
pub struct TrainBench {
    pub topic: &'static str,
    pub figures: Vec<(String, String)>,
}

/// The shards to stream from, with their decoding threads.
pub fn shard_feed(a: &BenchTrainArgs) -> Option<ShardFeed> {
    a.shards.as_ref().map(|pattern| ShardFeed {
        pattern: pattern.clone(),
        threads: a
            .data_threads
            .unwrap_or_else(clipscale_data::webdataset::default_threads)
            .max(1),
    })
}

/// Runs the benchmark `a` asks for, printing each measurement as it comes.
pub fn run(a: &BenchTrainArgs) -> Result<TrainBench, BenchError> {
    let ladder = ModelLadder::builtin();
    let vocab = clipscale_data::Tokenizer::vocab_size(&WordTokenizer::for_synthetic());
    if a.peer && matches!(a.device, crate::backend::DeviceSpec::Wgpu(_)) {
        return Err(BenchError::Option(
            "--peer runs open_clip on PyTorch, which has no wgpu device; compare on --device cuda or cpu".into(),
        ));
    }
    let dev_name = device_name(a.device);
    let peaks = peak_flops(&dev_name);
    let feed = shard_feed(a);
    let mut figures: Vec<(String, String)> = vec![
        ("device".into(), format!("{} ({})", dev_name, a.device)),
        ("threads".into(), super::peer::threads(a).to_string()),
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
            if batch < 2 {
                return Err(BenchError::Option(format!(
                    "--batch must be at least 2 (got {batch})"
                )));
            }
            if a.json {
                let t = time_steps(a, &cfg, batch, feed.clone())?;
                println!("{}", serde_json::to_string(&t).unwrap_or_default());
                continue;
            }
            let key = format!("{model}_b{batch}");
            if a.peer {
                let other = side_by_side(a, model, batch, vocab, &key, &mut figures)?;
                max_other = max_other.max(other);
                continue;
            }
            let t = time_steps(a, &cfg, batch, feed.clone())?;
            report(&t, &format!("{model} batch {batch}"), &dev_name, &peaks);
            figures.extend([
                (
                    format!("{key}_samples_per_s"),
                    format!("{:.1}", t.samples_per_s),
                ),
                (
                    format!("{key}_step_s_median"),
                    format!("{:.4}", t.step_s_median),
                ),
                (
                    format!("{key}_step_s_spread"),
                    format!("{:.4}-{:.4}", t.step_s_min, t.step_s_max),
                ),
                (
                    format!("{key}_train_gflop_per_s"),
                    format!("{:.2}", t.train_flop_per_s / 1e9),
                ),
                (
                    format!("{key}_upload_share"),
                    format!("{:.4}", t.upload_share),
                ),
                (
                    format!("{key}_data_wait_share"),
                    format!("{:.4}", t.data_wait_share),
                ),
            ]);
            if let Some(m) = t.peak_rss_mib {
                figures.push((format!("{key}_peak_rss_mib"), format!("{m:.0}")));
            }
        }
    }
    if a.peer {
        figures.push(("max_other_cpu_share".into(), format!("{max_other:.2}")));
    }
    // wgpu's figures apart: on lavapipe (CI's software Vulkan) they are a smoke test, not speed
    let topic = if matches!(a.device, crate::backend::DeviceSpec::Wgpu(_)) {
        "train-step-wgpu"
    } else if a.peer {
        "train-step-vs-openclip"
    } else if a.shards.is_some() {
        "train-step-from-shards"
    } else {
        "train-step"
    };
    Ok(TrainBench { topic, figures })
}

/// Prints one timing with its MFU against every known peak of the device.
fn report(t: &StepTiming, what: &str, device: &str, peaks: &[(&'static str, f64)]) {
    println!(
        "{what} {} ({}): {:.1} samples/s, step {:.4} s (min {:.4}, max {:.4}), {:.2} GFLOP/s, data wait {:.1}%, upload {:.1}%, peak RSS {}",
        t.precision.name(),
        t.data,
        t.samples_per_s,
        t.step_s_median,
        t.step_s_min,
        t.step_s_max,
        t.train_flop_per_s / 1e9,
        100.0 * t.data_wait_share,
        100.0 * t.upload_share,
        t.peak_rss_mib
            .map_or_else(|| "n/a".into(), |m| format!("{m:.0} MiB"))
    );
    for (peak_name, peak) in peaks {
        println!(
            "  MFU {:.1}% of {peak_name} ({:.0} TFLOP/s)",
            100.0 * t.train_flop_per_s / peak,
            peak / 1e12
        );
    }
    if peaks.is_empty() {
        println!("  MFU: no peak FLOP/s known for {device:?}, so none is reported");
    }
}

/// Our step and open_clip's, `a.reps` alternating repetitions in fresh processes; pushes the
/// medians to `figures` and returns the most that other processes used of the CPUs meanwhile.
fn side_by_side(
    a: &BenchTrainArgs,
    model: &str,
    batch: usize,
    vocab: usize,
    key: &str,
    figures: &mut Vec<(String, String)>,
) -> Result<f64, BenchError> {
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let mut max_other = 0f64;
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
    let m =
        |v: &[serde_json::Value], k: &str| median(v.iter().filter_map(|x| x[k].as_f64()).collect());
    let (so, sp) = (m(&ours, "samples_per_s"), m(&theirs, "samples_per_s"));
    println!(
        "{model} batch {batch}: clipscale {so:.1} / open_clip {sp:.1} samples/s = ratio {:.2}",
        so / sp
    );
    figures.extend([
        (format!("{key}_clipscale_samples_per_s"), format!("{so:.1}")),
        (format!("{key}_openclip_samples_per_s"), format!("{sp:.1}")),
        (format!("{key}_ratio"), format!("{:.2}", so / sp)),
        (
            format!("{key}_clipscale_peak_rss_mib"),
            format!("{:.0}", m(&ours, "peak_rss_mib")),
        ),
        (
            format!("{key}_openclip_peak_rss_mib"),
            format!("{:.0}", m(&theirs, "peak_rss_mib")),
        ),
    ]);
    if let Some(p) = theirs.first() {
        for k in ["torch_version", "open_clip_version", "blas"] {
            if let Some(v) = p.get(k).and_then(|v| v.as_str()) {
                figures.push((format!("peer_{k}"), v.to_string()));
            }
        }
    }
    Ok(max_other)
}

/// Times `batch`-pair steps of `cfg` as `a` asks, on its device.
fn time_steps(
    a: &BenchTrainArgs,
    cfg: &ClipConfig,
    batch: usize,
    shards: Option<ShardFeed>,
) -> Result<StepTiming, BenchError> {
    let task = TimeSteps {
        model: cfg.clone(),
        batch,
        warmup: a.warmup,
        steps: a.steps,
        precision: a.precision,
        data_pool: a.data_pool,
        shards,
    };
    dispatch(a.device, task)?.map_err(BenchError::Step)
}
