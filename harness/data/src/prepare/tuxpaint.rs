//! Tux Paint's stamps as a real-photo retrieval set, from the Debian package
//! `tuxpaint-stamps-default` (GPL-2): `/usr/share/tuxpaint/stamps/<category>/.../<name>.png`
//! with a hand-written English caption in `<name>.txt` (first line; the other lines are
//! translations, `lang.utf8=...`). About 800 PNGs, most with a caption; many are cut-out
//! photographs (fruit, animals, vehicles), some drawings.
//!
//! Writes one split, `test` (retrieval evaluation): `key.png` (composited on white, fitted to
//! the square), `key.txt` (the caption), `key.json` (`caption`, `category`, `name`, `path`).
//! PNGs without a caption file (mirror variants and a few others) are skipped and counted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::image_ops::decode_to_square;
use super::writer::{ShardWriter, clear_shards};
use super::{
    Manifest, Source, SplitInfo, create_dir, debian_version, parallel_map, progress, worker_count,
    write_manifest,
};
use crate::error::DataError;
use crate::png::encode_rgb;

/// Where the Debian package installs the stamps.
pub const DEFAULT_ROOT: &str = "/usr/share/tuxpaint/stamps";
/// The Debian package.
pub const DEBIAN_PACKAGE: &str = "tuxpaint-stamps-default";

/// Arguments of `prepare tuxpaint`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct PrepareTuxpaintArgs {
    /// Output folder.
    #[arg(long, default_value = "data/tuxpaint")]
    pub out: PathBuf,
    /// The stamps folder.
    #[arg(long, default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Side of the square images in pixels.
    #[arg(long, default_value_t = 64)]
    pub image_size: u32,
    /// Only these top-level categories, comma-separated (default: all; e.g.
    /// `animals,food,vehicles` keeps mostly photographs and drops letters and symbols).
    #[arg(long, value_delimiter = ',')]
    pub categories: Vec<String>,
    /// Samples per shard.
    #[arg(long, default_value_t = 5000)]
    pub shard_size: usize,
    /// Worker threads for decoding (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Default for PrepareTuxpaintArgs {
    fn default() -> Self {
        Self {
            out: PathBuf::from("data/tuxpaint"),
            root: PathBuf::from(DEFAULT_ROOT),
            image_size: 64,
            categories: Vec::new(),
            shard_size: 5000,
            threads: None,
            quiet: false,
        }
    }
}

/// One stamp with its caption.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp {
    /// The PNG file.
    pub path: PathBuf,
    /// Path below the root, without extension, with `/` (`animals/mammals/badger`).
    pub rel: String,
    /// The English caption.
    pub caption: String,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, &e))?;
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "png") {
            out.push(p);
        }
    }
    Ok(())
}

/// The English caption of a stamp's `.txt` (first non-empty line, trimmed), if any.
fn read_caption(txt: &Path) -> Result<Option<String>, DataError> {
    if !txt.is_file() {
        return Ok(None);
    }
    let bytes = std::fs::read(txt).map_err(|e| DataError::io(txt, &e))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .find(|l| !l.is_empty() && !l.contains(".utf8="))
        .map(|l| l.trim_end_matches('|').trim().to_owned()))
}

/// Lists the captioned PNG stamps under `root` (sorted) and the number skipped for lack of a
/// caption.
pub fn list_stamps(root: &Path) -> Result<(Vec<Stamp>, usize), DataError> {
    if !root.is_dir() {
        return Err(DataError::MissingData {
            path: root.display().to_string(),
            install: format!(
                "install the Debian package with `apt-get install {DEBIAN_PACKAGE}` (or pass --root)"
            ),
        });
    }
    let mut pngs = Vec::new();
    walk(root, &mut pngs)?;
    let mut stamps = Vec::new();
    let mut skipped = 0;
    for path in pngs {
        match read_caption(&path.with_extension("txt"))? {
            Some(caption) if !caption.is_empty() => {
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .with_extension("")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                stamps.push(Stamp { path, rel, caption });
            }
            _ => skipped += 1,
        }
    }
    Ok((stamps, skipped))
}

