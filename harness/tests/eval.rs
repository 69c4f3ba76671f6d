//! Evaluation: perfect embeddings score 100%, an untrained model scores chance, and `clipscale
//! eval` evaluates a trained trial after the fact on the synthetic held-out set and on an
//! ImageFolder.

use std::process::Command;

use clipscale_core::rng::{Random, SplitMix64};

use clipscale::backend::{CpuBackend, to_vec};
use clipscale::eval::ZeroShotClassifier;
use clipscale::eval::sets as evalsets;
use clipscale::eval::zeroshot::metrics_from_scores;
use clipscale::model::ModelLadder;
use clipscale::train::data::SyntheticSource;

#[test]
fn image_embeddings_equal_to_their_class_embedding_score_100_percent() {
    let (classes, d) = (50, 16);
    let mut rng = SplitMix64::new(3);
    let emb: Vec<Vec<f32>> = (0..classes)
        .map(|_| {
            let v: Vec<f32> = (0..d).map(|_| rng.normal() as f32).collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / n).collect()
        })
        .collect();
    let labels: Vec<usize> = (0..500).map(|i| (i * 7) % classes).collect();
    let emb = &emb;
    let scores: Vec<f32> = labels
        .iter()
        .flat_map(|&y| {
            emb.iter()
                .map(move |c| 100.0 * c.iter().zip(&emb[y]).map(|(a, b)| a * b).sum::<f32>())
        })
        .collect();
    let m = metrics_from_scores(&scores, &labels, classes);
    assert_eq!((m.acc1, m.acc5, m.mean_per_class_recall), (1.0, 1.0, 1.0));
}

#[test]
fn an_untrained_model_scores_chance_within_three_standard_deviations() {
    let cfg = ModelLadder::builtin().get("w32-d2").unwrap().clone();
    let device = Default::default();
    for seed in [0u64, 1, 2, 3] {
        let source =
            SyntheticSource::new(seed, cfg.vision.image_size, cfg.text.context_length).unwrap();
        let model = cfg
            .clone()
            .with_vocab_size(source.tokenizer.vocab_size())
            .init::<CpuBackend>(seed, &device)
            .unwrap();
        let task = evalsets::synthetic(&source, 1024, 256)
            .unwrap()
            .pop()
            .unwrap();
        let classes = task.prompts.len() as f64;
        let m = ZeroShotClassifier::new(&model, &task.prompts, cfg.text.context_length, &device)
            .evaluate(&model, &task.labelled, &device);
        let p = 1.0 / classes;
        let sd = (p * (1.0 - p) / m.n as f64).sqrt();
        assert!(
            (m.acc1 - p).abs() <= 3.0 * sd,
            "seed {seed}: top-1 {:.4} vs chance {p:.4} +- {:.4}",
            m.acc1,
            3.0 * sd
        );
        let _ = to_vec::<CpuBackend, 2>(model.logit_scale.val().unsqueeze());
    }
}

