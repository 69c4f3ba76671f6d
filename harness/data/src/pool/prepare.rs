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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::phash::{HashIndex, phash};
use super::{
    INDEX_FILE, POOL_SPLIT, PoolEntry, SUBSETS_DIR, index_id, normalise_words, write_index,
};
use crate::error::DataError;
use crate::prepare::emoji::{IconifyIcon, STYLES, iconify_icons};
use crate::prepare::image_ops::render_svg_fit;
use crate::prepare::npm::{NpmPackage, PackageSource};
use crate::prepare::writer::{ShardWriter, clear_shards};
use crate::prepare::{
    Manifest, Source, SplitInfo, create_dir, debian_version, default_cache_dir, parallel_map,
    progress, read_json, stable_hash, worker_count, write_atomic, write_manifest,
};
use crate::webdataset::read_shard;

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

/// What to draw for one candidate pair.
enum Drawing {
    Icon(IconifyIcon),
    File(PathBuf),
}

/// One candidate pair before rendering.
struct Candidate {
    source: &'static str,
    set: String,
    set_name: String,
    licence: String,
    name: String,
    caption: String,
    category: String,
    tags: Vec<String>,
    drawing: Drawing,
}

/// What the held-out side of the emoji folder says.
#[derive(Default)]
struct EmojiHoldout {
    dir: Option<PathBuf>,
    styles: Vec<String>,
    /// Held-out concept labels, normalised (lowercase words separated by single spaces).
    concepts: Vec<String>,
}

/// The held-out concepts named in a caption (whole words), by position in `concepts`.
fn names_concept(caption: &str, concepts: &[String]) -> Option<usize> {
    let padded = format!(" {} ", normalise_words(caption));
    concepts
        .iter()
        .position(|c| !c.is_empty() && padded.contains(&format!(" {c} ")))
}

/// The Iconify prefixes that draw an emoji style (the bitmap styles share their art with an
/// Iconify set: google-png is Noto's, twitter-png Twemoji's, fluent-3d Fluent's).
fn prefixes_of_style(style: &str) -> Vec<String> {
    let bitmap = match style {
        "google-png" => Some("noto"),
        "twitter-png" => Some("twemoji"),
        "fluent-3d" => Some("fluent-emoji"),
        _ => None,
    };
    if let Some(p) = bitmap {
        return vec![p.to_owned()];
    }
    STYLES
        .iter()
        .filter(|s| s.name == style)
        .filter_map(|s| s.package.name.strip_prefix("@iconify-json/"))
        .map(str::to_owned)
        .collect()
}

