//! Evaluation without autodiff: zero-shot classification as open_clip does it (prompt
//! ensembles averaged per class), a validation loss at a fixed evaluation batch size, and
//! image-text retrieval; the evaluation sets ([`sets`]) and the engine that runs them for
//! training and for `clipscale eval` and records the results ([`engine`]); a trial's model as
//! DFN's filter, scoring a pool's pairs ([`score`]).

pub mod engine;
pub mod retrieval;
pub mod score;
pub mod sets;
pub mod spec;
pub mod zeroshot;

pub use zeroshot::{ClassifierMetrics, ValidationLoss, ZeroShotClassifier, validation_loss};
