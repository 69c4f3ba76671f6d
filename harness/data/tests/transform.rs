//! Integration tests of decoding and open_clip's image transforms: output sizes, the centre
//! crop on gradients (exact), agreement with the `image` crate's Catmull-Rom resize, alpha on
//! white, greyscale and palette conversion, normalisation values and reproducible crops.

mod common;

use clipscale_data::transform::{CropBox, centre_crop_plan, random_resized_crop_box, resample_chw};
use clipscale_data::{CLIP_MEAN, CLIP_STD, DataError, Transform, decode_rgb};
use common::fixtures;
use image::{DynamicImage, Rgb, RgbImage, Rgba, RgbaImage};

fn norm(level: f32, c: usize) -> f32 {
    (level / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c]
}

fn unnorm(v: f32, c: usize) -> f32 {
    (v * CLIP_STD[c] + CLIP_MEAN[c]) * 255.0
}

/// R rises 3 levels per column, G 5 per row, B constant.
fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| Rgb([(x * 3) as u8, (y * 5) as u8, 77]))
}

#[test]
fn outputs_have_the_requested_size_for_any_input_shape() {
    for (w, h) in [(640, 480), (37, 211), (8, 8), (1, 1), (300, 7)] {
        let img = gradient(w, h);
        for t in [
            Transform::train(32),
            Transform::eval(32),
            Transform::train(9),
        ] {
            let out = t.apply(&img, 3);
            assert_eq!(out.len(), 3 * t.size * t.size);
            assert!(
                out.iter()
                    .all(|v| v.is_finite() && (-2.0..=2.2).contains(v))
            );
        }
    }
}

#[test]
fn centre_crop_without_resize_is_the_exact_middle() {
    // 40x20, size 20: no resize, columns 10..30.
    let out = Transform::eval(20).apply(&gradient(40, 20), 0);
    for y in 0..20 {
        for x in 0..20 {
            let i = y * 20 + x;
            assert!(
                (out[i] - norm(((x + 10) * 3) as f32, 0)).abs() < 1e-5,
                "R at {x},{y}"
            );
            assert!(
                (out[400 + i] - norm((y * 5) as f32, 1)).abs() < 1e-5,
                "G at {x},{y}"
            );
            assert!((out[800 + i] - norm(77.0, 2)).abs() < 1e-5);
        }
    }
}

#[test]
fn downscaled_centre_crop_of_a_linear_ramp_is_linear() {
    // 80x40 -> Resize(20) gives 40x20, centre crop starts at column 10. Resized column
    // j + 10 is centred on source coordinate 2 (j + 10) + 1, i.e. pixel index 2j + 20.5, and a
    // symmetric antialiased kernel reproduces a linear ramp exactly there.
    let out = Transform::eval(20).apply(&gradient(80, 40), 0);
    for y in 2..18 {
        for x in 0..20 {
            let i = y * 20 + x;
            let r = unnorm(out[i], 0);
            assert!(
                (r - 3.0 * (2.0 * x as f32 + 20.5)).abs() < 1e-3,
                "R {r} at {x},{y}"
            );
            let g = unnorm(out[400 + i], 1);
            assert!(
                (g - 5.0 * (2.0 * y as f32 + 0.5)).abs() < 1e-3,
                "G {g} at {x},{y}"
            );
        }
    }
}

#[test]
fn resampling_agrees_with_the_image_crates_catmull_rom() {
    let img = RgbImage::from_fn(53, 41, |x, y| {
        let v = (x * 7919 + y * 104_729) % 251;
        Rgb([v as u8, ((x * 13) % 256) as u8, ((y * 29 + x) % 256) as u8])
    });
    for (ow, oh) in [(24u32, 19u32), (80, 60), (53, 41), (17, 33)] {
        let reference =
            image::imageops::resize(&img, ow, oh, image::imageops::FilterType::CatmullRom);
        let mut out = vec![0f32; (3 * ow * oh) as usize];
        let whole = CropBox {
            x: 0,
            y: 0,
            width: 53,
            height: 41,
        };
        resample_chw(
            &img,
            whole,
            (ow, oh),
            (0, 0),
            (ow as usize, oh as usize),
            &mut out,
        );
        let plane = (ow * oh) as usize;
        let mut worst = 0f32;
        for (i, px) in reference.pixels().enumerate() {
            for c in 0..3 {
                worst = worst.max((out[c * plane + i] - f32::from(px[c])).abs());
            }
        }
        assert!(worst <= 1.01, "{ow}x{oh}: max difference {worst} levels");
    }
}

