//! The pool through the real binary: `data prepare pool` from a small `@iconify/json` fixture,
//! `data curate` (made once, then reused; bad curations named), and a sweep whose axis is the
//! curation: trial ids, specs and the tidy table's curation column.

use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("clipscale-pool-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_clipscale"))
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
}

/// A `@iconify/json` package of one set: 48 drawings (a bar at one of 48 places), named for
/// where the bar is, and every fourth one drawn twice under another name.
fn fixture_package(dir: &Path) -> PathBuf {
    let pkg = dir.join("packages/iconify-json-2.2.535/package");
    std::fs::create_dir_all(pkg.join("json")).unwrap();
    std::fs::write(
        pkg.join("package.json"),
        r#"{"name": "@iconify/json", "version": "2.2.535"}"#,
    )
    .unwrap();
    std::fs::write(
        pkg.join("collections.json"),
        r#"{"bars": {"name": "Bars", "license": {"spdx": "MIT"}, "category": "General"}}"#,
    )
    .unwrap();
    let mut icons = serde_json::Map::new();
    for i in 0..48 {
        let (x, y, w, h) = (i % 8 * 2, i / 8 * 2, 2 + i % 3 * 3, 3 + i % 5 * 2);
        let body = format!(
            r#"<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="currentColor"/><circle cx="{}" cy="{}" r="2"/>"#,
            15 - x,
            15 - y
        );
        let name = format!(
            "bar-{}-{}-{}",
            ["left", "middle", "right"][i % 3],
            i / 3,
            i % 7
        );
        icons.insert(name.clone(), serde_json::json!({ "body": body }));
        if i % 4 == 0 {
            icons.insert(format!("{name}-copy"), serde_json::json!({ "body": body }));
        }
    }
    std::fs::write(
        pkg.join("json/bars.json"),
        serde_json::json!({"prefix": "bars", "icons": icons, "width": 16, "height": 16})
            .to_string(),
    )
    .unwrap();
    dir.join("packages")
}

#[test]
fn a_pool_is_prepared_curated_and_swept_over_curations() {
    let dir = tmp("sweep");
    let packages = fixture_package(&dir);
    let pool = dir.join("pool");
    let out = run(bin()
        .args(["data", "prepare", "pool", "--quiet", "--no-default-eval"])
        .args(["--openclipart", "none", "--shard-size", "16"])
        .arg("--packages")
        .arg(&packages)
        .arg("--out")
        .arg(&pool));
    assert!(out.contains("pool: 60 samples"), "{out}");
    assert!(pool.join("index.tsv").is_file());

    // curate: made, then the same subset found again
    let curate = |c: &str| {
        bin()
            .args(["data", "curate", c, "--pool"])
            .arg(&pool)
            .output()
            .unwrap()
    };
    let first = curate("align:min_words=1");
    let text = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{text}");
    assert!(
        text.contains("exact_duplicate 12") && text.contains("wrote"),
        "{text}"
    );
    let again = curate("align:min_words=1,dedup=near");
    assert!(String::from_utf8_lossy(&again.stdout).contains("already made"));
    let bad = curate("align:min_word=1");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("align has no parameter \"min_word\""), "{err}");

    // a sweep over curations
    let sweep = dir.join("cur.toml");
    std::fs::write(
        &sweep,
        format!(
            r#"
name = "cur"
[base]
dataset = "pool"
data_dir = "{}"
model = "w32-d2"
samples = 128
batch = 32
eval_samples = 64
eval_batch = 32
[axes]
curation = ["none", "align:min_words=1", "noise:fraction=0.5"]
"#,
            pool.display()
        ),
    )
    .unwrap();
    let results = dir.join("results");
    let stdout = run(bin()
        .args(["sweep", "run"])
        .arg(&sweep)
        .arg("--out")
        .arg(&results));
    let mut specs: Vec<serde_json::Value> = std::fs::read_dir(results.join("cur"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("spec.json").is_file())
        .map(|e| {
            serde_json::from_str(&std::fs::read_to_string(e.path().join("spec.json")).unwrap())
                .unwrap()
        })
        .collect();
    assert_eq!(specs.len(), 3, "{stdout}");
    specs.sort_by_key(|s| s["data"]["curation"].as_str().unwrap_or("").to_owned());
    // unset (none) is not written, so a pool trial without curation keeps its id
    assert!(specs[0]["data"].get("curation").is_none(), "{}", specs[0]);
    assert_eq!(
        specs[1]["data"]["curation"],
        "align:dedup=near,near_bits=4,max_caption_share=10,min_words=1,max_words=20"
    );
    assert_eq!(specs[2]["data"]["curation"], "noise:fraction=0.5,seed=0");
    let table = clipscale_analysis::table::read_csv(&results.join("cur/table.csv")).unwrap();
    let mut values: Vec<&str> = table.rows.iter().map(|r| r.curation.as_str()).collect();
    values.sort_unstable();
    values.dedup();
    assert_eq!(
        values,
        [
            "align:dedup=near,near_bits=4,max_caption_share=10,min_words=1,max_words=20",
            "noise:fraction=0.5,seed=0",
            "none",
        ],
        "{stdout}"
    );
}

