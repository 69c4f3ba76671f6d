//! Image decoding and open_clip's image transforms, producing CLIP-normalised CHW floats.
//!
//! - Decoding ([`decode_rgb`]): JPEG, PNG or WebP (format sniffed from the bytes) to 8-bit RGB.
//!   Greyscale, palette and 16-bit images are converted to RGB; images with an alpha channel
//!   are composited on WHITE (`c' = c * a + 255 * (1 - a)`), so transparent logos do not turn
//!   black. A decoder panic on hostile input is caught and reported as an error.
//! - Training ([`Transform::train`]): torchvision's `RandomResizedCrop(size, scale=(0.9, 1.0),
//!   ratio=(3/4, 4/3), bicubic)` as open_clip configures it: the same crop-box algorithm (10
//!   attempts, then the ratio-clamped centre fallback), the box drawn from a SplitMix64 stream
//!   keyed by the caller (the sample's `(seed, epoch, index)` in the streams), so crops are
//!   reproducible and independent of thread timing.
//! - Evaluation ([`Transform::eval`]): `Resize(size)` of the shorter side (the longer side
//!   `int(size * long / short)`) then `CenterCrop(size)` with torchvision's rounding
//!   (`int(round((h - size) / 2))`, ties to even).
//! - Resampling ([`resample_chw`]): separable bicubic (a = -0.5, as PIL's `BICUBIC` and the
//!   `image` crate's `CatmullRom`) with PIL's antialiasing (the kernel is widened by the
//!   downscaling factor), edges clamped to the crop (the crop is cut before resizing, as
//!   torchvision's `resized_crop` does). Values are kept in f32 between the passes and clamped
//!   to `[0, 255]` at the end (PIL rounds to 8 bits after each pass; differences are below one
//!   grey level). Only the output window is computed, so the centre crop costs no full resize.
//! - Normalisation: `(v / 255 - CLIP_MEAN[c]) / CLIP_STD[c]`.

use std::io::Cursor;

use image::{DynamicImage, ImageReader, RgbImage};

use crate::error::DataError;
use crate::render::{CLIP_MEAN, CLIP_STD};
use crate::rng::Rng;

/// open_clip's `RandomResizedCrop` area range for CLIP training.
pub const TRAIN_SCALE: (f64, f64) = (0.9, 1.0);
/// torchvision's default aspect-ratio range.
pub const TRAIN_RATIO: (f64, f64) = (3.0 / 4.0, 4.0 / 3.0);
/// Largest accepted source image side (pixels); larger images are skipped as corrupt.
pub const MAX_SOURCE_SIDE: u32 = 16_384;

/// Decodes JPEG, PNG or WebP bytes to RGB (alpha composited on white). `what` names the
/// source (file or tar member) in the error.
pub fn decode_rgb(bytes: &[u8], what: &str) -> Result<RgbImage, DataError> {
    let err = |detail: String| DataError::Image {
        what: what.to_string(),
        detail,
    };
    let decoded = std::panic::catch_unwind(|| -> Result<DynamicImage, String> {
        let mut reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| e.to_string())?;
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_SOURCE_SIDE);
        limits.max_image_height = Some(MAX_SOURCE_SIDE);
        reader.limits(limits);
        if reader.format().is_none() {
            return Err(format!(
                "unknown image format (first bytes {:02x?})",
                &bytes[..bytes.len().min(8)]
            ));
        }
        reader.decode().map_err(|e| e.to_string())
    })
    .map_err(|_| err("the decoder panicked".into()))?
    .map_err(err)?;
    Ok(to_rgb_on_white(decoded))
}

/// Converts any decoded image to 8-bit RGB, compositing alpha on white.
pub fn to_rgb_on_white(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = Vec::with_capacity(w as usize * h as usize * 3);
    for px in rgba.pixels() {
        let a = u32::from(px[3]);
        for c in 0..3 {
            let v = u32::from(px[c]) * a + 255 * (255 - a);
            out.push(((v + 127) / 255) as u8);
        }
    }
    RgbImage::from_raw(w, h, out).expect("buffer length matches the dimensions")
}

