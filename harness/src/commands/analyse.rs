//! The analysis printed at the end of `sweep run`, over `clipscale_analysis::sweep`; with
//! `--record`, the wall time and the fits go to results/benchmarks/.

use std::path::Path;

use anyhow::Result;
use clipscale_analysis::sweep::SweepAnalysis;

pub fn analyse_sweep(results: &Path, sweep: &str, wall_s: f64, record: bool) -> Result<()> {
    println!();
    println!("== analysis of sweep {sweep}");
    let a = clipscale_analysis::sweep::analyse_sweep(results, sweep)?;
    print(&a);
    if record {
        let mut figures = vec![("wall_s".to_string(), format!("{wall_s:.0}"))];
        figures.extend(a.figures());
        let f: Vec<(&str, String)> = figures
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let path = clipscale_analysis::bench::record(
            &clipscale_core::repo::repo_root(None),
            &format!("sweep-{sweep}"),
            &super::bench::invocation(),
            &f,
        )?;
        println!("recorded in {}", path.display());
    }
    Ok(())
}

fn print(a: &SweepAnalysis) {
    println!(
        "wrote {} rows to {} ({} trials collected, {} skipped)",
        a.rows,
        a.table.display(),
        a.trials,
        a.skipped.len()
    );
    for s in &a.skipped {
        println!("  skipped {}: {}", s.dir.display(), s.reason);
    }
    for w in &a.warnings {
        println!("  warning: {w}");
    }
    if let Some(c) = &a.compute {
        println!("{}", c.line());
    }
    for f in &a.fits {
        println!(
            "{} {}: {} on {} frontier points, R^2 (log10) = {:.3}; held-out largest-compute point: {}",
            f.dataset,
            f.metric,
            f.record.formula,
            f.record.points_used.len(),
            f.r2_log10,
            f.heldout_rel_error
                .map(|e| format!("relative error {:+.1}%", 100.0 * e))
                .unwrap_or_else(|| "too few points".into())
        );
    }
    for n in a.not_fitted.iter().chain(&a.not_plotted) {
        println!("no {n}");
    }
    for c in &a.forecast_checks {
        println!(
            "{} {} forecast before each trial ran: mean |error| {:.1}%, worst {:.1}%; {} of {} results inside their {:.0}% interval",
            c.dataset,
            c.metric,
            100.0 * c.mean_abs_rel_error,
            100.0 * c.max_abs_rel_error,
            c.inside,
            c.n,
            100.0 * c.level
        );
    }
    for c in &a.comparisons {
        for line in clipscale_analysis::compare::summary(&c.record) {
            println!("{line}");
        }
        println!("comparison record: {}", c.path.display());
    }
    for n in &a.not_compared {
        println!("no comparison of {n}");
    }
    for p in &a.plots {
        println!("plot: {} (and .svg)", p.display());
    }
}
