//! Bad input gives clear errors, never a panic: missing columns are named, non-positive values in
//! a log fit name their row and value, too few points say how many are needed, and an unknown
//! data set or metric lists the ones present.

mod common;

use std::fs;
use std::path::PathBuf;

use clipscale_analysis::AnalysisError;
use clipscale_analysis::fit::Point;
use clipscale_analysis::fit::bootstrap::BootstrapOptions;
use clipscale_analysis::fit::chinchilla::{self, ChinchillaOptions};
use clipscale_analysis::fit::frontier::Frontier;
use clipscale_analysis::fit::power::fit_power;
use clipscale_analysis::fit::saturating::{SaturatingOptions, fit_saturating};
use clipscale_analysis::import::{self, NdlPoint};
use clipscale_analysis::pipeline::{FitSpec, Law, SelectSpec, YKind, fit_table};
use clipscale_analysis::table::read_csv;
use common::temp_dir;

const HEADER: &str = "sweep,trial_id,model,params,samples_seen,unique_samples,train_flops,fwd_macs_per_pair,total_gmacs,dataset,metric,value,source,train_data";

fn write(name: &str, body: &str) -> PathBuf {
    let p = temp_dir("bad").join(name);
    fs::write(&p, body).expect("write");
    p
}

fn select(dataset: Option<&str>, metric: Option<&str>) -> SelectSpec {
    SelectSpec {
        sweeps: vec![],
        train_data: None,
        model: None,
        dataset: dataset.map(Into::into),
        metric: metric.map(Into::into),
        x_column: "total_gmacs".into(),
        y: YKind::Auto,
        drop_highest: 0,
        need_nd: false,
    }
}

fn spec(law: Law, frontier: Frontier) -> FitSpec {
    FitSpec {
        law,
        frontier,
        saturating: Default::default(),
        chinchilla: Default::default(),
    }
}

fn good_table() -> PathBuf {
    let mut s = format!("{HEADER}\n");
    for (k, (c, acc)) in [(1e3, 0.3), (1e4, 0.45), (1e5, 0.55), (1e6, 0.62)]
        .iter()
        .enumerate()
    {
        s += &format!("sw,t{k},m,10,100,,1,1,{c},imagenet1k,acc1,{acc},x,d\n");
        s += &format!("sw,t{k},m,10,100,,1,1,{c},cifar10,acc1,{acc},x,d\n");
        s += &format!("sw,t{k},m,10,100,,1,1,{c},imagenet1k,acc5,{acc},x,d\n");
    }
    write("good.csv", &s)
}

