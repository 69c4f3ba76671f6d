//! clipscale-analysis: the burn-free half of clipscale. It holds the trial folder ([`trial`])
//! and its typed records ([`records`]), `collect` into one tidy table ([`collect`], [`table`], [`import`]),
//! and the scaling-law fits ([`fit`], [`pipeline`]): the power law on a binned frontier of
//! Cherti et al. 2023 ("Reproducible scaling laws for contrastive language-image learning"), a
//! saturating law, and Chinchilla approach 3 (Hoffmann et al. 2022, as replicated by Besiroglu
//! et al. 2024), with bootstrap intervals and extrapolation checks; the scaling plots
//! ([`plot`], PNG and SVG with a bundled font); plus benchmark recording ([`bench`]) and the
//! command-line layer ([`cli`]) the main binary reuses.

pub mod bench;
pub mod branching;
pub mod cli;
pub mod collect;
pub mod compare;
pub mod error;
pub mod fit;
pub mod forecast;
pub mod import;
pub mod pipeline;
pub mod plot;
pub mod records;
pub mod report;
pub mod select;
pub mod sweep;
pub mod table;
pub mod trial;

pub use error::{AnalysisError, Result};