/// A licence allowed by default: none with a non-commercial or no-derivatives clause.
fn default_licence_ok(spdx: &str) -> bool {
    let upper = spdx.to_ascii_uppercase();
    !upper.split('-').any(|part| part == "NC" || part == "ND")
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

/// The evaluation images' hashes, and what each one is (`folder:shard:key`).
struct EvalImages {
    index: HashIndex,
    labels: Vec<String>,
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

/// A caption for an icon named `words`, phrased by the seed and the set.
fn icon_caption(words: &str, set_name: &str, category: Option<&str>, pick: u64) -> String {
    match (pick % 6, category) {
        (0, _) => words.to_owned(),
        (1, _) => format!("{words} icon"),
        (2, _) => format!("{words} {}", set_name.to_lowercase()),
        (3, Some(cat)) => format!("{} {words}", cat.to_lowercase()),
        (3, None) => format!("{words} symbol"),
        (4, _) => format!("icon of {words}"),
        _ => format!("{words} vector"),
    }
}

fn iconify_candidates(
    dir: &Path,
    args: &PreparePoolArgs,
    holdout: &EmojiHoldout,
    excluded: &mut BTreeMap<String, String>,
    credits: &mut BTreeMap<String, serde_json::Value>,
    counts: &mut BTreeMap<&'static str, usize>,
) -> Result<Vec<Candidate>, DataError> {
    let collections_path = dir.join("collections.json");
    let collections = read_json(&collections_path)?;
    let sets = collections.as_object().ok_or_else(|| DataError::Format {
        path: collections_path.display().to_string(),
        detail: "not an object of icon sets".into(),
    })?;
    let held_prefixes: BTreeSet<String> = holdout
        .styles
        .iter()
        .flat_map(|s| prefixes_of_style(s))
        .collect();
    let wanted: BTreeSet<&str> = args.sets.iter().map(String::as_str).collect();
    for w in &wanted {
        if !sets.contains_key(*w) {
            return Err(DataError::InvalidOption {
                name: "sets",
                value: (*w).to_owned(),
                valid: "prefixes of @iconify/json's collections.json (e.g. mdi, tabler, noto)",
            });
        }
    }
    let mut out = Vec::new();
    let mut prefixes: Vec<&String> = sets.keys().collect();
    prefixes.sort();
    for prefix in prefixes {
        let info = &sets[prefix.as_str()];
        let licence = info
            .pointer("/license/spdx")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let why_not = if !wanted.is_empty() && !wanted.contains(prefix.as_str()) {
            None // not asked for: not an exclusion worth recording
        } else if prefix.starts_with("fluent-emoji") {
            Some("held-out emoji style (every fluent-emoji set, by construction)".to_owned())
        } else if held_prefixes.contains(prefix.as_str()) {
            Some("draws an emoji style the emoji folder holds out".to_owned())
        } else if licence.is_empty() {
            Some("no licence recorded".to_owned())
        } else if (args.licences.is_empty() && !default_licence_ok(&licence))
            || (!args.licences.is_empty() && !args.licences.contains(&licence))
        {
            Some(format!("licence {licence} not allowed"))
        } else {
            Some(String::new())
        };
        match why_not {
            None => continue,
            Some(reason) if !reason.is_empty() => {
                excluded.insert(prefix.clone(), reason);
                continue;
            }
            Some(_) => {}
        }
        let set_name = info
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or(prefix)
            .to_owned();
        let is_emoji = info.get("category").and_then(|v| v.as_str()) == Some("Emoji");
        credits.insert(
            prefix.clone(),
            serde_json::json!({
                "name": set_name,
                "licence": licence,
                "author": info.pointer("/author/name"),
                "url": info.pointer("/author/url"),
                "source": if is_emoji { "emoji" } else { "iconify" },
            }),
        );
        let path = dir.join("json").join(format!("{prefix}.json"));
        let json = read_json(&path)?;
        let icons = iconify_icons(&json, &path)?;
        let mut category_of: HashMap<&str, &str> = HashMap::new();
        if let Some(cats) = json.get("categories").and_then(|c| c.as_object()) {
            for (cat, names) in cats {
                for n in names.as_array().into_iter().flatten() {
                    if let Some(n) = n.as_str() {
                        category_of.entry(n).or_insert(cat.as_str());
                    }
                }
            }
        }
        let mut names: Vec<&String> = icons
            .iter()
            .filter(|(_, i)| !i.hidden)
            .map(|(n, _)| n)
            .collect();
        names.sort();
        if let Some(max) = args.max_per_set {
            names.truncate(max);
        }
        for name in names {
            let words = name.replace(['-', '_'], " ");
            let category = category_of.get(name.as_str()).copied();
            let pick = stable_hash(args.seed, &format!("{prefix}:{name}"));
            let caption = icon_caption(&words, &set_name, category, pick);
            if names_concept(&caption, &holdout.concepts).is_some() {
                *counts.entry("heldout_concept_caption").or_default() += 1;
                continue;
            }
            let mut tags = vec![set_name.clone()];
            tags.extend(category.map(str::to_owned));
            out.push(Candidate {
                source: if is_emoji { "emoji" } else { "iconify" },
                set: prefix.clone(),
                set_name: set_name.clone(),
                licence: licence.clone(),
                name: name.clone(),
                caption,
                category: category.unwrap_or_default().to_owned(),
                tags,
                drawing: Drawing::Icon(icons[name].clone()),
            });
        }
    }
    Ok(out)
}

/// The text of the first `<tag>...</tag>` in `doc` at or after `from`.
fn element_text<'a>(doc: &'a str, tag: &str, from: usize) -> Option<(&'a str, usize)> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = doc[from..].find(&open)? + from + open.len();
    let end = doc[start..].find(&close)? + start;
    Some((doc[start..end].trim(), end + close.len()))
}

fn openclipart_candidates(
    dir: &Path,
    args: &PreparePoolArgs,
    holdout: &EmojiHoldout,
    out: &mut Vec<Candidate>,
    counts: &mut BTreeMap<&'static str, usize>,
) -> Result<(), DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingData {
            path: dir.display().to_string(),
            install: "install Debian's openclipart-svg (`apt-get install openclipart-svg`), name its folder with --openclipart, or leave it out with --openclipart none".into(),
        });
    }
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| DataError::io(&d, &e))?;
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() && path.extension().is_some_and(|e| e == "svg") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut per_category: BTreeMap<String, usize> = BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(dir).unwrap_or(&path);
        let category = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .filter(|_| rel.components().count() > 1)
            .unwrap_or_else(|| "other".into());
        if let Some(max) = args.max_per_set {
            let n = per_category.entry(category.clone()).or_default();
            if *n >= max {
                continue;
            }
            *n += 1;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let title = element_text(&text, "dc:title", 0)
            .map(|(t, _)| t.to_owned())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| stem.replace(['_', '-'], " "));
        let mut tags = Vec::new();
        if let Some(subject) = text.find("<dc:subject>") {
            let mut at = subject;
            while let Some((t, next)) = element_text(&text, "rdf:li", at) {
                if text[at..next].contains("</dc:subject>") {
                    break;
                }
                if !t.is_empty() && t != "unsorted" {
                    tags.push(t.to_owned());
                }
                at = next;
            }
        }
        let caption = match (stable_hash(args.seed, &stem) % 3, tags.first()) {
            (1, _) => format!("{title} clip art"),
            (2, Some(tag)) => format!("{title} {tag}"),
            _ => title.clone(),
        };
        if names_concept(&caption, &holdout.concepts).is_some() {
            *counts.entry("heldout_concept_caption").or_default() += 1;
            continue;
        }
        tags.push(category.clone());
        out.push(Candidate {
            source: "openclipart",
            set: category.clone(),
            set_name: "OpenClipArt".into(),
            licence: "public-domain".into(),
            name: stem,
            caption,
            category,
            tags,
            drawing: Drawing::File(path),
        });
    }
    Ok(())
}

