//! `clipscale-data`: the data preparation commands without burn.
//!
//! ```text
//! clipscale-data prepare emoji [--reduced] [--out data/emoji] [--image-size 64] ...
//! clipscale-data prepare fashion-mnist [--out data/fashion-mnist] ...
//! clipscale-data prepare tuxpaint [--out data/tuxpaint] ...
//! clipscale-data prepare pool [--out data/pool] ...
//! clipscale-data curate [--pool data/pool] CURATION
//! ```
//!
//! Each prints a summary of the manifest it wrote; errors exit with status 1 and a message
//! naming the file or value at fault.

use clap::{Parser, Subcommand};
use clipscale_data::pool::{CurateArgs, PreparePoolArgs, prepare_pool, run_curate};
use clipscale_data::prepare::{
    Manifest, PrepareEmojiArgs, PrepareFashionMnistArgs, PrepareTuxpaintArgs, prepare_emoji,
    prepare_fashion_mnist, prepare_tuxpaint,
};

#[derive(Parser)]
#[command(
    name = "clipscale-data",
    version,
    about = "clipscale data preparation (no burn)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per run
enum Command {
    /// Prepare a real data set into WebDataset shards.
    #[command(subcommand)]
    Prepare(Prepare),
    /// A curated subset of a pool (a manifest of kept keys under <pool>/subsets/).
    Curate(CurateArgs),
}

#[derive(Subcommand)]
enum Prepare {
    /// The multi-style emoji set (npm packages; cached under $CLIPSCALE_CACHE).
    Emoji(PrepareEmojiArgs),
    /// Fashion-MNIST (Debian package dataset-fashion-mnist).
    FashionMnist(PrepareFashionMnistArgs),
    /// Tux Paint photo stamps with captions (Debian package tuxpaint-stamps-default).
    Tuxpaint(PrepareTuxpaintArgs),
    /// The noisy web-like pool (npm @iconify/json, Debian openclipart-svg), decontaminated.
    Pool(PreparePoolArgs),
}

fn main() {
    let cli = Cli::parse();
    if let Command::Curate(args) = &cli.command {
        match run_curate(args) {
            Ok(summary) => print!("{summary}"),
            Err(err) => {
                eprintln!("error: {err}");
                std::process::exit(1);
            }
        }
        return;
    }
    let result: Result<Manifest, _> = match cli.command {
        Command::Prepare(Prepare::Emoji(args)) => prepare_emoji(&args),
        Command::Prepare(Prepare::FashionMnist(args)) => prepare_fashion_mnist(&args),
        Command::Prepare(Prepare::Tuxpaint(args)) => prepare_tuxpaint(&args),
        Command::Prepare(Prepare::Pool(args)) => prepare_pool(&args),
        Command::Curate(_) => return,
    };
    match result {
        Ok(manifest) => print!("{}", manifest.summary()),
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(1);
        }
    }
}
