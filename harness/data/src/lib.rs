//! clipscale-data: data sources and tokenizers, free of burn.
//!
//! - [`Synthetic`]: the default data set, an endless stream of procedurally rendered shape
//!   scenes with paraphrased captions and a held-out set of (colour, shape) pairs for
//!   zero-shot evaluation (design and difficulty knobs in [`synthetic`]).
//! - [`WordTokenizer`] behind the [`Tokenizer`] trait, for the synthetic captions.
//! - [`png`]: a minimal PNG encoder for looking at images.
//! - Users' own data: [`WebDataset`] (tar shards as img2dataset and DataComp write them,
//!   brace patterns in [`shards`]) and [`CsvDataset`] (open_clip's CSV layout), both streamed
//!   by a deterministic, multi-threaded, resumable [`SampleStream`] ([`stream`]) through
//!   open_clip's image transforms ([`transform`]); [`bench_decode`] measures decoding speed.

pub mod attributes;
pub mod bench;
pub mod bpe;
pub mod buffers;
mod caption;
pub mod csv_source;
pub mod error;
mod lexicon;
pub mod png;
pub mod pool;
pub mod prepare;
pub mod render;
mod rng;
pub mod scene;
mod shapes;
pub mod shards;
mod simd;
pub mod stream;
pub mod synthetic;
pub mod tarfile;
pub mod tokenizer;
pub mod transform;
pub mod webdataset;

pub use attributes::{Background, Colour, GradientDirection, Position, Shape, Size, Texture};
pub use bench::{BenchConfig, BenchFigure, bench_decode, write_bench_shards};
pub use bpe::{ClipBpe, clean_text, train_bpe};
pub use csv_source::{CsvDataset, CsvSpec};
pub use error::DataError;
pub use render::{CLIP_MEAN, CLIP_STD, to_rgb8};
pub use scene::{HeldoutPairs, NUM_CLASSES, Scene, SceneObject, SceneOptions};
pub use shards::expand_shards;
pub use stream::{
    Batch, DataStats, DecodedSample, PairSource, SampleStream, SkipCounts, SkipReason,
    StreamPosition, StreamStats,
};
pub use synthetic::{MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, Sample, Synthetic, SyntheticConfig};
pub use tokenizer::{Encoded, Tokenizer, WordTokenizer, pre_tokenize};
pub use transform::{Transform, decode_rgb};
pub use webdataset::{
    KeyFilter, SampleCount, ShardCaptions, ShardSpec, WebDataset, shard_captions,
};