#[test]
fn clipscale_eval_scores_a_trained_trial_on_synthetic_and_an_imagefolder() {
    let dir = std::env::temp_dir().join(format!("clipscale-eval-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bin = env!("CARGO_BIN_EXE_clipscale");
    let out = dir.join("results");
    let ok = Command::new(bin)
        .args([
            "train",
            "--model",
            "w32-d2",
            "--samples",
            "3200",
            "--batch",
            "32",
            "--eval-samples",
            "64",
            "--eval-batch",
            "32",
            "--quiet",
            "--lr",
            "2e-3",
            "--out",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(ok.success());
    let trial = std::fs::read_dir(out.join("adhoc"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    // an ImageFolder of synthetic scenes: the first two classes drawn, named by folder
    let generator = clipscale_data::Synthetic::new(clipscale_data::SyntheticConfig {
        seed: 0,
        image_size: 32,
    })
    .unwrap();
    let folder = dir.join("folder");
    let names = generator.class_names();
    let mut written = 0;
    let mut chosen: Vec<String> = Vec::new();
    for i in 0..400u64 {
        let s = generator.train_sample(i);
        let class = &names[s.class_index];
        if !chosen.contains(class) && chosen.len() < 2 {
            chosen.push(class.clone());
        }
        if !chosen.contains(class) {
            continue;
        }
        let d = folder.join(class.replace(' ', "_"));
        std::fs::create_dir_all(&d).unwrap();
        let rgb = clipscale_data::to_rgb8(&s.image, 32).unwrap();
        std::fs::write(
            d.join(format!("{i}.png")),
            clipscale_data::png::encode_rgb(32, 32, &rgb).unwrap(),
        )
        .unwrap();
        written += 1;
    }
    assert!(written >= 4, "{written}");
    std::fs::write(folder.join("broken_file.png"), b"not an image").unwrap();
    let o = Command::new(bin)
        .args(["eval", "--trial"])
        .arg(&trial)
        .args([
            "--dataset",
            "synthetic-heldout",
            "--eval-samples",
            "64",
            "--eval-batch",
            "32",
            "--dataset",
        ])
        .arg(format!("imagefolder={}", folder.display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("synthetic-heldout")
            && stdout.contains("imagefolder:")
            && stdout.contains("acc1"),
        "{stdout}"
    );
    let bench: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(trial.join("benchmark.json")).unwrap())
            .unwrap();
    assert_eq!(bench.as_array().unwrap().len(), 2);
    assert_eq!(bench[0]["task"], "zeroshot_classification");
    assert!(bench[1]["metrics"]["acc1"].as_f64().unwrap() >= 0.0);
    let evals = std::fs::read_to_string(trial.join("evals.jsonl")).unwrap();
    assert!(evals.contains("imagefolder:"));
    // every zero-shot figure beside its chance level; class names the tokenizer knows
    assert!(stdout.contains("(chance 0.5000)"), "{stdout}");
    assert!(!stdout.contains("warning"), "{stdout}");

    unknown_class_names_are_said(bin, &trial, &dir, &folder, &chosen);
    subgroups_of_an_emoji_folder(bin, &trial, &dir, &generator);
    // an unknown set is a clear error
    let o = Command::new(bin)
        .args(["eval", "--trial"])
        .arg(&trial)
        .args(["--dataset", "imagenet-21k"])
        .output()
        .unwrap();
    assert!(
        !o.status.success()
            && String::from_utf8_lossy(&o.stderr).contains("unknown evaluation set")
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The same pictures under names the word tokenizer has never seen: said, and recorded.
fn unknown_class_names_are_said(
    bin: &str,
    trial: &std::path::Path,
    dir: &std::path::Path,
    folder: &std::path::Path,
    chosen: &[String],
) {
    let strange = dir.join("strange");
    for (from, to) in chosen.iter().zip(["trouser", "sandal"]) {
        std::fs::create_dir_all(strange.join(to)).unwrap();
        for f in std::fs::read_dir(folder.join(from.replace(' ', "_")))
            .unwrap()
            .flatten()
        {
            std::fs::copy(f.path(), strange.join(to).join(f.file_name())).unwrap();
        }
    }
    let o = Command::new(bin)
        .args(["eval", "--trial"])
        .arg(trial)
        .args(["--eval-batch", "32", "--dataset"])
        .arg(format!("imagefolder={}", strange.display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}");
    assert!(
        stdout.contains("warning: 100% of the words of the class names"),
        "{stdout}"
    );
    let evals = std::fs::read_to_string(trial.join("evals.jsonl")).unwrap();
    let share = evals
        .lines()
        .filter(|l| l.contains("strange") && l.contains("unknown_token_share"))
        .count();
    assert_eq!(share, 1, "{evals}");
}

/// The held-out styles of an emoji folder classified by subgroup: 2 subgroups, chance 1/2.
fn subgroups_of_an_emoji_folder(
    bin: &str,
    trial: &std::path::Path,
    dir: &std::path::Path,
    generator: &clipscale_data::Synthetic,
) {
    let emoji = dir.join("emoji");
    std::fs::create_dir_all(emoji.join("heldout_style")).unwrap();
    let concepts = serde_json::json!([
        {"class": 0, "label": "red circle", "subgroup": "shape-round"},
        {"class": 1, "label": "blue circle", "subgroup": "shape-round"},
        {"class": 2, "label": "red square", "subgroup": "shape-square"},
    ]);
    std::fs::write(emoji.join("concepts.json"), concepts.to_string()).unwrap();
    std::fs::write(
        emoji.join("classnames.txt"),
        "red circle\nblue circle\nred square\n",
    )
    .unwrap();
    std::fs::write(emoji.join("templates.txt"), "a {c}\n").unwrap();
    let mut members = Vec::new();
    for i in 0..6u64 {
        let s = generator.train_sample(i);
        let rgb = clipscale_data::to_rgb8(&s.image, 32).unwrap();
        let key = format!("k{i}");
        members.push((
            format!("{key}.png"),
            clipscale_data::png::encode_rgb(32, 32, &rgb).unwrap(),
        ));
        members.push((format!("{key}.txt"), b"an emoji".to_vec()));
        let json = serde_json::json!({"class": i % 3}).to_string();
        members.push((format!("{key}.json"), json.into_bytes()));
    }
    clipscale_data::tarfile::write_tar(
        &emoji.join("heldout_style/heldout_style-000000.tar"),
        &members,
    )
    .unwrap();
    let manifest = serde_json::json!({
        "dataset": "emoji", "image_size": 32, "seed": 0, "num_classes": 3,
        "splits": {"heldout_style": {"samples": 6, "shards": ["heldout_style/heldout_style-000000.tar"],
                   "pattern": "heldout_style/heldout_style-000000.tar"}},
        "sources": [], "wall_seconds": 0.0,
    });
    std::fs::write(emoji.join("manifest.json"), manifest.to_string()).unwrap();
    let o = Command::new(bin)
        .args(["eval", "--trial"])
        .arg(trial)
        .args(["--eval-batch", "2", "--dataset"])
        .arg(format!("emoji-heldout-style-subgroup={}", emoji.display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("emoji-heldout-style-subgroup"), "{stdout}");
    assert!(
        stdout.contains("acc1") && stdout.contains("(chance 0.5000)"),
        "{stdout}"
    );
}