#[test]
fn a_crop_box_is_resized_from_inside_the_box_only() {
    // Left half black, right half white; a crop of the right half must be all white.
    let img = RgbImage::from_fn(20, 10, |x, _| {
        if x < 10 {
            Rgb([0, 0, 0])
        } else {
            Rgb([255; 3])
        }
    });
    let mut out = vec![0f32; 3 * 16];
    let right = CropBox {
        x: 10,
        y: 0,
        width: 10,
        height: 10,
    };
    resample_chw(&img, right, (4, 4), (0, 0), (4, 4), &mut out);
    assert!(out.iter().all(|&v| (v - 255.0).abs() < 1e-3), "{out:?}");
}

#[test]
fn alpha_is_composited_on_white() {
    let mut rgba = RgbaImage::new(4, 1);
    rgba.put_pixel(0, 0, Rgba([0, 0, 0, 0]));
    rgba.put_pixel(1, 0, Rgba([0, 0, 0, 255]));
    rgba.put_pixel(2, 0, Rgba([0, 0, 0, 128]));
    rgba.put_pixel(3, 0, Rgba([200, 100, 0, 255]));
    let mut bytes = Vec::new();
    DynamicImage::ImageRgba8(rgba)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    let rgb = decode_rgb(&bytes, "mem.png").unwrap();
    assert_eq!(rgb.get_pixel(0, 0), &Rgb([255, 255, 255]));
    assert_eq!(rgb.get_pixel(1, 0), &Rgb([0, 0, 0]));
    assert_eq!(rgb.get_pixel(2, 0), &Rgb([127, 127, 127]));
    assert_eq!(rgb.get_pixel(3, 0), &Rgb([200, 100, 0]));
}

#[test]
fn greyscale_and_palette_images_become_rgb() {
    let grey = image::ImageBuffer::<image::Luma<u8>, _>::from_pixel(3, 2, image::Luma([90u8]));
    let mut bytes = Vec::new();
    DynamicImage::ImageLuma8(grey)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    let rgb = decode_rgb(&bytes, "grey.png").unwrap();
    assert_eq!((rgb.width(), rgb.height()), (3, 2));
    assert!(rgb.pixels().all(|p| p == &Rgb([90, 90, 90])));
    // The palette PNG inside the clean fixture shard (top half red, bottom half blue).
    let tar = std::fs::read(fixtures().join("wds/clean-002.tar")).unwrap();
    let start = tar
        .windows(8)
        .position(|w| w == b"\x89PNG\r\n\x1a\n")
        .unwrap();
    // The second PNG in the shard is the palette image; find it after the first.
    let second = start
        + 8
        + tar[start + 8..]
            .windows(8)
            .position(|w| w == b"\x89PNG\r\n\x1a\n")
            .unwrap();
    let pal = decode_rgb(&tar[second..], "clean-002.tar:000007.png").unwrap();
    assert_eq!(pal.get_pixel(0, 0), &Rgb([255, 0, 0]));
    assert_eq!(pal.get_pixel(3, 3), &Rgb([0, 0, 255]));
}

#[test]
fn normalisation_uses_clips_mean_and_std() {
    let white = RgbImage::from_pixel(8, 8, Rgb([255; 3]));
    let black = RgbImage::from_pixel(8, 8, Rgb([0; 3]));
    for t in [Transform::train(8), Transform::eval(8)] {
        let w = t.apply(&white, 1);
        let b = t.apply(&black, 1);
        for c in 0..3 {
            assert!((w[c * 64 + 10] - (1.0 - CLIP_MEAN[c]) / CLIP_STD[c]).abs() < 1e-5);
            assert!((b[c * 64 + 10] + CLIP_MEAN[c] / CLIP_STD[c]).abs() < 1e-5);
        }
        assert!((w[0] - 1.930_302_5).abs() < 1e-4, "{}", w[0]);
    }
}

#[test]
fn random_crops_are_reproducible_per_key_and_vary_across_keys() {
    // A square image: every aspect ratio in 3/4..4/3 fits (a 4:3 image would often need the
    // deterministic fallback, the whole image, as in torchvision).
    let img = gradient(64, 64);
    let t = Transform::train(16);
    assert_eq!(t.apply(&img, 42), t.apply(&img, 42));
    let distinct: std::collections::BTreeSet<_> = (0..20u64)
        .map(|k| random_resized_crop_box(64, 64, t.scale, t.ratio, k))
        .map(|b| (b.x, b.y, b.width, b.height))
        .collect();
    assert!(distinct.len() > 10, "{distinct:?}");
    assert_ne!(t.apply(&img, 1), t.apply(&img, 2));
    // The eval transform ignores the key.
    assert_eq!(
        Transform::eval(16).apply(&img, 1),
        Transform::eval(16).apply(&img, 2)
    );
    assert_eq!(centre_crop_plan(64, 48, 16), ((21, 16), (2, 0)));
    assert_eq!(centre_crop_plan(48, 64, 16), ((16, 21), (0, 2)));
}

