//! The evaluation sets of a trial, built once per run: images and captions on the host, labels,
//! and tokenised class prompts. Synthetic scenes: the held-out attribute combinations. Emoji:
//! held-out STYLES (every concept, all classes) and held-out CONCEPTS (classified among the
//! held-out concepts only), from a data set prepared by `clipscale data prepare emoji`.

use std::path::Path;

use clipscale_data::{DataError, PairSource, ShardSpec, StreamPosition, Tokenizer, WebDataset};

use crate::batch::HostBatch;
use crate::train::data::{SyntheticSource, split_pattern};

/// One evaluation data set.
pub struct EvalTask {
    /// The name in evals.jsonl (e.g. synthetic-heldout, emoji-heldout-style).
    pub name: String,
    /// Fixed-size batches of held-out pairs for the validation loss.
    pub loss_batches: Vec<HostBatch>,
    /// Image batches with their class index into `prompts`.
    pub labelled: Vec<(HostBatch, Vec<usize>)>,
    /// Tokenised prompts per class.
    pub prompts: Vec<(Vec<i64>, Vec<i64>)>,
}

pub fn synthetic(
    source: &SyntheticSource,
    samples: usize,
    batch: usize,
) -> Result<Vec<EvalTask>, DataError> {
    let heldout = source.generator.heldout_classes();
    let names = source.generator.class_names();
    let templates = clipscale_data::Synthetic::templates();
    let prompts = heldout
        .iter()
        .map(|&c| {
            let texts: Vec<String> = templates
                .iter()
                .map(|t| t.replace("{c}", &names[c]))
                .collect();
            source.tokenizer.encode_batch(&texts, source.context_length)
        })
        .collect::<Result<_, _>>()?;
    let mut loss_batches = Vec::new();
    let mut labelled = Vec::new();
    for k in 0..samples / batch {
        let mut images = Vec::new();
        let mut captions = Vec::new();
        let mut labels = Vec::new();
        for i in 0..batch {
            let s = source.generator.heldout_sample((k * batch + i) as u64);
            images.extend_from_slice(&s.image);
            captions.push(s.caption);
            labels.push(
                heldout
                    .iter()
                    .position(|&c| c == s.class_index)
                    .expect("held-out samples have held-out classes"),
            );
        }
        let hb = source.host_batch(images, &captions)?;
        labelled.push((hb.clone(), labels));
        loss_batches.push(hb);
    }
    Ok(vec![EvalTask {
        name: "synthetic-heldout".into(),
        loss_batches,
        labelled,
        prompts,
    }])
}

fn read_lines(path: &Path) -> Result<Vec<String>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, &e))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

/// Up to `samples` pairs of a split (a fixed random subset), with the class from each key.json.
fn read_split(
    pattern: &str,
    image_size: usize,
    samples: usize,
) -> Result<Vec<(Vec<f32>, String, usize)>, DataError> {
    let mut spec = ShardSpec::eval(pattern, image_size);
    spec.shuffle_buffer = 4096; // a fixed random subset rather than the first styles in shard order
    spec.shuffle_shards = true;
    let ds = WebDataset::open(spec)?;
    let mut stream = ds.stream_from(StreamPosition::START)?.with_end_epoch(1);
    let mut out = Vec::new();
    while out.len() < samples {
        let Some(s) = stream.next_sample()? else {
            break;
        };
        let class = s
            .json
            .as_deref()
            .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
            .and_then(|v| v["class"].as_u64())
            .map(|c| c as usize);
        if let Some(c) = class {
            out.push((s.image, s.caption, c));
        }
    }
    Ok(out)
}

/// One class's prompts, tokenised: (tokens, end-of-text positions).
type PromptTokens = (Vec<i64>, Vec<i64>);

/// A batch with the class row of each of its pairs.
type LabelledBatch = (HostBatch, Vec<usize>);

/// Tokenised prompts for each class name: every template with `{c}` replaced.
fn class_prompts<'a>(
    names: impl Iterator<Item = &'a str>,
    templates: &[String],
    tokenizer: &dyn Tokenizer,
    context_length: usize,
) -> Result<Vec<PromptTokens>, DataError> {
    names
        .map(|c| {
            let texts: Vec<String> = templates.iter().map(|t| t.replace("{c}", c)).collect();
            tokenizer.encode_batch(&texts, context_length)
        })
        .collect()
}

