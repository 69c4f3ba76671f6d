//! MetaCLIP balancing, DFN filtering and K-LITE enrichment on pools whose captions (and
//! scores) the tests choose, and the order of composed operators.

mod common;

use std::cell::Cell;

use clipscale_data::DataError;
use clipscale_data::pool::Pool;
use clipscale_data::pool::curate::{
    PairScorer, Resources, Subset, curate_pool_with, open_subset_with,
};
use clipscale_data::pool::metaclip::{Metadata, balance};
use clipscale_data::pool::wordnet::Nouns;
use common::{far_hash, pool_of, temp_dir};

fn metadata(entries: &[&str]) -> Metadata {
    Metadata::from_lists(vec![(
        "test".into(),
        entries.iter().map(|e| (*e).to_owned()).collect(),
    )])
}

#[test]
fn metaclip_keeps_about_t_pairs_of_a_head_entry_every_tail_pair_and_no_unmatched_one() {
    let mut captions: Vec<String> = (0..2000).map(|i| format!("a cat photo {i}")).collect();
    captions.extend((0..20).map(|i| format!("a zebra {i}")));
    captions.extend((0..10).map(|i| format!("nothing here {i}")));
    captions.extend((0..5).map(|i| format!("cat and zebra {i}")));
    let keys: Vec<String> = (0..captions.len()).map(|i| format!("k{i}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let captions: Vec<&str> = captions.iter().map(String::as_str).collect();
    let meta = metadata(&["Cat", "zebra", "dog"]);
    let t = 100;
    let mut head_kept = 0usize;
    let seeds = 40;
    for seed in 0..seeds {
        let b = balance(&keys, &captions, &meta, t, seed).unwrap();
        // counts per entry (sorted entries: cat, dog, zebra)
        assert_eq!(b.before, [2005, 0, 25]);
        head_kept += b.kept[..2000].iter().filter(|k| **k).count();
        assert!(
            b.kept[2000..2020].iter().all(|k| *k),
            "a tail pair was dropped"
        );
        assert!(
            b.kept[2020..2030].iter().all(|k| !*k),
            "an unmatched pair was kept"
        );
        assert!(
            b.kept[2030..].iter().all(|k| *k),
            "a pair with a tail entry was dropped"
        );
        assert_eq!(b.unmatched, 10);
        assert_eq!(b.after[2], 25);
    }
    // each head pair passes with probability t / count
    let rate = head_kept as f64 / (2000 * seeds) as f64;
    let want = t as f64 / 2005.0;
    assert!(
        (rate - want).abs() < 0.1 * want,
        "keep rate {rate}, t/count {want}"
    );
    // entries match whole words: "cat" is not in "category"
    let b = balance(&["x"], &["category"], &meta, t, 0).unwrap();
    assert_eq!(b.unmatched, 1);
}

/// Planted scores: pair i scores `score(i)`; counts its calls.
struct Planted {
    calls: Cell<usize>,
}

impl PairScorer for Planted {
    fn scores(&self, pool: &Pool, filter: &str) -> Result<Vec<f32>, DataError> {
        assert_eq!(filter, "runs/filter");
        self.calls.set(self.calls.get() + 1);
        Ok((0..pool.entries.len()).map(score).collect())
    }
}

fn score(i: usize) -> f32 {
    ((i * 37) % 100) as f32 / 100.0
}

#[test]
fn dfn_keeps_the_top_fraction_by_the_filter_scores() {
    let dir = temp_dir("dfn-planted");
    let rows: Vec<(String, u64, u64)> = (0..100)
        .map(|i| (format!("caption {i}"), i as u64, far_hash(i)))
        .collect();
    let pool = pool_of(&dir, "p", &rows);
    let scorer = Planted {
        calls: Cell::new(0),
    };
    let res = Resources {
        scorer: Some(&scorer),
        ..Resources::default()
    };
    let curation = "dfn:filter=runs/filter,fraction=0.25".parse().unwrap();
    let (subset, _, made) = open_subset_with(&pool, &curation, &res).unwrap();
    assert!(made);
    let mut want: Vec<usize> = (0..100).filter(|&i| score(i) >= 0.75).collect();
    want.sort_unstable();
    let got: Vec<usize> = subset
        .keys
        .iter()
        .map(|k| k[1..].parse().unwrap())
        .collect();
    assert_eq!(got, want);
    assert_eq!(subset.steps[0].removed["low_filter_score"], 75);
    // the subset made is reused: no second scoring
    open_subset_with(&pool, &curation, &res).unwrap();
    assert_eq!(scorer.calls.get(), 1);
    // without a scorer (the burn-free binary), dfn says where to run it
    let err = curate_pool_with(&pool, &curation, &Resources::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("clipscale data curate"), "{err}");
}

fn nouns() -> Nouns {
    let mut n = Nouns::default();
    for (w, g) in [
        ("arrow", "a projectile with a point"),
        ("home", "where you live"),
        ("icon", "a visual representation"),
        ("cat", "feline mammal"),
        ("icons", "visual representations"),
    ] {
        n.gloss.insert(w.into(), g.into());
    }
    n
}

fn subset(pool: &Pool, curation: &str, nouns: &Nouns, meta: Option<&Metadata>) -> Subset {
    let res = Resources {
        nouns: Some(nouns),
        metadata: meta,
        scorer: None,
    };
    curate_pool_with(pool, &curation.parse().unwrap(), &res).unwrap()
}

#[test]
fn klite_appends_the_gloss_of_the_rarest_noun_and_training_reads_it() {
    let dir = temp_dir("klite");
    let mut rows: Vec<(String, u64, u64)> = (0..30)
        .map(|i| (format!("arrow left icon {i}"), i as u64, far_hash(i)))
        .collect();
    rows.push(("home icon".into(), 30, far_hash(30)));
    rows.push(("no noun here".into(), 31, far_hash(31)));
    let pool = pool_of(&dir, "p", &rows);
    let nouns = nouns();
    let s = subset(&pool, "klite:fraction=1", &nouns, None);
    let captions = s.captions(&pool);
    // "home" (1 caption) is rarer than "icon" (31)
    assert_eq!(captions[30], "home icon ; home , where you live");
    // "arrow" (30 captions) is rarer than "icon" (31)
    assert_eq!(
        captions[0],
        "arrow left icon 0 ; arrow , a projectile with a point"
    );
    assert_eq!(captions[31], "no noun here");
    assert_eq!(s.enriched.len(), 31);
    let d = &s.steps[0].details;
    assert_eq!(
        (d["enriched"].as_u64(), d["chosen_without_a_noun"].as_u64()),
        (Some(31), Some(1))
    );
    // a fraction of the captions, chosen by the seed
    let half = subset(&pool, "klite:fraction=0.5", &nouns, None);
    let d = &half.steps[0].details;
    assert_eq!(
        d["enriched"].as_u64().unwrap() + d["chosen_without_a_noun"].as_u64().unwrap(),
        16
    );
    assert_eq!(half.steps[0].captions_replaced, half.enriched.len());
    let filter = half.key_filter(&pool).unwrap();
    assert_eq!(filter.len(), 32);
}

#[test]
fn composed_operators_run_in_the_order_written() {
    let dir = temp_dir("compose");
    // 40 "cat" captions (a head entry at t=10), 10 duplicates of the first image, a short one
    let mut rows: Vec<(String, u64, u64)> = (0..40)
        .map(|i| (format!("small grey cat number {i}"), i as u64, far_hash(i)))
        .collect();
    rows.extend((0..10).map(|i| (format!("grey cat copy {i}"), 0, far_hash(500 + i))));
    let pool = pool_of(&dir, "p", &rows);
    let nouns = nouns();
    let meta = metadata(&["cat", "grey"]);
    let a = subset(
        &pool,
        "align:min_words=1+metaclip:t=10",
        &nouns,
        Some(&meta),
    );
    let b = subset(
        &pool,
        "metaclip:t=10+align:min_words=1",
        &nouns,
        Some(&meta),
    );
    // each step takes what the one before kept
    for s in [&a, &b] {
        assert_eq!(s.steps[1].input, s.steps[0].kept);
    }
    assert!(a.steps[0].step.starts_with("align") && b.steps[0].step.starts_with("metaclip"));
    // align first: the copies are gone before balancing counts "cat"
    assert_eq!(a.steps[1].details["head_entries"][0]["before"], 40);
    assert_eq!(b.steps[0].details["head_entries"][0]["before"], 50);
    // noise after klite moves enriched captions, and training reads them enriched
    let s = subset(&pool, "klite:fraction=1+noise:fraction=1", &nouns, None);
    let captions = s.captions(&pool);
    assert!(
        captions
            .iter()
            .all(|c| c.contains(" ; cat , feline mammal")),
        "{captions:?}"
    );
    assert!(
        captions
            .iter()
            .zip(&pool.entries)
            .all(|(c, e)| c.split(" ; ").next() != Some(e.caption.as_str())),
        "noise left a caption in place"
    );
}
