//! Keeping the evaluation sets out of the pool: the emoji folder's held-out styles (whole
//! Iconify sets) and concepts (captions naming them), and the perceptual hashes of every image
//! of the evaluation folders' non-training splits, near which a pool image is dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::normalise_words;
use super::phash::{HashIndex, phash};
use super::prepare::{DEFAULT_EMOJI_DIR, DEFAULT_EVAL_DIRS, PreparePoolArgs};
use crate::error::DataError;
use crate::prepare::Manifest;
use crate::prepare::emoji::STYLES;
use crate::webdataset::read_shard;

/// What the held-out side of the emoji folder says.
#[derive(Default)]
pub(super) struct EmojiHoldout {
    pub(super) dir: Option<PathBuf>,
    pub(super) styles: Vec<String>,
    /// Held-out concept labels, normalised (lowercase words separated by single spaces).
    pub(super) concepts: Vec<String>,
}

/// The held-out concepts named in a caption (whole words), by position in `concepts`.
pub(super) fn names_concept(caption: &str, concepts: &[String]) -> Option<usize> {
    let padded = format!(" {} ", normalise_words(caption));
    concepts
        .iter()
        .position(|c| !c.is_empty() && padded.contains(&format!(" {c} ")))
}

/// The Iconify prefixes that draw an emoji style (the bitmap styles share their art with an
/// Iconify set: google-png is Noto's, twitter-png Twemoji's, fluent-3d Fluent's).
pub(super) fn prefixes_of_style(style: &str) -> Vec<String> {
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

/// The evaluation images' hashes, and what each one is (`folder:shard:key`).
pub(super) struct EvalImages {
    pub(super) index: HashIndex,
    pub(super) labels: Vec<String>,
}

/// The emoji folder's held-out styles and concepts (none without an emoji folder).
pub(super) fn emoji_holdout(args: &PreparePoolArgs) -> Result<EmojiHoldout, DataError> {
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
pub(super) fn eval_hashes(
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
    fn emoji_styles_map_to_their_iconify_sets() {
        assert_eq!(prefixes_of_style("fluent-flat"), ["fluent-emoji-flat"]);
        assert_eq!(prefixes_of_style("google-png"), ["noto"]);
        assert_eq!(prefixes_of_style("noto"), ["noto"]);
        assert!(prefixes_of_style("nonsense").is_empty());
    }
}
