//! `clipscale models` and `clipscale flops`.

use anyhow::Result;
use clipscale::cli::{FlopsArgs, ModelsArgs};
use clipscale::flops::{breakdown, counts};
use clipscale::model::ModelLadder;

pub fn models(args: &ModelsArgs) -> Result<()> {
    let ladder = ModelLadder::load_or_builtin(args.ladder.models.as_deref())?;
    println!("models from {}", ladder.source);
    println!(
        "{:<10} {:>12} {:>11} {:>11} {:>14} {:>7} {:>6} {:>8} {:>6}",
        "model", "params", "image", "text", "GMACs/pair", "image", "patch", "context", "vocab"
    );
    for m in &ladder.models {
        let c = counts(m);
        println!(
            "{:<10} {:>12} {:>11} {:>11} {:>14.6} {:>7} {:>6} {:>8} {:>6}",
            m.name,
            c.params,
            c.image_params,
            c.text_params,
            c.fwd_macs_per_pair as f64 / 1e9,
            m.vision.image_size,
            m.vision.patch_size,
            m.text.context_length,
            m.text.vocab_size
        );
    }
    Ok(())
}

pub fn flops(args: &FlopsArgs) -> Result<()> {
    let ladder = ModelLadder::load_or_builtin(args.ladder.models.as_deref())?;
    let mut cfg = ladder.get(&args.model)?.clone();
    if let Some(v) = args.vocab_size {
        cfg = cfg.with_vocab_size(v);
    }
    cfg.validate()?;
    let c = counts(&cfg);
    println!(
        "{} (image {} px, patch {}, context {}, vocabulary {})",
        cfg.name,
        cfg.vision.image_size,
        cfg.vision.patch_size,
        cfg.text.context_length,
        cfg.text.vocab_size
    );
    println!(
        "{:<6} {:<52} {:>14} {:>16}",
        "tower", "component", "params", "fwd MACs/pair"
    );
    for part in breakdown(&cfg) {
        println!(
            "{:<6} {:<52} {:>14} {:>16}",
            part.tower, part.name, part.params, part.fwd_macs
        );
    }
    println!();
    println!(
        "parameters:           {:.2} M ({} image, {} text, 1 logit scale)",
        c.params as f64 / 1e6,
        c.image_params,
        c.text_params
    );
    println!(
        "forward per pair:     {:.3} GMACs ({:.3} image + {:.3} text) = {:.3} GFLOPs",
        c.fwd_macs_per_pair as f64 / 1e9,
        c.image_fwd_macs as f64 / 1e9,
        c.text_fwd_macs as f64 / 1e9,
        2.0 * c.fwd_macs_per_pair as f64 / 1e9
    );
    println!(
        "training per sample:  {:.3} GFLOPs (3 x forward, 1 MAC = 2 FLOPs)",
        c.train_flops_per_sample() / 1e9
    );
    Ok(())
}
