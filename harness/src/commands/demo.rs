//! `clipscale demo`: one forward and backward pass on a random batch, timed.

use std::time::Instant;

use anyhow::Result;
use clipscale::backend::{BackendInfo, BackendTask, dispatch, to_vec};
use clipscale::batch::HostBatch;
use clipscale::burn::tensor::backend::AutodiffBackend;
use clipscale::cli::DemoArgs;
use clipscale::flops::counts;
use clipscale::model::{ClipConfig, ModelLadder};

struct Demo {
    cfg: ClipConfig,
    batch: usize,
    seed: u64,
    steps: usize,
}

impl BackendTask for Demo {
    type Output = Result<()>;
    fn run<B: AutodiffBackend>(self, device: B::Device, info: BackendInfo) -> Result<()> {
        let c = counts(&self.cfg);
        println!(
            "{}: {:.3} M parameters, {:.4} GMACs per pair; backend {} on {} ({}), batch {}",
            self.cfg.name,
            c.params as f64 / 1e6,
            c.fwd_macs_per_pair as f64 / 1e9,
            info.backend,
            info.device,
            info.float_type,
            self.batch
        );
        let t0 = Instant::now();
        let model = self.cfg.init::<B>(self.seed, &device)?;
        println!("init:       {:.3} s", t0.elapsed().as_secs_f64());
        let host = HostBatch::random(&self.cfg, self.batch, self.seed);
        let mut times = Vec::new();
        for step in 0..self.steps.max(1) {
            let t = Instant::now();
            let loss = model.loss(host.to_device::<B>(&device));
            let grads = loss.backward();
            let value = to_vec(loss.inner())[0];
            let g = model
                .logit_scale
                .grad(&grads)
                .map(to_vec)
                .unwrap_or_default();
            let dt = t.elapsed().as_secs_f64();
            println!(
                "pass {step}:     loss {value:.4} (ln batch = {:.4}), d loss / d logit_scale {:.4}, {:.3} s",
                (self.batch as f64).ln(),
                g.first().copied().unwrap_or(f32::NAN),
                dt
            );
            if step > 0 {
                times.push(dt);
            }
        }
        if !times.is_empty() {
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            println!(
                "median forward+backward: {:.4} s = {:.0} samples/s, {:.2} GFLOP/s (3 x forward)",
                median,
                self.batch as f64 / median,
                c.train_flops_per_sample() * self.batch as f64 / median / 1e9
            );
        }
        Ok(())
    }
}

pub fn demo(args: &DemoArgs) -> Result<()> {
    anyhow::ensure!(args.batch >= 1, "--batch must be at least 1 (got 0)");
    let ladder = ModelLadder::load_or_builtin(args.ladder.models.as_deref())?;
    let cfg = ladder.get(&args.model)?.clone();
    cfg.validate()?;
    dispatch(
        args.device,
        Demo {
            cfg,
            batch: args.batch,
            seed: args.seed,
            steps: args.steps,
        },
    )?
}
