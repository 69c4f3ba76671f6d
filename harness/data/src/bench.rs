//! The decoding benchmark: images per second decoded and transformed, per thread and through
//! the whole webdataset pipeline, on a generated shard of JPEGs.
//!
//! [`bench_decode`] writes a temporary shard of `images` JPEGs (`source_side` square, quality
//! 90, gradients, a disc and pixel noise, about 40 KB at 256 px: noisier than most photos, so
//! decoding is on the slow side) to `dir`, then measures
//!
//! - `decode` (once, `output_size` 0): one thread decoding the in-memory JPEGs to RGB, `passes`
//!   times;
//!
//! and for each output size
//!
//! - `resize`: one thread transforming images decoded beforehand (the resampling and
//!   normalisation alone), `passes` times;
//! - `transform`: one thread decoding and transforming the in-memory JPEGs in a loop (the
//!   per-thread throughput of the work itself), `passes` times;
//! - `pipeline`: a [`WebDataset`] stream with `threads` decoding threads (reading the tar,
//!   shuffle buffer, reordering, batching included), timed over `pipeline_images` images after
//!   a warm-up batch, in batches of [`PIPELINE_BATCH`] taken on a thread of their own (as
//!   training's data thread takes them; until 2026-12-05 batches of 64 on the calling thread);
//! - `pipeline-consumer` and `pipeline-reader`: the same run's CPU time of its two serial
//!   threads (the one taking batches, which reorders and batches, and the one reading the
//!   shards), as images per CPU second: the ceiling of the pipeline's rate however many
//!   decoding threads it has (Linux only; `None` elsewhere).
//!
//! The shard is deleted afterwards. Figures are returned, not printed.

use std::path::PathBuf;
use std::time::Instant;

use clipscale_core::rng::SplitMix64;
use image::codecs::jpeg::JpegEncoder;
use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::rng::hash2;
use crate::stream::{PairSource, READER_THREAD, StreamPosition};
use crate::synthetic::{Synthetic, SyntheticConfig};
use crate::tarfile::write_tar;
use crate::transform::{Transform, decode_rgb};
use crate::webdataset::{ShardSpec, WebDataset};

/// Batch size of the `pipeline` measurement (at most `pipeline_images`): a training batch.
pub const PIPELINE_BATCH: usize = 256;

/// What to measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchConfig {
    /// Folder for the temporary shard (created if missing).
    pub dir: PathBuf,
    /// JPEGs in the shard.
    pub images: usize,
    /// Side of the source JPEGs.
    pub source_side: u32,
    /// Output sizes to measure.
    pub sizes: Vec<usize>,
    /// Decoding threads of the pipeline measurement.
    pub threads: usize,
    /// Passes over the images in the single-thread modes.
    pub passes: usize,
    /// Images timed through the pipeline per size (the shard repeats over epochs).
    pub pipeline_images: usize,
    /// Training (random crop) or evaluation (centre crop) transform.
    pub train: bool,
}

impl Default for BenchConfig {
    /// 256 JPEGs of 256x256 in the system temp folder; 64 and 224 px; 4 single-thread passes;
    /// a 2048-image pipeline run on all cores (at most 32).
    fn default() -> Self {
        Self {
            dir: std::env::temp_dir().join(format!("clipscale-bench-data-{}", std::process::id())),
            images: 256,
            source_side: 256,
            sizes: vec![64, 224],
            threads: crate::webdataset::default_threads(),
            passes: 4,
            pipeline_images: 2048,
            train: true,
        }
    }
}

impl BenchConfig {
    /// The `pipeline` measurement's batch size: [`PIPELINE_BATCH`], or `pipeline_images` if fewer.
    pub fn pipeline_batch(&self) -> usize {
        PIPELINE_BATCH.min(self.pipeline_images.max(1))
    }
}

/// One measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchFigure {
    /// `"decode"` (one thread, decoding only), `"resize"` (one thread, transforming decoded
    /// images), `"transform"` (one thread, decoding and transforming, in memory) or
    /// `"pipeline"` (the webdataset stream).
    pub mode: String,
    pub output_size: usize,
    pub source_side: u32,
    pub threads: usize,
    pub images: u64,
    pub seconds: f64,
    pub images_per_sec: f64,
    pub images_per_sec_per_thread: f64,
    /// Mean JPEG size in bytes.
    pub mean_jpeg_bytes: u64,
    /// Single-thread modes on Linux: the thread's CPU time, and images per CPU second (robust
    /// to other load on the machine, unlike the wall-clock figures).
    pub cpu_seconds: Option<f64>,
    pub images_per_cpu_sec: Option<f64>,
}

