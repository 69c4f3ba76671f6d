//! Curated subsets of a pool: a [`Curation`] ([`super::curation`]) applied to the pool's index
//! by the operators of [`super::ops`], written as a manifest of kept keys that training reads
//! the pool's shards through.
//!
//! The subset of a curation is a file `subsets/<ops>-<hash>.json` (the hash of the canonical
//! form). Given the pool, the canonical form and the resources the operators read (WordNet,
//! the emoji folder's class names, a DFN filter trial), the subset is always the same; it is
//! made once and reused, and a subset file made from another version of the pool (its
//! `pool_id` differs) is refused, never overwritten.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use super::curation::{Curation, DEFAULT_T, Dedup, OPERATORS, Step};
use super::metaclip::Metadata;
use super::ops::{self, Working};
use super::wordnet::{Nouns, wordnet_dir};
use super::{Pool, PoolEntry, SUBSETS_DIR, normalise_words, remove_derived};
use crate::error::DataError;
use crate::webdataset::KeyFilter;

/// Version of the subset file layout.
pub const SUBSET_VERSION: u32 = 1;

/// Counts of a set of pairs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub pairs: usize,
    pub per_source: BTreeMap<String, usize>,
    /// Distinct captions (as lowercase words).
    pub distinct_captions: usize,
    /// The most frequent captions with their counts.
    pub top_captions: Vec<(String, usize)>,
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub step: String,
    pub input: usize,
    pub kept: usize,
    /// Pairs removed, by reason.
    pub removed: BTreeMap<String, usize>,
    /// Captions replaced (noise) or enriched (K-LITE).
    #[serde(default)]
    pub captions_replaced: usize,
    pub seconds: f64,
    /// What the operator reports besides (MetaCLIP's entry counts, DFN's threshold...).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

/// A curated subset of a pool (`subsets/<ops>-<hash>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subset {
    pub version: u32,
    /// The canonical curation.
    pub curation: String,
    /// The pool it was made from ([`Pool::id`]).
    pub pool_id: String,
    pub before: Counts,
    pub after: Counts,
    pub steps: Vec<StepReport>,
    pub seconds: f64,
    /// FNV-1a of the kept keys joined by newlines: a damaged key list is noticed.
    pub keys_hash: String,
    /// Kept keys, in pool order.
    pub keys: Vec<String>,
    /// Kept key -> the key whose caption it takes (noise).
    pub caption_from: BTreeMap<String, String>,
    /// Kept key -> its caption as enriched (K-LITE), which training reads instead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub enriched: BTreeMap<String, String>,
}

/// The pool's entries by key.
fn by_key(pool: &Pool) -> HashMap<&str, &PoolEntry> {
    pool.entries.iter().map(|e| (e.key.as_str(), e)).collect()
}

/// What operators need beyond the pool: WordNet (metaclip, klite) and a scorer (dfn).
#[derive(Default)]
pub struct Resources<'a> {
    /// WordNet's nouns; loaded from [`super::wordnet::wordnet_dir`] when needed and not given.
    pub nouns: Option<&'a Nouns>,
    /// MetaCLIP's metadata; built for the pool when needed and not given.
    pub metadata: Option<&'a Metadata>,
    /// DFN's filter scores.
    pub scorer: Option<&'a dyn PairScorer>,
}

/// Scores every pair of a pool with a filter model (DFN): higher is more aligned.
pub trait PairScorer {
    /// One score per pool entry, in pool order; `filter` names the filter (a trial folder).
    fn scores(&self, pool: &Pool, filter: &str) -> Result<Vec<f32>, DataError>;
}

fn keys_hash(keys: &[String]) -> String {
    format!(
        "{:016x}",
        clipscale_core::rng::fnv1a(keys.join("\n").as_bytes())
    )
}