#[test]
fn a_trial_filters_the_pool_dfn_style_scoring_it_once() {
    let dir = tmp("dfn");
    let packages = fixture_package(&dir);
    let pool = dir.join("pool");
    run(bin()
        .args(["data", "prepare", "pool", "--quiet", "--no-default-eval"])
        .args(["--openclipart", "none"])
        .arg("--packages")
        .arg(&packages)
        .arg("--out")
        .arg(&pool));
    // the filter: a tiny model trained on the pool itself
    let runs = dir.join("runs");
    run(bin()
        .args([
            "train",
            "--model",
            "w32-d2",
            "--samples",
            "64",
            "--batch",
            "32",
        ])
        .args([
            "--eval-samples",
            "32",
            "--eval-batch",
            "32",
            "--dataset",
            "pool",
        ])
        .arg("--data-dir")
        .arg(&pool)
        .arg("--out")
        .arg(&runs));
    let filter = std::fs::read_dir(runs.join("adhoc"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let curate = |fraction: &str| {
        let o = bin()
            .args(["data", "curate", "--pool"])
            .arg(&pool)
            .arg(format!(
                "dfn:filter={},fraction={fraction}",
                filter.display()
            ))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "{text}");
        text
    };
    let half = curate("0.5");
    assert!(half.contains("dfn: scored 60 pairs"), "{half}");
    assert!(half.contains("30 of 60 pairs kept"), "{half}");
    let cache = std::fs::read_dir(pool.join("scores")).unwrap().count();
    assert_eq!(cache, 2, "the scores and their sidecar");
    // another fraction: the cached scores, the same ranking
    let quarter = curate("0.25");
    assert!(quarter.contains("dfn: scores of"), "{quarter}");
    assert!(!quarter.contains("dfn: scored"), "{quarter}");
    assert!(quarter.contains("15 of 60 pairs kept"), "{quarter}");
    let subsets: Vec<serde_json::Value> = std::fs::read_dir(pool.join("subsets"))
        .unwrap()
        .flatten()
        .map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap())
        .collect();
    let keys = |n: usize| -> Vec<String> {
        let s = subsets
            .iter()
            .find(|s| s["keys"].as_array().unwrap().len() == n)
            .unwrap();
        s["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect()
    };
    let (top30, top15) = (keys(30), keys(15));
    assert!(
        top15.iter().all(|k| top30.contains(k)),
        "the top quarter is in the top half"
    );
}

#[test]
fn curation_is_refused_on_a_data_set_that_is_not_a_pool() {
    let o = bin()
        .args([
            "train",
            "--model",
            "w32-d2",
            "--samples",
            "64",
            "--curation",
            "align",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("curation subsets a pool") && err.contains("synthetic"),
        "{err}"
    );
    let dir = tmp("missing");
    let o = bin()
        .args([
            "train",
            "--model",
            "w32-d2",
            "--samples",
            "64",
            "--dataset",
            "pool",
        ])
        .arg("--data-dir")
        .arg(dir.join("nope"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("clipscale data prepare pool --out"), "{err}");
}
