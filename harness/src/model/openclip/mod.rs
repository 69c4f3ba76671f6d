//! open_clip interoperability: its state dicts read into clipscale's [`Clip`] and clipscale's
//! models written as open_clip state dicts, by one explicit key map ([`entries`]).
//!
//! The model is open_clip's architecture (`CLIP` with a `VisionTransformer` and a text
//! transformer), so every open_clip parameter is one of ours; the layouts differ in three ways,
//! each handled by the map and nowhere else:
//! - dense weights: PyTorch's `nn.Linear` and `nn.MultiheadAttention` store [out, in], ours are
//!   [in, out] (transposed); q, k and v are packed in one `in_proj_weight` on both sides, in the
//!   same order;
//! - `visual.proj` and `text_projection` are matrices that open_clip multiplies in directly
//!   (`x @ proj`): the same [in, out] layout as ours, not transposed;
//! - `logit_scale` (and SigLIP's `logit_bias`) are 0-d in open_clip, [1] here.
//!
//! The LayerNorms' `weight`/`bias` are our `gamma`/`beta`. open_clip's text `attn_mask` buffer
//! is not a parameter (2.24 does not save it); a causal mask of the right size is accepted and
//! ignored.
//!
//! Files are read through burn's `burn-store` ([`read`]); open_clip's files are PyTorch pickles
//! (`torch.save`, `.pt` / `.bin`, possibly inside a `state_dict` and with DDP's `module.`
//! prefixes) or safetensors. Nothing half-loaded runs: every key is checked before any is used,
//! and a missing, unexpected or mis-shaped key is one error that lists them all.

pub mod read;
pub mod write;

use std::collections::BTreeSet;
use std::path::PathBuf;

use burn::module::Param;
use burn::nn::LayerNorm;
use burn::prelude::*;
use thiserror::Error;

use super::block::Transformer;
use super::{Clip, ClipConfig};

pub use read::{StateDict, read_state_dict};
pub use write::{model_config_json, write_state_dict};

#[derive(Debug, Error)]
pub enum OpenClipError {
    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error(
        "{path} does not fit model {model}: {}; nothing was loaded (is --model the architecture the checkpoint was trained as?)",
        key_problems(.missing, .unexpected, .misshaped)
    )]
    Keys {
        path: PathBuf,
        model: String,
        missing: Vec<String>,
        unexpected: Vec<String>,
        /// (key, the checkpoint's shape, the model's shape)
        misshaped: Vec<(String, Vec<usize>, Vec<usize>)>,
    },
}

fn key_problems(
    missing: &[String],
    unexpected: &[String],
    misshaped: &[(String, Vec<usize>, Vec<usize>)],
) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("{} missing ({})", missing.len(), list(missing)));
    }
    if !unexpected.is_empty() {
        parts.push(format!(
            "{} unexpected ({})",
            unexpected.len(),
            list(unexpected)
        ));
    }
    if !misshaped.is_empty() {
        let shown: Vec<String> = misshaped
            .iter()
            .map(|(k, found, want)| format!("{k} is {found:?}, the model's is {want:?}"))
            .collect();
        parts.push(format!("{} mis-shaped ({})", misshaped.len(), list(&shown)));
    }
    parts.join("; ")
}

/// The first few items of a list, and how many more.
fn list(items: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut s = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(", and {} more", items.len() - SHOWN));
    }
    s
}

/// How a parameter's values go from open_clip's layout to ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The same shape and layout.
    Copy,
    /// A dense weight: open_clip's [out, in] is our [in, out].
    Transpose,
    /// A scalar: 0-d in open_clip, [1] here.
    Scalar,
}