/// Batches of (image, caption, class) triples: every batch labelled for classification, the
/// full-size ones also for the fixed-batch validation loss. `label` maps a class to its row.
fn batches(
    pairs: &[(Vec<f32>, String, usize)],
    label: impl Fn(usize) -> usize,
    tokenizer: &dyn Tokenizer,
    image_size: usize,
    context_length: usize,
    batch: usize,
) -> Result<(Vec<HostBatch>, Vec<LabelledBatch>), DataError> {
    let mut loss_batches = Vec::new();
    let mut labelled = Vec::new();
    for chunk in pairs.chunks(batch) {
        let images: Vec<f32> = chunk.iter().flat_map(|p| p.0.iter().copied()).collect();
        let captions: Vec<String> = chunk.iter().map(|p| p.1.clone()).collect();
        let (tokens, eot_pos) = tokenizer.encode_batch(&captions, context_length)?;
        let hb = HostBatch {
            batch: chunk.len(),
            image_size,
            context_length,
            images,
            tokens,
            eot_pos,
        };
        labelled.push((hb.clone(), chunk.iter().map(|p| label(p.2)).collect()));
        if chunk.len() == batch {
            loss_batches.push(hb);
        }
    }
    Ok((loss_batches, labelled))
}

/// The emoji evaluation sets: `emoji-heldout-style` and `emoji-heldout-concept`.
pub const EMOJI_SETS: [(&str, &str); 2] = [
    ("heldout_style", "emoji-heldout-style"),
    ("heldout_concept", "emoji-heldout-concept"),
];

/// Held-out styles and held-out concepts of a prepared emoji data set (those of `names` only).
pub fn emoji(
    dir: &Path,
    names: &[&str],
    tokenizer: &dyn Tokenizer,
    image_size: usize,
    context_length: usize,
    samples: usize,
    batch: usize,
) -> Result<Vec<EvalTask>, DataError> {
    let classnames = read_lines(&dir.join("classnames.txt"))?;
    let templates = read_lines(&dir.join("templates.txt"))?;
    let mut tasks = Vec::new();
    for (split, name) in EMOJI_SETS.into_iter().filter(|(_, n)| names.contains(n)) {
        let pairs = read_split(&split_pattern(dir, split)?, image_size, samples)?;
        // held-out concepts are classified among the held-out concepts; held-out styles among all
        let classes: Vec<usize> = if split == "heldout_concept" {
            let mut c: Vec<usize> = pairs.iter().map(|p| p.2).collect();
            c.sort_unstable();
            c.dedup();
            c
        } else {
            (0..classnames.len()).collect()
        };
        let index_of: std::collections::HashMap<usize, usize> =
            classes.iter().enumerate().map(|(i, &c)| (c, i)).collect();
        let prompts = class_prompts(
            classes
                .iter()
                .map(|&c| classnames.get(c).map(String::as_str).unwrap_or("?")),
            &templates,
            tokenizer,
            context_length,
        )?;
        let (loss_batches, labelled) = batches(
            &pairs,
            |c| index_of[&c],
            tokenizer,
            image_size,
            context_length,
            batch,
        )?;
        tasks.push(EvalTask {
            name: name.into(),
            loss_batches,
            labelled,
            prompts,
        });
    }
    Ok(tasks)
}

/// Zero-shot classification on a prepared folder with `classnames.txt`, `templates.txt`,
/// `manifest.json` and shards whose key.json holds the `class` (Fashion-MNIST, emoji splits).
#[allow(clippy::too_many_arguments)]
pub fn classification(
    name: &str,
    dir: &Path,
    split: &str,
    tokenizer: &dyn Tokenizer,
    image_size: usize,
    context_length: usize,
    samples: usize,
    batch: usize,
) -> Result<EvalTask, DataError> {
    let classnames = read_lines(&dir.join("classnames.txt"))?;
    let templates = read_lines(&dir.join("templates.txt"))?;
    let pairs = read_split(&split_pattern(dir, split)?, image_size, samples)?;
    let prompts = class_prompts(
        classnames.iter().map(String::as_str),
        &templates,
        tokenizer,
        context_length,
    )?;
    let (loss_batches, labelled) =
        batches(&pairs, |c| c, tokenizer, image_size, context_length, batch)?;
    Ok(EvalTask {
        name: name.into(),
        loss_batches,
        labelled,
        prompts,
    })
}

/// Image-text retrieval pairs from shards (one caption per image): images and captions.
pub fn retrieval_pairs(
    pattern: &str,
    image_size: usize,
    samples: usize,
) -> Result<Vec<(Vec<f32>, String)>, DataError> {
    let ds = WebDataset::open(ShardSpec::eval(pattern, image_size))?;
    let mut stream = ds.stream_from(StreamPosition::START)?.with_end_epoch(1);
    let mut out = Vec::new();
    while out.len() < samples {
        let Some(s) = stream.next_sample()? else {
            break;
        };
        out.push((s.image, s.caption));
    }
    Ok(out)
}