/// This thread's CPU time (user + system) in seconds, from `/proc/thread-self/stat` (Linux;
/// clock ticks of 1/100 s, so measure for a second or more).
fn thread_cpu_seconds() -> Option<f64> {
    stat_cpu_seconds(std::path::Path::new("/proc/thread-self/stat"))
}

/// User + system CPU seconds from a `/proc/.../stat` file (clock ticks of 1/100 s).
fn stat_cpu_seconds(stat: &std::path::Path) -> Option<f64> {
    let text = std::fs::read_to_string(stat).ok()?;
    let fields: Vec<&str> = text[text.rfind(')')? + 2..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// CPU seconds (user + system) of this process's thread named `name` (Linux; `None` when
/// there is no such thread or no /proc; the first one if there are several).
fn named_thread_cpu_seconds(name: &str) -> Option<f64> {
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            return stat_cpu_seconds(&task.path().join("stat"));
        }
    }
    None
}

/// Times `work` on this thread: (wall seconds, CPU seconds).
fn timed(work: impl FnOnce() -> Result<(), DataError>) -> Result<(f64, Option<f64>), DataError> {
    let cpu0 = thread_cpu_seconds();
    let t = Instant::now();
    work()?;
    let wall = t.elapsed().as_secs_f64();
    let cpu = match (cpu0, thread_cpu_seconds()) {
        (Some(a), Some(b)) if b > a => Some(b - a),
        _ => None,
    };
    Ok((wall, cpu))
}

/// A photo-like test image: two gradients, a soft disc and pixel noise.
fn test_jpeg(index: u64, side: u32) -> Result<Vec<u8>, DataError> {
    let mut rng = SplitMix64::new(index ^ 0xBE4C);
    let (c0, c1): ([f32; 3], [f32; 3]) = (
        [rng.unit(), rng.unit(), rng.unit()],
        [rng.unit(), rng.unit(), rng.unit()],
    );
    let (cx, cy, r) = (rng.unit(), rng.unit(), 0.1 + 0.3 * rng.unit());
    let s = side as f32;
    let mut rgb = Vec::with_capacity((side * side * 3) as usize);
    for y in 0..side {
        for x in 0..side {
            let (u, v) = (x as f32 / s, y as f32 / s);
            let d = ((u - cx).powi(2) + (v - cy).powi(2)).sqrt();
            let disc = (1.0 - ((d - r) * 40.0).clamp(0.0, 1.0)) * 0.5;
            for c in 0..3 {
                let g = c0[c] * (1.0 - u) + c1[c] * v * 0.8;
                let n = hash2(index, x * 3 + c as u32, y) - 0.5;
                let val = (g + disc + 0.15 * n).clamp(0.0, 1.0);
                rgb.push((val * 255.0) as u8);
            }
        }
    }
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode(&rgb, side, side, image::ExtendedColorType::Rgb8)
        .map_err(|e| DataError::Image {
            what: format!("benchmark image {index}"),
            detail: e.to_string(),
        })?;
    Ok(out)
}

/// The tar members of benchmark sample `i`: its JPEG and its caption.
fn sample_members(i: usize, jpeg: Vec<u8>) -> [(String, Vec<u8>); 2] {
    [
        (format!("{i:06}.jpg"), jpeg),
        (
            format!("{i:06}.txt"),
            format!("benchmark image {i}").into_bytes(),
        ),
    ]
}

