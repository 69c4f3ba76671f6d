//! Evaluation sets, built once: images and captions on the host, labels, and tokenised class
//! prompts. Synthetic scenes: the held-out attribute combinations. Emoji: held-out STYLES (every
//! concept, all classes) and held-out CONCEPTS (classified among the held-out concepts only),
//! from a data set prepared by `clipscale data prepare emoji`. Any prepared classification
//! folder (Fashion-MNIST), an ImageFolder tree, and image-text retrieval pairs from shards.
//! [`EvalSetSpec`] names them on the command line (`clipscale eval --dataset ...`).

use std::path::{Path, PathBuf};

use clipscale_data::{
    DataError, PairSource, ShardSpec, StreamPosition, Tokenizer, Transform, WebDataset, decode_rgb,
};

use clipscale_data::pool::klite::{class_knowledge, enrich};
use clipscale_data::pool::wordnet::Nouns;

use crate::batch::HostBatch;
use crate::train::data::{SyntheticSource, split_pattern};

/// The size of what an evaluation set holds: the model's image size and context length, how
/// many held-out pairs at most, and the batch (the validation loss's fixed batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetShape {
    pub image_size: usize,
    pub context_length: usize,
    pub samples: usize,
    pub batch: usize,
    /// Zero-shot class prompts enriched K-LITE's way (`prompt ; noun , gloss`, the class
    /// name's WordNet gloss; [`clipscale_data::pool::klite::class_knowledge`]).
    pub klite_prompts: bool,
}

/// WordNet's nouns, read once per process for enriched prompts.
fn shared_nouns() -> Result<&'static Nouns, DataError> {
    static NOUNS: std::sync::OnceLock<Result<Nouns, DataError>> = std::sync::OnceLock::new();
    NOUNS
        .get_or_init(|| Nouns::load(&clipscale_data::pool::wordnet::wordnet_dir()))
        .as_ref()
        .map_err(Clone::clone)
}

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
    /// The class names, in prompt order (for the share of their words a tokenizer knows).
    pub names: Vec<String>,
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
        names: heldout.iter().map(|&c| names[c].clone()).collect(),
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

/// Fails unless every pair's class is one of the folder's `classes` class names.
fn check_classes(
    pairs: &[(Vec<f32>, String, usize)],
    classes: usize,
    dir: &Path,
    split: &str,
) -> Result<(), DataError> {
    match pairs.iter().find(|p| p.2 >= classes) {
        Some(p) => Err(DataError::Format {
            path: format!("{} (split {split})", dir.display()),
            detail: format!(
                "a sample's class {} is not among the {classes} lines of classnames.txt",
                p.2
            ),
        }),
        None => Ok(()),
    }
}

/// A prepared folder's class names and prompt templates (`classnames.txt`, `templates.txt`).
fn class_files(dir: &Path) -> Result<(Vec<String>, Vec<String>), DataError> {
    Ok((
        read_lines(&dir.join("classnames.txt"))?,
        read_lines(&dir.join("templates.txt"))?,
    ))
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

/// Tokenised prompts for each class name: every template with `{c}` replaced, and with
/// `shape.klite_prompts` the class's knowledge appended (`prompt ; noun , gloss`) where WordNet
/// has the name or its head noun.
fn class_prompts<'a>(
    names: impl Iterator<Item = &'a str>,
    templates: &[String],
    tokenizer: &dyn Tokenizer,
    shape: SetShape,
) -> Result<Vec<PromptTokens>, DataError> {
    let nouns = if shape.klite_prompts {
        Some(shared_nouns()?)
    } else {
        None
    };
    names
        .map(|c| tokenizer.encode_batch(&prompt_texts(c, templates, nouns), shape.context_length))
        .collect()
}

/// The prompts of class `c`: each template with `{c}` replaced, enriched when `nouns` are
/// given and know the class.
fn prompt_texts(c: &str, templates: &[String], nouns: Option<&Nouns>) -> Vec<String> {
    let knowledge = nouns.and_then(|n| class_knowledge(c, n));
    templates
        .iter()
        .map(|t| {
            let prompt = t.replace("{c}", c);
            match &knowledge {
                Some((noun, gloss)) => enrich(&prompt, noun, gloss),
                None => prompt,
            }
        })
        .collect()
}

