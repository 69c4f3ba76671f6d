//! Fashion-MNIST as a zero-shot classification set, from the Debian package
//! `dataset-fashion-mnist` (MIT): `/usr/share/datasets/fashion-mnist/
//! {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`, 70,000 28x28 grey product photos in 10
//! classes, in the IDX format (big-endian magic `0x0803` images / `0x0801` labels, then the
//! dimensions, then bytes).
//!
//! Writes splits `train` (60,000) and `test` (t10k, 10,000; the eval split) as WebDataset
//! shards: `key.png` (RGB, grey replicated; resized if `--image-size` is not 28), `key.txt`
//! ("a photo of a sandal.", "a photo of an ankle boot."), `key.json` (`class`, `label`, `split`, `index`), plus
//! `classnames.txt` and `templates.txt`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::image_ops::fit_square;
use super::writer::{ShardWriter, clear_shards};
use super::{
    Manifest, Source, SplitInfo, create_dir, debian_version, progress, write_atomic, write_manifest,
};
use crate::error::DataError;
use crate::png::encode_rgb;

/// Where the Debian package installs the files.
pub const DEFAULT_ROOT: &str = "/usr/share/datasets/fashion-mnist";
/// The Debian package.
pub const DEBIAN_PACKAGE: &str = "dataset-fashion-mnist";

/// The ten class names, in label order.
pub const CLASSNAMES: [&str; 10] = [
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
];

/// Zero-shot prompt templates (`{c}` = class name).
pub const TEMPLATES: [&str; 6] = [
    "a photo of a {c}.",
    "a black and white photo of a {c}.",
    "a low resolution photo of a {c}.",
    "a photo of the {c}, a type of clothing.",
    "a product photo of a {c}.",
    "a grey photo of a {c}.",
];

/// Arguments of `prepare fashion-mnist`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct PrepareFashionMnistArgs {
    /// Output folder.
    #[arg(long, default_value = "data/fashion-mnist")]
    pub out: PathBuf,
    /// Folder holding the four `.gz` IDX files.
    #[arg(long, default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Side of the square images (28 keeps the originals).
    #[arg(long, default_value_t = 28)]
    pub image_size: u32,
    /// Write at most this many samples per split (the first ones).
    #[arg(long)]
    pub max_per_split: Option<usize>,
    /// Samples per shard.
    #[arg(long, default_value_t = 10000)]
    pub shard_size: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Default for PrepareFashionMnistArgs {
    fn default() -> Self {
        Self {
            out: PathBuf::from("data/fashion-mnist"),
            root: PathBuf::from(DEFAULT_ROOT),
            image_size: 28,
            max_per_split: None,
            shard_size: 10000,
            quiet: false,
        }
    }
}

/// Images of one IDX file: `count` images of `rows` x `cols` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxImages {
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / (self.rows * self.cols).max(1)
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }
}

fn read_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    if !path.is_file() {
        return Err(DataError::MissingData {
            path: path.display().to_string(),
            install: format!(
                "install the Debian package with `apt-get install {DEBIAN_PACKAGE}` (or pass --root)"
            ),
        });
    }
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, &e))?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::io::BufReader::new(file))
        .read_to_end(&mut out)
        .map_err(|e| DataError::Format {
            path: path.display().to_string(),
            detail: format!("not a gzip file: {e}"),
        })?;
    Ok(out)
}

fn be_u32(bytes: &[u8], at: usize, path: &Path) -> Result<usize, DataError> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(|| DataError::Format {
            path: path.display().to_string(),
            detail: format!("truncated IDX header ({} bytes)", bytes.len()),
        })
}

/// Parses a gzip'd IDX image file (magic 0x00000803).
pub fn read_idx_images(path: &Path) -> Result<IdxImages, DataError> {
    let bytes = read_gz(path)?;
    let magic = be_u32(&bytes, 0, path)?;
    if magic != 0x0803 {
        return Err(DataError::Format {
            path: path.display().to_string(),
            detail: format!(
                "IDX magic is {magic:#010x}, expected 0x00000803 (u8 images, 3 dimensions)"
            ),
        });
    }
    let (n, rows, cols) = (
        be_u32(&bytes, 4, path)?,
        be_u32(&bytes, 8, path)?,
        be_u32(&bytes, 12, path)?,
    );
    let expected = n * rows * cols;
    let pixels = bytes[16..].to_vec();
    if pixels.len() != expected {
        return Err(DataError::Format {
            path: path.display().to_string(),
            detail: format!(
                "{n} images of {rows}x{cols} need {expected} bytes, found {}",
                pixels.len()
            ),
        });
    }
    Ok(IdxImages { rows, cols, pixels })
}

