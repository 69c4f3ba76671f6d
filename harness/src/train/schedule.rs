//! Learning rate as a function of samples seen (never epochs): linear warm-up from 0 to the peak,
//! then cosine decay to 0 at the end of training, as open_clip's `cosine_lr` but counted in
//! samples rather than steps, so runs with different batch sizes share one schedule.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub peak_lr: f64,
    pub warmup_samples: u64,
    pub total_samples: u64,
}

impl Schedule {
    /// The rate for the step that starts after `samples_seen` samples. The first step of a
    /// warm-up of W samples at batch B uses peak * B / W (never 0, as open_clip's
    /// `(step + 1) / warmup`).
    pub fn lr(&self, samples_seen: u64, batch: u64) -> f64 {
        let done = samples_seen + batch;
        if done <= self.warmup_samples {
            return self.peak_lr * done as f64 / self.warmup_samples as f64;
        }
        let decay = self
            .total_samples
            .saturating_sub(self.warmup_samples)
            .max(1) as f64;
        let progress = ((samples_seen.saturating_sub(self.warmup_samples)) as f64 / decay).min(1.0);
        0.5 * self.peak_lr * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_linearly_then_decays_by_cosine_to_zero() {
        let s = Schedule {
            peak_lr: 1e-3,
            warmup_samples: 1000,
            total_samples: 11_000,
        };
        assert!((s.lr(0, 100) - 1e-4).abs() < 1e-12);
        assert!((s.lr(400, 100) - 5e-4).abs() < 1e-12);
        assert!((s.lr(900, 100) - 1e-3).abs() < 1e-12);
        assert!((s.lr(1000, 100) - 1e-3).abs() < 1e-12); // start of the decay
        assert!((s.lr(6000, 100) - 5e-4).abs() < 1e-12); // half-way: cos(pi/2) = 0
        assert!(s.lr(10_900, 100) < 1e-6);
        assert_eq!(s.lr(11_000, 100), 0.0);
        // monotone after warm-up
        let mut prev = f64::INFINITY;
        for seen in (1000..11_000).step_by(100) {
            let lr = s.lr(seen, 100);
            assert!(lr <= prev && lr >= 0.0);
            prev = lr;
        }
    }

    #[test]
    fn batch_size_does_not_change_the_curve_in_samples() {
        let s = Schedule {
            peak_lr: 5e-4,
            warmup_samples: 2048,
            total_samples: 65_536,
        };
        for seen in [4096u64, 10_000, 30_000, 60_000] {
            assert!((s.lr(seen, 64) - s.lr(seen, 256)).abs() < 1e-15);
        }
    }

    #[test]
    fn zero_warmup_starts_at_the_peak() {
        let s = Schedule {
            peak_lr: 2e-3,
            warmup_samples: 0,
            total_samples: 1000,
        };
        assert!((s.lr(0, 10) - 2e-3).abs() < 1e-15);
    }
}
