//! Evaluation without autodiff: zero-shot classification as open_clip does it (prompt
//! ensembles averaged per class), and a validation loss at a fixed evaluation batch size.

pub mod retrieval;
pub mod zeroshot;

pub use zeroshot::{ClassifierMetrics, ZeroShotClassifier, validation_loss};
