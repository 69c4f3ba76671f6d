//! The decoding benchmark runs on a tiny configuration and reports sane figures.

use clipscale_data::{BenchConfig, bench_decode};

#[test]
fn bench_decode_reports_every_mode_and_size() {
    let cfg = BenchConfig {
        dir: std::env::temp_dir().join(format!("clipscale-data-bench-test-{}", std::process::id())),
        images: 6,
        source_side: 40,
        sizes: vec![16, 24],
        threads: 2,
        passes: 2,
        pipeline_images: 12,
        train: true,
    };
    let figures = bench_decode(&cfg).unwrap();
    let modes: Vec<(&str, usize)> = figures
        .iter()
        .map(|f| (f.mode.as_str(), f.output_size))
        .collect();
    assert_eq!(
        modes,
        [
            ("decode", 0),
            ("resize", 16),
            ("transform", 16),
            ("pipeline", 16),
            ("pipeline-consumer", 16),
            ("pipeline-reader", 16),
            ("resize", 24),
            ("transform", 24),
            ("pipeline", 24),
            ("pipeline-consumer", 24),
            ("pipeline-reader", 24),
            ("render", 32),
            ("render-parallel", 32),
            ("render", 224),
            ("render-parallel", 224),
        ]
    );
    for f in &figures {
        assert!(
            f.images_per_sec > 0.0 && f.images_per_sec.is_finite(),
            "{f:?}"
        );
        let jpeg = !f.mode.starts_with("render");
        assert!(
            f.images >= 12 && (!jpeg || f.mean_jpeg_bytes > 100),
            "{f:?}"
        );
    }
    assert!(
        !cfg.dir.join("bench-00000.tar").exists(),
        "the temporary shard is removed"
    );
    let bad = BenchConfig { threads: 0, ..cfg };
    assert!(bench_decode(&bad).is_err());
}

#[test]
fn synthetic_batches_are_the_same_rendered_on_one_thread_or_several() {
    use clipscale_data::{Synthetic, SyntheticConfig};
    let generator = Synthetic::new(SyntheticConfig {
        seed: 3,
        image_size: 48,
    })
    .unwrap();
    let render = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (mut images, mut captions) = (Vec::new(), Vec::new());
        pool.install(|| generator.fill_batch(100, 37, &mut images, &mut captions));
        (images, captions)
    };
    let (one, one_captions) = render(1);
    let (four, four_captions) = render(4);
    assert_eq!(one.len(), 37 * 3 * 48 * 48);
    assert!(
        one == four,
        "images differ between 1 and 4 rendering threads"
    );
    assert_eq!(one_captions, four_captions);
    // and they are 37 different scenes, not one repeated
    assert_ne!(one[..3 * 48 * 48], one[3 * 48 * 48..2 * 3 * 48 * 48]);
}
