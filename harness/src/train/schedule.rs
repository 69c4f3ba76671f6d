//! Learning rate as a function of samples seen (never epochs): linear warm-up from 0 to the peak,
//! then either cosine decay to 0 at the end of training, as open_clip's `cosine_lr` but counted
//! in samples rather than steps, so runs with different batch sizes share one schedule; or the
//! peak held constant and a cooldown to 0 over the last fraction of the run (open_clip's
//! `const-cooldown`; Hagele et al. 2024 found the 1 - sqrt shape best), whose curve up to the
//! cooldown does not depend on the run's length.

use serde::{Deserialize, Serialize};

/// The shape of the decay after warm-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ScheduleShape {
    /// Cosine decay from the end of warm-up to 0 at the end.
    #[default]
    Cosine,
    /// The peak until the last `cooldown_fraction` of the samples, then down to 0.
    ConstantCooldown {
        cooldown_fraction: f64,
        cooldown_shape: CooldownShape,
    },
    /// The peak held to the end: a branched sweep's trunk, from whose checkpoints the trials
    /// cool down (never a trial's own schedule).
    Constant,
}

impl ScheduleShape {
    pub fn is_cosine(&self) -> bool {
        *self == ScheduleShape::Cosine
    }
}

/// How a cooldown falls from the peak to 0 (p: its progress, 0 to 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum CooldownShape {
    /// peak (1 - p).
    #[serde(rename = "linear")]
    #[value(name = "linear")]
    Linear,
    /// peak (1 - sqrt(p)).
    #[default]
    #[serde(rename = "1-sqrt")]
    #[value(name = "1-sqrt")]
    OneMinusSqrt,
}

/// Which schedule a trial asks for (`schedule = "cosine" | "constant-cooldown"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    #[default]
    Cosine,
    ConstantCooldown,
}

