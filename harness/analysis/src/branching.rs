//! The compute of a branched sweep against what independent runs would have spent: a trunk
//! trains each group of lengths once at the constant rate, and each trial then trains only its
//! own cooldown from the trunk's checkpoint (see [`Branching`]). Planned samples count (the
//! plan's figure), whatever has run so far.

use std::path::Path;

use crate::records::{Branching, TrialSpecHead, train_flops};
use crate::trial::TrialDir;

/// Training compute of a sweep's runs, in FLOPs (6 x forward MACs x samples).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ComputeAccount {
    /// Trials (points of the scaling curves), branches among them, and trunks.
    pub trials: usize,
    pub branches: usize,
    pub trunks: usize,
    /// What the sweep's runs train: trunks, branches' cooldowns, independent trials.
    pub spent_flops: f64,
    /// What every trial run on its own from the start would train.
    pub independent_flops: f64,
}

impl ComputeAccount {
    /// The account of the runs `heads` (trials and trunks).
    pub fn of<'a>(heads: impl IntoIterator<Item = &'a TrialSpecHead>) -> Self {
        let mut a = ComputeAccount::default();
        for h in heads {
            let macs = h.model_summary.fwd_macs_per_pair;
            a.spent_flops += train_flops(macs, h.own_samples());
            match &h.branching {
                Some(Branching::Trunk { .. }) => a.trunks += 1,
                other => {
                    a.trials += 1;
                    a.branches += usize::from(other.is_some());
                    a.independent_flops += train_flops(macs, h.samples);
                }
            }
        }
        a
    }

    /// The share of the independent runs' compute that branching saves (negative when it
    /// costs more).
    pub fn saved_fraction(&self) -> f64 {
        1.0 - self.spent_flops / self.independent_flops
    }

    /// One line for people: what was spent against what independent runs would have spent.
    pub fn line(&self) -> String {
        format!(
            "compute: {:.3e} training FLOPs for {} trials ({} branched from {} trunk{}), against {:.3e} run independently: {:.0}% saved",
            self.spent_flops,
            self.trials,
            self.branches,
            self.trunks,
            if self.trunks == 1 { "" } else { "s" },
            self.independent_flops,
            100.0 * self.saved_fraction()
        )
    }

    /// The figures a sweep's benchmark record keeps.
    pub fn figures(&self) -> Vec<(String, String)> {
        vec![
            (
                "compute_spent_flops".into(),
                format!("{:.4e}", self.spent_flops),
            ),
            (
                "compute_independent_flops".into(),
                format!("{:.4e}", self.independent_flops),
            ),
            (
                "compute_saved_fraction".into(),
                format!("{:.4}", self.saved_fraction()),
            ),
        ]
    }
}

/// The account of the sweep folder `sweep_dir` (its trial folders and its `trunks/`), from the
/// specs written there; `None` when no trial there is a branch.
pub fn account_sweep_dir(sweep_dir: &Path) -> crate::Result<Option<ComputeAccount>> {
    let mut heads = Vec::new();
    for dir in [sweep_dir.to_path_buf(), sweep_dir.join(TRUNKS)] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let trial = TrialDir::new(entry.path());
            if trial.has_spec() {
                heads.push(trial.read_spec_head()?);
            }
        }
    }
    let account = ComputeAccount::of(&heads);
    Ok((account.branches > 0).then_some(account))
}

/// The folder of a sweep's trunks, beside its trials.
pub const TRUNKS: &str = "trunks";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ModelSummary, Provenance, SCHEMA_VERSION};

    fn head(samples: u64, branching: Option<Branching>) -> TrialSpecHead {
        TrialSpecHead {
            schema_version: SCHEMA_VERSION,
            trial_id: format!("t{samples}"),
            sweep: "s".into(),
            provenance: Provenance {
                git_commit: String::new(),
                git_dirty: false,
                clipscale_version: String::new(),
                burn_version: String::new(),
                backend: String::new(),
                device: String::new(),
                float_type: String::new(),
                threads: 1,
                host: String::new(),
                started_unix_s: 0.0,
            },
            model_summary: ModelSummary {
                name: "m".into(),
                params: 1,
                image_params: 0,
                text_params: 0,
                fwd_macs_per_pair: 10,
                image_fwd_macs: 0,
                text_fwd_macs: 0,
            },
            dataset: "synthetic".into(),
            samples,
            batch_size: 10,
            seed: 0,
            branching,
        }
    }

    #[test]
    fn a_trunk_and_its_cooldowns_against_independent_runs() {
        let branch = |samples, from| {
            head(
                samples,
                Some(Branching::Branch {
                    trunk: "k".into(),
                    from_samples: from,
                }),
            )
        };
        let runs = [
            head(
                800,
                Some(Branching::Trunk {
                    branch_points: vec![200, 400, 800],
                }),
            ),
            branch(250, 200),
            branch(500, 400),
            branch(1000, 800),
            head(300, None),
        ];
        let a = ComputeAccount::of(&runs);
        assert_eq!((a.trials, a.branches, a.trunks), (4, 3, 1));
        // 60 FLOPs a sample: trunk 800, cooldowns 50 + 100 + 200, the independent trial 300
        assert_eq!(a.spent_flops, 60.0 * (800.0 + 350.0 + 300.0));
        assert_eq!(a.independent_flops, 60.0 * (250.0 + 500.0 + 1000.0 + 300.0));
        assert!((a.saved_fraction() - (1.0 - 1450.0 / 2050.0)).abs() < 1e-12);
        assert!(a.line().contains("29% saved"), "{}", a.line());
    }
}
