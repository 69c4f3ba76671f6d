//! The local executor: a sweep's trials run on this machine, `workers` at a time, each as a
//! child process (`clipscale sweep run-one DIR`) that holds the trial's lock, so that a crash
//! of one trial cannot take the others with it, and two executors on one sweep never run the
//! same trial. The executor writes each trial's spec into its folder before starting it; the
//! child runs from the folder.
//!
//! A trial that another executor holds is waited for: when its lock is released the trial is
//! done (counted as done elsewhere) or is taken over and run here. A failed attempt is retried
//! up to `retries` times, resuming from its checkpoint; a diverged trial is not (divergence is
//! deterministic). The sweep is complete when every trial is done, whoever ran it. A branch
//! starts once its trunk has written the checkpoint it starts from.

use std::collections::{HashMap, VecDeque};
use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clipscale_analysis::records::AttemptRecord;
use clipscale_analysis::trial::TrialDir;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use thiserror::Error;

use crate::backend::DeviceSpec;
use crate::provenance::now_unix_s;
use crate::train::TrialSpec;

use super::branch;
use super::exec::{EXIT_DIVERGED, EXIT_DONE, EXIT_LOCKED, prepare};
use super::plan::{TrialState, cell, format_duration, progress, state};

/// What to run, where, and how.
pub struct LocalRun<'a> {
    pub specs: &'a [TrialSpec],
    pub results: &'a Path,
    /// Devices, one per started trial in turn.
    pub devices: &'a [DeviceSpec],
    /// Trials run at once.
    pub workers: usize,
    /// Attempts after the first for a trial that fails.
    pub retries: usize,
    /// The `clipscale` binary that runs each trial.
    pub exe: PathBuf,
}

#[derive(Debug, Error)]
pub enum LocalError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--workers must be at least 1 and --device given at least once")]
    NoWorkers,
}

/// How a trial of the sweep ended up.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Trained to the end by this executor.
    Done,
    /// Done before this run started.
    DoneEarlier,
    /// Done by another executor while this one waited for it.
    DoneElsewhere,
    /// Its loss became NaN (now, or in an earlier run).
    Diverged { earlier: bool },
    /// Every attempt failed.
    Failed,
    /// Its final record cannot be read.
    Unreadable(String),
    /// Its folder cannot take it (e.g. it holds another trial's spec); nothing was run.
    Refused(String),
}

impl Outcome {
    /// Whether the trial is done, whoever trained it.
    pub fn is_done(&self) -> bool {
        matches!(
            self,
            Outcome::Done | Outcome::DoneEarlier | Outcome::DoneElsewhere
        )
    }

    pub fn label(&self) -> String {
        match self {
            Outcome::Done => "done".into(),
            Outcome::DoneEarlier => "done (earlier)".into(),
            Outcome::DoneElsewhere => "done (elsewhere)".into(),
            Outcome::Diverged { earlier: false } => "diverged".into(),
            Outcome::Diverged { earlier: true } => "diverged (earlier)".into(),
            Outcome::Failed => "failed".into(),
            Outcome::Unreadable(_) => "unreadable".into(),
            Outcome::Refused(_) => "refused".into(),
        }
    }
}

/// One trial's line of the report.
#[derive(Debug, Clone)]
pub struct TrialOutcome {
    pub trial_id: String,
    pub dir: TrialDir,
    pub outcome: Outcome,
    /// Attempts this executor started.
    pub attempts: usize,
}

/// What a local run did.
#[derive(Debug, Clone)]
pub struct SweepReport {
    /// In the sweep's order.
    pub trials: Vec<TrialOutcome>,
    pub wall_s: f64,
}

impl SweepReport {
    /// Trials that are not done.
    pub fn unfinished(&self) -> usize {
        self.trials.iter().filter(|t| !t.outcome.is_done()).count()
    }

