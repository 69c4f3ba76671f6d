//! The data-constrained law recovers the parameters it generated points from, including R*
//! (Muennighoff et al. 2023's 15.39), and says when repetition cost nothing.

use clipscale_analysis::fit::chinchilla::{ChinchillaOptions, ChinchillaParams, fit_chinchilla};
use clipscale_analysis::fit::constrained::{
    ConstrainedOptions, MUENNIGHOFF_R_STAR, UniquePoint, effective_data, fit_data_constrained,
};
use clipscale_analysis::import::NdlPoint;

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