#[test]
fn undecodable_bytes_are_an_error_naming_the_source() {
    for bytes in [
        &b""[..],
        b"not an image at all",
        b"\x89PNG\r\n\x1a\nbroken",
        b"\xff\xd8\xff\xe0junk",
    ] {
        match decode_rgb(bytes, "shard-7.tar:key.jpg") {
            Err(DataError::Image { what, .. }) => assert_eq!(what, "shard-7.tar:key.jpg"),
            other => panic!("expected an image error, got {other:?}"),
        }
    }
}

/// The definition the resampler implements, pixel by pixel: PIL's antialiased bicubic weights
/// of each axis (normalised to sum 1), the source restricted to the crop, applied as one 2-D
/// sum, clamped to [0, 255].
fn resample_by_definition(
    img: &RgbImage,
    crop: CropBox,
    (sw, sh): (u32, u32),
    (wx, wy): (u32, u32),
    (ow, oh): (usize, usize),
) -> Vec<f32> {
    fn cubic(x: f64) -> f64 {
        let (a, x) = (-0.5, x.abs());
        if x < 1.0 {
            ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
        } else if x < 2.0 {
            (((x - 5.0) * x + 8.0) * x - 4.0) * a
        } else {
            0.0
        }
    }
    // (source index, weight) pairs of output `o` of an axis.
    fn taps(in_start: u32, in_len: u32, out_full: u32, o: u32) -> Vec<(u32, f64)> {
        let scale = f64::from(in_len) / f64::from(out_full);
        let fs = scale.max(1.0);
        let centre = (f64::from(o) + 0.5) * scale;
        let lo = ((centre - 2.0 * fs + 0.5).floor().max(0.0) as u32).min(in_len - 1);
        let hi = ((centre + 2.0 * fs + 0.5).floor() as u32)
            .min(in_len)
            .max(lo + 1);
        let raw: Vec<(u32, f64)> = (lo..hi)
            .map(|i| (in_start + i, cubic((f64::from(i) - centre + 0.5) / fs)))
            .collect();
        let total: f64 = raw.iter().map(|t| t.1).sum();
        raw.into_iter().map(|(i, w)| (i, w / total)).collect()
    }
    let plane = ow * oh;
    let mut out = vec![0f32; 3 * plane];
    for y in 0..oh {
        let ty = taps(crop.y, crop.height, sh, wy + y as u32);
        for x in 0..ow {
            let tx = taps(crop.x, crop.width, sw, wx + x as u32);
            for c in 0..3 {
                let mut v = 0.0;
                for &(sy, wyv) in &ty {
                    for &(sx, wxv) in &tx {
                        v += wyv * wxv * f64::from(img.get_pixel(sx, sy)[c]);
                    }
                }
                out[c * plane + y * ow + x] = v.clamp(0.0, 255.0) as f32;
            }
        }
    }
    out
}

#[test]
fn resampling_matches_its_definition_on_crops_windows_and_scales() {
    let img = RgbImage::from_fn(71, 58, |x, y| {
        let v = (x * 7919 + y * 104_729) % 251;
        Rgb([
            v as u8,
            ((x * 13 + y * 3) % 256) as u8,
            ((y * 29 + x) % 256) as u8,
        ])
    });
    // Random crops up- and downscaled (train), non-square outputs, and resize-then-window
    // plans (eval), with sizes that are not multiples of the transposes' 4x4 blocks.
    let mut cases = Vec::new();
    for key in 0..12u64 {
        let b = random_resized_crop_box(71, 58, (0.2, 1.0), (0.5, 2.0), key);
        let size = [5u32, 17, 33, 40, 96][key as usize % 5];
        cases.push((b, (size, size), (0, 0), (size as usize, size as usize)));
        let (w, h) = [(7u32, 30u32), (45, 9), (64, 21)][key as usize % 3];
        cases.push((b, (w, h), (0, 0), (w as usize, h as usize)));
    }
    for size in [7u32, 24, 64] {
        let (scaled, corner) = centre_crop_plan(71, 58, size);
        let whole = CropBox {
            x: 0,
            y: 0,
            width: 71,
            height: 58,
        };
        cases.push((whole, scaled, corner, (size as usize, size as usize)));
    }
    // a window of a larger resize, not at the origin
    cases.push((
        CropBox {
            x: 3,
            y: 2,
            width: 60,
            height: 50,
        },
        (90, 75),
        (11, 20),
        (37, 29),
    ));
    for (crop, scaled, corner, (ow, oh)) in cases {
        let mut out = vec![f32::NAN; 3 * ow * oh];
        resample_chw(&img, crop, scaled, corner, (ow, oh), &mut out);
        let want = resample_by_definition(&img, crop, scaled, corner, (ow, oh));
        let worst = out
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst < 2e-3,
            "{crop:?} -> {scaled:?} window {corner:?} {ow}x{oh}: off by {worst}"
        );
    }
}
