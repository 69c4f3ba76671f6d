//! Reading an open_clip state dict through burn-store: PyTorch pickles (`torch.save`'s zip
//! format and the legacy one) with [`burn_store::pytorch::PytorchReader`], safetensors with
//! [`burn_store::SafetensorsStore`]. A checkpoint that wraps the weights in `state_dict` (open_clip's
//! training checkpoints) is unwrapped, and DDP's `module.` prefix is stripped when every key has
//! it. Values are converted to f32 (checkpoints saved in half precision included).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use burn_store::{ModuleStore, SafetensorsStore, TensorSnapshot};

use super::OpenClipError;

/// A state dict: each key's shape and row-major f32 values.
#[derive(Debug, Clone, Default)]
pub struct StateDict {
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

/// The file's format, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `torch.save` since PyTorch 1.6: a zip archive.
    TorchZip,
    /// `torch.save(..., _use_new_zipfile_serialization=False)`: a pickle.
    TorchLegacy,
    Safetensors,
}

fn format_of(path: &Path) -> Result<Format, OpenClipError> {
    let err = |message: String| OpenClipError::Read {
        path: path.to_path_buf(),
        message,
    };
    let mut head = [0u8; 9];
    let mut file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let size = file.metadata().map_err(|e| err(e.to_string()))?.len();
    let n = file.read(&mut head).map_err(|e| err(e.to_string()))?;
    // safetensors: a little-endian u64 header length that fits the file, then the JSON header
    // (checked first: a header length's first byte can be a pickle's 0x80)
    let header = u64::from_le_bytes(head[..8].try_into().unwrap_or_default());
    match &head[..n] {
        [.., b'{'] if n == 9 && header + 8 <= size => Ok(Format::Safetensors),
        [b'P', b'K', ..] => Ok(Format::TorchZip),
        [0x80, ..] => Ok(Format::TorchLegacy),
        _ => Err(err(
            "neither a PyTorch checkpoint (torch.save) nor a safetensors file".into(),
        )),
    }
}

/// Reads the state dict in `path` (`.pt`, `.bin` or `.safetensors`, told apart by content).
pub fn read_state_dict(path: &Path) -> Result<StateDict, OpenClipError> {
    let err = |message: String| OpenClipError::Read {
        path: path.to_path_buf(),
        message,
    };
    let snapshots: BTreeMap<String, TensorSnapshot> = match format_of(path)? {
        Format::TorchZip | Format::TorchLegacy => burn_store::pytorch::PytorchReader::new(path)
            .map_err(|e| err(format!("reading it as a PyTorch checkpoint: {e}")))?
            .into_tensors()
            .into_iter()
            .collect(),
        Format::Safetensors => {
            let mut store = SafetensorsStore::from_file(path);
            store
                .get_all_snapshots()
                .map_err(|e| err(format!("reading it as safetensors: {e}")))?
                .clone()
        }
    };
    let keys = unwrap_keys(snapshots.keys().cloned().collect());
    let mut tensors = BTreeMap::new();
    for (original, key) in keys {
        let snap = &snapshots[&original];
        let data = snap
            .to_data()
            .map_err(|e| err(format!("{original}: {e}")))?;
        let shape = data.shape.to_vec();
        let values = data
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| err(format!("{original}: {e:?}")))?;
        tensors.insert(key, (shape, values));
    }
    if tensors.is_empty() {
        return Err(err("holds no tensors".into()));
    }
    Ok(StateDict { tensors })
}

/// (key in the file, open_clip's key) for each tensor worth reading: inside `state_dict` when
/// the file has one (the rest, such as an optimiser's state, is left), without `module.` when
/// every key has it.
fn unwrap_keys(keys: Vec<String>) -> Vec<(String, String)> {
    let wrapped: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("state_dict."))
        .collect();
    let mut pairs: Vec<(String, String)> = if wrapped.is_empty() {
        keys.iter().map(|k| (k.clone(), k.clone())).collect()
    } else {
        wrapped
            .into_iter()
            .map(|k| (k.clone(), k["state_dict.".len()..].to_string()))
            .collect()
    };
    if pairs.iter().all(|(_, k)| k.starts_with("module.")) {
        for (_, k) in &mut pairs {
            *k = k["module.".len()..].to_string();
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_training_checkpoint_is_unwrapped_and_ddp_prefixes_stripped() {
        let keys = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let got = unwrap_keys(keys(&[
            "epoch",
            "optimizer.state.0.exp_avg",
            "state_dict.module.logit_scale",
            "state_dict.module.visual.proj",
        ]));
        let names: Vec<&str> = got.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(names, ["logit_scale", "visual.proj"]);
        assert_eq!(got[0].0, "state_dict.module.logit_scale");
        // a prefix on some keys only is left as it is (and the key map then names them)
        let got = unwrap_keys(keys(&["module.logit_scale", "visual.proj"]));
        assert_eq!(got[0].1, "module.logit_scale");
    }
}
