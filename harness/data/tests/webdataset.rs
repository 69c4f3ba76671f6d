//! Integration tests of the webdataset reader: shard patterns, grouping by key, deterministic
//! multi-threaded order, the shuffle buffer, epochs, resuming from a position, unique-sample
//! accounting, and every kind of bad input (skipped and counted, or an error naming the file).

mod common;

use std::collections::BTreeSet;

use clipscale_data::{
    CLIP_MEAN, CLIP_STD, DataError, PairSource, ShardSpec, SkipReason, StreamPosition, WebDataset,
    expand_shards,
};
use common::{all_keys, fixture, keys, make_shards, take, temp_dir};

fn spec(pattern: &str, threads: usize) -> ShardSpec {
    let mut s = ShardSpec::new(pattern, 8);
    s.threads = threads;
    s.shuffle_buffer = 16;
    s.seed = 7;
    s
}

fn eval_spec(pattern: &str) -> ShardSpec {
    let mut s = ShardSpec::eval(pattern, 8);
    s.threads = 2;
    s
}

/// CLIP-normalised value of an 8-bit level in channel `c`.
fn norm(level: f32, c: usize) -> f32 {
    (level / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c]
}

/// Pixel `(c, y, x)` of a CHW image of side 8.
fn px(image: &[f32], c: usize, y: usize, x: usize) -> f32 {
    image[c * 64 + y * 8 + x]
}

#[test]
fn brace_patterns_expand_like_braceexpand() {
    assert_eq!(
        expand_shards("shards/{00000..00002}.tar").unwrap(),
        ["shards/00000.tar", "shards/00001.tar", "shards/00002.tar"]
    );
    assert_eq!(
        expand_shards("d/{8..11}.tar").unwrap(),
        ["d/8.tar", "d/9.tar", "d/10.tar", "d/11.tar"]
    );
    assert_eq!(
        expand_shards("{a,b}/x.tar").unwrap(),
        ["a/x.tar", "b/x.tar"]
    );
    assert_eq!(
        expand_shards("{a,b{1..2}}-{0..1}").unwrap(),
        ["a-0", "a-1", "b1-0", "b1-1", "b2-0", "b2-1"]
    );
    assert_eq!(
        expand_shards("x/{0..1}.tar::y/{08..10}.tar :: z.tar").unwrap(),
        [
            "x/0.tar", "x/1.tar", "y/08.tar", "y/09.tar", "y/10.tar", "z.tar"
        ]
    );
    assert_eq!(expand_shards("{3..1}").unwrap(), ["3", "2", "1"]);
    for bad in [
        "",
        "   ",
        "a.tar::",
        "{0..3.tar",
        "a}.tar",
        "{x}.tar",
        "{}.tar",
        "pipe:cat a.tar",
        "s3://b/{0..1}.tar",
    ] {
        let err = expand_shards(bad).unwrap_err();
        assert!(
            matches!(&err, DataError::ShardPattern { pattern, .. } if pattern == bad),
            "{bad:?}: {err:?}"
        );
    }
}

