//! A webdataset reader for the shard layout img2dataset and DataComp write: tar files of
//! `key.jpg` (or `.jpeg`, `.png`, `.webp`) + `key.txt` + optional `key.json`.
//!
//! # Grouping
//!
//! As webdataset's `group_by_keys`: a member's key is its path up to the first `.` of the file
//! name and its extension the rest, lowercased (`dir/000123.JPG` -> key `dir/000123`, `jpg`);
//! consecutive members with the same key form one sample. The image is the first member with
//! extension `jpg`, `jpeg`, `png` or `webp`, the caption the `txt` member, the `json` member is
//! kept raw; other members (and names without an extension) are ignored. A sample without an
//! image, without a caption, or with an empty or non-UTF-8 caption is skipped and counted
//! ([`SkipReason`]); a corrupt image is found (skipped and counted) when decoding.
//!
//! # Opening
//!
//! [`WebDataset::open`] expands the pattern ([`crate::shards`]) and scans every shard on
//! `threads` threads, reading headers and the (small) caption members but skipping image data
//! with seeks. The scan gives the unique-sample count (the usable pairs of one epoch;
//! sample keys are taken to be unique, as img2dataset's shard-prefixed keys are), the per-epoch
//! skip counts, and warnings naming missing and truncated shards. A truncated shard keeps the
//! samples before the cut; a missing or unreadable shard is left out of the epochs. When no
//! shard can be read, or no usable pair exists, opening fails with an error naming the
//! shards and their problems. For large data sets, [`SampleCount::SizesJson`] takes the counts
//! from open_clip's `sizes.json` instead of scanning.
//!
//! # Order
//!
//! Epoch `e` reads the readable shards in an order shuffled by `(seed, e)` (or in pattern
//! order when `shuffle_shards` is off), one after the other, then the stream's shuffle buffer
//! (`shuffle_buffer` samples, seeded by `(seed, e)`) mixes samples across neighbouring shards.
//! See [`crate::stream`] for decoding, positions and resuming.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use clipscale_core::rng::SplitMix64;
use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::rng::sample_key;
use crate::shards::expand_shards;
use crate::stream::{
    DataStats, EpochSource, Event, ImageData, MAX_SKIP_EXAMPLES, PairSource, RawItem,
    STREAM_SHARD_ORDER, SampleStream, SkipReason, StreamConfig, StreamPosition,
};
use crate::synthetic::{MAX_IMAGE_SIZE, MIN_IMAGE_SIZE};
use crate::tarfile::{TarError, TarReader};

/// Image extensions, in order of preference.
pub const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];

/// How to read a set of shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// Shard pattern: brace ranges and lists, several parts separated by `::`.
    pub pattern: String,
    /// Samples in the shuffle buffer (0 or 1: no sample shuffling).
    pub shuffle_buffer: usize,
    /// Shuffle the shard order per epoch.
    pub shuffle_shards: bool,
    /// Seed of the shard order, the shuffle buffer and the random crops.
    pub seed: u64,
    /// Decoding threads (also used to scan shards when opening).
    pub threads: usize,
    /// Items in flight at most (0: `8 * threads`, at least 64).
    pub prefetch: usize,
    /// Output image side length.
    pub image_size: usize,
    /// Random resized crop (training) or resize + centre crop (evaluation).
    pub train: bool,
    /// How opening counts the samples.
    #[serde(default)]
    pub count: SampleCount,
}

/// How [`WebDataset::open`] counts the samples of each shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleCount {
    /// Scan every shard's headers and captions: exact usable-pair counts and per-epoch skip
    /// counts, truncated shards found when opening. Reads a little of every sample.
    #[default]
    Scan,
    /// Trust a `sizes.json` in each shard's folder (open_clip's file, `{"00000.tar": 10000}`,
    /// keys the shard file names) for the shards it lists, and scan the others. Fast for large
    /// data sets; the counts are samples as written, so skips and truncation are found only
    /// when streaming.
    SizesJson,
}