/// Writes `images` photo-like JPEGs (`side` square, see the module documentation) with
/// captions `"benchmark image N"` into WebDataset shards of `per_shard` samples,
/// `dir/bench-00000.tar` on (images encoded in parallel on rayon's pool), and returns the
/// shards' brace pattern. For timing the decoding pipeline where no real shards are at hand
/// (a GPU host without network); the images carry no meaning.
pub fn write_bench_shards(
    dir: &std::path::Path,
    images: usize,
    side: u32,
    per_shard: usize,
) -> Result<String, DataError> {
    use rayon::prelude::*;
    if images == 0 || side == 0 || per_shard == 0 {
        return Err(DataError::InvalidOption {
            name: "bench shards",
            value: format!("images {images}, side {side}, per_shard {per_shard}"),
            valid: "images, side and per_shard all at least 1",
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, &e))?;
    let shards = images.div_ceil(per_shard);
    (0..shards).into_par_iter().try_for_each(|s| {
        let members = (s * per_shard..images.min((s + 1) * per_shard))
            .map(|i| Ok(sample_members(i, test_jpeg(i as u64, side)?)))
            .collect::<Result<Vec<_>, DataError>>()?
            .into_iter()
            .flatten()
            .collect::<Vec<_>>();
        let path = dir.join(format!("bench-{s:05}.tar"));
        write_tar(&path, &members).map_err(|e| DataError::io(&path, &e))
    })?;
    Ok(if shards == 1 {
        dir.join("bench-00000.tar").display().to_string()
    } else {
        dir.join(format!("bench-{{00000..{:05}}}.tar", shards - 1))
            .display()
            .to_string()
    })
}

/// Runs the benchmark (see the module documentation).
pub fn bench_decode(cfg: &BenchConfig) -> Result<Vec<BenchFigure>, DataError> {
    if cfg.images == 0 || cfg.source_side == 0 || cfg.threads == 0 {
        return Err(DataError::InvalidOption {
            name: "bench",
            value: format!(
                "images {}, source_side {}, threads {}",
                cfg.images, cfg.source_side, cfg.threads
            ),
            valid: "images, source_side and threads all at least 1",
        });
    }
    std::fs::create_dir_all(&cfg.dir).map_err(|e| DataError::io(&cfg.dir, &e))?;
    let jpegs: Vec<Vec<u8>> = (0..cfg.images as u64)
        .map(|i| test_jpeg(i, cfg.source_side))
        .collect::<Result<_, _>>()?;
    let mean_jpeg_bytes = jpegs.iter().map(|j| j.len() as u64).sum::<u64>() / jpegs.len() as u64;
    let shard = cfg.dir.join("bench-00000.tar");
    let members: Vec<(String, Vec<u8>)> = jpegs
        .iter()
        .enumerate()
        .flat_map(|(i, j)| sample_members(i, j.clone()))
        .collect();
    write_tar(&shard, &members).map_err(|e| DataError::io(&shard, &e))?;
    let result = run(cfg, &jpegs, &shard, mean_jpeg_bytes);
    let _ = std::fs::remove_file(&shard);
    let _ = std::fs::remove_dir(&cfg.dir);
    let mut figures = result?;
    figures.extend(synthetic_figures(cfg)?);
    Ok(figures)
}

/// The embedded synthetic data set's scenes rendered per second (image and caption), on one
/// thread ("render") and on `cfg.threads` ("render-parallel"), at the ladder's 32 px and at
/// 224 px: what a GPU run on that data set can be fed.
fn synthetic_figures(cfg: &BenchConfig) -> Result<Vec<BenchFigure>, DataError> {
    let mut figures = Vec::new();
    for size in [32usize, 224] {
        let generator = Synthetic::new(SyntheticConfig {
            seed: 0,
            image_size: size,
        })?;
        let batch = if size >= 128 { 64 } else { 1024 };
        let rounds = 4u64;
        let (mut images, mut captions) = (Vec::new(), Vec::new());
        generator.fill_batch(0, 8, &mut images, &mut captions); // warm-up
        for (mode, threads) in [("render", 1), ("render-parallel", cfg.threads)] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|e| DataError::InvalidOption {
                    name: "threads",
                    value: format!("{threads}: {e}"),
                    valid: "a thread pool that can be built",
                })?;
            let t = Instant::now();
            pool.install(|| {
                for r in 0..rounds {
                    images.clear();
                    captions.clear();
                    generator.fill_batch(r * batch as u64, batch, &mut images, &mut captions);
                }
            });
            let secs = t.elapsed().as_secs_f64();
            let n = rounds * batch as u64;
            figures.push(BenchFigure {
                mode: mode.into(),
                output_size: size,
                source_side: 0,
                threads,
                images: n,
                seconds: secs,
                images_per_sec: n as f64 / secs,
                images_per_sec_per_thread: n as f64 / secs / threads as f64,
                mean_jpeg_bytes: 0,
                cpu_seconds: None,
                images_per_cpu_sec: None,
            });
        }
    }
    Ok(figures)
}