/// A WebDataset key from a relative path: `/`, `.` and spaces become `_`.
fn key_of(rel: &str) -> String {
    rel.chars()
        .map(|c| {
            if c == '/' || c == '.' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Prepares the Tux Paint retrieval set (see the module docs).
pub fn prepare_tuxpaint(args: &PrepareTuxpaintArgs) -> Result<Manifest, DataError> {
    let started = Instant::now();
    if !(8..=1024).contains(&args.image_size) {
        return Err(DataError::InvalidImageSize {
            value: args.image_size as usize,
            min: 8,
            max: 1024,
        });
    }
    let size = args.image_size;
    let (mut stamps, skipped) = list_stamps(&args.root)?;
    let wanted: Vec<&str> = args
        .categories
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .collect();
    if !wanted.is_empty() {
        let present: std::collections::BTreeSet<&str> = stamps
            .iter()
            .filter_map(|s| s.rel.split('/').next())
            .collect();
        if let Some(bad) = wanted.iter().find(|w| !present.contains(**w)) {
            return Err(DataError::Format {
                path: args.root.display().to_string(),
                detail: format!(
                    "category {bad:?} has no captioned stamps; categories: {}",
                    present.into_iter().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        stamps.retain(|s| wanted.iter().any(|w| s.rel.split('/').next() == Some(*w)));
    }
    create_dir(&args.out)?;
    let dir = args.out.join("test");
    clear_shards(&dir)?;
    let mut writer = ShardWriter::new(&dir, "test", args.shard_size)?;
    let bar = progress(stamps.len(), args.quiet, "tuxpaint");
    let threads = worker_count(args.threads);
    let mut categories: BTreeMap<String, usize> = BTreeMap::new();
    for batch in stamps.chunks(128) {
        let pngs = parallel_map(batch, threads, |s| -> Result<Vec<u8>, DataError> {
            let bytes = std::fs::read(&s.path).map_err(|e| DataError::io(&s.path, &e))?;
            let rgb = decode_to_square(&bytes, size, &s.path.display().to_string())?;
            encode_rgb(size as usize, size as usize, &rgb)
        });
        for (s, png) in batch.iter().zip(pngs) {
            let png = png?;
            let category = s.rel.split('/').next().unwrap_or_default().to_owned();
            let name = s
                .rel
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .replace(['_', '-'], " ");
            let meta = serde_json::json!({
                "caption": s.caption, "category": category, "name": name, "path": s.rel,
            });
            writer.write(
                &key_of(&s.rel),
                &[
                    ("png", &png),
                    ("txt", s.caption.as_bytes()),
                    ("json", meta.to_string().as_bytes()),
                ],
            )?;
            *categories.entry(category).or_insert(0) += 1;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let (samples, shards) = writer.finish()?;
    let mut splits = BTreeMap::new();
    splits.insert("test".to_owned(), SplitInfo::new("test", samples, &shards));
    let manifest = Manifest {
        dataset: "tuxpaint".to_owned(),
        image_size: size,
        seed: 0,
        num_classes: 0,
        splits,
        per_style: BTreeMap::new(),
        sources: vec![Source {
            role: "photos and captions".to_owned(),
            package: DEBIAN_PACKAGE.to_owned(),
            version: debian_version(DEBIAN_PACKAGE),
            licence: "GPL-2.0-or-later".to_owned(),
        }],
        details: serde_json::json!({
            "root": args.root.display().to_string(),
            "skipped_without_caption": skipped,
            "categories": args.categories,
            "per_category": categories,
            "sample": "key.png (RGB), key.txt (caption), key.json (caption, category, name, path)",
        }),
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    write_manifest(&args.out, &manifest)?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions_and_keys() {
        let dir = std::env::temp_dir().join(format!("clipscale-tux-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let txt = dir.join("a.txt");
        std::fs::write(&txt, "\n  A ripe,  red tomato!  \nde.utf8=Eine Tomate.\n").unwrap();
        assert_eq!(
            read_caption(&txt).unwrap().as_deref(),
            Some("A ripe, red tomato!")
        );
        assert_eq!(read_caption(&dir.join("none.txt")).unwrap(), None);
        assert_eq!(
            key_of("food/fruit/sliced.orange"),
            "food_fruit_sliced_orange"
        );
        let err = list_stamps(&dir.join("missing")).unwrap_err().to_string();
        assert!(
            err.contains("apt-get install tuxpaint-stamps-default"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
