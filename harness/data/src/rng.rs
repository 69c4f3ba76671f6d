//! How the data crate addresses its randomness: every sample is keyed by `(seed, stream, index)`.
//! [`sample_key`] hashes that triple into a 64-bit key (injective in `index` for a fixed seed
//! and stream) that seeds a [`SplitMix64`] to draw the scene, crop or order; per-pixel noise uses
//! the stateless [`hash2`] so that rendering needs no sequential state. The generator and mixer
//! are `clipscale_core::rng`'s.

pub(crate) use clipscale_core::rng::{GOLDEN, mix64};

/// The key of sample `index` of `stream` under `seed`. For a fixed `(seed, stream)` distinct
/// indices give distinct keys (an odd multiple of the index through a bijection).
#[inline]
pub(crate) fn sample_key(seed: u64, stream: u64, index: u64) -> u64 {
    let base = mix64(seed ^ mix64(stream.wrapping_mul(GOLDEN)));
    mix64(base.wrapping_add(index.wrapping_mul(GOLDEN)))
}

/// A stateless hash of a 2-D lattice point to `[0, 1)`.
#[inline]
pub(crate) fn hash2(seed: u64, x: u32, y: u32) -> f32 {
    let h = mix64(seed ^ ((u64::from(x) << 32) | u64::from(y)).wrapping_mul(GOLDEN));
    (h >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_across_index_seed_and_stream() {
        let a = sample_key(1, 0, 5);
        assert_ne!(a, sample_key(1, 0, 6));
        assert_ne!(a, sample_key(2, 0, 5));
        assert_ne!(a, sample_key(1, 1, 5));
        assert_eq!(a, sample_key(1, 0, 5));
    }

    #[test]
    fn hash_is_in_unit_interval() {
        let mut sum = 0.0;
        for i in 0..10_000u32 {
            let h = hash2(9, i, i / 3);
            assert!((0.0..1.0).contains(&h));
            sum += h;
        }
        assert!((sum / 10_000.0 - 0.5).abs() < 0.02);
    }
}
