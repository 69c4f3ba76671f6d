//! Property tests: seeded loops over random true parameters plus noise, checking that each law's
//! fit recovers the exponents it was generated with (power law of Cherti et al. 2023, the
//! saturating law, and Chinchilla approach 3 of Hoffmann et al. 2022).

use clipscale_core::rng::{Random, Xoshiro256};

use clipscale_analysis::fit::Point;
use clipscale_analysis::fit::chinchilla::{self, ChinchillaOptions, Grid};
use clipscale_analysis::fit::power::fit_power;
use clipscale_analysis::fit::saturating::{SaturatingOptions, fit_saturating};
use clipscale_analysis::import::NdlPoint;

#[test]
fn power_law_exponents_are_recovered_from_noisy_data() {
    for seed in 0..25 {
        let mut rng = Xoshiro256::new(seed);
        let alpha = rng.range(-0.5, -0.05);
        let beta = 10f64.powf(rng.range(0.0, 1.5));
        let pts: Vec<Point> = (0..40)
            .map(|i| {
                let c = 10f64.powf(rng.range(8.0, 12.0));
                let noise = (0.02 * rng.normal()).exp();
                Point::new(c, beta * c.powf(alpha) * noise, format!("p{i}"))
            })
            .collect();
        let f = fit_power(&pts).expect("fit");
        assert!(
            (f.alpha - alpha).abs() < 0.02,
            "seed {seed}: alpha {} vs true {alpha}",
            f.alpha
        );
        assert!(
            (f.beta.log10() - beta.log10()).abs() < 0.2,
            "seed {seed}: beta {} vs {beta}",
            f.beta
        );
    }
}

#[test]
fn saturating_law_recovers_exponent_and_floor() {
    for seed in 0..10 {
        let mut rng = Xoshiro256::new(100 + seed);
        let alpha = rng.range(-0.6, -0.2);
        let e_inf = rng.range(0.05, 0.3);
        let beta = rng.range(2.0, 8.0);
        let pts: Vec<Point> = (0..60)
            .map(|i| {
                let c = 10f64.powf(rng.range(1.0, 7.0));
                let noise = (0.005 * rng.normal()).exp();
                Point::new(c, (e_inf + beta * c.powf(alpha)) * noise, format!("p{i}"))
            })
            .collect();
        let f = fit_saturating(&pts, &SaturatingOptions::default()).expect("fit");
        let min_e = pts.iter().map(|p| p.y).fold(f64::INFINITY, f64::min);
        assert!(f.e_inf >= 0.0 && f.e_inf < min_e);
        assert!(
            (f.alpha - alpha).abs() < 0.02,
            "seed {seed}: alpha {} vs true {alpha}",
            f.alpha
        );
        assert!(
            (f.e_inf - e_inf).abs() < 0.01,
            "seed {seed}: E_inf {} vs true {e_inf}",
            f.e_inf
        );
    }
}

#[test]
fn chinchilla_exponents_are_recovered_from_noisy_data() {
    // A coarser grid than the paper's keeps this quick; the optimiser is the same.
    let opts = ChinchillaOptions {
        grid: Grid {
            a: vec![0.0, 5.0, 10.0],
            b: vec![0.0, 5.0, 10.0],
            e: vec![-1.0, 0.0, 1.0],
            alpha: vec![0.0, 0.5, 1.0],
            beta: vec![0.0, 0.5, 1.0],
        },
        ..Default::default()
    };
    for seed in 0..4 {
        let mut rng = Xoshiro256::new(200 + seed);
        let alpha = rng.range(0.25, 0.45);
        let beta = rng.range(0.25, 0.45);
        let (e, a, b) = (
            rng.range(1.5, 2.0),
            rng.range(200.0, 800.0),
            rng.range(1000.0, 3000.0),
        );
        let pts: Vec<NdlPoint> = (0..150)
            .map(|i| {
                let n = 10f64.powf(rng.range(7.0, 10.5));
                let d = 10f64.powf(rng.range(9.0, 12.0));
                let loss =
                    (e + a / n.powf(alpha) + b / d.powf(beta)) * (0.004 * rng.normal()).exp();
                NdlPoint {
                    n,
                    d,
                    loss,
                    line: i,
                }
            })
            .collect();
        let f = chinchilla::fit_chinchilla(&pts, &opts).expect("fit");
        let p = f.params;
        assert!(
            (p.alpha - alpha).abs() < 0.03,
            "seed {seed}: alpha {} vs {alpha}",
            p.alpha
        );
        assert!(
            (p.beta - beta).abs() < 0.03,
            "seed {seed}: beta {} vs {beta}",
            p.beta
        );
        assert!(
            (p.big_e() - e).abs() < 0.1,
            "seed {seed}: E {} vs {e}",
            p.big_e()
        );
    }
}