/// A pixel rectangle of a source image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropBox {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// Uniform in `[0, 1)` with 53 bits.
fn unit_f64(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// torchvision's `RandomResizedCrop.get_params` with randomness from `Rng::new(key)`.
pub fn random_resized_crop_box(
    width: u32,
    height: u32,
    scale: (f64, f64),
    ratio: (f64, f64),
    key: u64,
) -> CropBox {
    let mut rng = Rng::new(key);
    let (w0, h0) = (f64::from(width), f64::from(height));
    let area = w0 * h0;
    let (log_lo, log_hi) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target = area * (scale.0 + (scale.1 - scale.0) * unit_f64(&mut rng));
        let aspect = (log_lo + (log_hi - log_lo) * unit_f64(&mut rng)).exp();
        let w = (target * aspect).sqrt().round();
        let h = (target / aspect).sqrt().round();
        if w > 0.0 && h > 0.0 && w <= w0 && h <= h0 {
            let (w, h) = (w as u32, h as u32);
            let y = rng.below((height - h + 1) as usize) as u32;
            let x = rng.below((width - w + 1) as usize) as u32;
            return CropBox {
                x,
                y,
                width: w,
                height: h,
            };
        }
    }
    // Fallback: the whole image, clamped to the ratio range, centred.
    let in_ratio = w0 / h0;
    let (w, h) = if in_ratio < ratio.0 {
        (width, ((w0 / ratio.0).round() as u32).clamp(1, height))
    } else if in_ratio > ratio.1 {
        (((h0 * ratio.1).round() as u32).clamp(1, width), height)
    } else {
        (width, height)
    };
    CropBox {
        x: (width - w) / 2,
        y: (height - h) / 2,
        width: w,
        height: h,
    }
}

/// The evaluation plan for a `width x height` image: the resized size (shorter side `size`)
/// and the top-left corner of the centre `size x size` window in it.
pub fn centre_crop_plan(width: u32, height: u32, size: u32) -> ((u32, u32), (u32, u32)) {
    let (short, long) = if width <= height {
        (width, height)
    } else {
        (height, width)
    };
    let new_long = ((u64::from(size) * u64::from(long)) / u64::from(short)).max(1) as u32;
    let (rw, rh) = if width <= height {
        (size, new_long)
    } else {
        (new_long, size)
    };
    let offset = |full: u32| -> u32 {
        let d = (f64::from(full) - f64::from(size)) / 2.0;
        d.round_ties_even().max(0.0) as u32
    };
    ((rw, rh), (offset(rw), offset(rh)))
}

/// PIL's bicubic kernel (a = -0.5).
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Resampling weights of one axis: for each output, the first source index, the number of
/// taps, and the weights (`taps` slots per output, the first `counts[o]` used).
struct AxisWeights {
    starts: Vec<usize>,
    counts: Vec<usize>,
    taps: usize,
    weights: Vec<f32>,
}

impl AxisWeights {
    /// The first source index and the weights of output `o`.
    #[inline]
    fn of(&self, o: usize) -> (usize, &[f32]) {
        let base = o * self.taps;
        (self.starts[o], &self.weights[base..base + self.counts[o]])
    }
}

/// Weights mapping source `[in_start, in_start + in_len)` onto `out_full` outputs, for the
/// outputs `out_start .. out_start + out_len`. Every tap lies inside the source range.
fn axis_weights(
    in_start: usize,
    in_len: usize,
    out_full: usize,
    out_start: usize,
    out_len: usize,
) -> AxisWeights {
    let scale = in_len as f64 / out_full as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let taps = (support.ceil() as usize) * 2 + 1;
    let mut starts = Vec::with_capacity(out_len);
    let mut counts = Vec::with_capacity(out_len);
    let mut weights = vec![0f32; out_len * taps];
    let mut k = vec![0f64; taps];
    for (o, row) in weights.chunks_exact_mut(taps).enumerate() {
        let center = ((out_start + o) as f64 + 0.5) * scale;
        let xmin = ((center - support + 0.5).floor().max(0.0) as usize).min(in_len - 1);
        let xmax = ((center + support + 0.5).floor() as usize).min(in_len);
        let n = xmax.saturating_sub(xmin).clamp(1, taps);
        let mut total = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(n) {
            let w = bicubic(((xmin + x) as f64 - center + 0.5) / filterscale);
            *kx = w;
            total += w;
        }
        for x in 0..n {
            row[x] = if total != 0.0 {
                (k[x] / total) as f32
            } else {
                1.0 / n as f32
            };
        }
        starts.push(in_start + xmin);
        counts.push(n);
    }
    AxisWeights {
        starts,
        counts,
        taps,
        weights,
    }
}

