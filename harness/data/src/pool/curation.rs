//! The curation language: a chain of operators written `op[:key=value,...]`, steps joined by
//! `+` and applied left to right (`align+metaclip:t=500+klite`). Operators (what each does:
//! [`super::ops`]):
//!
//! - `none`: the raw pool (alone; within a chain it changes nothing and is dropped);
//! - `align`: ALIGN-style filters: `dedup=near|exact|off` (default near), `near_bits` (4),
//!   `max_caption_share` (10; 0 turns it off), `min_words` (3), `max_words` (20);
//! - `noise`: `fraction` (0.2) of the pairs get another pair's caption, drawn from `seed` (0);
//! - `metaclip`: MetaCLIP balancing with threshold `t` (default 100) and draws from `seed`;
//! - `dfn`: the top `fraction` (0.3) of pairs by the image-text similarity of the model of the
//!   trial folder `filter` (DFN's filter network; needs the `clipscale` binary, which has the
//!   models);
//! - `klite`: K-LITE enrichment of `fraction` (0.5) of the captions, chosen from `seed`.
//!
//! Filters that look at the data as it is (`align`, `metaclip`, `dfn`) belong before those that
//! change captions (`noise`, `klite`); the chain runs in the order written either way, and the
//! canonical form keeps it. The canonical form names every parameter, defaults included; it is
//! what specs record and what names the subset file. Paths given to `dfn` must not hold `,`,
//! `+` or `=`.

use std::collections::BTreeMap;

use super::phash::MAX_BITS;
use crate::error::DataError;

/// MetaCLIP's default threshold on this pool (see the README for how t maps to size).
pub const DEFAULT_T: usize = 100;

/// The operators and their parameters, for messages.
pub const OPERATORS: &str = "none; align (dedup=near|exact|off, near_bits=0..12, max_caption_share=K (0: off), min_words=N, max_words=N); noise (fraction=0..1, seed=N); metaclip (t=N, seed=N); dfn (filter=TRIAL_FOLDER, fraction=0..1); klite (fraction=0..1, seed=N); steps joined by `+`, e.g. align:min_words=2+metaclip:t=500";

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
    /// MetaCLIP balancing ([`super::metaclip`]): entries seen more than `t` times capped.
    MetaClip {
        t: usize,
        seed: u64,
    },
    /// DFN filtering: the top `fraction` of pairs by a filter trial's image-text similarity.
    Dfn {
        filter: String,
        fraction: f64,
    },
    /// K-LITE enrichment ([`super::klite`]) of a `fraction` of the captions.
    Klite {
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
                    let fraction = unit(spec, "noise", "fraction", take("fraction"), 0.2)?;
                    let seed = number(spec, "noise", "seed", take("seed"), 0)? as u64;
                    Some(Step::Noise { fraction, seed })
                }
                "metaclip" => {
                    let t = number(spec, "metaclip", "t", take("t"), DEFAULT_T)?;
                    if t == 0 {
                        return Err(bad(spec, "metaclip: t=0 keeps nothing; t is at least 1"));
                    }
                    let seed = number(spec, "metaclip", "seed", take("seed"), 0)? as u64;
                    Some(Step::MetaClip { t, seed })
                }
                "dfn" => {
                    let filter = take("filter")
                        .filter(|f| !f.is_empty())
                        .ok_or_else(|| {
                            bad(
                                spec,
                                "dfn needs filter=TRIAL_FOLDER: the trial whose model scores the pairs",
                            )
                        })?
                        .to_owned();
                    let fraction = unit(spec, "dfn", "fraction", take("fraction"), 0.3)?;
                    if fraction == 0.0 {
                        return Err(bad(spec, "dfn: fraction=0 keeps nothing"));
                    }
                    Some(Step::Dfn { filter, fraction })
                }
                "klite" => {
                    let fraction = unit(spec, "klite", "fraction", take("fraction"), 0.5)?;
                    let seed = number(spec, "klite", "seed", take("seed"), 0)? as u64;
                    Some(Step::Klite { fraction, seed })
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

fn unit(
    spec: &str,
    op: &str,
    key: &str,
    value: Option<&str>,
    default: f64,
) -> Result<f64, DataError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|f| (0.0..=1.0).contains(f))
            .ok_or_else(|| bad(spec, format!("{op}: {key}={v} is not a number in [0, 1]"))),
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
            Step::MetaClip { t, seed } => write!(f, "metaclip:t={t},seed={seed}"),
            Step::Dfn { filter, fraction } => write!(f, "dfn:filter={filter},fraction={fraction}"),
            Step::Klite { fraction, seed } => write!(f, "klite:fraction={fraction},seed={seed}"),
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
                Step::MetaClip { .. } => "metaclip",
                Step::Dfn { .. } => "dfn",
                Step::Klite { .. } => "klite",
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
        let all: Curation = "align+metaclip+dfn:filter=runs/f+klite:fraction=1"
            .parse()
            .unwrap();
        assert_eq!(
            all.to_string(),
            "align:dedup=near,near_bits=4,max_caption_share=10,min_words=3,max_words=20+metaclip:t=100,seed=0+dfn:filter=runs/f,fraction=0.3+klite:fraction=1,seed=0"
        );
        assert_eq!(all.short_name(), "align+metaclip+dfn+klite");
    }

    #[test]
    fn unknown_operators_parameters_and_values_are_named() {
        let err = |s: &str| s.parse::<Curation>().unwrap_err().to_string();
        assert!(err("siglip").contains("unknown operator \"siglip\""));
        assert!(err("align:k=3").contains("align has no parameter \"k\""));
        assert!(err("noise:fraction=1.5").contains("fraction=1.5"));
        assert!(err("align:min_words=-1").contains("min_words=-1"));
        assert!(err("align:min_words=5,max_words=2").contains("below"));
        assert!(err("align:dedup=fuzzy").contains("dedup=fuzzy"));
        assert!(err("align+").contains("empty step"));
        assert!(err("align:near_bits=40").contains("near_bits=40"));
        assert!(err("metaclip:t=0").contains("t=0"));
        assert!(err("dfn").contains("filter=TRIAL_FOLDER"));
        assert!(err("klite:fraction=2").contains("fraction=2"));
    }
}
