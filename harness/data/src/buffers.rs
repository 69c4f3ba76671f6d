//! Recycled image buffers for batches.
//!
//! A training batch of 224 px images is large (150 MB for 256 images). The data thread that
//! fills it is not the main thread, and glibc serves an allocation that large on such a thread
//! by mapping fresh memory from the kernel every time, so filling the batch paid a page fault
//! and a zeroing for every 4 KB, and then the memory went back to the kernel. On the 2-core
//! development VM the thread that reorders and batches decoded images managed 3,593 images per
//! CPU second at 224 px that way, and 11,378-12,047 with recycled buffers (`clipscale bench
//! data`, three alternating runs each way with `CLIPSCALE_BUFFER_POOL=0`, recorded). Batches
//! therefore take their image buffer from a small process-wide pool with [`take_f32`], and
//! whoever is done with one (the tensor that owned it, or a caller that only looked at it)
//! hands it back with [`recycle_f32`].
//!
//! Only buffers of [`MIN_POOLED_BYTES`] or more are pooled (the allocator reuses smaller ones
//! itself), at most [`MAX_POOLED`] at a time; when the pool is full the oldest one is dropped,
//! so buffers of a size no longer asked for (an evaluation's, say) age out.
//! `CLIPSCALE_BUFFER_POOL=0` turns the pool off, to measure what it saves.

use std::sync::{Mutex, MutexGuard, OnceLock};

/// Buffers smaller than this are left to the allocator.
pub const MIN_POOLED_BYTES: usize = 4 << 20;
/// At most this many buffers wait in the pool.
pub const MAX_POOLED: usize = 4;

/// A bounded pool of `f32` buffers.
pub struct BufferPool {
    buffers: Mutex<Vec<Vec<f32>>>,
    min_bytes: usize,
    max: usize,
}

impl BufferPool {
    /// Pools buffers of `min_bytes` or more, at most `max` of them.
    pub const fn new(min_bytes: usize, max: usize) -> Self {
        Self {
            buffers: Mutex::new(Vec::new()),
            min_bytes,
            max,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Vec<f32>>> {
        // the pool holds plain buffers: one left by a thread that panicked is still usable
        self.buffers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An empty vector with room for `len` values: a pooled buffer of at least `len` and at most
    /// twice `len` when there is one, else a new allocation.
    pub fn take(&self, len: usize) -> Vec<f32> {
        if len * size_of::<f32>() >= self.min_bytes {
            let mut buffers = self.lock();
            if let Some(i) = buffers
                .iter()
                .position(|v| v.capacity() >= len && v.capacity() <= 2 * len)
            {
                let mut v = buffers.remove(i);
                v.clear();
                return v;
            }
        }
        Vec::with_capacity(len)
    }

    /// Keeps `buffer` for a later [`take`](Self::take), dropping the oldest one when the pool is
    /// full; small buffers are simply freed.
    pub fn recycle(&self, mut buffer: Vec<f32>) {
        if buffer.capacity() * size_of::<f32>() < self.min_bytes {
            return;
        }
        buffer.clear();
        let mut buffers = self.lock();
        if buffers.len() >= self.max {
            buffers.remove(0);
        }
        buffers.push(buffer);
    }

    /// How many buffers wait in the pool.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when the buffer starting at `ptr` waits in the pool.
    pub fn holds(&self, ptr: *const f32) -> bool {
        self.lock().iter().any(|v| std::ptr::eq(v.as_ptr(), ptr))
    }

    /// True when no buffer waits in the pool.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The process-wide pool of batch image buffers.
pub static BATCH_IMAGES: BufferPool = BufferPool::new(MIN_POOLED_BYTES, MAX_POOLED);

/// Set to 0 to turn the pool off (to measure what it saves).
pub const POOL_ENV: &str = "CLIPSCALE_BUFFER_POOL";

/// False when [`POOL_ENV`] is 0.
pub fn pooling() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var(POOL_ENV).as_deref() != Ok("0"))
}

/// An empty vector with room for `len` values, from [`BATCH_IMAGES`].
pub fn take_f32(len: usize) -> Vec<f32> {
    if pooling() {
        BATCH_IMAGES.take(len)
    } else {
        Vec::with_capacity(len)
    }
}

/// Hands a batch's image buffer back to [`BATCH_IMAGES`] for a later [`take_f32`].
pub fn recycle_f32(buffer: Vec<f32>) {
    if pooling() {
        BATCH_IMAGES.recycle(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_by_size_and_the_pool_stays_bounded() {
        let pool = BufferPool::new(1024, 3);
        let big = 1024 / size_of::<f32>();
        // small buffers are never pooled
        pool.recycle(Vec::with_capacity(16));
        assert!(pool.is_empty());
        assert!(pool.take(16).capacity() >= 16);

        let mut a = pool.take(big);
        assert!(a.is_empty() && a.capacity() >= big);
        a.extend(std::iter::repeat_n(1.5f32, big));
        let ptr = a.as_ptr();
        pool.recycle(a);
        assert_eq!(pool.len(), 1);
        assert!(pool.holds(ptr));
        // a request it would more than half waste gets a new buffer
        let half = pool.take(big / 2 - 1);
        assert_ne!(half.as_ptr(), ptr);
        assert_eq!(pool.len(), 1);
        // a request it fits gets the same memory back, emptied
        let again = pool.take(big);
        assert_eq!(again.as_ptr(), ptr);
        assert!(again.is_empty() && again.capacity() >= big);
        assert!(pool.is_empty());

        // bounded, the oldest going first
        let oldest = pool.take(big);
        let oldest_ptr = oldest.as_ptr();
        pool.recycle(oldest);
        let newer: Vec<Vec<f32>> = (0..3).map(|_| Vec::with_capacity(big)).collect();
        let newer_ptrs: Vec<*const f32> = newer.iter().map(|v| v.as_ptr()).collect();
        for v in newer {
            pool.recycle(v);
        }
        assert_eq!(pool.len(), 3);
        let taken: Vec<Vec<f32>> = (0..3).map(|_| pool.take(big)).collect();
        let taken_ptrs: Vec<*const f32> = taken.iter().map(|v| v.as_ptr()).collect();
        assert_eq!(taken_ptrs, newer_ptrs, "taken in order of arrival");
        assert!(!taken_ptrs.contains(&oldest_ptr), "the oldest was dropped");
        assert!(pool.is_empty());
    }
}
