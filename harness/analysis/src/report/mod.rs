//! A sweep's report: one self-contained HTML page (`results/<sweep>/report.html`) that says
//! what ran, what it cost, what was found and how sure it is. Inline CSS with the bundled
//! DejaVu Sans embedded, the figures as inline SVG, no network fetch, readable without
//! JavaScript (a few lines of script sort the tables). Everything read from logs and records is
//! HTML-escaped. The page is also well-formed XML, so a strict parser reads it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::bench::iso8601_utc;
use crate::compare::{CompareRecord, summary};
use crate::error::{AnalysisError, Result};
use crate::fit::record::FitRecord;
use crate::records::{TrialSpecHead, TrialStatus, train_flops};
use crate::sweep::forecast_checks;
use crate::table::{self, Table};
use crate::trial::TrialDir;

mod html;

use html::figure;
pub use html::{escape, html_table, page};

/// Lines of a failed trial's log shown in the report.
pub const LOG_TAIL_LINES: usize = 12;

/// Rows of the tidy table shown before "show all".
pub const TABLE_PREVIEW_ROWS: usize = 50;

/// A trial the sweep plans (`<dir>/plan.json`, written by `sweep run`), so that the report lists
/// the trials not started yet.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlannedTrial {
    pub trial_id: String,
    pub model: String,
    pub samples: u64,
    pub fwd_macs_per_pair: u64,
}

/// The file the sweep's plan is kept in.
pub const PLAN_FILE: &str = "plan.json";

/// The file the sweep file is copied to.
pub const SWEEP_FILE: &str = "sweep.toml";

/// Keeps a sweep's file and plan beside its trials (`sweep.toml`, `plan.json`), for its report.
pub fn write_sweep_inputs(dir: &Path, sweep_file: &str, plan: &[PlannedTrial]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| AnalysisError::io(dir, "creating", e))?;
    let path = dir.join(SWEEP_FILE);
    clipscale_core::fs::write_atomic(&path, sweep_file.as_bytes())
        .map_err(|e| AnalysisError::io(&e.path, e.action, e.source))?;
    crate::records::write_json_atomic(&dir.join(PLAN_FILE), &plan)
}

/// One trial as the report lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialLine {
    pub id: String,
    pub model: String,
    /// done, failed, diverged or pending.
    pub status: String,
    pub samples_planned: u64,
    pub samples_seen: u64,
    pub flops_planned: f64,
    pub flops_spent: f64,
    pub wall_s: f64,
    pub final_loss: Option<f64>,
    pub message: Option<String>,
    /// The last lines of the trial's logs, for a trial that did not finish well.
    pub log_tail: Vec<String>,
}

fn log_tail(trial: &TrialDir) -> Vec<String> {
    let mut lines = Vec::new();
    for path in [trial.log_path(), trial.run_log_path()] {
        if let Ok(bytes) = std::fs::read(&path) {
            lines.extend(String::from_utf8_lossy(&bytes).lines().map(str::to_string));
        }
    }
    let skip = lines.len().saturating_sub(LOG_TAIL_LINES);
    lines.split_off(skip)
}

