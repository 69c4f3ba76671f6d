//! The command line: one clap `Args` struct per subcommand; `main.rs` dispatches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::backend::DeviceSpec;

#[derive(Debug, Parser)]
#[command(name = "clipscale", version, about = "Train CLIP models across sizes and budgets, evaluate them zero-shot, fit scaling laws, draw the plots")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the model ladder: parameters, forward GMACs per image-text pair, image size, context.
    Models(ModelsArgs),
    /// Per-component parameter and MAC breakdown of one model, and its training FLOPs per sample.
    Flops(FlopsArgs),
    /// One forward and backward pass of a model on a random batch: a smoke test of the model
    /// and the backend.
    Demo(DemoArgs),
    /// Forward and backward on CUDA against the CPU, same weights and batch, f32; relative errors.
    GpuCheck(GpuCheckArgs),
}

/// Where the model ladder comes from.
#[derive(Debug, Args, Clone)]
pub struct LadderArgs {
    /// A models file in the format of sweeps/models.toml (default: the built-in ladder).
    #[arg(long, value_name = "FILE")]
    pub models: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(flatten)]
    pub ladder: LadderArgs,
}

#[derive(Debug, Args)]
pub struct FlopsArgs {
    /// Model name from the ladder.
    #[arg(long)]
    pub model: String,
    /// Override the vocabulary size (a trial takes it from its tokenizer).
    #[arg(long)]
    pub vocab_size: Option<usize>,
    #[command(flatten)]
    pub ladder: LadderArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "w64-d3")]
    pub model: String,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// cpu, cuda or cuda:N
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Forward/backward passes to time (the first one is reported separately as warm-up).
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    #[command(flatten)]
    pub ladder: LadderArgs,
}

#[derive(Debug, Args)]
pub struct GpuCheckArgs {
    /// Models to check, from the ladder.
    #[arg(long = "model", id = "model", default_values_t = vec!["w64-d3".to_string()])]
    pub model_names: Vec<String>,
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// The CUDA device to check against the CPU.
    #[arg(long, default_value = "cuda:0")]
    pub device: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Largest relative error (max |cuda - cpu| / max |cpu|) that passes.
    #[arg(long, default_value_t = 1e-3)]
    pub tolerance: f64,
    /// Run everything up to the GPU call (the CPU reference and the comparison against itself).
    #[arg(long)]
    pub dry_run: bool,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub ladder: LadderArgs,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
