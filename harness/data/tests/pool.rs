//! The pool and its curation, end to end on a small pool fixture: a hand-written
//! `@iconify/json` package (a few sets of simple drawings with planted duplicates), a fake
//! OpenClipArt folder, a fake emoji folder naming held-out styles and concepts, and an
//! evaluation folder holding one planted image. Then the operators on pools whose captions and
//! hashes are chosen by the test.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use clipscale_data::pool::curate::{Curation, Subset, curate_pool, load_subset, open_subset};
use clipscale_data::pool::phash::distance;
use clipscale_data::pool::{Pool, PreparePoolArgs, prepare_pool};
use clipscale_data::{DataError, PairSource, ShardSpec, StreamPosition, WebDataset};
use common::{far_hash, pool_of, temp_dir};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// An Iconify set's JSON from (name, body) pairs, 16x16.
fn set_json(prefix: &str, icons: &[(&str, &str)], hidden: &[&str]) -> String {
    let icons: serde_json::Map<String, serde_json::Value> = icons
        .iter()
        .map(|(n, b)| {
            let mut v = serde_json::json!({ "body": b });
            if hidden.contains(n) {
                v["hidden"] = true.into();
            }
            ((*n).to_owned(), v)
        })
        .collect();
    serde_json::json!({"prefix": prefix, "icons": icons, "width": 16, "height": 16}).to_string()
}

const SQUARE: &str = r#"<rect x="2" y="2" width="12" height="12" fill="currentColor"/>"#;
const SQUARE_NUDGED: &str = r#"<rect x="2.1" y="2" width="12" height="12" fill="currentColor"/>"#;
const BAR: &str = r#"<rect x="0" y="0" width="5" height="16" fill="currentColor"/>"#;
const TRIANGLE: &str = r#"<path d="M0 0L16 0L0 16Z" fill="currentColor"/>"#;
const CHECKER: &str =
    r#"<rect x="0" y="0" width="8" height="8"/><rect x="8" y="8" width="8" height="8"/>"#;
const STRIPES: &str = r#"<rect x="0" y="0" width="16" height="3"/><rect x="0" y="6" width="16" height="3"/><rect x="0" y="12" width="16" height="3"/>"#;
const RING: &str =
    r#"<circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" stroke-width="2"/>"#;
const CORNER: &str = r#"<path d="M16 16L16 6L6 16Z" fill="currentColor"/>"#;

/// The fixture's folders: packages (with `@iconify/json`), OpenClipArt, emoji, evaluation.
struct Fixture {
    root: common::TempDir,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let root = temp_dir(name);
        let pkg = root.join("packages/iconify-json-2.2.535/package");
        write(
            &pkg.join("package.json"),
            r#"{"name": "@iconify/json", "version": "2.2.535"}"#,
        );
        let set = |name: &str, spdx: &str, category: &str| serde_json::json!({"name": name, "license": {"spdx": spdx}, "category": category});
        write(
            &pkg.join("collections.json"),
            &serde_json::json!({
                "shapes": set("Shapes", "MIT", "General"),
                "lines": set("Line Shapes", "CC-BY-4.0", "General"),
                "nc": set("Non-commercial", "CC-BY-NC-4.0", "General"),
                "fluent-emoji-flat": set("Fluent Emoji Flat", "MIT", "Emoji"),
                "noto": set("Noto Emoji", "Apache-2.0", "Emoji"),
                "twemoji": set("Twitter Emoji", "CC-BY-4.0", "Emoji"),
            })
            .to_string(),
        );
        let json = pkg.join("json");
        write(
            &json.join("shapes.json"),
            &set_json(
                "shapes",
                &[
                    ("square", SQUARE),
                    ("square-copy", SQUARE),
                    ("square-nudged", SQUARE_NUDGED),
                    ("bar", BAR),
                    ("triangle", TRIANGLE),
                    ("gear", CHECKER),
                    ("blank", "<g/>"),
                    ("old-square", SQUARE),
                ],
                &["old-square"],
            ),
        );
        write(
            &json.join("lines.json"),
            &set_json("lines", &[("stripes", STRIPES), ("ring", RING)], &[]),
        );
        write(
            &json.join("nc.json"),
            &set_json("nc", &[("corner", CORNER)], &[]),
        );
        write(
            &json.join("fluent-emoji-flat.json"),
            &set_json("fluent-emoji-flat", &[("hot-beverage", RING)], &[]),
        );
        write(
            &json.join("noto.json"),
            &set_json("noto", &[("grinning-face", CORNER)], &[]),
        );
        write(
            &json.join("twemoji.json"),
            &set_json(
                "twemoji",
                &[("hot-beverage", STRIPES), ("smiling-cat", CORNER)],
                &[],
            ),
        );
        // OpenClipArt: one titled drawing with keywords, one symbolic link (skipped).
        let clipart = root.join("openclipart/animals");
        write(
            &clipart.join("frog_01.svg"),
            r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" width="40" height="20" viewBox="0 0 40 20"><metadata><dc:title>Green frog</dc:title><dc:subject><rdf:Bag><rdf:li>unsorted</rdf:li><rdf:li>amphibian</rdf:li></rdf:Bag></dc:subject></metadata><ellipse cx="20" cy="10" rx="18" ry="8" fill="green"/></svg>"#,
        );
        std::os::unix::fs::symlink(
            clipart.join("frog_01.svg"),
            root.join("openclipart/frog_link.svg"),
        )
        .unwrap();
        // The emoji folder: held-out styles and concepts, no images of its own here.
        write(
            &root.join("emoji/manifest.json"),
            &serde_json::json!({
                "dataset": "emoji", "image_size": 32, "seed": 0, "num_classes": 2,
                "splits": {}, "sources": [], "wall_seconds": 0.0,
                "details": {"heldout_styles": ["noto"], "heldout_concepts": ["Hot beverage"]},
            })
            .to_string(),
        );
        Self { root }
    }

    fn args(&self, out: &str) -> PreparePoolArgs {
        PreparePoolArgs {
            out: self.root.join(out),
            packages: Some(self.root.join("packages")),
            openclipart: self.root.join("openclipart"),
            emoji: Some(self.root.join("emoji")),
            no_default_eval: true,
            quiet: true,
            shard_size: 4,
            threads: Some(2),
            ..PreparePoolArgs::default()
        }
    }
}

