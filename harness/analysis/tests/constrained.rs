//! The data-constrained law recovers the parameters it generated points from, including R*
//! (Muennighoff et al. 2023's 15.39), and says when repetition cost nothing; `fit --law
//! data-constrained` does the same from a tidy table's unique_samples, one curation at a time.

use clipscale_analysis::cli::{FitArgs, LawArg, LawArgs, XArg, YArg, run_fit};
use clipscale_analysis::fit::chinchilla::{ChinchillaOptions, ChinchillaParams, fit_chinchilla};
use clipscale_analysis::fit::constrained::{
    ConstrainedOptions, MUENNIGHOFF_R_STAR, UniquePoint, effective_data, fit_data_constrained,
};
use clipscale_analysis::import::NdlPoint;
use clipscale_analysis::table::{TidyRow, write_csv};

fn truth() -> ChinchillaParams {
    ChinchillaParams {
        a: 400f64.ln(),
        b: 2000f64.ln(),
        e: 1.8f64.ln(),
        alpha: 0.34,
        beta: 0.28,
    }
}

/// Points from `truth` in effective data with `r_star`, with +-0.1% of fixed noise.
fn points(r_star: f64) -> Vec<UniquePoint> {
    let mut out = Vec::new();
    for (i, &n) in [1e6, 3e6, 1e7, 3e7, 1e8].iter().enumerate() {
        for (j, &unique) in [1e6, 1e7].iter().enumerate() {
            for (k, &epochs) in [1.0, 4.0, 16.0, 64.0].iter().enumerate() {
                let d = unique * epochs;
                let noise = 1.0 + 0.001 * (((i * 7 + j * 3 + k * 5) % 5) as f64 - 2.0) / 2.0;
                out.push(UniquePoint {
                    n,
                    d,
                    unique,
                    loss: truth().predict(n, effective_data(d, unique, r_star)) * noise,
                    line: out.len() + 1,
                });
            }
        }
    }
    out
}

#[test]
fn the_law_recovers_r_star_and_the_exponents() {
    let pts = points(MUENNIGHOFF_R_STAR);
    let fit = fit_data_constrained(&pts, &ConstrainedOptions::default()).unwrap();
    let rel = |got: f64, want: f64| (got - want).abs() / want;
    assert!(
        rel(fit.r_star, MUENNIGHOFF_R_STAR) < 0.2,
        "R* {} (want {MUENNIGHOFF_R_STAR})",
        fit.r_star
    );
    assert!(!fit.r_star_at_bound);
    let p = fit.params;
    assert!((p.alpha - 0.34).abs() < 0.03, "alpha {}", p.alpha);
    assert!((p.beta - 0.28).abs() < 0.03, "beta {}", p.beta);
    assert!(rel(p.big_e(), 1.8) < 0.05, "E {}", p.big_e());
    // predictions where the data repeats 64 times
    let far = pts
        .iter()
        .max_by(|a, b| (a.d / a.unique).total_cmp(&(b.d / b.unique)))
        .unwrap();
    assert!(rel(fit.predict(far.n, far.d, far.unique), far.loss) < 0.01);
    // ignoring repetition (Chinchilla in D) fits the same points worse
    let plain: Vec<NdlPoint> = pts
        .iter()
        .map(|p| NdlPoint {
            n: p.n,
            d: p.d,
            loss: p.loss,
            line: p.line,
        })
        .collect();
    let chin = fit_chinchilla(&plain, &ChinchillaOptions::default()).unwrap();
    assert!(
        chin.objective > 10.0 * fit.objective,
        "plain {} vs constrained {}",
        chin.objective,
        fit.objective
    );
}

#[test]
fn repetition_that_costs_nothing_puts_r_star_at_the_top_of_the_scan() {
    // generated with R* far above the scan: repeated pairs are as good as new ones
    let pts = points(1e7);
    let fit = fit_data_constrained(&pts, &ConstrainedOptions::default()).unwrap();
    assert!(fit.r_star > 300.0, "R* {}", fit.r_star);
}

