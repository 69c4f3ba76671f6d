//! `clipscale sweep plan|run|status|run-one`: the local executor and its views.

use std::collections::{HashMap, VecDeque};
use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use clipscale::backend::{BackendInfo, DeviceSpec, dispatch};
use clipscale::cli::{SweepCommand, SweepCommon, SweepPlanArgs, SweepRunArgs, SweepRunOneArgs};
use clipscale::flops::counts;
use clipscale::model::ModelLadder;
use clipscale::provenance;
use clipscale::sweep::exec::{
    EXIT_DIVERGED, EXIT_DONE, EXIT_LOCKED, EXIT_PREEMPTED, RunOneError, RunOneOutcome,
};
use clipscale::sweep::plan::{Calibrate, format_duration, measured_throughput};
use clipscale::sweep::{Sweep, TrialState, run_one, state, trial_dir};
use clipscale::train::TrainError;
use clipscale::train::TrialSpec;
use clipscale_analysis::records::{EvalRecord, METRICS_FILE, MetricsRecord, read_jsonl};

pub fn sweep(cmd: &SweepCommand) -> Result<()> {
    match cmd {
        SweepCommand::Plan(a) => plan(a, false),
        SweepCommand::Status(a) => plan(a, true),
        SweepCommand::Run(a) => run(a),
        SweepCommand::RunOne(a) => run_one_cmd(a),
        SweepCommand::Submit(a) => super::slurm::submit(a),
    }
}

/// Reads, expands and resolves a sweep file; every error names the file.
pub fn load(common: &SweepCommon, device: DeviceSpec) -> Result<(Sweep, Vec<TrialSpec>)> {
    let ladder = ModelLadder::load_or_builtin(common.ladder.models.as_deref())?;
    let sweep = Sweep::load(&common.file)?;
    let specs = sweep.resolve(
        &ladder,
        &provenance::collect(&BackendInfo::for_device(device)),
    )?;
    if specs.is_empty() {
        bail!("sweep file {}: no trials", common.file.display());
    }
    Ok((sweep, specs))
}

fn last_eval(dir: &Path, metric: &str) -> Option<f64> {
    read_jsonl::<EvalRecord>(&dir.join("evals.jsonl"))
        .ok()?
        .records
        .into_iter()
        .rev()
        .find(|(_, r)| r.metric == metric)
        .map(|(_, r)| r.value)
}

