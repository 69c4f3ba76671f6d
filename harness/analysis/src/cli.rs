//! Command-line layer shared by the `clipscale-analysis` binary and the main `clipscale` binary:
//! clap argument structs and `run_collect` / `run_fit` / `run_bench_fit` / `run_plot` (in
//! [`plot`]), which print a short
//! human summary and return what they computed. The fits mirror Cherti et al. 2023 (power law
//! on a binned frontier) and Hoffmann et al. 2022 / Besiroglu et al. 2024 (Chinchilla
//! approach 3); see [`crate::pipeline`].

mod compare;
mod plot;

pub use compare::{CompareArgs, compare_spec, run_compare};
pub use plot::{
    Cherti2023PlotArgs, ExtrapolationPlotArgs, FigureArgs, IsoflopPlotArgs, PlotArgs, PlotFitArgs,
    PlotKind, PlotReport, RowsArgs, SamplesPlotArgs, ScalingPlotArgs, run_plot,
};

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};

use crate::collect::{Collected, collect_results};
use crate::error::{AnalysisError, Result};
use crate::fit::bootstrap::{BootstrapOptions, BootstrapSummary};
use crate::fit::chinchilla::{self, ChinchillaFit, ChinchillaOptions};
use crate::fit::classical::ClassicalSummary;
use crate::fit::frontier::Frontier;
use crate::fit::record::FitRecord;
use crate::fit::saturating::SaturatingOptions;
use crate::pipeline::{FitSpec, Law, SelectSpec, YKind, fit_table, sig};
use crate::records::write_json_atomic;
use crate::table::{Grouping, Where};
use crate::{bench, import, table};

/// Published data sets `collect --from` can import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Importer {
    /// Cherti et al. 2023, LAION-AI/scaling-laws-openclip zeroshot_results.csv.
    Cherti2023,
    /// Hoffmann et al. 2022 Fig. 4 points as extracted by Besiroglu et al. 2024.
    Besiroglu2024,
}

/// `collect`: results tree (or a published file) -> tidy CSV.
#[derive(Debug, Clone, Args)]
pub struct CollectArgs {
    /// Results folder (`<results>/<sweep>/<trial-id>/`), or with --from the published file.
    #[arg(default_value = "results")]
    pub input: PathBuf,
    /// Import a published data set instead of walking a results folder.
    #[arg(long, value_enum)]
    pub from: Option<Importer>,
    /// With --from cherti2023: arch_info.csv to fill the `params` column.
    #[arg(long)]
    pub arch_info: Option<PathBuf>,
    /// Output CSV.
    #[arg(long, short, default_value = "results/table.csv")]
    pub out: PathBuf,
}

/// The law to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LawArg {
    /// E = beta * C^alpha, OLS in log10-log10 space.
    Power,
    /// E = E_inf + beta * C^alpha, robust (Huber) fit.
    Saturating,
    /// E = a (C + b)^c + d with a, b, d >= 0, c <= 0 (Nezhurina et al. 2025), least squares
    /// on ln residuals, on a frontier of geometric bins.
    Shifted,
    /// L = E + A/N^alpha + B/D^beta (Chinchilla approach 3).
    Chinchilla,
    /// Chinchilla's law in effective data D' = U + U R* (1 - exp(-R/R*)) (Muennighoff et al.
    /// 2023), R the repetitions of the U unique pairs beyond the first epoch, R* fitted: needs
    /// the table's unique_samples.
    DataConstrained,
}

impl LawArg {
    pub fn law(self) -> Law {
        match self {
            LawArg::Power => Law::Power,
            LawArg::Saturating => Law::Saturating,
            LawArg::Shifted => Law::Shifted,
            LawArg::Chinchilla => Law::Chinchilla,
            LawArg::DataConstrained => Law::DataConstrained,
        }
    }
}

/// Bins of the geometric-bin frontier when `--bins` is not given: 5 for the power law as
/// Cherti et al. 2023, 10 for the four-parameter shifted law (it needs 6 frontier points).
pub fn default_bins(law: Law) -> usize {
    if law == Law::Shifted { 10 } else { 5 }
}

/// The frontier asked for, or the law's default: bins for the power and shifted laws, the
/// Pareto frontier for the saturating law, none for Chinchilla and the data-constrained law.
pub fn frontier_for(law: Law, frontier: Option<FrontierArg>, bins: Option<usize>) -> Frontier {
    let arg = frontier.unwrap_or(match law {
        Law::Power | Law::Shifted => FrontierArg::Bins,
        Law::Saturating => FrontierArg::Pareto,
        Law::Chinchilla | Law::DataConstrained => FrontierArg::None,
    });
    match arg {
        FrontierArg::Bins => Frontier::Bins(bins.unwrap_or(default_bins(law))),
        FrontierArg::Pareto => Frontier::Pareto,
        FrontierArg::None => Frontier::None,
    }
}

