//! Perceptual hashes of images and a search for hashes within a Hamming distance.
//!
//! The hash is the classic DCT hash: the image in grey (Rec. 601 luma), resized to 32x32
//! (triangle filter), a 2-D DCT-II, and the 8x8 lowest frequencies but the constant one,
//! each bit set when its coefficient is above their median: 63 bits that survive resizing,
//! re-encoding and small shifts. An image with (almost) no contrast has no meaningful hash
//! and gets none ([`phash`] returns `None`): a blank render would otherwise match every
//! other blank.
//!
//! [`HashIndex`] finds every stored hash within `d` bits of a query by multi-index hashing:
//! the 64 bits cut into `d + 1` chunks, two hashes within `d` bits agree exactly on at least
//! one chunk (pigeonhole), so only the hashes sharing a chunk value are compared.

use std::collections::HashMap;

/// Side of the grey image the DCT is taken of.
const SIDE: usize = 32;
/// Frequencies kept per axis.
const LOW: usize = 8;
/// Below this standard deviation of the grey levels (0-255) an image counts as blank.
const BLANK_STD: f32 = 2.0;

/// The largest Hamming distance a [`HashIndex`] searches (more makes chunks too short to
/// narrow anything down).
pub const MAX_BITS: u32 = 12;

fn cosines() -> &'static [[f32; SIDE]; LOW] {
    static TABLE: std::sync::OnceLock<[[f32; SIDE]; LOW]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [[0.0f32; SIDE]; LOW];
        for (u, row) in t.iter_mut().enumerate() {
            for (x, c) in row.iter_mut().enumerate() {
                *c = ((std::f64::consts::PI / SIDE as f64) * (x as f64 + 0.5) * u as f64).cos()
                    as f32;
            }
        }
        t
    })
}

/// The perceptual hash of an RGB image of `width` x `height` (8 bits per channel), or `None`
/// when the image is blank (almost uniform) or its buffer does not match its size.
pub fn phash(rgb: &[u8], width: usize, height: usize) -> Option<u64> {
    if width == 0 || height == 0 || rgb.len() != width * height * 3 {
        return None;
    }
    let grey: Vec<u8> = rgb
        .chunks_exact(3)
        .map(|p| {
            ((299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2]) + 500) / 1000)
                as u8
        })
        .collect();
    let img = image::GrayImage::from_raw(width as u32, height as u32, grey)?;
    let small = if width == SIDE && height == SIDE {
        img
    } else {
        image::imageops::resize(
            &img,
            SIDE as u32,
            SIDE as u32,
            image::imageops::FilterType::Triangle,
        )
    };
    let px: Vec<f32> = small.pixels().map(|p| f32::from(p[0])).collect();
    let mean = px.iter().sum::<f32>() / px.len() as f32;
    let var = px.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / px.len() as f32;
    if var.sqrt() < BLANK_STD {
        return None;
    }
    let cos = cosines();
    // rows first: r[y][u] = sum_x px[y][x] cos(u, x)
    let mut rows = [[0.0f32; LOW]; SIDE];
    for (y, row) in rows.iter_mut().enumerate() {
        let line = &px[y * SIDE..(y + 1) * SIDE];
        for (u, out) in row.iter_mut().enumerate() {
            *out = line.iter().zip(&cos[u]).map(|(a, b)| a * b).sum();
        }
    }
    let mut coeffs = [0.0f32; LOW * LOW];
    for v in 0..LOW {
        for u in 0..LOW {
            coeffs[v * LOW + u] = (0..SIDE).map(|y| rows[y][u] * cos[v][y]).sum();
        }
    }
    let mut ac: Vec<f32> = coeffs[1..].to_vec();
    ac.sort_by(f32::total_cmp);
    let median = ac[ac.len() / 2];
    let mut hash = 0u64;
    for (i, c) in coeffs.iter().enumerate().skip(1) {
        if *c > median {
            hash |= 1 << i;
        }
    }
    Some(hash)
}

/// Bits in which two hashes differ.
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Hashes indexed for "every stored hash within `bits`" queries.
pub struct HashIndex {
    bits: u32,
    hashes: Vec<u64>,
    /// Per chunk: chunk value -> positions in `hashes`.
    chunks: Vec<HashMap<u64, Vec<u32>>>,
    bounds: Vec<(u32, u32)>,
}

