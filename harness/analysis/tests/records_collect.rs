//! Trial records and `collect`: JSON round trips, tolerance of a truncated last JSON line, errors
//! that name file and line, and a small results tree (written with the record types) collected
//! into the tidy table with Cherti et al. 2023's compute columns, then fitted.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;

use clipscale_analysis::AnalysisError;
use clipscale_analysis::cli::{
    CollectArgs, FitArgs, FrontierArg, LawArg, LawArgs, XArg, YArg, run_collect, run_fit,
};
use clipscale_analysis::collect::collect_results;
use clipscale_analysis::records::*;
use clipscale_analysis::table;
use clipscale_analysis::trial::TrialDir;
use common::temp_dir;

fn spec(trial: &str, sweep: &str, params: u64, macs: u64) -> TrialSpecHead {
    TrialSpecHead {
        schema_version: SCHEMA_VERSION,
        trial_id: trial.into(),
        sweep: sweep.into(),
        provenance: Provenance {
            git_commit: "abc".into(),
            git_dirty: false,
            clipscale_version: "0.1.0".into(),
            burn_version: "0.21.0".into(),
            backend: "flex".into(),
            device: "cpu".into(),
            float_type: "f32".into(),
            threads: 2,
            host: "test".into(),
            started_unix_s: 1.7e9,
        },
        model_summary: ModelSummary {
            name: format!("tiny-{params}"),
            params,
            image_params: params / 2,
            text_params: params / 2,
            fwd_macs_per_pair: macs,
            image_fwd_macs: macs / 2,
            text_fwd_macs: macs / 2,
        },
        dataset: "synthetic-1m".into(),
        samples: 1_000_000,
        batch_size: 256,
        seed: 1,
        branching: None,
    }
}

fn eval(trial: &str, samples: u64, macs: u64, acc: f64) -> EvalRecord {
    EvalRecord {
        schema_version: SCHEMA_VERSION,
        trial_id: trial.into(),
        samples_seen: samples,
        train_flops: train_flops(macs, samples),
        dataset: "imagenet1k".into(),
        metric: "acc1".into(),
        value: acc,
    }
}

fn finals(trial: &str, status: TrialStatus, samples: u64, loss: Option<f64>) -> FinalRecord {
    FinalRecord {
        schema_version: SCHEMA_VERSION,
        trial_id: trial.into(),
        status,
        steps: samples / 256,
        samples_seen: samples,
        train_flops: 0.0,
        unique_samples: Some(samples.min(1_000_000)),
        final_loss: loss,
        wall_s: 12.5,
        message: (status != TrialStatus::Done).then(|| "loss became NaN".to_string()),
    }
}

/// Writes a trial directory; `evals` are (samples, acc1).
fn write_trial(root: &Path, s: &TrialSpecHead, evals: &[(u64, f64)], fin: Option<&FinalRecord>) {
    let dir = TrialDir::in_results(root, &s.sweep, &s.trial_id);
    dir.create().expect("dir");
    // The real spec holds more keys than the head; they must be ignored.
    let mut v = serde_json::to_value(s).expect("value");
    v["optimizer"] = serde_json::json!({"lr": 1e-3, "warmup": 100});
    dir.write_spec(&v).expect("spec");
    for &(samples, acc) in evals {
        dir.append_eval(&eval(
            &s.trial_id,
            samples,
            s.model_summary.fwd_macs_per_pair,
            acc,
        ))
        .expect("eval");
    }
    if let Some(f) = fin {
        dir.write_final(f).expect("final");
    }
}

