//! The `clipscale` binary: parse the command line, dispatch, print errors with their context.

mod commands;

use clap::Parser;
use clipscale::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Models(a) => commands::models::models(a),
        Command::Flops(a) => commands::models::flops(a),
        Command::Demo(a) => commands::demo::demo(a),
        Command::GpuCheck(a) => commands::gpu_check::gpu_check(a),
        Command::Train(a) => commands::train::train(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