/// One of our parameters, by rank.
pub enum Slot<'a, B: Backend> {
    One(&'a mut Param<Tensor<B, 1>>),
    Two(&'a mut Param<Tensor<B, 2>>),
    Four(&'a mut Param<Tensor<B, 4>>),
}

/// One row of the key map: open_clip's key, our parameter, and the layout change.
pub struct Entry<'a, B: Backend> {
    pub key: String,
    pub slot: Slot<'a, B>,
    pub op: Op,
}

impl<B: Backend> Entry<'_, B> {
    /// The parameter's shape as open_clip holds it.
    pub fn open_clip_shape(&self) -> Vec<usize> {
        let ours = match &self.slot {
            Slot::One(p) => p.dims().to_vec(),
            Slot::Two(p) => p.dims().to_vec(),
            Slot::Four(p) => p.dims().to_vec(),
        };
        match self.op {
            Op::Copy => ours,
            Op::Transpose => ours.into_iter().rev().collect(),
            Op::Scalar => Vec::new(),
        }
    }

    /// The values in open_clip's layout (row-major in [`Entry::open_clip_shape`]).
    pub fn open_clip_values(&self) -> Vec<f32> {
        let data = match (&self.slot, self.op) {
            (Slot::Two(p), Op::Transpose) => p.val().transpose().into_data(),
            (Slot::One(p), _) => p.val().into_data(),
            (Slot::Two(p), _) => p.val().into_data(),
            (Slot::Four(p), _) => p.val().into_data(),
        };
        data.convert::<f32>().to_vec::<f32>().unwrap_or_default()
    }

    /// Sets the parameter from values in open_clip's layout (shape already checked).
    fn set(&mut self, values: Vec<f32>, device: &B::Device) {
        let shape = self.open_clip_shape();
        match &mut self.slot {
            Slot::One(p) => {
                let n = values.len();
                **p = Param::from_tensor(Tensor::from_data(TensorData::new(values, [n]), device));
            }
            Slot::Two(p) => {
                let t = Tensor::<B, 2>::from_data(
                    TensorData::new(values, [shape[0], shape[1]]),
                    device,
                );
                let t = if self.op == Op::Transpose {
                    t.transpose()
                } else {
                    t
                };
                **p = Param::from_tensor(t);
            }
            Slot::Four(p) => {
                let t = Tensor::<B, 4>::from_data(
                    TensorData::new(values, [shape[0], shape[1], shape[2], shape[3]]),
                    device,
                );
                **p = Param::from_tensor(t);
            }
        }
    }
}

/// The key map of `model`: every parameter with open_clip's key for it, in open_clip's order.
pub fn entries<B: Backend>(model: &mut Clip<B>) -> Vec<Entry<'_, B>> {
    let mut out = Vec::new();
    fn push<'a, B: Backend>(out: &mut Vec<Entry<'a, B>>, key: &str, slot: Slot<'a, B>, op: Op) {
        out.push(Entry {
            key: key.to_string(),
            slot,
            op,
        });
    }
    let Clip {
        visual,
        text,
        logit_scale,
        logit_bias,
    } = model;
    push(
        &mut out,
        "visual.conv1.weight",
        Slot::Four(&mut visual.conv1),
        Op::Copy,
    );
    push(
        &mut out,
        "visual.class_embedding",
        Slot::One(&mut visual.class_embedding),
        Op::Copy,
    );
    push(
        &mut out,
        "visual.positional_embedding",
        Slot::Two(&mut visual.positional_embedding),
        Op::Copy,
    );
    layer_norm(&mut out, "visual.ln_pre", &mut visual.ln_pre);
    blocks(
        &mut out,
        "visual.transformer.resblocks",
        &mut visual.transformer,
    );
    layer_norm(&mut out, "visual.ln_post", &mut visual.ln_post);
    push(
        &mut out,
        "visual.proj",
        Slot::Two(&mut visual.proj),
        Op::Copy,
    );
    push(
        &mut out,
        "token_embedding.weight",
        Slot::Two(&mut text.token_embedding),
        Op::Copy,
    );
    push(
        &mut out,
        "positional_embedding",
        Slot::Two(&mut text.positional_embedding),
        Op::Copy,
    );
    blocks(&mut out, "transformer.resblocks", &mut text.transformer);
    layer_norm(&mut out, "ln_final", &mut text.ln_final);
    push(
        &mut out,
        "text_projection",
        Slot::Two(&mut text.text_projection),
        Op::Copy,
    );
    push(&mut out, "logit_scale", Slot::One(logit_scale), Op::Scalar);
    if let Some(bias) = logit_bias {
        push(&mut out, "logit_bias", Slot::One(bias), Op::Scalar);
    }
    out
}

