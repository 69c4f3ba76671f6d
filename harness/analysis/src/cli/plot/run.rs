//! Running a `plot` command: selecting rows, fitting, building the figure, rendering every
//! output, and the report.

use std::path::PathBuf;

use super::super::{XArg, YArg, x_column};
use crate::error::{AnalysisError, Result};
use crate::fit::bootstrap::BootstrapOptions;
use crate::fit::frontier::Frontier;
use crate::fit::record::FitRecord;
use crate::pipeline::{FitSpec, Law, SelectSpec, YKind, fit_table};
use crate::plot::cherti::{self, ChertiOptions};
use crate::plot::extrapolation::{ExtrapolationSpec, extrapolation_figure};
use crate::plot::figure::{Figure, Format, render};
use crate::plot::isoflop::{IsoflopSpec, isoflop_figure};
use crate::plot::samples::{SamplesSpec, samples_figure};
use crate::plot::scaling::{Fits, LawToDraw, ScalingSpec, replay_bootstrap, scaling_figure};
use crate::plot::{Labels, sci};
use crate::records::{read_json, write_json_atomic};
use crate::table;

use super::*;

fn y_kind(y: YArg) -> YKind {
    match y {
        YArg::Auto => YKind::Auto,
        YArg::Error => YKind::Error,
        YArg::Value => YKind::Value,
    }
}

fn fit_spec(f: &PlotFitArgs) -> Result<FitSpec> {
    let (law, frontier) = f.law.law_and_frontier();
    if !law.of_compute() {
        return Err(AnalysisError::arg(
            "law",
            format!(
                "the {} law is not a function of compute alone; use `plot isoflop --chinchilla`",
                law.name()
            ),
        ));
    }
    Ok(FitSpec {
        law,
        frontier,
        saturating: Default::default(),
        chinchilla: Default::default(),
    })
}

fn boot(f: &PlotFitArgs) -> Option<BootstrapOptions> {
    (f.bootstrap > 0).then_some(BootstrapOptions {
        reps: f.bootstrap,
        seed: f.seed,
        level: f.level,
        threads: 0,
    })
}

fn select_spec(rows: &RowsArgs, x: XArg, y: YArg) -> SelectSpec {
    SelectSpec {
        sweeps: rows.sweep.clone(),
        train_data: rows.train_data.clone(),
        model: rows.model.clone(),
        dataset: rows.dataset.clone(),
        metric: rows.metric.clone(),
        x_column: x_column(x),
        y: y_kind(y),
        drop_highest: 0,
        need_nd: false,
    }
}

/// Checks every output's extension before any work, then renders to each.
fn check_outputs(out: &[PathBuf]) -> Result<()> {
    for o in out {
        Format::of(o)?;
    }
    Ok(())
}

fn render_all(fig: &Figure, out: &[PathBuf], report: &mut PlotReport) -> Result<()> {
    for o in out {
        render(fig, o)?;
        println!("wrote {}", o.display());
        report.outputs.push(o.clone());
    }
    Ok(())
}

fn record_label(rec: &FitRecord) -> String {
    let s = &rec.selection;
    let mut parts = vec![s.sweeps.join("+")];
    parts.extend(s.train_data.iter().cloned());
    parts.extend(s.model.iter().cloned());
    parts.retain(|p| !p.is_empty());
    if parts.is_empty() {
        rec.law.clone()
    } else {
        parts.join(", ")
    }
}

fn print_law(label: &str, rec: &FitRecord) {
    println!(
        "  {label}: {}  ({} points -> {} used, frontier {})",
        rec.formula,
        rec.points_input,
        rec.points_used.len(),
        rec.frontier
    );
}