/// Batches of (image, caption, class) triples: every batch labelled for classification, the
/// full-size ones also for the fixed-batch validation loss. `label` maps a class to its row.
fn batches(
    pairs: &[(Vec<f32>, String, usize)],
    label: impl Fn(usize) -> usize,
    tokenizer: &dyn Tokenizer,
    shape: SetShape,
) -> Result<(Vec<HostBatch>, Vec<LabelledBatch>), DataError> {
    let SetShape {
        image_size,
        context_length,
        batch,
        ..
    } = shape;
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
    shape: SetShape,
) -> Result<Vec<EvalTask>, DataError> {
    let (classnames, templates) = class_files(dir)?;
    let mut tasks = Vec::new();
    for (split, name) in EMOJI_SETS.into_iter().filter(|(_, n)| names.contains(n)) {
        let pairs = read_split(&split_pattern(dir, split)?, shape.image_size, shape.samples)?;
        check_classes(&pairs, classnames.len(), dir, split)?;
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
        let names: Vec<String> = classes
            .iter()
            .map(|&c| classnames.get(c).cloned().unwrap_or_else(|| "?".into()))
            .collect();
        let prompts = class_prompts(
            names.iter().map(String::as_str),
            &templates,
            tokenizer,
            shape,
        )?;
        let (loss_batches, labelled) = batches(&pairs, |c| index_of[&c], tokenizer, shape)?;
        tasks.push(EvalTask {
            name: name.into(),
            loss_batches,
            labelled,
            prompts,
            names,
        });
    }
    Ok(tasks)
}

/// The name of the held-out styles classified by subgroup.
pub const EMOJI_SUBGROUP_SET: &str = "emoji-heldout-style-subgroup";

/// The emoji folder's held-out styles classified among emojibase's subgroups (95 coarse
/// classes such as "face smiling" or "animal mammal", from `concepts.json`) instead of its
/// 1,644 concepts: a label set on which small models show a signal.
pub fn emoji_subgroups(
    dir: &Path,
    tokenizer: &dyn Tokenizer,
    shape: SetShape,
) -> Result<EvalTask, DataError> {
    let (classnames, templates) = class_files(dir)?;
    let path = dir.join("concepts.json");
    let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, &e))?;
    let concepts: Vec<serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|e| DataError::Format {
            path: path.display().to_string(),
            detail: format!("not a list of concepts: {e}"),
        })?;
    let mut subgroup_of = vec![String::new(); classnames.len()];
    for c in &concepts {
        let class = c.get("class").and_then(serde_json::Value::as_u64);
        let subgroup = c.get("subgroup").and_then(serde_json::Value::as_str);
        if let (Some(class), Some(subgroup)) = (class, subgroup)
            && let Some(slot) = subgroup_of.get_mut(class as usize)
        {
            *slot = subgroup.replace('-', " ");
        }
    }
    if let Some(missing) = subgroup_of.iter().position(String::is_empty) {
        return Err(DataError::Format {
            path: path.display().to_string(),
            detail: format!(
                "class {missing} ({}) has no subgroup",
                classnames.get(missing).map_or("?", String::as_str)
            ),
        });
    }
    let mut subgroups = subgroup_of.clone();
    subgroups.sort();
    subgroups.dedup();
    let row: std::collections::HashMap<&str, usize> = subgroups
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let pairs = read_split(
        &split_pattern(dir, "heldout_style")?,
        shape.image_size,
        shape.samples,
    )?;
    check_classes(&pairs, classnames.len(), dir, "heldout_style")?;
    let prompts = class_prompts(
        subgroups.iter().map(String::as_str),
        &templates,
        tokenizer,
        shape,
    )?;
    let (loss_batches, labelled) =
        batches(&pairs, |c| row[subgroup_of[c].as_str()], tokenizer, shape)?;
    Ok(EvalTask {
        name: EMOJI_SUBGROUP_SET.into(),
        loss_batches,
        labelled,
        prompts,
        names: subgroups,
    })
}

