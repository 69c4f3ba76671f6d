//! The `clipscale` binary: parse the command line, dispatch, print errors with their context.

mod commands;

use clap::Parser;
use clipscale::cli::{Cli, Command};

/// glibc hands every allocation above 128 KiB to mmap and returns freed memory to the kernel, so a
/// training step that allocates the same activation buffers each time pays page faults and
/// zeroing for all of them. Keeping them in the heap (threshold 32 MiB, glibc's maximum) and not
/// trimming it reuses the memory instead. CLIPSCALE_MALLOC_TUNING=0 turns this off (to measure it).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    if std::env::var("CLIPSCALE_MALLOC_TUNING").as_deref() == Ok("0") {
        return;
    }
    // SAFETY: mallopt only changes glibc's allocator settings; called at start-up, before any
    // other thread allocates.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

fn main() {
    clipscale::signals::default_sigpipe();
    tune_malloc();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Models(a) => commands::models::models(a),
        Command::Flops(a) => commands::models::flops(a),
        Command::Demo(a) => commands::demo::demo(a),
        Command::Devices => commands::devices::devices(),
        Command::GpuCheck(a) => commands::gpu_check::gpu_check(a),
        Command::Train(a) => commands::train::train(a),
        Command::Collect(a) => clipscale_analysis::cli::run_collect(a)
            .map(|_| ())
            .map_err(Into::into),
        Command::Fit(a) => clipscale_analysis::cli::run_fit(a)
            .map(|_| ())
            .map_err(Into::into),
        Command::Compare(a) => clipscale_analysis::cli::run_compare(a)
            .map(|_| ())
            .map_err(Into::into),
        Command::Bench(b) => commands::bench::bench(b),
        Command::Eval(a) => commands::eval::eval(a),
        Command::Export(a) => commands::export::export(a),
        Command::Plot(a) => clipscale_analysis::cli::run_plot(a)
            .map(|_| ())
            .map_err(Into::into),
        Command::Report(a) => clipscale_analysis::cli::run_report(a)
            .map(|_| ())
            .map_err(Into::into),
        Command::Data(d) => commands::data::data(d),
        Command::Sweep(s) => commands::sweep::sweep(s),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