/// The trials under `dir` (folders with a spec), sorted by id, and their spec heads.
pub fn trial_lines(dir: &Path) -> Result<(Vec<TrialLine>, Vec<TrialSpecHead>)> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| AnalysisError::io(dir, "reading", e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("spec.json").is_file())
        .collect();
    entries.sort();
    let planned: Vec<PlannedTrial> =
        crate::records::read_json(&dir.join(PLAN_FILE)).unwrap_or_default();
    let (mut lines, mut heads) = (Vec::new(), Vec::new());
    for path in entries {
        let trial = TrialDir::new(&path);
        let Ok(head) = trial.read_spec_head() else {
            continue;
        };
        let fin = trial.read_final().ok().flatten();
        let macs = head.model_summary.fwd_macs_per_pair;
        let seen = fin.as_ref().map_or_else(
            || trial.last_metrics().map_or(0, |m| m.samples_seen),
            |f| f.samples_seen,
        );
        let status = fin
            .as_ref()
            .map_or("pending".to_string(), |f| f.status.to_string());
        let unwell = fin.as_ref().is_some_and(|f| f.status != TrialStatus::Done);
        lines.push(TrialLine {
            id: head.trial_id.clone(),
            model: head.model_summary.name.clone(),
            status,
            samples_planned: head.samples,
            samples_seen: seen,
            flops_planned: train_flops(macs, head.samples),
            flops_spent: train_flops(macs, seen),
            wall_s: fin.as_ref().map_or(0.0, |f| f.wall_s),
            final_loss: fin.as_ref().and_then(|f| f.final_loss),
            message: fin.as_ref().and_then(|f| f.message.clone()),
            log_tail: if unwell { log_tail(&trial) } else { Vec::new() },
        });
        heads.push(head);
    }
    // planned trials that have no folder yet
    for p in planned {
        if lines.iter().any(|l| l.id == p.trial_id) {
            continue;
        }
        lines.push(TrialLine {
            id: p.trial_id,
            model: p.model,
            status: "pending".into(),
            samples_planned: p.samples,
            samples_seen: 0,
            flops_planned: train_flops(p.fwd_macs_per_pair, p.samples),
            flops_spent: 0.0,
            wall_s: 0.0,
            final_loss: None,
            message: None,
            log_tail: Vec::new(),
        });
    }
    lines.sort_by(|a, b| {
        (&a.model, a.samples_planned, &a.id).cmp(&(&b.model, b.samples_planned, &b.id))
    });
    Ok((lines, heads))
}

fn sci(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else {
        format!("{v:.3e}")
    }
}

fn trials_section(lines: &[TrialLine]) -> String {
    let count = |s: &str| lines.iter().filter(|l| l.status == s).count();
    let planned: f64 = lines.iter().map(|l| l.flops_planned).sum();
    let spent: f64 = lines.iter().map(|l| l.flops_spent).sum();
    let wall: f64 = lines.iter().map(|l| l.wall_s).sum();
    let mut s = String::from("<h2>Trials</h2><div class=\"tiles\">");
    for (label, value) in [
        ("trials", lines.len().to_string()),
        ("done", count("done").to_string()),
        ("failed", count("failed").to_string()),
        ("diverged", count("diverged").to_string()),
        ("pending", count("pending").to_string()),
        (
            "compute spent / planned (train FLOPs)",
            format!("{} / {}", sci(spent), sci(planned)),
        ),
        ("training wall time", format!("{:.0} s", wall)),
    ] {
        let _ = write!(
            s,
            "<div class=\"tile\"><b>{}</b>{}</div>",
            escape(&value),
            escape(label)
        );
    }
    s.push_str("</div>");
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            vec![
                l.id.clone(),
                l.model.clone(),
                l.status.clone(),
                l.samples_seen.to_string(),
                l.samples_planned.to_string(),
                sci(l.flops_spent),
                sci(l.flops_planned),
                format!("{:.1}", l.wall_s),
                l.final_loss.map_or(String::new(), |v| format!("{v:.4}")),
            ]
        })
        .collect();
    s.push_str(&html_table(
        &[
            "trial",
            "model",
            "status",
            "samples seen",
            "planned",
            "FLOPs spent",
            "planned",
            "wall s",
            "final loss",
        ],
        &rows,
    ));
    for l in lines.iter().filter(|l| !l.log_tail.is_empty()) {
        let _ = write!(
            s,
            "<details open=\"open\"><summary class=\"{}\">{} {}: {}</summary><pre>{}</pre></details>",
            escape(&l.status),
            escape(&l.id),
            escape(&l.status),
            escape(l.message.as_deref().unwrap_or("")),
            escape(&l.log_tail.join("\n"))
        );
    }
    s
}

