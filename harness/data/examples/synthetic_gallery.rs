//! Writes PNG grids of synthetic samples with their captions in a text file next to them.
//!
//! `cargo run -p clipscale-data --example synthetic_gallery -- [OUT_DIR] [SEED] [SIZES...]`
//! (defaults: /tmp/clipscale_gallery, seed 0, sizes 32 and 64). For each size it writes
//! `train_{size}.png` (32 training samples, 8 per row) and `heldout_{size}.png` (16 held-out
//! samples), each tile upscaled to about 128 px, plus `*_captions.txt`.

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;

use clipscale_data::{Sample, Synthetic, SyntheticConfig, png, to_rgb8};

const COLUMNS: usize = 8;
const GAP: usize = 4;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out_dir = PathBuf::from(
        args.first()
            .map_or("/tmp/clipscale_gallery", String::as_str),
    );
    let seed: u64 = args.get(1).map_or(Ok(0), |s| s.parse())?;
    let sizes: Vec<usize> = if args.len() > 2 {
        args[2..]
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()?
    } else {
        vec![32, 64]
    };
    std::fs::create_dir_all(&out_dir)?;
    for size in sizes {
        let data = Synthetic::new(SyntheticConfig {
            seed,
            image_size: size,
        })?;
        let names = data.class_names();
        let train: Vec<Sample> = (0..32).map(|i| data.train_sample(i)).collect();
        let heldout: Vec<Sample> = (0..16).map(|i| data.heldout_sample(i)).collect();
        for (name, samples) in [("train", train), ("heldout", heldout)] {
            let png_path = out_dir.join(format!("{name}_{size}.png"));
            std::fs::write(&png_path, grid(&samples, size)?)?;
            let mut text = String::new();
            for (i, s) in samples.iter().enumerate() {
                let class = &names[s.class_index];
                writeln!(
                    text,
                    "row {} col {}: [{class}] {}",
                    i / COLUMNS,
                    i % COLUMNS,
                    s.caption
                )?;
            }
            std::fs::write(out_dir.join(format!("{name}_{size}_captions.txt")), text)?;
            println!("wrote {}", png_path.display());
        }
    }
    Ok(())
}

/// Tiles the samples into one PNG, each upscaled (nearest neighbour) to about 128 px.
fn grid(samples: &[Sample], size: usize) -> Result<Vec<u8>, Box<dyn Error>> {
    let scale = (128 / size).max(1);
    let tile = size * scale;
    let rows = samples.len().div_ceil(COLUMNS);
    let width = COLUMNS * (tile + GAP) + GAP;
    let height = rows * (tile + GAP) + GAP;
    let mut rgb = vec![40u8; width * height * 3];
    for (i, sample) in samples.iter().enumerate() {
        let pixels = to_rgb8(&sample.image, size)?;
        let (x0, y0) = (
            GAP + (i % COLUMNS) * (tile + GAP),
            GAP + (i / COLUMNS) * (tile + GAP),
        );
        for y in 0..tile {
            for x in 0..tile {
                let src = ((y / scale) * size + x / scale) * 3;
                let dst = ((y0 + y) * width + x0 + x) * 3;
                rgb[dst..dst + 3].copy_from_slice(&pixels[src..src + 3]);
            }
        }
    }
    Ok(png::encode_rgb(width, height, &rgb)?)
}
