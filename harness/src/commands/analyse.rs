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
    dataset: &str,
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
        dataset: Some(dataset.into()),
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
    // Every held-out evaluation set the sweep's trials have (synthetic-heldout for the embedded
    // data; emoji-heldout-style and emoji-heldout-concept for emoji, ...), not the training set.
    let datasets = eval_datasets(&table, sweep)?;
    for (dataset, metric) in datasets
        .iter()
        .flat_map(|d| ["val_loss", "acc1"].map(|m| (d.as_str(), m)))
    {
        // one data set keeps the plain names (fit-val_loss.json); several name theirs
        let tag = if datasets.len() == 1 {
            metric.to_string()
        } else {
            format!("{dataset}-{metric}")
        };
        let out = dir.join(format!("fit-{tag}.json"));
        let fit: FitRecord = match run_fit(&fit_args(&table, sweep, dataset, metric, &out, None)) {
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
                dataset,
                metric,
                &dir.join(format!("fit-{tag}-holdout.json")),
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
            "{dataset} {metric}: {} on {} frontier points, R^2 (log10) = {r2:.3}; held-out largest-compute point: {}",
            fit.formula,
            fit.points_used.len(),
            held.map(|e| format!("relative error {:+.1}%", 100.0 * e))
                .unwrap_or_else(|| "too few points".into())
        );
        let key = tag.replace('-', "_");
        figures.push((format!("{key}_law"), fit.formula.clone()));
        figures.push((format!("{key}_r2_log10"), format!("{r2:.3}")));
        figures.push((
            format!("{key}_frontier_points"),
            fit.points_used.len().to_string(),
        ));
        if let Some(e) = held {
            figures.push((format!("{key}_heldout_point_rel_error"), format!("{e:+.4}")));
        }
    }
    println!(
        "table: {}; fits: {}/fit-*.json",
        table.display(),
        dir.display()
    );
    for dataset in &datasets {
        plots(&table, &dir, sweep, dataset, datasets.len() > 1);
    }
    if record {
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

/// Error against compute with the fitted law and its band, and metric against samples per
/// model, for the validation loss and the zero-shot error, as PNG and SVG beside the table.
fn plots(table: &Path, dir: &Path, sweep: &str, dataset: &str, tagged: bool) {
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
        let tag = if tagged {
            format!("{dataset}-{metric}")
        } else {
            metric.to_string()
        };
        let fit = dir.join(format!("fit-{tag}.json"));
        if !fit.exists() {
            continue;
        }
        for kind in ["scaling", "samples"] {
            let out = dir.join(format!("{kind}-{tag}.png"));
            let mut argv: Vec<String> = ["plot", kind, "--table"].map(String::from).to_vec();
            argv.push(table.display().to_string());
            argv.extend(
                ["--dataset", dataset, "--metric", metric, "--sweep", sweep].map(String::from),
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
            let title = if tagged {
                format!("{sweep}: {title}, {dataset}")
            } else {
                format!("{sweep}: {title}")
            };
            argv.extend(["--title".to_string(), title]);
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

/// The evaluation sets in the table for `sweep` (sorted), other than the training data.
fn eval_datasets(table: &Path, sweep: &str) -> Result<Vec<String>> {
    let t = clipscale_analysis::table::read_csv(table)?;
    let mut sets: Vec<String> = t
        .rows
        .iter()
        .filter(|r| r.sweep == sweep && r.dataset != "train")
        .filter(|r| r.metric == "val_loss" || r.metric == "acc1")
        .map(|r| r.dataset.clone())
        .collect();
    sets.sort();
    sets.dedup();
    Ok(sets)
}

/// Plot arguments parsed the way the command line would, so the sweep's plots use exactly the
/// options a user can type.
#[derive(Parser)]
#[command(name = "plot")]
struct PlotCli {
    #[command(flatten)]
    plot: clipscale_analysis::cli::PlotArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_is_analysed_on_each_of_its_own_evaluation_sets() {
        let dir = std::env::temp_dir().join(format!("clipscale-analyse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let table = dir.join("table.csv");
        let header = "sweep,trial_id,model,params,samples_seen,unique_samples,train_flops,fwd_macs_per_pair,total_gmacs,dataset,metric,value,source,train_data";
        let row = |sweep: &str, dataset: &str, metric: &str| {
            format!(
                "{sweep},t,w32-d2,93057,1000,1000,1e9,981000,0.98,{dataset},{metric},0.5,clipscale,"
            )
        };
        let rows = [
            row("emoji", "emoji-heldout-style", "acc1"),
            row("emoji", "emoji-heldout-concept", "val_loss"),
            row("emoji", "train", "loss"),
            row("quick", "synthetic-heldout", "acc1"),
        ];
        std::fs::write(&table, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
        assert_eq!(
            eval_datasets(&table, "emoji").unwrap(),
            ["emoji-heldout-concept", "emoji-heldout-style"]
        );
        assert_eq!(
            eval_datasets(&table, "quick").unwrap(),
            ["synthetic-heldout"]
        );
        assert!(eval_datasets(&table, "absent").unwrap().is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }
}
