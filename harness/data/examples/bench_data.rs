//! Measures image decoding + transform throughput: one thread on in-memory JPEGs, and the
//! whole webdataset pipeline with several threads, on a temporary shard of 256 JPEGs of
//! 256x256 written to the system temp folder (deleted afterwards).
//!
//! `cargo run --release -p clipscale-data --example bench_data -- [THREADS] [SOURCE_SIDE]`

use std::error::Error;

use clipscale_data::{BenchConfig, bench_decode};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cfg = BenchConfig::default();
    if let Some(t) = args.first() {
        cfg.threads = t.parse()?;
    }
    if let Some(s) = args.get(1) {
        cfg.source_side = s.parse()?;
    }
    println!(
        "{} JPEGs of {}x{} px, pipeline with {} decoding threads ({} cores available)",
        cfg.images,
        cfg.source_side,
        cfg.source_side,
        cfg.threads,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let figures = bench_decode(&cfg)?;
    println!(
        "{:<10} {:>5} {:>8} {:>8} {:>9} {:>10} {:>16} {:>14}",
        "mode",
        "size",
        "threads",
        "images",
        "seconds",
        "images/s",
        "images/s/thread",
        "images/cpu-s"
    );
    for f in &figures {
        println!(
            "{:<10} {:>5} {:>8} {:>8} {:>9.3} {:>10.0} {:>16.0} {:>14}",
            f.mode,
            f.output_size,
            f.threads,
            f.images,
            f.seconds,
            f.images_per_sec,
            f.images_per_sec_per_thread,
            f.images_per_cpu_sec
                .map_or("-".to_string(), |v| format!("{v:.0}"))
        );
    }
    if let Some(f) = figures.first() {
        println!("mean JPEG size: {} bytes", f.mean_jpeg_bytes);
    }
    Ok(())
}