/// The law and the frontier it is fitted on: shared by `fit`, `compare` and `plot scaling`.
#[derive(Debug, Clone, Args)]
pub struct LawArgs {
    #[arg(long, value_enum, default_value_t = LawArg::Power)]
    pub law: LawArg,
    /// Default: bins for power and shifted, pareto for saturating, none for chinchilla.
    #[arg(long, value_enum)]
    pub frontier: Option<FrontierArg>,
    /// Number of geometric bins for --frontier bins (default 5; 10 for the shifted law).
    #[arg(long)]
    pub bins: Option<usize>,
}

impl LawArgs {
    /// The law and the frontier asked for (or the law's default frontier).
    pub fn law_and_frontier(&self) -> (Law, Frontier) {
        let law = self.law.law();
        (law, frontier_for(law, self.frontier, self.bins))
    }

    /// The number of bins a `bins` frontier gets.
    pub fn bins_or_default(&self) -> usize {
        self.bins.unwrap_or(default_bins(self.law.law()))
    }
}

/// Frontier reduction before fitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FrontierArg {
    /// Cherti et al.'s binned minimum (see --bins).
    Bins,
    /// The exact Pareto frontier.
    Pareto,
    /// All points.
    None,
}

/// Compute axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum XArg {
    /// Forward GMACs per pair x samples seen (Cherti et al.).
    #[value(name = "total_gmacs", alias = "total-gmacs")]
    TotalGmacs,
    /// 6 x forward MACs x samples seen.
    #[value(name = "train_flops", alias = "train-flops")]
    TrainFlops,
}

/// Fails unless `level` is a central interval level in (0, 1).
pub(crate) fn check_level(level: f64) -> Result<()> {
    if level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(AnalysisError::arg(
            "level",
            format!("{level} is not in (0, 1), e.g. 0.95"),
        ))
    }
}

/// The tidy table's column of a compute axis.
pub(crate) fn x_column(x: XArg) -> String {
    match x {
        XArg::TotalGmacs => "total_gmacs".into(),
        XArg::TrainFlops => "train_flops".into(),
    }
}

/// What is fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum YArg {
    /// Losses as they are, scores (accuracy, recall) as 1 - score.
    Auto,
    /// 1 - value.
    Error,
    /// The value itself.
    Value,
}

