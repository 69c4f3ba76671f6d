//! clipscale: a scaling-law harness for CLIP on burn. This crate holds everything that touches
//! burn: the model, its FLOP accounting, backends, training, evaluation and sweeps.
//! Records, fits and plots live in the burn-free `clipscale-analysis`; data sources and
//! tokenizers in the burn-free `clipscale-data`.
#![recursion_limit = "256"]

pub mod backend;
pub mod batch;
pub mod bench;
pub mod check;
pub mod cli;
pub mod eval;
pub mod flops;
pub mod model;
pub mod provenance;
pub mod signals;
pub mod sweep;
pub mod train;

pub use burn;