fn provenance_section(heads: &[TrialSpecHead]) -> String {
    let set = |f: &dyn Fn(&TrialSpecHead) -> String| -> String {
        let v: BTreeSet<String> = heads.iter().map(f).collect();
        v.into_iter().collect::<Vec<_>>().join(", ")
    };
    // seconds since 1970 up to the year 9999; anything else is a damaged record, not a date
    let times: Vec<f64> = heads
        .iter()
        .map(|h| h.provenance.started_unix_s)
        .filter(|t| *t > 0.0 && *t < 2.5e11)
        .collect();
    let date = |t: f64| iso8601_utc(std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(t));
    let dates = match (
        times.iter().copied().reduce(f64::min),
        times.iter().copied().reduce(f64::max),
    ) {
        (Some(a), Some(b)) => format!("{} to {}", date(a), date(b)),
        _ => "unknown".into(),
    };
    let rows = vec![
        vec![
            "commits".into(),
            set(&|h| {
                let p = &h.provenance;
                format!(
                    "{}{}",
                    p.git_commit.chars().take(12).collect::<String>(),
                    if p.git_dirty { " (dirty)" } else { "" }
                )
            }),
        ],
        vec![
            "clipscale".into(),
            set(&|h| h.provenance.clipscale_version.clone()),
        ],
        vec!["burn".into(), set(&|h| h.provenance.burn_version.clone())],
        vec!["backends".into(), set(&|h| h.provenance.backend.clone())],
        vec!["devices".into(), set(&|h| h.provenance.device.clone())],
        vec![
            "float types".into(),
            set(&|h| h.provenance.float_type.clone()),
        ],
        vec!["hosts".into(), set(&|h| h.provenance.host.clone())],
        vec!["started".into(), dates],
    ];
    format!(
        "<h2>Provenance</h2>{}",
        html_table(&["", "values over the trials"], &rows)
    )
}

