//! The sweep report: a page a strict parser reads, that fetches nothing, shows a log's
//! `<script>` as text, renders a sweep with a failed trial and one with no finished trial, and
//! that a headless browser (Debian's chromium) draws as something other than a blank page.

use std::path::{Path, PathBuf};

use clipscale_analysis::report::{PlannedTrial, write_sweep_inputs, write_sweep_report};

fn fresh(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("clipscale-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A trial folder with a spec head, and a final record when `status` is given.
fn trial(dir: &Path, id: &str, status: Option<&str>, log: &str) {
    let t = dir.join(id);
    std::fs::create_dir_all(&t).unwrap();
    let spec = serde_json::json!({
        "schema_version": 1, "trial_id": id, "sweep": "s",
        "provenance": {"git_commit": "0123456789abcdef", "git_dirty": false,
            "clipscale_version": "0.1.0", "burn_version": "0.21.0", "backend": "flex",
            "device": "cpu", "float_type": "f32", "threads": 2, "host": "vm",
            "started_unix_s": 1.8e9},
        "model_summary": {"name": "w32-d2", "params": 93057, "image_params": 1,
            "text_params": 1, "fwd_macs_per_pair": 1000000, "image_fwd_macs": 1,
            "text_fwd_macs": 1},
        "dataset": "synthetic", "samples": 1000, "batch_size": 10, "seed": 0
    });
    std::fs::write(t.join("spec.json"), spec.to_string()).unwrap();
    std::fs::write(t.join("train.log"), log).unwrap();
    if let Some(status) = status {
        let fin = serde_json::json!({
            "schema_version": 1, "trial_id": id, "status": status, "steps": 100,
            "samples_seen": 1000, "train_flops": 6e9, "final_loss": 2.5, "wall_s": 3.0,
            "message": if status == "failed" { Some("data error <b>") } else { None }
        });
        std::fs::write(t.join("final.json"), fin.to_string()).unwrap();
    }
}

fn planned(id: &str) -> PlannedTrial {
    PlannedTrial {
        trial_id: id.into(),
        model: "w48-d2".into(),
        samples: 2000,
        fwd_macs_per_pair: 2_000_000,
    }
}

/// The page, parsed strictly; every resource it names is inline.
fn parse_and_check(html: &str) -> roxmltree::Document<'_> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(html, opts).expect("well-formed page");
    for node in doc.descendants().filter(|n| n.is_element()) {
        for a in node.attributes() {
            if matches!(a.name(), "src" | "href") {
                assert!(
                    a.value().starts_with("data:") || a.value().starts_with('#'),
                    "<{}> fetches {}",
                    node.tag_name().name(),
                    a.value()
                );
            }
        }
    }
    for css in html.split("url(").skip(1) {
        assert!(
            css.starts_with("data:"),
            "CSS fetches {}",
            &css[..40.min(css.len())]
        );
    }
    doc
}

#[test]
fn a_failed_trial_is_shown_with_its_log_as_text_and_nothing_is_fetched() {
    let results = fresh("failed");
    let dir = results.join("s");
    trial(&dir, "t-done", Some("done"), "step 1 loss 3.0\n");
    trial(
        &dir,
        "t-failed",
        Some("failed"),
        "step 1\n<script>alert('x')</script> & more\nerror: shard 3 is corrupt\n",
    );
    write_sweep_inputs(
        &dir,
        "name = \"s\"\ndescription = \"a test <sweep>\"\n",
        &[planned("t-done"), planned("t-failed"), planned("t-later")],
    )
    .unwrap();
    let path = write_sweep_report(&results, "s").unwrap();
    let html = std::fs::read_to_string(&path).unwrap();
    let doc = parse_and_check(&html);
    // one script element, ours; the log's is text
    let scripts: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("script"))
        .collect();
    assert_eq!(scripts.len(), 1);
    let text: String = doc
        .descendants()
        .filter(|n| n.is_text())
        .map(|n| n.text().unwrap_or(""))
        .collect();
    assert!(
        text.contains("<script>alert('x')</script> & more"),
        "log shown as text"
    );
    assert!(text.contains("error: shard 3 is corrupt"));
    assert!(text.contains("data error <b>"));
    assert!(text.contains("a test <sweep>"), "the description");
    for status in ["done", "failed", "pending"] {
        assert!(
            doc.descendants()
                .any(|n| n.has_tag_name("td") && n.text() == Some(status)),
            "a {status} trial"
        );
    }
    // compute: 2 trials of 6e9 planned and spent, one of 2.4e10 planned
    assert!(
        text.contains("1.200e10 / 3.600e10"),
        "compute spent / planned"
    );
    std::fs::remove_dir_all(&results).ok();
}

