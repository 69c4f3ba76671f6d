//! The plots: files are written and well-formed (PNG signature, IHDR size and chunk CRCs; SVG
//! parses as XML and carries the axis descriptions and the laws), the Cherti et al. 2023
//! reference figure comes with its table and fit records (E = 5.858 C^-0.1114 for OpenCLIP,
//! 23.18 C^-0.1638 for OpenAI), a record's bootstrap band replays exactly, the iso-FLOP optimum
//! lands where a synthetic loss has its minimum, and bad input fails with a clear error before
//! any file is created.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use clipscale_analysis::AnalysisError;
use clipscale_analysis::cli::{
    Cherti2023PlotArgs, FigureArgs, PlotArgs, PlotFitArgs, PlotKind, RowsArgs, ScalingPlotArgs,
    run_plot,
};
use clipscale_analysis::cli::{FrontierArg, LawArg, LawArgs, XArg, YArg};
use clipscale_analysis::fit::bootstrap::BootstrapOptions;
use clipscale_analysis::fit::frontier::Frontier;
use clipscale_analysis::fit::record::FitRecord;
use clipscale_analysis::pipeline::{FitSpec, Law, SelectSpec, YKind, fit_table};
use clipscale_analysis::plot::extrapolation::{ExtrapolationSpec, extrapolation_figure};
use clipscale_analysis::plot::isoflop::{IsoflopSpec, isoflop_figure};
use clipscale_analysis::plot::samples::{SamplesSpec, samples_figure};
use clipscale_analysis::plot::scaling::replay_bootstrap;
use clipscale_analysis::plot::{Labels, render};
use clipscale_analysis::records::read_json;
use clipscale_analysis::{import, table};
use common::{anchor, assert_sig, temp_dir};

const HEADER: &str = "sweep,trial_id,model,params,samples_seen,unique_samples,train_flops,fwd_macs_per_pair,total_gmacs,dataset,metric,value,source,train_data";

/// The Cherti et al. 2023 runs as a tidy table in a fresh folder.
fn cherti_table(dir: &Path) -> PathBuf {
    let params =
        import::cherti2023_arch_params(&anchor("cherti2023_arch_info.csv")).expect("arch info");
    let rows = import::cherti2023(&anchor("cherti2023_zeroshot_results.csv"), Some(&params))
        .expect("import");
    let path = dir.join("cherti.csv");
    table::write_csv(&path, &rows).expect("write");
    path
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, body).expect("write");
    p
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Checks the PNG signature, that every chunk's CRC is right, that IHDR comes first and IEND
/// last with image data between; returns (width, height).
fn png_size(path: &Path) -> (u32, u32) {
    let b = fs::read(path).expect("read png");
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{}: not a PNG",
        path.display()
    );
    let mut at = 8;
    let mut kinds = Vec::new();
    let mut size = (0, 0);
    while at + 12 <= b.len() {
        let len = u32::from_be_bytes(b[at..at + 4].try_into().expect("len")) as usize;
        let kind = &b[at + 4..at + 8];
        let data = &b[at + 8..at + 8 + len];
        let crc = u32::from_be_bytes(b[at + 8 + len..at + 12 + len].try_into().expect("crc"));
        assert_eq!(crc, crc32(&b[at + 4..at + 8 + len]), "bad CRC in {kind:?}");
        if kind == b"IHDR" {
            size = (
                u32::from_be_bytes(data[0..4].try_into().expect("w")),
                u32::from_be_bytes(data[4..8].try_into().expect("h")),
            );
        }
        kinds.push(String::from_utf8_lossy(kind).to_string());
        at += 12 + len;
    }
    assert_eq!(at, b.len(), "trailing bytes");
    assert_eq!(kinds.first().map(String::as_str), Some("IHDR"));
    assert_eq!(kinds.last().map(String::as_str), Some("IEND"));
    assert!(kinds.iter().any(|k| k == "IDAT"));
    size
}