/// `fit`: tidy CSV -> fit record.
#[derive(Debug, Clone, Args)]
pub struct FitArgs {
    /// Tidy table written by `collect`.
    #[arg(long, default_value = "results/table.csv")]
    pub table: PathBuf,
    #[command(flatten)]
    pub law: LawArgs,
    #[arg(long, value_enum, default_value_t = XArg::TotalGmacs)]
    pub x: XArg,
    #[arg(long, value_enum, default_value_t = YArg::Auto)]
    pub y: YArg,
    /// Evaluation data set (e.g. imagenet1k); needed when the table holds several.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Metric (e.g. acc1, image_retrieval_recall@5, loss); needed when several.
    #[arg(long)]
    pub metric: Option<String>,
    /// Keep only these sweeps (repeatable).
    #[arg(long)]
    pub sweep: Vec<String>,
    /// Keep only this training data set (e.g. LAION-2B).
    #[arg(long)]
    pub train_data: Option<String>,
    /// Keep only this model.
    #[arg(long)]
    pub model: Option<String>,
    /// Keep only the rows whose text column holds this value (repeatable), e.g.
    /// `--where curation=dfn` (a curation may be named by its operator when only one has it).
    #[arg(long = "where", value_name = "COLUMN=VALUE")]
    pub where_: Vec<Where>,
    /// Read these values of --group-column as one (repeatable), e.g.
    /// `--group LAION=LAION-80M,LAION-400M,LAION-2B --train-data LAION`.
    #[arg(long, value_name = "NAME=V1,V2,...")]
    pub group: Vec<Grouping>,
    /// The column --group renames values of (train_data, model, sweep, objective, curation,
    /// family, schedule, varied).
    #[arg(long, default_value = "train_data")]
    pub group_column: String,
    /// Drop this many highest-error points first (5 reproduces Besiroglu et al.).
    #[arg(long, default_value_t = 0)]
    pub drop_highest: usize,
    /// Bootstrap refits (0 = none).
    #[arg(long, default_value_t = 0)]
    pub bootstrap: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Central level of the bootstrap intervals.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// Fit on points with compute <= C, predict those above.
    #[arg(long)]
    pub holdout_above: Option<f64>,
    /// Huber delta on log residuals (saturating and chinchilla).
    #[arg(long, default_value_t = 1e-3)]
    pub huber_delta: f64,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Write the fit record (JSON) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `bench-fit`: time the Chinchilla grid fit and bootstrap on the anchor data and record them.
#[derive(Debug, Clone, Args)]
pub struct BenchFitArgs {
    /// Besiroglu et al.'s svg_extracted_data.csv.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/anchors/besiroglu2024_chinchilla_svg_extracted_data.csv"))]
    pub data: PathBuf,
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads for the grid (0 = all cores); the bootstrap runs on --bootstrap-threads.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[arg(long, default_value_t = 1)]
    pub bootstrap_threads: usize,
    /// Repository root (results/benchmarks/ is written there); default: git's top level or `.`.
    #[arg(long)]
    pub repo_root: Option<PathBuf>,
    /// Do not record, only print.
    #[arg(long)]
    pub no_record: bool,
}

/// Runs `collect`, writes the CSV and prints a summary.
pub fn run_collect(args: &CollectArgs) -> Result<Collected> {
    let collected = match args.from {
        None => collect_results(&args.input)?,
        Some(Importer::Cherti2023) => {
            let params = args
                .arch_info
                .as_deref()
                .map(import::cherti2023_arch_params)
                .transpose()?;
            let rows = import::cherti2023(&args.input, params.as_ref())?;
            Collected {
                trials: 0,
                rows,
                ..Default::default()
            }
        }
        Some(Importer::Besiroglu2024) => Collected {
            rows: import::besiroglu2024(&args.input)?,
            ..Default::default()
        },
    };
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| AnalysisError::io(dir, "creating", e))?;
    }
    table::write_csv(&args.out, &collected.rows)?;
    println!(
        "wrote {} rows to {}",
        collected.rows.len(),
        args.out.display()
    );
    if args.from.is_none() {
        println!(
            "{} trials collected, {} skipped",
            collected.trials,
            collected.skipped.len()
        );
    }
    for s in &collected.skipped {
        println!("  skipped {}: {}", s.dir.display(), s.reason);
    }
    for w in &collected.warnings {
        println!("  warning: {w}");
    }
    Ok(collected)
}

/// Runs `fit`, writes the record if asked and prints the law and its parameters.
pub fn run_fit(args: &FitArgs) -> Result<FitRecord> {
    let (law, frontier) = args.law.law_and_frontier();
    if args.huber_delta.is_nan() || args.huber_delta <= 0.0 {
        return Err(AnalysisError::arg(
            "huber-delta",
            format!("{} must be > 0", args.huber_delta),
        ));
    }
    check_level(args.level)?;
    let mut table = table::read_csv(&args.table)?;
    let mut wheres = Vec::new();
    for w in &args.where_ {
        let (kept, value) = table.keep_where(w)?;
        table = kept;
        wheres.push(format!("{}={value}", w.column));
    }
    if !args.group.is_empty() {
        table = table.regroup(&args.group_column, &args.group)?;
    }
    let select = SelectSpec {
        sweeps: args.sweep.clone(),
        train_data: args.train_data.clone(),
        model: args.model.clone(),
        dataset: args.dataset.clone(),
        metric: args.metric.clone(),
        x_column: x_column(args.x),
        y: match args.y {
            YArg::Auto => YKind::Auto,
            YArg::Error => YKind::Error,
            YArg::Value => YKind::Value,
        },
        drop_highest: args.drop_highest,
        need_nd: !law.of_compute(),
    };
    let spec = FitSpec {
        law,
        frontier,
        saturating: SaturatingOptions {
            huber_delta: args.huber_delta,
            ..Default::default()
        },
        chinchilla: ChinchillaOptions {
            huber_delta: args.huber_delta,
            threads: args.threads,
            ..Default::default()
        },
    };
    let boot = (args.bootstrap > 0).then_some(BootstrapOptions {
        reps: args.bootstrap,
        seed: args.seed,
        level: args.level,
        threads: args.threads,
    });
    let mut rec = fit_table(&table, &select, &spec, boot.as_ref(), args.holdout_above)?;
    if boot.is_none() {
        // no bootstrap: the classical interval at the level asked for
        rec.classical = crate::pipeline::classical_at(&rec, args.level);
    }
    rec.selection.groups = args
        .group
        .iter()
        .map(|g| format!("{}: {g}", args.group_column))
        .collect();
    rec.selection.wheres = wheres;
    print_summary(&rec);
    if let Some(out) = &args.out {
        write_json_atomic(out, &rec)?;
        println!("fit record: {}", out.display());
    }
    Ok(rec)
}