fn run_scaling(a: &ScalingPlotArgs, report: &mut PlotReport) -> Result<()> {
    check_outputs(&a.figure.out)?;
    let labels = Labels::parse(&a.figure.labels)?;
    let mut t = table::read_csv(&a.rows.table)?;
    if !a.group.is_empty() {
        t = t.regroup(&a.group_column, &a.group)?;
    }
    let fits = if a.no_fit {
        Fits::None
    } else if !a.fit.is_empty() {
        if a.fit_label.len() > a.fit.len() {
            return Err(AnalysisError::arg(
                "fit-label",
                format!(
                    "{} labels for {} --fit records",
                    a.fit_label.len(),
                    a.fit.len()
                ),
            ));
        }
        let mut given = Vec::new();
        for (k, path) in a.fit.iter().enumerate() {
            let mut rec: FitRecord = read_json(path)?;
            let replicates = if a.no_band || rec.bootstrap.is_none() {
                Vec::new()
            } else {
                match replay_bootstrap(&t, &rec) {
                    Ok(r) => r,
                    Err(e) => {
                        report
                            .warnings
                            .push(format!("{}: no band: {e}", path.display()));
                        Vec::new()
                    }
                }
            };
            if let Some(b) = rec.bootstrap.as_mut() {
                b.replicates.clear();
            }
            let label = a
                .fit_label
                .get(k)
                .cloned()
                .unwrap_or_else(|| labels.get(&record_label(&rec)));
            given.push(LawToDraw {
                label,
                record: rec,
                replicates,
            });
        }
        Fits::Given(given)
    } else {
        Fits::OnTheFly {
            by: (a.fit_by != "all").then(|| a.fit_by.clone()),
            spec: Box::new(fit_spec(&a.fitting)?),
            bootstrap: if a.no_band { None } else { boot(&a.fitting) },
        }
    };
    let spec = ScalingSpec {
        select: select_spec(&a.rows, a.x, a.y),
        color_by: a.color_by.clone(),
        marker_by: a.marker_by.clone(),
        fits,
        band: !a.no_band,
        dashed_beyond_data: false,
        labels,
        title: a.figure.title.clone(),
        x_label: a.figure.x_label.clone(),
        y_label: a.figure.y_label.clone(),
        width: a.figure.width,
        height: a.figure.height,
    };
    let plot = scaling_figure(&t, &spec)?;
    report.warnings.extend(plot.warnings.iter().cloned());
    render_all(&plot.figure, &a.figure.out, report)?;
    for l in &plot.laws {
        print_law(&l.label, &l.record);
    }
    if let (Some(dir), Fits::OnTheFly { .. }) = (&a.write_fits, &spec.fits) {
        std::fs::create_dir_all(dir).map_err(|e| AnalysisError::io(dir, "creating", e))?;
        for l in &plot.laws {
            let name: String = l
                .label
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let path = dir.join(format!("{name}_fit.json"));
            write_json_atomic(&path, &l.record)?;
            println!("fit record: {}", path.display());
            report.data_files.push(path);
        }
    }
    report.fits = plot.laws.into_iter().map(|l| l.record).collect();
    Ok(())
}

fn run_samples(a: &SamplesPlotArgs, report: &mut PlotReport) -> Result<()> {
    check_outputs(&a.figure.out)?;
    const NUMERIC: [&str; 6] = [
        "samples_seen",
        "unique_samples",
        "total_gmacs",
        "train_flops",
        "params",
        "fwd_macs_per_pair",
    ];
    if !NUMERIC.contains(&a.x.as_str()) {
        return Err(AnalysisError::arg(
            "x",
            format!("{:?}: use one of {}", a.x, NUMERIC.join(", ")),
        ));
    }
    let t = table::read_csv(&a.rows.table)?;
    let spec = SamplesSpec {
        sweeps: a.rows.sweep.clone(),
        train_data: a.rows.train_data.clone(),
        model: a.rows.model.clone(),
        dataset: a.rows.dataset.clone(),
        metric: a.rows.metric.clone(),
        x_column: a.x.clone(),
        y: y_kind(a.y),
        y_log: a.y_log,
        group_by: a.group_by.clone(),
        color_by: a.color_by.clone(),
        marker_by: a.marker_by.clone(),
        labels: Labels::parse(&a.figure.labels)?,
        title: a.figure.title.clone(),
        x_label: a.figure.x_label.clone(),
        y_label: a.figure.y_label.clone(),
        width: a.figure.width,
        height: a.figure.height,
    };
    let fig = samples_figure(&t, &spec)?;
    render_all(&fig, &a.figure.out, report)
}

fn run_isoflop(a: &IsoflopPlotArgs, report: &mut PlotReport) -> Result<()> {
    check_outputs(&a.figure.out)?;
    let t = table::read_csv(&a.rows.table)?;
    let law = match (&a.fit, a.chinchilla) {
        (Some(p), _) => Some(read_json::<FitRecord>(p)?),
        (None, true) => {
            let sel = SelectSpec {
                sweeps: a.rows.sweep.clone(),
                train_data: a.rows.train_data.clone(),
                model: a.rows.model.clone(),
                dataset: a.rows.dataset.clone(),
                metric: a.rows.metric.clone(),
                x_column: a.budget_column.clone(),
                y: y_kind(a.y),
                drop_highest: a.drop_highest,
                need_nd: true,
            };
            let spec = FitSpec {
                law: Law::Chinchilla,
                frontier: Frontier::None,
                saturating: Default::default(),
                chinchilla: Default::default(),
            };
            let rec = fit_table(&t, &sel, &spec, None, None)?;
            print_law("Chinchilla approach 3", &rec);
            Some(rec)
        }
        (None, false) => None,
    };
    let spec = IsoflopSpec {
        sweeps: a.rows.sweep.clone(),
        train_data: a.rows.train_data.clone(),
        model: a.rows.model.clone(),
        dataset: a.rows.dataset.clone(),
        metric: a.rows.metric.clone(),
        budget_column: a.budget_column.clone(),
        x_column: a.x.clone(),
        y: y_kind(a.y),
        y_log: a.y_log,
        budgets: a.budgets.clone(),
        tolerance_dex: a.tolerance,
        law: law.clone(),
        title: a.figure.title.clone(),
        x_label: a.figure.x_label.clone(),
        y_label: a.figure.y_label.clone(),
        width: a.figure.width,
        height: a.figure.height,
    };
    let plot = isoflop_figure(&t, &spec)?;
    render_all(&plot.figure, &a.figure.out, report)?;
    for b in &plot.budgets {
        let opt = b
            .optimum
            .map(|(n, l)| format!("parabola optimum N = {}, {}", sci(n), sci(l)))
            .unwrap_or_else(|| "no parabola optimum".into());
        let law_opt = b
            .law_optimum
            .map(|(n, l)| format!("; law optimum N = {}, {}", sci(n), sci(l)))
            .unwrap_or_default();
        println!(
            "  budget {} ({} runs): {opt}{law_opt}",
            sci(b.compute),
            b.points.len()
        );
    }
    report.warnings.extend(plot.warnings);
    report.fits.extend(law);
    Ok(())
}

