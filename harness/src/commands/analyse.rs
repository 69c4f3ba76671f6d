//! The end of a sweep: collect its trials into a tidy table, fit power laws of the held-out
//! validation loss and zero-shot error against compute (with a held-out-point extrapolation
//! check), and write everything beside the trials in <results>/<sweep>/.

use std::path::Path;

use anyhow::Result;
use clap::Parser;
use clipscale_analysis::cli::{
    CollectArgs, FitArgs, FrontierArg, LawArg, XArg, YArg, run_collect, run_fit,
};
use clipscale_analysis::fit::record::FitRecord;

fn fit_args(
    table: &Path,
    sweep: &str,
    metric: &str,
    out: &Path,
    holdout_above: Option<f64>,
) -> FitArgs {
    FitArgs {
        table: table.to_path_buf(),
        law: LawArg::Power,
        frontier: Some(FrontierArg::Pareto),
        bins: 5,
        x: XArg::TotalGmacs,
        y: YArg::Auto,
        dataset: Some("synthetic-heldout".into()),
        metric: Some(metric.into()),
        sweep: vec![sweep.to_string()],
        train_data: None,
        model: None,
        drop_highest: 0,
        bootstrap: 200,
        seed: 0,
        level: 0.95,
        holdout_above,
        huber_delta: 1e-3,
        threads: 0,
        out: Some(out.to_path_buf()),
    }
}

/// Collects, fits and reports; with `record`, the wall time and fits go to results/benchmarks/.
pub fn analyse_sweep(results: &Path, sweep: &str, wall_s: f64, record: bool) -> Result<()> {
    let dir = results.join(sweep);
    let table = dir.join("table.csv");
    println!();
    println!("== analysis of sweep {sweep}");
    run_collect(&CollectArgs {
        input: results.to_path_buf(),
        from: None,
        arch_info: None,
        out: table.clone(),
    })?;
    let mut figures: Vec<(String, String)> = vec![("wall_s".into(), format!("{wall_s:.0}"))];
    for metric in ["val_loss", "acc1"] {
        let out = dir.join(format!("fit-{metric}.json"));
        let fit: FitRecord = match run_fit(&fit_args(&table, sweep, metric, &out, None)) {
            Ok(f) => f,
            Err(e) => {
                println!("no fit of {metric}: {e}");
                continue;
            }
        };
        let r2 = fit
            .diagnostics
            .iter()
            .find(|d| d.name == "r2_log10")
            .map(|d| d.value)
            .unwrap_or(f64::NAN);
        // extrapolation: fit below the largest-compute frontier point, predict it
        let xs: Vec<f64> = fit.points_used.iter().map(|p| p.x).collect();
        let top = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let below = xs
            .iter()
            .cloned()
            .filter(|x| *x < top)
            .fold(f64::NEG_INFINITY, f64::max);
        let holdout = if xs.len() >= 4 {
            run_fit(&fit_args(
                &table,
                sweep,
                metric,
                &dir.join(format!("fit-{metric}-holdout.json")),
                Some((below + top) / 2.0),
            ))
            .ok()
        } else {
            None
        };
        let held = holdout
            .as_ref()
            .and_then(|h| h.extrapolation.as_ref())
            .map(|e| e.mean_rel_error);
        println!(
            "{metric}: {} on {} frontier points, R^2 (log10) = {r2:.3}; held-out largest-compute point: {}",
            fit.formula,
            fit.points_used.len(),
            held.map(|e| format!("relative error {:+.1}%", 100.0 * e))
                .unwrap_or_else(|| "too few points".into())
        );
        figures.push((format!("{metric}_law"), fit.formula.clone()));
        figures.push((format!("{metric}_r2_log10"), format!("{r2:.3}")));
        figures.push((
            format!("{metric}_frontier_points"),
            fit.points_used.len().to_string(),
        ));
        if let Some(e) = held {
            figures.push((
                format!("{metric}_heldout_point_rel_error"),
                format!("{e:+.4}"),
            ));
        }
    }
    println!(
        "table: {}; fits: {}/fit-*.json",
        table.display(),
        dir.display()
    );
    plots(&table, &dir, sweep);
    if record {
        let f: Vec<(&str, String)> = figures
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let path = clipscale_analysis::bench::record(
            &super::bench::repo_root(),
            &format!("sweep-{sweep}"),
            &super::bench::invocation(),
            &f,
        )?;
        println!("recorded in {}", path.display());
    }
    Ok(())
}

/// Error against compute with the fitted law and its band, and metric against samples per
/// model, for the validation loss and the zero-shot error, as PNG and SVG beside the table.
fn plots(table: &Path, dir: &Path, sweep: &str) {
    for (metric, what, over_samples) in [
        (
            "val_loss",
            "held-out validation loss (batch 256)",
            "held-out validation loss (batch 256)",
        ),
        (
            "acc1",
            "held-out zero-shot top-1 error",
            "held-out zero-shot top-1 accuracy",
        ),
    ] {
        let fit = dir.join(format!("fit-{metric}.json"));
        if !fit.exists() {
            continue;
        }
        for kind in ["scaling", "samples"] {
            let out = dir.join(format!("{kind}-{metric}.png"));
            let mut argv: Vec<String> = ["plot", kind, "--table"].map(String::from).to_vec();
            argv.push(table.display().to_string());
            argv.extend(
                [
                    "--dataset",
                    "synthetic-heldout",
                    "--metric",
                    metric,
                    "--sweep",
                    sweep,
                ]
                .map(String::from),
            );
            argv.extend([
                "--out".to_string(),
                out.display().to_string(),
                "--out".into(),
                out.with_extension("svg").display().to_string(),
            ]);
            let title = if kind == "samples" {
                over_samples
            } else {
                what
            };
            argv.extend(["--title".to_string(), format!("{sweep}: {title}")]);
            if kind == "scaling" {
                argv.extend([
                    "--fit".to_string(),
                    fit.display().to_string(),
                    "--fit-label".into(),
                    format!("{sweep}, Pareto frontier"),
                ]);
            }
            let result = PlotCli::try_parse_from(&argv)
                .map_err(|e| e.to_string())
                .and_then(|p| {
                    clipscale_analysis::cli::run_plot(&p.plot).map_err(|e| e.to_string())
                });
            match result {
                Ok(_) => println!("plot: {}", out.display()),
                Err(e) => println!("no {kind} plot of {metric}: {e}"),
            }
        }
    }
}

/// Plot arguments parsed the way the command line would, so the sweep's plots use exactly the
/// options a user can type.
#[derive(Parser)]
#[command(name = "plot")]
struct PlotCli {
    #[command(flatten)]
    plot: clipscale_analysis::cli::PlotArgs,
}