fn print_summary(rec: &FitRecord) {
    let s = &rec.selection;
    println!(
        "{} law, frontier {}, on {} {} ({}), sweeps {}: {} points -> {} used",
        rec.law,
        rec.frontier,
        s.dataset,
        s.metric,
        rec.axes.y,
        s.sweeps.join("+"),
        rec.points_input,
        rec.points_used.len()
    );
    let axes = match (&rec.axes.n, &rec.axes.d) {
        (Some(n), Some(d)) => format!("N = {n}, D = {d}"),
        _ => format!("C = {}", rec.axes.x),
    };
    println!("  {}    ({axes})", rec.formula);
    for b in &rec.at_bound {
        println!("  warning: {b}");
    }
    println!(
        "  objective {} = {:.6e}; fit {:.3} s",
        rec.objective.name, rec.objective.value, rec.timings.fit_s
    );
    if let Some(co) = &rec.compute_optimal {
        println!(
            "  compute-optimal: N_opt = {} (C/6)^{}, D_opt = (C/6)^{} / {}",
            sig(co.g),
            sig(co.n_exponent),
            sig(co.d_exponent),
            sig(co.g)
        );
    }
    if let Some(b) = &rec.bootstrap {
        print_bootstrap(b);
    }
    if let Some(why) = &rec.bootstrap_refused {
        println!("  bootstrap refused: {why}");
    }
    if let (None, Some(c)) = (&rec.bootstrap, &rec.classical) {
        print_classical(c);
    }
    if let Some(x) = &rec.extrapolation {
        println!(
            "  extrapolation above {:e}: fitted {} points, predicted {}; mean |rel error| {:.2}%, max {:.2}%",
            x.threshold,
            x.n_fit,
            x.n_held_out,
            100.0 * x.mean_abs_rel_error,
            100.0 * x.max_abs_rel_error
        );
    }
}

fn print_classical(c: &ClassicalSummary) {
    println!(
        "  classical: {:.0}% t-intervals, {} residual degrees of freedom (t = {})",
        100.0 * c.level,
        c.dof,
        sig(c.t)
    );
    for p in &c.params {
        print_interval(&p.name, p.estimate, p.ci_low, p.ci_high, p.se);
    }
}

/// One parameter's line: estimate, interval, standard error.
fn print_interval(name: &str, estimate: f64, low: f64, high: f64, se: f64) {
    println!(
        "    {name:>6} = {:<10} [{}, {}]  se {}",
        sig(estimate),
        sig(low),
        sig(high),
        sig(se)
    );
}

fn print_bootstrap(b: &BootstrapSummary) {
    println!(
        "  bootstrap: {} of {} refits (seed {}), {:.0}% percentile intervals, {:.2} s",
        b.succeeded,
        b.reps,
        b.seed,
        100.0 * b.level,
        b.elapsed_s
    );
    for p in &b.params {
        print_interval(&p.name, p.estimate, p.ci_low, p.ci_high, p.se);
    }
}

