//! `clipscale data prepare pool`: the noisy web-like pool.
//!
//! Sources, in this order (keys `p0000000`... follow it):
//! 1. the Iconify collections, npm `@iconify/json@2.2.535` (pinned: the registry serves newer
//!    versions that would change the pool): every visible icon and alias of every set whose
//!    licence is allowed, sets sorted by prefix, icons by name; sets of the `Emoji` category
//!    are the source `emoji` (the emoji training styles, drawn as the emoji preparation draws
//!    them), the rest `iconify`;
//! 2. OpenClipArt (Debian `openclipart-svg`, public domain): every regular `*.svg` file under
//!    its folder (symbolic links, which repeat files in a second category, are skipped),
//!    captioned from its `dc:title`, tagged with its keywords.
//!
//! Captions are terse and noisy as alt-text is: an icon's name with its dashes as spaces, in
//! one of a few phrasings chosen by a hash of the seed and the key ("home", "home icon",
//! "home material design icons", "navigation home"...).
//!
//! Decontamination, every step counted in the manifest:
//! - every `fluent-emoji*` set, and every Iconify set drawing an emoji style that the emoji
//!   folder holds out, is left out by construction;
//! - pairs whose caption names a held-out emoji concept (the emoji folder's
//!   `heldout_concepts`, matched as whole words) are dropped before rendering; without an
//!   emoji folder the manifest says that concept-level evaluation is not clean;
//! - images within `--near-dup-bits` bits (perceptual hash) of any image of an evaluation
//!   folder's non-training splits (emoji held-out styles and concepts, Fashion-MNIST's test
//!   split, the Tux Paint stamps) are dropped;
//! - blank renders (no contrast) are dropped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use super::decontam::{EvalImages, emoji_holdout, eval_hashes};
use super::phash::{HashIndex, phash};
use super::sources::{Candidate, Drawing, iconify_candidates, openclipart_candidates};
use super::{INDEX_FILE, POOL_SPLIT, PoolEntry, SUBSETS_DIR, index_id, write_index};
use crate::error::DataError;
use crate::prepare::image_ops::render_svg_fit;
use crate::prepare::npm::{NpmPackage, PackageSource};
use crate::prepare::writer::{ShardWriter, clear_shards};
use crate::prepare::{
    Manifest, Source, SplitInfo, create_dir, debian_version, default_cache_dir, parallel_map,
    progress, worker_count, write_atomic, write_manifest,
};

/// The Iconify collections, pinned.
pub const ICONIFY_JSON: NpmPackage = NpmPackage {
    name: "@iconify/json",
    version: "2.2.535",
};
/// Where Debian's `openclipart-svg` puts its files.
pub const OPENCLIPART_DIR: &str = "/usr/share/openclipart/svg";
/// Evaluation folders checked when `--eval` is not given (each where it exists).
pub const DEFAULT_EVAL_DIRS: [&str; 2] = ["data/fashion-mnist", "data/tuxpaint"];
/// The emoji folder checked when `--emoji` is not given (where it exists).
pub const DEFAULT_EMOJI_DIR: &str = "data/emoji";