impl ShardSpec {
    /// Training defaults: shuffle buffer 1000, shuffled shards, seed 0, decoding threads = the
    /// machine's cores (at most 32), random crops.
    pub fn new(pattern: impl Into<String>, image_size: usize) -> Self {
        Self {
            pattern: pattern.into(),
            shuffle_buffer: 1000,
            shuffle_shards: true,
            seed: 0,
            threads: default_threads(),
            prefetch: 0,
            image_size,
            train: true,
            count: SampleCount::Scan,
        }
    }

    /// Evaluation defaults: no shuffling, centre crops, otherwise as [`ShardSpec::new`].
    pub fn eval(pattern: impl Into<String>, image_size: usize) -> Self {
        Self {
            shuffle_buffer: 0,
            shuffle_shards: false,
            train: false,
            ..Self::new(pattern, image_size)
        }
    }
}

/// Decoding threads by default: the available cores, at most 32. (A 256 px JPEG takes about
/// one core per 600 images/s to decode and transform at 224 px, so ViT-B-32's 7,000 samples/s
/// on a GPU needs about 12 of them, more than the 8 this once was; idle decoders only wait on a
/// full prefetch queue.)
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(32)
}

/// Checks the image size and thread count of a spec.
pub(crate) fn check_common(image_size: usize, threads: usize) -> Result<(), DataError> {
    if !(MIN_IMAGE_SIZE..=MAX_IMAGE_SIZE).contains(&image_size) {
        return Err(DataError::InvalidImageSize {
            value: image_size,
            min: MIN_IMAGE_SIZE,
            max: MAX_IMAGE_SIZE,
        });
    }
    if threads == 0 {
        return Err(DataError::InvalidOption {
            name: "threads",
            value: "0".into(),
            valid: "1 or more decoding threads",
        });
    }
    Ok(())
}

/// Splits a member name into webdataset's (key, lowercased extension).
pub fn split_key(name: &str) -> Option<(&str, String)> {
    let base_start = name.rfind('/').map_or(0, |i| i + 1);
    let dot = name[base_start..].find('.')? + base_start;
    if dot == base_start {
        // Hidden files and names starting with a dot have no key.
        return None;
    }
    Some((&name[..dot], name[dot + 1..].to_ascii_lowercase()))
}

/// Members of one sample being grouped.
#[derive(Default)]
struct Group {
    key: String,
    image: Option<(String, Option<Vec<u8>>)>,
    caption: Option<Vec<u8>>,
    json: Option<Vec<u8>>,
}

/// Turns a group into an item or a skip event; `shard` names the tar file in messages.
fn finish_group(group: Group, shard: &str) -> Event {
    let where_ = format!("{shard}:{}", group.key);
    let skip = |reason: SkipReason, what: &str| Event::Skip {
        reason,
        message: format!("{where_}: {what}; skipped ({})", reason.name()),
    };
    let Some((ext, image)) = group.image else {
        return skip(SkipReason::MissingImage, "no .jpg/.jpeg/.png/.webp member");
    };
    let Some(caption) = group.caption else {
        return skip(SkipReason::MissingCaption, "no .txt member");
    };
    let caption = match String::from_utf8(caption) {
        Ok(c) if !c.trim().is_empty() => c,
        Ok(_) => return skip(SkipReason::BadCaption, "the caption is empty"),
        Err(_) => return skip(SkipReason::BadCaption, "the caption is not UTF-8"),
    };
    Event::Item(RawItem {
        label: format!("{shard}:{}.{ext}", group.key),
        key: group.key,
        image: ImageData::Bytes(image.unwrap_or_default()),
        caption,
        json: group.json.map(|j| String::from_utf8_lossy(&j).into_owned()),
    })
}

