//! Curated subsets of a pool: a chain of operators applied to the pool's index, written as a
//! manifest of kept keys that training reads the pool's shards through.
//!
//! A curation is written `op[:key=value,...]` with steps joined by `+`, applied left to right
//! (`align+noise:fraction=0.2`). Operators:
//!
//! - `none`: the raw pool (alone; within a chain it changes nothing and is dropped);
//! - `align`: ALIGN-style filters (Jia et al. 2021), in this order: image duplicates removed
//!   (`dedup` = `near` (default): exact copies, then every image within `near_bits` bits
//!   (default 4) of the perceptual hash of an earlier kept image; `exact`: identical pixels
//!   only; `off`), then captions shared by more than `max_caption_share` images dropped
//!   (default 10, ALIGN's; 0 turns it off; captions compared as lowercase words), then
//!   captions shorter than `min_words` (default 3) or longer than `max_words` (default 20)
//!   words dropped. "Earlier" is pool order, so the same pair survives every time;
//! - `noise`: a `fraction` (default 0.2) of the kept pairs get another kept pair's caption
//!   (the chosen pairs, in an order drawn from `seed` (default 0), each take the next one's
//!   caption): a test of noise tolerance.
//!
//! The canonical form names every parameter, defaults included, in a fixed order; it is what
//! specs record and what names the subset file (`subsets/<ops>-<hash>.json`, the hash of the
//! canonical form). Given the pool and the canonical form, the subset is always the same; a
//! subset file made from another version of the pool (its `pool_id` differs) is refused.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::phash::{HashIndex, MAX_BITS};
use super::prepare::normalise_words;
use super::{Pool, PoolEntry, SUBSETS_DIR};
use crate::error::DataError;
use crate::webdataset::KeyFilter;

/// Version of the subset file layout.
pub const SUBSET_VERSION: u32 = 1;

/// The operators and their parameters, for messages.
pub const OPERATORS: &str = "none; align (dedup=near|exact|off, near_bits=0..12, max_caption_share=K (0: off), min_words=N, max_words=N); noise (fraction=0..1, seed=N); steps joined by `+`, e.g. align:min_words=2+noise:fraction=0.3";

/// How `align` removes duplicate images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dedup {
    Off,
    Exact,
    Near,
}

/// One step of a curation.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Align {
        dedup: Dedup,
        near_bits: u32,
        max_caption_share: usize,
        min_words: usize,
        max_words: usize,
    },
    Noise {
        fraction: f64,
        seed: u64,
    },
}

/// A chain of curation steps (none: the raw pool).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Curation {
    pub steps: Vec<Step>,
}

fn bad(spec: &str, detail: impl Into<String>) -> DataError {
    DataError::Curation {
        spec: spec.to_owned(),
        detail: detail.into(),
    }
}

impl std::str::FromStr for Curation {
    type Err = DataError;