/// The tidy table (the rows of `sweep` when given: a results folder's table holds every sweep
/// collected beside it): its first rows, then all of them behind "show all".
fn table_section(path: &Path, sweep: Option<&str>) -> String {
    let Ok(mut reader) = csv::Reader::from_path(path) else {
        return "<h2>Tidy table</h2><p>No table yet.</p>".into();
    };
    let header: Vec<String> = reader
        .headers()
        .map(|h| h.iter().map(str::to_string).collect())
        .unwrap_or_default();
    let sweep_col = header.iter().position(|h| h == "sweep");
    let rows: Vec<Vec<String>> = reader
        .records()
        .flatten()
        .map(|r| r.iter().map(str::to_string).collect::<Vec<String>>())
        .filter(|r| match (sweep, sweep_col) {
            (Some(s), Some(i)) => r.get(i).is_some_and(|v| v == s),
            _ => true,
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut s = format!(
        "<h2>Tidy table</h2><p>{} rows from <code>{}</code>.</p>",
        rows.len(),
        escape(&path.display().to_string())
    );
    if rows.len() <= TABLE_PREVIEW_ROWS {
        s.push_str(&html_table(&header, &rows));
    } else {
        let _ = write!(
            s,
            "<details><summary>the first {TABLE_PREVIEW_ROWS} rows</summary>{}</details>\
             <details><summary>all {} rows</summary>{}</details>",
            html_table(&header, &rows[..TABLE_PREVIEW_ROWS]),
            rows.len(),
            html_table(&header, &rows)
        );
    }
    s
}

/// The law of a fit record and its intervals, in words.
fn law_line(rec: &FitRecord) -> String {
    let mut s = format!(
        "<p><span class=\"law\">{}</span> on {} of {} points ({} frontier)",
        escape(&rec.formula),
        rec.points_used.len(),
        rec.points_input,
        escape(&rec.frontier)
    );
    if let Some(b) = &rec.bootstrap {
        for p in &b.params {
            let _ = write!(
                s,
                "; {} {:.4} [{:.4}, {:.4}] ({:.0}% bootstrap, {} of {} refits)",
                escape(&p.name),
                p.estimate,
                p.ci_low,
                p.ci_high,
                100.0 * b.level,
                b.succeeded,
                b.reps
            );
        }
    } else if let Some(why) = &rec.bootstrap_refused {
        let _ = write!(s, "; no bootstrap: {}", escape(why));
        if let Some(c) = &rec.classical {
            for p in &c.params {
                let _ = write!(
                    s,
                    "; {} {:.4} [{:.4}, {:.4}] ({:.0}% t-interval, {} residual degrees of freedom)",
                    escape(&p.name),
                    p.estimate,
                    p.ci_low,
                    p.ci_high,
                    100.0 * c.level,
                    c.dof
                );
            }
        }
    }
    for w in &rec.at_bound {
        let _ = write!(s, "; {}", escape(w));
    }
    s.push_str("</p>");
    s
}

fn files_with(dir: &Path, prefix: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                    name.is_some_and(|n| n.starts_with(prefix) && n.ends_with(ext))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn tag_of(path: &Path, prefix: &str) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    stem.trim_start_matches(prefix).to_string()
}

fn fits_section(dir: &Path) -> String {
    let mut s = String::from("<h2>Scaling laws</h2>");
    let fits: Vec<PathBuf> = files_with(dir, "fit-", ".json")
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with("-holdout.json"))
        .collect();
    if fits.is_empty() {
        s.push_str("<p>No law fitted yet (too few finished trials, or none).</p>");
    }
    for path in fits {
        let tag = tag_of(&path, "fit-");
        let _ = write!(s, "<h3>{}</h3>", escape(&tag));
        match crate::records::read_json::<FitRecord>(&path) {
            Ok(rec) => s.push_str(&law_line(&rec)),
            Err(e) => {
                let _ = write!(
                    s,
                    "<p>unreadable fit record: {}</p>",
                    escape(&e.to_string())
                );
            }
        }
        for kind in ["scaling", "samples"] {
            let svg = dir.join(format!("{kind}-{tag}.svg"));
            if svg.is_file() {
                s.push_str(&figure(&svg, &format!("{kind}: {tag}")));
            }
        }
    }
    s
}

fn comparisons_section(dir: &Path) -> String {
    let files = files_with(dir, "compare-", ".json");
    if files.is_empty() {
        return String::new();
    }
    let mut s = String::from("<h2>Comparisons</h2>");
    for path in files {
        let tag = tag_of(&path, "compare-");
        let _ = write!(s, "<h3>{}</h3>", escape(&tag));
        let rec: Option<CompareRecord> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(rec) = rec {
            s.push_str("<pre>");
            s.push_str(&escape(&summary(&rec).join("\n")));
            s.push_str("</pre>");
        }
        let svg = path.with_extension("svg");
        if svg.is_file() {
            s.push_str(&figure(&svg, &format!("comparison: {tag}")));
        }
    }
    s
}

fn forecasts_section(dir: &Path, table: Option<&Table>, sweep: &str) -> String {
    let Some(table) = table else {
        return String::new();
    };
    let several = crate::sweep::eval_datasets(table, sweep).len() > 1;
    let checks = forecast_checks(table, sweep, several);
    if checks.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "<h2>Forecasts</h2><p>Each trial's result predicted before it ran, from the trials \
         finished by then.</p>",
    );
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            vec![
                c.dataset.clone(),
                c.metric.clone(),
                c.n.to_string(),
                format!("{:.1}%", 100.0 * c.mean_abs_rel_error),
                format!("{:.1}%", 100.0 * c.max_abs_rel_error),
                format!("{} of {} ({:.0}% interval)", c.inside, c.n, 100.0 * c.level),
            ]
        })
        .collect();
    s.push_str(&html_table(
        &[
            "data set",
            "metric",
            "forecasts",
            "mean |error|",
            "worst",
            "inside interval",
        ],
        &rows,
    ));
    for c in &checks {
        let svg = dir.join(format!("forecast-{}.svg", c.tag));
        if svg.is_file() {
            s.push_str(&figure(&svg, &format!("forecasts: {}", c.tag)));
        }
    }
    s
}

/// The sweep file's name and description (from its copy `<dir>/sweep.toml`, which `sweep run`
/// writes), and the file itself.
fn sweep_file_section(dir: &Path) -> (String, String) {
    let path = dir.join(SWEEP_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return (
            "No copy of the sweep file in this folder.".into(),
            String::new(),
        );
    };
    let description = text
        .lines()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix("description")
                .and_then(|r| r.trim_start().strip_prefix('='))
                .map(|r| r.trim().trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "(no description)".into());
    let file = format!(
        "<details><summary>The sweep file</summary><pre>{}</pre></details>",
        escape(&text)
    );
    (description, file)
}

