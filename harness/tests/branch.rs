//! Branched cooldowns through the real binary: a sweep with `branch = true` trains one trunk at
//! the constant rate and each length as a cooldown from the trunk's checkpoint. A branch's
//! records must equal, exactly on the CPU, those of an independent run with the same
//! learning-rate curve, even when the trunk and a branch are SIGKILLed mid-run and resumed.

mod common;

use std::path::Path;
use std::process::Command;

use clipscale::model::ModelLadder;
use clipscale::sweep::Sweep;
use clipscale::train::TrialSpec;
use clipscale_analysis::records::{Branching, EvalRecord, FinalRecord, MetricsRecord};
use clipscale_analysis::trial::TrialDir;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_clipscale"))
}

/// The settings every run here shares, as `train` flags (`--x-y v`) and as sweep keys.
const SETTINGS: [(&str, &str); 11] = [
    ("model", "\"w32-d2\""),
    ("batch", "32"),
    ("lr", "2e-3"),
    ("eval_samples", "64"),
    ("eval_batch", "32"),
    ("schedule", "\"constant-cooldown\""),
    ("warmup_samples", "320"),
    ("log_every", "64"),
    ("eval_every", "1024"),
    ("checkpoint_every", "512"),
    ("seed", "3"),
];

const LENGTHS: [u64; 2] = [2048, 4096];

