//! `plot`: the command-line layer over [`crate::plot`], shared by the `clipscale-analysis`
//! binary and the main `clipscale` binary. `plot scaling | samples | isoflop | extrapolation`
//! draw from a tidy table (and fit records); `plot cherti2023` reproduces Cherti et al. 2023's
//! ImageNet scaling figure from the published runs and writes the table and fit records it is
//! drawn from. Each figure is written as PNG or SVG by the extension of every `--out`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{LawArgs, XArg, YArg};
use crate::fit::record::FitRecord;

mod run;
pub use run::run_plot;

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
    #[command(flatten)]
    pub law: LawArgs,
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
    /// Read these values of --group-column as one (repeatable), e.g. `--fit-by train_data
    /// --group LAION=LAION-80M,LAION-400M,LAION-2B` for one law per training-set family.
    #[arg(long, value_name = "NAME=V1,V2,...")]
    pub group: Vec<crate::table::Grouping>,
    /// The column --group renames values of.
    #[arg(long, default_value = "train_data")]
    pub group_column: String,
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
