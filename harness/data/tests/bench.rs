//! The decoding benchmark runs on a tiny configuration and reports sane figures.

use clipscale_data::{BenchConfig, PairSource, bench_decode};

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

#[test]
fn bench_shards_split_the_images_and_stream_through_the_pipeline() {
    use clipscale_data::{ShardSpec, StreamPosition, WebDataset, write_bench_shards};
    let dir = std::env::temp_dir().join(format!("clipscale-bench-shards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pattern = write_bench_shards(&dir, 7, 24, 3).unwrap();
    assert!(pattern.ends_with("bench-{00000..00002}.tar"), "{pattern}");
    assert_eq!(clipscale_data::expand_shards(&pattern).unwrap().len(), 3);
    let data = WebDataset::open(ShardSpec::new(pattern.clone(), 16)).unwrap();
    assert_eq!(data.unique_samples(), 7);
    let batch = data
        .stream_from(StreamPosition::START)
        .unwrap()
        .next_batch(7)
        .unwrap();
    assert_eq!(batch.len(), 7);
    let mut captions = batch.captions.clone();
    captions.sort();
    assert_eq!(captions[0], "benchmark image 0");
    assert_eq!(captions[6], "benchmark image 6");
    // one shard: a plain path, no braces
    let single = write_bench_shards(&dir.join("one"), 2, 24, 5).unwrap();
    assert!(single.ends_with("bench-00000.tar"), "{single}");
    let err = write_bench_shards(&dir, 0, 24, 3).unwrap_err().to_string();
    assert!(err.contains("images 0"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