fn names(pool: &Pool) -> Vec<String> {
    pool.entries
        .iter()
        .map(|e| format!("{}:{}", e.set, e.name))
        .collect()
}

#[test]
fn the_pool_keeps_allowed_sets_and_leaves_out_what_could_leak_an_evaluation() {
    let fx = Fixture::new("pool-prepare");
    // The evaluation folder: a pool of one drawing ("ev:planted" is the `gear` drawing).
    let ev = fx
        .root
        .join("packages/iconify-json-2.2.535/package/json/ev.json");
    let collections = fx
        .root
        .join("packages/iconify-json-2.2.535/package/collections.json");
    let mut c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&collections).unwrap()).unwrap();
    c["ev"] = serde_json::json!({"name": "Eval", "license": {"spdx": "MIT"}});
    write(&collections, &c.to_string());
    write(&ev, &set_json("ev", &[("planted", CHECKER)], &[]));
    let eval_args = PreparePoolArgs {
        sets: vec!["ev".into()],
        openclipart: PathBuf::from("none"),
        emoji: None,
        ..fx.args("eval")
    };
    prepare_pool(&eval_args).unwrap();

    let args = PreparePoolArgs {
        eval: vec![fx.root.join("eval")],
        sets: vec![
            "shapes".into(),
            "lines".into(),
            "nc".into(),
            "fluent-emoji-flat".into(),
            "noto".into(),
            "twemoji".into(),
        ],
        ..fx.args("pool")
    };
    let manifest = prepare_pool(&args).unwrap();
    let pool = Pool::open(&args.out).unwrap();
    let got = names(&pool);
    assert_eq!(
        got,
        [
            "lines:ring",
            "lines:stripes",
            "shapes:bar",
            "shapes:square",
            "shapes:square-copy",
            "shapes:square-nudged",
            "shapes:triangle",
            "twemoji:smiling-cat",
            "animals:frog_01",
        ]
    );
    let d = &manifest.details;
    // Left out by construction or licence, each with its reason.
    let excluded = d["excluded_sets"].as_object().unwrap();
    assert!(
        excluded["fluent-emoji-flat"]
            .as_str()
            .unwrap()
            .contains("fluent-emoji")
    );
    assert!(excluded["noto"].as_str().unwrap().contains("holds out"));
    assert!(excluded["nc"].as_str().unwrap().contains("CC-BY-NC-4.0"));
    // Every set used is credited, with its licence and its pairs.
    assert_eq!(d["sets"]["shapes"]["licence"], "MIT");
    assert_eq!(d["sets"]["shapes"]["pairs"], 5);
    assert_eq!(d["sets"]["twemoji"]["source"], "emoji");
    assert!(d["sets"].get("nc").is_none());
    // Counted: the planted evaluation image, the held-out concept's caption, the blank.
    assert_eq!(d["left_out"]["eval_near_duplicate"], 1, "{d:#}");
    assert_eq!(d["left_out"]["heldout_concept_caption"], 1, "{d:#}");
    assert_eq!(d["left_out"]["blank"], 1, "{d:#}");
    assert_eq!(d["decontamination"]["concept_level_clean"], true);
    assert!(
        d["decontamination"]["examples"][0]
            .as_str()
            .unwrap()
            .starts_with("shapes:gear")
    );
    // Every row is in the shards, with its caption and metadata.
    assert_eq!(manifest.total_samples(), pool.entries.len());
    let frog = pool
        .entries
        .iter()
        .find(|e| e.source == "openclipart")
        .unwrap();
    assert!(frog.caption.contains("Green frog"), "{}", frog.caption);
    assert_eq!(frog.licence, "public-domain");
    let mut seen = 0;
    for shard in &manifest.splits["pool"].shards {
        for (key, members) in common::read_shard(&args.out.join(shard)) {
            let entry = pool.entries.iter().find(|e| e.key == key).unwrap();
            assert_eq!(members["txt"], entry.caption.as_bytes());
            let meta: serde_json::Value = serde_json::from_slice(&members["json"]).unwrap();
            assert_eq!(meta["set"], entry.set.as_str());
            assert_eq!(meta["licence"], entry.licence.as_str());
            assert!(members["png"].starts_with(b"\x89PNG"));
            seen += 1;
        }
    }
    assert_eq!(seen, pool.entries.len());

    // The same inputs give the same pool (and so the same id).
    let again = prepare_pool(&PreparePoolArgs {
        out: fx.root.join("pool-again"),
        ..args.clone()
    })
    .unwrap();
    assert_eq!(again.details["pool_id"], manifest.details["pool_id"]);

    // A finished pool is not prepared over without --force.
    let err = prepare_pool(&args).unwrap_err().to_string();
    assert!(
        err.contains("already prepared") && err.contains("--force"),
        "{err}"
    );
}