/// Reads one shard, grouping members into samples; image data is read only when
/// `read_images`. Returns false when `sink` asked to stop.
pub(crate) fn read_shard(
    path: &Path,
    read_images: bool,
    sink: &mut dyn FnMut(Event) -> bool,
) -> bool {
    let shard = path.display().to_string();
    // Scanning skips image data with seeks: a small buffer avoids reading it anyway.
    let capacity = if read_images { 1 << 20 } else { 16 << 10 };
    let mut reader = match TarReader::open_with_capacity(path, capacity) {
        Ok(r) => r,
        Err(e) => return sink(Event::Warning(format!("shard {shard}: cannot open: {e}"))),
    };
    let want = |name: &str| match split_key(name) {
        Some((_, ext)) => {
            ext == "txt"
                || (read_images && (ext == "json" || IMAGE_EXTENSIONS.contains(&ext.as_str())))
        }
        None => false,
    };
    let mut group: Option<Group> = None;
    let mut samples = 0u64;
    loop {
        match reader.next_member(&want) {
            Ok(Some(member)) => {
                let Some((key, ext)) = split_key(&member.name) else {
                    continue;
                };
                if group.as_ref().is_some_and(|g| g.key != key) {
                    samples += 1;
                    if !sink(finish_group(group.take().unwrap_or_default(), &shard)) {
                        return false;
                    }
                }
                let g = group.get_or_insert_with(|| Group {
                    key: key.to_string(),
                    ..Group::default()
                });
                match ext.as_str() {
                    "txt" if g.caption.is_none() => g.caption = member.data,
                    "json" if g.json.is_none() => g.json = member.data,
                    e if IMAGE_EXTENSIONS.contains(&e) && g.image.is_none() => {
                        g.image = Some((ext.clone(), member.data));
                    }
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(e) => {
                let before = samples + u64::from(group.is_some());
                let msg = format!(
                    "shard {shard}: {e}; the {before} samples before it are used, the rest of the shard is lost"
                );
                let event = match e {
                    TarError::Truncated { .. } => Event::TruncatedShard(msg),
                    TarError::BadHeader { .. } | TarError::Io { .. } => Event::Warning(msg),
                };
                if !sink(event) {
                    return false;
                }
                break;
            }
        }
    }
    match group {
        Some(g) => sink(finish_group(g, &shard)),
        None => true,
    }
}

/// The captions of the usable samples of a set of shards, read as opening scans them (headers
/// and captions, no image data), and the problems met on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShardCaptions {
    /// Trimmed captions, shard by shard in pattern order.
    pub captions: Vec<String>,
    /// One line per missing, unreadable or truncated shard, naming it (a truncated shard's
    /// captions up to the cut are kept, as training keeps its samples).
    pub warnings: Vec<String>,
}

/// Reads the captions of `pattern`'s shards (e.g. to train a BPE tokenizer on them). Every
/// shard reader of the crate treats a truncated shard alike: the samples before the cut count,
/// the rest is reported. Fails only when no shard yields a caption.
pub fn shard_captions(pattern: &str) -> Result<ShardCaptions, DataError> {
    let mut out = ShardCaptions::default();
    for name in expand_shards(pattern)? {
        read_shard(Path::new(&name), false, &mut |event| {
            match event {
                Event::Item(item) => out.captions.push(item.caption.trim().to_string()),
                Event::Skip { .. } => {}
                Event::Warning(w) | Event::TruncatedShard(w) => out.warnings.push(w),
            }
            true
        });
    }
    if out.captions.is_empty() {
        return Err(DataError::NoUsableSamples {
            source_name: format!("shards {pattern:?}"),
            detail: format!(
                "no captions{}",
                out.warnings
                    .first()
                    .map(|w| format!("; {w}"))
                    .unwrap_or_default()
            ),
        });
    }
    Ok(out)
}

/// A subset of a data set's samples by key, some with a replacement caption: how training
/// reads a curated subset of a pool through the pool's own shards ([`crate::pool::curate`]).
/// Samples whose key it does not hold are passed over as if absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyFilter {
    keep: HashMap<String, Option<String>>,
}

impl KeyFilter {
    /// Keeps the keys of `keep`; a `Some` value replaces that sample's caption.
    pub fn new(keep: HashMap<String, Option<String>>) -> Self {
        Self { keep }
    }

    /// Keys kept.
    pub fn len(&self) -> usize {
        self.keep.len()
    }

    /// Whether it keeps nothing.
    pub fn is_empty(&self) -> bool {
        self.keep.is_empty()
    }

    /// The event as the subset sees it (`None`: a sample outside the subset).
    fn apply(&self, event: Event) -> Option<Event> {
        match event {
            Event::Item(mut item) => match self.keep.get(&item.key) {
                None => None,
                Some(caption) => {
                    if let Some(c) = caption {
                        item.caption.clone_from(c);
                    }
                    Some(Event::Item(item))
                }
            },
            other => Some(other),
        }
    }
}

