//! `plot`: the command-line layer over [`crate::plot`], shared by the `clipscale-analysis`
//! binary and the main `clipscale` binary. `plot scaling | samples | isoflop | extrapolation`
//! draw from a tidy table (and fit records); `plot cherti2023` reproduces Cherti et al. 2023's
//! ImageNet scaling figure from the published runs and writes the table and fit records it is
//! drawn from. Each figure is written as PNG or SVG by the extension of every `--out`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{FrontierArg, LawArg, XArg, YArg};
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

/// `plot`: draw a scaling figure.
#[derive(Debug, Clone, Args)]
pub struct PlotArgs {
    #[command(subcommand)]
    pub kind: PlotKind,
}

/// The kinds of figure.
#[derive(Debug, Clone, Subcommand)]
pub enum PlotKind {
    /// Error against compute (log-log) with fitted laws, bootstrap bands and frontier points.
    Scaling(Box<ScalingPlotArgs>),
    /// A metric against samples seen, one line per model (or per --group-by).
    Samples(Box<SamplesPlotArgs>),
    /// Loss against parameters at fixed compute budgets, with the fitted optimum.
    Isoflop(Box<IsoflopPlotArgs>),
    /// Predicted against observed for a hold-out extrapolation check.
    Extrapolation(Box<ExtrapolationPlotArgs>),
    /// Cherti et al. 2023's ImageNet figure from the published runs (table, fits, PNG, SVG).
    Cherti2023(Box<Cherti2023PlotArgs>),
}

/// Output and look of one figure.
#[derive(Debug, Clone, Args)]
pub struct FigureArgs {
    /// Output file; the extension (.png or .svg) picks the format. Repeat for both.
    #[arg(long, short, required = true)]
    pub out: Vec<PathBuf>,
    /// Width in pixels.
    #[arg(long, default_value_t = 1400)]
    pub width: u32,
    /// Height in pixels.
    #[arg(long, default_value_t = 820)]
    pub height: u32,
    #[arg(long)]
    pub title: Option<String>,
    /// Replace the x-axis description.
    #[arg(long)]
    pub x_label: Option<String>,
    /// Replace the y-axis description.
    #[arg(long)]
    pub y_label: Option<String>,
    /// Rename a legend entry, OLD=NEW (repeatable), e.g. --label CLIP-WIT="OpenAI WIT"
    /// (scaling and samples plots).
    #[arg(long = "label", value_name = "OLD=NEW")]
    pub labels: Vec<String>,
}

/// Which rows of the tidy table.
#[derive(Debug, Clone, Args)]
pub struct RowsArgs {
    /// Tidy table written by `collect`.
    #[arg(long, default_value = "results/table.csv")]
    pub table: PathBuf,
    /// Evaluation data set (e.g. imagenet1k); needed when the table holds several.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Metric (e.g. acc1, loss); needed when the table holds several.
    #[arg(long)]
    pub metric: Option<String>,
    /// Keep only these sweeps (repeatable).
    #[arg(long)]
    pub sweep: Vec<String>,
    /// Keep only this training data set.
    #[arg(long)]
    pub train_data: Option<String>,
    /// Keep only this model.
    #[arg(long)]
    pub model: Option<String>,
}

/// Fitting options for laws fitted while plotting.
#[derive(Debug, Clone, Args)]
pub struct PlotFitArgs {
    #[arg(long, value_enum, default_value_t = LawArg::Power)]
    pub law: LawArg,
    /// Default: bins for power, pareto for saturating.
    #[arg(long, value_enum)]
    pub frontier: Option<FrontierArg>,
    /// Number of bins for --frontier bins.
    #[arg(long, default_value_t = 5)]
    pub bins: usize,
    /// Bootstrap refits for the confidence band (0 = no band).
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Central level of the band.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
}

/// `plot scaling`.
#[derive(Debug, Clone, Args)]
pub struct ScalingPlotArgs {
    #[command(flatten)]
    pub rows: RowsArgs,
    #[command(flatten)]
    pub figure: FigureArgs,
    #[command(flatten)]
    pub fitting: PlotFitArgs,
    #[arg(long, value_enum, default_value_t = XArg::TotalGmacs)]
    pub x: XArg,
    #[arg(long, value_enum, default_value_t = YArg::Auto)]
    pub y: YArg,
    /// Column that colours the points (model, train_data, sweep, trial_id, ...).
    #[arg(long, default_value = "model")]
    pub color_by: String,
    /// Column that picks the marker shape.
    #[arg(long)]
    pub marker_by: Option<String>,
    /// Draw the laws of these fit records (repeatable) instead of fitting.
    #[arg(long)]
    pub fit: Vec<PathBuf>,
    /// Legend names of the --fit records, in order.
    #[arg(long)]
    pub fit_label: Vec<String>,
    /// Without --fit: fit one law per value of this column, or `all` for one law.
    #[arg(long, default_value = "sweep")]
    pub fit_by: String,
    /// Points only, no law.
    #[arg(long)]
    pub no_fit: bool,
    /// No bootstrap band.
    #[arg(long)]
    pub no_band: bool,
    /// Write the records of laws fitted here into this folder.
    #[arg(long)]
    pub write_fits: Option<PathBuf>,
}

