//! The multi-style emoji data set: one Unicode emoji concept ("hot beverage") drawn by up to
//! 11 vendors, captioned from emojibase's label, tags, group and subgroup.
//!
//! Sources (npm, fetched by [`super::npm`]); only styles whose licence permits reuse (Apple's
//! and Facebook's images are excluded):
//!
//! | style | package | kind | licence |
//! |---|---|---|---|
//! | `noto` | `@iconify-json/noto@1.2.9` | SVG | Apache-2.0 |
//! | `twemoji` | `@iconify-json/twemoji@1.2.5` | SVG | CC-BY-4.0 |
//! | `openmoji` | `@iconify-json/openmoji@1.2.29` | SVG (line art) | CC-BY-SA-4.0 |
//! | `fluent-flat` | `@iconify-json/fluent-emoji-flat@1.2.6` | SVG | MIT |
//! | `fluent-high-contrast` | `@iconify-json/fluent-emoji-high-contrast@1.2.6` | SVG, mono | MIT |
//! | `noto-v1` | `@iconify-json/noto-v1@1.2.5` | SVG | Apache-2.0 |
//! | `emojione` | `@iconify-json/emojione@1.2.3` | SVG | CC-BY-4.0 |
//! | `emojione-monotone` | `@iconify-json/emojione-monotone@1.2.1` | SVG, mono | CC-BY-4.0 |
//! | `google-png` | `emoji-datasource-google@16.0.0` | 64 px PNG (Noto art) | Apache-2.0 |
//! | `twitter-png` | `emoji-datasource-twitter@16.0.0` | 64 px PNG (Twemoji art) | CC-BY-4.0 |
//! | `fluent-3d` | `@lobehub/fluent-emoji-3d@1.1.0` | 256 px WebP, 3D render | MIT |
//!
//! Captions: `emojibase-data@17.0.0` (MIT) `en/data.json`. Concepts are its entries outside
//! the component and flag groups (1,644; skin-tone variants are not separate concepts), in
//! emojibase order, class index = line of `classnames.txt`.
//!
//! Joining icons to concepts: Iconify sets through `chars.json` (code points, `fe0f` ignored),
//! else by name (the label as a slug: "hot beverage" -> `hot-beverage`); bitmap packages by
//! code point. Iconify aliases are resolved, with their flips and rotations. Each SVG icon is
//! wrapped as a document with the icon's (or set's) view box and `color="black"` (so
//! `currentColor` in the mono sets is black), rendered with resvg and composited on white;
//! bitmaps are composited on white and resized (Lanczos3) to the square.
//!
//! Splits, by style (training styles vs held-out styles, default held out: `fluent-flat` and
//! `fluent-3d`) and by concept (a seeded ~10% of concepts never seen in training):
//! `train` (training style, training concept), `heldout_style`, `heldout_concept` and
//! `heldout_both`. Note that `google-png` shares its art with `noto` and `twitter-png` with
//! `twemoji`: hold such pairs out together.
//!
//! `--reduced` is the CI-sized path: the four small SVG sets (`twemoji`, `openmoji`,
//! `fluent-flat`, `fluent-high-contrast`, about 5 MB of tarballs plus emojibase's 7 MB),
//! holding out `fluent-flat`, and 100 concepts; explicit `--styles`, `--holdout-styles` and
//! `--max-concepts` override it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use unicode_normalization::UnicodeNormalization;

use super::image_ops::{decode_to_square, render_svg};
use super::npm::{NpmPackage, PackageSource};
use super::writer::{ShardWriter, clear_shards};
use super::{
    Manifest, Source, SplitInfo, create_dir, default_cache_dir, parallel_map, progress, read_json,
    stable_hash, worker_count, write_atomic, write_manifest,
};
use crate::error::DataError;
use crate::png::encode_rgb;

mod sources;
mod styles;
use sources::*;
pub(crate) use sources::{IconifyIcon, iconify_icons};
pub(crate) use styles::STYLES;
use styles::*;

