//! Writes the small data fixtures the tests read, under `harness/data/tests/fixtures/`:
//!
//! - `wds/clean-{000..002}.tar`: nine good samples (RGB, RGBA, palette, greyscale PNGs; JPEGs
//!   named `.jpg`, `.jpeg` and `.JPG`; a lossless WebP), some with a `.json` member;
//! - `wds/bad-000.tar`: two good samples among one without caption, one without image, a
//!   corrupt JPEG, a non-UTF-8 caption, an empty caption and a member without extension;
//! - `wds/truncated-000.tar`: three samples, cut inside the third image;
//! - `csv/train.tsv` (open_clip's default columns, tab-separated) and `csv/custom.csv`
//!   (comma-separated, other column names, a quoted caption) over `csv/images/`.
//!
//! The output is deterministic. `wds/python-000.tar` is not written here: it comes from
//! Python's `tarfile` (see `tests/fixtures/README.md`).
//!
//! `cargo run -p clipscale-data --example make_fixtures [-- OUT_DIR]`

use std::error::Error;
use std::path::{Path, PathBuf};

use clipscale_data::png::encode_rgb;
use clipscale_data::tarfile::write_tar;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder};

type Res<T> = Result<T, Box<dyn Error>>;

/// A solid `w x h` RGB image with a darker first row (so orientation is visible).
fn solid(w: u32, h: u32, c: [u8; 3]) -> Vec<u8> {
    (0..w * h)
        .flat_map(|i| if i < w { c.map(|v| v / 2) } else { c })
        .collect()
}

fn png_rgb(w: u32, h: u32, c: [u8; 3]) -> Res<Vec<u8>> {
    Ok(encode_rgb(w as usize, h as usize, &solid(w, h, c))?)
}

fn jpeg(w: u32, h: u32, c: [u8; 3]) -> Res<Vec<u8>> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 85).encode(
        &solid(w, h, c),
        w,
        h,
        ExtendedColorType::Rgb8,
    )?;
    Ok(out)
}

/// RGBA: left half fully transparent (black underneath), right half opaque `c`.
fn rgba_pixels(w: u32, h: u32, c: [u8; 3]) -> Vec<u8> {
    (0..w * h)
        .flat_map(|i| {
            if i % w < w / 2 {
                [0, 0, 0, 0]
            } else {
                [c[0], c[1], c[2], 255]
            }
        })
        .collect()
}

fn png_rgba(w: u32, h: u32, c: [u8; 3]) -> Res<Vec<u8>> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out).write_image(&rgba_pixels(w, h, c), w, h, ExtendedColorType::Rgba8)?;
    Ok(out)
}

fn png_grey(w: u32, h: u32, v: u8) -> Res<Vec<u8>> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out).write_image(
        &vec![v; (w * h) as usize],
        w,
        h,
        ExtendedColorType::L8,
    )?;
    Ok(out)
}

fn webp_rgba(w: u32, h: u32, c: [u8; 3]) -> Res<Vec<u8>> {
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out).encode(
        &rgba_pixels(w, h, c),
        w,
        h,
        ExtendedColorType::Rgba8,
    )?;
    Ok(out)
}

/// An 8-bit palette PNG: top half palette entry 0, bottom half entry 1.
fn png_palette(w: u32, h: u32, palette: [[u8; 3]; 2]) -> Res<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(palette.as_flattened().to_vec());
    let mut writer = encoder.write_header()?;
    let indices: Vec<u8> = (0..h)
        .flat_map(|y| (0..w).map(move |_| u8::from(y >= h / 2)))
        .collect();
    writer.write_image_data(&indices)?;
    writer.finish()?;
    Ok(out)
}

fn member(name: &str, data: impl Into<Vec<u8>>) -> (String, Vec<u8>) {
    (name.to_string(), data.into())
}

fn caption(key: &str) -> Vec<u8> {
    format!("a photo of sample {key}").into_bytes()
}

