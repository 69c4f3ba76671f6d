//! The `clipscale` binary: parse the command line, dispatch, print errors with their context.

mod commands;

use clap::Parser;
use clipscale::cli::{Cli, Command};


#[cfg(unix)]
fn default_sigpipe() {
    // Like other command-line tools, end quietly when the reader of our output goes away
    // (`clipscale models | head`) instead of panicking on a broken pipe.
    unsafe extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}

#[cfg(not(unix))]
fn default_sigpipe() {}

fn main() {
    default_sigpipe();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Models(a) => commands::models::models(a),
        Command::Flops(a) => commands::models::flops(a),
        Command::Demo(a) => commands::demo::demo(a),
        Command::GpuCheck(a) => commands::gpu_check::gpu_check(a),
        Command::Train(a) => commands::train::train(a),
        Command::Collect(a) => clipscale_analysis::cli::run_collect(a).map(|_| ()).map_err(Into::into),
        Command::Fit(a) => clipscale_analysis::cli::run_fit(a).map(|_| ()).map_err(Into::into),
        Command::Bench(b) => commands::bench::bench(b),
        Command::Sweep(s) => commands::sweep::sweep(s),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
