//! The curation operators, each a function over the pairs still in the subset.
//!
//! - [`align`]: image duplicates removed (exact copies, then every image within `near_bits` of
//!   the perceptual hash of an earlier kept image; "earlier" is pool order, so the same pair
//!   survives every time), then captions shared by more than `max_caption_share` images
//!   (compared as lowercase words), then captions outside `min_words..=max_words` words;
//! - [`noise`]: the chosen pairs (a `fraction`, in an order drawn from the seed) each take the
//!   next one's caption;
//! - [`metaclip`]: [`super::metaclip::balance`] over the pairs' current captions;
//! - [`dfn`]: the pairs ranked by their filter score, the top `fraction` kept (ties by pool
//!   order);
//! - [`klite`]: a `fraction` of the pairs (chosen by the seed) get their caption's least
//!   frequent noun's gloss ([`super::klite`]).

use std::collections::{BTreeMap, HashMap};

use super::PoolEntry;
use super::klite::{enrich, least_frequent_noun, word_counts};
use super::metaclip::{Metadata, balance};
use super::normalise_words;
use super::phash::HashIndex;
use super::wordnet::Nouns;
use crate::error::DataError;

/// The pairs still in the subset, with their current captions.
pub(crate) struct Working<'a> {
    pub(crate) entries: &'a [PoolEntry],
    /// Positions in `entries` of the pairs kept so far, in pool order.
    pub(crate) alive: Vec<usize>,
    /// Every pair's current caption.
    pub(crate) captions: Vec<String>,
    /// Where a caption came from (noise): the position of the pair it was first written for.
    pub(crate) caption_from: Vec<Option<usize>>,
    /// Pairs whose caption was enriched (K-LITE).
    pub(crate) enriched: Vec<bool>,
}

impl<'a> Working<'a> {
    pub(crate) fn new(entries: &'a [PoolEntry]) -> Self {
        Self {
            entries,
            alive: (0..entries.len()).collect(),
            captions: entries.iter().map(|e| e.caption.clone()).collect(),
            caption_from: vec![None; entries.len()],
            enriched: vec![false; entries.len()],
        }
    }

    /// The alive pairs ordered by a hash of `seed` and their key, the first `fraction` of them.
    fn drawn(&self, seed: u64, fraction: f64) -> Vec<usize> {
        let mut order: Vec<(u64, usize)> = self
            .alive
            .iter()
            .map(|&i| (crate::prepare::stable_hash(seed, &self.entries[i].key), i))
            .collect();
        order.sort_unstable();
        let n = (fraction * self.alive.len() as f64).round() as usize;
        order.into_iter().take(n).map(|(_, i)| i).collect()
    }
}

/// What one operator did besides removing pairs.
#[derive(Default)]
pub(crate) struct Outcome {
    pub(crate) removed: BTreeMap<String, usize>,
    pub(crate) captions_changed: usize,
    pub(crate) details: serde_json::Value,
}

pub(crate) fn align(
    w: &mut Working,
    dedup: super::curation::Dedup,
    near_bits: u32,
    max_caption_share: usize,
    (min_words, max_words): (usize, usize),
) -> Outcome {
    use super::curation::Dedup;
    let entries = w.entries;
    let mut removed = BTreeMap::new();
    if dedup != Dedup::Off {
        let n = w.alive.len();
        let mut seen = std::collections::HashSet::with_capacity(n);
        w.alive.retain(|&i| seen.insert(entries[i].pixels));
        removed.insert("exact_duplicate".into(), n - w.alive.len());
    }
    if dedup == Dedup::Near {
        let n = w.alive.len();
        let index = HashIndex::new(
            w.alive.iter().map(|&i| entries[i].phash).collect(),
            near_bits,
        );
        let mut keep = vec![false; n];
        for pos in 0..n {
            let h = entries[w.alive[pos]].phash;
            keep[pos] = !index
                .within(h)
                .into_iter()
                .any(|j| (j as usize) < pos && keep[j as usize]);
        }
        let mut pos = 0;
        w.alive.retain(|_| {
            pos += 1;
            keep[pos - 1]
        });
        removed.insert("near_duplicate".into(), n - w.alive.len());
    }
    if max_caption_share > 0 {
        let mut share: HashMap<String, usize> = HashMap::new();
        for &i in &w.alive {
            *share.entry(normalise_words(&w.captions[i])).or_default() += 1;
        }
        let n = w.alive.len();
        let captions = &w.captions;
        w.alive
            .retain(|&i| share[&normalise_words(&captions[i])] <= max_caption_share);
        removed.insert("caption_shared".into(), n - w.alive.len());
    }
    let (mut short, mut long) = (0, 0);
    let captions = &w.captions;
    w.alive.retain(|&i| {
        let words = captions[i].split_whitespace().count();
        short += usize::from(words < min_words);
        long += usize::from(words > max_words);
        (min_words..=max_words).contains(&words)
    });
    removed.insert("caption_too_short".into(), short);
    removed.insert("caption_too_long".into(), long);
    Outcome {
        removed,
        ..Outcome::default()
    }
}