#[test]
fn missing_columns_are_named() {
    let p = write("cols.csv", "sweep,dataset,value\nsw,imagenet1k,0.5\n");
    let t = read_csv(&p).expect("read");
    let err = fit_table(
        &t,
        &select(None, None),
        &spec(Law::Power, Frontier::None),
        None,
        None,
    )
    .expect_err("missing");
    match &err {
        AnalysisError::MissingColumns { missing, .. } => {
            assert_eq!(missing, &["metric", "total_gmacs"])
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("metric, total_gmacs"), "{err}");
    // The Chinchilla law also needs params and samples_seen.
    let mut s = select(Some("imagenet1k"), Some("acc1"));
    s.need_nd = true;
    let err =
        fit_table(&t, &s, &spec(Law::Chinchilla, Frontier::None), None, None).expect_err("missing");
    assert!(err.to_string().contains("params, samples_seen"), "{err}");
    // The importers name what they miss too.
    let err = import::cherti2023(&p, None).expect_err("not cherti");
    assert!(
        err.to_string().contains("arch") && err.to_string().contains("gmacs_total"),
        "{err}"
    );
}

#[test]
fn unknown_or_ambiguous_selections_list_what_is_present() {
    let t = read_csv(&good_table()).expect("read");
    let err = fit_table(
        &t,
        &select(Some("imagenet"), Some("acc1")),
        &spec(Law::Power, Frontier::None),
        None,
        None,
    )
    .expect_err("unknown");
    assert!(
        matches!(err, AnalysisError::UnknownSelection { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("cifar10, imagenet1k"), "{err}");
    let err = fit_table(
        &t,
        &select(Some("imagenet1k"), Some("top1")),
        &spec(Law::Power, Frontier::None),
        None,
        None,
    )
    .expect_err("unknown");
    assert!(err.to_string().contains("acc1, acc5"), "{err}");
    let err = fit_table(
        &t,
        &select(None, Some("acc1")),
        &spec(Law::Power, Frontier::None),
        None,
        None,
    )
    .expect_err("ambiguous");
    assert!(
        err.to_string().contains("--dataset") && err.to_string().contains("cifar10"),
        "{err}"
    );
    let mut s = select(Some("imagenet1k"), Some("acc1"));
    s.sweeps = vec!["nope".into()];
    let err = fit_table(&t, &s, &spec(Law::Power, Frontier::None), None, None).expect_err("sweep");
    assert!(
        err.to_string().contains("nope") && err.to_string().contains("sw"),
        "{err}"
    );
    // And the good selection works.
    let rec = fit_table(
        &t,
        &select(Some("imagenet1k"), Some("acc1")),
        &spec(Law::Power, Frontier::None),
        None,
        None,
    )
    .expect("fit");
    assert_eq!(rec.points_used.len(), 4);
}

#[test]
fn non_positive_values_name_their_row_and_value() {
    let body = format!(
        "{HEADER}\nsw,a,m,,,,,,1000,in,acc1,0.5,x,d\nsw,b,m,,,,,,0,in,acc1,0.6,x,d\nsw,c,m,,,,,,10,in,acc1,0.7,x,d\n"
    );
    let p = write("zero.csv", &body);
    let t = read_csv(&p).expect("read");
    let err = fit_table(
        &t,
        &select(None, None),
        &spec(Law::Power, Frontier::None),
        None,
        None,
    )
    .expect_err("zero compute");
    let msg = err.to_string();
    assert!(
        matches!(err, AnalysisError::NonPositive { value: 0.0, .. }),
        "{msg}"
    );
    assert!(msg.contains("zero.csv:3") && msg.contains("(b)"), "{msg}");
    // An accuracy of 1 makes the error 0.
    let body =
        format!("{HEADER}\nsw,a,m,,,,,,1000,in,acc1,0.5,x,d\nsw,b,m,,,,,,100,in,acc1,1.0,x,d\n");
    let t = read_csv(&write("one.csv", &body)).expect("read");
    let err = fit_table(
        &t,
        &select(None, None),
        &spec(Law::Power, Frontier::Bins(5)),
        None,
        None,
    )
    .expect_err("zero error");
    assert!(err.to_string().contains("one.csv:3"), "{err}");
    // Direct API: labels are reported as given.
    let err = fit_power(&[
        Point::new(1.0, 0.5, "first"),
        Point::new(-2.0, 0.4, "second"),
    ])
    .expect_err("negative");
    assert!(
        err.to_string().contains("second") && err.to_string().contains("-2"),
        "{err}"
    );
    let bad = [
        NdlPoint {
            n: 1e6,
            d: 1e9,
            loss: 2.0,
            line: 7,
        },
        NdlPoint {
            n: 1e6,
            d: 0.0,
            loss: 2.0,
            line: 9,
        },
    ];
    let err = chinchilla::ChinchillaObjective::new(&bad, None, 1e-3)
        .err()
        .expect("zero D");
    assert!(err.to_string().contains("line 9"), "{err}");
}

#[test]
fn too_few_points_say_how_many_are_needed() {
    let one = [Point::new(10.0, 0.5, "a")];
    let err = fit_power(&one).expect_err("one point");
    assert!(
        matches!(
            err,
            AnalysisError::TooFewPoints {
                needed: 2,
                got: 1,
                ..
            }
        ),
        "{err}"
    );
    let three: Vec<Point> = (1..=3)
        .map(|k| Point::new(10f64.powi(k), 0.5 / k as f64, "p"))
        .collect();
    let err = fit_saturating(&three, &SaturatingOptions::default()).expect_err("three points");
    assert!(
        err.to_string().contains("at least 4") && err.to_string().contains("only 3"),
        "{err}"
    );
    let pts: Vec<NdlPoint> = (0..5)
        .map(|i| NdlPoint {
            n: 1e6 * (i + 1) as f64,
            d: 1e9,
            loss: 3.0,
            line: i,
        })
        .collect();
    let err =
        chinchilla::fit_chinchilla(&pts, &ChinchillaOptions::default()).expect_err("five points");
    assert!(err.to_string().contains("at least 6"), "{err}");
    // A binned frontier can leave too few points even when the table has many.
    let t = read_csv(&good_table()).expect("read");
    let err = fit_table(
        &t,
        &select(Some("imagenet1k"), Some("acc1")),
        &spec(Law::Power, Frontier::Bins(1)),
        None,
        None,
    )
    .expect_err("one bin");
    assert!(matches!(err, AnalysisError::TooFewPoints { .. }), "{err}");
}

#[test]
fn bad_cells_and_bad_files_name_line_and_column() {
    let body =
        format!("{HEADER}\nsw,a,m,,,,,,1000,in,acc1,0.5,x,d\nsw,b,m,ten,,,,,100,in,acc1,0.6,x,d\n");
    let err = read_csv(&write("cell.csv", &body)).expect_err("bad params");
    let msg = err.to_string();
    assert!(
        msg.contains("cell.csv:3") && msg.contains("`params`") && msg.contains("\"ten\""),
        "{msg}"
    );
    let body = format!("{HEADER}\nsw,a,m,,,,,,1000,in,acc1,high,x,d\n");
    let err = read_csv(&write("value.csv", &body)).expect_err("bad value");
    assert!(err.to_string().contains("`value`"), "{err}");
    let err = read_csv(&temp_dir("bad").join("absent.csv")).expect_err("absent");
    assert!(err.to_string().contains("absent.csv"), "{err}");
    let err = import::besiroglu2024_points(&write(
        "chin.csv",
        "Model Size,Training FLOP,loss\n1e6,1e18,2.0\n1e6,-1,2.0\n",
    ))
    .expect_err("negative C");
    assert!(
        err.to_string().contains("chin.csv:3") && err.to_string().contains("Training FLOP"),
        "{err}"
    );
}

#[test]
fn scores_outside_zero_to_one_are_refused_at_selection_with_file_line_and_column() {
    // an acc1 of -0.2 used to become an error of 1.2 and fit without a word
    let mut s = format!("{HEADER}\n");
    for (k, (c, acc)) in [(1e3, 0.3), (1e4, -0.2), (1e5, 0.55), (1e6, 0.62)]
        .iter()
        .enumerate()
    {
        s += &format!("sw,t{k},m,10,100,,1,1,{c},imagenet1k,acc1,{acc},x,d\n");
    }
    let p = write("negative-score.csv", &s);
    let t = read_csv(&p).expect("read");
    let err = fit_table(
        &t,
        &select(Some("imagenet1k"), Some("acc1")),
        &spec(Law::Power, Frontier::None),
        None,
        None,
    )
    .expect_err("a negative accuracy");
    let text = err.to_string();
    assert!(
        text.contains("negative-score.csv") && text.contains(":3") && text.contains("value"),
        "{text}"
    );
    assert!(text.contains("[0, 1]") && text.contains("-0.2"), "{text}");
    // a loss is not a score: any positive value is fine
    let loss = s.replace("acc1", "val_loss").replace("-0.2", "1.7");
    let t = read_csv(&write("loss.csv", &loss)).expect("read");
    fit_table(
        &t,
        &select(Some("imagenet1k"), Some("val_loss")),
        &spec(Law::Power, Frontier::None),
        None,
        None,
    )
    .expect("losses above 1 fit");
}

#[test]
fn the_published_table_importer_refuses_bad_scores_and_compute_naming_the_source_line() {
    let header =
        "arch,samples_seen,gmacs_total,gmacs,upstream_dataset,downstream_dataset,acc1,name";
    let good = "ViT-B-32,3e9,1e9,4.4,LAION-2B,imagenet1k,0.6,laion";
    let p = write("cherti-ok.csv", &format!("{header}\n{good}\n"));
    assert_eq!(import::cherti2023(&p, None).expect("valid").len(), 1);
    for (bad, column) in [
        (
            "ViT-B-32,3e9,1e9,4.4,LAION-2B,imagenet1k,-0.2,laion",
            "acc1",
        ),
        ("ViT-B-32,3e9,1e9,4.4,LAION-2B,imagenet1k,1.3,laion", "acc1"),
        (
            "ViT-B-32,3e9,0,4.4,LAION-2B,imagenet1k,0.6,laion",
            "gmacs_total",
        ),
        (
            "ViT-B-32,3e9,-5,4.4,LAION-2B,imagenet1k,0.6,laion",
            "gmacs_total",
        ),
    ] {
        let p = write("cherti-bad.csv", &format!("{header}\n{good}\n{bad}\n"));
        let err = import::cherti2023(&p, None).expect_err(bad).to_string();
        assert!(
            err.contains("cherti-bad.csv") && err.contains(":3") && err.contains(column),
            "{bad}: {err}"
        );
    }
}

#[test]
fn a_table_without_rows_names_its_file() {
    let p = write("header-only.csv", &format!("{HEADER}\n"));
    let t = read_csv(&p).expect("read");
    let err = fit_table(
        &t,
        &select(Some("imagenet1k"), Some("acc1")),
        &spec(Law::Power, Frontier::None),
        None,
        None,
    )
    .expect_err("no rows");
    let text = err.to_string();
    assert!(
        text.contains("header-only.csv") && text.contains("no rows"),
        "{text}"
    );
}

#[test]
fn a_parameter_left_at_a_bound_is_flagged_in_the_record() {
    // errors that follow a pure power law have no floor: the saturating law's E_inf goes to
    // its lower bound 0, which used to pass unflagged
    let mut s = format!("{HEADER}\n");
    for k in 0..8 {
        let c = 10f64.powi(3 + k);
        let acc = 1.0 - 0.9 * c.powf(-0.1);
        s += &format!("sw,t{k},m,10,100,,1,1,{c},imagenet1k,acc1,{acc},x,d\n");
    }
    let t = read_csv(&write("no-floor.csv", &s)).expect("read");
    let sel = select(Some("imagenet1k"), Some("acc1"));
    let rec = fit_table(&t, &sel, &spec(Law::Saturating, Frontier::None), None, None)
        .expect("saturating fit");
    assert_eq!(rec.at_bound.len(), 1, "{:?}", rec.at_bound);
    assert!(
        rec.at_bound[0].starts_with("E_inf") && rec.at_bound[0].contains("lower bound 0"),
        "{:?}",
        rec.at_bound
    );
    // the same points under the power law: no bounds to sit at
    let rec = fit_table(&t, &sel, &spec(Law::Power, Frontier::None), None, None).expect("power");
    assert!(rec.at_bound.is_empty(), "{:?}", rec.at_bound);
}

#[test]
fn laws_on_too_few_points_per_parameter_are_refused_with_the_count() {
    // A power law through two computes used to be fitted without comment.
    let mut s = format!("{HEADER}\n");
    for (k, (c, acc)) in [(1e3, 0.3), (1e3, 0.31), (1e5, 0.55)].iter().enumerate() {
        s += &format!("sw,t{k},m,10,100,,1,1,{c},imagenet1k,acc1,{acc},x,d\n");
    }
    let t = read_csv(&write("two-computes.csv", &s)).expect("read");
    let sel = select(Some("imagenet1k"), Some("acc1"));
    let err = fit_table(&t, &sel, &spec(Law::Power, Frontier::None), None, None)
        .expect_err("two distinct computes");
    let text = err.to_string();
    assert!(
        matches!(
            err,
            AnalysisError::TooFewPoints {
                needed: 3,
                got: 2,
                ..
            }
        ) && text.contains("1.5 per parameter")
            && text.contains("distinct computes"),
        "{text}"
    );
    // The saturating law's three parameters need five; the shifted law's four need six.
    let t = read_csv(&good_table()).expect("read");
    for (law, needed) in [(Law::Saturating, 5), (Law::Shifted, 6)] {
        let err =
            fit_table(&t, &sel, &spec(law, Frontier::None), None, None).expect_err("four points");
        assert!(
            matches!(err, AnalysisError::TooFewPoints { needed: n, got: 4, .. } if n == needed),
            "{law:?}: {err}"
        );
    }
    // Chinchilla on six (N, D) points returned E = 4e-19 and alpha = 4.08 with exit code 0;
    // its five parameters now need eight.
    let mut s = format!("{HEADER}\n");
    for k in 0..6 {
        let (n, d) = (1e6 * f64::from(1 << k), 1e8 * f64::from(3 - k % 3));
        let loss = 2.0 + 400.0 / n.powf(0.34) + 410.0 / d.powf(0.28);
        s += &format!("sw,t{k},m,{n},{d},,1,1,1,train,loss,{loss},x,d\n");
    }
    let t = read_csv(&write("six.csv", &s)).expect("read");
    let mut sel = select(Some("train"), Some("loss"));
    sel.need_nd = true;
    let err = fit_table(&t, &sel, &spec(Law::Chinchilla, Frontier::None), None, None)
        .expect_err("six points");
    assert!(
        matches!(
            err,
            AnalysisError::TooFewPoints {
                needed: 8,
                got: 6,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_bootstrap_of_too_few_distinct_points_is_refused_and_the_classical_interval_given() {
    // Four computes: most resamples keep three or more distinct ones for a power law... but
    // about 1 in 4 do not, far above the 5% the bootstrap tolerates.
    let t = read_csv(&good_table()).expect("read");
    let sel = select(Some("imagenet1k"), Some("acc1"));
    let boot = BootstrapOptions {
        reps: 400,
        seed: 1,
        level: 0.95,
        threads: 1,
    };
    let rec = fit_table(
        &t,
        &sel,
        &spec(Law::Power, Frontier::None),
        Some(&boot),
        None,
    )
    .expect("fit");
    assert!(rec.bootstrap.is_none(), "{:?}", rec.bootstrap);
    let why = rec.bootstrap_refused.as_deref().expect("refused");
    assert!(
        why.contains("of 400 resamples") && why.contains("4 distinct"),
        "{why}"
    );
    let c = rec.classical.as_ref().expect("classical interval");
    assert_eq!(c.dof, 2);
    let alpha = c.param("alpha").expect("alpha");
    assert!(alpha.ci_low < alpha.estimate && alpha.estimate < alpha.ci_high);
    // With twenty computes the bootstrap runs as before.
    let mut s = format!("{HEADER}\n");
    for k in 0..20 {
        let c = 1e3 * 1.6f64.powi(k);
        let err = 2.0 * c.powf(-0.1) * (1.0 + 0.01 * f64::from(k % 3));
        s += &format!(
            "sw,t{k},m,10,100,,1,1,{c},imagenet1k,acc1,{},x,d\n",
            1.0 - err.min(0.99)
        );
    }
    let t = read_csv(&write("twenty.csv", &s)).expect("read");
    let rec = fit_table(
        &t,
        &sel,
        &spec(Law::Power, Frontier::None),
        Some(&boot),
        None,
    )
    .expect("fit");
    assert!(rec.bootstrap_refused.is_none());
    assert_eq!(rec.bootstrap.as_ref().map(|b| b.succeeded), Some(400));
}