fn plan(a: &SweepPlanArgs, status_only: bool) -> Result<()> {
    let (sweep, specs) = load(&a.common, a.device)?;
    let measured = measured_throughput(&a.common.out);
    let mut calibrated: HashMap<(String, usize), f64> = HashMap::new();
    println!(
        "sweep {} ({}): {} trials -> {}",
        sweep.file.name,
        sweep.path.display(),
        specs.len(),
        a.common.out.join(&sweep.file.name).display()
    );
    if !status_only {
        println!(
            "{:<38} {:<8} {:>10} {:>9} {:>10} {:>9} {:>9}  status",
            "trial", "model", "params", "samples", "train FLOPs", "est.", "source"
        );
    } else {
        println!(
            "{:<38} {:<12} {:>9} {:>9} {:>8}  log",
            "trial", "status", "samples", "loss", "acc1"
        );
    }
    let mut total_s = 0.0;
    for spec in &specs {
        let dir = trial_dir(&a.common.out, spec);
        let st = state(&dir);
        if status_only {
            let (seen, loss) = match &st {
                TrialState::Done(f) | TrialState::Failed(f) | TrialState::Diverged(f) => {
                    (f.samples_seen, f.final_loss.unwrap_or(f64::NAN))
                }
                TrialState::Interrupted { samples_seen } => (*samples_seen, f64::NAN),
                _ => (0, f64::NAN),
            };
            let acc = last_eval(&dir, "acc1")
                .map(|v| format!("{v:.3}"))
                .unwrap_or_else(|| "-".into());
            println!(
                "{:<38} {:<12} {:>9} {:>9.4} {:>8}  {}",
                spec.head.trial_id,
                st.label(),
                seen,
                loss,
                acc,
                dir.join("train.log").display()
            );
            continue;
        }
        let key = (spec.model.name.clone(), spec.head.batch_size);
        let step_flops = counts(&spec.model).train_flops_per_sample() * spec.head.batch_size as f64;
        let (sps, source) = match measured.get(&key) {
            Some(v) => (*v, "measured"),
            None if a.no_calibrate => (f64::NAN, "-"),
            // a step this large would take minutes to time on a CPU: no estimate rather than a wait
            None if a.device == DeviceSpec::Cpu && step_flops > 2e12 => (f64::NAN, "too big"),
            None => {
                let v = match calibrated.get(&key) {
                    Some(v) => *v,
                    None => {
                        let v = dispatch(
                            a.device,
                            Calibrate {
                                model: spec.model.clone(),
                                batch: spec.head.batch_size,
                                steps: 2,
                            },
                        )?
                        .map_err(anyhow::Error::msg)?;
                        calibrated.insert(key, v);
                        v
                    }
                };
                (v, "timed")
            }
        };
        let remaining = match &st {
            TrialState::Done(_) | TrialState::Diverged(_) => 0,
            TrialState::Interrupted { samples_seen } => spec.head.samples - samples_seen,
            _ => spec.head.samples,
        };
        let est = remaining as f64 / sps;
        if est.is_finite() {
            total_s += est;
        }
        let c = counts(&spec.model);
        println!(
            "{:<38} {:<8} {:>10} {:>9} {:>10.3e} {:>9} {:>9}  {}",
            spec.head.trial_id,
            spec.model.name,
            c.params,
            spec.head.samples,
            c.train_flops_per_sample() * spec.head.samples as f64,
            format_duration(est),
            source,
            st.label()
        );
    }
    if !status_only {
        println!(
            "estimated training time on {}: {} (evaluations add a little)",
            a.device,
            format_duration(total_s)
        );
    }
    Ok(())
}

fn run_one_cmd(a: &SweepRunOneArgs) -> Result<()> {
    let (_, specs) = load(&a.common, a.device)?;
    let id = match (&a.trial, a.index, &a.manifest) {
        (Some(id), _, _) => id.clone(),
        (None, Some(i), Some(m)) => {
            let text = std::fs::read_to_string(m)
                .with_context(|| format!("reading manifest {}", m.display()))?;
            let ids: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            ids.get(i).map(|s| s.to_string()).with_context(|| {
                format!(
                    "manifest {} has {} trials; index {i} is out of range",
                    m.display(),
                    ids.len()
                )
            })?
        }
        _ => bail!("give --trial ID, or --index I with --manifest FILE"),
    };
    let spec = specs
        .into_iter()
        .find(|s| s.head.trial_id == id)
        .with_context(|| {
            format!(
                "trial {id} is not in sweep file {} (run `clipscale sweep plan` to list them)",
                a.common.file.display()
            )
        })?;
    let progress = !a.quiet && std::io::stderr().is_terminal();
    clipscale::signals::install();
    let outcome = match run_one(spec, &a.common.out, a.device, progress) {
        Err(RunOneError::Train(e @ TrainError::Interrupted { .. })) => {
            eprintln!("{id}: {e}");
            std::process::exit(EXIT_PREEMPTED)
        }
        other => other?,
    };
    match outcome {
        RunOneOutcome::Finished(f)
        | RunOneOutcome::AlreadyDone(f)
        | RunOneOutcome::AlreadyDiverged(f) => {
            println!(
                "{id}: {} ({} samples, final loss {:.4})",
                f.status,
                f.samples_seen,
                f.final_loss.unwrap_or(f64::NAN)
            );
            match f.status {
                clipscale_analysis::records::TrialStatus::Done => Ok(()),
                clipscale_analysis::records::TrialStatus::Diverged => {
                    std::process::exit(EXIT_DIVERGED)
                }
                clipscale_analysis::records::TrialStatus::Failed => {
                    bail!("{id} failed: {}", f.message.unwrap_or_default())
                }
            }
        }
        RunOneOutcome::Locked(owner) => {
            eprintln!(
                "{id} is being run by pid {} on {} (lock taken at {:.0}); skipping",
                owner.pid, owner.host, owner.acquired_unix_s
            );
            std::process::exit(EXIT_LOCKED)
        }
    }
}