/// Resamples `crop` of `img` to a virtual `scaled_w x scaled_h` image and writes its window at
/// `(win_x, win_y)` of size `out_w x out_h` into `out` as CHW values in `[0, 255]`.
///
/// Panics if `crop` is empty or not inside `img`, or `out` is shorter than `3 * out_w * out_h`
/// (callers derive all three from the image).
pub fn resample_chw(
    img: &RgbImage,
    crop: CropBox,
    (scaled_w, scaled_h): (u32, u32),
    (win_x, win_y): (u32, u32),
    (out_w, out_h): (usize, usize),
    out: &mut [f32],
) {
    let src_w = img.width() as usize;
    let src = img.as_raw();
    let hw = axis_weights(
        crop.x as usize,
        crop.width as usize,
        scaled_w as usize,
        win_x as usize,
        out_w,
    );
    let vw = axis_weights(
        crop.y as usize,
        crop.height as usize,
        scaled_h as usize,
        win_y as usize,
        out_h,
    );
    // Source rows the vertical pass reads.
    let row_lo = vw.starts.iter().copied().min().unwrap_or(0);
    let row_hi = (0..out_h)
        .map(|o| vw.starts[o] + vw.counts[o])
        .max()
        .unwrap_or(row_lo);
    let rows = row_hi - row_lo;
    // Horizontal pass: rows x out_w x 3 (interleaved).
    let stride = out_w * 3;
    let mut tmp = vec![0f32; rows * stride];
    for (r, dst) in tmp.chunks_exact_mut(stride).enumerate() {
        let line = &src[(row_lo + r) * src_w * 3..(row_lo + r + 1) * src_w * 3];
        for (o, px) in dst.chunks_exact_mut(3).enumerate() {
            let (start, ws) = hw.of(o);
            let pixels = &line[start * 3..(start + ws.len()) * 3];
            let (mut a, mut b, mut c) = (0f32, 0f32, 0f32);
            for (&w, p) in ws.iter().zip(pixels.chunks_exact(3)) {
                a += w * f32::from(p[0]);
                b += w * f32::from(p[1]);
                c += w * f32::from(p[2]);
            }
            px[0] = a;
            px[1] = b;
            px[2] = c;
        }
    }
    // Vertical pass into CHW.
    let plane = out_w * out_h;
    let mut acc = vec![0f32; stride];
    for o in 0..out_h {
        acc.fill(0.0);
        let (start, ws) = vw.of(o);
        for (t, &w) in ws.iter().enumerate() {
            let y = start + t - row_lo;
            let line = &tmp[y * stride..(y + 1) * stride];
            for (a, &v) in acc.iter_mut().zip(line) {
                *a += w * v;
            }
        }
        let (r, rest) = out[o * out_w..].split_at_mut(plane);
        let (g, b) = rest.split_at_mut(plane);
        for (x, px) in acc.chunks_exact(3).enumerate() {
            r[x] = px[0].clamp(0.0, 255.0);
            g[x] = px[1].clamp(0.0, 255.0);
            b[x] = px[2].clamp(0.0, 255.0);
        }
    }
}

/// Maps `[0, 255]` CHW values to CLIP-normalised values in place.
pub fn normalise_255(out: &mut [f32], plane: usize) {
    for (c, chunk) in out.chunks_exact_mut(plane).take(3).enumerate() {
        let (mean, inv) = (CLIP_MEAN[c], 1.0 / CLIP_STD[c]);
        for v in chunk {
            *v = (*v / 255.0 - mean) * inv;
        }
    }
}

/// One of open_clip's two image transforms (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    /// Output side length.
    pub size: usize,
    /// Random resized crop (training) or resize + centre crop (evaluation).
    pub train: bool,
    /// Area range of the random crop.
    pub scale: (f64, f64),
    /// Aspect-ratio range of the random crop.
    pub ratio: (f64, f64),
}

