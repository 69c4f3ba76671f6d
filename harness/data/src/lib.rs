//! clipscale-data: data sources and tokenizers, free of burn.
//!
//! - [`Synthetic`]: the default data set, an endless stream of procedurally rendered shape
//!   scenes with paraphrased captions and a held-out set of (colour, shape) pairs for
//!   zero-shot evaluation (design and difficulty knobs in [`synthetic`]).
//! - [`WordTokenizer`] behind the [`Tokenizer`] trait, for the synthetic captions.
//! - [`png`]: a minimal PNG encoder for looking at images.

pub mod attributes;
mod caption;
pub mod error;
mod lexicon;
pub mod png;
pub mod render;
mod rng;
pub mod scene;
mod shapes;
pub mod synthetic;
pub mod tokenizer;

pub use attributes::{Background, Colour, GradientDirection, Position, Shape, Size, Texture};
pub use error::DataError;
pub use render::{CLIP_MEAN, CLIP_STD, to_rgb8};
pub use scene::{HeldoutPairs, NUM_CLASSES, Scene, SceneObject, SceneOptions};
pub use synthetic::{MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, Sample, Synthetic, SyntheticConfig};
pub use tokenizer::{Encoded, Tokenizer, WordTokenizer, pre_tokenize};
