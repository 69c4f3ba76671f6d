//! Helpers shared by the data-pipeline integration tests: fixture paths, temporary folders and
//! generated shards.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clipscale_data::png::encode_rgb;
use clipscale_data::tarfile::{read_tar, write_tar};
use clipscale_data::{DecodedSample, SampleStream};

/// The committed fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A path under the fixtures folder, as a string.
pub fn fixture(rel: &str) -> String {
    fixtures().join(rel).display().to_string()
}

/// A temporary folder, removed when dropped.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty temporary folder for one test.
pub fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("clipscale-data-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// A small PNG whose colours encode `n` (and a gradient, so crops differ).
pub fn png_for(n: usize) -> Vec<u8> {
    let (w, h) = (12usize, 10usize);
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            rgb.extend_from_slice(&[(n * 37 % 256) as u8, (x * 20) as u8, (y * 25 + n % 7) as u8]);
        }
    }
    encode_rgb(w, h, &rgb).unwrap()
}

/// Writes `shards` shards of `per_shard` samples (`s{shard}-{i}` keys, PNG + caption) to
/// `dir` and returns the brace pattern naming them.
pub fn make_shards(dir: &Path, shards: usize, per_shard: usize) -> String {
    for s in 0..shards {
        let mut members = Vec::new();
        for i in 0..per_shard {
            let key = format!("s{s:02}-{i:03}");
            members.push((format!("{key}.png"), png_for(s * per_shard + i)));
            members.push((
                format!("{key}.txt"),
                format!("caption of {key}").into_bytes(),
            ));
        }
        write_tar(&dir.join(format!("shard-{s:02}.tar")), &members).unwrap();
    }
    format!("{}/shard-{{00..{:02}}}.tar", dir.display(), shards - 1)
}

/// The keys of all generated samples, in file order.
pub fn all_keys(shards: usize, per_shard: usize) -> Vec<String> {
    (0..shards)
        .flat_map(|s| (0..per_shard).map(move |i| format!("s{s:02}-{i:03}")))
        .collect()
}

/// Takes `n` samples from a stream (panics on a stream error: tests only).
pub fn take(stream: &mut SampleStream, n: usize) -> Vec<DecodedSample> {
    (0..n)
        .map(|_| stream.next_sample().unwrap().unwrap())
        .collect()
}

/// The keys of samples.
pub fn keys(samples: &[DecodedSample]) -> Vec<String> {
    samples.iter().map(|s| s.key.clone()).collect()
}

/// Every sample of a shard: key -> (extension -> bytes).
pub fn read_shard(path: &Path) -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    for (name, bytes) in read_tar(path).unwrap() {
        let (key, ext) = name.split_once('.').expect("key.ext");
        out.entry(key.to_owned())
            .or_default()
            .insert(ext.to_owned(), bytes);
    }
    out
}

/// A pool in memory (its folder holds only what curation writes), one entry per row of
/// (caption, pixel hash, perceptual hash).
pub fn pool_of(dir: &Path, id: &str, rows: &[(String, u64, u64)]) -> clipscale_data::pool::Pool {
    clipscale_data::pool::Pool {
        dir: dir.to_owned(),
        manifest: clipscale_data::prepare::Manifest {
            dataset: "pool".into(),
            image_size: 32,
            seed: 0,
            num_classes: 0,
            splits: BTreeMap::new(),
            per_style: BTreeMap::new(),
            sources: Vec::new(),
            details: serde_json::json!({}),
            wall_seconds: 0.0,
        },
        id: id.into(),
        entries: rows
            .iter()
            .enumerate()
            .map(
                |(i, (caption, pixels, phash))| clipscale_data::pool::PoolEntry {
                    key: format!("p{i:07}"),
                    source: if i % 2 == 0 { "iconify" } else { "emoji" }.into(),
                    set: "s".into(),
                    licence: "MIT".into(),
                    name: format!("n{i}"),
                    caption: caption.clone(),
                    category: String::new(),
                    pixels: *pixels,
                    phash: *phash,
                },
            )
            .collect(),
    }
}

/// Distinct, far-apart perceptual hashes.
pub fn far_hash(i: usize) -> u64 {
    clipscale_core::rng::mix64(i as u64 + 1)
}
