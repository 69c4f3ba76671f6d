//! A large, noisy pool of image-text pairs for data-curation experiments, and reproducible
//! curated subsets of it.
//!
//! - [`prepare`]: `clipscale data prepare pool` renders the Iconify collections
//!   (`@iconify/json`, about 390k icons in about 240 sets, captions from terse icon names;
//!   `manifest.json` credits every set with its licence, author and pair count),
//!   OpenClipArt (Debian `openclipart-svg`) and the emoji sets' training styles into
//!   WebDataset shards, keeps only allowed licences, and removes everything that could leak an
//!   evaluation set (held-out emoji styles by construction, near-duplicates of evaluation
//!   images by perceptual hash, captions naming a held-out emoji concept);
//! - [`curate`]: `clipscale data curate` turns the pool into a subset (a manifest of kept keys)
//!   by a chain of operators (`none`, ALIGN-style filters, caption noise), deterministic given
//!   the pool, the operators, their parameters and seed; training reads the pool's shards
//!   through the subset ([`crate::webdataset::KeyFilter`]) without copying images.
//!
//! A prepared pool folder holds `pool/pool-NNNNNN.tar` (samples `key.png`, `key.txt`,
//! `key.json` with source, set, licence, original name and tags), `index.tsv` (one row per
//! sample: what curation reads, so no image is decoded to curate), `manifest.json` (written
//! last: a folder without it is half-written) and `subsets/` (one JSON per curation made).

pub mod curate;
pub mod curation;
mod decontam;
pub mod klite;
pub mod metaclip;
mod ops;
pub mod phash;
pub mod prepare;
mod sources;
pub mod wordnet;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::prepare::Manifest;

pub use curate::{CurateArgs, Curation, Subset, curate_pool, open_subset, run_curate};
pub use prepare::{PreparePoolArgs, prepare_pool};

/// The split name of the pool's shards.
pub const POOL_SPLIT: &str = "pool";
/// The per-sample index beside the shards.
pub const INDEX_FILE: &str = "index.tsv";
/// Where subsets are kept, under the pool folder.
pub const SUBSETS_DIR: &str = "subsets";
/// Where `clipscale data prepare pool` writes by default.
pub const DEFAULT_POOL_DIR: &str = "data/pool";

/// One pair of the pool, as `index.tsv` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolEntry {
    /// The sample key in the shards (`p0000000`...).
    pub key: String,
    /// `iconify`, `emoji` (an emoji set of the Iconify collections) or `openclipart`.
    pub source: String,
    /// The icon set's prefix (`mdi`), or OpenClipArt's category folder.
    pub set: String,
    /// SPDX identifier (or `public-domain`).
    pub licence: String,
    /// The icon's or file's original name.
    pub name: String,
    /// The caption written to `key.txt`.
    pub caption: String,
    /// The icon's category in its set (Iconify's `categories`), or OpenClipArt's folder;
    /// empty when the set has none.
    #[serde(default)]
    pub category: String,
    /// A 64-bit hash of the rendered pixels (exact duplicates share it).
    pub pixels: u64,
    /// The perceptual hash ([`phash::phash`]).
    pub phash: u64,
}

/// A prepared pool: its manifest and index.
#[derive(Debug, Clone)]
pub struct Pool {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// A hash of `index.tsv`: what a subset records to notice a pool that changed under it.
    pub id: String,
    pub entries: Vec<PoolEntry>,
}

impl Pool {
    /// Opens a prepared pool folder, checking that it is complete and that its index is the
    /// one its manifest describes.
    pub fn open(dir: &Path) -> Result<Self, DataError> {
        if !dir.is_dir() {
            return Err(DataError::MissingData {
                path: dir.display().to_string(),
                install: format!(
                    "no pool folder; prepare one with `clipscale data prepare pool --out {}`",
                    dir.display()
                ),
            });
        }
        let manifest_path = dir.join("manifest.json");
        if !manifest_path.is_file() {
            return Err(DataError::Format {
                path: dir.display().to_string(),
                detail: format!(
                    "no manifest.json: the pool preparation did not finish (it writes the manifest last); run `clipscale data prepare pool --out {} --force` again",
                    dir.display()
                ),
            });
        }
        let manifest = Manifest::load(dir)?;
        if manifest.dataset != "pool" {
            return Err(DataError::Format {
                path: manifest_path.display().to_string(),
                detail: format!(
                    "this folder holds the {} data set, not a pool from `clipscale data prepare pool`",
                    manifest.dataset
                ),
            });
        }
        let index_path = dir.join(INDEX_FILE);
        let bytes = std::fs::read(&index_path).map_err(|e| DataError::io(&index_path, &e))?;
        let id = index_id(&bytes);
        let recorded = manifest
            .details
            .get("pool_id")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        if recorded != id {
            return Err(DataError::Format {
                path: index_path.display().to_string(),
                detail: format!(
                    "the index does not match manifest.json (pool id {id}, the manifest says {recorded:?}): the folder was changed after preparation; prepare it again with --force"
                ),
            });
        }
        let entries = read_index(&bytes, &index_path)?;
        let expected = manifest.total_samples();
        if entries.len() != expected {
            return Err(DataError::Format {
                path: index_path.display().to_string(),
                detail: format!(
                    "{} rows, the manifest counts {expected} samples",
                    entries.len()
                ),
            });
        }
        Ok(Self {
            dir: dir.to_owned(),
            manifest,
            id,
            entries,
        })
    }

    /// The pool's shard pattern, as a full path.
    pub fn pattern(&self) -> Result<String, DataError> {
        let info = self
            .manifest
            .splits
            .get(POOL_SPLIT)
            .ok_or_else(|| DataError::Format {
                path: self.dir.join("manifest.json").display().to_string(),
                detail: format!("no split {POOL_SPLIT:?}"),
            })?;
        Ok(self.dir.join(&info.pattern).display().to_string())
    }
}

/// Lowercase words of `text` (letters and digits), joined by single spaces.
pub fn normalise_words(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Removes the files of `dir` whose names start with `prefix` (caches derived from data that
/// is being replaced).
pub(crate) fn remove_derived(dir: &Path, prefix: &str) -> Result<(), DataError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| DataError::io(&path, &e))?;
        }
    }
    Ok(())
}

/// The id of an index: FNV-1a of its bytes, in hex.
pub(crate) fn index_id(bytes: &[u8]) -> String {
    format!("{:016x}", clipscale_core::rng::fnv1a(bytes))
}

/// Writes index rows as tab-separated text with a header.
pub(crate) fn write_index(entries: &[PoolEntry]) -> Result<Vec<u8>, DataError> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(b'\t')
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    for e in entries {
        w.serialize(e).map_err(|e| DataError::Format {
            path: INDEX_FILE.into(),
            detail: e.to_string(),
        })?;
    }
    w.into_inner().map_err(|e| DataError::Format {
        path: INDEX_FILE.into(),
        detail: e.to_string(),
    })
}

fn read_index(bytes: &[u8], path: &Path) -> Result<Vec<PoolEntry>, DataError> {
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .from_reader(bytes);
    r.deserialize()
        .enumerate()
        .map(|(i, row)| {
            row.map_err(|e| DataError::Format {
                path: path.display().to_string(),
                detail: format!("row {}: {e}", i + 2),
            })
        })
        .collect()
}
