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

use clipscale_core::rng::{Random, SplitMix64};
use image::{DynamicImage, ImageReader, RgbImage};

use crate::error::DataError;
use crate::render::{CLIP_MEAN, CLIP_STD};

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

/// torchvision's `RandomResizedCrop.get_params` with randomness from `SplitMix64::new(key)`.
pub fn random_resized_crop_box(
    width: u32,
    height: u32,
    scale: (f64, f64),
    ratio: (f64, f64),
    key: u64,
) -> CropBox {
    let mut rng = SplitMix64::new(key);
    let (w0, h0) = (f64::from(width), f64::from(height));
    let area = w0 * h0;
    let (log_lo, log_hi) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target = area * (scale.0 + (scale.1 - scale.0) * rng.uniform());
        let aspect = (log_lo + (log_hi - log_lo) * rng.uniform()).exp();
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

/// The most scratch values a thread keeps between images (per buffer; 4 MB: sources up to
/// about 1,500 px wide at 224 px output).
const SCRATCH_KEEP: usize = 1 << 20;

thread_local! {
    /// Per-thread scratch of [`resample_chw`] (two buffers), reused from image to image so a
    /// decoding thread allocates and page-faults it once, not per image.
    static SCRATCH: std::cell::RefCell<[Vec<f32>; 2]> = const {
        std::cell::RefCell::new([Vec::new(), Vec::new()])
    };
}

/// Resizes `buf` to `len` without caring about its contents (every element is written
/// before it is read).
fn scratch(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// Writes the transpose of the row-major `rows x cols` matrix `src` into `dst` (`cols x rows`).
/// 4x4 blocks go through SSE registers (part of every x86-64 CPU), the edges element by element.
fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    let (src, dst) = (&src[..rows * cols], &mut dst[..rows * cols]);
    let (r4, c4) = if cfg!(target_arch = "x86_64") {
        (rows / 4 * 4, cols / 4 * 4)
    } else {
        (0, 0)
    };
    #[cfg(target_arch = "x86_64")]
    for r in (0..r4).step_by(4) {
        for x in (0..c4).step_by(4) {
            use std::arch::x86_64::*;
            // SAFETY: rows r..r+4 and columns x..x+4 lie inside both matrices (r4 <= rows,
            // c4 <= cols, and both slices hold rows * cols elements); SSE is baseline x86-64.
            unsafe {
                let p = src.as_ptr().add(r * cols + x);
                let a = _mm_loadu_ps(p);
                let b = _mm_loadu_ps(p.add(cols));
                let c = _mm_loadu_ps(p.add(2 * cols));
                let d = _mm_loadu_ps(p.add(3 * cols));
                let (ab_lo, cd_lo) = (_mm_unpacklo_ps(a, b), _mm_unpacklo_ps(c, d));
                let (ab_hi, cd_hi) = (_mm_unpackhi_ps(a, b), _mm_unpackhi_ps(c, d));
                let q = dst.as_mut_ptr().add(x * rows + r);
                _mm_storeu_ps(q, _mm_movelh_ps(ab_lo, cd_lo));
                _mm_storeu_ps(q.add(rows), _mm_movehl_ps(cd_lo, ab_lo));
                _mm_storeu_ps(q.add(2 * rows), _mm_movelh_ps(ab_hi, cd_hi));
                _mm_storeu_ps(q.add(3 * rows), _mm_movehl_ps(cd_hi, ab_hi));
            }
        }
    }
    for r in 0..rows {
        let x0 = if r < r4 { c4 } else { 0 };
        for x in x0..cols {
            dst[x * rows + r] = src[r * cols + x];
        }
    }
}

/// `dst = sum_t weights[t] * row(t)` in f32, over rows as long as `dst` (inlined into the
/// dispatched kernels below, so it vectorises for each instruction set).
#[inline(always)]
fn weighted_sum<'a, T: Copy + Into<f32> + 'a>(
    dst: &mut [f32],
    weights: &[f32],
    row: impl Fn(usize) -> &'a [T],
) {
    for (x, &v) in dst.iter_mut().zip(row(0)) {
        *x = weights[0] * v.into();
    }
    for (t, &w) in weights.iter().enumerate().skip(1) {
        for (x, &v) in dst.iter_mut().zip(row(t)) {
            *x += w * v.into();
        }
    }
}

crate::multiversion! {
    /// Applies one axis's weights to rows of `n` values: row `i` of `dst` is
    /// `sum_t w[t] * src_row((start - first + t) * stride + offset)`, where `(start, w)` are
    /// output `i`'s taps and `src_row(j)` is `src[j * n..(j + 1) * n]`.
    fn banded(dst: &mut [f32], src: &[f32], n: usize, axis: &AxisWeights, first: usize, stride: usize, offset: usize) {
        for (i, d) in dst.chunks_exact_mut(n).enumerate() {
            let (start, ws) = axis.of(i);
            weighted_sum(d, ws, |t| &src[((start - first + t) * stride + offset) * n..][..n]);
        }
    }
}

crate::multiversion! {
    /// The vertical pass straight from the image's 8-bit rows: row `y` of `dst` (rows of `n`)
    /// is `sum_t w[t] * src[(start + t) * pitch + col..][..n]`, where `(start, w)` are output
    /// `y`'s taps (absolute source rows).
    fn banded_u8(dst: &mut [f32], src: &[u8], n: usize, pitch: usize, col: usize, axis: &AxisWeights) {
        for (y, d) in dst.chunks_exact_mut(n).enumerate() {
            let (start, ws) = axis.of(y);
            weighted_sum(d, ws, |t| &src[(start + t) * pitch + col..][..n]);
        }
    }
}

crate::multiversion! {
    /// `v = clamp(v, 0, 255) * scale + offset`, in place.
    fn clamp_affine(values: &mut [f32], scale: f32, offset: f32) {
        for v in values {
            *v = v.clamp(0.0, 255.0) * scale + offset;
        }
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
    scaled: (u32, u32),
    window: (u32, u32),
    out_size: (usize, usize),
    out: &mut [f32],
) {
    resample(img, crop, scaled, window, out_size, [(1.0, 0.0); 3], out);
}

/// [`resample_chw`], then each value `v` of channel `c` becomes
/// `clamp(v, 0, 255) * affine[c].0 + affine[c].1` (in the same pass as the clamp).
///
/// Each pass is a run of long multiply-adds or a blocked transpose, which vectorise: the
/// vertical pass adds whole weighted 8-bit source rows (only the columns the window needs,
/// still interleaved) into f32 rows, its result is transposed so that each (column, channel)
/// is contiguous, the horizontal pass adds whole weighted columns, and a last transpose brings
/// the rows back into `out`. (Summing the few taps of each output pixel with the channels
/// interleaved, the direct way, took 80% of the transform's time and ran at a third of this
/// speed.) The vertical pass comes first, where PIL does the horizontal one first: the two
/// orders differ by float rounding only, as nothing is clamped or rounded between them. The
/// scratch is `2 * out_h * (source columns read) * 3` values, so a huge source costs memory
/// in proportion to its width only.
fn resample(
    img: &RgbImage,
    crop: CropBox,
    (scaled_w, scaled_h): (u32, u32),
    (win_x, win_y): (u32, u32),
    (out_w, out_h): (usize, usize),
    affine: [(f32, f32); 3],
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
    // The source columns the window reads (those of the horizontal taps).
    let col_lo = hw.starts.iter().copied().min().unwrap_or(0);
    let col_hi = (0..out_w)
        .map(|o| hw.starts[o] + hw.counts[o])
        .max()
        .unwrap_or(col_lo);
    let width = (col_hi - col_lo) * 3; // values per interleaved row of those columns
    let plane = out_w * out_h;
    if plane == 0 {
        return;
    }
    let out = &mut out[..3 * plane];
    SCRATCH.with_borrow_mut(|[a, b]| {
        // 1. Vertical pass from the 8-bit rows: v[y][x * 3 + c] (x from col_lo).
        let v = scratch(a, out_h * width);
        banded_u8(v, src, width, src_w * 3, col_lo * 3, &vw);
        // 2. Columns: v_t[x * 3 + c][y].
        let v_t = scratch(b, width * out_h);
        transpose(v, out_h, width, v_t);
        // 3. Horizontal pass, a channel at a time: h_t[c][o][y].
        let h_t = scratch(a, 3 * plane);
        for (c, dst) in h_t.chunks_exact_mut(plane).enumerate() {
            banded(dst, v_t, out_h, &hw, col_lo, 3, c);
        }
        // 4. Rows again, into `out`; clamp and map.
        for (c, (dst, &(scale, offset))) in out.chunks_exact_mut(plane).zip(&affine).enumerate() {
            transpose(&h_t[c * plane..], out_w, out_h, dst);
            clamp_affine(dst, scale, offset);
        }
        // A very large source (a photo never resized) leaves buffers not worth keeping for
        // every decoding thread.
        for buf in [a, b] {
            if buf.capacity() > SCRATCH_KEEP {
                *buf = Vec::new();
            }
        }
    });
}

/// CLIP's normalisation of `[0, 255]` values as an affine map per channel:
/// `(v / 255 - mean) / std`.
fn clip_affine() -> [(f32, f32); 3] {
    std::array::from_fn(|c| (1.0 / (255.0 * CLIP_STD[c]), -CLIP_MEAN[c] / CLIP_STD[c]))
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
        let size = (self.size, self.size);
        if self.train {
            let crop = random_resized_crop_box(w, h, self.scale, self.ratio, key);
            resample(img, crop, (s, s), (0, 0), size, clip_affine(), out);
        } else {
            let (scaled, corner) = centre_crop_plan(w, h, s);
            let whole = CropBox {
                x: 0,
                y: 0,
                width: w,
                height: h,
            };
            resample(img, whole, scaled, corner, size, clip_affine(), out);
        }
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
