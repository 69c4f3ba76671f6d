//! Forecasts on synthetic sweeps with known laws: each trial forecast from the trials before it
//! (in order of compute) falls inside its 90% interval at about the stated rate; with too few
//! finished trials the record says why; `collect` puts the forecast beside the result.

mod common;

use std::path::Path;

use clipscale_analysis::forecast::{FORECAST_LEVEL, Forecaster, Target};
use clipscale_analysis::table::TidyRow;
use clipscale_core::rng::{Random, Xoshiro256};

/// One synthetic trial: its target and its rows (zero-shot accuracy on a power law of compute,
/// validation loss on Chinchilla's L(N, D)), with log-normal scatter.
fn trial(k: usize, n: u64, d: u64, rng: &mut Xoshiro256) -> (Target, Vec<TidyRow>) {
    let macs = 2 * n; // forward MACs per pair ~ 2 N
    let gmacs = macs as f64 * d as f64 / 1e9;
    let err = 2.0 * gmacs.powf(-0.1) * (0.03 * rng.normal()).exp();
    let (nf, df) = (n as f64, d as f64);
    let loss = (1.5 + 400.0 / nf.powf(0.34) + 300.0 / df.powf(0.3)) * (0.01 * rng.normal()).exp();
    let id = format!("t{k}");
    let row = |metric: &str, value: f64| TidyRow {
        sweep: "s".into(),
        trial_id: id.clone(),
        model: format!("m{n}"),
        params: Some(n),
        samples_seen: Some(d),
        fwd_macs_per_pair: Some(macs),
        total_gmacs: Some(gmacs),
        train_flops: Some(6.0 * gmacs * 1e9),
        dataset: "heldout".into(),
        metric: metric.into(),
        value,
        ..Default::default()
    };
    (
        Target {
            trial_id: id.clone(),
            params: n,
            samples: d,
            fwd_macs_per_pair: macs,
        },
        vec![row("acc1", 1.0 - err), row("val_loss", loss)],
    )
}

#[test]
fn forecasts_from_the_smaller_trials_hold_their_interval_at_the_stated_rate() {
    let (mut inside, mut total) = ([0usize; 2], [0usize; 2]);
    let mut chinchilla = 0;
    for seed in 0..6 {
        let mut rng = Xoshiro256::new(seed);
        // 5 model sizes x 5 sample counts, run in order of compute
        let mut grid: Vec<(u64, u64)> = Vec::new();
        for i in 0..5 {
            for j in 0..5 {
                grid.push((1_000_000 * 3u64.pow(i), 10_000_000 * 2u64.pow(j)));
            }
        }
        grid.sort_by_key(|&(n, d)| n * d);
        let trials: Vec<_> = grid
            .iter()
            .enumerate()
            .map(|(k, &(n, d))| trial(k, n, d, &mut rng))
            .collect();
        for k in 4..trials.len() {
            let finished: Vec<TidyRow> = trials[..k].iter().flat_map(|t| t.1.clone()).collect();
            let f = Forecaster::from_rows(Path::new("synthetic"), finished, "");
            let (target, rows) = &trials[k];
            let rec = f.forecast(target);
            assert_eq!(rec.finished_trials, k);
            for (m, metric) in ["acc1", "val_loss"].iter().enumerate() {
                let fc = rec.get("heldout", metric).expect("a forecast");
                assert_eq!(fc.level, FORECAST_LEVEL);
                assert!(fc.lo < fc.value && fc.value < fc.hi, "{fc:?}");
                let truth = rows
                    .iter()
                    .find(|r| r.metric == *metric)
                    .expect("row")
                    .value;
                total[m] += 1;
                inside[m] += usize::from((fc.lo..=fc.hi).contains(&truth));
                if *metric == "val_loss" && fc.law == "chinchilla" {
                    chinchilla += 1;
                }
            }
        }
    }
    // The accuracy's law is the power law it is fitted with: its t prediction interval is
    // exact, so about 90% of results fall inside.
    let rate = inside[0] as f64 / total[0] as f64;
    assert!(
        (0.82..=0.97).contains(&rate),
        "acc1: {} of {}",
        inside[0],
        total[0]
    );
    // The loss is Chinchilla-shaped: fitted as such once 8 distinct (N, D) have finished.
    assert!(chinchilla > total[1] / 2, "{chinchilla} of {}", total[1]);
    let rate = inside[1] as f64 / total[1] as f64;
    assert!(rate >= 0.75, "val_loss: {} of {}", inside[1], total[1]);
}

#[test]
fn with_too_few_finished_trials_the_forecast_says_why() {
    let mut rng = Xoshiro256::new(1);
    let target = trial(9, 3_000_000, 40_000_000, &mut rng).0;
    let none = Forecaster::from_rows(Path::new("s"), Vec::new(), "").forecast(&target);
    assert!(none.forecasts.is_empty());
    assert!(
        none.note.as_deref().is_some_and(|n| n.contains("no trial")),
        "{none:?}"
    );
    // two finished trials: a power law needs three distinct computes
    let rows: Vec<TidyRow> = (0..2)
        .flat_map(|k| trial(k, 1_000_000 * (k as u64 + 1), 10_000_000, &mut rng).1)
        .collect();
    let two = Forecaster::from_rows(Path::new("s"), rows, "").forecast(&target);
    assert!(two.forecasts.is_empty() && two.note.is_none());
    assert_eq!(two.missing.len(), 2);
    assert!(
        two.missing
            .iter()
            .all(|m| m.why.contains("needs at least 3 points")),
        "{:?}",
        two.missing
    );
    // The trial itself is never part of its own law.
    let (t, rows) = trial(5, 1_000_000, 10_000_000, &mut rng);
    let own = Forecaster::from_rows(Path::new("s"), rows, &t.trial_id).forecast(&t);
    assert_eq!(own.finished_trials, 0);
}

#[test]
fn a_score_forecast_stays_between_zero_and_one() {
    // Errors near 1 with much scatter: the error's interval reaches above 1, the accuracy's
    // interval must still start at 0, not below.
    let mut rng = Xoshiro256::new(3);
    let rows: Vec<TidyRow> = (0..4)
        .flat_map(|k| {
            let (_, mut rows) = trial(k, 1_000_000 * 2u64.pow(k as u32), 1_000_000, &mut rng);
            rows.retain(|r| r.metric == "acc1");
            rows[0].value = [0.02, 0.30, 0.01, 0.25][k];
            rows
        })
        .collect();
    let target = trial(9, 1_000_000, 1_000_000, &mut rng).0;
    let rec = Forecaster::from_rows(Path::new("s"), rows, "").forecast(&target);
    let f = rec.get("heldout", "acc1").expect("forecast");
    assert!(f.lo >= 0.0 && f.hi <= 1.0 && f.lo <= f.value, "{f:?}");
}
