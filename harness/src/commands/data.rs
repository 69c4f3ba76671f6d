//! `clipscale data prepare ...`: the burn-free preparation code of clipscale-data, wired in.

use anyhow::Result;
use clipscale::cli::{DataCommand, PrepareCommand};
use clipscale_data::prepare;

pub fn data(cmd: &DataCommand) -> Result<()> {
    let DataCommand::Prepare(p) = cmd;
    let manifest = match p {
        PrepareCommand::Emoji(a) => prepare::prepare_emoji(a)?,
        PrepareCommand::FashionMnist(a) => prepare::fashion_mnist::prepare_fashion_mnist(a)?,
        PrepareCommand::Tuxpaint(a) => prepare::tuxpaint::prepare_tuxpaint(a)?,
    };
    println!("{}", manifest.summary());
    Ok(())
}