fn counts(entries: &[PoolEntry], alive: &[usize], captions: &[String]) -> Counts {
    let mut per_source = BTreeMap::new();
    let mut per_caption: HashMap<String, usize> = HashMap::new();
    for &i in alive {
        *per_source.entry(entries[i].source.clone()).or_default() += 1;
        *per_caption
            .entry(normalise_words(&captions[i]))
            .or_default() += 1;
    }
    let mut top: Vec<(String, usize)> = per_caption.iter().map(|(c, n)| (c.clone(), *n)).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(20);
    Counts {
        pairs: alive.len(),
        per_source,
        distinct_captions: per_caption.len(),
        top_captions: top,
    }
}

/// Applies `curation` to the pool, loading WordNet when an operator needs it; `dfn` needs
/// [`curate_pool_with`] and a scorer.
pub fn curate_pool(pool: &Pool, curation: &Curation) -> Result<Subset, DataError> {
    curate_pool_with(pool, curation, &Resources::default())
}

/// Applies `curation` to the pool with the given resources (no file is written).
pub fn curate_pool_with(
    pool: &Pool,
    curation: &Curation,
    res: &Resources,
) -> Result<Subset, DataError> {
    let started = Instant::now();
    let loaded_nouns;
    let nouns = match res.nouns {
        Some(n) => Some(n),
        None if curation
            .steps
            .iter()
            .any(|s| matches!(s, Step::MetaClip { .. } | Step::Klite { .. })) =>
        {
            loaded_nouns = Nouns::load(&wordnet_dir())?;
            Some(&loaded_nouns)
        }
        None => None,
    };
    let built_metadata;
    let metadata = match (res.metadata, nouns) {
        (Some(m), _) => Some(m),
        (None, Some(n))
            if curation
                .steps
                .iter()
                .any(|s| matches!(s, Step::MetaClip { .. })) =>
        {
            built_metadata = Metadata::for_pool(pool, n)?;
            Some(&built_metadata)
        }
        _ => None,
    };
    let mut w = Working::new(&pool.entries);
    let before = counts(&pool.entries, &w.alive, &w.captions);
    let mut reports = Vec::new();
    for step in &curation.steps {
        let t = Instant::now();
        let input = w.alive.len();
        let outcome = match step {
            Step::Align {
                dedup,
                near_bits,
                max_caption_share,
                min_words,
                max_words,
            } => ops::align(
                &mut w,
                *dedup,
                *near_bits,
                *max_caption_share,
                (*min_words, *max_words),
            ),
            Step::Noise { fraction, seed } => ops::noise(&mut w, *fraction, *seed),
            Step::MetaClip { t, seed } => {
                let metadata = metadata.ok_or_else(|| missing(curation, "metadata"))?;
                ops::metaclip(&mut w, metadata, *t, *seed)?
            }
            Step::Dfn { filter, fraction } => {
                let scorer = res.scorer.ok_or_else(|| DataError::Curation {
                    spec: curation.to_string(),
                    detail: "dfn scores the pool with a trial's model: run it with `clipscale data curate` (the clipscale-data binary has no models)".into(),
                })?;
                let scores = scorer.scores(pool, filter)?;
                ops::dfn(&mut w, &scores, *fraction)?
            }
            Step::Klite { fraction, seed } => {
                let nouns = nouns.ok_or_else(|| missing(curation, "WordNet"))?;
                ops::klite(&mut w, nouns, *fraction, *seed)
            }
        };
        reports.push(StepReport {
            step: step.to_string(),
            input,
            kept: w.alive.len(),
            removed: outcome.removed,
            captions_replaced: outcome.captions_changed,
            seconds: t.elapsed().as_secs_f64(),
            details: outcome.details,
        });
    }
    let entries = &pool.entries;
    let after = counts(entries, &w.alive, &w.captions);
    let keys: Vec<String> = w.alive.iter().map(|&i| entries[i].key.clone()).collect();
    let caption_from = w
        .alive
        .iter()
        .filter_map(|&i| {
            w.caption_from[i]
                .filter(|&j| j != i)
                .map(|j| (entries[i].key.clone(), entries[j].key.clone()))
        })
        .collect();
    let enriched = w
        .alive
        .iter()
        .filter(|&&i| w.enriched[i])
        .map(|&i| (entries[i].key.clone(), w.captions[i].clone()))
        .collect();
    Ok(Subset {
        version: SUBSET_VERSION,
        curation: curation.to_string(),
        pool_id: pool.id.clone(),
        before,
        after,
        steps: reports,
        seconds: started.elapsed().as_secs_f64(),
        keys_hash: keys_hash(&keys),
        keys,
        caption_from,
        enriched,
    })
}

