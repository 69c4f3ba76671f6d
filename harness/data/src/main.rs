//! `clipscale-data`: the data preparation commands without burn.
//!
//! ```text
//! clipscale-data prepare emoji [--reduced] [--out data/emoji] [--image-size 64] ...
//! clipscale-data prepare fashion-mnist [--out data/fashion-mnist] ...
//! clipscale-data prepare tuxpaint [--out data/tuxpaint] ...
//! ```
//!
//! Each prints a summary of the manifest it wrote; errors exit with status 1 and a message
//! naming the file or value at fault.

use clap::{Parser, Subcommand};
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
enum Command {
    /// Prepare a real data set into WebDataset shards.
    #[command(subcommand)]
    Prepare(Prepare),
}

#[derive(Subcommand)]
enum Prepare {
    /// The multi-style emoji set (npm packages; cached under $CLIPSCALE_CACHE).
    Emoji(PrepareEmojiArgs),
    /// Fashion-MNIST (Debian package dataset-fashion-mnist).
    FashionMnist(PrepareFashionMnistArgs),
    /// Tux Paint photo stamps with captions (Debian package tuxpaint-stamps-default).
    Tuxpaint(PrepareTuxpaintArgs),
}

fn main() {
    let cli = Cli::parse();
    let result: Result<Manifest, _> = match cli.command {
        Command::Prepare(Prepare::Emoji(args)) => prepare_emoji(&args),
        Command::Prepare(Prepare::FashionMnist(args)) => prepare_fashion_mnist(&args),
        Command::Prepare(Prepare::Tuxpaint(args)) => prepare_tuxpaint(&args),
    };
    match result {
        Ok(manifest) => print!("{}", manifest.summary()),
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(1);
        }
    }
}
