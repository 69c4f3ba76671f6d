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
            ("transform", 16),
            ("pipeline", 16),
            ("transform", 24),
            ("pipeline", 24)
        ]
    );
    for f in &figures {
        assert!(
            f.images_per_sec > 0.0 && f.images_per_sec.is_finite(),
            "{f:?}"
        );
        assert!(f.images >= 12 && f.mean_jpeg_bytes > 100, "{f:?}");
    }
    assert!(
        !cfg.dir.join("bench-00000.tar").exists(),
        "the temporary shard is removed"
    );
    let bad = BenchConfig { threads: 0, ..cfg };
    assert!(bench_decode(&bad).is_err());
}