/// Parses the SVG and returns (width attribute, height attribute, all text content).
fn svg_texts(path: &Path) -> (String, String, Vec<String>) {
    let text = fs::read_to_string(path).expect("read svg");
    let doc = roxmltree::Document::parse(&text).expect("SVG is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let texts = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            n.descendants()
                .filter(|d| d.is_text())
                .filter_map(|d| d.text())
                .collect::<String>()
                .trim()
                .to_string()
        })
        .collect();
    (
        root.attribute("width").unwrap_or("").to_string(),
        root.attribute("height").unwrap_or("").to_string(),
        texts,
    )
}

fn figure_args(out: Vec<PathBuf>) -> FigureArgs {
    FigureArgs {
        out,
        width: 1200,
        height: 700,
        title: None,
        x_label: None,
        y_label: None,
        labels: vec![],
    }
}

fn rows_args(table: &Path) -> RowsArgs {
    RowsArgs {
        table: table.to_path_buf(),
        dataset: Some("imagenet1k".into()),
        metric: Some("acc1".into()),
        sweep: vec![],
        train_data: None,
        model: None,
    }
}

fn fit_args() -> PlotFitArgs {
    PlotFitArgs {
        law: LawArgs {
            law: LawArg::Power,
            frontier: Some(FrontierArg::Bins),
            bins: None,
        },
        bootstrap: 200,
        seed: 3,
        level: 0.95,
    }
}

fn scaling_args(table: &Path, out: Vec<PathBuf>) -> ScalingPlotArgs {
    ScalingPlotArgs {
        rows: rows_args(table),
        figure: figure_args(out),
        fitting: fit_args(),
        x: XArg::TotalGmacs,
        y: YArg::Auto,
        color_by: "train_data".into(),
        marker_by: Some("model".into()),
        fit: vec![],
        fit_label: vec![],
        fit_by: "sweep".into(),
        no_fit: false,
        no_band: false,
        write_fits: None,
        group: vec![],
        group_column: "train_data".into(),
    }
}

fn plot(kind: PlotKind) -> clipscale_analysis::Result<clipscale_analysis::cli::PlotReport> {
    run_plot(&PlotArgs { kind })
}