/// Parses a gzip'd IDX label file (magic 0x00000801); every label must be below 10.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = read_gz(path)?;
    let magic = be_u32(&bytes, 0, path)?;
    if magic != 0x0801 {
        return Err(DataError::Format {
            path: path.display().to_string(),
            detail: format!("IDX magic is {magic:#010x}, expected 0x00000801 (u8 labels)"),
        });
    }
    let n = be_u32(&bytes, 4, path)?;
    let labels = bytes[8..].to_vec();
    if labels.len() != n {
        return Err(DataError::Format {
            path: path.display().to_string(),
            detail: format!("header says {n} labels, found {}", labels.len()),
        });
    }
    if let Some((i, &bad)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| **l as usize >= CLASSNAMES.len())
    {
        return Err(DataError::Format {
            path: path.display().to_string(),
            detail: format!("label {i} is {bad}, expected 0..=9"),
        });
    }
    Ok(labels)
}

/// Prepares Fashion-MNIST (see the module docs).
pub fn prepare_fashion_mnist(args: &PrepareFashionMnistArgs) -> Result<Manifest, DataError> {
    let started = Instant::now();
    if !(8..=1024).contains(&args.image_size) {
        return Err(DataError::InvalidImageSize {
            value: args.image_size as usize,
            min: 8,
            max: 1024,
        });
    }
    let size = args.image_size;
    create_dir(&args.out)?;
    let mut splits = BTreeMap::new();
    for (split, prefix) in [("train", "train"), ("test", "t10k")] {
        let images = read_idx_images(&args.root.join(format!("{prefix}-images-idx3-ubyte.gz")))?;
        let labels_path = args.root.join(format!("{prefix}-labels-idx1-ubyte.gz"));
        let labels = read_idx_labels(&labels_path)?;
        if labels.len() != images.len() {
            return Err(DataError::Format {
                path: labels_path.display().to_string(),
                detail: format!("{} labels for {} images", labels.len(), images.len()),
            });
        }
        let n = args
            .max_per_split
            .map_or(images.len(), |m| m.min(images.len()));
        let dir = args.out.join(split);
        clear_shards(&dir)?;
        let mut writer = ShardWriter::new(&dir, split, args.shard_size)?;
        let bar = progress(n, args.quiet, split);
        for (i, &label_byte) in labels.iter().enumerate().take(n) {
            let grey = images.image(i);
            let rgb: Vec<u8> = grey.iter().flat_map(|&g| [g, g, g]).collect();
            let origin = format!("{prefix} image {i}");
            let rgb = fit_square(rgb, images.cols as u32, images.rows as u32, size, &origin)?;
            let png = encode_rgb(size as usize, size as usize, &rgb)?;
            let class = label_byte as usize;
            let label = CLASSNAMES[class];
            let article = if label.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            let caption = format!("a photo of {article} {label}.");
            let meta =
                serde_json::json!({"class": class, "label": label, "split": split, "index": i});
            writer.write(
                &format!("{split}_{i:05}"),
                &[
                    ("png", &png),
                    ("txt", caption.as_bytes()),
                    ("json", meta.to_string().as_bytes()),
                ],
            )?;
            bar.inc(1);
        }
        bar.finish_and_clear();
        let (samples, shards) = writer.finish()?;
        splits.insert(split.to_owned(), SplitInfo::new(split, samples, &shards));
    }
    let classnames: String = CLASSNAMES.iter().map(|c| format!("{c}\n")).collect();
    write_atomic(&args.out.join("classnames.txt"), classnames.as_bytes())?;
    let templates: String = TEMPLATES.iter().map(|t| format!("{t}\n")).collect();
    write_atomic(&args.out.join("templates.txt"), templates.as_bytes())?;
    let manifest = Manifest {
        dataset: "fashion-mnist".to_owned(),
        image_size: size,
        seed: 0,
        num_classes: CLASSNAMES.len(),
        splits,
        per_style: BTreeMap::new(),
        sources: vec![Source {
            role: "images and labels".to_owned(),
            package: DEBIAN_PACKAGE.to_owned(),
            version: debian_version(DEBIAN_PACKAGE),
            licence: "MIT".to_owned(),
        }],
        details: serde_json::json!({
            "root": args.root.display().to_string(),
            "eval_split": "test",
            "max_per_split": args.max_per_split,
            "files": ["classnames.txt", "templates.txt"],
            "sample": "key.png (RGB), key.txt (a photo of a(n) <class>.), key.json (class, label, split, index)",
        }),
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    write_manifest(&args.out, &manifest)?;
    Ok(manifest)
}
