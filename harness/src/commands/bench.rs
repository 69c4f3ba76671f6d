//! `clipscale bench ...`: benchmarks that record their figures, with the command, machine, date
//! and commit, in results/benchmarks/ (via `clipscale_analysis::bench::record`).

use anyhow::{Context, Result};
use clipscale::cli::{BenchCommand, BenchRunArgs, TrainArgs};
use clipscale::train::TrialSettings;
use clipscale_analysis::records::MetricsRecord;
use clipscale_analysis::trial::TrialDir;

/// How this process was invoked, for the record.
pub fn invocation() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

pub fn bench(cmd: &BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Run(a) => bench_run(a),
        BenchCommand::Fit(a) => clipscale_analysis::cli::run_bench_fit(a, &invocation())
            .map(|_| ())
            .map_err(Into::into),
        BenchCommand::Train(a) => super::bench_train::bench_train(a),
        BenchCommand::Data(a) => bench_data(a),
        BenchCommand::Shards(a) => bench_shards(a),
    }
}

/// Writes the shards and prints their pattern as the last line (scripts read it).
fn bench_shards(a: &clipscale::cli::BenchShardsArgs) -> Result<()> {
    let t = std::time::Instant::now();
    let pattern = clipscale_data::write_bench_shards(&a.out, a.images, a.side, a.per_shard)?;
    eprintln!(
        "wrote {} JPEGs of {}x{} px in {:.1} s; stream them with `clipscale bench train --shards '{pattern}'`",
        a.images,
        a.side,
        a.side,
        t.elapsed().as_secs_f64()
    );
    println!("{pattern}");
    Ok(())
}

fn bench_run(a: &BenchRunArgs) -> Result<()> {
    let out = std::env::temp_dir().join(format!("clipscale-bench-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let args = TrainArgs {
        settings: TrialSettings {
            model: Some(a.model.clone()),
            samples: Some(a.samples),
            batch: Some(a.batch),
            lr: Some(a.lr),
            keep_checkpoints: Some(1),
            ..TrialSettings::default()
        },
        device: a.device,
        out: out.clone(),
        sweep: "bench".into(),
        resume: false,
        quiet: false,
        ladder: Default::default(),
    };
    super::train::train(&args)?;
    let dir = std::fs::read_dir(out.join("bench"))?
        .flatten()
        .next()
        .map(|e| TrialDir::new(e.path()))
        .context("no trial written")?;
    let m: Vec<MetricsRecord> = dir
        .read_metrics()?
        .records
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    let fin = dir
        .read_final()?
        .context("the trial wrote no final record")?;
    let last_eval = |metric: &str| {
        dir.last_eval(metric)
            .map(|v| format!("{v:.4}"))
            .unwrap_or_default()
    };
    let mean_sps = fin.samples_seen as f64 / fin.wall_s;
    let mut steady: Vec<f64> = m
        .iter()
        .skip(m.len() / 10)
        .map(|r| r.samples_per_s)
        .collect();
    steady.sort_by(f64::total_cmp);
    let figures = vec![
        ("model", a.model.clone()),
        ("device", a.device.to_string()),
        ("threads", clipscale::provenance::cpu_threads().to_string()),
        ("batch", a.batch.to_string()),
        ("samples", fin.samples_seen.to_string()),
        (
            "first_loss",
            format!("{:.4}", m.first().map(|r| r.loss).unwrap_or(f64::NAN)),
        ),
        (
            "last_loss",
            format!("{:.4}", m.last().map(|r| r.loss).unwrap_or(f64::NAN)),
        ),
        ("heldout_val_loss_b256", last_eval("val_loss")),
        ("heldout_zero_shot_acc1", last_eval("acc1")),
        ("wall_s", format!("{:.1}", fin.wall_s)),
        ("samples_per_s_overall", format!("{mean_sps:.0}")),
        (
            "samples_per_s_median_step",
            format!(
                "{:.0}",
                steady.get(steady.len() / 2).copied().unwrap_or(f64::NAN)
            ),
        ),
    ];
    for (k, v) in &figures {
        println!("{k:>28}: {v}");
    }
    if !a.no_record {
        let fig: Vec<(&str, String)> = figures.iter().map(|(k, v)| (*k, v.clone())).collect();
        let path = clipscale_analysis::bench::record(
            &clipscale_core::repo::repo_root(None),
            "train-run",
            &invocation(),
            &fig,
        )?;
        println!("recorded in {}", path.display());
    }
    std::fs::remove_dir_all(&out).ok();
    Ok(())
}

fn bench_data(a: &clipscale::cli::BenchDataArgs) -> Result<()> {
    let mut cfg = clipscale_data::BenchConfig::default();
    if let Some(t) = a.threads {
        cfg.threads = t.max(1);
    }
    let figures = clipscale_data::bench_decode(&cfg)?;
    let mut rec: Vec<(String, String)> = vec![
        ("source_jpeg_side".into(), cfg.source_side.to_string()),
        ("images".into(), cfg.images.to_string()),
        ("pipeline_batch".into(), cfg.pipeline_batch().to_string()),
        (
            "buffer_pool".into(),
            if clipscale_data::buffers::pooling() {
                "on"
            } else {
                "off"
            }
            .into(),
        ),
    ];
    for f in &figures {
        // Single-thread modes also give images per CPU second, which other load on the
        // machine does not move (wall-clock figures do).
        let cpu = f
            .images_per_cpu_sec
            .map(|c| format!(", {c:.1} per CPU second"))
            .unwrap_or_default();
        println!(
            "{:<10} {:>4} px, {} thread(s): {:>8.1} images/s ({:.1} per thread{cpu})",
            f.mode, f.output_size, f.threads, f.images_per_sec, f.images_per_sec_per_thread
        );
        // the serial threads' rows repeat the pipeline's wall-clock rate: only their CPU
        // figure is theirs
        if !f.mode.starts_with("pipeline-") {
            rec.push((
                format!("{}_{}px_t{}_images_per_s", f.mode, f.output_size, f.threads),
                format!("{:.1}", f.images_per_sec),
            ));
            rec.push((
                format!("{}_{}px_images_per_s_per_thread", f.mode, f.output_size),
                format!("{:.1}", f.images_per_sec_per_thread),
            ));
        }
        if let Some(c) = f.images_per_cpu_sec {
            rec.push((
                format!("{}_{}px_images_per_cpu_s", f.mode, f.output_size),
                format!("{c:.1}"),
            ));
        }
    }
    if !a.no_record {
        let r: Vec<(&str, String)> = rec.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let path = clipscale_analysis::bench::record(
            &clipscale_core::repo::repo_root(None),
            "data-decode",
            &invocation(),
            &r,
        )?;
        println!("recorded in {}", path.display());
    }
    Ok(())
}