#[test]
fn the_cherti_reference_figure_comes_with_its_table_and_fits() {
    let dir = temp_dir("plot-cherti");
    let report = plot(PlotKind::Cherti2023(Box::new(Cherti2023PlotArgs {
        data: anchor("cherti2023_zeroshot_results.csv"),
        arch_info: anchor("cherti2023_arch_info.csv"),
        out_dir: dir.clone(),
        format: vec!["png".into(), "svg".into()],
        bootstrap: 300,
        seed: 0,
        level: 0.95,
        width: 1400,
        height: 820,
    })))
    .expect("cherti2023 figure");
    assert_eq!(report.outputs.len(), 2);
    assert_eq!(
        png_size(&dir.join("cherti2023_imagenet_scaling.png")),
        (1400, 820)
    );
    let (w, h, texts) = svg_texts(&dir.join("cherti2023_imagenet_scaling.svg"));
    assert_eq!((w.as_str(), h.as_str()), ("1400", "820"));
    for want in [
        "total compute (GMAC)",
        "ImageNet-1k zero-shot top-1 error",
        "OpenCLIP: E = 5.858 C^-0.1114",
        "OpenAI CLIP: E = 23.18 C^-0.1638",
        // three points are too few to bootstrap: the band is the classical interval, said so
        "band: 95% t-interval: alpha in [-0.2774, -0.05012]",
        "OpenAI CLIP band: classical, 1 d.o.f. (3 points, too few to bootstrap)",
        "LAION-80M",
        "LAION-400M",
        "LAION-2B",
    ] {
        assert!(
            texts.iter().any(|t| t == want),
            "no text {want:?} in the SVG; it has {texts:?}"
        );
    }
    // The table and the records the figure was drawn from.
    let t = table::read_csv(&dir.join("cherti2023_imagenet1k.csv")).expect("table");
    assert!(t.rows.iter().all(|r| r.dataset == "imagenet1k"));
    assert_eq!(t.rows.iter().filter(|r| r.metric == "acc1").count(), 32);
    let oc: FitRecord =
        read_json(&dir.join("cherti2023_imagenet1k_openclip_fit.json")).expect("openclip");
    assert_sig("OpenCLIP beta", oc.param("beta").expect("beta"), 5.858, 4);
    assert_sig(
        "OpenCLIP alpha",
        oc.param("alpha").expect("alpha"),
        -0.1114,
        4,
    );
    assert_eq!((oc.points_input, oc.points_used.len()), (29, 5));
    let oa: FitRecord =
        read_json(&dir.join("cherti2023_imagenet1k_openai_fit.json")).expect("openai");
    assert_sig("OpenAI beta", oa.param("beta").expect("beta"), 23.18, 4);
    assert_sig(
        "OpenAI alpha",
        oa.param("alpha").expect("alpha"),
        -0.1638,
        4,
    );
    assert!(oc.bootstrap.as_ref().is_some_and(|b| b.succeeded > 250));
    assert!(oa.bootstrap.is_none() && oa.bootstrap_refused.is_some());
    assert_eq!(oa.classical.as_ref().map(|c| c.dof), Some(1));
    // The training sets compared as the paper did (LAION's runs as one set on the binned
    // frontier, OpenAI's three models directly): OpenAI's data has the steeper ImageNet law,
    // overtaking LAION within the data's range; LAION the steeper retrieval law, better
    // throughout.
    let cmp = |stem: &str| -> clipscale_analysis::compare::CompareRecord {
        assert!(
            dir.join(format!("{stem}.png")).is_file() && dir.join(format!("{stem}.svg")).is_file()
        );
        read_json(&dir.join(format!("{stem}.json"))).expect("comparison record")
    };
    let imagenet = cmp("cherti2023_compare_imagenet1k");
    let p = imagenet.pair("CLIP-WIT", "LAION").expect("pair");
    assert!(
        p.exponent_difference.estimate < 0.0,
        "{:?}",
        p.exponent_difference
    );
    let c = p.crossing.compute.expect("the laws cross");
    assert!(p.crossing.ci_low.expect("low") < c && c < p.crossing.ci_high.expect("high"));
    assert_eq!(p.crossing.better_at_start, "LAION");
    let oa_group = imagenet
        .groups
        .iter()
        .find(|g| g.name == "CLIP-WIT")
        .expect("WIT");
    assert_eq!(oa_group.resampled_by, "classical");
    let coco = cmp("cherti2023_compare_mscoco_retrieval");
    let p = coco.pair("CLIP-WIT", "LAION").expect("pair");
    assert!(
        p.exponent_difference.estimate > 0.0,
        "{:?}",
        p.exponent_difference
    );
    assert_eq!(p.crossing.compute, None);
    assert_eq!(p.crossing.better_at_start, "LAION");
    assert!(
        p.better_at.iter().all(|b| b.p_a_better < 0.05),
        "{:?}",
        p.better_at
    );
}

