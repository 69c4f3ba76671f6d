//! Offline preparation of the real data sets into WebDataset shards.
//!
//! Each preparer reads packages that the package registries ship (npm for the emoji sets,
//! Debian for Fashion-MNIST and the Tux Paint stamps), renders or decodes every image to an
//! RGB PNG of a chosen size, and writes:
//!
//! - `<out>/<split>/<split>-NNNNNN.tar`: WebDataset shards, one sample per key with
//!   `key.png`, `key.txt` (one caption) and `key.json` (labels, split, more captions);
//! - `classnames.txt` and `templates.txt` where the set is a zero-shot classification task;
//! - `manifest.json` ([`Manifest`]): counts per split (and per style), sources with versions
//!   and licences, image size, seed, wall time.
//!
//! - [`emoji`]: the same Unicode emoji concepts drawn in up to 11 licensed styles, split by
//!   style and by concept;
//! - [`fashion_mnist`]: the 70,000 Fashion-MNIST images, `test` (t10k) as the eval split;
//! - [`tuxpaint`]: Tux Paint's photo stamps with their hand-written captions (retrieval).
//!
//! Shards are written to a temporary name and renamed when complete, in a deterministic
//! order with fixed tar metadata, so the same inputs and arguments give identical files.

pub mod emoji;
pub mod fashion_mnist;
pub(crate) mod image_ops;
pub mod npm;
pub mod tuxpaint;
pub(crate) mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use emoji::{PrepareEmojiArgs, prepare_emoji};
pub use fashion_mnist::{PrepareFashionMnistArgs, prepare_fashion_mnist};
pub use tuxpaint::{PrepareTuxpaintArgs, prepare_tuxpaint};

use crate::error::DataError;

/// Environment variable naming the download cache folder (default `~/.cache/clipscale`).
pub const CACHE_ENV: &str = "CLIPSCALE_CACHE";

/// The cache folder: `$CLIPSCALE_CACHE`, else `$HOME/.cache/clipscale`, else
/// `.cache/clipscale` under the current folder.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache").join("clipscale"),
        None => PathBuf::from(".cache").join("clipscale"),
    }
}

/// Where one input came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// What it provides (a style name, `captions`, `images`...).
    pub role: String,
    /// Package name (npm or Debian).
    pub package: String,
    /// Package version.
    pub version: String,
    /// Licence of the content used (SPDX where one exists).
    pub licence: String,
}

/// Counts of one split.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SplitInfo {
    /// Samples written.
    pub samples: usize,
    /// Shard files, relative to the output folder.
    pub shards: Vec<String>,
    /// The shards as one brace pattern relative to the output folder
    /// (`train/train-{000000..000002}.tar`), for a WebDataset reader.
    #[serde(default)]
    pub pattern: String,
}

impl SplitInfo {
    /// The info of `split` whose shards (named `<split>-NNNNNN.tar`, numbered from 0) were
    /// written under `<out>/<split>/`.
    pub(crate) fn new(split: &str, samples: usize, shards: &[PathBuf]) -> Self {
        let shards: Vec<String> = shards
            .iter()
            .map(|p| {
                format!(
                    "{split}/{}",
                    p.file_name().unwrap_or_default().to_string_lossy()
                )
            })
            .collect();
        let pattern = match shards.len() {
            0 => String::new(),
            1 => shards[0].clone(),
            n => format!("{split}/{split}-{{000000..{:06}}}.tar", n - 1),
        };
        Self {
            samples,
            shards,
            pattern,
        }
    }
}

/// What a preparation wrote (also saved as `manifest.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `emoji`, `fashion-mnist` or `tuxpaint`.
    pub dataset: String,
    /// Side of every (square) image in pixels.
    pub image_size: u32,
    /// Seed of every random choice (caption phrasing, held-out concepts).
    pub seed: u64,
    /// Number of classes (lines of `classnames.txt`; 0 for retrieval-only sets).
    pub num_classes: usize,
    /// Per split: samples and shard files.
    pub splits: BTreeMap<String, SplitInfo>,
    /// Per style (emoji only): samples per split.
    #[serde(default)]
    pub per_style: BTreeMap<String, BTreeMap<String, usize>>,
    /// Inputs with versions and licences.
    pub sources: Vec<Source>,
    /// Data-set specific facts (held-out styles and concepts, options used...).
    #[serde(default)]
    pub details: serde_json::Value,
    /// Seconds the preparation took.
    pub wall_seconds: f64,
}