#[test]
fn records_round_trip_and_status_is_lowercase() {
    let dir = temp_dir("records");
    let s = spec("t1", "sw", 1000, 2000);
    write_json_atomic(&dir.join("spec.json"), &s).expect("write");
    let back: TrialSpecHead = read_json(&dir.join("spec.json")).expect("read");
    assert_eq!(back, s);
    let f = finals("t1", TrialStatus::Diverged, 5000, None);
    let text = serde_json::to_string(&f).expect("json");
    assert!(text.contains(r#""status":"diverged""#), "{text}");
    assert_eq!(
        serde_json::from_str::<FinalRecord>(&text).expect("parse"),
        f
    );
    // Optional fields may be absent.
    let minimal = r#"{"schema_version":1,"trial_id":"t","status":"done","steps":1,"samples_seen":2,"train_flops":3.0,"wall_s":1.0}"#;
    let m: FinalRecord = serde_json::from_str(minimal).expect("minimal final");
    assert_eq!(
        (m.unique_samples, m.final_loss, m.message),
        (None, None, None)
    );
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(&dir).expect("ls").count(), 1);
}

#[test]
fn jsonl_skips_a_truncated_last_line_but_names_a_bad_middle_line() {
    let dir = temp_dir("jsonl");
    let path = dir.join("metrics.jsonl");
    let m = |step| MetricsRecord {
        schema_version: 1,
        step,
        samples_seen: step * 8,
        train_flops: 1.0,
        loss: 2.0,
        lr: 1e-3,
        logit_scale: 14.3,
        logit_bias: None,
        step_s: 0.1,
        data_s: 0.01,
        samples_per_s: 80.0,
    };
    for step in 1..=3 {
        append_jsonl(&path, &m(step)).expect("append");
    }
    let full = serde_json::to_string(&m(4)).expect("json");
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open")
        .write_all(&full.as_bytes()[..full.len() / 2])
        .expect("write");
    let read = read_jsonl::<MetricsRecord>(&path).expect("tolerated");
    assert_eq!(read.records.len(), 3);
    assert_eq!(read.records[2], (3, m(3)));
    assert_eq!(read.warnings.len(), 1);
    assert!(
        read.warnings[0].contains("metrics.jsonl:4"),
        "{}",
        read.warnings[0]
    );

    // A broken line that is not the last one is an error naming file and line.
    let bad = dir.join("bad.jsonl");
    fs::write(
        &bad,
        format!(
            "{}\n{{\"step\": oops}}\n{}\n",
            serde_json::to_string(&m(1)).expect("j"),
            serde_json::to_string(&m(2)).expect("j")
        ),
    )
    .expect("write");
    let err = read_jsonl::<MetricsRecord>(&bad).expect_err("bad line");
    assert!(
        matches!(err, AnalysisError::Json { line: Some(2), .. }),
        "{err}"
    );
    assert!(err.to_string().contains("bad.jsonl:2"), "{err}");
}

#[test]
fn collect_reads_a_results_tree_and_reports_incomplete_trials() {
    let root = temp_dir("collect");
    let results = root.join("results");
    // Four finished trials on a clean power law E = 3 * C^-0.2 (C in GMACs), with two evals each.
    let macs = [2_000_000u64, 8_000_000, 32_000_000, 128_000_000];
    for (k, &m) in macs.iter().enumerate() {
        let s = spec(&format!("t{k}"), "grid", 1000 * (k as u64 + 1), m);
        let evals: Vec<(u64, f64)> = [500_000u64, 1_000_000]
            .iter()
            .map(|&n| (n, 1.0 - 3.0 * (m as f64 * n as f64 / 1e9).powf(-0.2)))
            .collect();
        write_trial(
            &results,
            &s,
            &evals,
            Some(&finals(
                &s.trial_id,
                TrialStatus::Done,
                1_000_000,
                Some(3.5),
            )),
        );
    }
    write_trial(
        &results,
        &spec("running", "grid", 10, 10),
        &[(1000, 0.1)],
        None,
    );
    let div = spec("div", "grid", 10, 10);
    write_trial(
        &results,
        &div,
        &[(1000, 0.1)],
        Some(&finals("div", TrialStatus::Diverged, 1000, None)),
    );
    // A truncated last eval line (crash mid-append) in t0 is skipped with a warning.
    let t0_evals = TrialDir::in_results(&results, "grid", "t0").evals_path();
    fs::OpenOptions::new()
        .append(true)
        .open(&t0_evals)
        .expect("open")
        .write_all(b"{\"schema_version\":1,\"tri")
        .expect("w");

    let c = collect_results(&results).expect("collect");
    assert_eq!(c.trials, 4);
    let mut skipped: Vec<String> = c.skipped.iter().map(|s| s.reason.clone()).collect();
    skipped.sort();
    assert_eq!(skipped.len(), 2);
    assert!(skipped[0].contains("no final.json"), "{skipped:?}");
    assert!(
        skipped[1].contains("diverged") && skipped[1].contains("NaN"),
        "{skipped:?}"
    );
    assert!(
        c.warnings.iter().any(|w| w.contains("truncated")),
        "{:?}",
        c.warnings
    );
    // the end-of-schedule eval + the training loss per trial; the mid-run eval (at 500k samples,
    // before the learning-rate schedule finished) is not a scaling point
    assert_eq!(c.rows.len(), 4 * 2);
    assert!(!c.rows.iter().any(|r| r.samples_seen == Some(500_000)));
    let r = c
        .rows
        .iter()
        .find(|r| r.trial_id == "t1" && r.samples_seen == Some(1_000_000) && r.dataset != "train")
        .expect("row");
    assert_eq!(r.total_gmacs, Some(8_000_000.0 * 1_000_000.0 / 1e9));
    assert_eq!(r.train_flops, Some(6.0 * 8_000_000.0 * 1_000_000.0));
    assert_eq!((r.params, r.unique_samples), (Some(2000), Some(1_000_000)));
    assert_eq!(r.train_data, "synthetic-1m");
    assert!(r.source.ends_with("evals.jsonl:2"), "{}", r.source);
    assert!(
        c.rows
            .iter()
            .any(|r| r.dataset == "train" && r.metric == "loss" && r.value == 3.5)
    );

    // The same through the CLI functions, then a fit that recovers the generating law.
    let table = root.join("table.csv");
    let got = run_collect(&CollectArgs {
        input: results.clone(),
        from: None,
        arch_info: None,
        out: table.clone(),
    })
    .expect("cli collect");
    assert_eq!(got.rows.len(), 8);
    let out = root.join("fit.json");
    let args = FitArgs {
        table,
        law: LawArgs {
            law: LawArg::Power,
            frontier: Some(FrontierArg::None),
            bins: None,
        },
        x: XArg::TotalGmacs,
        y: YArg::Auto,
        dataset: Some("imagenet1k".into()),
        metric: Some("acc1".into()),
        sweep: vec!["grid".into()],
        train_data: None,
        model: None,
        where_: vec![],
        group: vec![],
        group_column: "train_data".into(),
        drop_highest: 0,
        bootstrap: 20,
        seed: 3,
        level: 0.9,
        holdout_above: Some(5e4),
        huber_delta: 1e-3,
        threads: 1,
        out: Some(out.clone()),
    };
    let rec = run_fit(&args).expect("fit");
    assert!((rec.param("alpha").expect("alpha") + 0.2).abs() < 1e-9);
    assert!((rec.param("beta").expect("beta") - 3.0).abs() < 1e-8);
    let x = rec.extrapolation.as_ref().expect("holdout");
    assert!(x.n_held_out > 0 && x.mean_abs_rel_error < 1e-9);
    // the held-out fit's own law is kept, so its predictions can be redrawn from the record
    let held_alpha = x
        .fitted_parameters
        .iter()
        .find(|p| p.name == "alpha")
        .expect("the held-out fit's alpha");
    assert!((held_alpha.value + 0.2).abs() < 1e-9, "{held_alpha:?}");
    assert!(x.fitted_formula.starts_with("E = "), "{}", x.fitted_formula);
    let back: clipscale_analysis::fit::record::FitRecord = read_json(&out).expect("record");
    assert_eq!(back.extrapolation, rec.extrapolation);
    assert_eq!(back.formula, rec.formula);
    assert_eq!(back.points_used.len(), 4);
}

#[test]
fn a_newer_schema_is_refused_with_its_file() {
    let results = temp_dir("schema");
    let mut s = spec("t", "sw", 1, 1);
    s.schema_version = SCHEMA_VERSION + 1;
    write_trial(
        &results,
        &s,
        &[],
        Some(&finals("t", TrialStatus::Done, 1, None)),
    );
    let err = collect_results(&results).expect_err("newer schema");
    assert!(
        matches!(err, AnalysisError::Schema { .. }) && err.to_string().contains("spec.json"),
        "{err}"
    );
}

#[test]
fn the_table_says_what_each_trial_is_a_variant_of() {
    let root = temp_dir("variants");
    let results = root.join("results");
    // Sweep "lr" varies the learning rate (and, as every sweep does, model, samples and seed);
    // sweep "cur" varies the curation and keeps one learning rate.
    let trials = [
        ("lr", "a", 1e-3, None, 1),
        ("lr", "b", 2e-3, None, 2),
        ("cur", "c", 1e-3, Some("metaclip"), 1),
        ("cur", "d", 1e-3, Some("dfn"), 1),
    ];
    for (sweep, id, lr, curation, seed) in trials {
        // one model and sample count: what differs between these trials is their variant
        let mut s = spec(id, sweep, 1000, 2_000_000);
        s.seed = seed;
        let dir = TrialDir::in_results(&results, sweep, id);
        dir.create().expect("dir");
        let mut v = serde_json::to_value(&s).expect("value");
        v["optim"] = serde_json::json!({"lr": lr, "adamw": {"beta2": 0.98}});
        v["data"] = serde_json::json!({"seed": seed, "tokenizer": "bpe"});
        if let Some(c) = curation {
            v["data"]["curation"] = serde_json::json!(c);
        }
        dir.write_spec(&v).expect("spec");
        dir.append_eval(&eval(id, 1_000_000, s.model_summary.fwd_macs_per_pair, 0.5))
            .expect("eval");
        dir.write_final(&finals(id, TrialStatus::Done, 1_000_000, Some(3.0)))
            .expect("final");
    }
    let c = collect_results(&results).expect("collect");
    let row = |id: &str| {
        c.rows
            .iter()
            .find(|r| r.trial_id == id && r.dataset != "train")
            .expect("row")
    };
    assert_eq!(row("a").varied, "optim.lr=0.001");
    assert_eq!(row("b").varied, "optim.lr=0.002");
    assert_eq!(row("c").varied, "data.curation=metaclip");
    assert_eq!(
        (row("c").curation.as_str(), row("d").curation.as_str()),
        ("metaclip", "dfn")
    );
    // What the spec does not say is the harness's only kind today.
    assert_eq!(row("a").curation, "none");
    assert_eq!(
        (row("a").objective.as_str(), row("a").family.as_str()),
        ("clip", "clip-vit")
    );
    // The columns survive the file, appended after the first fourteen.
    let path = root.join("table.csv");
    table::write_csv(&path, &c.rows).expect("write");
    let t = table::read_csv(&path).expect("read");
    assert_eq!(t.version, table::TABLE_VERSION);
    assert_eq!(&t.columns[14..18], &table::VARIANT_COLUMNS);
    assert_eq!(&t.columns[18..21], &table::FORECAST_COLUMNS);
    assert_eq!(&t.columns[21..], &table::SCHEDULE_COLUMNS);
    assert!(
        t.rows.iter().all(|r| r.schedule == "cosine"),
        "a spec without a schedule decays by cosine"
    );
    assert!(t.rows.iter().any(|r| r.varied == "data.curation=dfn"));
    // A table written before the columns existed reads as version 1 with them empty.
    let old = root.join("old.csv");
    let header = table::COLUMNS[..14].join(",");
    fs::write(
        &old,
        format!("{header}\ns,t,m,1,1,,6,1,1,imagenet1k,acc1,0.5,x,LAION-2B\n"),
    )
    .expect("write");
    let t = table::read_csv(&old).expect("read old");
    assert_eq!(t.version, 1);
    assert_eq!(
        (t.rows[0].train_data.as_str(), t.rows[0].varied.as_str()),
        ("LAION-2B", "")
    );
}

#[test]
fn a_sweep_of_two_variants_ends_with_their_comparison() {
    let root = temp_dir("sweep-compare");
    let results = root.join("results");
    // Two learning rates, six trials each; the faster one follows a steeper law.
    for (lr, beta, alpha) in [(1e-3, 2.0, -0.10), (2e-3, 5.0, -0.16)] {
        for k in 0..6u64 {
            let id = format!("lr{lr}-k{k}");
            let macs = 1_000_000_000 * 3u64.pow(k as u32);
            let s = spec(&id, "grid", 1000 * (k + 1), macs);
            let dir = TrialDir::in_results(&results, "grid", &id);
            dir.create().expect("dir");
            let mut v = serde_json::to_value(&s).expect("value");
            v["optim"] = serde_json::json!({ "lr": lr });
            dir.write_spec(&v).expect("spec");
            let gmacs = macs as f64 * 1e6 / 1e9;
            let err = beta * gmacs.powf(alpha);
            dir.append_eval(&eval(&id, 1_000_000, macs, 1.0 - err))
                .expect("eval");
            dir.write_final(&finals(&id, TrialStatus::Done, 1_000_000, Some(3.0)))
                .expect("final");
        }
    }
    let a = clipscale_analysis::sweep::analyse_sweep(&results, "grid").expect("analysis");
    assert_eq!(
        a.compared_by,
        Some((
            "varied".to_string(),
            vec!["optim.lr=0.001".to_string(), "optim.lr=0.002".to_string()]
        ))
    );
    assert_eq!(
        a.comparisons.len(),
        1,
        "{:?} {:?}",
        a.not_compared,
        a.not_fitted
    );
    let c = &a.comparisons[0];
    assert!(c.path.is_file() && c.path.with_extension("png").is_file());
    let p = &c.record.pairs[0];
    // -0.10 - (-0.16) = 0.06; 2 C^-0.1 = 5 C^-0.16 at C = 2.5^(1/0.06) GMAC
    assert!(
        (p.exponent_difference.estimate - 0.06).abs() < 1e-6,
        "{p:?}"
    );
    let want = 2.5f64.powf(1.0 / 0.06);
    let got = p.crossing.compute.expect("crossing");
    assert!((got / want - 1.0).abs() < 1e-6, "{got} vs {want}");
}