fn layer_norm<'a, B: Backend>(out: &mut Vec<Entry<'a, B>>, prefix: &str, ln: &'a mut LayerNorm<B>) {
    out.push(Entry {
        key: format!("{prefix}.weight"),
        slot: Slot::One(&mut ln.gamma),
        op: Op::Copy,
    });
    if let Some(beta) = &mut ln.beta {
        out.push(Entry {
            key: format!("{prefix}.bias"),
            slot: Slot::One(beta),
            op: Op::Copy,
        });
    }
}

fn blocks<'a, B: Backend>(out: &mut Vec<Entry<'a, B>>, prefix: &str, t: &'a mut Transformer<B>) {
    for (i, b) in t.blocks.iter_mut().enumerate() {
        let p = format!("{prefix}.{i}");
        layer_norm(out, &format!("{p}.ln_1"), &mut b.ln_1);
        for (name, dense) in [
            ("attn.in_proj", &mut b.attn_in),
            ("attn.out_proj", &mut b.attn_out),
            ("mlp.c_fc", &mut b.mlp_fc),
            ("mlp.c_proj", &mut b.mlp_proj),
        ] {
            // nn.MultiheadAttention names its packed projection in_proj_weight / in_proj_bias
            let (w, bias) = if name == "attn.in_proj" {
                (format!("{p}.{name}_weight"), format!("{p}.{name}_bias"))
            } else {
                (format!("{p}.{name}.weight"), format!("{p}.{name}.bias"))
            };
            out.push(Entry {
                key: w,
                slot: Slot::Two(&mut dense.weight),
                op: Op::Transpose,
            });
            if let Some(b) = &mut dense.bias {
                out.push(Entry {
                    key: bias,
                    slot: Slot::One(b),
                    op: Op::Copy,
                });
            }
        }
        layer_norm(out, &format!("{p}.ln_2"), &mut b.ln_2);
    }
}

/// `model` with every parameter taken from `sd` (read from `path`, for messages), checked first:
/// a missing, unexpected or mis-shaped key fails the whole load.
pub fn load_state_dict<B: Backend>(
    mut model: Clip<B>,
    config: &ClipConfig,
    sd: StateDict,
    path: &std::path::Path,
    device: &B::Device,
) -> Result<Clip<B>, OpenClipError> {
    let mut tensors = sd.tensors;
    // open_clip's causal mask buffer, when a file has it, is no parameter
    let context = config.text.context_length;
    if tensors
        .get("attn_mask")
        .is_some_and(|(shape, _)| shape == &[context, context])
    {
        tensors.remove("attn_mask");
    }
    let mut entries = entries(&mut model);
    let (mut missing, mut misshaped) = (Vec::new(), Vec::new());
    for e in &entries {
        match tensors.get(&e.key) {
            None => missing.push(e.key.clone()),
            Some((shape, _)) if *shape != e.open_clip_shape() => {
                misshaped.push((e.key.clone(), shape.clone(), e.open_clip_shape()));
            }
            Some(_) => {}
        }
    }
    let known: BTreeSet<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    let unexpected: Vec<String> = tensors
        .keys()
        .filter(|k| !known.contains(k.as_str()))
        .cloned()
        .collect();
    if !(missing.is_empty() && unexpected.is_empty() && misshaped.is_empty()) {
        return Err(OpenClipError::Keys {
            path: path.to_path_buf(),
            model: config.name.clone(),
            missing,
            unexpected,
            misshaped,
        });
    }
    for e in &mut entries {
        let (_, values) = tensors.remove(&e.key).expect("checked above");
        e.set(values, device);
    }
    drop(entries);
    Ok(model)
}

/// `model`'s parameters as open_clip's state dict: (key, shape, row-major values).
pub fn state_dict<B: Backend>(model: &Clip<B>) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut model = model.clone();
    entries(&mut model)
        .iter()
        .map(|e| (e.key.clone(), e.open_clip_shape(), e.open_clip_values()))
        .collect()
}