/// Reads one shard through an optional filter.
fn read_shard_filtered(
    path: &Path,
    read_images: bool,
    filter: Option<&KeyFilter>,
    sink: &mut dyn FnMut(Event) -> bool,
) -> bool {
    match filter {
        None => read_shard(path, read_images, sink),
        Some(f) => read_shard(path, read_images, &mut |event| match f.apply(event) {
            Some(e) => sink(e),
            None => true,
        }),
    }
}

/// What the scan found in one shard.
#[derive(Default)]
struct ShardScan {
    opened: bool,
    usable: u64,
    skipped: Vec<(SkipReason, String)>,
    warnings: Vec<String>,
    truncated: bool,
}

fn scan_shard(path: &Path, filter: Option<&KeyFilter>) -> ShardScan {
    let mut scan = ShardScan {
        opened: path.is_file(),
        ..ShardScan::default()
    };
    if !scan.opened {
        let why = if path.exists() {
            "not a file"
        } else {
            "no such file"
        };
        scan.warnings
            .push(format!("shard {}: cannot open: {why}", path.display()));
        return scan;
    }
    read_shard_filtered(path, false, filter, &mut |event| {
        match event {
            Event::Item(_) => scan.usable += 1,
            Event::Skip { reason, message } => scan.skipped.push((reason, message)),
            Event::Warning(w) => {
                if w.contains("cannot open") {
                    scan.opened = false;
                }
                scan.warnings.push(w);
            }
            Event::TruncatedShard(w) => {
                scan.truncated = true;
                scan.warnings.push(w);
            }
        }
        true
    });
    scan
}

/// The shard list behind a [`WebDataset`]'s streams.
struct WdsSource {
    pattern: String,
    shards: Vec<PathBuf>,
    shuffle_shards: bool,
    seed: u64,
    filter: Option<Arc<KeyFilter>>,
}

impl EpochSource for WdsSource {
    fn for_each_event(&self, epoch: u64, sink: &mut dyn FnMut(Event) -> bool) {
        let mut order: Vec<usize> = (0..self.shards.len()).collect();
        if self.shuffle_shards {
            SplitMix64::new(sample_key(self.seed, STREAM_SHARD_ORDER, epoch)).shuffle(&mut order);
        }
        for i in order {
            if !read_shard_filtered(&self.shards[i], true, self.filter.as_deref(), sink) {
                return;
            }
        }
    }

    fn name(&self) -> String {
        format!("shards {:?}", self.pattern)
    }
}

/// A webdataset: a list of tar shards (see the module documentation).
pub struct WebDataset {
    spec: ShardSpec,
    source: Arc<WdsSource>,
    stats: DataStats,
}

impl WebDataset {
    /// Expands the pattern, scans the shards and counts the usable pairs.
    pub fn open(spec: ShardSpec) -> Result<Self, DataError> {
        Self::open_filtered(spec, None)
    }

