//! Benchmark recording: one JSON line per call in results/benchmarks/<topic>.jsonl with ordered
//! figures, git state, machine and UTC date, and a regenerated README.md with a table per topic.

mod common;

use std::fs;

use clipscale_analysis::bench::{self, BenchRecord};
use clipscale_analysis::records::read_jsonl;
use common::temp_dir;

#[test]
fn record_appends_lines_and_regenerates_the_readme() {
    let root = temp_dir("bench");
    let path = bench::record(
        &root,
        "demo-fit",
        "clipscale-analysis bench-fit",
        &[("grid_fit_s", "1.25".into()), ("alpha", "0.347".into())],
    )
    .expect("record");
    bench::record(
        &root,
        "demo-fit",
        "again",
        &[("grid_fit_s", "1.5".into()), ("extra_s", "2".into())],
    )
    .expect("record 2");
    bench::record(&root, "other", "x | y", &[("n", "1".into())]).expect("record 3");
    let read = read_jsonl::<BenchRecord>(&path).expect("jsonl");
    assert_eq!(read.records.len(), 2);
    let r = &read.records[0].1;
    assert_eq!(r.topic, "demo-fit");
    assert_eq!(
        r.figures.0[0],
        ("grid_fit_s".to_string(), "1.25".to_string())
    );
    assert!(r.machine.logical_cores >= 1);
    assert_eq!(r.date_utc.len(), 20);
    assert!(
        r.date_utc.ends_with('Z') && r.date_utc.as_bytes()[10] == b'T',
        "{}",
        r.date_utc
    );
    // Figures keep their given order in the file.
    let line = fs::read_to_string(&path).expect("read");
    let first = line.lines().next().expect("line");
    assert!(
        first.find("grid_fit_s").expect("key") < first.find("alpha").expect("key"),
        "{first}"
    );

    let readme = fs::read_to_string(root.join("results/benchmarks/README.md")).expect("readme");
    assert!(readme.contains("Generated"), "{readme}");
    let demo = readme.find("## demo-fit").expect("demo section");
    let other = readme.find("## other").expect("other section");
    assert!(demo < other);
    // Newest last, union of figure columns, pipes escaped.
    assert!(readme.find("1.25").expect("first") < readme.find("| 1.5").expect("second"));
    assert!(
        readme.contains("| grid_fit_s | alpha | extra_s |"),
        "{readme}"
    );
    assert!(readme.contains("x \\| y"), "{readme}");

    assert!(bench::record(&root, "../escape", "c", &[]).is_err());
}
