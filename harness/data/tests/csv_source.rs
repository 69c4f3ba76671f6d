//! Integration tests of the CSV source: open_clip's default columns and tab separator, paths
//! relative to the CSV file, custom columns and separators, bad rows and images counted, and
//! errors naming the file.

mod common;

use clipscale_data::{
    CLIP_MEAN, CLIP_STD, CsvDataset, CsvSpec, DataError, PairSource, StreamPosition,
};
use common::{fixtures, keys, temp_dir};

fn spec(rel: &str) -> CsvSpec {
    let mut s = CsvSpec::new(fixtures().join(rel), 8);
    s.threads = 2;
    s.train = false;
    s.shuffle = false;
    s
}

#[test]
fn default_columns_relative_paths_and_counted_skips() {
    let data = CsvDataset::open(spec("csv/train.tsv")).unwrap();
    let st = data.stats();
    assert_eq!(st.unique_samples, 5);
    assert_eq!((st.skipped.missing_image, st.skipped.bad_caption), (1, 1));
    assert!(
        st.skip_examples
            .iter()
            .any(|m| m.contains("train.tsv line 6") && m.contains("missing_image")),
        "{:?}",
        st.skip_examples
    );
    assert!(
        st.skip_examples
            .iter()
            .any(|m| m.contains("train.tsv line 7") && m.contains("bad_caption"))
    );

    let mut stream = data
        .stream_from(StreamPosition::START)
        .unwrap()
        .with_end_epoch(1);
    let samples: Vec<_> = stream.by_ref().map(Result::unwrap).collect();
    assert_eq!(
        keys(&samples),
        ["images/red.png", "images/blue.jpg", "images/alpha.png"]
    );
    assert_eq!(samples[1].caption, "a blue square");
    // alpha.png: transparent left half on white.
    let white_r = (1.0 - CLIP_MEAN[0]) / CLIP_STD[0];
    assert!((samples[2].image[3 * 8] - white_r).abs() < 1e-4);
    let ss = stream.stats();
    assert_eq!(ss.skipped.unreadable_image, 1);
    assert_eq!(ss.skipped.corrupt_image, 1);
    assert_eq!(
        (ss.skipped.missing_image, ss.skipped.bad_caption),
        (1, 1),
        "open-time skips recounted per epoch"
    );
    assert!(
        ss.skip_examples
            .iter()
            .any(|m| m.contains("missing.png") && m.contains("cannot read"))
    );
    assert!(
        ss.skip_examples
            .iter()
            .any(|m| m.contains("corrupt.jpg") && m.contains("cannot decode"))
    );
    assert_eq!(stream.position(), StreamPosition::new(1, 0));
}

#[test]
fn custom_separator_and_columns_with_quoting() {
    let mut s = spec("csv/custom.csv");
    s.separator = b',';
    s.img_key = "image".into();
    s.caption_key = "caption".into();
    let data = CsvDataset::open(s).unwrap();
    assert_eq!(data.unique_samples(), 2);
    let batch = data
        .stream_from(StreamPosition::START)
        .unwrap()
        .next_batch(2)
        .unwrap();
    assert_eq!(batch.captions, ["a red, square", "a blue square"]);
    assert_eq!(batch.position_after, StreamPosition::new(0, 2));
}

#[test]
fn shuffled_rows_are_reproducible_and_resumable() {
    let dir = temp_dir("csv-shuffle");
    std::fs::create_dir_all(dir.join("img")).unwrap();
    let mut text = String::from("filepath\ttitle\n");
    for i in 0..30 {
        std::fs::write(dir.join(format!("img/{i}.png")), common::png_for(i)).unwrap();
        text.push_str(&format!("img/{i}.png\tcaption {i}\n"));
    }
    std::fs::write(dir.join("data.tsv"), text).unwrap();
    let mut s = CsvSpec::new(dir.join("data.tsv"), 8);
    s.threads = 3;
    s.seed = 5;
    let data = CsvDataset::open(s).unwrap();
    let mut a = data.stream_from(StreamPosition::START).unwrap();
    let batches: Vec<_> = (0..9).map(|_| a.next_batch(8).unwrap()).collect();
    let first: Vec<String> = batches[..4]
        .iter()
        .flat_map(|b| b.keys.clone())
        .take(30)
        .collect();
    let in_order: Vec<String> = (0..30).map(|i| format!("img/{i}.png")).collect();
    assert_ne!(first, in_order, "rows are permuted");
    let mut sorted = first.clone();
    sorted.sort();
    let mut expected = in_order.clone();
    expected.sort();
    assert_eq!(sorted, expected, "each row once per epoch");
    let mut b = data.stream_from(batches[4].position_after).unwrap();
    for expected in &batches[5..] {
        assert_eq!(&b.next_batch(8).unwrap(), expected);
    }
}

#[test]
fn bad_files_and_columns_are_errors_naming_them() {
    let missing = fixtures().join("csv/nope.tsv");
    match CsvDataset::open(spec("csv/nope.tsv")) {
        Err(DataError::Io { path, .. }) => assert_eq!(path, missing.display().to_string()),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("opened a missing file"),
    }
    // custom.csv read with the default (tab) separator has one column "id,caption,image".
    match CsvDataset::open(spec("csv/custom.csv")) {
        Err(DataError::MissingColumn {
            path,
            column,
            available,
        }) => {
            assert!(path.ends_with("custom.csv"));
            assert_eq!(column, "filepath");
            assert!(available.contains("id,caption,image"), "{available}");
        }
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("opened with a missing column"),
    }
    let dir = temp_dir("csv-empty");
    std::fs::write(dir.join("e.tsv"), "filepath\ttitle\n\tno image\n").unwrap();
    let mut s = CsvSpec::new(dir.join("e.tsv"), 8);
    s.threads = 1;
    assert!(matches!(
        CsvDataset::open(s),
        Err(DataError::NoUsableSamples { .. })
    ));
}
