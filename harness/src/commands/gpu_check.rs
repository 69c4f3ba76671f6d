//! `clipscale gpu-check`: the same weights (host-initialised from one seed) and the same batch,
//! forward and backward in f32 on the CPU and on CUDA; relative errors of embeddings, loss and
//! gradients. `--dry-run` runs everything up to the GPU call: the CPU reference, compared
//! against a second CPU pass (which must agree exactly).

use anyhow::{Context, Result, bail};
use clipscale::backend::{CpuTrainBackend, DeviceSpec};
use clipscale::batch::HostBatch;
use clipscale::check::{PassCapture, capture_pass, compare};
use clipscale::cli::GpuCheckArgs;
use clipscale::model::{ClipConfig, ModelLadder};

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
    match spec {
        DeviceSpec::Cpu => bail!(
            "--device must be a CUDA device (cuda or cuda:N), got `cpu`; use --dry-run to check without a GPU"
        ),
        #[cfg(feature = "cuda")]
        DeviceSpec::Cuda(i) => {
            let device = burn::backend::cuda::CudaDevice::new(i);
            let cap = capture_pass::<clipscale::backend::CudaTrainBackend>(
                cfg, args.seed, batch, &device,
            )?;
            Ok((spec.to_string(), cap))
        }
        #[cfg(not(feature = "cuda"))]
        DeviceSpec::Cuda(_) => {
            unreachable!("parsing refuses cuda devices without the cuda feature")
        }
    }
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
