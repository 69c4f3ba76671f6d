//! `clipscale export --trial DIR --format open-clip --out FILE.safetensors`: the trial's newest
//! checkpoint as open_clip's state dict, and beside it (`FILE.json`) the model config that
//! `open_clip.add_model_config` registers for `create_model`.

use anyhow::{Context, Result, bail};
use clipscale::backend::{BackendInfo, BackendTask, DeviceSpec, dispatch};
use clipscale::cli::ExportArgs;
use clipscale::model::openclip::{model_config_json, state_dict, write_state_dict};
use clipscale::train::TrialSpec;
use clipscale::train::checkpoint::load_model;
use clipscale_analysis::trial::TrialDir;

/// The newest checkpoint's parameters in open_clip's keys and layouts.
struct OpenClipStateDict {
    spec: TrialSpec,
    trial: TrialDir,
}

impl BackendTask for OpenClipStateDict {
    type Output = Result<Vec<(String, Vec<usize>, Vec<f32>)>>;

    fn run<B: burn::tensor::backend::AutodiffBackend>(
        self,
        device: B::Device,
        _info: BackendInfo,
    ) -> Self::Output {
        let Some(dir) = self.trial.latest_checkpoint() else {
            bail!(
                "{} has no checkpoint to export (train it first)",
                self.trial.path().display()
            );
        };
        let model = self.spec.init_model::<B>(&device)?;
        let model = load_model(&dir, model, &device)?;
        Ok(state_dict(&model))
    }
}

pub fn export(a: &ExportArgs) -> Result<()> {
    let trial = TrialDir::new(&a.trial);
    let spec: TrialSpec = trial
        .read_spec()
        .with_context(|| format!("{} is not a trial folder", a.trial.display()))?;
    let tensors = dispatch(
        DeviceSpec::Cpu,
        OpenClipStateDict {
            spec: spec.clone(),
            trial: trial.clone(),
        },
    )??;
    write_state_dict(&a.out, &tensors)?;
    let config_path = a.out.with_extension("json");
    let bias = spec.optim.loss_head().logit_bias;
    clipscale_analysis::records::write_json_atomic(
        &config_path,
        &model_config_json(&spec.model, bias),
    )?;
    println!(
        "wrote {} ({} tensors, open_clip's keys) and its model config {}",
        a.out.display(),
        tensors.len(),
        config_path.display()
    );
    if spec.data.tokenizer.to_string() != "clip-bpe" {
        println!(
            "note: the model was trained with the {} tokenizer (vocabulary {}), not open_clip's; give open_clip token ids from that tokenizer",
            spec.data.tokenizer, spec.model.text.vocab_size
        );
    }
    Ok(())
}
