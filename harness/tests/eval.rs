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
    // an ImageFolder of synthetic scenes: two classes, named by folder
    let generator = clipscale_data::Synthetic::new(clipscale_data::SyntheticConfig {
        seed: 0,
        image_size: 32,
    })
    .unwrap();
    let folder = dir.join("folder");
    let names = generator.class_names();
    let mut written = 0;
    for i in 0..400u64 {
        let s = generator.train_sample(i);
        let class = &names[s.class_index];
        if class != "red circle" && class != "blue square" {
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
