//! A CSV image-text source like open_clip's `CsvDataset`: one row per pair, an image path
//! column (`filepath` by default) and a caption column (`title` by default), tab-separated by
//! default (open_clip's `--csv-separator`). Quoting follows the usual CSV rules (`"a, b"`).
//!
//! Image paths are taken relative to the CSV file's folder (absolute paths stay as they are).
//! The file is read once when opening: rows with an empty path, a missing or empty caption, or
//! a parse error are skipped and counted (each message names the CSV line), and the unique
//! count is the number of remaining rows. Image files are not checked when opening: a missing
//! or undecodable image is skipped and counted when the stream reaches it. Epochs visit all
//! rows in an order permuted by `(seed, epoch)` (in file order with `shuffle` off); streams,
//! batches and positions are those of [`crate::stream`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clipscale_core::rng::SplitMix64;
use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::rng::sample_key;
use crate::stream::{
    DataStats, EpochSource, Event, ImageData, MAX_SKIP_EXAMPLES, PairSource, RawItem,
    STREAM_ROW_ORDER, SampleStream, SkipReason, StreamConfig, StreamPosition,
};
use crate::webdataset::{check_common, default_threads};

/// How to read a CSV data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsvSpec {
    /// The CSV file.
    pub path: PathBuf,
    /// Column holding image paths.
    pub img_key: String,
    /// Column holding captions.
    pub caption_key: String,
    /// Field separator (one byte).
    pub separator: u8,
    /// Permute the rows per epoch.
    pub shuffle: bool,
    pub seed: u64,
    pub threads: usize,
    /// Items in flight at most (0: `8 * threads`, at least 64).
    pub prefetch: usize,
    pub image_size: usize,
    /// Random resized crop (training) or resize + centre crop (evaluation).
    pub train: bool,
}

impl CsvSpec {
    /// open_clip's defaults: columns `filepath` and `title`, tab-separated; shuffled rows,
    /// seed 0, random crops.
    pub fn new(path: impl Into<PathBuf>, image_size: usize) -> Self {
        Self {
            path: path.into(),
            img_key: "filepath".into(),
            caption_key: "title".into(),
            separator: b'\t',
            shuffle: true,
            seed: 0,
            threads: default_threads(),
            prefetch: 0,
            image_size,
            train: true,
        }
    }
}

/// One usable row.
struct Row {
    written: String,
    path: PathBuf,
    caption: String,
}

struct CsvSource {
    name: String,
    rows: Vec<Row>,
    /// Rows skipped when reading the file, reported again in every epoch.
    skipped: Vec<(SkipReason, String)>,
    shuffle: bool,
    seed: u64,
}

