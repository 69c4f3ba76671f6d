//! `compare`: one law per group of the tidy table, and every pair of groups compared (see
//! [`crate::compare`]); prints a readable table, writes the record and the figure on request.

use std::path::PathBuf;

use clap::Args;

use super::{LawArgs, XArg, YArg};
use crate::compare::{CompareRecord, CompareSpec, compare, summary};
use crate::error::{AnalysisError, Result};
use crate::fit::bootstrap::BootstrapOptions;
use crate::fit::frontier::Frontier;
use crate::pipeline::{FitSpec, SelectSpec, YKind};
use crate::plot::Labels;
use crate::plot::compare::{CompareFigureSpec, compare_figure};
use crate::plot::figure::{Format, render};
use crate::records::write_json_atomic;
use crate::table::{self, Grouping};

/// `compare`: which group scales better, where the laws cross, how sure that is.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Tidy table written by `collect`.
    #[arg(long, default_value = "results/table.csv")]
    pub table: PathBuf,
    /// The column whose values are the groups (train_data, curation, objective, family,
    /// schedule, varied, model, sweep, ...).
    #[arg(long, default_value = "train_data")]
    pub by: String,
    /// Read these values of --by as one group (repeatable), e.g.
    /// `--group LAION=LAION-80M,LAION-400M,LAION-2B`.
    #[arg(long, value_name = "NAME=V1,V2,...")]
    pub group: Vec<Grouping>,
    #[command(flatten)]
    pub law: LawArgs,
    /// Another frontier for one group (repeatable): GROUP=none, GROUP=pareto or GROUP=bins.
    #[arg(long, value_name = "GROUP=FRONTIER")]
    pub frontier_of: Vec<String>,
    #[arg(long, value_enum, default_value_t = XArg::TotalGmacs)]
    pub x: XArg,
    #[arg(long, value_enum, default_value_t = YArg::Auto)]
    pub y: YArg,
    /// Evaluation data set (e.g. imagenet1k); needed when the table holds several.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Metric (e.g. acc1, image_retrieval_recall@5, val_loss); needed when several.
    #[arg(long)]
    pub metric: Option<String>,
    /// Keep only these sweeps (repeatable).
    #[arg(long)]
    pub sweep: Vec<String>,
    /// Bootstrap refits per group (at least 2).
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Central level of every interval.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// Computes at which to give P(one group's law is lower), e.g. --at 1e11,1e12.
    #[arg(long, value_delimiter = ',')]
    pub at: Vec<f64>,
    /// Where to look for crossings, LO,HI (default: the data's lowest compute to 100x its
    /// highest).
    #[arg(long, value_delimiter = ',', num_args = 2, value_name = "LO,HI")]
    pub range: Vec<f64>,
    /// Worker threads for the bootstrap (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Write the comparison record (JSON) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Draw the comparison figure here; the extension (.png or .svg) picks the format.
    /// Repeatable.
    #[arg(long)]
    pub plot: Vec<PathBuf>,
    /// Column that shapes the points in the figure (e.g. model).
    #[arg(long)]
    pub marker_by: Option<String>,
    /// Rename a group in the figure, OLD=NEW (repeatable).
    #[arg(long = "label", value_name = "OLD=NEW")]
    pub labels: Vec<String>,
    #[arg(long)]
    pub title: Option<String>,
}

/// Parses `GROUP=none|pareto|bins`.
fn frontier_of(s: &str, bins: usize) -> Result<(String, Frontier)> {
    let bad = || {
        AnalysisError::arg(
            "frontier-of",
            format!("{s:?} is not GROUP=none, GROUP=pareto or GROUP=bins"),
        )
    };
    let (g, f) = s.split_once('=').ok_or_else(bad)?;
    let f = match f.trim() {
        "none" => Frontier::None,
        "pareto" => Frontier::Pareto,
        "bins" => Frontier::Bins(bins),
        _ => return Err(bad()),
    };
    Ok((g.trim().to_string(), f))
}

/// The comparison spec `args` ask for.
pub fn compare_spec(args: &CompareArgs) -> Result<CompareSpec> {
    let (law, frontier) = args.law.law_and_frontier();
    let bins = args.law.bins_or_default();
    super::check_level(args.level)?;
    if args.bootstrap < 2 {
        return Err(AnalysisError::arg(
            "bootstrap",
            "a comparison needs at least 2 refits per group",
        ));
    }
    let range = match args.range.as_slice() {
        [] => None,
        [lo, hi] => Some((*lo, *hi)),
        _ => return Err(AnalysisError::arg("range", "give LO,HI")),
    };
    Ok(CompareSpec {
        select: SelectSpec {
            sweeps: args.sweep.clone(),
            train_data: None,
            model: None,
            dataset: args.dataset.clone(),
            metric: args.metric.clone(),
            x_column: super::x_column(args.x),
            y: match args.y {
                YArg::Auto => YKind::Auto,
                YArg::Error => YKind::Error,
                YArg::Value => YKind::Value,
            },
            drop_highest: 0,
            need_nd: false,
        },
        by: args.by.clone(),
        fit: FitSpec {
            law,
            frontier,
            saturating: Default::default(),
            chinchilla: Default::default(),
        },
        frontier_of: args
            .frontier_of
            .iter()
            .map(|s| frontier_of(s, bins))
            .collect::<Result<_>>()?,
        bootstrap: BootstrapOptions {
            reps: args.bootstrap,
            seed: args.seed,
            level: args.level,
            threads: args.threads,
        },
        at: args.at.clone(),
        range,
    })
}

/// Runs `compare`: prints the table, writes the record and the figure when asked.
pub fn run_compare(args: &CompareArgs) -> Result<CompareRecord> {
    let labels = Labels::parse(&args.labels)?;
    for p in &args.plot {
        Format::of(p)?;
    }
    let spec = compare_spec(args)?;
    let mut t = table::read_csv(&args.table)?;
    if !args.group.is_empty() {
        t = t.regroup(&args.by, &args.group)?;
    }
    let rec = compare(&t, &spec)?;
    for line in summary(&rec) {
        println!("{line}");
    }
    if let Some(out) = &args.out {
        write_json_atomic(out, &rec)?;
        println!("comparison record: {}", out.display());
    }
    if !args.plot.is_empty() {
        let fig = compare_figure(
            &t,
            &rec,
            &CompareFigureSpec {
                select: spec.select,
                marker_by: args.marker_by.clone(),
                labels,
                title: args.title.clone(),
                width: 1400,
                height: 820,
            },
        )?;
        for p in &args.plot {
            render(&fig, p)?;
            println!("wrote {}", p.display());
        }
    }
    Ok(rec)
}