#[test]
fn scaling_plot_fits_on_the_fly_and_from_records_alike() {
    let dir = temp_dir("plot-scaling");
    let table_path = cherti_table(&dir);
    let png = dir.join("fly.png");
    let svg = dir.join("sub/fly.svg");
    let mut a = scaling_args(&table_path, vec![png.clone(), svg.clone()]);
    a.write_fits = Some(dir.join("fits"));
    let report = plot(PlotKind::Scaling(Box::new(a))).expect("scaling plot");
    assert_eq!(png_size(&png), (1200, 700));
    let (_, _, texts) = svg_texts(&svg);
    assert!(texts.iter().any(|t| t == "total compute (GMAC)"));
    // One law per sweep that bins can be fitted to: the OpenCLIP one is the paper's (bins(5)
    // frontier). OpenAI's three models are fewer than five bins: the report says so instead of
    // drawing a law through points moved to bin centres.
    assert_eq!(report.fits.len(), 1);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("cherti2023-openai") && w.contains("--frontier none")),
        "{:?}",
        report.warnings
    );
    let oc = report
        .fits
        .iter()
        .find(|r| r.selection.sweeps == ["cherti2023-openclip"])
        .expect("openclip law");
    assert_sig("beta", oc.param("beta").expect("beta"), 5.858, 4);
    assert!(
        texts
            .iter()
            .any(|t| t == "cherti2023-openclip: E = 5.858 C^-0.1114"),
        "{texts:?}"
    );
    assert_eq!(report.data_files.len(), 1);

    // The written record drawn again: same law, and its band replays from the seed.
    let rec_path = report
        .data_files
        .iter()
        .find(|p| p.to_string_lossy().contains("openclip"))
        .expect("record file")
        .clone();
    let mut b = scaling_args(&table_path, vec![dir.join("from-record.svg")]);
    b.fit = vec![rec_path.clone()];
    b.fit_label = vec!["OpenCLIP".into()];
    let again = plot(PlotKind::Scaling(Box::new(b))).expect("from record");
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
    let (_, _, texts) = svg_texts(&dir.join("from-record.svg"));
    assert!(
        texts.iter().any(|t| t == "OpenCLIP: E = 5.858 C^-0.1114"),
        "{texts:?}"
    );
}

#[test]
fn a_records_bootstrap_replays_exactly() {
    let dir = temp_dir("plot-replay");
    let t = table::read_csv(&cherti_table(&dir)).expect("table");
    let select = SelectSpec {
        sweeps: vec!["cherti2023-openclip".into()],
        train_data: None,
        model: None,
        dataset: Some("imagenet1k".into()),
        metric: Some("acc1".into()),
        x_column: "total_gmacs".into(),
        y: YKind::Auto,
        drop_highest: 0,
        need_nd: false,
    };
    let spec = FitSpec {
        law: Law::Power,
        frontier: Frontier::Bins(5),
        saturating: Default::default(),
        chinchilla: Default::default(),
    };
    let boot = BootstrapOptions {
        reps: 150,
        seed: 9,
        level: 0.9,
        threads: 1,
    };
    let rec = fit_table(&t, &select, &spec, Some(&boot), None).expect("fit");
    let in_memory = rec.bootstrap.as_ref().expect("boot").replicates.clone();
    // Through JSON (where the refits are not stored) and back.
    let json = serde_json::to_string(&rec).expect("json");
    let back: FitRecord = serde_json::from_str(&json).expect("parse");
    assert!(back.bootstrap.as_ref().expect("boot").replicates.is_empty());
    let replayed = replay_bootstrap(&t, &back).expect("replay");
    assert_eq!(replayed, in_memory);
    // A record that does not match the table is refused, naming both laws.
    let mut wrong = back.clone();
    wrong.parameters[0].value *= 1.5;
    let err = replay_bootstrap(&t, &wrong).expect_err("mismatch");
    assert!(err.to_string().contains("is it the table"), "{err}");
}