/// What `bench-fit` measured.
#[derive(Debug, Clone)]
pub struct BenchFitReport {
    pub fit: ChinchillaFit,
    pub bootstrap: BootstrapSummary,
    pub figures: Vec<(&'static str, String)>,
    pub recorded: Option<PathBuf>,
}

/// Times the Chinchilla grid fit (4,500 starts) and the bootstrap on the anchor data and records
/// the figures under topic `analysis-chinchilla-fit`. `command` is how it was invoked.
pub fn run_bench_fit(args: &BenchFitArgs, command: &str) -> Result<BenchFitReport> {
    let all = import::besiroglu2024_points(&args.data)?;
    let points = chinchilla::drop_highest_loss(&all, 5);
    let opts = ChinchillaOptions {
        threads: args.threads,
        ..Default::default()
    };
    let t0 = Instant::now();
    let fit = chinchilla::fit_chinchilla(&points, &opts)?;
    let fit_s = t0.elapsed().as_secs_f64();
    let names: Vec<&str> = fit.params.reported().iter().map(|(n, _)| *n).collect();
    let est: Vec<f64> = fit.params.reported().iter().map(|(_, v)| *v).collect();
    let bopts = BootstrapOptions {
        reps: args.bootstrap,
        seed: args.seed,
        level: 0.95,
        threads: args.bootstrap_threads,
    };
    let boot = crate::fit::bootstrap::bootstrap(points.len(), &names, &est, &bopts, |w| {
        let (p, _) = chinchilla::refit(&points, Some(w), &fit.params, &opts)?;
        Ok(p.reported().iter().map(|(_, v)| *v).collect())
    })?;
    let se = |n: &str| {
        boot.params
            .iter()
            .find(|p| p.name == n)
            .map(|p| format!("{:.4}", p.se))
            .unwrap_or_default()
    };
    let p = &fit.params;
    let figures: Vec<(&'static str, String)> = vec![
        ("points", points.len().to_string()),
        ("grid_starts", fit.starts.to_string()),
        ("grid_threads", fit.threads.to_string()),
        ("grid_fit_s", format!("{:.3}", fit.grid_s)),
        ("polish_s", format!("{:.3}", fit.polish_s)),
        ("fit_total_s", format!("{fit_s:.3}")),
        ("objective", format!("{:.6e}", fit.objective)),
        ("E", format!("{:.4}", p.big_e())),
        ("A", format!("{:.1}", p.big_a())),
        ("B", format!("{:.1}", p.big_b())),
        ("alpha", format!("{:.4}", p.alpha)),
        ("beta", format!("{:.4}", p.beta)),
        ("bootstrap_refits", boot.reps.to_string()),
        ("bootstrap_failed", boot.failed.to_string()),
        ("bootstrap_threads", boot.threads.to_string()),
        ("bootstrap_s", format!("{:.3}", boot.elapsed_s)),
        ("se_E", se("E")),
        ("se_alpha", se("alpha")),
        ("se_beta", se("beta")),
        (
            "build_profile",
            if cfg!(debug_assertions) {
                "dev"
            } else {
                "release"
            }
            .to_string(),
        ),
    ];
    println!(
        "Chinchilla approach 3 on {} points: {}",
        points.len(),
        crate::pipeline::Fitted::Chinchilla(fit.clone()).formula()
    );
    for (k, v) in &figures {
        println!("  {k:>18} = {v}");
    }
    let recorded = if args.no_record {
        None
    } else {
        let root = clipscale_core::repo::repo_root(args.repo_root.as_deref());
        let path = bench::record(&root, "analysis-chinchilla-fit", command, &figures)?;
        println!("recorded in {}", path.display());
        Some(path)
    };
    Ok(BenchFitReport {
        fit,
        bootstrap: boot,
        figures,
        recorded,
    })
}

/// `report`: a sweep's results folder (or published data) -> one self-contained HTML page.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The sweep's results folder (`results/<sweep>`), or with --from the published file.
    pub dir: PathBuf,
    /// Report on published data instead: cherti2023 (its zeroshot_results.csv).
    #[arg(long, value_enum)]
    pub from: Option<Importer>,
    /// With --from: the folder for the table, laws, figures and `cherti2023_report.html`.
    #[arg(long, default_value = "results/reference")]
    pub out_dir: PathBuf,
    /// With --from: bootstrap refits of the laws.
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
}

/// Runs `report`: writes `<dir>/report.html` (or, with --from, the published data's report)
/// and prints its path.
pub fn run_report(args: &ReportArgs) -> Result<PathBuf> {
    match args.from {
        Some(Importer::Cherti2023) => {
            let arch =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("anchors/cherti2023_arch_info.csv");
            let path =
                crate::report::write_cherti2023_report(&crate::plot::cherti::ChertiOptions {
                    zeroshot: args.dir.clone(),
                    arch_info: Some(arch),
                    out_dir: args.out_dir.clone(),
                    formats: vec!["png".into(), "svg".into()],
                    bootstrap: args.bootstrap,
                    seed: 0,
                    level: 0.95,
                    width: 1400,
                    height: 820,
                })?;
            println!("report: {}", path.display());
            return Ok(path);
        }
        Some(other) => {
            return Err(AnalysisError::arg(
                "from",
                format!("{other:?}: only cherti2023 has a report"),
            ));
        }
        None => {}
    }
    let dir = args.dir.as_path();
    let sweep = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            AnalysisError::arg("report", format!("{} names no folder", dir.display()))
        })?;
    let results = dir.parent().unwrap_or(Path::new("."));
    let path = crate::report::write_sweep_report(results, &sweep)?;
    println!("report: {}", path.display());
    Ok(path)
}