    /// The table of every trial: outcome, attempts, final loss and zero-shot accuracy.
    pub fn print(&self) {
        println!(
            "{:<38} {:<22} {:>8} {:>9} {:>8}  log",
            "trial", "status", "attempts", "loss", "acc1"
        );
        for t in &self.trials {
            let (_, loss) = progress(&state(&t.dir), &t.dir);
            println!(
                "{:<38} {:<22} {:>8} {:>9} {:>8}  {}",
                t.trial_id,
                t.outcome.label(),
                t.attempts,
                cell(loss, 4),
                cell(t.dir.last_eval("acc1"), 3),
                t.dir.log_path().display()
            );
        }
        println!("sweep wall time: {}", format_duration(self.wall_s));
    }
}

/// A trial process running here.
struct Running {
    spec: TrialSpec,
    dir: TrialDir,
    child: Child,
    bar: ProgressBar,
}

/// The bars of a run.
struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
}

impl Bars {
    fn new(trials: usize, finished: usize) -> Self {
        let multi = MultiProgress::new();
        if !std::io::stderr().is_terminal() {
            multi.set_draw_target(ProgressDrawTarget::hidden());
        }
        let overall = multi.add(ProgressBar::new(trials as u64));
        overall.set_style(
            ProgressStyle::with_template("sweep  [{bar:30}] {pos}/{len} trials, {elapsed} {msg}")
                .expect("static")
                .progress_chars("=> "),
        );
        overall.set_position(finished as u64);
        Self { multi, overall }
    }

    fn trial(&self, spec: &TrialSpec) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(spec.head.samples));
        bar.set_style(
            ProgressStyle::with_template("  {prefix:<38} [{bar:20}] {human_pos}/{human_len} {msg}")
                .expect("static")
                .progress_chars("=> "),
        );
        bar.set_prefix(spec.head.trial_id.clone());
        bar
    }

    fn note(&self, line: &str) {
        self.multi.suspend(|| eprintln!("{line}"));
    }
}