/// Writes `results/<sweep>/report.html` and returns its path.
pub fn write_sweep_report(results: &Path, sweep: &str) -> Result<PathBuf> {
    let dir = results.join(sweep);
    if !dir.is_dir() {
        return Err(AnalysisError::arg(
            "report",
            format!("{} is not a sweep's results folder", dir.display()),
        ));
    }
    let (lines, heads) = trial_lines(&dir)?;
    let table_path = dir.join("table.csv");
    let table = table::read_csv(&table_path).ok();
    let (description, file) = sweep_file_section(&dir);
    let mut body = file;
    body.push_str(&trials_section(&lines));
    if let Some(account) = crate::branching::account_sweep_dir(&dir)? {
        let _ = write!(
            body,
            "<p>Branched cooldowns: {}. The tiles above count each trial's whole run, its \
             trunk's part included; the trunks are in <code>trunks/</code>.</p>",
            escape(&account.line())
        );
    }
    body.push_str(&fits_section(&dir));
    body.push_str(&comparisons_section(&dir));
    body.push_str(&forecasts_section(&dir, table.as_ref(), sweep));
    body.push_str(&table_section(&table_path, Some(sweep)));
    body.push_str(&provenance_section(&heads));
    let _ = write!(
        body,
        "<p class=\"lede\">Written by clipscale {} at {}.</p>",
        env!("CARGO_PKG_VERSION"),
        iso8601_utc(std::time::SystemTime::now())
    );
    let html = page(&format!("Sweep {sweep}"), &description, &body);
    let out = dir.join("report.html");
    clipscale_core::fs::write_atomic(&out, html.as_bytes())
        .map_err(|e| AnalysisError::io(&e.path, e.action, e.source))?;
    Ok(out)
}

/// The SVG files among `files` (the figures a page can inline).
fn svgs(files: &[PathBuf]) -> impl Iterator<Item = &PathBuf> {
    files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "svg"))
}

/// The report of Cherti et al. 2023's published runs (`report --from cherti2023 FILE`): the
/// reference table, laws, comparisons and figure are made in `opts.out_dir` (as `plot
/// cherti2023` makes them), then `cherti2023_report.html` beside them.
pub fn write_cherti2023_report(opts: &crate::plot::cherti::ChertiOptions) -> Result<PathBuf> {
    let mut opts = opts.clone();
    if !opts.formats.iter().any(|f| f == "svg") {
        opts.formats.push("svg".into());
    }
    let out = crate::plot::cherti::cherti2023_reference(&opts)?;
    let mut body = String::from(
        "<h2>Scaling laws</h2><p>ImageNet-1k zero-shot top-1 error against total compute (GMAC): \
         the OpenCLIP runs on LAION on the 5-bin frontier, OpenAI's three CLIP models fitted \
         directly.</p>",
    );
    for (who, rec) in [
        ("OpenCLIP (LAION)", &out.openclip),
        ("OpenAI CLIP", &out.openai),
    ] {
        let _ = write!(body, "<h3>{}</h3>{}", escape(who), law_line(rec));
    }
    for svg in svgs(&out.figures) {
        body.push_str(&figure(
            svg,
            &svg.file_name().unwrap_or_default().to_string_lossy(),
        ));
    }
    body.push_str("<h2>Comparisons</h2>");
    for (rec, files) in &out.comparisons {
        let _ = write!(
            body,
            "<h3>{} {}</h3><pre>{}</pre>",
            escape(&rec.dataset),
            escape(&rec.metric),
            escape(&summary(rec).join("\n"))
        );
        for svg in svgs(files) {
            body.push_str(&figure(
                svg,
                &format!("comparison: {} {}", rec.dataset, rec.metric),
            ));
        }
    }
    body.push_str(&table_section(&out.table, None));
    let _ = write!(
        body,
        "<h2>Provenance</h2><p>Published data: <code>{}</code> (Cherti et al. 2023, \
         LAION-AI/scaling-laws-openclip). Fitted by clipscale-analysis {} with {} bootstrap \
         refits (seed {}) at {}.</p>",
        escape(&opts.zeroshot.display().to_string()),
        env!("CARGO_PKG_VERSION"),
        opts.bootstrap,
        opts.seed,
        iso8601_utc(std::time::SystemTime::now())
    );
    let html = page(
        "Cherti et al. 2023: reproducible scaling laws, refitted",
        "The published zero-shot results of OpenCLIP's scaling study, read into clipscale's table \
         and fitted with its laws.",
        &body,
    );
    let path = opts.out_dir.join("cherti2023_report.html");
    clipscale_core::fs::write_atomic(&path, html.as_bytes())
        .map_err(|e| AnalysisError::io(&e.path, e.action, e.source))?;
    Ok(path)
}