/// Arguments of `prepare emoji`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct PrepareEmojiArgs {
    /// Output folder (shards under <out>/<split>/, plus manifest.json, classnames.txt,
    /// templates.txt, concepts.json).
    #[arg(long, default_value = "data/emoji")]
    pub out: PathBuf,
    /// Side of the square images in pixels.
    #[arg(long, default_value_t = 64)]
    pub image_size: u32,
    /// Styles to include, comma-separated (default: all 11, or the reduced set).
    #[arg(long, value_delimiter = ',')]
    pub styles: Vec<String>,
    /// Styles held out of training, comma-separated, or `none`
    /// (default: fluent-flat,fluent-3d; reduced: fluent-flat).
    #[arg(long, value_delimiter = ',')]
    pub holdout_styles: Vec<String>,
    /// Fraction of concepts held out of training entirely (seeded choice).
    #[arg(long, default_value_t = 0.1)]
    pub heldout_concept_fraction: f64,
    /// Use at most this many concepts (a seeded subset).
    #[arg(long)]
    pub max_concepts: Option<usize>,
    /// CI-sized run: small SVG sets only and 100 concepts (see the module docs).
    #[arg(long)]
    pub reduced: bool,
    /// Seed of the concept split, the concept subset and caption phrasing.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Download cache (default: $CLIPSCALE_CACHE or ~/.cache/clipscale); npm tarballs go to
    /// <cache>/npm.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Folder of already-fetched packages (tarballs or unpacked); npm is never run.
    #[arg(long)]
    pub packages: Option<PathBuf>,
    /// Samples per shard.
    #[arg(long, default_value_t = 5000)]
    pub shard_size: usize,
    /// Worker threads for rendering (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Default for PrepareEmojiArgs {
    fn default() -> Self {
        Self {
            out: PathBuf::from("data/emoji"),
            image_size: 64,
            styles: Vec::new(),
            holdout_styles: Vec::new(),
            heldout_concept_fraction: 0.1,
            max_concepts: None,
            reduced: false,
            seed: 0,
            cache: None,
            packages: None,
            shard_size: 5000,
            threads: None,
            quiet: false,
        }
    }
}

/// Valid style names, for error messages.
pub const STYLE_NAMES: &str = "noto, twemoji, openmoji, fluent-flat, fluent-high-contrast, noto-v1, emojione, emojione-monotone, google-png, twitter-png, fluent-3d (Apple and Facebook images are not licensed for reuse)";
/// Styles of the reduced (CI) run.
pub const REDUCED_STYLES: [&str; 4] =
    ["twemoji", "openmoji", "fluent-flat", "fluent-high-contrast"];
/// Default held-out styles.
pub const DEFAULT_HOLDOUT: [&str; 2] = ["fluent-flat", "fluent-3d"];
/// Concepts of the reduced run.
pub const REDUCED_CONCEPTS: usize = 100;

/// The caption source.
const EMOJIBASE: NpmPackage = NpmPackage {
    name: "emojibase-data",
    version: "17.0.0",
};

/// Zero-shot prompt templates (`{c}` = class name), written to `templates.txt`.
pub const TEMPLATES: [&str; 8] = [
    "an emoji of {c}.",
    "a {c} emoji.",
    "{c}",
    "an icon of {c}.",
    "a drawing of {c}.",
    "a picture of {c}.",
    "a small image showing {c}.",
    "the emoji for {c}.",
];

/// Names of the four splits.
pub const SPLITS: [&str; 4] = ["train", "heldout_style", "heldout_concept", "heldout_both"];