#[test]
fn samples_are_grouped_by_key_with_json_and_any_image_extension() {
    let data = WebDataset::open(eval_spec(&fixture("wds/clean-{000..002}.tar"))).unwrap();
    let stats = data.stats();
    assert_eq!(
        (stats.shards, stats.shards_readable, stats.unique_samples),
        (3, 3, 9)
    );
    assert!(stats.warnings.is_empty(), "{:?}", stats.warnings);
    assert_eq!(stats.skipped.total(), 0);
    let mut stream = data
        .stream_from(StreamPosition::START)
        .unwrap()
        .with_end_epoch(1);
    let samples: Vec<_> = stream.by_ref().map(Result::unwrap).collect();
    let expected: Vec<String> = (0..9).map(|i| format!("{i:06}")).collect();
    assert_eq!(keys(&samples), expected);
    for s in &samples {
        assert_eq!(s.caption, format!("a photo of sample {}", s.key));
        assert_eq!(s.image.len(), 3 * 8 * 8);
        assert!(s.image.iter().all(|v| v.is_finite()));
    }
    assert_eq!(
        samples[0].json.as_deref(),
        Some(r#"{"uid": "u0", "width": 6}"#)
    );
    assert_eq!(samples[7].json.as_deref(), Some(r#"{"uid": "u7"}"#));
    assert!(samples[1].json.is_none());
    // Positions number the epoch's items.
    assert_eq!(samples[4].position, StreamPosition::new(0, 4));
    assert_eq!(stream.position(), StreamPosition::new(1, 0));
    assert_eq!(stream.stats().epochs_completed, 1);
    assert_eq!(stream.stats().delivered_per_epoch, vec![(0, 9)]);

    // 000006: RGBA, left half transparent -> white; right half opaque blue (8x4 -> 16x8, centre crop).
    let rgba = &samples[6].image;
    for c in 0..3 {
        assert!(
            (px(rgba, c, 3, 0) - norm(255.0, c)).abs() < 1e-4,
            "alpha on white"
        );
    }
    assert!((px(rgba, 0, 3, 7) - norm(0.0, 0)).abs() < 1e-4);
    assert!((px(rgba, 2, 3, 7) - norm(255.0, 2)).abs() < 1e-4);
    // 000007: palette, top red, bottom blue.
    let pal = &samples[7].image;
    assert!((px(pal, 0, 0, 3) - norm(255.0, 0)).abs() < 1e-4);
    assert!((px(pal, 2, 0, 3) - norm(0.0, 2)).abs() < 1e-4);
    assert!((px(pal, 2, 7, 3) - norm(255.0, 2)).abs() < 1e-4);
    // 000008: lossless WebP with alpha, green on white.
    let webp = &samples[8].image;
    assert!((px(webp, 0, 3, 0) - norm(255.0, 0)).abs() < 1e-4);
    assert!((px(webp, 1, 3, 7) - norm(255.0, 1)).abs() < 1e-4);
    assert!((px(webp, 0, 3, 7) - norm(0.0, 0)).abs() < 1e-4);
}

#[test]
fn python_tarfile_shards_with_long_and_unicode_names_are_read() {
    let data = WebDataset::open(eval_spec(&fixture("wds/python-{pax,gnu}-000.tar"))).unwrap();
    assert_eq!(data.unique_samples(), 4);
    let samples: Vec<_> = data
        .stream_from(StreamPosition::START)
        .unwrap()
        .with_end_epoch(1)
        .map(Result::unwrap)
        .collect();
    let long = format!("very-long-folder-name-{}/000000", "x".repeat(90));
    assert_eq!(
        keys(&samples),
        [long.as_str(), "café/000001", &long, "café/000001"]
    );
    assert_eq!(samples[1].caption, "café au lait ☕");
    assert!((px(&samples[0].image, 0, 4, 4) - norm(220.0, 0)).abs() < 0.05);
}

#[test]
fn order_is_deterministic_under_a_seed_whatever_the_threads() {
    let dir = temp_dir("determinism");
    let pattern = make_shards(&dir, 6, 10);
    let run = |threads: usize, seed: u64| {
        let mut s = spec(&pattern, threads);
        s.seed = seed;
        let data = WebDataset::open(s).unwrap();
        take(&mut data.stream_from(StreamPosition::START).unwrap(), 150)
    };
    let a = run(4, 7);
    let b = run(4, 7);
    let c = run(1, 7);
    assert_eq!(a, b, "same seed, same threads");
    assert_eq!(a, c, "thread count must not change order, crops or pixels");
    let d = run(4, 8);
    assert_ne!(keys(&a), keys(&d), "another seed gives another order");
    // Same pairs, though: each epoch is a permutation of all keys.
    let mut first: Vec<String> = keys(&d[..60]);
    first.sort();
    assert_eq!(first, all_keys(6, 10));
}

#[test]
fn the_shuffle_buffer_mixes_samples_and_keeps_every_one() {
    let dir = temp_dir("shuffle");
    let pattern = make_shards(&dir, 4, 25);
    let epoch0 = |buffer: usize| {
        let mut s = spec(&pattern, 3);
        s.shuffle_shards = false;
        s.shuffle_buffer = buffer;
        let data = WebDataset::open(s).unwrap();
        keys(&take(
            &mut data.stream_from(StreamPosition::START).unwrap(),
            100,
        ))
    };
    let plain = epoch0(0);
    assert_eq!(
        plain,
        all_keys(4, 25),
        "no buffer, no shard shuffle: file order"
    );
    let mixed = epoch0(40);
    assert_ne!(mixed, plain);
    let moved = mixed.iter().zip(&plain).filter(|(a, b)| a != b).count();
    assert!(moved > 80, "only {moved} of 100 samples moved");
    let mut sorted = mixed.clone();
    sorted.sort();
    assert_eq!(
        sorted, plain,
        "the buffer must neither drop nor repeat samples"
    );
    // A buffer mixes across shard boundaries: some shard-1 sample comes out among the first 25.
    assert!(mixed[..25].iter().any(|k| k.starts_with("s01")));
}

#[test]
fn epochs_roll_over_with_a_new_shard_order() {
    let dir = temp_dir("epochs");
    let pattern = make_shards(&dir, 5, 8);
    let mut s = spec(&pattern, 2);
    s.shuffle_buffer = 0;
    let data = WebDataset::open(s).unwrap();
    let mut stream = data.stream_from(StreamPosition::START).unwrap();
    let samples = take(&mut stream, 120);
    let per_epoch: Vec<Vec<String>> = samples.chunks(40).map(keys).collect();
    for (e, chunk) in samples.chunks(40).enumerate() {
        assert!(chunk.iter().all(|s| s.position.epoch == e as u64));
        let set: BTreeSet<_> = chunk.iter().map(|s| s.key.clone()).collect();
        assert_eq!(set.len(), 40, "epoch {e} holds every sample once");
    }
    // The shard order (first sample's shard) changes between epochs for this seed.
    let shard_order = |ks: &Vec<String>| -> Vec<String> {
        ks.iter().step_by(8).map(|k| k[..3].to_string()).collect()
    };
    assert!(
        shard_order(&per_epoch[0]) != shard_order(&per_epoch[1])
            || shard_order(&per_epoch[1]) != shard_order(&per_epoch[2]),
        "{per_epoch:?}"
    );
    assert_eq!(stream.stats().epochs_completed, 2);
    assert_eq!(stream.position(), StreamPosition::new(2, 40));
    assert_eq!(
        stream.stats().delivered_per_epoch,
        vec![(0, 40), (1, 40), (2, 40)]
    );
    // Accounting: unique samples and epochs seen from a position.
    let st = data.stats();
    assert_eq!(st.unique_samples, 40);
    assert_eq!(st.unique_seen(StreamPosition::new(0, 25)), 25);
    assert_eq!(st.unique_seen(StreamPosition::new(3, 1)), 40);
    assert!((st.epochs_seen(StreamPosition::new(2, 10)) - 2.25).abs() < 1e-12);
}

#[test]
fn a_restored_position_continues_exactly() {
    let dir = temp_dir("resume");
    let pattern = make_shards(&dir, 4, 9);
    let data = WebDataset::open(spec(&pattern, 3)).unwrap();
    let mut original = data.stream_from(StreamPosition::START).unwrap();
    let batches: Vec<_> = (0..16).map(|_| original.next_batch(5).unwrap()).collect();
    // Resume after batch 3 (mid-epoch), after batch 8 (epoch 1), and from a serialised position.
    for cut in [2usize, 7, 8] {
        let saved = serde_json::to_string(&batches[cut].position_after).unwrap();
        let position: StreamPosition = serde_json::from_str(&saved).unwrap();
        let mut resumed = data.stream_from(position).unwrap();
        for (i, expected) in batches.iter().enumerate().skip(cut + 1) {
            let got = resumed.next_batch(5).unwrap();
            assert_eq!(&got, expected, "batch {i} after resuming at {position:?}");
        }
    }
    assert_eq!(batches[7].position_after, StreamPosition::new(1, 4));
    // The end of an epoch, or past it, continues with the next epoch.
    let mut at_end = data.stream_from(StreamPosition::new(0, 36)).unwrap();
    let mut past_end = data.stream_from(StreamPosition::new(0, 1000)).unwrap();
    let next_epoch = data
        .stream_from(StreamPosition::new(1, 0))
        .unwrap()
        .next_batch(6)
        .unwrap();
    assert_eq!(at_end.next_batch(6).unwrap(), next_epoch);
    assert_eq!(past_end.next_batch(6).unwrap().keys, next_epoch.keys);
}

#[test]
fn bad_samples_are_skipped_and_counted_by_reason() {
    let path = fixture("wds/bad-000.tar");
    let data = WebDataset::open(eval_spec(&path)).unwrap();
    let st = data.stats().clone();
    // g0, corrupt (found only when decoding) and g1 look usable when scanning.
    assert_eq!(st.unique_samples, 3);
    assert_eq!(
        (
            st.skipped.missing_caption,
            st.skipped.missing_image,
            st.skipped.bad_caption
        ),
        (1, 1, 2)
    );
    assert!(
        st.skip_examples
            .iter()
            .any(|m| m.contains("bad-000.tar:nocap") && m.contains("missing_caption"))
    );
    assert!(
        st.skip_examples
            .iter()
            .any(|m| m.contains(":badtxt") && m.contains("not UTF-8"))
    );

    let mut stream = data
        .stream_from(StreamPosition::START)
        .unwrap()
        .with_end_epoch(2);
    let samples: Vec<_> = stream.by_ref().map(Result::unwrap).collect();
    assert_eq!(keys(&samples), ["g0", "g1", "g0", "g1"]);
    // Greyscale becomes grey RGB.
    for c in 0..3 {
        assert!((samples[0].image[c * 64 + 9] - norm(128.0, c)).abs() < 1e-4);
    }
    let ss = stream.stats();
    assert_eq!(
        ss.skipped.get(SkipReason::CorruptImage),
        2,
        "once per epoch"
    );
    assert_eq!(ss.skipped.missing_caption, 2);
    assert_eq!(ss.skipped.missing_image, 2);
    assert_eq!(ss.skipped.bad_caption, 4);
    assert!(
        ss.skip_examples
            .iter()
            .any(|m| m.contains("bad-000.tar:corrupt.jpg") && m.contains("cannot decode"))
    );
    // The corrupt item still takes its place in the order: positions count it.
    assert_eq!(samples[1].position, StreamPosition::new(0, 2));
}

#[test]
fn a_truncated_shard_keeps_its_first_samples_and_is_named() {
    let pattern = fixture("wds/{clean-000,truncated-000}.tar");
    let data = WebDataset::open(eval_spec(&pattern)).unwrap();
    let st = data.stats();
    assert_eq!(st.unique_samples, 5);
    assert_eq!(st.shards_readable, 2);
    assert_eq!(st.warnings.len(), 1, "{:?}", st.warnings);
    assert!(st.warnings[0].contains("truncated-000.tar") && st.warnings[0].contains("truncated"));
    assert!(st.warnings[0].contains("t2.png"), "{}", st.warnings[0]);
    assert_eq!(st.truncated_shard, 1);
    let mut stream = data
        .stream_from(StreamPosition::START)
        .unwrap()
        .with_end_epoch(1);
    let got = keys(&stream.by_ref().map(Result::unwrap).collect::<Vec<_>>());
    assert_eq!(got, ["000000", "000001", "000002", "t0", "t1"]);
    assert_eq!(stream.stats().warnings.len(), 1);
    assert!(stream.stats().warnings[0].contains("truncated-000.tar"));
    assert_eq!(stream.stats().truncated_shard, 1);
    // the captions reader (for a trained tokenizer) keeps the same samples and names the shard
    let read = clipscale_data::shard_captions(&pattern).unwrap();
    assert_eq!(read.captions.len(), 5);
    assert!(
        read.warnings[0].contains("truncated-000.tar"),
        "{:?}",
        read.warnings
    );
}

#[test]
fn missing_shards_are_warnings_until_none_is_left() {
    let pattern = format!(
        "{}::{}",
        fixture("wds/clean-000.tar"),
        fixture("wds/missing-{0..1}.tar")
    );
    let data = WebDataset::open(eval_spec(&pattern)).unwrap();
    let st = data.stats();
    assert_eq!(
        (st.shards, st.shards_readable, st.unique_samples),
        (3, 1, 3)
    );
    assert_eq!(st.warnings.len(), 2);
    assert!(st.warnings[0].contains("missing-0.tar") && st.warnings[1].contains("missing-1.tar"));
    assert_eq!(data.shards().len(), 1);

    let only_missing = fixture("wds/missing-{0..1}.tar");
    match WebDataset::open(eval_spec(&only_missing)) {
        Err(DataError::NoReadableShards { pattern, problems }) => {
            assert_eq!(pattern, only_missing);
            assert!(
                problems.contains("missing-0.tar") && problems.contains("no such file"),
                "{problems}"
            );
        }
        other => panic!(
            "expected NoReadableShards, got {:?}",
            other.map(|d| d.stats().clone())
        ),
    }
    assert!(matches!(
        WebDataset::open(eval_spec("")),
        Err(DataError::ShardPattern { .. })
    ));
}

#[test]
fn unusable_data_is_an_error_not_a_hang() {
    let dir = temp_dir("unusable");
    // Not a tar file: opening fails and says why.
    let junk = dir.join("junk.tar");
    std::fs::write(&junk, vec![b'j'; 3000]).unwrap();
    let err = WebDataset::open(eval_spec(&junk.display().to_string()))
        .err()
        .unwrap();
    assert!(
        matches!(&err, DataError::NoUsableSamples { detail, .. } if detail.contains("bad tar header")),
        "{err}"
    );
    // Only corrupt images: the scan cannot tell, the stream reports it after one epoch.
    let corrupt = dir.join("corrupt.tar");
    clipscale_data::tarfile::write_tar(
        &corrupt,
        &[
            ("a.jpg".into(), b"garbage".to_vec()),
            ("a.txt".into(), b"caption".to_vec()),
        ],
    )
    .unwrap();
    let data = WebDataset::open(eval_spec(&corrupt.display().to_string())).unwrap();
    assert_eq!(data.unique_samples(), 1);
    let mut stream = data.stream_from(StreamPosition::START).unwrap();
    let err = stream.next_sample().unwrap_err();
    assert!(matches!(err, DataError::NoUsableSamples { .. }), "{err}");
    assert!(
        stream.next_sample().unwrap().is_none(),
        "the stream ends after an error"
    );
}

#[test]
fn specs_are_checked() {
    let p = fixture("wds/clean-000.tar");
    let mut s = eval_spec(&p);
    s.threads = 0;
    assert!(matches!(
        WebDataset::open(s),
        Err(DataError::InvalidOption {
            name: "threads",
            ..
        })
    ));
    let mut s = eval_spec(&p);
    s.image_size = 4;
    assert!(matches!(
        WebDataset::open(s),
        Err(DataError::InvalidImageSize { value: 4, .. })
    ));
}

#[test]
fn the_source_trait_gives_streams_and_counts() {
    let data = WebDataset::open(eval_spec(&fixture("wds/clean-000.tar"))).unwrap();
    let source: &dyn PairSource = &data;
    assert_eq!(source.stats().unique_samples, 3);
    let batch = source
        .stream_from(StreamPosition::START)
        .unwrap()
        .next_batch(4)
        .unwrap();
    assert_eq!(batch.len(), 4);
    assert_eq!(batch.images.len(), 4 * 3 * 64);
    assert_eq!(batch.keys, ["000000", "000001", "000002", "000000"]);
    assert_eq!(batch.position_after, StreamPosition::new(1, 1));
}

#[test]
fn sizes_json_counts_replace_the_scan_for_the_shards_it_lists() {
    let dir = temp_dir("sizes");
    let pattern = make_shards(&dir, 3, 4);
    // Shard 02 is not listed: it is scanned. Shard 05 is listed but missing: a warning.
    std::fs::write(
        dir.join("sizes.json"),
        r#"{"shard-00.tar": 4, "shard-01.tar": 100, "shard-05.tar": 7}"#,
    )
    .unwrap();
    let mut s = spec(&format!("{pattern}::{}/shard-05.tar", dir.display()), 2);
    s.count = clipscale_data::SampleCount::SizesJson;
    let data = WebDataset::open(s.clone()).unwrap();
    assert_eq!(
        data.unique_samples(),
        4 + 100 + 4,
        "listed counts are trusted"
    );
    assert_eq!(data.stats().shards_readable, 3);
    assert!(data.stats().warnings[0].contains("shard-05.tar"));
    std::fs::write(dir.join("sizes.json"), "[1, 2]").unwrap();
    match WebDataset::open(s) {
        Err(DataError::Format { path, .. }) => assert!(path.ends_with("sizes.json")),
        other => panic!(
            "expected a format error, got {:?}",
            other.map(|d| d.unique_samples())
        ),
    }
}

#[test]
fn streams_and_sources_can_move_to_other_threads() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<clipscale_data::SampleStream>();
    send_sync::<WebDataset>();
    send_sync::<clipscale_data::CsvDataset>();
    send_sync::<Box<dyn PairSource>>();
}