impl EpochSource for CsvSource {
    fn for_each_event(&self, epoch: u64, sink: &mut dyn FnMut(Event) -> bool) {
        for (reason, message) in &self.skipped {
            let event = Event::Skip {
                reason: *reason,
                message: message.clone(),
            };
            if !sink(event) {
                return;
            }
        }
        let mut order: Vec<usize> = (0..self.rows.len()).collect();
        if self.shuffle {
            SplitMix64::new(sample_key(self.seed, STREAM_ROW_ORDER, epoch)).shuffle(&mut order);
        }
        for i in order {
            let row = &self.rows[i];
            let item = RawItem {
                key: row.written.clone(),
                label: row.path.display().to_string(),
                image: ImageData::File(row.path.clone()),
                caption: row.caption.clone(),
                json: None,
            };
            if !sink(Event::Item(item)) {
                return;
            }
        }
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}

/// A CSV data set (see the module documentation).
pub struct CsvDataset {
    spec: CsvSpec,
    source: Arc<CsvSource>,
    stats: DataStats,
}

impl CsvDataset {
    /// Reads the CSV file and checks its columns.
    pub fn open(spec: CsvSpec) -> Result<Self, DataError> {
        check_common(spec.image_size, spec.threads)?;
        let csv_path = spec.path.display().to_string();
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(spec.separator)
            .has_headers(true)
            .flexible(true)
            .from_path(&spec.path)
            .map_err(|e| DataError::Io {
                path: csv_path.clone(),
                message: e.to_string(),
            })?;
        let header = reader.headers().map_err(|e| DataError::Format {
            path: csv_path.clone(),
            detail: format!("cannot read the header line: {e}"),
        })?;
        let column = |name: &str| {
            header
                .iter()
                .position(|h| h.trim() == name)
                .ok_or_else(|| DataError::MissingColumn {
                    path: csv_path.clone(),
                    column: name.to_string(),
                    available: format!(
                        "{:?} (separator {:?})",
                        header.iter().collect::<Vec<_>>(),
                        char::from(spec.separator)
                    ),
                })
        };
        let (img_col, cap_col) = (column(&spec.img_key)?, column(&spec.caption_key)?);
        let base = spec
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut rows = Vec::new();
        let mut skipped = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let line = |r: &csv::StringRecord| r.position().map_or(i as u64 + 2, |p| p.line());
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    let at = e.position().map_or(i as u64 + 2, |p| p.line());
                    skipped.push((
                        SkipReason::BadRow,
                        format!("{csv_path} line {at}: {e}; skipped (bad_row)"),
                    ));
                    continue;
                }
            };
            let at = line(&record);
            let path_field = record.get(img_col).unwrap_or("").trim();
            let Some(caption) = record.get(cap_col) else {
                skipped.push((
                    SkipReason::MissingCaption,
                    format!(
                        "{csv_path} line {at}: no {:?} field; skipped (missing_caption)",
                        spec.caption_key
                    ),
                ));
                continue;
            };
            if path_field.is_empty() {
                skipped.push((
                    SkipReason::MissingImage,
                    format!(
                        "{csv_path} line {at}: empty {:?} field; skipped (missing_image)",
                        spec.img_key
                    ),
                ));
                continue;
            }
            if caption.trim().is_empty() {
                skipped.push((
                    SkipReason::BadCaption,
                    format!("{csv_path} line {at}: the caption is empty; skipped (bad_caption)"),
                ));
                continue;
            }
            rows.push(Row {
                written: path_field.to_string(),
                path: base.join(path_field),
                caption: caption.to_string(),
            });
        }
        let mut stats = DataStats {
            source: csv_path.clone(),
            unique_samples: rows.len() as u64,
            ..DataStats::default()
        };
        for (reason, message) in &skipped {
            stats.skipped.add(*reason);
            if stats.skip_examples.len() < MAX_SKIP_EXAMPLES {
                stats.skip_examples.push(message.clone());
            }
        }
        let name = format!("CSV {csv_path}");
        if rows.is_empty() {
            return Err(DataError::NoUsableSamples {
                source_name: name,
                detail: format!(
                    "no usable row (skipped {:?}){}",
                    stats.skipped,
                    stats
                        .skip_examples
                        .first()
                        .map(|m| format!(", e.g. {m}"))
                        .unwrap_or_default()
                ),
            });
        }
        let source = Arc::new(CsvSource {
            name,
            rows,
            skipped,
            shuffle: spec.shuffle,
            seed: spec.seed,
        });
        Ok(Self {
            spec,
            source,
            stats,
        })
    }

    /// The spec this data set was opened with.
    pub fn spec(&self) -> &CsvSpec {
        &self.spec
    }
}

impl PairSource for CsvDataset {
    fn stream_from(&self, position: StreamPosition) -> Result<SampleStream, DataError> {
        let s = &self.spec;
        let cfg =
            StreamConfig::for_dataset(s.seed, s.threads, s.prefetch, 0, s.image_size, s.train);
        SampleStream::start(self.source.clone(), cfg, position)
    }

    fn stats(&self) -> &DataStats {
        &self.stats
    }
}