/// Zero-shot classification on a prepared folder with `classnames.txt`, `templates.txt`,
/// `manifest.json` and shards whose key.json holds the `class` (Fashion-MNIST, emoji splits).
pub fn classification(
    name: &str,
    dir: &Path,
    split: &str,
    tokenizer: &dyn Tokenizer,
    shape: SetShape,
) -> Result<EvalTask, DataError> {
    let (classnames, templates) = class_files(dir)?;
    let pairs = read_split(&split_pattern(dir, split)?, shape.image_size, shape.samples)?;
    check_classes(&pairs, classnames.len(), dir, split)?;
    let prompts = class_prompts(
        classnames.iter().map(String::as_str),
        &templates,
        tokenizer,
        shape,
    )?;
    let (loss_batches, labelled) = batches(&pairs, |c| c, tokenizer, shape)?;
    Ok(EvalTask {
        name: name.into(),
        loss_batches,
        labelled,
        prompts,
        names: classnames,
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

/// Zero-shot classification on an ImageFolder tree, `dir/<class>/<image>`: classes in sorted
/// folder order, named by `classnames.txt` when present (else the folder names, `_` as space),
/// prompts from `templates.txt` (else "a photo of a {c}."). Images that do not decode are
/// skipped with a warning; a folder larger than `samples` gives an evenly spread subset.
pub fn imagefolder(
    dir: &Path,
    tokenizer: &dyn Tokenizer,
    shape: SetShape,
) -> Result<EvalTask, DataError> {
    let list = |d: &Path, dirs: bool| -> Result<Vec<PathBuf>, DataError> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|e| DataError::io(d, &e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| if dirs { p.is_dir() } else { p.is_file() })
            .collect();
        out.sort();
        Ok(out)
    };
    let classes = list(dir, true)?;
    if classes.is_empty() {
        return Err(DataError::Format {
            path: dir.display().to_string(),
            detail: "no class sub-folders (ImageFolder layout: DIR/<class>/<image>)".into(),
        });
    }
    let optional_lines = |name: &str| {
        let path = dir.join(name);
        path.is_file().then(|| read_lines(&path)).transpose()
    };
    let names = match optional_lines("classnames.txt")? {
        Some(names) => names,
        None => classes
            .iter()
            .map(|c| {
                c.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .replace('_', " ")
            })
            .collect(),
    };
    if names.len() != classes.len() {
        return Err(DataError::Format {
            path: dir.join("classnames.txt").display().to_string(),
            detail: format!("{} names for {} class folders", names.len(), classes.len()),
        });
    }
    let templates =
        optional_lines("templates.txt")?.unwrap_or_else(|| vec!["a photo of a {c}.".into()]);
    let prompts = class_prompts(
        names.iter().map(String::as_str),
        &templates,
        tokenizer,
        shape,
    )?;
    let transform = Transform::eval(shape.image_size);
    let mut items = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        for file in list(class, false)? {
            let bytes = std::fs::read(&file).map_err(|e| DataError::io(&file, &e))?;
            match decode_rgb(&bytes, &file.display().to_string()) {
                Ok(img) => items.push((transform.apply(&img, 0), label)),
                Err(e) => eprintln!("warning: skipped {}: {e}", file.display()),
            }
        }
    }
    let step = (items.len() / shape.samples.max(1)).max(1);
    let items: Vec<_> = items
        .into_iter()
        .step_by(step)
        .take(shape.samples)
        .collect();
    let labelled = items
        .chunks(shape.batch)
        .map(|chunk| {
            let n = chunk.len();
            let hb = HostBatch {
                batch: n,
                image_size: shape.image_size,
                context_length: shape.context_length,
                images: chunk.iter().flat_map(|x| x.0.iter().copied()).collect(),
                tokens: vec![0; n * shape.context_length],
                eot_pos: vec![0; n],
            };
            (hb, chunk.iter().map(|x| x.1).collect())
        })
        .collect();
    Ok(EvalTask {
        name: format!("imagefolder:{}", dir.display()),
        loss_batches: Vec::new(),
        labelled,
        prompts,
        names,
    })
}

pub use super::spec::{EvalSetError, EvalSetSpec};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn klite_prompts_append_the_class_names_gloss() {
        let mut nouns = Nouns::default();
        nouns
            .gloss
            .insert("hot dog".into(), "a frankfurter in a bun".into());
        nouns
            .gloss
            .insert("face".into(), "the front of the head".into());
        let templates = vec!["a photo of a {c}.".to_owned(), "{c}".to_owned()];
        assert_eq!(
            prompt_texts("hot dog", &templates, Some(&nouns)),
            [
                "a photo of a hot dog. ; hot dog , a frankfurter in a bun",
                "hot dog ; hot dog , a frankfurter in a bun"
            ]
        );
        assert_eq!(
            prompt_texts("grinning face", &templates, Some(&nouns))[1],
            "grinning face ; face , the front of the head"
        );
        // unknown to WordNet, or the setting off: the plain prompts
        assert_eq!(prompt_texts("zzz", &templates, Some(&nouns))[1], "zzz");
        assert_eq!(prompt_texts("hot dog", &templates, None)[1], "hot dog");
    }
}
