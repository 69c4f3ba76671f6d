//! `compare` on groups with known answers: two power laws that cross at a known compute, two
//! parallel ones that never cross, the probability that one is better where the answer is
//! plain, the record's schema, and the command-line path with its figure.

mod common;

use std::path::{Path, PathBuf};

use clap::Parser;
use clipscale_analysis::cli::{CompareArgs, run_compare};
use clipscale_analysis::compare::{CompareRecord, crossing};
use clipscale_analysis::pipeline::Law;
use clipscale_analysis::records::read_json;
use clipscale_core::rng::{Random, Xoshiro256};
use common::temp_dir;

const HEADER: &str = "sweep,trial_id,model,params,samples_seen,unique_samples,train_flops,fwd_macs_per_pair,total_gmacs,dataset,metric,value,source,train_data";

/// A table of two groups, each 30 runs with 1% noise around `beta * C^alpha` (a loss, so
/// values above 1 are fine), C from 1e3 to 1e8.
fn table(dir: &Path, laws: [(&str, f64, f64); 2]) -> PathBuf {
    let mut s = format!("{HEADER}\n");
    let mut rng = Xoshiro256::new(7);
    for (g, beta, alpha) in laws {
        for k in 0..30 {
            let c = 10f64.powf(3.0 + 5.0 * f64::from(k) / 29.0);
            let v = beta * c.powf(alpha) * (0.01 * rng.normal()).exp();
            s += &format!(
                "sw,{g}{k},m,1,1,,{},1,{c},val,val_loss,{v},x,{g}\n",
                6e9 * c
            );
        }
    }
    let path = dir.join("t.csv");
    std::fs::write(&path, s).expect("write");
    path
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: CompareArgs,
}