#[test]
fn a_sweep_with_no_finished_trial_renders() {
    let results = fresh("pending");
    let dir = results.join("s");
    write_sweep_inputs(&dir, "name = \"s\"\n", &[planned("a"), planned("b")]).unwrap();
    let html = std::fs::read_to_string(write_sweep_report(&results, "s").unwrap()).unwrap();
    assert!(html.contains("No table yet"));
    // a results folder's table holds every sweep collected beside it: only this one's rows
    std::fs::write(
        dir.join("table.csv"),
        "sweep,trial_id,value\ns,a,0.5\nother,x,0.1\nother,y,0.2\n",
    )
    .unwrap();
    let html = std::fs::read_to_string(write_sweep_report(&results, "s").unwrap()).unwrap();
    let doc = parse_and_check(&html);
    let pending = doc
        .descendants()
        .filter(|n| n.has_tag_name("td") && n.text() == Some("pending"))
        .count();
    assert_eq!(pending, 2);
    assert!(html.contains("No law fitted yet"));
    assert!(html.contains("1 rows from"), "only sweep s's row");
    std::fs::remove_dir_all(&results).ok();
}

#[test]
fn a_branched_sweep_says_what_its_trunks_saved() {
    let results = fresh("branched");
    let dir = results.join("s");
    // a trial of 1,000 samples branched at 800 from a trunk of 800: 1,000 against 1,000, and a
    // second of 500 branched at 400 from the same trunk: 800 + 200 + 100 against 1,500
    trial(&dir, "a", Some("done"), "");
    trial(&dir, "b", Some("done"), "");
    let set = |path: PathBuf, samples: u64, branching: serde_json::Value| {
        let mut spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        spec["samples"] = samples.into();
        spec["branching"] = branching;
        std::fs::write(&path, spec.to_string()).unwrap();
    };
    set(
        dir.join("a").join("spec.json"),
        1000,
        serde_json::json!({"role": "branch", "trunk": "k", "from_samples": 800}),
    );
    set(
        dir.join("b").join("spec.json"),
        500,
        serde_json::json!({"role": "branch", "trunk": "k", "from_samples": 400}),
    );
    trial(&dir.join("trunks"), "k", Some("done"), "");
    set(
        dir.join("trunks").join("k").join("spec.json"),
        800,
        serde_json::json!({"role": "trunk", "branch_points": [400, 800]}),
    );
    let html = std::fs::read_to_string(write_sweep_report(&results, "s").unwrap()).unwrap();
    parse_and_check(&html);
    assert!(
        html.contains("2 trials (2 branched from 1 trunk)") && html.contains("27% saved"),
        "{html}"
    );
    std::fs::remove_dir_all(&results).ok();
}

#[test]
fn a_missing_folder_is_an_error_that_names_it() {
    let err = write_sweep_report(Path::new("/nonexistent-results"), "s")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent-results/s"), "{err}");
}

/// Debian's chromium, where installed.
fn browser() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|b| {
        std::process::Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn a_headless_browser_draws_the_page() {
    let Some(chromium) = browser() else {
        assert!(
            std::env::var_os("CLIPSCALE_REQUIRE_BROWSER").is_none(),
            "CLIPSCALE_REQUIRE_BROWSER is set but chromium is not installed (apt-get install chromium)"
        );
        eprintln!("skipped: no chromium (apt-get install chromium)");
        return;
    };
    let results = fresh("browser");
    let dir = results.join("s");
    trial(&dir, "t-done", Some("done"), "step 1\n");
    write_sweep_inputs(&dir, "name = \"s\"\n", &[planned("t-done")]).unwrap();
    let page = write_sweep_report(&results, "s").unwrap();
    let shot = results.join("shot.png");
    let o = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1280,800",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        o.status.success() && shot.is_file(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 800));
    let px = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    let background = pixels[0];
    let differ = pixels.iter().filter(|p| p[..3] != background[..3]).count();
    let share = differ as f64 / pixels.len() as f64;
    assert!(
        share >= 0.05,
        "only {:.1}% of the pixels are drawn",
        100.0 * share
    );
    std::fs::remove_dir_all(&results).ok();
}

#[test]
fn the_published_runs_have_a_report_with_both_laws() {
    let out = fresh("cherti");
    let args = clipscale_analysis::cli::ReportArgs {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("anchors/cherti2023_zeroshot_results.csv"),
        from: Some(clipscale_analysis::cli::Importer::Cherti2023),
        out_dir: out.clone(),
        bootstrap: 50,
    };
    let path = clipscale_analysis::cli::run_report(&args).unwrap();
    let html = std::fs::read_to_string(&path).unwrap();
    let doc = parse_and_check(&html);
    let text: String = doc
        .descendants()
        .filter(|n| n.is_text())
        .map(|n| n.text().unwrap_or(""))
        .collect();
    // the published laws, computed here from the repository's copy of the data
    assert!(text.contains("E = 5.858 * C^-0.1114"), "OpenCLIP's law");
    assert!(text.contains("E = 23.18 * C^-0.1638"), "OpenAI's law");
    assert!(text.contains("t-interval"), "OpenAI's classical interval");
    let svgs = doc.descendants().filter(|n| n.has_tag_name("svg")).count();
    assert!(
        svgs >= 3,
        "the scaling figure and both comparisons inline: {svgs}"
    );
    std::fs::remove_dir_all(&out).ok();
}