/// Arguments of `prepare pool`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct PreparePoolArgs {
    /// Output folder (shards under <out>/pool/, index.tsv, manifest.json).
    #[arg(long, default_value = super::DEFAULT_POOL_DIR)]
    pub out: PathBuf,
    /// Side of the square images in pixels (16 to 256; the pool is meant for 32 to 64).
    #[arg(long, default_value_t = 32)]
    pub image_size: u32,
    /// The emoji folder (from `clipscale data prepare emoji`) whose held-out styles and
    /// concepts are kept out of the pool [default: data/emoji where it exists].
    #[arg(long)]
    pub emoji: Option<PathBuf>,
    /// Prepared evaluation folders whose non-training images are removed from the pool with
    /// their near-duplicates, repeatable [default: data/fashion-mnist and data/tuxpaint where
    /// they exist].
    #[arg(long = "eval")]
    pub eval: Vec<PathBuf>,
    /// Check no folder beyond those named (no default emoji or evaluation folders).
    #[arg(long)]
    pub no_default_eval: bool,
    /// Perceptual-hash distance (bits of 64) within which a pool image counts as a
    /// near-duplicate of an evaluation image.
    #[arg(long, default_value_t = 4)]
    pub near_dup_bits: u32,
    /// OpenClipArt's SVG folder, or `none` to leave it out.
    #[arg(long, default_value = OPENCLIPART_DIR)]
    pub openclipart: PathBuf,
    /// Licences allowed, comma-separated SPDX identifiers [default: every licence without a
    /// non-commercial (NC) or no-derivatives (ND) clause].
    #[arg(long, value_delimiter = ',')]
    pub licences: Vec<String>,
    /// Only these Iconify sets (prefixes), comma-separated [default: all].
    #[arg(long, value_delimiter = ',')]
    pub sets: Vec<String>,
    /// At most this many icons per set (the first by name), for a quick pool.
    #[arg(long)]
    pub max_per_set: Option<usize>,
    /// Seed of the caption phrasing.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Download cache (default: $CLIPSCALE_CACHE or ~/.cache/clipscale).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Folder of already-fetched npm packages (tarballs or unpacked); npm is never run.
    #[arg(long)]
    pub packages: Option<PathBuf>,
    /// Samples per shard.
    #[arg(long, default_value_t = 10_000)]
    pub shard_size: usize,
    /// Worker threads for rendering (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Prepare again over an existing pool (its subsets become stale and are refused).
    #[arg(long)]
    pub force: bool,
}

impl Default for PreparePoolArgs {
    fn default() -> Self {
        Self {
            out: PathBuf::from(super::DEFAULT_POOL_DIR),
            image_size: 32,
            emoji: None,
            eval: Vec::new(),
            no_default_eval: false,
            near_dup_bits: 4,
            openclipart: PathBuf::from(OPENCLIPART_DIR),
            licences: Vec::new(),
            sets: Vec::new(),
            max_per_set: None,
            seed: 0,
            cache: None,
            packages: None,
            shard_size: 10_000,
            threads: None,
            quiet: false,
            force: false,
        }
    }
}

