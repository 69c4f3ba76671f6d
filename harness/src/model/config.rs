//! Model configuration: the dimensions of a CLIP model as open_clip's model configs give them
//! (`src/open_clip/model_configs/*.json`), validated before any tensor is built.
//!
//! Sizes are data: the ladder lives in `sweeps/models.toml` (see [`crate::model::ladder`]).

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A model configuration that cannot be built, with the offending field and value.
#[derive(Debug, Error, PartialEq)]
#[error("model `{model}`: {field} = {value} is invalid: {reason}")]
pub struct ConfigError {
    pub model: String,
    pub field: &'static str,
    pub value: String,
    pub reason: String,
}

/// A whole CLIP model: image tower, text tower, shared embedding size.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClipConfig {
    /// Name as in open_clip where the dimensions match (ViT-B-32), else one that says the size.
    pub name: String,
    /// Dimension of the joint embedding space both towers project into.
    pub embed_dim: usize,
    /// QuickGELU (x * sigmoid(1.702 x), OpenAI's models) instead of exact GELU in the MLPs.
    #[serde(default)]
    pub quick_gelu: bool,
    pub vision: VisionConfig,
    pub text: TextConfig,
}

/// The ViT image tower.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VisionConfig {
    /// Square input images of this many pixels a side.
    pub image_size: usize,
    /// Square patches of this many pixels a side (the stride of the patch convolution).
    pub patch_size: usize,
    pub width: usize,
    pub layers: usize,
    pub heads: usize,
    /// MLP hidden width = floor(width * mlp_ratio), as open_clip computes it.
    pub mlp_ratio: f64,
}

/// The causal transformer text tower.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TextConfig {
    /// Tokens per caption, start and end tokens included.
    pub context_length: usize,
    /// Default vocabulary size; a trial replaces it with its tokenizer's when it is resolved.
    pub vocab_size: usize,
    pub width: usize,
    pub layers: usize,
    pub heads: usize,
    pub mlp_ratio: f64,
}

/// The dimensions of a transformer stack, shared by both towers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StackDims {
    pub width: usize,
    pub layers: usize,
    pub heads: usize,
    pub mlp_width: usize,
    /// Sequence length the stack runs on.
    pub tokens: usize,
}

fn mlp_width(width: usize, ratio: f64) -> usize {
    (width as f64 * ratio) as usize
}

impl VisionConfig {
    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
    /// Patches plus the class token.
    pub fn tokens(&self) -> usize {
        self.grid() * self.grid() + 1
    }
    pub fn mlp_width(&self) -> usize {
        mlp_width(self.width, self.mlp_ratio)
    }
    pub fn stack(&self) -> StackDims {
        StackDims {
            width: self.width,
            layers: self.layers,
            heads: self.heads,
            mlp_width: self.mlp_width(),
            tokens: self.tokens(),
        }
    }
}

impl TextConfig {
    pub fn mlp_width(&self) -> usize {
        mlp_width(self.width, self.mlp_ratio)
    }
    pub fn stack(&self) -> StackDims {
        StackDims {
            width: self.width,
            layers: self.layers,
            heads: self.heads,
            mlp_width: self.mlp_width(),
            tokens: self.context_length,
        }
    }
}

impl ClipConfig {
    /// The same model with another vocabulary (a trial takes it from its tokenizer).
    pub fn with_vocab_size(mut self, vocab_size: usize) -> Self {
        self.text.vocab_size = vocab_size;
        self
    }

    /// Checks every dimension, so that burn never sees a shape it would panic on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field: &'static str, value: String, reason: &str| ConfigError {
            model: self.name.clone(),
            field,
            value,
            reason: reason.to_string(),
        };
        if self.name.trim().is_empty() {
            return Err(err(
                "name",
                format!("{:?}", self.name),
                "a model needs a name",
            ));
        }
        if self.embed_dim == 0 {
            return Err(err("embed_dim", "0".into(), "must be at least 1"));
        }
        let v = &self.vision;
        let positive: [(&'static str, usize); 4] = [
            ("vision.image_size", v.image_size),
            ("vision.patch_size", v.patch_size),
            ("vision.width", v.width),
            ("vision.heads", v.heads),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(err(field, "0".into(), "must be at least 1"));
            }
        }
        if v.layers == 0 {
            return Err(err(
                "vision.layers",
                "0".into(),
                "a tower needs at least one layer",
            ));
        }
        if !v.image_size.is_multiple_of(v.patch_size) {
            return Err(err(
                "vision.image_size",
                v.image_size.to_string(),
                &format!("must be divisible by vision.patch_size = {}", v.patch_size),
            ));
        }
        if !v.width.is_multiple_of(v.heads) {
            return Err(err(
                "vision.width",
                v.width.to_string(),
                &format!("must be divisible by vision.heads = {}", v.heads),
            ));
        }
        if !(v.mlp_ratio.is_finite() && v.mlp_width() >= 1) {
            return Err(err(
                "vision.mlp_ratio",
                v.mlp_ratio.to_string(),
                "must give an MLP width of at least 1",
            ));
        }
        let t = &self.text;
        let positive: [(&'static str, usize); 2] =
            [("text.width", t.width), ("text.heads", t.heads)];
        for (field, value) in positive {
            if value == 0 {
                return Err(err(field, "0".into(), "must be at least 1"));
            }
        }
        if t.layers == 0 {
            return Err(err(
                "text.layers",
                "0".into(),
                "a tower needs at least one layer",
            ));
        }
        if t.context_length < 2 {
            return Err(err(
                "text.context_length",
                t.context_length.to_string(),
                "must hold at least the start and end tokens (2)",
            ));
        }
        if t.vocab_size < 4 {
            return Err(err(
                "text.vocab_size",
                t.vocab_size.to_string(),
                "must be at least 4 (padding, start, end, unknown)",
            ));
        }
        if !t.width.is_multiple_of(t.heads) {
            return Err(err(
                "text.width",
                t.width.to_string(),
                &format!("must be divisible by text.heads = {}", t.heads),
            ));
        }
        if !(t.mlp_ratio.is_finite() && t.mlp_width() >= 1) {
            return Err(err(
                "text.mlp_ratio",
                t.mlp_ratio.to_string(),
                "must give an MLP width of at least 1",
            ));
        }
        Ok(())
    }
}