#[test]
fn without_an_emoji_folder_the_manifest_says_concept_evaluation_is_not_clean() {
    let fx = Fixture::new("pool-no-emoji");
    let args = PreparePoolArgs {
        emoji: None,
        sets: vec!["twemoji".into()],
        openclipart: PathBuf::from("none"),
        ..fx.args("pool")
    };
    let m = prepare_pool(&args).unwrap();
    let dec = &m.details["decontamination"];
    assert_eq!(dec["concept_level_clean"], false);
    assert!(dec["note"].as_str().unwrap().contains("not clean"));
    // the held-out concept's drawing stays in
    let pool = Pool::open(&args.out).unwrap();
    assert!(names(&pool).contains(&"twemoji:hot-beverage".to_owned()));
}

#[test]
fn bad_pool_folders_and_options_are_named() {
    let fx = Fixture::new("pool-bad");
    let missing = Pool::open(&fx.root.join("nowhere"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("prepare pool"), "{missing}");
    // half-written: shards but no manifest
    let args = PreparePoolArgs {
        sets: vec!["lines".into()],
        openclipart: PathBuf::from("none"),
        ..fx.args("pool")
    };
    prepare_pool(&args).unwrap();
    std::fs::remove_file(args.out.join("manifest.json")).unwrap();
    let half = Pool::open(&args.out).unwrap_err().to_string();
    assert!(half.contains("did not finish"), "{half}");
    // prepared again (--force): a tokenizer trained on the old captions goes too
    std::fs::write(args.out.join("tokenizer-bpe-8.txt"), "old").unwrap();
    prepare_pool(&PreparePoolArgs {
        force: true,
        ..args.clone()
    })
    .unwrap();
    assert!(!args.out.join("tokenizer-bpe-8.txt").exists());
    // an index changed under its manifest
    let index = args.out.join("index.tsv");
    let text = std::fs::read_to_string(&index).unwrap();
    std::fs::write(&index, text.replace("ring", "rung")).unwrap();
    let changed = Pool::open(&args.out).unwrap_err().to_string();
    assert!(
        changed.contains("does not match manifest.json"),
        "{changed}"
    );
    // unknown set, bad size, missing OpenClipArt folder
    let unknown = prepare_pool(&PreparePoolArgs {
        sets: vec!["nope".into()],
        ..fx.args("other")
    })
    .unwrap_err()
    .to_string();
    assert!(unknown.contains("nope"), "{unknown}");
    let size = prepare_pool(&PreparePoolArgs {
        image_size: 8,
        ..fx.args("other")
    })
    .unwrap_err();
    assert!(matches!(
        size,
        DataError::InvalidOption {
            name: "image_size",
            ..
        }
    ));
    let clipart = prepare_pool(&PreparePoolArgs {
        openclipart: fx.root.join("no-clipart"),
        sets: vec!["lines".into()],
        ..fx.args("other")
    })
    .unwrap_err()
    .to_string();
    assert!(clipart.contains("openclipart-svg"), "{clipart}");
}

fn cur(pool: &Pool, curation: &str) -> Subset {
    curate_pool(pool, &curation.parse().unwrap()).unwrap()
}

fn kept(subset: &Subset) -> HashSet<String> {
    subset.keys.iter().cloned().collect()
}

#[test]
fn align_removes_planted_duplicates_shared_captions_and_bad_lengths() {
    let dir = temp_dir("pool-align");
    let mut rows: Vec<(String, u64, u64)> = (0..40)
        .map(|i| {
            (
                format!("distinct caption number {i}"),
                i as u64,
                far_hash(i),
            )
        })
        .collect();
    // 40: an exact copy of 3's pixels; 41: 3 bits from 5's hash; 42: 7 bits from 6's
    rows.push(("copy of three here".into(), 3, far_hash(100)));
    rows.push(("near five here".into(), 1041, far_hash(5) ^ 0b111));
    rows.push(("far from six here".into(), 1042, far_hash(6) ^ 0b111_1111));
    // 43..=54: twelve images share one caption
    for i in 43..=54 {
        rows.push((
            "a shared caption".into(),
            i as u64 + 5000,
            far_hash(i + 1000),
        ));
    }
    // 55: two words; 56: 25 words
    rows.push(("too short".into(), 9055, far_hash(2055)));
    rows.push((vec!["word"; 25].join(" "), 9056, far_hash(2056)));
    let pool = pool_of(&dir, "pool-a", &rows);
    assert!(distance(pool.entries[42].phash, pool.entries[6].phash) > 4);

    let subset = cur(&pool, "align");
    let keep = kept(&subset);
    let key = |i: usize| format!("p{i:07}");
    assert!(!keep.contains(&key(40)), "exact copy kept");
    assert!(!keep.contains(&key(41)), "near copy kept");
    assert!(keep.contains(&key(42)), "a far image was removed");
    assert!(
        (43..=54).all(|i| !keep.contains(&key(i))),
        "a caption shared 12 times kept"
    );
    assert!(!keep.contains(&key(55)) && !keep.contains(&key(56)));
    assert!(
        (0..40).all(|i| keep.contains(&key(i))),
        "an original was removed"
    );
    let r = &subset.steps[0].removed;
    assert_eq!(
        (
            r["exact_duplicate"],
            r["near_duplicate"],
            r["caption_shared"]
        ),
        (1, 1, 12)
    );
    assert_eq!((r["caption_too_short"], r["caption_too_long"]), (1, 1));
    assert_eq!(subset.after.pairs, 41);
    assert_eq!(
        subset.before.top_captions[0],
        ("a shared caption".into(), 12)
    );

    // each filter follows its parameter
    let loose = cur(
        &pool,
        "align:dedup=exact,max_caption_share=12,min_words=2,max_words=30",
    );
    let keep = kept(&loose);
    assert!(!keep.contains(&key(40)) && keep.contains(&key(41)));
    assert!((43..=54).all(|i| keep.contains(&key(i))));
    assert!(keep.contains(&key(55)) && keep.contains(&key(56)));
    let wide = cur(&pool, "align:near_bits=7");
    assert!(!kept(&wide).contains(&key(42)));
    let off = cur(&pool, "align:dedup=off,max_caption_share=0");
    assert!(kept(&off).contains(&key(40)) && kept(&off).contains(&key(43)));
}

#[test]
fn noise_replaces_the_asked_fraction_of_captions_with_other_pairs_captions() {
    let dir = temp_dir("pool-noise");
    let rows: Vec<(String, u64, u64)> = (0..1000)
        .map(|i| (format!("caption {i}"), i as u64, far_hash(i)))
        .collect();
    let pool = pool_of(&dir, "pool-n", &rows);
    let subset = cur(&pool, "noise:fraction=0.3");
    assert_eq!(subset.keys.len(), 1000);
    assert_eq!(subset.caption_from.len(), 300);
    assert!(subset.caption_from.iter().all(|(k, from)| k != from));
    let captions = subset.captions(&pool);
    let changed = captions
        .iter()
        .zip(&pool.entries)
        .filter(|(c, e)| **c != e.caption)
        .count();
    assert_eq!(changed, 300);
    // the multiset of captions is unchanged: they moved between pairs
    let mut a: Vec<&String> = captions.iter().collect();
    let mut b: Vec<&String> = pool.entries.iter().map(|e| &e.caption).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    // another seed picks other pairs
    let other = cur(&pool, "noise:fraction=0.3,seed=1");
    assert!(
        other.caption_from != subset.caption_from,
        "another seed chose the same pairs"
    );
    // training reads what the subset says
    let filter = subset.key_filter(&pool).unwrap();
    assert_eq!(filter.len(), 1000);
}

#[test]
fn a_subset_is_deterministic_reused_and_refused_when_its_pool_changed() {
    let dir = temp_dir("pool-subset");
    let rows: Vec<(String, u64, u64)> = (0..200)
        .map(|i| {
            let caption = format!("icon {} of a set", i % 30);
            (caption, (i % 150) as u64, far_hash(i % 170))
        })
        .collect();
    let pool = pool_of(&dir, "pool-1", &rows);
    let curation: Curation = "align:min_words=2+noise:fraction=0.25".parse().unwrap();
    let first = curate_pool(&pool, &curation).unwrap();
    let second = curate_pool(&pool, &curation).unwrap();
    assert_eq!(first.keys_hash, second.keys_hash);
    assert_eq!(
        (first.keys.clone(), first.caption_from.clone()),
        (second.keys.clone(), second.caption_from.clone())
    );

    // a tokenizer cached for an earlier subset of this name goes when the subset is made anew
    let stem = clipscale_data::pool::curate::subset_path(&dir, &curation).with_extension("");
    let stale_tokenizer = PathBuf::from(format!("{}.tokenizer-bpe-8.txt", stem.display()));
    std::fs::create_dir_all(stale_tokenizer.parent().unwrap()).unwrap();
    std::fs::write(&stale_tokenizer, "old").unwrap();
    let (made, path, was_made) = open_subset(&pool, &curation).unwrap();
    assert!(was_made);
    assert!(!stale_tokenizer.exists(), "a stale tokenizer survived");
    assert_eq!(made.keys, first.keys);
    let bytes = std::fs::read(&path).unwrap();
    let (again, same_path, was_made) = open_subset(&pool, &curation).unwrap();
    assert!(!was_made, "the subset already made was not reused");
    assert_eq!((again.keys, same_path), (first.keys.clone(), path.clone()));

    // the pool prepared again: the subset no longer matches and is refused, untouched
    let changed = pool_of(&dir, "pool-2", &rows);
    let err = open_subset(&changed, &curation).unwrap_err().to_string();
    assert!(err.contains("no longer matches its pool"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    // a damaged key list is noticed
    let mut damaged: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    damaged["keys"].as_array_mut().unwrap().pop();
    std::fs::write(&path, damaged.to_string()).unwrap();
    let err = load_subset(&path, &pool, &curation)
        .unwrap_err()
        .to_string();
    assert!(err.contains("keys_hash"), "{err}");
}

#[test]
fn training_reads_the_pool_through_the_subset_with_its_captions() {
    let fx = Fixture::new("pool-read");
    let args = PreparePoolArgs {
        sets: vec!["shapes".into(), "lines".into(), "twemoji".into()],
        openclipart: PathBuf::from("none"),
        ..fx.args("pool")
    };
    prepare_pool(&args).unwrap();
    let pool = Pool::open(&args.out).unwrap();
    let curation: Curation = "align:min_words=1,max_caption_share=0+noise:fraction=0.5"
        .parse()
        .unwrap();
    let (subset, _, _) = open_subset(&pool, &curation).unwrap();
    assert!(subset.keys.len() < pool.entries.len());
    let mut spec = ShardSpec::eval(pool.pattern().unwrap(), 32);
    spec.threads = 1;
    let data = WebDataset::open_filtered(spec, Some(subset.key_filter(&pool).unwrap())).unwrap();
    assert_eq!(data.stats().unique_samples, subset.keys.len() as u64);
    let mut stream = data.stream_from(StreamPosition::START).unwrap();
    let read = common::take(&mut stream, subset.keys.len());
    let want: HashMap<&String, String> = subset.keys.iter().zip(subset.captions(&pool)).collect();
    assert_eq!(read.len(), want.len());
    for s in &read {
        assert_eq!(Some(&s.caption), want.get(&s.key), "{}", s.key);
    }
    assert!(!subset.caption_from.is_empty());
}