    fn from_str(spec: &str) -> Result<Self, DataError> {
        let mut steps = Vec::new();
        for part in spec.split('+') {
            let part = part.trim();
            let (op, params) = match part.split_once(':') {
                Some((op, params)) => (op.trim(), params.trim()),
                None => (part, ""),
            };
            let mut values: BTreeMap<&str, &str> = BTreeMap::new();
            for kv in params.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    bad(
                        spec,
                        format!("{kv:?} is not key=value; operators: {OPERATORS}"),
                    )
                })?;
                if values.insert(k.trim(), v.trim()).is_some() {
                    return Err(bad(spec, format!("{op}: {k} is given twice")));
                }
            }
            let mut take = |key: &str| values.remove(key);
            let step = match op {
                "none" => None,
                "align" => {
                    let dedup = match take("dedup").unwrap_or("near") {
                        "near" => Dedup::Near,
                        "exact" => Dedup::Exact,
                        "off" => Dedup::Off,
                        other => {
                            return Err(bad(
                                spec,
                                format!("align: dedup={other} is not one of near, exact, off"),
                            ));
                        }
                    };
                    let near_bits = number(spec, "align", "near_bits", take("near_bits"), 4)?;
                    if near_bits > MAX_BITS as usize {
                        return Err(bad(
                            spec,
                            format!("align: near_bits={near_bits} is over {MAX_BITS}"),
                        ));
                    }
                    let max_caption_share = number(
                        spec,
                        "align",
                        "max_caption_share",
                        take("max_caption_share"),
                        10,
                    )?;
                    let min_words = number(spec, "align", "min_words", take("min_words"), 3)?;
                    let max_words = number(spec, "align", "max_words", take("max_words"), 20)?;
                    if max_words < min_words {
                        return Err(bad(
                            spec,
                            format!("align: max_words={max_words} is below min_words={min_words}"),
                        ));
                    }
                    Some(Step::Align {
                        dedup,
                        near_bits: near_bits as u32,
                        max_caption_share,
                        min_words,
                        max_words,
                    })
                }
                "noise" => {
                    let fraction = match take("fraction") {
                        None => 0.2,
                        Some(v) => v
                            .parse::<f64>()
                            .ok()
                            .filter(|f| (0.0..=1.0).contains(f))
                            .ok_or_else(|| {
                                bad(
                                    spec,
                                    format!("noise: fraction={v} is not a number in [0, 1]"),
                                )
                            })?,
                    };
                    let seed = number(spec, "noise", "seed", take("seed"), 0)? as u64;
                    Some(Step::Noise { fraction, seed })
                }
                "" => return Err(bad(spec, format!("an empty step; operators: {OPERATORS}"))),
                other => {
                    return Err(bad(
                        spec,
                        format!("unknown operator {other:?}; operators: {OPERATORS}"),
                    ));
                }
            };
            if let Some(key) = values.keys().next() {
                return Err(bad(
                    spec,
                    format!("{op} has no parameter {key:?}; operators: {OPERATORS}"),
                ));
            }
            steps.extend(step);
        }
        Ok(Curation { steps })
    }
}

fn number(
    spec: &str,
    op: &str,
    key: &str,
    value: Option<&str>,
    default: usize,
) -> Result<usize, DataError> {
    match value {
        None => Ok(default),
        Some(v) => v.parse::<usize>().map_err(|_| {
            bad(
                spec,
                format!("{op}: {key}={v} is not a whole number of 0 or more"),
            )
        }),
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Align {
                dedup,
                near_bits,
                max_caption_share,
                min_words,
                max_words,
            } => {
                let dedup = match dedup {
                    Dedup::Off => "off",
                    Dedup::Exact => "exact",
                    Dedup::Near => "near",
                };
                write!(
                    f,
                    "align:dedup={dedup},near_bits={near_bits},max_caption_share={max_caption_share},min_words={min_words},max_words={max_words}"
                )
            }
            Step::Noise { fraction, seed } => write!(f, "noise:fraction={fraction},seed={seed}"),
        }
    }
}

impl std::fmt::Display for Curation {
    /// The canonical form: every parameter named; `none` for no step.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.steps.is_empty() {
            return f.write_str("none");
        }
        let parts: Vec<String> = self.steps.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("+"))
    }
}

impl Curation {
    /// Whether this is the raw pool.
    pub fn is_none(&self) -> bool {
        self.steps.is_empty()
    }

    /// The operator names joined by `+` (`none`, `align`, `align+noise`).
    pub fn short_name(&self) -> String {
        if self.steps.is_empty() {
            return "none".into();
        }
        self.steps
            .iter()
            .map(|s| match s {
                Step::Align { .. } => "align",
                Step::Noise { .. } => "noise",
            })
            .collect::<Vec<_>>()
            .join("+")
    }

    /// A hash of the canonical form (names the subset file).
    pub fn hash(&self) -> String {
        let h = clipscale_core::rng::fnv1a(self.to_string().as_bytes());
        format!("{:08x}", (h >> 32) as u32 ^ h as u32)
    }
}

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
    /// Captions replaced (noise).
    #[serde(default)]
    pub captions_replaced: usize,
    pub seconds: f64,
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

