//! The reference figure of Cherti et al. 2023 ("Reproducible scaling laws for contrastive
//! language-image learning", Fig. 1a) reproduced from their published runs: ImageNet-1k
//! zero-shot top-1 error against total compute (GMAC), the 29 OpenCLIP runs coloured by
//! training set (LAION-80M/400M/2B) and shaped by model, with the power law fitted to their
//! 5-bin frontier (E = 5.858 C^-0.1114), and OpenAI's 3 CLIP models with the law fitted to them
//! directly (E = 23.18 C^-0.1638); the first with its bootstrap band, the second with its
//! classical t-band (three points are too few to bootstrap). Writes the tidy table the figure is
//! drawn from, both fit records and the figure files.

use std::path::{Path, PathBuf};

use super::Labels;
use super::compare::{CompareFigureSpec, compare_figure};
use super::figure::render;
use super::scaling::{Fits, LawToDraw, ScalingSpec, scaling_figure};
use crate::compare::{CompareRecord, CompareSpec, compare};
use crate::error::{AnalysisError, Result};
use crate::fit::bootstrap::BootstrapOptions;
use crate::fit::frontier::Frontier;
use crate::fit::record::FitRecord;
use crate::import::{self, CHERTI_OPENAI, CHERTI_OPENCLIP};
use crate::pipeline::{FitSpec, Law, SelectSpec, YKind, fit_table};
use crate::records::write_json_atomic;
use crate::table::{self, Grouping};

/// File names written into the output folder.
pub const TABLE_FILE: &str = "cherti2023_imagenet1k.csv";
pub const OPENCLIP_FIT_FILE: &str = "cherti2023_imagenet1k_openclip_fit.json";
pub const OPENAI_FIT_FILE: &str = "cherti2023_imagenet1k_openai_fit.json";
pub const FIGURE_STEM: &str = "cherti2023_imagenet_scaling";
pub const COCO_TABLE_FILE: &str = "cherti2023_mscoco_captions.csv";

/// The comparisons of the training sets written beside the figure: (stem, table, data set,
/// metric). LAION's runs grouped as one set, OpenAI's WIT as the other.
pub const COMPARISONS: [(&str, &str, &str, &str); 2] = [
    (
        "cherti2023_compare_imagenet1k",
        TABLE_FILE,
        "imagenet1k",
        "acc1",
    ),
    (
        "cherti2023_compare_mscoco_retrieval",
        COCO_TABLE_FILE,
        "mscoco_captions",
        "image_retrieval_recall@5",
    ),
];

