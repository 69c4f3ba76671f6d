//! The laws that can be fitted, described once: their names in records, their reported
//! parameters (and which are scales), and their predictions. The pipeline, the plots, the
//! classical intervals, the comparisons and the forecasts all read a law through [`Law`].

use super::{chinchilla, constrained, power, saturating, shifted};
use crate::error::{AnalysisError, Result};
use crate::select::Obs;

/// The laws that can be fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    Power,
    Saturating,
    /// E = a (C + b)^c + d, Nezhurina et al. 2025.
    Shifted,
    Chinchilla,
    /// Chinchilla's law in effective data D' (Muennighoff et al. 2023): repeated pairs are
    /// worth less than new ones.
    DataConstrained,
}

impl Law {
    pub fn name(&self) -> &'static str {
        match self {
            Law::Power => power::LAW,
            Law::Saturating => saturating::LAW,
            Law::Shifted => shifted::LAW,
            Law::Chinchilla => chinchilla::LAW,
            Law::DataConstrained => constrained::LAW,
        }
    }

    /// The law of a record's `law` field.
    pub fn from_name(name: &str) -> Result<Law> {
        [
            Law::Power,
            Law::Saturating,
            Law::Shifted,
            Law::Chinchilla,
            Law::DataConstrained,
        ]
        .into_iter()
        .find(|l| l.name() == name)
        .ok_or_else(|| AnalysisError::arg("fit", format!("unknown law {name:?} in record")))
    }

    /// Reported parameters, in record order, and whether each is a scale (positive, its
    /// uncertainty taken on a log scale).
    pub fn parameters(&self) -> &'static [(&'static str, bool)] {
        match self {
            Law::Power => &[("beta", true), ("alpha", false)],
            Law::Saturating => &[("E_inf", false), ("beta", true), ("alpha", false)],
            Law::Shifted => &[("a", true), ("b", false), ("c", false), ("d", false)],
            Law::Chinchilla => &[
                ("E", false),
                ("A", true),
                ("B", true),
                ("alpha", false),
                ("beta", false),
            ],
            Law::DataConstrained => &[
                ("E", false),
                ("A", true),
                ("B", true),
                ("alpha", false),
                ("beta", false),
                ("R_star", true),
            ],
        }
    }

    /// Whether the law is a function of compute alone (else of N and D, and for the
    /// data-constrained law of the unique pairs U).
    pub fn of_compute(&self) -> bool {
        !matches!(self, Law::Chinchilla | Law::DataConstrained)
    }

    /// Whether the law needs the unique pairs each point's data held.
    pub fn needs_unique(&self) -> bool {
        *self == Law::DataConstrained
    }

    /// The law's prediction with parameters `p` (record order) at compute `c`, or at (n, d)
    /// for Chinchilla, or at (n, d) with `u` unique pairs for the data-constrained law (NaN
    /// where a law does not read it).
    pub fn predict(&self, p: &[f64], c: f64, n: f64, d: f64, u: f64) -> f64 {
        match self {
            Law::Power => p[0] * c.powf(p[1]),
            Law::Saturating => p[0] + p[1] * c.powf(p[2]),
            Law::Shifted => shifted::predict(p, c),
            Law::Chinchilla => p[0] + p[1] / n.powf(p[3]) + p[2] / d.powf(p[4]),
            Law::DataConstrained => {
                let d = constrained::effective_data(d, u, p[5]);
                p[0] + p[1] / n.powf(p[3]) + p[2] / d.powf(p[4])
            }
        }
    }

    /// Distinct points among `obs`: distinct computes, or distinct (N, D) for Chinchilla, or
    /// distinct (N, D, U) for the data-constrained law.
    pub(crate) fn distinct(&self, obs: &[&Obs]) -> usize {
        let mut keys: Vec<(u64, u64, u64)> = obs
            .iter()
            .map(|o| {
                if self.of_compute() {
                    (o.x.to_bits(), 0, 0)
                } else if self.needs_unique() {
                    (o.n.to_bits(), o.d.to_bits(), o.u.to_bits())
                } else {
                    (o.n.to_bits(), o.d.to_bits(), 0)
                }
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    }
}
