//! A branch of a branched sweep starts from its trunk: the trunk's checkpoint at the branch
//! point (the step before the branch's own cooldown starts) copied into the branch's folder,
//! with the records the trunk had written by then, as the branch's own. The run then resumes
//! from that checkpoint like any interrupted trial, so the branch's records are those of an
//! independent run with the same learning-rate curve: the curve, the data stream and the
//! weights up to the branch point are the trunk's (see `harness/tests/branch.rs`).

use std::path::{Path, PathBuf};

use clipscale_analysis::branching::TRUNKS;
use clipscale_analysis::records::CheckpointState;
use clipscale_analysis::trial::TrialDir;
use thiserror::Error;

use crate::train::schedule::ScheduleShape;
use crate::train::spec::TrialSpec;

#[derive(Debug, Error)]
pub enum BranchError {
    #[error(
        "branch {branch} starts from trunk {trunk}'s checkpoint after {samples} samples, which {trunk_dir} does not hold yet ({why}); run the trunk first (the sweep's executors do)"
    )]
    NotReady {
        branch: String,
        trunk: String,
        trunk_dir: PathBuf,
        samples: u64,
        why: String,
    },
    #[error(
        "branch {branch}: {trunk_dir} holds a trunk whose {field} differs from the branch's; the trunk folder does not belong to this sweep's branch"
    )]
    Mismatch {
        branch: String,
        trunk_dir: PathBuf,
        field: &'static str,
    },
    #[error("branch {branch}: {path}: {message}")]
    Io {
        branch: String,
        path: PathBuf,
        message: String,
    },
    #[error(transparent)]
    Records(#[from] clipscale_analysis::AnalysisError),
}

/// The trunk folder named `trunk` beside the trial folder `trial` (`<sweep>/trunks/<trunk>`).
pub fn trunk_dir(trial: &TrialDir, trunk: &str) -> TrialDir {
    let sweep = trial.path().parent().unwrap_or(Path::new("."));
    TrialDir::new(sweep.join(TRUNKS).join(trunk))
}

/// Makes `trial` (a branch of `trunk`, starting after `from_samples`) a copy of its trunk at
/// the branch point: records up to it and its checkpoint (with the wall time set to 0, so the
/// branch's own time is what it records). Anything the branch's folder held before is replaced.
pub fn seed_from_trunk(
    trial: &TrialDir,
    spec: &TrialSpec,
    trunk: &str,
    from_samples: u64,
) -> Result<(), BranchError> {
    let branch = spec.head.trial_id.clone();
    let source = trunk_dir(trial, trunk);
    let step = from_samples / spec.head.batch_size as u64;
    let checkpoint = source.checkpoint(step);
    if !checkpoint.state_path().is_file() {
        let why = match source.read_final() {
            Ok(Some(f)) => format!("the trunk ended {} without it", f.status),
            _ if !source.has_spec() => "the trunk has not started".into(),
            _ => "the trunk has not reached it".into(),
        };
        return Err(BranchError::NotReady {
            branch,
            trunk: trunk.to_string(),
            trunk_dir: source.path().to_path_buf(),
            samples: from_samples,
            why,
        });
    }
    check_trunk(&source, spec)?;
    let io = |path: &Path, e: std::io::Error| BranchError::Io {
        branch: branch.clone(),
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    // a fresh branch: nothing of an earlier attempt stays
    let own = trial.checkpoints_path();
    if own.exists() {
        std::fs::remove_dir_all(&own).map_err(|e| io(&own, e))?;
    }
    trial.copy_records_upto(&source, step, from_samples)?;
    // the checkpoint last, by rename: a branch killed while seeding is seeded again
    let tmp = trial.checkpoint_tmp(step);
    std::fs::create_dir_all(tmp.path()).map_err(|e| io(tmp.path(), e))?;
    for entry in std::fs::read_dir(checkpoint.path()).map_err(|e| io(checkpoint.path(), e))? {
        let from = entry.map_err(|e| io(checkpoint.path(), e))?.path();
        let to = tmp.path().join(from.file_name().unwrap_or_default());
        std::fs::copy(&from, &to).map_err(|e| io(&from, e))?;
    }
    let state = CheckpointState {
        wall_s: 0.0,
        ..checkpoint.read_state().map_err(BranchError::Records)?
    };
    tmp.write_state(&state)?;
    let done = trial.checkpoint(step);
    std::fs::rename(tmp.path(), done.path()).map_err(|e| io(done.path(), e))?;
    trial.log(&format!(
        "branched from trunk {trunk} at step {step} ({from_samples} samples seen)"
    ));
    Ok(())
}

/// Refuses a trunk folder whose run is not this branch's up to the branch point: the same
/// model, data, batch, seed and optimisation, with the trunk's constant rate.
fn check_trunk(source: &TrialDir, spec: &TrialSpec) -> Result<(), BranchError> {
    let trunk: TrialSpec = source.read_spec()?;
    let mismatch = |field| BranchError::Mismatch {
        branch: spec.head.trial_id.clone(),
        trunk_dir: source.path().to_path_buf(),
        field,
    };
    let mut optim = spec.optim.clone();
    optim.schedule = ScheduleShape::Constant;
    let checks = [
        ("model", trunk.model == spec.model),
        ("data", trunk.data == spec.data),
        ("batch size", trunk.head.batch_size == spec.head.batch_size),
        ("seed", trunk.head.seed == spec.head.seed),
        ("optimisation", trunk.optim == optim),
    ];
    match checks.into_iter().find(|(_, same)| !same) {
        Some((field, _)) => Err(mismatch(field)),
        None => Ok(()),
    }
}