impl Manifest {
    /// Total samples over all splits.
    pub fn total_samples(&self) -> usize {
        self.splits.values().map(|s| s.samples).sum()
    }

    /// Reads `manifest.json` from a prepared folder.
    pub fn load(dir: &Path) -> Result<Self, DataError> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, &e))?;
        serde_json::from_str(&text).map_err(|e| DataError::Format {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
    }

    /// One line per split (`split: N samples in K shards`), for printing.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{}: {} samples, {}x{} px, {} classes, {:.1} s\n",
            self.dataset,
            self.total_samples(),
            self.image_size,
            self.image_size,
            self.num_classes,
            self.wall_seconds
        );
        for (name, s) in &self.splits {
            out.push_str(&format!(
                "  {name}: {} samples in {} shards\n",
                s.samples,
                s.shards.len()
            ));
        }
        out
    }
}

/// Writes `bytes` to `path` atomically ([`clipscale_core::fs::write_atomic`]).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    clipscale_core::fs::write_atomic(path, bytes).map_err(|e| DataError::io(&e.path, &e.source))
}

/// The installed version of a Debian package (`dpkg-query`), or `unknown`.
pub(crate) fn debian_version(package: &str) -> String {
    std::process::Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", package])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Creates a folder and its parents.
pub(crate) fn create_dir(path: &Path) -> Result<(), DataError> {
    std::fs::create_dir_all(path).map_err(|e| DataError::io(path, &e))
}

/// Writes the manifest as pretty JSON.
pub(crate) fn write_manifest(out: &Path, manifest: &Manifest) -> Result<(), DataError> {
    let json = serde_json::to_string_pretty(manifest).map_err(|e| DataError::Format {
        path: out.join("manifest.json").display().to_string(),
        detail: e.to_string(),
    })?;
    write_atomic(&out.join("manifest.json"), format!("{json}\n").as_bytes())
}

/// Reads and parses a JSON file.
pub(crate) fn read_json(path: &Path) -> Result<serde_json::Value, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, &e))?;
    serde_json::from_slice(&bytes).map_err(|e| DataError::Format {
        path: path.display().to_string(),
        detail: format!("not valid JSON: {e}"),
    })
}

/// A stable 64-bit hash of a seed and a string (FNV-1a from a seeded state, then SplitMix64's
/// finaliser so nearby strings spread over the whole range): the same on every platform and
/// release, unlike `std`'s hasher.
pub(crate) fn stable_hash(seed: u64, text: &str) -> u64 {
    use clipscale_core::rng::{FNV_OFFSET, GOLDEN, fnv1a_from, mix64};
    mix64(fnv1a_from(
        FNV_OFFSET ^ seed.wrapping_mul(GOLDEN),
        text.as_bytes(),
    ))
}

/// A progress bar over `len` items, hidden when `quiet` (and by indicatif when stderr is not
/// a terminal).
pub(crate) fn progress(len: usize, quiet: bool, what: &str) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    let style = indicatif::ProgressStyle::with_template(
        "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} ({eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

/// The number of worker threads: `requested`, else the machine's parallelism.
pub(crate) fn worker_count(requested: Option<usize>) -> usize {
    requested
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `f` over `items` on `threads` threads, keeping the input order of the results.
pub(crate) fn parallel_map<T, R, F>(items: &[T], threads: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    if threads <= 1 || items.len() < 2 {
        return items.iter().map(&f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    let results = std::sync::Mutex::new(&mut slots);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(items.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= items.len() {
                        break;
                    }
                    let r = f(&items[i]);
                    if let Ok(mut guard) = results.lock() {
                        guard[i] = Some(r);
                    }
                }
            });
        }
    });
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_hash_is_stable_and_seeded() {
        assert_eq!(stable_hash(0, "2615"), stable_hash(0, "2615"));
        assert_ne!(stable_hash(0, "2615"), stable_hash(1, "2615"));
        assert_ne!(stable_hash(0, "2615"), stable_hash(0, "2616"));
    }

    #[test]
    fn parallel_map_keeps_order() {
        let items: Vec<u32> = (0..1000).collect();
        let out = parallel_map(&items, 3, |x| x * 2);
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
    }
}