/// `plot samples`.
#[derive(Debug, Clone, Args)]
pub struct SamplesPlotArgs {
    #[command(flatten)]
    pub rows: RowsArgs,
    #[command(flatten)]
    pub figure: FigureArgs,
    /// x column: samples_seen, unique_samples, total_gmacs, train_flops, params.
    #[arg(long, default_value = "samples_seen")]
    pub x: String,
    /// auto and value draw the metric as it is; error draws 1 - value.
    #[arg(long, value_enum, default_value_t = YArg::Auto)]
    pub y: YArg,
    /// Log y axis.
    #[arg(long)]
    pub y_log: bool,
    /// One line per distinct combination of these columns (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', default_value = "model")]
    pub group_by: Vec<String>,
    /// Colour by this column (default: one colour per line).
    #[arg(long)]
    pub color_by: Option<String>,
    /// Marker shape by this column.
    #[arg(long)]
    pub marker_by: Option<String>,
}

/// `plot isoflop`.
#[derive(Debug, Clone, Args)]
pub struct IsoflopPlotArgs {
    #[command(flatten)]
    pub rows: RowsArgs,
    #[command(flatten)]
    pub figure: FigureArgs,
    /// Compute column the budgets are read from.
    #[arg(long, default_value = "train_flops")]
    pub budget_column: String,
    /// x column.
    #[arg(long, default_value = "params")]
    pub x: String,
    /// auto: losses as they are, scores as 1 - score.
    #[arg(long, value_enum, default_value_t = YArg::Auto)]
    pub y: YArg,
    #[arg(long)]
    pub y_log: bool,
    /// Compute budgets (comma-separated, e.g. 6e18,1e19,3e19); default: clusters of the data.
    #[arg(long, value_delimiter = ',')]
    pub budgets: Vec<f64>,
    /// A run belongs to a budget within this many decades.
    #[arg(long, default_value_t = 0.05)]
    pub tolerance: f64,
    /// Also draw the law of this Chinchilla fit record.
    #[arg(long)]
    pub fit: Option<PathBuf>,
    /// Also fit Chinchilla approach 3 to the selected rows and draw it.
    #[arg(long, conflicts_with = "fit")]
    pub chinchilla: bool,
    /// With --chinchilla: drop this many highest-loss points from the fit (5 = Besiroglu et al.).
    #[arg(long, default_value_t = 0)]
    pub drop_highest: usize,
}

/// `plot extrapolation`.
#[derive(Debug, Clone, Args)]
pub struct ExtrapolationPlotArgs {
    #[command(flatten)]
    pub rows: RowsArgs,
    #[command(flatten)]
    pub figure: FigureArgs,
    #[command(flatten)]
    pub fitting: PlotFitArgs,
    /// A fit record made with --holdout-above; without it the check is run here.
    #[arg(long)]
    pub fit: Option<PathBuf>,
    /// Fit on compute <= C and predict above (when no --fit is given).
    #[arg(long)]
    pub holdout_above: Option<f64>,
    #[arg(long, value_enum, default_value_t = XArg::TotalGmacs)]
    pub x: XArg,
    #[arg(long, value_enum, default_value_t = YArg::Auto)]
    pub y: YArg,
    /// Log axes.
    #[arg(long)]
    pub log: bool,
}

/// `plot cherti2023`.
#[derive(Debug, Clone, Args)]
pub struct Cherti2023PlotArgs {
    /// LAION-AI/scaling-laws-openclip zeroshot_results.csv.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/anchors/cherti2023_zeroshot_results.csv"))]
    pub data: PathBuf,
    /// Their arch_info.csv, to fill the `params` column.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/anchors/cherti2023_arch_info.csv"))]
    pub arch_info: PathBuf,
    /// Folder for the table, the fit records and the figures.
    #[arg(long, default_value = "results/reference")]
    pub out_dir: PathBuf,
    /// Figure formats (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "png,svg")]
    pub format: Vec<String>,
    /// Bootstrap refits for the bands.
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    #[arg(long, default_value_t = 1400)]
    pub width: u32,
    #[arg(long, default_value_t = 820)]
    pub height: u32,
}

/// What `plot` wrote and fitted.
#[derive(Debug, Clone, Default)]
pub struct PlotReport {
    /// Figure files written.
    pub outputs: Vec<PathBuf>,
    /// Other files written (tables, fit records).
    pub data_files: Vec<PathBuf>,
    /// Laws drawn (fitted here or read).
    pub fits: Vec<FitRecord>,
    pub warnings: Vec<String>,
}

fn y_kind(y: YArg) -> YKind {
    match y {
        YArg::Auto => YKind::Auto,
        YArg::Error => YKind::Error,
        YArg::Value => YKind::Value,
    }
}

fn x_column(x: XArg) -> String {
    match x {
        XArg::TotalGmacs => "total_gmacs".into(),
        XArg::TrainFlops => "train_flops".into(),
    }
}

fn fit_spec(f: &PlotFitArgs) -> Result<FitSpec> {
    let law = match f.law {
        LawArg::Power => Law::Power,
        LawArg::Saturating => Law::Saturating,
        LawArg::Chinchilla => {
            return Err(AnalysisError::arg(
                "law",
                "the Chinchilla law is not a function of compute alone; use `plot isoflop --chinchilla`",
            ));
        }
    };
    let frontier = match f.frontier.unwrap_or(if law == Law::Power {
        FrontierArg::Bins
    } else {
        FrontierArg::Pareto
    }) {
        FrontierArg::Bins => Frontier::Bins(f.bins),
        FrontierArg::Pareto => Frontier::Pareto,
        FrontierArg::None => Frontier::None,
    };
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
    let t = table::read_csv(&a.rows.table)?;
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