#[test]
fn samples_isoflop_and_extrapolation_plots_are_written() {
    let dir = temp_dir("plot-kinds");
    let t = table::read_csv(&cherti_table(&dir)).expect("table");
    // Metric against samples seen, one line per (model, data set).
    let fig = samples_figure(
        &t,
        &SamplesSpec {
            sweeps: vec![],
            train_data: None,
            model: None,
            dataset: Some("imagenet1k".into()),
            metric: Some("acc1".into()),
            x_column: "samples_seen".into(),
            y: YKind::Auto,
            y_log: false,
            group_by: vec!["model".into(), "train_data".into()],
            color_by: Some("model".into()),
            marker_by: Some("train_data".into()),
            labels: Labels::default(),
            title: Some("per model".into()),
            x_label: None,
            y_label: None,
            width: 900,
            height: 600,
        },
    )
    .expect("samples figure");
    assert!(
        fig.texts()
            .iter()
            .any(|s| s == "ImageNet-1k zero-shot top-1 accuracy")
    );
    assert!(fig.texts().iter().any(|s| s == "samples seen"));
    let p = dir.join("samples.png");
    render(&fig, &p).expect("render");
    assert_eq!(png_size(&p), (900, 600));

    // Iso-FLOP: loss = 2 + 0.3 (log10 N - u0)^2 with u0 = 8 + k/2 at budget 10^(18+k).
    let mut body = format!("{HEADER}\n");
    for k in 0..3 {
        let u0 = 8.0 + 0.5 * k as f64;
        for j in 0..7 {
            let u = u0 - 0.9 + 0.3 * j as f64;
            let n = 10f64.powf(u);
            let c = 10f64.powf(18.0 + k as f64) * (1.0 + 0.01 * j as f64);
            let loss = 2.0 + 0.3 * (u - u0) * (u - u0);
            body += &format!(
                "iso,t{k}{j},m{j},{},,,{c:e},,,train,loss,{loss},x:{},d\n",
                n.round(),
                k * 7 + j + 2
            );
        }
    }
    let iso_path = write(&dir, "iso.csv", &body);
    let iso_table = table::read_csv(&iso_path).expect("iso table");
    let iso_spec = IsoflopSpec {
        sweeps: vec![],
        train_data: None,
        model: None,
        dataset: None,
        metric: None,
        budget_column: "train_flops".into(),
        x_column: "params".into(),
        y: YKind::Auto,
        y_log: false,
        budgets: vec![],
        tolerance_dex: 0.05,
        law: None,
        title: None,
        x_label: None,
        y_label: None,
        width: 1000,
        height: 650,
    };
    let iso = isoflop_figure(&iso_table, &iso_spec).expect("isoflop");
    assert_eq!(iso.budgets.len(), 3);
    for (k, b) in iso.budgets.iter().enumerate() {
        let (n, l) = b.optimum.expect("optimum");
        assert!(
            (n.log10() - (8.0 + 0.5 * k as f64)).abs() < 1e-3,
            "budget {k}: N {n}"
        );
        assert!((l - 2.0).abs() < 1e-3, "budget {k}: loss {l}");
    }
    let p = dir.join("iso.svg");
    render(&iso.figure, &p).expect("render");
    let (_, _, texts) = svg_texts(&p);
    assert!(texts.iter().any(|s| s == "parameters"));
    assert!(texts.iter().any(|s| s == "training loss"));
    // Given budgets far from every run leave nothing to draw.
    let mut none = iso_spec.clone();
    none.budgets = vec![1e30];
    assert!(matches!(
        isoflop_figure(&iso_table, &none),
        Err(AnalysisError::NothingToPlot { .. })
    ));

    // Extrapolation: fit OpenCLIP below 1e12 GMAC, predict above.
    let select = SelectSpec {
        sweeps: vec!["cherti2023-openclip".into()],
        train_data: None,
        model: None,
        dataset: Some("imagenet1k".into()),
        metric: Some("acc1".into()),
        x_column: "total_gmacs".into(),
        y: YKind::Auto,
        drop_highest: 0,
        need_nd: false,
    };
    let spec = FitSpec {
        law: Law::Power,
        frontier: Frontier::Pareto,
        saturating: Default::default(),
        chinchilla: Default::default(),
    };
    let rec = fit_table(&t, &select, &spec, None, Some(1e12)).expect("holdout fit");
    let fig = extrapolation_figure(
        &rec,
        &ExtrapolationSpec {
            title: None,
            x_label: None,
            y_label: None,
            log: false,
            width: 1000,
            height: 700,
        },
    )
    .expect("extrapolation figure");
    assert!(fig.same_range);
    let p = dir.join("extra.svg");
    render(&fig, &p).expect("render");
    let (_, _, texts) = svg_texts(&p);
    assert!(texts.iter().any(|s| s == "predicted = observed"));
    assert!(texts.iter().any(|s| s.starts_with("observed ImageNet-1k")));
    // A record without a check is refused.
    let plain = fit_table(&t, &select, &spec, None, None).expect("fit");
    assert!(
        extrapolation_figure(
            &plain,
            &ExtrapolationSpec {
                title: None,
                x_label: None,
                y_label: None,
                log: false,
                width: 800,
                height: 600
            }
        )
        .is_err()
    );
}

