//! Prints the synthetic data set's throughput on one core: scenes + captions + rendering via
//! `fill_batch`, and rendering alone.
//!
//! `cargo run --release -p clipscale-data --example synthetic_speed -- [SIZES...]`
//! (default sizes 32, 64 and 224).

use std::error::Error;
use std::time::Instant;

use clipscale_data::{Synthetic, SyntheticConfig, WordTokenizer};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<usize> = if args.is_empty() {
        vec![32, 64, 224]
    } else {
        args.iter().map(|s| s.parse()).collect::<Result<_, _>>()?
    };
    let tokenizer = WordTokenizer::for_synthetic();
    println!(
        "vocabulary: {} words, vocab_size {} (with pad/start/end/unk)",
        tokenizer.words().len(),
        tokenizer.vocab_size()
    );
    for size in sizes {
        let data = Synthetic::new(SyntheticConfig {
            seed: 0,
            image_size: size,
        })?;
        let n: usize = (4_000_000 / (size * size)).clamp(200, 20_000);
        let batch = 256;
        let (mut images, mut captions) = (Vec::new(), Vec::new());
        let start = Instant::now();
        let mut done = 0;
        while done < n {
            images.clear();
            captions.clear();
            data.fill_batch(done as u64, batch, &mut images, &mut captions);
            done += batch;
        }
        let full = done as f64 / start.elapsed().as_secs_f64();

        let scenes: Vec<_> = (0..n as u64).map(|i| data.train_scene(i)).collect();
        let mut image = vec![0.0f32; data.image_len()];
        let start = Instant::now();
        for scene in &scenes {
            data.render_into(scene, &mut image)?;
        }
        let render = n as f64 / start.elapsed().as_secs_f64();

        let start = Instant::now();
        let mut chars = 0usize;
        for scene in &scenes {
            chars += data.caption(scene).len();
        }
        let caption = n as f64 / start.elapsed().as_secs_f64();
        println!(
            "{size:>4} px: fill_batch {full:>9.0} samples/s | render only {render:>9.0} images/s | captions {caption:>9.0}/s (mean {:.0} chars)",
            chars as f64 / n as f64
        );
    }
    Ok(())
}