fn run(
    cfg: &BenchConfig,
    jpegs: &[Vec<u8>],
    shard: &std::path::Path,
    mean_jpeg_bytes: u64,
) -> Result<Vec<BenchFigure>, DataError> {
    let mut figures = Vec::new();
    let passes = cfg.passes.max(1);
    let n = (jpegs.len() * passes) as u64;
    let single = |mode: &str, size: usize, (secs, cpu): (f64, Option<f64>)| BenchFigure {
        mode: mode.into(),
        output_size: size,
        source_side: cfg.source_side,
        threads: 1,
        images: n,
        seconds: secs,
        images_per_sec: n as f64 / secs,
        images_per_sec_per_thread: n as f64 / secs,
        mean_jpeg_bytes,
        cpu_seconds: cpu,
        images_per_cpu_sec: cpu.map(|c| n as f64 / c),
    };
    decode_rgb(&jpegs[0], "benchmark image 0")?;
    let timing = timed(|| {
        for _ in 0..passes {
            for j in jpegs {
                decode_rgb(j, "benchmark image")?;
            }
        }
        Ok(())
    })?;
    figures.push(single("decode", 0, timing));
    for &size in &cfg.sizes {
        let transform = if cfg.train {
            Transform::train(size)
        } else {
            Transform::eval(size)
        };
        let mut out = vec![0f32; transform.output_len()];
        // Warm-up, then `passes` passes over the shard's images on this thread.
        let rgb = decode_rgb(&jpegs[0], "benchmark image 0")?;
        transform.apply_into(&rgb, 0, &mut out);
        // The transform alone, on images decoded beforehand.
        let decoded: Vec<_> = jpegs
            .iter()
            .map(|j| decode_rgb(j, "benchmark image"))
            .collect::<Result<_, _>>()?;
        let timing = timed(|| {
            for p in 0..passes {
                for (i, rgb) in decoded.iter().enumerate() {
                    transform.apply_into(rgb, (p * jpegs.len() + i) as u64, &mut out);
                }
            }
            Ok(())
        })?;
        drop(decoded);
        figures.push(single("resize", size, timing));
        let timing = timed(|| {
            for p in 0..passes {
                for (i, j) in jpegs.iter().enumerate() {
                    let rgb = decode_rgb(j, "benchmark image")?;
                    transform.apply_into(&rgb, (p * jpegs.len() + i) as u64, &mut out);
                }
            }
            Ok(())
        })?;
        figures.push(single("transform", size, timing));

        let mut spec = ShardSpec::new(shard.display().to_string(), size);
        spec.threads = cfg.threads;
        spec.train = cfg.train;
        spec.shuffle_buffer = 256;
        let data = WebDataset::open(spec)?;
        let mut stream = data.stream_from(StreamPosition::START)?;
        // batches as large as training's, taken on a thread of their own as training's data
        // thread does (a thread's heap serves large buffers differently from the main one's)
        let batch = cfg.pipeline_batch();
        crate::buffers::recycle_f32(stream.next_batch(batch)?.images);
        let reader0 = named_thread_cpu_seconds(READER_THREAD);
        let mut n = 0usize;
        let (secs, consumer_cpu) = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    timed(|| {
                        while n < cfg.pipeline_images.max(1) {
                            // as in training, where the batch's tensor hands its images back
                            let b = stream.next_batch(batch)?;
                            n += b.len();
                            crate::buffers::recycle_f32(b.images);
                        }
                        Ok(())
                    })
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })?;
        let reader = match (reader0, named_thread_cpu_seconds(READER_THREAD)) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        drop(stream);
        let figure = |mode: &str, threads: usize, cpu: Option<f64>| BenchFigure {
            mode: mode.into(),
            output_size: size,
            source_side: cfg.source_side,
            threads,
            images: n as u64,
            seconds: secs,
            images_per_sec: n as f64 / secs,
            images_per_sec_per_thread: n as f64 / secs / threads as f64,
            mean_jpeg_bytes,
            cpu_seconds: cpu,
            images_per_cpu_sec: cpu.filter(|&c| c > 0.0).map(|c| n as f64 / c),
        };
        figures.push(figure("pipeline", cfg.threads, None));
        // The two serial threads of the pipeline: their images per CPU second bound the
        // pipeline's rate however many decoding threads it has.
        figures.push(figure("pipeline-consumer", 1, consumer_cpu));
        figures.push(figure("pipeline-reader", 1, reader));
    }
    Ok(figures)
}