#[test]
fn too_few_points_and_bad_unique_counts_are_refused() {
    let pts = points(15.0);
    let err = fit_data_constrained(&pts[..8], &ConstrainedOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains('9') || err.contains("nine"), "{err}");
    // nothing repeats: R* is not in the law, and the fit says so
    let once: Vec<UniquePoint> = pts
        .iter()
        .map(|p| UniquePoint { unique: p.d, ..*p })
        .collect();
    let err = fit_data_constrained(&once, &ConstrainedOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no point repeats"), "{err}");
    let mut bad = pts.clone();
    bad[3].unique = 0.0;
    let err = fit_data_constrained(&bad, &ConstrainedOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unique pairs") && err.contains("line 4"),
        "{err}"
    );
}

/// The tidy rows of `points` (val_loss on "heldout") as trials of one curation.
fn rows(points: &[UniquePoint], curation: &str) -> Vec<TidyRow> {
    points
        .iter()
        .enumerate()
        .map(|(i, p)| TidyRow {
            sweep: "s".into(),
            trial_id: format!("{curation}-{i}"),
            model: format!("m{}", p.n),
            params: Some(p.n as u64),
            samples_seen: Some(p.d as u64),
            unique_samples: Some(p.unique as u64),
            fwd_macs_per_pair: Some(2 * p.n as u64),
            total_gmacs: Some(2.0 * p.n * p.d / 1e9),
            train_flops: Some(12.0 * p.n * p.d),
            dataset: "heldout".into(),
            metric: "val_loss".into(),
            value: p.loss,
            train_data: "pool".into(),
            curation: curation.into(),
            ..Default::default()
        })
        .collect()
}

fn fit_args(table: std::path::PathBuf, curation: &str, bootstrap: usize) -> FitArgs {
    FitArgs {
        table,
        law: LawArgs {
            law: LawArg::DataConstrained,
            frontier: None,
            bins: None,
        },
        x: XArg::TotalGmacs,
        y: YArg::Auto,
        dataset: None,
        metric: None,
        sweep: vec![],
        train_data: None,
        model: None,
        where_: vec![format!("curation={curation}").parse().unwrap()],
        group: vec![],
        group_column: "train_data".into(),
        drop_highest: 0,
        bootstrap,
        seed: 0,
        level: 0.95,
        holdout_above: None,
        huber_delta: 1e-3,
        threads: 1,
        out: None,
    }
}

#[test]
fn fit_reads_unique_pairs_from_the_table_and_keeps_one_curation() {
    let dir = std::env::temp_dir().join(format!("clipscale-constrained-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // two curations, each its own law: "filtered" repeats with R* = 15.39, "none" never pays
    let mut all = rows(&points(MUENNIGHOFF_R_STAR), "dfn:filter=f,fraction=0.15");
    all.extend(rows(&points(1e7), "none"));
    let table = dir.join("table.csv");
    write_csv(&table, &all).unwrap();
    // the curation named by its operator; 60 bootstrap refits of all six parameters
    let rec = run_fit(&fit_args(table.clone(), "dfn", 60)).unwrap();
    assert_eq!(rec.law, "data-constrained");
    assert_eq!(rec.points_used.len(), 40, "only the dfn rows");
    assert_eq!(
        rec.selection.wheres,
        ["curation=dfn:filter=f,fraction=0.15"],
        "the record says which rows"
    );
    assert!(rec.points_used.iter().all(|p| p.unique.is_some()));
    let r_star = rec.param("R_star").unwrap();
    assert!(
        (r_star / MUENNIGHOFF_R_STAR - 1.0).abs() < 0.2,
        "R* {r_star}"
    );
    let boot = rec.bootstrap.as_ref().expect("bootstrap");
    assert!(boot.succeeded >= 55, "{} of 60 refits", boot.succeeded);
    let ci = boot.params.iter().find(|p| p.name == "R_star").expect("R*");
    let (lo, hi) = (ci.ci_low, ci.ci_high);
    assert!(
        lo <= r_star && r_star <= hi && lo > 1.0 && hi < 300.0,
        "[{lo}, {hi}]"
    );
    assert!(rec.formula.contains("D'"), "{}", rec.formula);
    // the other curation: repetition cost nothing, and the record says so
    let rec = run_fit(&fit_args(table.clone(), "none", 0)).unwrap();
    assert!(rec.param("R_star").unwrap() > 300.0);
    assert!(
        rec.at_bound.iter().any(|w| w.contains("R*")),
        "{:?}",
        rec.at_bound
    );
    // a table without unique pairs is refused, naming the row
    let mut bare = rows(&points(15.0), "none");
    bare[2].unique_samples = None;
    write_csv(&table, &bare).unwrap();
    let err = run_fit(&fit_args(table.clone(), "none", 0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unique_samples") && err.contains("none-2"),
        "{err}"
    );
    // a curation no row has is refused, naming those present
    let err = run_fit(&fit_args(table, "metaclip", 0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("metaclip") && err.contains("none"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