impl HashIndex {
    /// An index of `hashes` for searches within `bits` (at most [`MAX_BITS`]).
    pub fn new(hashes: Vec<u64>, bits: u32) -> Self {
        let bits = bits.min(MAX_BITS);
        let parts = bits + 1;
        let bounds: Vec<(u32, u32)> = (0..parts)
            .map(|k| (k * 64 / parts, (k + 1) * 64 / parts))
            .collect();
        let mut chunks: Vec<HashMap<u64, Vec<u32>>> = vec![HashMap::new(); bounds.len()];
        for (i, &h) in hashes.iter().enumerate() {
            for (k, &(lo, hi)) in bounds.iter().enumerate() {
                chunks[k]
                    .entry(chunk(h, lo, hi))
                    .or_default()
                    .push(i as u32);
            }
        }
        Self {
            bits,
            hashes,
            chunks,
            bounds,
        }
    }

    /// The largest distance searched.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Positions (in the order given to [`HashIndex::new`]) of the stored hashes within the
    /// index's distance of `h`, ascending.
    pub fn within(&self, h: u64) -> Vec<u32> {
        let mut out = Vec::new();
        for (k, &(lo, hi)) in self.bounds.iter().enumerate() {
            if let Some(list) = self.chunks[k].get(&chunk(h, lo, hi)) {
                out.extend(
                    list.iter()
                        .copied()
                        .filter(|&i| distance(self.hashes[i as usize], h) <= self.bits),
                );
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether any stored hash is within the index's distance of `h`.
    pub fn any_within(&self, h: u64) -> bool {
        self.bounds.iter().enumerate().any(|(k, &(lo, hi))| {
            self.chunks[k].get(&chunk(h, lo, hi)).is_some_and(|list| {
                list.iter()
                    .any(|&i| distance(self.hashes[i as usize], h) <= self.bits)
            })
        })
    }
}

fn chunk(h: u64, lo: u32, hi: u32) -> u64 {
    let width = hi - lo;
    if width >= 64 {
        h
    } else {
        (h >> lo) & ((1u64 << width) - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipscale_core::rng::Random as _;

    fn picture(size: usize, shift: usize) -> Vec<u8> {
        let mut rgb = vec![255u8; size * size * 3];
        for y in 0..size {
            for x in 0..size {
                let inside = (x + shift) % size < size / 2 && y > size / 4 && y < 3 * size / 4;
                let ring = ((x as i64 - 20).pow(2) + (y as i64 - 40).pow(2)) < 100;
                if inside || ring {
                    let i = (y * size + x) * 3;
                    rgb[i] = 30;
                    rgb[i + 1] = 60;
                    rgb[i + 2] = (x * 3 % 256) as u8;
                }
            }
        }
        rgb
    }

    #[test]
    fn resizing_keeps_the_hash_close_and_other_pictures_are_far() {
        let a = phash(&picture(64, 0), 64, 64).unwrap();
        let small = image::imageops::resize(
            &image::RgbImage::from_raw(64, 64, picture(64, 0)).unwrap(),
            40,
            40,
            image::imageops::FilterType::Triangle,
        );
        let b = phash(small.as_raw(), 40, 40).unwrap();
        assert!(distance(a, b) <= 4, "{}", distance(a, b));
        let other = phash(&picture(64, 29), 64, 64).unwrap();
        assert!(distance(a, other) > 12, "{}", distance(a, other));
    }

    #[test]
    fn blank_images_and_bad_buffers_have_no_hash() {
        assert_eq!(phash(&vec![255; 32 * 32 * 3], 32, 32), None);
        assert_eq!(phash(&[0; 10], 32, 32), None);
    }

    #[test]
    fn the_index_finds_exactly_the_hashes_within_the_distance() {
        let mut rng = clipscale_core::rng::SplitMix64::new(7);
        let hashes: Vec<u64> = (0..2000).map(|_| rng.next_u64()).collect();
        for bits in [0, 3, 6] {
            let index = HashIndex::new(hashes.clone(), bits);
            for q in 0..50 {
                let mut h = hashes[q * 37];
                // flip `bits` bits of a stored hash: still found
                for b in 0..bits {
                    h ^= 1 << (b * 7 % 64);
                }
                let brute: Vec<u32> = (0..hashes.len() as u32)
                    .filter(|&i| distance(hashes[i as usize], h) <= bits)
                    .collect();
                assert!(brute.contains(&((q * 37) as u32)));
                assert_eq!(index.within(h), brute);
                assert!(index.any_within(h));
            }
        }
    }
}