/// Inputs and options of the reference figure.
#[derive(Debug, Clone)]
pub struct ChertiOptions {
    /// LAION-AI/scaling-laws-openclip zeroshot_results.csv.
    pub zeroshot: PathBuf,
    /// Their arch_info.csv (fills `params`), optional.
    pub arch_info: Option<PathBuf>,
    /// Folder for the table, the records and the figures.
    pub out_dir: PathBuf,
    /// Figure formats to write (`png`, `svg`).
    pub formats: Vec<String>,
    pub bootstrap: usize,
    pub seed: u64,
    pub level: f64,
    pub width: u32,
    pub height: u32,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct ChertiOutputs {
    pub table: PathBuf,
    pub fit_files: Vec<PathBuf>,
    pub figures: Vec<PathBuf>,
    pub openclip: FitRecord,
    pub openai: FitRecord,
    /// The training-set comparisons, with the files each was written to (record, figures).
    pub comparisons: Vec<(CompareRecord, Vec<PathBuf>)>,
}

fn select(sweep: &str) -> SelectSpec {
    SelectSpec {
        sweeps: vec![sweep.to_string()],
        train_data: None,
        model: None,
        dataset: Some("imagenet1k".into()),
        metric: Some("acc1".into()),
        x_column: "total_gmacs".into(),
        y: YKind::Error,
        drop_highest: 0,
        need_nd: false,
    }
}

fn power(frontier: Frontier) -> FitSpec {
    FitSpec {
        law: Law::Power,
        frontier,
        saturating: Default::default(),
        chinchilla: Default::default(),
    }
}

/// Imports, fits, writes the table and records, and draws the figure.
pub fn cherti2023_reference(opts: &ChertiOptions) -> Result<ChertiOutputs> {
    if opts.formats.is_empty() {
        return Err(AnalysisError::arg(
            "format",
            "give at least one of png, svg",
        ));
    }
    let params = opts
        .arch_info
        .as_deref()
        .map(import::cherti2023_arch_params)
        .transpose()?;
    let all = import::cherti2023(&opts.zeroshot, params.as_ref())?;
    let (rows, coco): (Vec<_>, Vec<_>) = all
        .into_iter()
        .filter(|r| r.dataset == "imagenet1k" || r.dataset == "mscoco_captions")
        .partition(|r| r.dataset == "imagenet1k");
    if rows.is_empty() {
        return Err(AnalysisError::NothingToPlot {
            what: format!("{} has no imagenet1k rows", opts.zeroshot.display()),
        });
    }
    std::fs::create_dir_all(&opts.out_dir)
        .map_err(|e| AnalysisError::io(&opts.out_dir, "creating", e))?;
    let table_path = opts.out_dir.join(TABLE_FILE);
    table::write_csv(&table_path, &rows)?;
    let t = table::read_csv(&table_path)?;

    let boot = (opts.bootstrap > 0).then_some(BootstrapOptions {
        reps: opts.bootstrap,
        seed: opts.seed,
        level: opts.level,
        threads: 0,
    });
    let fit = |sweep: &str,
               frontier: Frontier,
               file: &str|
     -> Result<(FitRecord, Vec<Vec<f64>>, PathBuf)> {
        let mut rec = fit_table(&t, &select(sweep), &power(frontier), boot.as_ref(), None)?;
        let reps = rec
            .bootstrap
            .as_mut()
            .map(|b| std::mem::take(&mut b.replicates))
            .unwrap_or_default();
        let path = opts.out_dir.join(file);
        write_json_atomic(&path, &rec)?;
        Ok((rec, reps, path))
    };
    let (openclip, oc_reps, oc_path) = fit(CHERTI_OPENCLIP, Frontier::Bins(5), OPENCLIP_FIT_FILE)?;
    let (openai, oa_reps, oa_path) = fit(CHERTI_OPENAI, Frontier::None, OPENAI_FIT_FILE)?;

    let mut labels = Labels::default();
    labels.insert("CLIP-WIT", "WIT-400M (OpenAI)");
    let spec = ScalingSpec {
        select: SelectSpec {
            sweeps: vec![CHERTI_OPENCLIP.into(), CHERTI_OPENAI.into()],
            ..select(CHERTI_OPENCLIP)
        },
        color_by: "train_data".into(),
        marker_by: Some("model".into()),
        fits: Fits::Given(vec![
            LawToDraw {
                label: "OpenCLIP".into(),
                record: openclip.clone(),
                replicates: oc_reps,
            },
            LawToDraw {
                label: "OpenAI CLIP".into(),
                record: openai.clone(),
                replicates: oa_reps,
            },
        ]),
        band: true,
        dashed_beyond_data: false,
        labels,
        title: Some(
            "ImageNet-1k zero-shot error against compute (data of Cherti et al. 2023)".into(),
        ),
        x_label: None,
        y_label: None,
        width: opts.width,
        height: opts.height,
    };
    let plot = scaling_figure(&t, &spec)?;
    let mut figures = Vec::new();
    for f in &opts.formats {
        let path = opts.out_dir.join(format!("{FIGURE_STEM}.{f}"));
        render(&plot.figure, &path)?;
        figures.push(path);
    }
    table::write_csv(&opts.out_dir.join(COCO_TABLE_FILE), &coco)?;
    let comparisons = COMPARISONS
        .iter()
        .map(|c| compare_training_sets(opts, c))
        .collect::<Result<_>>()?;
    Ok(ChertiOutputs {
        table: table_path,
        fit_files: vec![oc_path, oa_path],
        figures,
        openclip,
        openai,
        comparisons,
    })
}

/// LAION's runs (80M, 400M and 2B read as one set; the power law on the 5-bin frontier as the
/// paper fits them) against OpenAI's WIT (its 3 models fitted directly, with the classical
/// interval), on one data set and metric; writes the record and the figures.
fn compare_training_sets(
    opts: &ChertiOptions,
    (stem, table_file, dataset, metric): &(&str, &str, &str, &str),
) -> Result<(CompareRecord, Vec<PathBuf>)> {
    let t = table::read_csv(&opts.out_dir.join(table_file))?;
    let laion: Grouping = "LAION=LAION-80M,LAION-400M,LAION-2B"
        .parse()
        .map_err(|e: String| AnalysisError::arg("group", e))?;
    let t = t.regroup("train_data", &[laion])?;
    let select = SelectSpec {
        sweeps: vec![],
        dataset: Some(dataset.to_string()),
        metric: Some(metric.to_string()),
        ..select(CHERTI_OPENCLIP)
    };
    let spec = CompareSpec {
        select: select.clone(),
        by: "train_data".into(),
        fit: power(Frontier::Bins(5)),
        frontier_of: vec![("CLIP-WIT".into(), Frontier::None)],
        bootstrap: BootstrapOptions {
            reps: opts.bootstrap.max(2),
            seed: opts.seed,
            level: opts.level,
            threads: 0,
        },
        at: vec![1e11, 1e12, 1e13],
        range: None,
    };
    let rec = compare(&t, &spec)?;
    let mut labels = Labels::default();
    labels.insert("CLIP-WIT", "WIT-400M (OpenAI)");
    labels.insert("LAION", "LAION (80M, 400M, 2B)");
    let what = if *dataset == "imagenet1k" {
        "ImageNet-1k zero-shot error"
    } else {
        "MS-COCO image retrieval error (1 - recall@5)"
    };
    let fig = compare_figure(
        &t,
        &rec,
        &CompareFigureSpec {
            select,
            marker_by: Some("model".into()),
            labels,
            title: Some(format!(
                "{what}: LAION against OpenAI's data (Cherti et al. 2023 runs)"
            )),
            width: opts.width,
            height: opts.height,
        },
    )?;
    let record = opts.out_dir.join(format!("{stem}.json"));
    write_json_atomic(&record, &rec)?;
    let mut files = vec![record];
    for f in &opts.formats {
        let path = opts.out_dir.join(format!("{stem}.{f}"));
        render(&fig, &path)?;
        files.push(path);
    }
    Ok((rec, files))
}

/// The default anchor file of this crate, for the CLI default.
pub fn default_zeroshot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("anchors/cherti2023_zeroshot_results.csv")
}