fn main() -> Res<()> {
    let out: PathBuf = std::env::args().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        PathBuf::from,
    );
    let wds = out.join("wds");
    let csv = out.join("csv");
    std::fs::create_dir_all(&wds)?;
    std::fs::create_dir_all(csv.join("images"))?;

    write_tar(
        &wds.join("clean-000.tar"),
        &[
            member("000000.png", png_rgb(6, 4, [200, 30, 30])?),
            member("000000.txt", caption("000000")),
            member("000000.json", r#"{"uid": "u0", "width": 6}"#),
            member("000001.png", png_rgb(4, 6, [30, 200, 30])?),
            member("000001.txt", caption("000001")),
            member("000002.png", png_rgb(5, 5, [30, 30, 200])?),
            member("000002.txt", caption("000002")),
        ],
    )?;
    write_tar(
        &wds.join("clean-001.tar"),
        &[
            member("000003.jpg", jpeg(8, 8, [250, 250, 20])?),
            member("000003.txt", caption("000003")),
            member("000004.txt", caption("000004")),
            member("000004.jpeg", jpeg(8, 8, [20, 250, 250])?),
            member("000005.JPG", jpeg(8, 8, [250, 20, 250])?),
            member("000005.txt", caption("000005")),
        ],
    )?;
    write_tar(
        &wds.join("clean-002.tar"),
        &[
            member("000006.png", png_rgba(8, 4, [0, 0, 255])?),
            member("000006.txt", caption("000006")),
            member("000007.png", png_palette(4, 4, [[255, 0, 0], [0, 0, 255]])?),
            member("000007.txt", caption("000007")),
            member("000007.json", r#"{"uid": "u7"}"#),
            member("000008.webp", webp_rgba(8, 4, [0, 255, 0])?),
            member("000008.txt", caption("000008")),
        ],
    )?;
    write_tar(
        &wds.join("bad-000.tar"),
        &[
            member("g0.png", png_grey(4, 4, 128)?),
            member("g0.txt", caption("g0")),
            member("nocap.png", png_rgb(4, 4, [1, 2, 3])?),
            member("noimg.txt", caption("noimg")),
            member("noimg.json", "{}"),
            member(
                "corrupt.jpg",
                b"\xff\xd8\xff\xe0 this is not really a JPEG".to_vec(),
            ),
            member("corrupt.txt", caption("corrupt")),
            member("badtxt.png", png_rgb(4, 4, [9, 9, 9])?),
            member("badtxt.txt", vec![0xff, 0xfe, 0x41]),
            member("emptytxt.png", png_rgb(4, 4, [9, 9, 9])?),
            member("emptytxt.txt", "  \n"),
            member("README", "a member without extension, ignored"),
            member("g1.png", png_rgb(4, 4, [100, 150, 200])?),
            member("g1.txt", caption("g1")),
        ],
    )?;
    let trunc = wds.join("truncated-000.tar");
    let big = png_rgb(16, 16, [10, 20, 30])?; // about 830 bytes: two data blocks
    write_tar(
        &trunc,
        &[
            member("t0.png", png_rgb(4, 4, [10, 20, 30])?),
            member("t0.txt", caption("t0")),
            member("t1.png", png_rgb(4, 4, [40, 50, 60])?),
            member("t1.txt", caption("t1")),
            member("t2.png", big),
            member("t2.txt", caption("t2")),
        ],
    )?;
    // Four 512-byte units per small sample (two headers, two data blocks), then cut 100 bytes
    // into t2.png's data.
    let bytes = std::fs::read(&trunc)?;
    std::fs::write(&trunc, &bytes[..4 * 1024 + 512 + 100])?;

    let images = csv.join("images");
    std::fs::write(images.join("red.png"), png_rgb(6, 4, [220, 20, 20])?)?;
    std::fs::write(images.join("blue.jpg"), jpeg(8, 8, [20, 20, 220])?)?;
    std::fs::write(images.join("alpha.png"), png_rgba(8, 4, [0, 0, 255])?)?;
    std::fs::write(
        images.join("corrupt.jpg"),
        b"\xff\xd8 not a jpeg".as_slice(),
    )?;
    std::fs::write(
        csv.join("train.tsv"),
        "filepath\ttitle\n\
         images/red.png\ta red square\n\
         images/blue.jpg\ta blue square\n\
         images/alpha.png\ta blue square on white\n\
         images/missing.png\tan image file that does not exist\n\
         \ta row without a path\n\
         images/red.png\t   \n\
         images/corrupt.jpg\ta corrupt image\n",
    )?;
    std::fs::write(
        csv.join("custom.csv"),
        "id,caption,image\n\
         1,\"a red, square\",images/red.png\n\
         2,a blue square,images/blue.jpg\n",
    )?;
    println!("fixtures written to {}", out.display());
    Ok(())
}
