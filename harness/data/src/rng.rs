//! Small deterministic randomness, written here so the crate needs no RNG dependency.
//!
//! Every sample is addressed by `(seed, stream, index)`: [`sample_key`] hashes that triple into
//! a 64-bit key (injective in `index` for a fixed seed and stream), and an [`Rng`] (SplitMix64)
//! seeded with the key draws the scene. Per-pixel noise uses the stateless [`hash2`] so that
//! rendering needs no sequential state.

/// The 64-bit golden-ratio increment of SplitMix64.
pub(crate) const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finaliser: a bijective 64-bit mixer.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

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

/// SplitMix64: tiny, fast, and good enough for drawing scene attributes.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }

    /// Uniform in `0..n`; 0 when `n` is 0. Valid for `n < 2^32`.
    #[inline]
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in `[lo, hi)`.
    #[inline]
    pub(crate) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// True with probability `p`.
    #[inline]
    pub(crate) fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }

    /// A uniformly chosen element; `None` only for an empty slice.
    #[inline]
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }

    /// Fisher-Yates shuffle in place.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
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
    fn below_is_in_range_and_covers_all_values() {
        let mut rng = Rng::new(7);
        let mut seen = [0usize; 7];
        for _ in 0..7000 {
            let v = rng.below(7);
            assert!(v < 7);
            seen[v] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
        assert_eq!(rng.below(0), 0);
    }

    #[test]
    fn unit_and_hash_are_in_unit_interval() {
        let mut rng = Rng::new(3);
        let mut sum = 0.0;
        for i in 0..10_000u32 {
            let u = rng.unit();
            let h = hash2(9, i, i / 3);
            assert!((0.0..1.0).contains(&u) && (0.0..1.0).contains(&h));
            sum += u;
        }
        assert!((sum / 10_000.0 - 0.5).abs() < 0.02);
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut rng = Rng::new(11);
        let mut v: Vec<usize> = (0..20).collect();
        rng.shuffle(&mut v);
        assert_ne!(v, (0..20).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..20).collect::<Vec<_>>());
    }
}