/// Runs every trial of `run.specs` that is not done yet; returns once each is done, diverged,
/// failed every attempt, or was seen through by another executor.
pub fn run(run: &LocalRun<'_>) -> Result<SweepReport, LocalError> {
    if run.workers == 0 || run.devices.is_empty() {
        return Err(LocalError::NoWorkers);
    }
    let started = Instant::now();
    let mut ex = Executor::new(run);
    while !ex.queue.is_empty() || !ex.running.is_empty() || !ex.waiting.is_empty() {
        ex.start_trials()?;
        std::thread::sleep(Duration::from_millis(300));
        ex.show_progress();
        ex.reap()?;
        ex.check_waiting();
    }
    ex.bars.overall.finish_and_clear();
    let trials = run
        .specs
        .iter()
        .map(|spec| {
            let id = &spec.head.trial_id;
            TrialOutcome {
                trial_id: id.clone(),
                dir: spec.dir(run.results),
                outcome: ex.outcomes.remove(id).unwrap_or(Outcome::Failed),
                attempts: ex.attempts.get(id).copied().unwrap_or(0),
            }
        })
        .collect();
    Ok(SweepReport {
        trials,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// The executor's state: trials to start, running here, held by another executor, ended.
struct Executor<'a> {
    run: &'a LocalRun<'a>,
    queue: VecDeque<TrialSpec>,
    running: Vec<Running>,
    waiting: Vec<TrialSpec>,
    outcomes: HashMap<String, Outcome>,
    attempts: HashMap<String, usize>,
    next_device: usize,
    bars: Bars,
}

impl<'a> Executor<'a> {
    /// Sorts the trials by where they stand: ended ones get their outcome, held ones are
    /// waited for, the rest queued in order of increasing training compute, so that the larger
    /// trials are forecast from the laws of the smaller ones (see `write_forecast`); trunks
    /// first, as their branches wait for them.
    fn new(run: &'a LocalRun<'a>) -> Self {
        let mut outcomes = HashMap::new();
        let mut queue = VecDeque::new();
        let mut waiting = Vec::new();
        let mut by_compute: Vec<&TrialSpec> = run.specs.iter().collect();
        by_compute.sort_by(|a, b| {
            (!a.head.is_trunk())
                .cmp(&!b.head.is_trunk())
                .then(a.planned_train_flops().total_cmp(&b.planned_train_flops()))
        });
        for spec in by_compute {
            let id = spec.head.trial_id.clone();
            let ended = match state(&spec.dir(run.results)) {
                TrialState::Done(_) => Outcome::DoneEarlier,
                TrialState::Diverged(_) => Outcome::Diverged { earlier: true },
                TrialState::Unreadable(m) => Outcome::Unreadable(m),
                TrialState::Running(_) => {
                    waiting.push(spec.clone());
                    continue;
                }
                TrialState::Pending | TrialState::Interrupted { .. } | TrialState::Failed(_) => {
                    queue.push_back(spec.clone());
                    continue;
                }
            };
            outcomes.insert(id, ended);
        }
        let bars = Bars::new(run.specs.len(), outcomes.len());
        Self {
            run,
            queue,
            running: Vec::new(),
            waiting,
            outcomes,
            attempts: HashMap::new(),
            next_device: 0,
            bars,
        }
    }

    /// The first queued trial that can start: any but a branch whose trunk has not yet written
    /// its checkpoint (a branch whose trunk ended without it is refused here).
    fn next_startable(&mut self) -> Option<TrialSpec> {
        loop {
            let results = self.run.results;
            let i = self.queue.iter().position(|s| {
                branch::ready(s, results)
                    || branch::trunk_of(s).is_some_and(|t| self.outcomes.contains_key(t))
            })?;
            let spec = self.queue.remove(i)?;
            match branch::trunk_of(&spec) {
                Some(trunk) if !branch::ready(&spec, results) => {
                    let why = format!(
                        "its trunk {trunk} ended ({}) without the checkpoint it starts from",
                        self.outcomes[trunk].label()
                    );
                    let id = &spec.head.trial_id;
                    self.bars.note(&format!("{id}: {why}; not run"));
                    self.end(&spec, Outcome::Refused(why));
                }
                _ => return Some(spec),
            }
        }
    }

    /// Starts queued trials while workers are free.
    fn start_trials(&mut self) -> Result<(), LocalError> {
        while self.running.len() < self.run.workers {
            let Some(spec) = self.next_startable() else {
                return Ok(());
            };
            // another executor may have taken the trial since it was queued
            match state(&spec.dir(self.run.results)) {
                TrialState::Running(_) | TrialState::Done(_) | TrialState::Diverged(_) => {
                    self.waiting.push(spec);
                    continue;
                }
                TrialState::Unreadable(m) => {
                    self.end(&spec, Outcome::Unreadable(m));
                    continue;
                }
                TrialState::Pending | TrialState::Interrupted { .. } | TrialState::Failed(_) => {}
            }
            let dir = match prepare(&spec, self.run.results) {
                Ok(dir) => dir,
                Err(e) => {
                    let id = &spec.head.trial_id;
                    self.bars.note(&format!("{id}: {e}; not run"));
                    self.end(&spec, Outcome::Refused(e.to_string()));
                    continue;
                }
            };
            let device = self.run.devices[self.next_device % self.run.devices.len()];
            self.next_device += 1;
            let child = spawn(&self.run.exe, &dir, device)?;
            let bar = self.bars.trial(&spec);
            self.running.push(Running {
                spec,
                dir,
                child,
                bar,
            });
        }
        Ok(())
    }

    /// Moves each running trial's bar to its newest metrics record.
    fn show_progress(&self) {
        for r in &self.running {
            if let Some(last) = r.dir.last_metrics() {
                r.bar.set_position(last.samples_seen);
                r.bar.set_message(format!("loss {:.3}", last.loss));
            }
        }
    }

    /// Handles the trials whose process has ended: done, diverged, held elsewhere, or failed
    /// (retried while attempts remain).
    fn reap(&mut self) -> Result<(), LocalError> {
        let mut i = 0;
        while i < self.running.len() {
            let exited = self.running[i]
                .child
                .try_wait()
                .map_err(|source| LocalError::Io {
                    what: "waiting for the trial process of",
                    path: self.running[i].dir.path().to_path_buf(),
                    source,
                })?;
            let Some(status) = exited else {
                i += 1;
                continue;
            };
            let r = self.running.swap_remove(i);
            r.bar.finish_and_clear();
            self.bars.multi.remove(&r.bar);
            let id = r.spec.head.trial_id.clone();
            if status.code() == Some(EXIT_LOCKED) {
                // not an attempt of this executor's: the trial was another's to run
                self.bars.note(&format!(
                    "{id}: running in another executor; waiting for it"
                ));
                self.waiting.push(r.spec);
                continue;
            }
            *self.attempts.entry(id.clone()).or_default() += 1;
            let outcome = match status.code() {
                Some(EXIT_DONE) => Outcome::Done,
                Some(EXIT_DIVERGED) => Outcome::Diverged { earlier: false },
                code => match self.failed_attempt(&r, code) {
                    Some(outcome) => outcome,
                    None => continue,
                },
            };
            self.end(&r.spec, outcome);
        }
        Ok(())
    }

    /// Ends `spec`'s trial with `outcome`.
    fn end(&mut self, spec: &TrialSpec, outcome: Outcome) {
        self.bars.overall.inc(1);
        self.outcomes.insert(spec.head.trial_id.clone(), outcome);
    }

    /// Records a failed attempt; queues a retry (`None`) or gives up.
    fn failed_attempt(&mut self, r: &Running, code: Option<i32>) -> Option<Outcome> {
        let id = &r.spec.head.trial_id;
        let n = self.attempts[id];
        let reason = format!(
            "attempt {n} exited with {}: {}",
            code.map_or("a signal".into(), |c| format!("code {c}")),
            tail(&r.dir.run_log_path(), 3)
        );
        let _ = r.dir.append_attempt(&AttemptRecord {
            schema_version: clipscale_analysis::records::SCHEMA_VERSION,
            attempt: n,
            exit_code: code,
            reason: reason.clone(),
            unix_s: now_unix_s(),
        });
        if n <= self.run.retries {
            let retries = self.run.retries;
            self.bars
                .note(&format!("{id}: {reason}; retrying ({n}/{retries})"));
            self.queue.push_back(r.spec.clone());
            return None;
        }
        self.bars
            .note(&format!("{id}: {reason}; giving up after {n} attempts"));
        Some(Outcome::Failed)
    }

    /// Trials another executor holds: done there, or released unfinished and taken over.
    fn check_waiting(&mut self) {
        let results = self.run.results;
        let mut still = Vec::new();
        for spec in std::mem::take(&mut self.waiting) {
            let finished = match state(&spec.dir(results)) {
                TrialState::Running(_) => {
                    still.push(spec);
                    continue;
                }
                TrialState::Done(_) => Outcome::DoneElsewhere,
                TrialState::Diverged(_) => Outcome::Diverged { earlier: true },
                TrialState::Unreadable(m) => Outcome::Unreadable(m),
                TrialState::Pending | TrialState::Interrupted { .. } | TrialState::Failed(_) => {
                    self.queue.push_back(spec);
                    continue;
                }
            };
            self.end(&spec, finished);
        }
        self.waiting = still;
        let elsewhere = self.waiting.len();
        self.bars.overall.set_message(if elsewhere > 0 {
            format!("{elsewhere} running in another executor")
        } else {
            String::new()
        });
    }
}

/// Starts `clipscale sweep run-one DIR` with its output appended to the trial's run.log.
fn spawn(exe: &Path, dir: &TrialDir, device: DeviceSpec) -> Result<Child, LocalError> {
    let log_path = dir.run_log_path();
    let io = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| LocalError::Io { what, path, source }
    };
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io("opening", &log_path))?;
    let mut cmd = Command::new(exe);
    cmd.args(["sweep", "run-one"])
        .arg(dir.path())
        .args(["--device", &device.to_string(), "--quiet"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io("opening", &log_path))?)
        .stderr(log);
    die_with_parent(&mut cmd);
    cmd.spawn().map_err(io("starting", exe))
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

/// The last `lines` lines of a file, joined by ` | `.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join(" | ")
}