fn missing(curation: &Curation, what: &str) -> DataError {
    DataError::Curation {
        spec: curation.to_string(),
        detail: format!("{what} was not loaded"),
    }
}

/// Where the subset of `curation` lives in a pool folder.
pub fn subset_path(pool_dir: &Path, curation: &Curation) -> PathBuf {
    pool_dir.join(SUBSETS_DIR).join(format!(
        "{}-{}.json",
        curation.short_name(),
        curation.hash()
    ))
}

/// The subset of `curation`: the one already made (checked against the pool) or a new one
/// (written). Returns the subset, its file, and whether it was made now.
pub fn open_subset(pool: &Pool, curation: &Curation) -> Result<(Subset, PathBuf, bool), DataError> {
    open_subset_with(pool, curation, &Resources::default())
}

/// As [`open_subset`], with resources for the operators that need them.
pub fn open_subset_with(
    pool: &Pool,
    curation: &Curation,
    res: &Resources,
) -> Result<(Subset, PathBuf, bool), DataError> {
    let path = subset_path(&pool.dir, curation);
    if path.is_file() {
        let subset = load_subset(&path, pool, curation)?;
        return Ok((subset, path, false));
    }
    let subset = curate_pool_with(pool, curation, res)?;
    save_subset(pool, &subset, &path)?;
    Ok((subset, path, true))
}

/// Writes a subset made by [`curate_pool`] to `path` (atomically), first removing what was
/// derived from an earlier subset of that name (tokenizers trained on its captions).
pub fn save_subset(pool: &Pool, subset: &Subset, path: &Path) -> Result<(), DataError> {
    let json = serde_json::to_vec_pretty(subset).map_err(|e| DataError::Format {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    crate::prepare::create_dir(&pool.dir.join(SUBSETS_DIR))?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    remove_derived(&pool.dir.join(SUBSETS_DIR), &format!("{stem}.tokenizer-"))?;
    crate::prepare::write_atomic(path, &json)
}

/// Reads a subset file and checks that it belongs to `pool` and `curation`.
pub fn load_subset(path: &Path, pool: &Pool, curation: &Curation) -> Result<Subset, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, &e))?;
    let subset: Subset = serde_json::from_slice(&bytes).map_err(|e| DataError::Format {
        path: path.display().to_string(),
        detail: format!("not a subset file: {e}"),
    })?;
    let stale = |detail: String| DataError::Curation {
        spec: curation.to_string(),
        detail: format!(
            "{}: {detail}; nothing was changed: remove the file to curate again",
            path.display()
        ),
    };
    if subset.version != SUBSET_VERSION {
        return Err(stale(format!(
            "layout version {}, this clipscale reads {SUBSET_VERSION}",
            subset.version
        )));
    }
    if subset.pool_id != pool.id {
        return Err(stale(format!(
            "made from pool {} but the pool at {} is now {} (it was prepared again): the subset no longer matches its pool",
            subset.pool_id,
            pool.dir.display(),
            pool.id
        )));
    }
    if subset.curation != curation.to_string() {
        return Err(stale(format!("holds the curation {:?}", subset.curation)));
    }
    if keys_hash(&subset.keys) != subset.keys_hash {
        return Err(stale(
            "its key list does not match its keys_hash (the file was edited or damaged)".into(),
        ));
    }
    Ok(subset)
}

impl Subset {
    /// The filter that reads the pool's shards as this subset: kept keys, with the captions
    /// that noise or enrichment gave them.
    pub fn key_filter(&self, pool: &Pool) -> Result<Arc<KeyFilter>, DataError> {
        Ok(self.training_view(pool)?.0)
    }

