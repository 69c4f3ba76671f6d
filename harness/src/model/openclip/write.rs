//! Writing clipscale's model as open_clip's state dict (safetensors, f32, open_clip's keys and
//! layouts from the key map) and the model config JSON that open_clip's `create_model` takes
//! (registered with `open_clip.add_model_config`).

use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};

use super::OpenClipError;
use crate::model::ClipConfig;

/// Writes `tensors` ((key, shape, values) as [`super::state_dict`] gives them) to `path` as
/// safetensors, atomically.
pub fn write_state_dict(
    path: &Path,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
) -> Result<(), OpenClipError> {
    let err = |message: String| OpenClipError::Write {
        path: path.to_path_buf(),
        message,
    };
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((key, shape, _), b)| {
            TensorView::new(Dtype::F32, shape.clone(), b)
                .map(|view| (key.clone(), view))
                .map_err(|e| err(format!("{key}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    let data = safetensors::serialize(views, Some(metadata)).map_err(|e| err(e.to_string()))?;
    clipscale_core::fs::write_atomic(path, &data).map_err(|e| err(e.to_string()))
}

/// open_clip's model config for `config` (`embed_dim`, `vision_cfg`, `text_cfg`, and
/// `init_logit_bias` for a SigLIP model), as `open_clip.add_model_config` reads it.
pub fn model_config_json(config: &ClipConfig, logit_bias: Option<f64>) -> serde_json::Value {
    let (v, t) = (&config.vision, &config.text);
    let mut json = serde_json::json!({
        "embed_dim": config.embed_dim,
        "quick_gelu": config.quick_gelu,
        "vision_cfg": {
            "image_size": v.image_size,
            "layers": v.layers,
            "width": v.width,
            "patch_size": v.patch_size,
            // open_clip derives the heads from the head width
            "head_width": v.width / v.heads,
            "mlp_ratio": v.mlp_ratio,
        },
        "text_cfg": {
            "context_length": t.context_length,
            "vocab_size": t.vocab_size,
            "width": t.width,
            "heads": t.heads,
            "layers": t.layers,
            "mlp_ratio": t.mlp_ratio,
        },
    });
    if let Some(b) = logit_bias {
        json["init_logit_bias"] = b.into();
    }
    json
}