fn args(table: &Path, extra: &[&str]) -> CompareArgs {
    let mut argv = vec![
        "compare".to_string(),
        "--table".into(),
        table.display().to_string(),
        "--frontier".into(),
        "none".into(),
        "--bootstrap".into(),
        "400".into(),
        "--threads".into(),
        "1".into(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    Cli::try_parse_from(argv).expect("arguments").args
}

#[test]
fn two_laws_that_cross_at_a_known_compute_are_found_there_with_an_interval() {
    // 2 C^-0.1 = 8 C^-0.2 at C = 4^10 = 1,048,576; A is better below it, B above.
    let dir = temp_dir("compare-cross");
    let t = table(&dir, [("A", 2.0, -0.1), ("B", 8.0, -0.2)]);
    let out = dir.join("cmp.json");
    let svg = dir.join("cmp.svg");
    let mut a = args(&t, &["--at", "1e4,1e8"]);
    a.out = Some(out.clone());
    a.plot = vec![svg.clone()];
    let rec = run_compare(&a).expect("compare");
    let p = rec.pair("A", "B").expect("pair");
    let c = p.crossing.compute.expect("a crossing");
    assert!((c / 1_048_576.0 - 1.0).abs() < 0.25, "crossing at {c}");
    let (lo, hi) = (
        p.crossing.ci_low.expect("low"),
        p.crossing.ci_high.expect("high"),
    );
    assert!(
        lo < 1_048_576.0 && 1_048_576.0 < hi && hi / lo < 4.0,
        "[{lo}, {hi}]"
    );
    assert!(p.crossing.share_crossing > 0.99);
    assert_eq!(p.crossing.better_at_start, "A");
    // The exponent difference: -0.1 - (-0.2) = 0.1, inside its interval.
    let e = &p.exponent_difference;
    assert!(
        (e.estimate - 0.1).abs() < 0.01 && e.ci_low < 0.1 && 0.1 < e.ci_high,
        "{e:?}"
    );
    assert!(
        p.asymptote_difference.is_none(),
        "a power law has no asymptote"
    );
    // Far from the crossing the answer is plain.
    assert_eq!(p.better_at.len(), 2);
    assert!(p.better_at[0].p_a_better > 0.99, "{:?}", p.better_at[0]);
    assert!(p.better_at[1].p_a_better < 0.01, "{:?}", p.better_at[1]);
    // Both groups were bootstrapped (30 distinct computes each).
    assert!(
        rec.groups
            .iter()
            .all(|g| g.resampled_by == "bootstrap" && g.draws == 400)
    );
    // The record round-trips and has the documented keys.
    let back: CompareRecord = read_json(&out).expect("record");
    assert_eq!(back.pairs, rec.pairs);
    let raw: serde_json::Value = read_json(&out).expect("json");
    for key in [
        "schema_version",
        "law",
        "by",
        "table",
        "groups",
        "pairs",
        "level",
    ] {
        assert!(raw.get(key).is_some(), "no {key} in the record");
    }
    assert_eq!(raw["by"], "train_data");
    assert!(raw["pairs"][0]["crossing"]["compute"].is_number());
    assert!(raw["groups"][0]["fit"]["formula"].is_string());
    // The figure marks the crossing.
    let svg_text = std::fs::read_to_string(&svg).expect("svg");
    assert!(
        svg_text.contains("A = B at C = 1.0"),
        "the crossing is in the legend"
    );
}

#[test]
fn parallel_laws_do_not_cross() {
    let dir = temp_dir("compare-parallel");
    let t = table(&dir, [("A", 2.0, -0.1), ("B", 3.0, -0.1)]);
    let rec = run_compare(&args(&t, &["--at", "1e5"])).expect("compare");
    let p = rec.pair("A", "B").expect("pair");
    assert_eq!(p.crossing.compute, None);
    assert!(
        p.crossing.share_crossing < 0.1,
        "{}",
        p.crossing.share_crossing
    );
    assert_eq!(p.crossing.better_at_start, "A");
    assert!(p.better_at[0].p_a_better > 0.99);
    let e = &p.exponent_difference;
    assert!(e.ci_low < 0.0 && 0.0 < e.ci_high, "{e:?}");
}

#[test]
fn the_crossing_search_finds_the_lowest_crossing_in_range_only() {
    let (a, b) = ([2.0, -0.1], [8.0, -0.2]);
    let c = crossing(Law::Power, &a, &b, (1.0, 1e12)).expect("cross");
    assert!((c / 1_048_576.0 - 1.0).abs() < 1e-9, "{c}");
    assert_eq!(crossing(Law::Power, &a, &b, (1.0, 1e5)), None);
    assert_eq!(crossing(Law::Power, &a, &[3.0, -0.1], (1.0, 1e12)), None);
}

#[test]
fn bad_comparisons_are_refused_with_what_is_there() {
    let dir = temp_dir("compare-bad");
    let t = table(&dir, [("A", 2.0, -0.1), ("B", 8.0, -0.2)]);
    let err = run_compare(&args(&t, &["--frontier-of", "C=none"]))
        .expect_err("unknown group")
        .to_string();
    assert!(err.contains("\"C\"") && err.contains("A, B"), "{err}");
    let err = run_compare(&args(&t, &["--by", "sweep"]))
        .expect_err("one group")
        .to_string();
    assert!(err.contains("needs two"), "{err}");
    let err = run_compare(&args(&t, &["--law", "chinchilla"]))
        .expect_err("chinchilla")
        .to_string();
    assert!(err.contains("not a function of compute alone"), "{err}");
}

#[test]
fn groups_from_different_sweeps_are_compared_when_each_sweep_is_named() {
    // A in sweep sw, B in sweep sw2 (a cosine sweep against a cooldown sweep, say)
    let dir = temp_dir("compare-sweeps");
    let t = table(&dir, [("A", 2.0, -0.1), ("B", 8.0, -0.2)]);
    let text = std::fs::read_to_string(&t).expect("read");
    std::fs::write(&t, text.replace("\nsw,B", "\nsw2,B")).expect("write");
    let rec = run_compare(&args(&t, &["--sweep", "sw", "--sweep", "sw2"])).expect("compare");
    assert_eq!(rec.groups.len(), 2, "{:?}", rec.not_fitted);
    assert!(rec.pair("A", "B").expect("pair").crossing.compute.is_some());
    // a sweep named that the table lacks is still an error naming those present
    let err = run_compare(&args(&t, &["--sweep", "sw", "--sweep", "sw3"]))
        .expect_err("no sw3")
        .to_string();
    assert!(err.contains("sw3") && err.contains("sw2"), "{err}");
}