/// The emoji folder's held-out styles and concepts (none without an emoji folder).
fn emoji_holdout(args: &PreparePoolArgs) -> Result<EmojiHoldout, DataError> {
    let dir = match &args.emoji {
        Some(d) => d.clone(),
        None if !args.no_default_eval && Path::new(DEFAULT_EMOJI_DIR).is_dir() => {
            PathBuf::from(DEFAULT_EMOJI_DIR)
        }
        None => return Ok(EmojiHoldout::default()),
    };
    let manifest = Manifest::load(&dir)?;
    if manifest.dataset != "emoji" {
        return Err(DataError::Format {
            path: dir.join("manifest.json").display().to_string(),
            detail: format!(
                "--emoji wants a folder from `clipscale data prepare emoji`; this one holds {}",
                manifest.dataset
            ),
        });
    }
    let list = |key: &str| -> Vec<String> {
        manifest
            .details
            .get(key)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(EmojiHoldout {
        dir: Some(dir),
        styles: list("heldout_styles"),
        concepts: list("heldout_concepts")
            .iter()
            .map(|c| normalise_words(c))
            .filter(|c| !c.is_empty())
            .collect(),
    })
}

/// Perceptual hashes of every image in the evaluation folders' non-training splits; with the
/// folders checked (name, images) and those not checked (and why).
#[allow(clippy::type_complexity)]
fn eval_hashes(
    args: &PreparePoolArgs,
    holdout: &EmojiHoldout,
) -> Result<
    (
        Vec<u64>,
        Vec<String>,
        BTreeMap<String, usize>,
        BTreeMap<String, String>,
    ),
    DataError,
> {
    let mut folders: Vec<PathBuf> = holdout.dir.iter().cloned().collect();
    let mut unchecked = BTreeMap::new();
    folders.extend(args.eval.iter().cloned());
    if args.eval.is_empty() && !args.no_default_eval {
        for d in DEFAULT_EVAL_DIRS {
            if Path::new(d).join("manifest.json").is_file() {
                folders.push(PathBuf::from(d));
            } else {
                unchecked.insert(
                    d.to_owned(),
                    "not prepared here (the default folder is missing)".to_owned(),
                );
            }
        }
        if holdout.dir.is_none() {
            unchecked.insert(
                DEFAULT_EMOJI_DIR.to_owned(),
                "not prepared here (the default folder is missing)".to_owned(),
            );
        }
    }
    for (d, why) in &unchecked {
        eprintln!("warning: the pool is not checked against {d}: {why}");
    }
    let mut hashes = Vec::new();
    let mut labels = Vec::new();
    let mut checked = BTreeMap::new();
    for dir in folders {
        let manifest = Manifest::load(&dir)?;
        let mut n = 0usize;
        for (split, info) in &manifest.splits {
            if split == "train" {
                continue;
            }
            for shard in &info.shards {
                let path = dir.join(shard);
                let mut problem = None;
                read_shard(&path, true, &mut |event| {
                    match event {
                        crate::stream::Event::Item(item) => {
                            if let crate::stream::ImageData::Bytes(bytes) = &item.image
                                && let Ok(img) = image::load_from_memory(bytes)
                            {
                                let rgb = img.to_rgb8();
                                let (w, h) = rgb.dimensions();
                                if let Some(hash) = phash(rgb.as_raw(), w as usize, h as usize) {
                                    hashes.push(hash);
                                    labels.push(item.label.clone());
                                }
                                n += 1;
                            }
                        }
                        crate::stream::Event::Warning(w)
                        | crate::stream::Event::TruncatedShard(w) => problem = Some(w),
                        crate::stream::Event::Skip { .. } => {}
                    }
                    true
                });
                if let Some(w) = problem {
                    return Err(DataError::Format {
                        path: path.display().to_string(),
                        detail: format!(
                            "an evaluation shard cannot be read in full, so the pool cannot be checked against it: {w}"
                        ),
                    });
                }
            }
        }
        checked.insert(dir.display().to_string(), n);
    }
    Ok((hashes, labels, checked, unchecked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_concepts_match_whole_words_only() {
        let concepts = vec![normalise_words("Hot beverage"), normalise_words("cat")];
        assert_eq!(names_concept("hot-beverage icon", &concepts), Some(0));
        assert_eq!(names_concept("Cat face", &concepts), Some(1));
        assert_eq!(names_concept("category list", &concepts), None);
        assert_eq!(names_concept("hot water", &concepts), None);
    }

    #[test]
    fn licences_with_nc_or_nd_clauses_are_refused_by_default() {
        assert!(default_licence_ok("MIT"));
        assert!(default_licence_ok("CC-BY-SA-4.0"));
        assert!(!default_licence_ok("CC-BY-NC-4.0"));
        assert!(!default_licence_ok("CC-BY-NC-SA-4.0"));
        assert!(!default_licence_ok("CC-BY-ND-4.0"));
    }

    #[test]
    fn emoji_styles_map_to_their_iconify_sets() {
        assert_eq!(prefixes_of_style("fluent-flat"), ["fluent-emoji-flat"]);
        assert_eq!(prefixes_of_style("google-png"), ["noto"]);
        assert_eq!(prefixes_of_style("noto"), ["noto"]);
        assert!(prefixes_of_style("nonsense").is_empty());
    }
}