#[test]
fn bad_input_fails_clearly_and_writes_nothing() {
    let dir = temp_dir("plot-bad");
    let out = dir.join("never.png");
    let run = |table: &Path| {
        let mut a = scaling_args(table, vec![out.clone()]);
        a.fitting.bootstrap = 0;
        plot(PlotKind::Scaling(Box::new(a)))
    };

    // Missing columns are named.
    let p = write(
        &dir,
        "cols.csv",
        "sweep,dataset,metric,value\nsw,imagenet1k,acc1,0.5\n",
    );
    match run(&p) {
        Err(AnalysisError::MissingColumns { missing, .. }) => assert_eq!(missing, ["total_gmacs"]),
        other => panic!("expected MissingColumns, got {other:?}"),
    }

    // A header and no rows.
    let p = write(&dir, "empty.csv", &format!("{HEADER}\n"));
    let err = run(&p).expect_err("empty");
    assert!(matches!(err, AnalysisError::NothingToPlot { .. }), "{err}");
    assert!(err.to_string().contains("no rows"), "{err}");

    // No rows left after filtering: the unknown value and those present are named.
    let good = format!(
        "{HEADER}\n\
         sw,a,m1,,,,,,1e3,imagenet1k,acc1,0.3,x:2,d1\n\
         sw,b,m2,,,,,,1e4,imagenet1k,acc1,0.4,x:3,d1\n\
         sw,c,m3,,,,,,1e5,imagenet1k,acc1,0.5,x:4,d1\n"
    );
    let p = write(&dir, "good.csv", &good);
    let mut a = scaling_args(&p, vec![out.clone()]);
    a.rows.model = Some("ViT-X".into());
    let err = plot(PlotKind::Scaling(Box::new(a))).expect_err("unknown model");
    let msg = err.to_string();
    assert!(msg.contains("ViT-X") && msg.contains("m1"), "{msg}");

    // A non-positive value on a log axis names the file, line and value.
    let zero = good.replace("1e4,imagenet1k", "0,imagenet1k");
    let p = write(&dir, "zero.csv", &zero);
    match run(&p) {
        Err(AnalysisError::NonPositiveOnLogAxis {
            axis,
            where_,
            value,
        }) => {
            assert_eq!(axis, "total_gmacs");
            assert!(where_.ends_with("zero.csv:3"), "{where_}");
            assert_eq!(value, 0.0);
        }
        other => panic!("expected NonPositiveOnLogAxis, got {other:?}"),
    }
    // Accuracy 1.0 is an error of 0, which a log axis cannot show.
    let perfect = good.replace("acc1,0.5", "acc1,1.0");
    let p = write(&dir, "perfect.csv", &perfect);
    let err = run(&p).expect_err("zero error");
    assert!(
        matches!(err, AnalysisError::NonPositiveOnLogAxis { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("perfect.csv:4"), "{err}");

    // An unknown extension is refused before anything is read.
    let p = write(&dir, "good2.csv", &good);
    let a = scaling_args(&p, vec![dir.join("figure.pdf")]);
    let err = plot(PlotKind::Scaling(Box::new(a))).expect_err("pdf");
    assert!(err.to_string().contains(".png or .svg"), "{err}");

    // Grouping by a numeric column is refused.
    let mut a = scaling_args(&p, vec![out.clone()]);
    a.color_by = "value".into();
    assert!(plot(PlotKind::Scaling(Box::new(a))).is_err());

    assert!(!out.exists(), "a failed plot must not leave a file");
    assert!(!dir.join("figure.pdf").exists());
}