/// Applies `curation` to the pool (pure: no file is read or written).
pub fn curate_pool(pool: &Pool, curation: &Curation) -> Subset {
    let started = Instant::now();
    let entries = &pool.entries;
    let mut captions: Vec<String> = entries.iter().map(|e| e.caption.clone()).collect();
    let mut caption_from: Vec<Option<usize>> = vec![None; entries.len()];
    let mut alive: Vec<usize> = (0..entries.len()).collect();
    let before = counts(entries, &alive, &captions);
    let mut reports = Vec::new();
    for step in &curation.steps {
        let t = Instant::now();
        let input = alive.len();
        let mut removed: BTreeMap<String, usize> = BTreeMap::new();
        let mut replaced = 0;
        match step {
            Step::Align {
                dedup,
                near_bits,
                max_caption_share,
                min_words,
                max_words,
            } => {
                if *dedup != Dedup::Off {
                    let mut seen: HashMap<u64, ()> = HashMap::with_capacity(alive.len());
                    alive.retain(|&i| seen.insert(entries[i].pixels, ()).is_none());
                    removed.insert("exact_duplicate".into(), input - alive.len());
                }
                if *dedup == Dedup::Near {
                    let n = alive.len();
                    let index = HashIndex::new(
                        alive.iter().map(|&i| entries[i].phash).collect(),
                        *near_bits,
                    );
                    let mut keep = vec![false; n];
                    for pos in 0..n {
                        let h = entries[alive[pos]].phash;
                        keep[pos] = !index
                            .within(h)
                            .into_iter()
                            .any(|j| (j as usize) < pos && keep[j as usize]);
                    }
                    let mut pos = 0;
                    alive.retain(|_| {
                        pos += 1;
                        keep[pos - 1]
                    });
                    removed.insert("near_duplicate".into(), n - alive.len());
                }
                if *max_caption_share > 0 {
                    let mut share: HashMap<String, usize> = HashMap::new();
                    for &i in &alive {
                        *share.entry(normalise_words(&captions[i])).or_default() += 1;
                    }
                    let n = alive.len();
                    alive.retain(|&i| share[&normalise_words(&captions[i])] <= *max_caption_share);
                    removed.insert("caption_shared".into(), n - alive.len());
                }
                let (mut short, mut long) = (0, 0);
                alive.retain(|&i| {
                    let words = captions[i].split_whitespace().count();
                    short += usize::from(words < *min_words);
                    long += usize::from(words > *max_words);
                    (*min_words..=*max_words).contains(&words)
                });
                removed.insert("caption_too_short".into(), short);
                removed.insert("caption_too_long".into(), long);
            }
            Step::Noise { fraction, seed } => {
                let mut order: Vec<(u64, usize)> = alive
                    .iter()
                    .map(|&i| (crate::prepare::stable_hash(*seed, &entries[i].key), i))
                    .collect();
                order.sort_unstable();
                let chosen: Vec<usize> = order
                    .iter()
                    .take((fraction * alive.len() as f64).round() as usize)
                    .map(|&(_, i)| i)
                    .collect();
                if chosen.len() >= 2 {
                    let old: Vec<String> = chosen.iter().map(|&i| captions[i].clone()).collect();
                    let origin: Vec<usize> = chosen
                        .iter()
                        .map(|&i| caption_from[i].unwrap_or(i))
                        .collect();
                    for (k, &i) in chosen.iter().enumerate() {
                        let next = (k + 1) % chosen.len();
                        captions[i] = old[next].clone();
                        caption_from[i] = Some(origin[next]);
                    }
                    replaced = chosen.len();
                }
            }
        }
        reports.push(StepReport {
            step: step.to_string(),
            input,
            kept: alive.len(),
            removed,
            captions_replaced: replaced,
            seconds: t.elapsed().as_secs_f64(),
        });
    }
    let after = counts(entries, &alive, &captions);
    let keys: Vec<String> = alive.iter().map(|&i| entries[i].key.clone()).collect();
    let caption_from = alive
        .iter()
        .filter_map(|&i| {
            caption_from[i]
                .filter(|&j| j != i)
                .map(|j| (entries[i].key.clone(), entries[j].key.clone()))
        })
        .collect();
    Subset {
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
    let path = subset_path(&pool.dir, curation);
    if path.is_file() {
        let subset = load_subset(&path, pool, curation)?;
        return Ok((subset, path, false));
    }
    let subset = curate_pool(pool, curation);
    save_subset(pool, &subset, &path)?;
    Ok((subset, path, true))
}

/// Writes a subset made by [`curate_pool`] to `path` (atomically).
pub fn save_subset(pool: &Pool, subset: &Subset, path: &Path) -> Result<(), DataError> {
    let json = serde_json::to_vec_pretty(subset).map_err(|e| DataError::Format {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    crate::prepare::create_dir(&pool.dir.join(SUBSETS_DIR))?;
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
    /// that noise gave them.
    pub fn key_filter(&self, pool: &Pool) -> Result<Arc<KeyFilter>, DataError> {
        let by_key: HashMap<&str, &PoolEntry> =
            pool.entries.iter().map(|e| (e.key.as_str(), e)).collect();
        let mut keep = HashMap::with_capacity(self.keys.len());
        for key in &self.keys {
            if !by_key.contains_key(key.as_str()) {
                return Err(DataError::Curation {
                    spec: self.curation.clone(),
                    detail: format!("key {key} is not in the pool at {}", pool.dir.display()),
                });
            }
            let caption = match self.caption_from.get(key) {
                Some(from) => Some(
                    by_key
                        .get(from.as_str())
                        .map(|e| e.caption.clone())
                        .ok_or_else(|| DataError::Curation {
                            spec: self.curation.clone(),
                            detail: format!("caption source {from} is not in the pool"),
                        })?,
                ),
                None => None,
            };
            keep.insert(key.clone(), caption);
        }
        Ok(Arc::new(KeyFilter::new(keep)))
    }

    /// The training captions of this subset (for a tokenizer trained on them).
    pub fn captions(&self, pool: &Pool) -> Vec<String> {
        let by_key: HashMap<&str, &PoolEntry> =
            pool.entries.iter().map(|e| (e.key.as_str(), e)).collect();
        self.keys
            .iter()
            .filter_map(|k| {
                let from = self.caption_from.get(k).unwrap_or(k);
                by_key
                    .get(from.as_str())
                    .map(|e| e.caption.trim().to_owned())
            })
            .collect()
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
    /// The curation: `op[:key=value,...]` steps joined by `+` (operators: none, align, noise;
    /// see the module documentation), e.g. `align:min_words=2+noise:fraction=0.3`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curations_parse_to_a_canonical_form_with_every_parameter() {
        let c: Curation = "align".parse().unwrap();
        assert_eq!(
            c.to_string(),
            "align:dedup=near,near_bits=4,max_caption_share=10,min_words=3,max_words=20"
        );
        let same: Curation = " align : min_words=3 , dedup=near ".parse().unwrap();
        assert_eq!(same, c);
        assert_eq!(same.hash(), c.hash());
        let chain: Curation = "none+align:min_words=1+noise:fraction=0.5".parse().unwrap();
        assert_eq!(chain.steps.len(), 2);
        assert_eq!(chain.short_name(), "align+noise");
        assert!(chain.to_string().ends_with("+noise:fraction=0.5,seed=0"));
        assert_eq!(chain.to_string().parse::<Curation>().unwrap(), chain);
        assert!("none".parse::<Curation>().unwrap().is_none());
    }

    #[test]
    fn unknown_operators_parameters_and_values_are_named() {
        let err = |s: &str| s.parse::<Curation>().unwrap_err().to_string();
        assert!(err("metaclip").contains("unknown operator \"metaclip\""));
        assert!(err("align:k=3").contains("align has no parameter \"k\""));
        assert!(err("noise:fraction=1.5").contains("fraction=1.5"));
        assert!(err("align:min_words=-1").contains("min_words=-1"));
        assert!(err("align:min_words=5,max_words=2").contains("below"));
        assert!(err("align:dedup=fuzzy").contains("dedup=fuzzy"));
        assert!(err("align+").contains("empty step"));
        assert!(err("align:near_bits=40").contains("near_bits=40"));
    }
}