/// Makes a child die with the executor, so a killed executor leaves no orphan training.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the forked child before exec and only calls prctl, which
        // is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
}

struct Running {
    spec: TrialSpec,
    child: Child,
    bar: ProgressBar,
    log: PathBuf,
}

#[derive(Debug, Clone)]
struct Outcome {
    status: String,
    attempts: usize,
    log: PathBuf,
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join(" | ")
}

#[allow(
    clippy::too_many_lines,
    reason = "the local executor inside a command; moved into sweep::local by issue 19"
)]
fn run(a: &SweepRunArgs) -> Result<()> {
    anyhow::ensure!(a.workers >= 1, "--workers must be at least 1");
    let device0 = a.devices.first().copied().unwrap_or(DeviceSpec::Cpu);
    let (sweep, specs) = load(&a.common, device0)?;
    let started = Instant::now();
    let root = a.common.out.join(&sweep.file.name);
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    println!(
        "sweep {}: {} trials in {}",
        sweep.file.name,
        specs.len(),
        root.display()
    );
    let exe = std::env::current_exe().context("locating the clipscale binary")?;
    let mut queue: VecDeque<TrialSpec> = VecDeque::new();
    let mut outcomes: HashMap<String, Outcome> = HashMap::new();
    for spec in &specs {
        let dir = trial_dir(&a.common.out, spec);
        match state(&dir) {
            TrialState::Done(_) => {
                outcomes.insert(
                    spec.head.trial_id.clone(),
                    Outcome {
                        status: "done (earlier)".into(),
                        attempts: 0,
                        log: dir.join("train.log"),
                    },
                );
            }
            TrialState::Diverged(_) => {
                outcomes.insert(
                    spec.head.trial_id.clone(),
                    Outcome {
                        status: "diverged (earlier)".into(),
                        attempts: 0,
                        log: dir.join("train.log"),
                    },
                );
            }
            _ => queue.push_back(spec.clone()),
        }
    }
    let multi = MultiProgress::new();
    if !std::io::stderr().is_terminal() {
        multi.set_draw_target(ProgressDrawTarget::hidden());
    }
    let overall = multi.add(ProgressBar::new(specs.len() as u64));
    overall.set_style(
        ProgressStyle::with_template("sweep  [{bar:30}] {pos}/{len} trials, {elapsed} {msg}")
            .expect("static")
            .progress_chars("=> "),
    );
    overall.set_position(outcomes.len() as u64);
    let mut running: Vec<Running> = Vec::new();
    let mut attempts: HashMap<String, usize> = HashMap::new();
    let mut next_device = 0usize;
    let file = std::fs::canonicalize(&a.common.file).unwrap_or_else(|_| a.common.file.clone());
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < a.workers {
            let Some(spec) = queue.pop_front() else { break };
            let device = a.devices[next_device % a.devices.len()];
            next_device += 1;
            let dir = trial_dir(&a.common.out, &spec);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let log = dir.join("run.log");
            let out = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .with_context(|| format!("opening {}", log.display()))?;
            let mut cmd = Command::new(&exe);
            cmd.args(["sweep", "run-one"])
                .arg(&file)
                .arg("--out")
                .arg(&a.common.out)
                .args([
                    "--trial",
                    &spec.head.trial_id,
                    "--device",
                    &device.to_string(),
                    "--quiet",
                ]);
            if let Some(m) = &a.common.ladder.models {
                cmd.arg("--models").arg(m);
            }
            cmd.stdin(Stdio::null())
                .stdout(out.try_clone()?)
                .stderr(out);
            die_with_parent(&mut cmd);
            let child = cmd
                .spawn()
                .with_context(|| format!("starting {}", exe.display()))?;
            *attempts.entry(spec.head.trial_id.clone()).or_default() += 1;
            let bar = multi.add(ProgressBar::new(spec.head.samples));
            bar.set_style(
                ProgressStyle::with_template(
                    "  {prefix:<38} [{bar:20}] {human_pos}/{human_len} {msg}",
                )
                .expect("static")
                .progress_chars("=> "),
            );
            bar.set_prefix(spec.head.trial_id.clone());
            running.push(Running {
                spec,
                child,
                bar,
                log,
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        let mut i = 0;
        while i < running.len() {
            let r = &mut running[i];
            let dir = trial_dir(&a.common.out, &r.spec);
            if let Ok(m) = read_jsonl::<MetricsRecord>(&dir.join(METRICS_FILE))
                && let Some((_, last)) = m.records.last()
            {
                r.bar.set_position(last.samples_seen);
                r.bar.set_message(format!("loss {:.3}", last.loss));
            }
            let Some(code) = r.child.try_wait()?.map(|s| s.code()) else {
                i += 1;
                continue;
            };
            let r = running.swap_remove(i);
            r.bar.finish_and_clear();
            multi.remove(&r.bar);
            let id = r.spec.head.trial_id.clone();
            let n = attempts[&id];
            let status = match code {
                Some(EXIT_DONE) => "done".to_string(),
                Some(EXIT_DIVERGED) => "diverged".to_string(),
                Some(EXIT_LOCKED) => "running elsewhere".to_string(),
                other => {
                    let reason = format!(
                        "attempt {n} exited with {}: {}",
                        other.map_or("a signal".into(), |c| format!("code {c}")),
                        tail(&r.log, 3)
                    );
                    let note = serde_json::json!({"attempt": n, "exit_code": other, "reason": reason, "unix_s": provenance::now_unix_s()});
                    let _ = clipscale_analysis::records::append_jsonl(
                        &dir.join("attempts.jsonl"),
                        &note,
                    );
                    if n <= a.retries {
                        multi.suspend(|| eprintln!("{id}: {reason}; retrying ({n}/{})", a.retries));
                        queue.push_back(r.spec.clone());
                        continue;
                    }
                    format!("failed after {n} attempts")
                }
            };
            overall.inc(1);
            outcomes.insert(
                id,
                Outcome {
                    status,
                    attempts: n,
                    log: dir.join("train.log"),
                },
            );
        }
    }
    overall.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    println!();
    println!(
        "{:<38} {:<22} {:>8} {:>9} {:>8}  log",
        "trial", "status", "attempts", "loss", "acc1"
    );
    let mut failed = 0;
    for spec in &specs {
        let id = &spec.head.trial_id;
        let dir = trial_dir(&a.common.out, spec);
        let o = outcomes.get(id).cloned().unwrap_or(Outcome {
            status: "not run".into(),
            attempts: 0,
            log: dir.join("train.log"),
        });
        if !o.status.starts_with("done") {
            failed += 1;
        }
        let loss = match state(&dir) {
            TrialState::Done(f) | TrialState::Diverged(f) | TrialState::Failed(f) => {
                f.final_loss.unwrap_or(f64::NAN)
            }
            _ => f64::NAN,
        };
        let acc = last_eval(&dir, "acc1")
            .map(|v| format!("{v:.3}"))
            .unwrap_or_else(|| "-".into());
        println!(
            "{id:<38} {:<22} {:>8} {loss:>9.4} {acc:>8}  {}",
            o.status,
            o.attempts,
            o.log.display()
        );
    }
    println!("sweep wall time: {}", format_duration(wall));
    if !a.no_analysis {
        super::analyse::analyse_sweep(&a.common.out, &sweep.file.name, wall, a.record)?;
    }
    if failed > 0 {
        bail!(
            "{failed} of {} trials did not finish (see the table above)",
            specs.len()
        );
    }
    Ok(())
}
