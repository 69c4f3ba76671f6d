//! Reproduces Chinchilla approach 3 as replicated by Besiroglu et al. 2024 from the repository's
//! copy of their extracted points (anchors/besiroglu2024_chinchilla_svg_extracted_data.csv,
//! 245 points, the 5 highest-loss dropped): best objective 1.0183e-3, E = 1.817, alpha = 0.347,
//! beta = 0.367, A = 477.8 and B = 2143 within 1%, and bootstrap standard errors in the ballpark
//! of the published alpha 0.0154, beta 0.0206, E 0.0257.

mod common;

use clipscale_analysis::fit::bootstrap::{BootstrapOptions, bootstrap};
use clipscale_analysis::fit::chinchilla::{self, ChinchillaOptions, ChinchillaParams};
use clipscale_analysis::import::{self, NdlPoint};
use common::{anchor, assert_sig};

fn points() -> Vec<NdlPoint> {
    let all =
        import::besiroglu2024_points(&anchor("besiroglu2024_chinchilla_svg_extracted_data.csv"))
            .expect("read");
    assert_eq!(all.len(), 245);
    let kept = chinchilla::drop_highest_loss(&all, 5);
    assert_eq!(kept.len(), 240);
    kept
}

fn boot(
    points: &[NdlPoint],
    full: &ChinchillaParams,
    reps: usize,
    seed: u64,
    threads: usize,
) -> clipscale_analysis::fit::bootstrap::BootstrapSummary {
    let opts = ChinchillaOptions::default();
    let names = ["E", "A", "B", "alpha", "beta"];
    let est: Vec<f64> = full.reported().iter().map(|(_, v)| *v).collect();
    let b = BootstrapOptions {
        reps,
        seed,
        level: 0.95,
        threads,
    };
    bootstrap(points.len(), &names, &est, &b, |w| {
        let (p, _) = chinchilla::refit(points, Some(w), full, &opts)?;
        Ok(p.reported().iter().map(|(_, v)| *v).collect())
    })
    .expect("bootstrap")
}

#[test]
fn approach_3_reproduces_the_replication_and_its_bootstrap() {
    let pts = points();
    let fit = chinchilla::fit_chinchilla(&pts, &ChinchillaOptions::default()).expect("fit");
    assert_eq!(fit.starts, 4500);
    assert_sig("objective", fit.objective, 1.0183e-3, 5);
    let p = fit.params;
    assert_sig("E", p.big_e(), 1.817, 3);
    assert_sig("alpha", p.alpha, 0.347, 3);
    assert_sig("beta", p.beta, 0.367, 3);
    assert!((p.big_a() / 477.8 - 1.0).abs() < 0.01, "A = {}", p.big_a());
    assert!((p.big_b() / 2143.0 - 1.0).abs() < 0.01, "B = {}", p.big_b());

    // Compute-optimal allocation: C = 6 N D holds and the closed form is the constrained optimum.
    let co = p.compute_optimal();
    assert!((co.n_exponent + co.d_exponent - 1.0).abs() < 1e-12);
    for c in [1e21, 5.76e23] {
        let (n, d) = co.at(c);
        assert!((6.0 * n * d / c - 1.0).abs() < 1e-9);
        let best = p.predict(n, d);
        for f in [0.9, 1.1] {
            assert!(p.predict(n * f, d / f) > best);
        }
    }

    // 1000 bootstrap refits on one core; standard errors within a factor 2 of the published ones.
    let b = boot(&pts, &p, 1000, 1, 1);
    assert_eq!(b.failed, 0, "{:?}", b.failures);
    for (name, published) in [("alpha", 0.0154), ("beta", 0.0206), ("E", 0.0257)] {
        let se = b
            .params
            .iter()
            .find(|q| q.name == name)
            .map(|q| q.se)
            .expect("param");
        assert!(
            se > published / 2.0 && se < published * 2.0,
            "{name}: se {se} vs published {published}"
        );
        let q = b.params.iter().find(|q| q.name == name).expect("param");
        assert!(q.ci_low < q.estimate && q.estimate < q.ci_high, "{q:?}");
    }
}

#[test]
fn bootstrap_is_deterministic_under_a_seed_whatever_the_threads() {
    let pts = points();
    // Start near the published optimum; determinism does not need the grid.
    let start = ChinchillaParams {
        a: 477.8f64.ln(),
        b: 2143f64.ln(),
        e: 1.817f64.ln(),
        alpha: 0.347,
        beta: 0.367,
    };
    let (full, _) =
        chinchilla::refit(&pts, None, &start, &ChinchillaOptions::default()).expect("refit");
    let a = boot(&pts, &full, 40, 7, 1);
    let b = boot(&pts, &full, 40, 7, 2);
    let c = boot(&pts, &full, 40, 8, 1);
    assert_eq!(a.replicates, b.replicates);
    assert_eq!(a.params, b.params);
    assert_ne!(a.replicates, c.replicates);
}
