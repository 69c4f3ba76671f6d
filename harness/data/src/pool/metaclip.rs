//! MetaCLIP-style balancing (Xu et al. 2023): captions matched against metadata entries, the
//! head entries capped by a random draw.
//!
//! Metadata: WordNet's noun lemmas, the emoji set's concept names (the `classnames.txt` of the
//! emoji folder the pool was checked against) and the icon sets' category names. Each caption
//! is matched against every entry as a substring once both are spaced out as MetaCLIP's
//! matcher spaces them (lowercase words between single spaces, the whole padded with spaces),
//! so an entry matches whole words (`cat` in "cat face", not in "category") and entries may
//! overlap ("hot dog" and "dog"); an entry's count is the number of pairs whose caption holds
//! it. A pair is kept when at least one of its entries passes a draw
//! with probability `t / max(count, t)`: entries seen at most `t` times keep all their pairs,
//! the head entries about `t` each. Pairs matching no entry are dropped. The draw of (pair,
//! entry) is a hash of the seed, the pair's key and the entry, so the same pair is kept for the
//! same seed whatever else is in the pool.

use std::collections::BTreeSet;
use std::path::Path;

use aho_corasick::AhoCorasick;
use serde::{Deserialize, Serialize};

use super::Pool;
use super::normalise_words;
use super::wordnet::Nouns;
use crate::error::DataError;

/// The metadata entries, with how many each source gave.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// Distinct entries (lowercase words between single spaces), sorted.
    pub entries: Vec<String>,
    /// (source, entries it gave).
    pub sources: Vec<(String, usize)>,
}

impl Metadata {
    /// Entries from `lists` (source name, entries), lowercased, trimmed, deduplicated.
    pub fn from_lists(lists: Vec<(String, Vec<String>)>) -> Self {
        let mut all = BTreeSet::new();
        let mut sources = Vec::new();
        for (name, list) in lists {
            let list: BTreeSet<String> = list
                .iter()
                .map(|e| normalise_words(e))
                .filter(|e| !e.is_empty())
                .collect();
            sources.push((name, list.len()));
            all.extend(list);
        }
        Self {
            entries: all.into_iter().collect(),
            sources,
        }
    }

    /// The pool's metadata: WordNet nouns (from `wordnet`), the emoji concept names of the
    /// pool's emoji folder (when it still exists) and the pool's icon categories.
    pub fn for_pool(pool: &Pool, wordnet: &Nouns) -> Result<Self, DataError> {
        let mut lists = vec![(
            "wordnet".to_owned(),
            wordnet.gloss.keys().cloned().collect(),
        )];
        if let Some(dir) = pool
            .manifest
            .details
            .pointer("/decontamination/emoji")
            .and_then(|v| v.as_str())
        {
            let path = Path::new(dir).join("classnames.txt");
            if let Ok(text) = std::fs::read_to_string(&path) {
                lists.push(("emoji".into(), text.lines().map(str::to_owned).collect()));
            }
        }
        let categories: BTreeSet<String> = pool
            .entries
            .iter()
            .filter(|e| !e.category.is_empty())
            .map(|e| e.category.clone())
            .collect();
        lists.push(("categories".into(), categories.into_iter().collect()));
        Ok(Self::from_lists(lists))
    }

    /// A hash of the entry list (recorded, so a changed WordNet or emoji folder shows).
    pub fn hash(&self) -> String {
        format!(
            "{:016x}",
            clipscale_core::rng::fnv1a(self.entries.join("\n").as_bytes())
        )
    }
}

/// One entry's pairs before and after balancing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryCount {
    pub entry: String,
    pub before: usize,
    pub after: usize,
}

/// What balancing did.
#[derive(Debug, Clone, PartialEq)]
pub struct Balance {
    /// Per input pair: kept or not.
    pub kept: Vec<bool>,
    /// Per entry (in [`Metadata::entries`] order): matching pairs before and after.
    pub before: Vec<usize>,
    pub after: Vec<usize>,
    /// Pairs that matched no entry.
    pub unmatched: usize,
}

impl Balance {
    /// The `n` entries with most pairs before, with their counts after.
    pub fn head(&self, metadata: &Metadata, n: usize) -> Vec<EntryCount> {
        let mut order: Vec<usize> = (0..self.before.len()).collect();
        order.sort_by(|&a, &b| self.before[b].cmp(&self.before[a]).then(a.cmp(&b)));
        order
            .into_iter()
            .take(n)
            .map(|i| EntryCount {
                entry: metadata.entries[i].clone(),
                before: self.before[i],
                after: self.after[i],
            })
            .collect()
    }

    /// Entries matched by at least one pair, and of those the ones at or under `t` (the tail,
    /// whose pairs are all kept).
    pub fn matched_and_tail(&self, t: usize) -> (usize, usize) {
        let matched = self.before.iter().filter(|&&c| c > 0).count();
        let tail = self.before.iter().filter(|&&c| c > 0 && c <= t).count();
        (matched, tail)
    }
}

/// Balances pairs (`keys[i]`, `captions[i]`) against `metadata` with threshold `t`.
pub fn balance(
    keys: &[&str],
    captions: &[&str],
    metadata: &Metadata,
    t: usize,
    seed: u64,
) -> Result<Balance, DataError> {
    let patterns = metadata.entries.iter().map(|e| format!(" {e} "));
    let matcher = AhoCorasick::new(patterns).map_err(|e| DataError::Format {
        path: "metadata entries".into(),
        detail: e.to_string(),
    })?;
    let mut matched: Vec<Vec<u32>> = Vec::with_capacity(captions.len());
    let mut before = vec![0usize; metadata.entries.len()];
    for caption in captions {
        let spaced = format!(" {} ", normalise_words(caption));
        let mut ids: Vec<u32> = matcher
            .find_overlapping_iter(&spaced)
            .map(|m| m.pattern().as_u32())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for &e in &ids {
            before[e as usize] += 1;
        }
        matched.push(ids);
    }
    let mut after = vec![0usize; metadata.entries.len()];
    let mut kept = vec![false; captions.len()];
    let mut unmatched = 0;
    for (i, ids) in matched.iter().enumerate() {
        if ids.is_empty() {
            unmatched += 1;
            continue;
        }
        kept[i] = ids.iter().any(|&e| {
            let count = before[e as usize];
            count <= t || {
                let draw = crate::prepare::stable_hash(
                    seed,
                    &format!("{}\u{1f}{}", keys[i], metadata.entries[e as usize]),
                );
                ((draw >> 11) as f64 / (1u64 << 53) as f64) < t as f64 / count as f64
            }
        });
        if kept[i] {
            for &e in ids {
                after[e as usize] += 1;
            }
        }
    }
    Ok(Balance {
        kept,
        before,
        after,
        unmatched,
    })
}