/// Builds the pool (see the module documentation) and returns its manifest.
pub fn prepare_pool(args: &PreparePoolArgs) -> Result<Manifest, DataError> {
    let started = Instant::now();
    let size = args.image_size;
    start_over(args)?;
    let out = &args.out;
    let threads = worker_count(args.threads);

    // Sources.
    let packages = match &args.packages {
        Some(dir) => PackageSource::Local(dir.clone()),
        None => PackageSource::Cache(args.cache.clone().unwrap_or_else(default_cache_dir)),
    };
    let iconify_dir = packages.get(&ICONIFY_JSON)?;
    let holdout = emoji_holdout(args)?;
    let (eval_hashes, eval_labels, eval_checked, eval_unchecked) = eval_hashes(args, &holdout)?;
    let eval = EvalImages {
        index: HashIndex::new(eval_hashes, args.near_dup_bits),
        labels: eval_labels,
    };

    let t_load = Instant::now();
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut excluded_sets: BTreeMap<String, String> = BTreeMap::new();
    let mut credits: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut candidates = iconify_candidates(
        &iconify_dir,
        args,
        &holdout,
        &mut excluded_sets,
        &mut credits,
        &mut counts,
    )?;
    let mut sources = vec![Source {
        role: "icons (Iconify collections)".into(),
        package: ICONIFY_JSON.name.into(),
        version: ICONIFY_JSON.version.into(),
        licence: "per set (see details.sets)".into(),
    }];
    if args.openclipart.as_os_str() != "none" {
        let before = candidates.len();
        openclipart_candidates(
            &args.openclipart,
            args,
            &holdout,
            &mut candidates,
            &mut counts,
        )?;
        sources.push(Source {
            role: "clip art (OpenClipArt)".into(),
            package: "openclipart-svg".into(),
            version: debian_version("openclipart-svg"),
            licence: "public-domain".into(),
        });
        if candidates.len() == before {
            eprintln!(
                "warning: no OpenClipArt drawing found under {}",
                args.openclipart.display()
            );
        }
    }
    let load_seconds = t_load.elapsed().as_secs_f64();

    // Render, hash, decontaminate and write.
    let t_render = Instant::now();
    let Written {
        entries,
        shards,
        per_source,
        per_licence,
        per_set,
        failures,
        eval_matches,
    } = render_and_write(&candidates, args, threads, &eval, &mut counts)?;
    for (prefix, credit) in &mut credits {
        credit["pairs"] = per_set.get(prefix).copied().unwrap_or(0).into();
    }
    let written = entries.len();
    let render_seconds = t_render.elapsed().as_secs_f64();
    if written == 0 {
        return Err(DataError::NoUsableSamples {
            source_name: format!("the pool at {}", out.display()),
            detail: format!("every candidate was left out: {counts:?}"),
        });
    }
    let index = write_index(&entries)?;
    write_atomic(&out.join(INDEX_FILE), &index)?;
    create_dir(&out.join(SUBSETS_DIR))?;

    let mut splits = BTreeMap::new();
    splits.insert(
        POOL_SPLIT.to_owned(),
        SplitInfo::new(POOL_SPLIT, written, &shards),
    );
    let concept_clean = holdout.dir.is_some();
    let manifest = Manifest {
        dataset: "pool".into(),
        image_size: size,
        seed: args.seed,
        num_classes: 0,
        splits,
        per_style: per_source
            .iter()
            .map(|(s, n)| (s.clone(), BTreeMap::from([(POOL_SPLIT.to_owned(), *n)])))
            .collect(),
        sources,
        details: serde_json::json!({
            "pool_id": index_id(&index),
            "per_source": per_source,
            "per_licence": per_licence,
            "licences_allowed": if args.licences.is_empty() {
                serde_json::json!("every licence without an NC or ND clause")
            } else {
                serde_json::json!(args.licences)
            },
            "excluded_sets": excluded_sets,
            "sets": credits,
            "left_out": counts,
            "render_failures": failures,
            "decontamination": {
                "near_dup_bits": args.near_dup_bits,
                "checked_against": eval_checked,
                "examples": eval_matches,
                "not_checked": eval_unchecked,
                "emoji": holdout.dir.as_ref().map(|d| d.display().to_string()),
                "heldout_styles": holdout.styles,
                "heldout_concepts": holdout.concepts.len(),
                "concept_level_clean": concept_clean,
                "note": if concept_clean {
                    "held-out emoji styles excluded by set; captions naming a held-out emoji concept dropped; near-duplicates of every checked evaluation image removed"
                } else {
                    "NO emoji folder was given: captions naming held-out emoji concepts were NOT removed, so concept-level zero-shot evaluation against a model trained on this pool is not clean (style-level is: every fluent-emoji set is left out)"
                },
            },
            "caption": "an icon's name (dashes as spaces) in one of a few phrasings chosen by the seed and key; OpenClipArt: its title",
            "sample": "key.png (RGB), key.txt (caption), key.json (source, set, set_name, licence, name, tags)",
            "index": INDEX_FILE,
            "max_per_set": args.max_per_set,
            "shard_size": args.shard_size,
            "seconds": {
                "load": load_seconds,
                "render_and_write": render_seconds,
            },
            "threads": threads,
        }),
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    write_manifest(out, &manifest)?;
    Ok(manifest)
}

/// Checks the arguments and readies the output folder: refuses to replace a finished pool
/// without `--force`, and otherwise removes its manifest first, so that a preparation that
/// stops half-way leaves a folder that says so.
fn start_over(args: &PreparePoolArgs) -> Result<(), DataError> {
    let size = args.image_size;
    if !(16..=256).contains(&size) {
        return Err(DataError::InvalidOption {
            name: "image_size",
            value: size.to_string(),
            valid: "16 to 256 pixels (the pool is meant for 32 to 64)",
        });
    }
    if args.near_dup_bits > super::phash::MAX_BITS {
        return Err(DataError::InvalidOption {
            name: "near_dup_bits",
            value: args.near_dup_bits.to_string(),
            valid: "0 to 12 bits of the 64-bit perceptual hash",
        });
    }
    let out = &args.out;
    if out.join("manifest.json").is_file() && !args.force {
        return Err(DataError::Format {
            path: out.display().to_string(),
            detail: "a pool is already prepared here; add --force to prepare it again (subsets made from it will then be refused as stale)".into(),
        });
    }
    // From here on the folder is half-written until the manifest is written again.
    if out.join("manifest.json").is_file() {
        std::fs::remove_file(out.join("manifest.json"))
            .map_err(|e| DataError::io(out.join("manifest.json"), &e))?;
    }
    // tokenizers trained on the old pool's captions would outlive it
    super::remove_derived(out, "tokenizer-")?;
    Ok(())
}

/// What [`render_and_write`] wrote.
struct Written {
    entries: Vec<PoolEntry>,
    shards: Vec<PathBuf>,
    per_source: BTreeMap<String, usize>,
    per_licence: BTreeMap<String, usize>,
    per_set: BTreeMap<String, usize>,
    failures: Vec<String>,
    /// The first pool images dropped as near-duplicates of an evaluation image, with it.
    eval_matches: Vec<String>,
}

/// Renders the candidates on `threads` threads, drops blank renders and near-duplicates of
/// evaluation images (counted in `counts`), and writes the rest as shards.
fn render_and_write(
    candidates: &[Candidate],
    args: &PreparePoolArgs,
    threads: usize,
    eval: &EvalImages,
    counts: &mut BTreeMap<&'static str, usize>,
) -> Result<Written, DataError> {
    let size = args.image_size;
    let shard_dir = args.out.join(POOL_SPLIT);
    create_dir(&shard_dir)?;
    clear_shards(&shard_dir)?;
    let mut writer = ShardWriter::new(&shard_dir, POOL_SPLIT, args.shard_size)?;
    let bar = progress(candidates.len(), args.quiet, "rendering the pool");
    let mut entries: Vec<PoolEntry> = Vec::with_capacity(candidates.len());
    let mut per_source: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_licence: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_set: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    let mut eval_matches: Vec<String> = Vec::new();
    for chunk in candidates.chunks(4096) {
        let rendered = parallel_map(chunk, threads, |c| render(c, size));
        for (c, result) in chunk.iter().zip(rendered) {
            bar.inc(1);
            let (png, pixels, hash) = match result {
                Ok(r) => r,
                Err(e) => {
                    *counts.entry("render_failed").or_default() += 1;
                    if failures.len() < 10 {
                        failures.push(e.to_string());
                    }
                    continue;
                }
            };
            let Some(hash) = hash else {
                *counts.entry("blank").or_default() += 1;
                continue;
            };
            if let Some(&j) = eval.index.within(hash).first() {
                *counts.entry("eval_near_duplicate").or_default() += 1;
                if eval_matches.len() < 20 {
                    eval_matches.push(format!(
                        "{}:{} ({:?}) ~ {}",
                        c.set, c.name, c.caption, eval.labels[j as usize]
                    ));
                }
                continue;
            }
            let key = format!("p{:07}", entries.len());
            let meta = serde_json::json!({
                "source": c.source,
                "set": c.set,
                "set_name": c.set_name,
                "licence": c.licence,
                "name": c.name,
                "tags": c.tags,
            });
            writer.write(
                &key,
                &[
                    ("png", &png),
                    ("txt", c.caption.as_bytes()),
                    ("json", meta.to_string().as_bytes()),
                ],
            )?;
            *per_source.entry(c.source.to_owned()).or_default() += 1;
            *per_licence.entry(c.licence.clone()).or_default() += 1;
            *per_set.entry(c.set.clone()).or_default() += 1;
            entries.push(PoolEntry {
                key,
                source: c.source.to_owned(),
                set: c.set.clone(),
                licence: c.licence.clone(),
                name: c.name.clone(),
                caption: c.caption.clone(),
                category: c.category.clone(),
                pixels,
                phash: hash,
            });
        }
    }
    bar.finish_and_clear();
    let (_, shards) = writer.finish()?;
    Ok(Written {
        entries,
        shards,
        per_source,
        per_licence,
        per_set,
        failures,
        eval_matches,
    })
}

/// Renders one candidate: PNG bytes, pixel hash, perceptual hash (None when blank).
fn render(c: &Candidate, size: u32) -> Result<(Vec<u8>, u64, Option<u64>), DataError> {
    let rgb = match &c.drawing {
        Drawing::Icon(icon) => {
            render_svg_fit(&icon.document(size), size, &format!("{}:{}", c.set, c.name))?
        }
        Drawing::File(path) => {
            let doc = std::fs::read_to_string(path).map_err(|e| DataError::io(path, &e))?;
            render_svg_fit(&doc, size, &path.display().to_string())?
        }
    };
    let hash = phash(&rgb, size as usize, size as usize);
    let png = crate::png::encode_rgb(size as usize, size as usize, &rgb)?;
    Ok((png, clipscale_core::rng::fnv1a(&rgb), hash))
}
