//! Branching a sweep (`branch = true`): trials with `schedule = "constant-cooldown"` that
//! differ only in length form a group; the group shares its largest trial's warm-up and
//! intervals (absolute, in samples), one trunk trains at the constant peak rate to the largest
//! branch point, checkpointing at every branch point, and each trial becomes a branch that
//! starts from the trunk's checkpoint where its own cooldown starts (the step at or before it).
//! The trunks come first in the returned list; executors start a branch only once its trunk
//! holds its checkpoint ([`ready`]).

use std::collections::BTreeMap;

use clipscale_analysis::records::Branching;

use crate::train::schedule::{Schedule, ScheduleShape};
use crate::train::spec::trial_id;
use crate::train::{TrialSpec, branch::trunk_dir};

/// `specs` with every group of two or more lengths branched from a trunk of its own: the
/// trunks first, then the trials (in their order; those outside a group as they were). An
/// error says which trial cannot branch and why.
pub fn branch(specs: Vec<TrialSpec>) -> Result<Vec<TrialSpec>, String> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, s) in specs.iter().enumerate() {
        if let Some(key) = group_key(s) {
            groups.entry(key).or_default().push(i);
        }
    }
    let mut specs = specs;
    let mut trunks = Vec::new();
    for members in groups.values().filter(|m| m.len() >= 2) {
        let largest = *members
            .iter()
            .max_by_key(|&&i| specs[i].head.samples)
            .expect("a group has members");
        let (warmup, iv) = (
            specs[largest].optim.warmup_samples,
            specs[largest].intervals.clone(),
        );
        let mut points = Vec::new();
        for &i in members {
            let s = &mut specs[i];
            if warmup > s.head.samples {
                return Err(format!(
                    "trial {}: the warm-up its group shares ({warmup} samples, the largest trial's) is longer than the trial; set warmup_samples",
                    s.head.trial_id
                ));
            }
            s.optim.warmup_samples = warmup;
            s.intervals.log_every_samples = iv.log_every_samples;
            s.intervals.eval_every_samples = iv.eval_every_samples;
            s.intervals.checkpoint_every_samples = iv.checkpoint_every_samples;
            s.head.trial_id = trial_id(s);
            points.push(branch_point(s));
        }
        let mut trunk = specs[largest].clone();
        let mut branch_points: Vec<u64> = points.iter().copied().filter(|&p| p > 0).collect();
        branch_points.sort_unstable();
        branch_points.dedup();
        let Some(&end) = branch_points.last() else {
            continue; // every cooldown is the whole run: nothing to share
        };
        trunk.head.samples = end;
        trunk.optim.schedule = ScheduleShape::Constant;
        trunk.head.branching = Some(Branching::Trunk { branch_points });
        trunk.head.trial_id = format!("trunk-{}", trial_id(&trunk));
        for (&i, &from_samples) in members.iter().zip(&points) {
            if from_samples > 0 {
                specs[i].head.branching = Some(Branching::Branch {
                    trunk: trunk.head.trial_id.clone(),
                    from_samples,
                });
            }
        }
        trunks.push(trunk);
    }
    if trunks.is_empty() {
        return Err(
            "branch = true, but no trials branch: it needs trials with schedule = \"constant-cooldown\" that differ only in samples (or train_flops)".into(),
        );
    }
    let mut seen = BTreeMap::new();
    for (i, s) in specs.iter().enumerate() {
        if let Some(j) = seen.insert(s.head.trial_id.clone(), i) {
            return Err(format!(
                "trials {j} and {i} become the same trial ({}) once their group shares its warm-up and intervals",
                s.head.trial_id
            ));
        }
    }
    trunks.extend(specs);
    Ok(trunks)
}

/// What a group's trials share: the whole spec except its length, id, warm-up and intervals;
/// `None` for a trial that cannot branch (not constant-cooldown).
fn group_key(spec: &TrialSpec) -> Option<String> {
    if !matches!(spec.optim.schedule, ScheduleShape::ConstantCooldown { .. }) {
        return None;
    }
    let mut s = spec.clone();
    s.head.samples = 0;
    s.head.trial_id.clear();
    s.optim.warmup_samples = 0;
    s.intervals.log_every_samples = 0;
    s.intervals.eval_every_samples = 0;
    s.intervals.checkpoint_every_samples = 0;
    serde_json::to_string(&s).ok()
}

/// Where `spec` leaves the trunk: the start of its cooldown, at or before it on a step.
pub fn branch_point(spec: &TrialSpec) -> u64 {
    let ScheduleShape::ConstantCooldown {
        cooldown_fraction, ..
    } = spec.optim.schedule
    else {
        return 0;
    };
    let start = Schedule {
        peak_lr: spec.optim.lr,
        warmup_samples: spec.optim.warmup_samples,
        total_samples: spec.head.samples,
        shape: spec.optim.schedule,
    }
    .cooldown_start(cooldown_fraction);
    let batch = spec.head.batch_size as u64;
    start / batch * batch
}

/// Whether a branch can start: its trunk's checkpoint at the branch point is there (`true` for
/// every trial that is not a branch).
pub fn ready(spec: &TrialSpec, results: &std::path::Path) -> bool {
    match &spec.head.branching {
        Some(Branching::Branch {
            trunk,
            from_samples,
        }) => trunk_dir(&spec.dir(results), trunk)
            .checkpoint(from_samples / spec.head.batch_size as u64)
            .state_path()
            .is_file(),
        _ => true,
    }
}

/// The trunk a branch starts from (`None` for every other trial).
pub fn trunk_of(spec: &TrialSpec) -> Option<&str> {
    match &spec.head.branching {
        Some(Branching::Branch { trunk, .. }) => Some(trunk),
        _ => None,
    }
}