/// The cooldown's default length: the last 20% of the run.
pub const DEFAULT_COOLDOWN_FRACTION: f64 = 0.2;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub peak_lr: f64,
    pub warmup_samples: u64,
    pub total_samples: u64,
    #[serde(default)]
    pub shape: ScheduleShape,
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
        match self.shape {
            ScheduleShape::ConstantCooldown {
                cooldown_fraction,
                cooldown_shape,
            } => return self.cooldown_lr(samples_seen, cooldown_fraction, cooldown_shape),
            ScheduleShape::Constant => return self.peak_lr,
            ScheduleShape::Cosine => {}
        }
        let decay = self
            .total_samples
            .saturating_sub(self.warmup_samples)
            .max(1) as f64;
        let progress = ((samples_seen.saturating_sub(self.warmup_samples)) as f64 / decay).min(1.0);
        0.5 * self.peak_lr * (1.0 + (std::f64::consts::PI * progress).cos())
    }

    /// The first sample of the cooldown: the last `fraction` of the run (its length rounded to
    /// the nearest sample), never inside warm-up.
    pub fn cooldown_start(&self, fraction: f64) -> u64 {
        let cooldown = (self.total_samples as f64 * fraction).round() as u64;
        self.total_samples
            .saturating_sub(cooldown)
            .max(self.warmup_samples)
    }

    fn cooldown_lr(&self, samples_seen: u64, fraction: f64, shape: CooldownShape) -> f64 {
        let start = self.cooldown_start(fraction);
        if samples_seen < start {
            return self.peak_lr;
        }
        let length = self.total_samples.saturating_sub(start).max(1) as f64;
        let p = ((samples_seen - start) as f64 / length).min(1.0);
        self.peak_lr
            * match shape {
                CooldownShape::Linear => 1.0 - p,
                CooldownShape::OneMinusSqrt => 1.0 - p.sqrt(),
            }
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
            shape: ScheduleShape::Cosine,
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
            shape: ScheduleShape::Cosine,
        };
        for seen in [4096u64, 10_000, 30_000, 60_000] {
            assert!((s.lr(seen, 64) - s.lr(seen, 256)).abs() < 1e-15);
        }
    }

    fn cooldown(shape: CooldownShape, total: u64) -> Schedule {
        Schedule {
            peak_lr: 1e-3,
            warmup_samples: 1000,
            total_samples: total,
            shape: ScheduleShape::ConstantCooldown {
                cooldown_fraction: 0.2,
                cooldown_shape: shape,
            },
        }
    }

    #[test]
    fn constant_then_a_cooldown_over_the_last_fifth() {
        for shape in [CooldownShape::Linear, CooldownShape::OneMinusSqrt] {
            let s = cooldown(shape, 11_000);
            // warm-up as the cosine schedule's
            assert!((s.lr(0, 100) - 1e-4).abs() < 1e-12);
            assert!((s.lr(900, 100) - 1e-3).abs() < 1e-12);
            // constant until 80% of the run
            assert_eq!(s.cooldown_start(0.2), 8800);
            for seen in [1000u64, 5000, 8700] {
                assert_eq!(s.lr(seen, 100), 1e-3, "{shape:?} at {seen}");
            }
            assert_eq!(s.lr(8800, 100), 1e-3, "the cooldown starts at the peak");
            assert_eq!(s.lr(11_000, 100), 0.0, "and ends at 0");
            let mut prev = f64::INFINITY;
            for seen in (8800..=11_000).step_by(100) {
                let lr = s.lr(seen, 100);
                assert!(lr <= prev && lr >= 0.0);
                prev = lr;
            }
        }
        // half-way through the cooldown: linear at half the peak, 1 - sqrt below it
        let half = 8800 + 1100;
        let lin = cooldown(CooldownShape::Linear, 11_000).lr(half, 100);
        let sqrt = cooldown(CooldownShape::OneMinusSqrt, 11_000).lr(half, 100);
        assert!((lin - 5e-4).abs() < 1e-12, "{lin}");
        assert!(
            (sqrt - 1e-3 * (1.0 - 0.5f64.sqrt())).abs() < 1e-12,
            "{sqrt}"
        );
    }

    #[test]
    fn a_longer_run_follows_the_same_curve_until_the_shorter_ones_cooldown() {
        let (short, long) = (
            cooldown(CooldownShape::OneMinusSqrt, 10_000),
            cooldown(CooldownShape::OneMinusSqrt, 40_000),
        );
        for seen in (0..short.cooldown_start(0.2)).step_by(64) {
            assert_eq!(short.lr(seen, 64), long.lr(seen, 64), "at {seen}");
        }
        // a cosine schedule's curve depends on the run's length from the first decaying step
        let cos = |total| Schedule {
            peak_lr: 1e-3,
            warmup_samples: 1000,
            total_samples: total,
            shape: ScheduleShape::Cosine,
        };
        assert_ne!(cos(10_000).lr(2000, 64), cos(40_000).lr(2000, 64));
    }

    #[test]
    fn a_trunk_follows_every_cooldown_schedule_until_its_cooldown_starts() {
        let trunk = Schedule {
            shape: ScheduleShape::Constant,
            ..cooldown(CooldownShape::OneMinusSqrt, 32_000)
        };
        for total in [10_000u64, 20_000, 40_000] {
            let s = cooldown(CooldownShape::OneMinusSqrt, total);
            for seen in (0..s.cooldown_start(0.2)).step_by(64) {
                assert_eq!(trunk.lr(seen, 64), s.lr(seen, 64), "{total} at {seen}");
            }
        }
        assert_eq!(trunk.lr(31_936, 64), 1e-3, "no decay at its end");
    }

    #[test]
    fn zero_warmup_starts_at_the_peak() {
        let s = Schedule {
            peak_lr: 2e-3,
            warmup_samples: 0,
            total_samples: 1000,
            shape: ScheduleShape::Cosine,
        };
        assert!((s.lr(0, 10) - 2e-3).abs() < 1e-15);
    }
}
