//! The `clipscale-analysis` binary: `collect`, `fit`, `plot` and `bench-fit` without burn, so
//! results can be tabulated, fitted (Cherti et al. 2023 power laws, Chinchilla approach 3) and
//! plotted in seconds.

use clap::{Parser, Subcommand};
use clipscale_analysis::cli::{
    self, BenchFitArgs, CollectArgs, CompareArgs, FitArgs, PlotArgs, ReportArgs,
};

#[derive(Parser)]
#[command(
    name = "clipscale-analysis",
    version,
    about = "Collect clipscale results and fit scaling laws"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Walk a results folder (or import published data) into one tidy CSV table.
    Collect(CollectArgs),
    /// Fit a scaling law to rows of the tidy table.
    Fit(Box<FitArgs>),
    /// Fit one law per group (--by) and compare every pair: exponents, asymptotes, where the
    /// laws cross and how sure that is.
    Compare(Box<CompareArgs>),
    /// Draw scaling plots (PNG or SVG): scaling, samples, isoflop, extrapolation, cherti2023.
    Plot(PlotArgs),
    /// A sweep's results folder as one self-contained HTML page (report.html).
    Report(ReportArgs),
    /// Time the Chinchilla grid fit and 1000 bootstrap refits on the anchor data and record them.
    BenchFit(BenchFitArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let res = match &cli.command {
        Cmd::Collect(a) => cli::run_collect(a).map(|_| ()),
        Cmd::Fit(a) => cli::run_fit(a).map(|_| ()),
        Cmd::Compare(a) => cli::run_compare(a).map(|_| ()),
        Cmd::Plot(a) => cli::run_plot(a).map(|_| ()),
        Cmd::Report(a) => cli::run_report(a).map(|_| ()),
        Cmd::BenchFit(a) => {
            let command = std::env::args().collect::<Vec<_>>().join(" ");
            cli::run_bench_fit(a, &command).map(|_| ())
        }
    };
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