fn run_extrapolation(a: &ExtrapolationPlotArgs, report: &mut PlotReport) -> Result<()> {
    check_outputs(&a.figure.out)?;
    let rec: FitRecord = match (&a.fit, a.holdout_above) {
        (Some(p), _) => read_json(p)?,
        (None, Some(c)) => {
            let t = table::read_csv(&a.rows.table)?;
            fit_table(
                &t,
                &select_spec(&a.rows, a.x, a.y),
                &fit_spec(&a.fitting)?,
                None,
                Some(c),
            )?
        }
        (None, None) => {
            return Err(AnalysisError::arg(
                "fit",
                "give a fit record (--fit) or a threshold (--holdout-above C)",
            ));
        }
    };
    let fig = extrapolation_figure(
        &rec,
        &ExtrapolationSpec {
            title: a.figure.title.clone(),
            x_label: a.figure.x_label.clone(),
            y_label: a.figure.y_label.clone(),
            log: a.log,
            width: a.figure.width,
            height: a.figure.height,
        },
    )?;
    render_all(&fig, &a.figure.out, report)?;
    if let Some(x) = &rec.extrapolation {
        println!(
            "  fitted on {} points, predicted {}: mean |rel error| {:.2}%, max {:.2}%",
            x.n_fit,
            x.n_held_out,
            100.0 * x.mean_abs_rel_error,
            100.0 * x.max_abs_rel_error
        );
    }
    report.fits.push(rec);
    Ok(())
}

fn run_cherti(a: &Cherti2023PlotArgs, report: &mut PlotReport) -> Result<()> {
    for f in &a.format {
        if f != "png" && f != "svg" {
            return Err(AnalysisError::arg(
                "format",
                format!("{f:?}: use png and/or svg"),
            ));
        }
    }
    let out = cherti::cherti2023_reference(&ChertiOptions {
        zeroshot: a.data.clone(),
        arch_info: Some(a.arch_info.clone()),
        out_dir: a.out_dir.clone(),
        formats: a.format.clone(),
        bootstrap: a.bootstrap,
        seed: a.seed,
        level: a.level,
        width: a.width,
        height: a.height,
    })?;
    println!("table: {}", out.table.display());
    for f in &out.fit_files {
        println!("fit record: {}", f.display());
    }
    print_law("OpenCLIP", &out.openclip);
    print_law("OpenAI CLIP", &out.openai);
    for f in &out.figures {
        println!("wrote {}", f.display());
    }
    for (rec, files) in &out.comparisons {
        for line in crate::compare::summary(rec) {
            println!("{line}");
        }
        for f in files {
            println!("wrote {}", f.display());
        }
    }
    report.outputs = out.figures;
    report.data_files = std::iter::once(out.table).chain(out.fit_files).collect();
    report.fits = vec![out.openclip, out.openai];
    Ok(())
}

/// Runs `plot`: draws the figure(s), prints what was written and returns it.
pub fn run_plot(args: &PlotArgs) -> Result<PlotReport> {
    let mut report = PlotReport::default();
    match &args.kind {
        PlotKind::Scaling(a) => run_scaling(a, &mut report)?,
        PlotKind::Samples(a) => run_samples(a, &mut report)?,
        PlotKind::Isoflop(a) => run_isoflop(a, &mut report)?,
        PlotKind::Extrapolation(a) => run_extrapolation(a, &mut report)?,
        PlotKind::Cherti2023(a) => run_cherti(a, &mut report)?,
    }
    for w in &report.warnings {
        println!("  warning: {w}");
    }
    Ok(report)
}