    /// As [`WebDataset::open`], reading only the samples `filter` keeps (with its captions);
    /// counts then always come from a scan.
    pub fn open_filtered(
        spec: ShardSpec,
        filter: Option<Arc<KeyFilter>>,
    ) -> Result<Self, DataError> {
        check_common(spec.image_size, spec.threads)?;
        let names = expand_shards(&spec.pattern)?;
        let paths: Vec<PathBuf> = names.iter().map(PathBuf::from).collect();
        let known = match (spec.count, &filter) {
            (SampleCount::SizesJson, None) => listed_sizes(&paths)?,
            _ => vec![None; paths.len()],
        };
        let scans = scan_all(&paths, &known, spec.threads, filter.as_deref());
        let mut stats = DataStats {
            source: spec.pattern.clone(),
            shards: paths.len(),
            ..DataStats::default()
        };
        let mut readable = Vec::new();
        for (path, scan) in paths.iter().zip(scans) {
            if scan.opened {
                readable.push(path.clone());
            }
            stats.unique_samples += scan.usable;
            for (reason, message) in scan.skipped {
                stats.skipped.add(reason);
                if stats.skip_examples.len() < MAX_SKIP_EXAMPLES {
                    stats.skip_examples.push(message);
                }
            }
            stats.warnings.extend(scan.warnings);
            stats.truncated_shard += u64::from(scan.truncated);
        }
        stats.shards_readable = readable.len();
        if readable.is_empty() {
            let mut problems: Vec<String> = stats.warnings.iter().take(5).cloned().collect();
            if stats.warnings.len() > 5 {
                problems.push(format!("and {} more", stats.warnings.len() - 5));
            }
            return Err(DataError::NoReadableShards {
                pattern: spec.pattern.clone(),
                problems: problems.join("; "),
            });
        }
        if stats.unique_samples == 0 {
            return Err(DataError::NoUsableSamples {
                source_name: format!("shards {:?}", spec.pattern),
                detail: format!(
                    "{} readable shards, skipped {:?}{}{}",
                    readable.len(),
                    stats.skipped,
                    stats
                        .skip_examples
                        .first()
                        .map(|m| format!(", e.g. {m}"))
                        .unwrap_or_default(),
                    stats
                        .warnings
                        .first()
                        .map(|w| format!("; {w}"))
                        .unwrap_or_default()
                ),
            });
        }
        let source = Arc::new(WdsSource {
            pattern: spec.pattern.clone(),
            shards: readable,
            shuffle_shards: spec.shuffle_shards,
            seed: spec.seed,
            filter,
        });
        Ok(Self {
            spec,
            source,
            stats,
        })
    }

    /// The readable shards, in pattern order.
    pub fn shards(&self) -> &[PathBuf] {
        &self.source.shards
    }

    /// The spec this data set was opened with.
    pub fn spec(&self) -> &ShardSpec {
        &self.spec
    }
}

/// For each shard, its count in the `sizes.json` of its folder, if that file lists it (and the
/// shard exists).
fn listed_sizes(paths: &[PathBuf]) -> Result<Vec<Option<u64>>, DataError> {
    let mut tables: HashMap<PathBuf, Option<HashMap<String, u64>>> = HashMap::new();
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if !tables.contains_key(&dir) {
            let file = dir.join("sizes.json");
            let table = match std::fs::read_to_string(&file) {
                Ok(text) => Some(serde_json::from_str::<HashMap<String, u64>>(&text).map_err(
                    |e| DataError::Format {
                        path: file.display().to_string(),
                        detail: format!("not a {{\"shard.tar\": count}} object: {e}"),
                    },
                )?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(DataError::io(&file, &e)),
            };
            tables.insert(dir.clone(), table);
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let count = match (&tables[&dir], name) {
            (Some(t), Some(n)) if path.is_file() => t.get(&n).copied(),
            _ => None,
        };
        out.push(count);
    }
    Ok(out)
}

/// Scans the shards without a `known` count on up to `threads` threads; results in input order.
fn scan_all(
    paths: &[PathBuf],
    known: &[Option<u64>],
    threads: usize,
    filter: Option<&KeyFilter>,
) -> Vec<ShardScan> {
    let next = AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<ShardScan>>> =
        paths.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, paths.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= paths.len() {
                        break;
                    }
                    let scan = match known[i] {
                        Some(usable) => ShardScan {
                            opened: true,
                            usable,
                            ..ShardScan::default()
                        },
                        None => scan_shard(&paths[i], filter),
                    };
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(scan);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().ok().flatten().unwrap_or_default())
        .collect()
}

impl PairSource for WebDataset {
    fn stream_from(&self, position: StreamPosition) -> Result<SampleStream, DataError> {
        let s = &self.spec;
        let cfg = StreamConfig::for_dataset(
            s.seed,
            s.threads,
            s.prefetch,
            s.shuffle_buffer,
            s.image_size,
            s.train,
        );
        SampleStream::start(self.source.clone(), cfg, position)
    }

    fn stats(&self) -> &DataStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_at_the_first_dot_of_the_file_name() {
        assert_eq!(split_key("000123.jpg"), Some(("000123", "jpg".into())));
        assert_eq!(
            split_key("a.b/000123.seg.PNG"),
            Some(("a.b/000123", "seg.png".into()))
        );
        assert_eq!(split_key("dir/README"), None);
        assert_eq!(split_key("dir/.hidden"), None);
    }
}
