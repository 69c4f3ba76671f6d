//! `clipscale gpu-check`: the same weights (host-initialised from one seed) and the same batch,
//! forward, backward and one AdamW step in f32 on the CPU and on a GPU backend (CUDA, or wgpu:
//! Vulkan, Metal, DX12, or Mesa's lavapipe in CI); relative errors of embeddings, loss,
//! gradients and the loss after the step. `--dry-run` runs everything up to the GPU call: the
//! CPU reference, compared against a second CPU pass (which must agree exactly).

use anyhow::{Context, Result, bail};
use burn::tensor::backend::AutodiffBackend;
use clipscale::backend::{
    BackendInfo, BackendTask, CpuTrainBackend, DeviceSpec, device_name, dispatch,
};
use clipscale::batch::HostBatch;
use clipscale::check::{PassCapture, capture_pass, compare};
use clipscale::cli::GpuCheckArgs;
use clipscale::model::{ClipConfig, ConfigError, ModelLadder};

/// [`capture_pass`] on whichever backend [`dispatch`] picks.
struct CapturePass<'a> {
    cfg: &'a ClipConfig,
    seed: u64,
    batch: &'a HostBatch,
}

impl BackendTask for CapturePass<'_> {
    type Output = Result<PassCapture, ConfigError>;
    fn run<B: AutodiffBackend>(self, device: B::Device, _info: BackendInfo) -> Self::Output {
        capture_pass::<B>(self.cfg, self.seed, self.batch, &device)
    }
}

fn other_pass(
    cfg: &ClipConfig,
    args: &GpuCheckArgs,
    batch: &HostBatch,
) -> Result<(String, PassCapture)> {
    if args.dry_run {
        let cap = capture_pass::<CpuTrainBackend>(cfg, args.seed, batch, &Default::default())?;
        return Ok(("cpu (dry run: second CPU pass)".to_string(), cap));
    }
    let spec: DeviceSpec = args.device.parse()?;
    if spec == DeviceSpec::Cpu {
        bail!(
            "--device must be a GPU device (cuda[:N] or wgpu[:N]), got `cpu`; use --dry-run to check without a GPU"
        );
    }
    let seed = args.seed;
    let cap = dispatch(spec, CapturePass { cfg, seed, batch })??;
    Ok((format!("{spec} ({})", device_name(spec)), cap))
}

pub fn gpu_check(args: &GpuCheckArgs) -> Result<()> {
    anyhow::ensure!(
        args.batch >= 2,
        "--batch must be at least 2 (got {})",
        args.batch
    );
    let ladder = ModelLadder::load_or_builtin(args.ladder.models.as_deref())?;
    let mut report = Vec::new();
    let mut all_pass = true;
    for name in &args.model_names {
        let cfg = ladder.get(name)?.clone();
        let batch = HostBatch::random(&cfg, args.batch, args.seed);
        let reference =
            capture_pass::<CpuTrainBackend>(&cfg, args.seed, &batch, &Default::default())
                .with_context(|| format!("CPU reference pass of {name}"))?;
        let (device, other) = other_pass(&cfg, args, &batch)
            .with_context(|| format!("pass of {name} on {}", args.device))?;
        let rows = compare(&reference, &other);
        let pass = rows.iter().all(|(_, e)| *e <= args.tolerance);
        all_pass &= pass;
        println!("{name}, batch {}: cpu (f32) against {device}", args.batch);
        println!("  {:<40} {:>12}", "quantity", "rel. error");
        for (q, e) in &rows {
            let flag = if *e <= args.tolerance {
                ""
            } else {
                "  <-- above tolerance"
            };
            println!("  {q:<40} {e:>12.3e}{flag}");
        }
        println!(
            "  loss: cpu {:.6}, other {:.6}; {}",
            reference.loss,
            other.loss,
            if pass { "PASS" } else { "FAIL" }
        );
        report.push(serde_json::json!({
            "model": name, "batch": args.batch, "seed": args.seed, "against": device,
            "cpu_loss": reference.loss, "other_loss": other.loss, "pass": pass,
            "relative_errors": rows.iter().map(|(q, e)| serde_json::json!({"quantity": q, "relative_error": e})).collect::<Vec<_>>(),
        }));
    }
    if let Some(path) = &args.json {
        let doc = serde_json::json!({"dry_run": args.dry_run, "tolerance": args.tolerance, "checks": report});
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if !all_pass {
        bail!("relative errors above the tolerance {:e}", args.tolerance);
    }
    Ok(())
}