    /// The training captions of this subset (for a tokenizer trained on them).
    pub fn captions(&self, pool: &Pool) -> Vec<String> {
        let by_key = by_key(pool);
        self.keys
            .iter()
            .filter_map(|k| self.final_caption(k, &by_key))
            .map(|(text, _)| text.trim().to_owned())
            .collect()
    }

    /// [`Subset::key_filter`] and [`Subset::captions`] at once (one index of the pool).
    pub fn training_view(&self, pool: &Pool) -> Result<(Arc<KeyFilter>, Vec<String>), DataError> {
        let by_key = by_key(pool);
        let mut keep = HashMap::with_capacity(self.keys.len());
        let mut captions = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            let bad = |detail: String| DataError::Curation {
                spec: self.curation.clone(),
                detail,
            };
            if !by_key.contains_key(key.as_str()) {
                return Err(bad(format!(
                    "key {key} is not in the pool at {}",
                    pool.dir.display()
                )));
            }
            let (text, changed) = self.final_caption(key, &by_key).ok_or_else(|| {
                bad(format!(
                    "the caption source of {key} ({}) is not in the pool",
                    self.caption_from.get(key).map_or("?", String::as_str)
                ))
            })?;
            captions.push(text.trim().to_owned());
            keep.insert(key.clone(), changed.then(|| text.to_owned()));
        }
        Ok((Arc::new(KeyFilter::new(keep)), captions))
    }

    /// A kept pair's caption as training reads it (enriched, else moved by noise, else its
    /// own) and whether it differs from its own; `None` when its source is not in the pool.
    fn final_caption<'a>(
        &'a self,
        key: &str,
        by_key: &HashMap<&str, &'a PoolEntry>,
    ) -> Option<(&'a str, bool)> {
        if let Some(text) = self.enriched.get(key) {
            return Some((text, true));
        }
        match self.caption_from.get(key) {
            Some(from) => by_key
                .get(from.as_str())
                .map(|e| (e.caption.as_str(), true)),
            None => by_key.get(key).map(|e| (e.caption.as_str(), false)),
        }
    }

    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "curation {}: {} of {} pairs kept ({:.1}%), {} distinct captions (from {}), {:.1} s\n",
            self.curation,
            self.after.pairs,
            self.before.pairs,
            100.0 * self.after.pairs as f64 / self.before.pairs.max(1) as f64,
            self.after.distinct_captions,
            self.before.distinct_captions,
            self.seconds
        );
        for s in &self.steps {
            let removed: Vec<String> = s
                .removed
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            out.push_str(&format!(
                "  {}: {} -> {}{}{} ({:.2} s)\n",
                s.step,
                s.input,
                s.kept,
                if removed.is_empty() {
                    String::new()
                } else {
                    format!("; removed {}", removed.join(", "))
                },
                if s.captions_replaced > 0 {
                    format!("; {} captions replaced", s.captions_replaced)
                } else {
                    String::new()
                },
                s.seconds
            ));
        }
        for (source, n) in &self.after.per_source {
            let was = self.before.per_source.get(source).copied().unwrap_or(0);
            out.push_str(&format!("  {source}: {was} -> {n}\n"));
        }
        out
    }
}

/// Arguments of `data curate`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct CurateArgs {
    /// The curation: `op[:key=value,...]` steps joined by `+` (operators: none, align, noise,
    /// metaclip, dfn, klite), e.g. `align:min_words=2+metaclip:t=500`.
    pub curation: String,
    /// The pool folder (from `clipscale data prepare pool`).
    #[arg(long, default_value = super::DEFAULT_POOL_DIR)]
    pub pool: PathBuf,
}

/// `data curate`: the subset made (or found and checked) and its summary for the terminal.
pub fn run_curate(args: &CurateArgs) -> Result<String, DataError> {
    let curation: Curation = args.curation.parse()?;
    let pool = Pool::open(&args.pool)?;
    let (subset, path, made) = open_subset(&pool, &curation)?;
    Ok(format!(
        "{}{} {}\n",
        subset.summary(),
        if made { "wrote" } else { "already made:" },
        path.display()
    ))
}