/// Prepares the emoji data set (see the module docs) and returns its manifest.
pub fn prepare_emoji(args: &PrepareEmojiArgs) -> Result<Manifest, DataError> {
    let started = Instant::now();
    if !(16..=1024).contains(&args.image_size) {
        return Err(DataError::InvalidImageSize {
            value: args.image_size as usize,
            min: 16,
            max: 1024,
        });
    }
    if !(0.0..1.0).contains(&args.heldout_concept_fraction) {
        return Err(DataError::InvalidOption {
            name: "heldout_concept_fraction",
            value: args.heldout_concept_fraction.to_string(),
            valid: "0 <= fraction < 1",
        });
    }
    let (styles, style_heldout) = resolve_styles(args)?;
    let source = match &args.packages {
        Some(dir) => PackageSource::Local(dir.clone()),
        None => PackageSource::Cache(args.cache.clone().unwrap_or_else(default_cache_dir)),
    };
    let seed = args.seed;
    let size = args.image_size;

    // Concepts: all, or a seeded subset; then the seeded held-out fraction.
    let max_concepts = args.max_concepts.or(if args.reduced {
        Some(REDUCED_CONCEPTS)
    } else {
        None
    });
    let concepts = choose_concepts(&source.get(&EMOJIBASE)?, max_concepts, args)?;

    // Join every style; fetch packages first (they may need the network).
    let mut jobs = Vec::new();
    let mut sources = Vec::new();
    let mut coverage = BTreeMap::new();
    for (si, &style_idx) in styles.iter().enumerate() {
        let def = &STYLES[style_idx];
        let dir = source.get(&def.package)?;
        let (found, licence) = join_style(def, &dir, &concepts, size)?;
        let licence = licence.unwrap_or_else(|| def.licence.to_owned());
        sources.push(Source {
            role: format!("style {}", def.name),
            package: def.package.name.to_owned(),
            version: def.package.version.to_owned(),
            licence,
        });
        coverage.insert(def.name.to_owned(), found.len());
        let mut found: Vec<(usize, ImageSource)> = found.into_iter().collect();
        found.sort_by_key(|(ci, _)| *ci);
        for (ci, src) in found {
            let split = match (style_heldout[si], concepts[ci].heldout) {
                (false, false) => 0,
                (true, false) => 1,
                (false, true) => 2,
                (true, true) => 3,
            };
            jobs.push(Job {
                split,
                style: si,
                concept: ci,
                source: src,
            });
        }
    }
    sources.push(Source {
        role: "captions and concepts".to_owned(),
        package: EMOJIBASE.name.to_owned(),
        version: EMOJIBASE.version.to_owned(),
        licence: "MIT".to_owned(),
    });
    // Output order: split, style, concept (stable sort keeps style/concept order).
    jobs.sort_by_key(|j| (j.split, j.style, j.concept));

    // Output folder: clear old shards of every split.
    create_dir(&args.out)?;
    for split in SPLITS {
        clear_shards(&args.out.join(split))?;
    }
    let (splits, per_style) = write_splits(args, &jobs, &concepts, &styles)?;

    write_class_files(&args.out, &concepts)?;

    let style_names: Vec<&str> = styles.iter().map(|&s| STYLES[s].name).collect();
    let heldout_styles: Vec<&str> = style_names
        .iter()
        .zip(&style_heldout)
        .filter(|(_, h)| **h)
        .map(|(n, _)| *n)
        .collect();
    let heldout_concepts: Vec<&str> = concepts
        .iter()
        .filter(|c| c.heldout)
        .map(|c| c.label.as_str())
        .collect();
    let manifest = Manifest {
        dataset: "emoji".to_owned(),
        image_size: size,
        seed,
        num_classes: concepts.len(),
        splits,
        per_style,
        sources,
        details: serde_json::json!({
            "styles": style_names,
            "heldout_styles": heldout_styles,
            "concepts": concepts.len(),
            "heldout_concept_fraction": args.heldout_concept_fraction,
            "heldout_concepts": heldout_concepts,
            "icons_joined_per_style": coverage,
            "reduced": args.reduced,
            "max_concepts": max_concepts,
            "shard_size": args.shard_size,
            "files": ["classnames.txt", "templates.txt", "concepts.json"],
            "sample": "key.png (RGB), key.txt (one caption), key.json (concept, class, style, group, subgroup, split, tags, captions)",
        }),
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    write_manifest(&args.out, &manifest)?;
    Ok(manifest)
}

/// The concepts of emojibase's list: all, or a subset of `max` chosen by the seed; each
/// numbered and marked held out by the seed's draw.
fn choose_concepts(
    base_dir: &Path,
    max: Option<usize>,
    args: &PrepareEmojiArgs,
) -> Result<Vec<Concept>, DataError> {
    let seed = args.seed;
    let mut concepts = load_concepts(base_dir)?;
    if let Some(max) = max
        && max < concepts.len()
    {
        let mut keyed: Vec<(u64, usize)> = concepts
            .iter()
            .enumerate()
            .map(|(i, c)| (stable_hash(seed, &format!("subset:{}", c.key)), i))
            .collect();
        keyed.sort_unstable();
        let mut keep: Vec<usize> = keyed.into_iter().take(max).map(|(_, i)| i).collect();
        keep.sort_unstable();
        concepts = keep.into_iter().map(|i| concepts[i].clone()).collect();
    }
    let threshold = (args.heldout_concept_fraction * 10_000.0).round() as u64;
    for (i, c) in concepts.iter_mut().enumerate() {
        c.class = i;
        c.heldout = stable_hash(seed, &format!("concept:{}", c.key)) % 10_000 < threshold;
    }
    Ok(concepts)
}

/// Writes the class names, the prompt templates and the concepts beside the shards.
fn write_class_files(out: &Path, concepts: &[Concept]) -> Result<(), DataError> {
    let classnames: String = concepts.iter().map(|c| format!("{}\n", c.label)).collect();
    write_atomic(&out.join("classnames.txt"), classnames.as_bytes())?;
    let templates: String = TEMPLATES.iter().map(|t| format!("{t}\n")).collect();
    write_atomic(&out.join("templates.txt"), templates.as_bytes())?;
    let concept_json: Vec<serde_json::Value> = concepts
        .iter()
        .map(|c| {
            serde_json::json!({
                "class": c.class, "label": c.label, "hexcode": c.hexcode, "emoji": c.emoji,
                "group": c.group, "subgroup": c.subgroup, "tags": c.tags, "heldout": c.heldout,
            })
        })
        .collect();
    let concept_text = serde_json::to_string_pretty(&concept_json).unwrap_or_default();
    write_atomic(
        &out.join("concepts.json"),
        format!("{concept_text}\n").as_bytes(),
    )?;
    Ok(())
}

/// What [`write_splits`] wrote: the splits, and the samples of each style in each split.
type Written = (
    BTreeMap<String, SplitInfo>,
    BTreeMap<String, BTreeMap<String, usize>>,
);

/// Renders every job (in split, style, concept order) and writes the shards of each split.
fn write_splits(
    args: &PrepareEmojiArgs,
    jobs: &[Job],
    concepts: &[Concept],
    styles: &[usize],
) -> Result<Written, DataError> {
    let (seed, size) = (args.seed, args.image_size);
    let caption_lists: Vec<Vec<String>> = concepts.iter().map(|c| captions(c, seed)).collect();
    let threads = worker_count(args.threads);
    let bar = progress(jobs.len(), args.quiet, "emoji");
    let mut splits = BTreeMap::new();
    let mut per_style: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut start = 0;
    while start < jobs.len() {
        let split = jobs[start].split;
        let end = start
            + jobs[start..]
                .iter()
                .take_while(|j| j.split == split)
                .count();
        let split_name = SPLITS[split];
        let mut writer = ShardWriter::new(&args.out.join(split_name), split_name, args.shard_size)?;
        for batch in jobs[start..end].chunks(256) {
            let rendered = parallel_map(batch, threads, |job| -> Result<Vec<u8>, DataError> {
                let rgb = match &job.source {
                    ImageSource::Svg(doc) => {
                        let origin = format!(
                            "{} icon for {}",
                            STYLES[styles[job.style]].name, concepts[job.concept].label
                        );
                        render_svg(doc, size, &origin)?
                    }
                    ImageSource::File(path) => {
                        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, &e))?;
                        decode_to_square(&bytes, size, &path.display().to_string())?
                    }
                };
                encode_rgb(size as usize, size as usize, &rgb)
            });
            for (job, png) in batch.iter().zip(rendered) {
                let png = png?;
                let style_name = STYLES[styles[job.style]].name;
                let c = &concepts[job.concept];
                let key = format!("{style_name}_{}", c.key);
                let caps = &caption_lists[job.concept];
                let pick =
                    (stable_hash(seed, &format!("caption:{key}")) % caps.len() as u64) as usize;
                let meta = serde_json::json!({
                    "key": key,
                    "concept": c.label,
                    "class": c.class,
                    "hexcode": c.hexcode,
                    "emoji": c.emoji,
                    "style": style_name,
                    "group": c.group,
                    "subgroup": c.subgroup,
                    "tags": c.tags,
                    "split": split_name,
                    "captions": caps,
                });
                writer.write(
                    &key,
                    &[
                        ("png", &png),
                        ("txt", caps[pick].as_bytes()),
                        ("json", meta.to_string().as_bytes()),
                    ],
                )?;
                *per_style
                    .entry(style_name.to_owned())
                    .or_default()
                    .entry(split_name.to_owned())
                    .or_insert(0) += 1;
                bar.inc(1);
            }
        }
        let (n, shards) = writer.finish()?;
        splits.insert(
            split_name.to_owned(),
            SplitInfo::new(split_name, n, &shards),
        );
        start = end;
    }
    bar.finish_and_clear();
    Ok((splits, per_style))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_slugs_join_across_packages() {
        assert_eq!(norm_key("2615"), "2615");
        assert_eq!(norm_key("0023-FE0F-20E3"), "23-20e3");
        assert_eq!(norm_key("1f468-200d-1f469"), "1f468-200d-1f469");
        assert_eq!(slugs("hot beverage"), ["hot-beverage"]);
        assert_eq!(slugs("man’s shoe"), ["mans-shoe", "man-s-shoe"]);
        assert_eq!(slugs("piñata"), ["pinata"]);
    }

    #[test]
    fn captions_vary_and_name_the_concept() {
        let c = Concept {
            class: 0,
            key: "2615".into(),
            hexcode: "2615".into(),
            emoji: "☕".into(),
            label: "hot beverage".into(),
            tags: vec!["coffee".into(), "tea".into(), "drink".into()],
            group: "food & drink".into(),
            subgroup: "drink".into(),
            heldout: false,
        };
        let caps = captions(&c, 0);
        assert!(caps.len() >= 10);
        assert!(caps.iter().all(|s| s.contains("hot beverage")));
        assert!(caps.contains(&"an emoji of a hot beverage".to_owned()));
        assert_eq!(caps, captions(&c, 0));
    }

    #[test]
    fn style_options_are_checked() {
        let mut args = PrepareEmojiArgs::default();
        let (s, h) = resolve_styles(&args).unwrap();
        assert_eq!(s.len(), 11);
        assert_eq!(h.iter().filter(|x| **x).count(), 2);
        args.styles = vec!["apple".into()];
        let err = resolve_styles(&args).unwrap_err().to_string();
        assert!(
            err.contains("apple") && err.contains("not licensed"),
            "{err}"
        );
        args.styles = vec!["noto".into(), "twemoji".into()];
        args.holdout_styles = vec!["openmoji".into()];
        assert!(resolve_styles(&args).is_err());
        args.holdout_styles = vec!["none".into()];
        assert_eq!(resolve_styles(&args).unwrap().1, [false, false]);
        let reduced = PrepareEmojiArgs {
            reduced: true,
            ..Default::default()
        };
        let (s, h) = resolve_styles(&reduced).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(h.iter().filter(|x| **x).count(), 1);
    }

    #[test]
    fn flipped_icons_get_a_transform() {
        let icon = IconifyIcon {
            body: "<path/>".into(),
            left: 0.0,
            top: 0.0,
            width: 32.0,
            height: 32.0,
            rotate: 0,
            h_flip: true,
            v_flip: false,
            hidden: false,
        };
        let doc = icon.document(64);
        assert!(doc.contains("translate(32 0) scale(-1 1)"), "{doc}");
        assert!(doc.contains("viewBox=\"0 0 32 32\"") && doc.contains("color=\"black\""));
    }
}