impl Transform {
    /// open_clip's training transform at `size`.
    pub fn train(size: usize) -> Self {
        Self {
            size,
            train: true,
            scale: TRAIN_SCALE,
            ratio: TRAIN_RATIO,
        }
    }

    /// open_clip's evaluation transform at `size`.
    pub fn eval(size: usize) -> Self {
        Self {
            train: false,
            ..Self::train(size)
        }
    }

    /// Values per output image (`3 * size * size`).
    pub fn output_len(&self) -> usize {
        3 * self.size * self.size
    }

    /// Transforms `img` into a new CHW normalised buffer; `key` seeds the random crop.
    pub fn apply(&self, img: &RgbImage, key: u64) -> Vec<f32> {
        let mut out = vec![0f32; self.output_len()];
        self.apply_into(img, key, &mut out);
        out
    }

    /// Transforms `img` into `out` (`3 * size * size` values, CHW, normalised).
    pub fn apply_into(&self, img: &RgbImage, key: u64, out: &mut [f32]) {
        let s = self.size as u32;
        let (w, h) = img.dimensions();
        if self.train {
            let crop = random_resized_crop_box(w, h, self.scale, self.ratio, key);
            resample_chw(img, crop, (s, s), (0, 0), (self.size, self.size), out);
        } else {
            let (scaled, corner) = centre_crop_plan(w, h, s);
            let whole = CropBox {
                x: 0,
                y: 0,
                width: w,
                height: h,
            };
            resample_chw(img, whole, scaled, corner, (self.size, self.size), out);
        }
        normalise_255(out, self.size * self.size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bicubic_kernel_interpolates() {
        assert_eq!(bicubic(0.0), 1.0);
        assert!(bicubic(1.0).abs() < 1e-12 && bicubic(2.0).abs() < 1e-12);
        assert!(bicubic(1.5) < 0.0);
    }

    #[test]
    fn crop_boxes_stay_inside_and_respect_the_ranges() {
        for key in 0..500u64 {
            // Aspect ratios within 3/4..4/3, so the area range holds (wider images fall back
            // to a ratio-clamped centre box, tested below).
            let (w, h) = (300 + (key % 7) as u32 * 5, 280 + (key % 5) as u32 * 10);
            let b = random_resized_crop_box(w, h, TRAIN_SCALE, TRAIN_RATIO, key);
            assert!(
                b.x + b.width <= w && b.y + b.height <= h,
                "{b:?} in {w}x{h}"
            );
            let frac = f64::from(b.width * b.height) / f64::from(w * h);
            // Rounding of the sides moves the area slightly; the fallback takes the ratio-clamped whole.
            assert!((0.85..=1.0).contains(&frac), "{frac} {b:?} {w}x{h}");
            let r = f64::from(b.width) / f64::from(b.height);
            assert!((0.70..=1.40).contains(&r), "{r}");
        }
        assert_eq!(
            random_resized_crop_box(64, 48, TRAIN_SCALE, TRAIN_RATIO, 9),
            random_resized_crop_box(64, 48, TRAIN_SCALE, TRAIN_RATIO, 9)
        );
    }

    #[test]
    fn extreme_aspect_ratios_use_the_clamped_centre_fallback() {
        // 400x10: no 0.9-area box with ratio <= 4/3 fits, so: height 10, width round(10*4/3) = 13.
        let b = random_resized_crop_box(400, 10, TRAIN_SCALE, TRAIN_RATIO, 1);
        assert_eq!(
            b,
            CropBox {
                x: (400 - 13) / 2,
                y: 0,
                width: 13,
                height: 10
            }
        );
    }

    #[test]
    fn centre_plan_matches_torchvision() {
        // Resize(224) of 640x480 -> 298x224 (int(224 * 640 / 480) = 298), left = round(37.0).
        assert_eq!(centre_crop_plan(640, 480, 224), ((298, 224), (37, 0)));
        // 225 wide: (225 - 224) / 2 = 0.5 rounds to 0 (ties to even).
        assert_eq!(centre_crop_plan(224, 225, 224), ((224, 225), (0, 0)));
        assert_eq!(centre_crop_plan(224, 227, 224), ((224, 227), (0, 2)));
    }
}