fn sweep_file(dir: &Path) -> std::path::PathBuf {
    let base: Vec<String> = SETTINGS.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    let text = format!(
        "name = \"branched\"\nbranch = true\n[base]\n{}\n[axes]\nsamples = {LENGTHS:?}\n",
        base.join("\n")
    );
    let file = dir.join("branched.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// An independent run of `samples` with the same settings (`clipscale train`); its folder.
fn independent(out: &Path, samples: u64) -> TrialDir {
    let mut args: Vec<String> = vec!["train".into(), "--quiet".into()];
    for (k, v) in SETTINGS {
        args.push(format!("--{}", k.replace('_', "-")));
        args.push(v.trim_matches('"').to_string());
    }
    args.extend(["--samples".into(), samples.to_string()]);
    args.extend(["--out".into(), out.display().to_string()]);
    let o = bin().args(&args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    TrialDir::new(common::adhoc_trial(out))
}

/// What must not depend on timing: each metrics record but its step and data times.
fn curve(t: &TrialDir) -> Vec<(u64, u64, u64, u64, u64)> {
    common::records::<MetricsRecord>(&t.metrics_path())
        .iter()
        .map(|r| {
            let bits = |x: f64| x.to_bits();
            (
                r.step,
                r.samples_seen,
                bits(r.loss),
                bits(r.lr),
                bits(r.logit_scale),
            )
        })
        .collect()
}

fn final_record(t: &TrialDir) -> FinalRecord {
    t.read_final().unwrap().expect("final.json")
}

#[test]
fn branches_killed_and_resumed_record_exactly_what_independent_runs_record() {
    let dir = common::fresh_dir("branch", "exact");
    let out = dir.join("results");
    // SIGKILL at step 40 (in the trunk, between its checkpoints at steps 32 and 48) and at step
    // 120 (in the 4,096-sample branch, after its own checkpoint at step 112); the executor's
    // retries resume each from its newest checkpoint
    let o = bin()
        .args(["sweep", "run", "--no-analysis"])
        .arg(sweep_file(&dir))
        .arg("--out")
        .arg(&out)
        .env("CLIPSCALE_TEST_CRASH_AT_STEP", "40,120")
        .env("CLIPSCALE_TEST_CRASH_MARKER", dir.join("killed"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("2 trials, branched from 1 trunk"),
        "{stdout}"
    );
    // trunk 3,264 samples + cooldowns 416 and 832, against 2,048 + 4,096 run independently
    assert!(
        stdout.contains("compute:") && stdout.contains("27% saved"),
        "{stdout}"
    );
    for step in [40, 120] {
        assert!(
            dir.join(format!("killed.{step}")).exists(),
            "killed at step {step}"
        );
    }

    let sweep = out.join("branched");
    let trunks: Vec<TrialDir> = std::fs::read_dir(sweep.join("trunks"))
        .unwrap()
        .flatten()
        .map(|e| TrialDir::new(e.path()))
        .collect();
    assert_eq!(trunks.len(), 1, "one trunk for the two lengths");
    let trunk = &trunks[0];
    let head = trunk.read_spec_head().unwrap();
    assert_eq!(
        head.branching,
        Some(Branching::Trunk {
            branch_points: vec![1632, 3264]
        }),
        "each branch point: the cooldown's start (the last 20%) on a step at or before it"
    );
    assert_eq!(head.samples, 3264);
    let steps: Vec<u64> = trunk.checkpoints().iter().map(|(s, _)| *s).collect();
    assert!(
        steps.contains(&51) && steps.contains(&102),
        "the branch points' checkpoints are kept: {steps:?}"
    );
    let trunk_log = std::fs::read_to_string(trunk.log_path()).unwrap();
    assert!(trunk_log.contains("resumed from step 32"), "{trunk_log}");

    for samples in LENGTHS {
        let branch = std::fs::read_dir(&sweep)
            .unwrap()
            .flatten()
            .map(|e| TrialDir::new(e.path()))
            .find(|t| t.has_spec() && t.read_spec_head().unwrap().samples == samples)
            .unwrap();
        let log = std::fs::read_to_string(branch.log_path()).unwrap();
        assert!(log.contains("branched from trunk"), "{log}");
        if samples == 4096 {
            assert!(log.contains("resumed from step 112"), "{log}");
        }
        let alone = independent(&dir.join(format!("alone-{samples}")), samples);
        assert_eq!(
            branch.name(),
            alone.name(),
            "the same trial: branching is not part of what determines the result"
        );
        assert_eq!(curve(&branch), curve(&alone), "metrics of {samples}");
        let evals = |t: &TrialDir| common::records::<EvalRecord>(&t.evals_path());
        assert_eq!(evals(&branch), evals(&alone), "evaluations of {samples}");
        assert!(!evals(&branch).is_empty());
        let (b, a) = (final_record(&branch), final_record(&alone));
        assert_eq!(
            (
                b.steps,
                b.samples_seen,
                b.unique_samples,
                b.final_loss.map(f64::to_bits)
            ),
            (
                a.steps,
                a.samples_seen,
                a.unique_samples,
                a.final_loss.map(f64::to_bits)
            ),
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn resolve(text: &str) -> Result<Vec<TrialSpec>, String> {
    let provenance = common::test_provenance();
    Sweep::parse(text, Path::new("b.toml"))
        .and_then(|s| s.resolve(&ModelLadder::builtin(), &provenance))
        .map_err(|e| e.to_string())
}

#[test]
fn each_group_of_lengths_gets_one_trunk_and_shares_the_largest_trials_warmup_and_intervals() {
    let specs = resolve(
        r#"
name = "b"
branch = true
[base]
batch = 64
schedule = "constant-cooldown"
[axes]
model = ["w32-d2", "w48-d2"]
samples = [6400, 12800, 25600]
[[trial]]
model = "w32-d2"
samples = 6400
schedule = "cosine"
"#,
    )
    .unwrap();
    let trunks: Vec<&TrialSpec> = specs.iter().filter(|s| s.head.is_trunk()).collect();
    assert_eq!(trunks.len(), 2, "one per model");
    assert!(specs[..2].iter().all(|s| s.head.is_trunk()), "trunks first");
    for trunk in trunks {
        let Some(Branching::Trunk { branch_points }) = &trunk.head.branching else {
            panic!("{:?}", trunk.head.branching)
        };
        // the last 20% of each length, on a step of 64 at or before its start
        assert_eq!(branch_points, &vec![5120, 10240, 20480]);
        assert_eq!(trunk.head.samples, 20480);
        assert!(trunk.head.trial_id.starts_with("trunk-"));
        let branches: Vec<&TrialSpec> = specs
            .iter()
            .filter(|s| {
                matches!(&s.head.branching, Some(Branching::Branch { trunk: t, .. }) if *t == trunk.head.trial_id)
            })
            .collect();
        assert_eq!(branches.len(), 3);
        for b in branches {
            assert_eq!(b.model.name, trunk.model.name);
            // the largest trial's: 5% of 25,600 samples, and its intervals
            assert_eq!(b.optim.warmup_samples, 1280);
            assert_eq!(b.intervals.eval_every_samples, 25600 / 4);
            assert_eq!(b.intervals.log_every_samples, 256);
        }
    }
    let alone: Vec<&TrialSpec> = specs
        .iter()
        .filter(|s| s.head.branching.is_none())
        .collect();
    assert_eq!(alone.len(), 1, "the cosine trial runs on its own");
    assert_eq!(alone[0].optim.warmup_samples, 320, "with its own warm-up");
}

#[test]
fn a_sweep_that_cannot_branch_says_why() {
    let err = resolve(
        "name = \"b\"\nbranch = true\n[base]\nmodel = \"w32-d2\"\n[axes]\nsamples = [640, 1280]\n",
    )
    .unwrap_err();
    assert!(
        err.contains("b.toml") && err.contains("constant-cooldown"),
        "{err}"
    );
    let err = resolve(
        "name = \"b\"\nbranch = true\n[base]\nmodel = \"w32-d2\"\nschedule = \"constant-cooldown\"\nbatch = 32\n[[trial]]\nsamples = 640\nwarmup_samples = 32\n[[trial]]\nsamples = 6400\nwarmup_samples = 1000\n",
    )
    .unwrap_err();
    assert!(
        err.contains("warm-up") && err.contains("1000"),
        "the shared warm-up is longer than the short trial: {err}"
    );
}