pub(crate) fn noise(w: &mut Working, fraction: f64, seed: u64) -> Outcome {
    let chosen = w.drawn(seed, fraction);
    if chosen.len() < 2 {
        return Outcome::default();
    }
    let old: Vec<String> = chosen.iter().map(|&i| w.captions[i].clone()).collect();
    let origin: Vec<usize> = chosen
        .iter()
        .map(|&i| w.caption_from[i].unwrap_or(i))
        .collect();
    let was_enriched: Vec<bool> = chosen.iter().map(|&i| w.enriched[i]).collect();
    for (k, &i) in chosen.iter().enumerate() {
        // an enriched caption moves with its enrichment
        let next = (k + 1) % chosen.len();
        w.captions[i].clone_from(&old[next]);
        w.caption_from[i] = Some(origin[next]);
        w.enriched[i] = was_enriched[next];
    }
    Outcome {
        captions_changed: chosen.len(),
        ..Outcome::default()
    }
}

pub(crate) fn metaclip(
    w: &mut Working,
    metadata: &Metadata,
    t: usize,
    seed: u64,
) -> Result<Outcome, DataError> {
    let keys: Vec<&str> = w.alive.iter().map(|&i| w.entries[i].key.as_str()).collect();
    let captions: Vec<&str> = w.alive.iter().map(|&i| w.captions[i].as_str()).collect();
    let b = balance(&keys, &captions, metadata, t, seed)?;
    let n = w.alive.len();
    let mut pos = 0;
    w.alive.retain(|_| {
        pos += 1;
        b.kept[pos - 1]
    });
    let (matched, tail) = b.matched_and_tail(t);
    let mut removed = BTreeMap::new();
    removed.insert("unmatched".into(), b.unmatched);
    removed.insert("balanced_away".into(), n - w.alive.len() - b.unmatched);
    Ok(Outcome {
        removed,
        captions_changed: 0,
        details: serde_json::json!({
            "t": t,
            "metadata": {
                "entries": metadata.entries.len(),
                "sources": metadata.sources,
                "hash": metadata.hash(),
            },
            "entries_matched": matched,
            "entries_at_most_t": tail,
            "head_entries": b.head(metadata, 30),
        }),
    })
}

pub(crate) fn dfn(w: &mut Working, scores: &[f32], fraction: f64) -> Result<Outcome, DataError> {
    if scores.len() != w.entries.len() {
        return Err(DataError::Format {
            path: "dfn scores".into(),
            detail: format!(
                "{} scores for a pool of {} pairs",
                scores.len(),
                w.entries.len()
            ),
        });
    }
    let n = w.alive.len();
    let mut ranked: Vec<usize> = w.alive.clone();
    ranked.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let keep_n = ((fraction * n as f64).round() as usize).clamp(1.min(n), n);
    let threshold = ranked.get(keep_n.saturating_sub(1)).map(|&i| scores[i]);
    let mut keep = vec![false; w.entries.len()];
    for &i in &ranked[..keep_n] {
        keep[i] = true;
    }
    w.alive.retain(|&i| keep[i]);
    let mut removed = BTreeMap::new();
    removed.insert("low_filter_score".into(), n - w.alive.len());
    Ok(Outcome {
        removed,
        captions_changed: 0,
        details: serde_json::json!({ "score_threshold": threshold }),
    })
}

pub(crate) fn klite(w: &mut Working, nouns: &Nouns, fraction: f64, seed: u64) -> Outcome {
    let counts = word_counts(w.alive.iter().map(|&i| w.captions[i].as_str()));
    let chosen = w.drawn(seed, fraction);
    let (mut changed, mut no_noun) = (0, 0);
    let mut examples = Vec::new();
    for i in chosen {
        match least_frequent_noun(&w.captions[i], &counts, nouns) {
            Some((noun, gloss)) => {
                let text = enrich(&w.captions[i], &noun, gloss);
                if examples.len() < 5 {
                    examples.push(text.clone());
                }
                w.captions[i] = text;
                w.enriched[i] = true;
                changed += 1;
            }
            None => no_noun += 1,
        }
    }
    Outcome {
        removed: BTreeMap::new(),
        captions_changed: changed,
        details: serde_json::json!({
            "enriched": changed,
            "chosen_without_a_noun": no_noun,
            "examples": examples,
        }),
    }
}
