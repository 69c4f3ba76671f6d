//! open_clip interoperability against open_clip itself (2.24.0 on Debian's torch 1.13, installed
//! by harness/bench/setup-peer.sh): randomly initialised open_clip models (ViT-B-32, and the
//! ladder's w32-d2 as a custom config) saved as open_clip saves them, loaded into clipscale, and
//! compared in f32 on the CPU on the same preprocessed images and token ids; the reverse trip
//! (clipscale's export loaded strictly by open_clip); the tokenizer's ids; and a state dict
//! that does not fit refused with every bad key named. The figures print with `--nocapture`.
//!
//! With CLIPSCALE_REQUIRE_PEER=1 (set by .ci/run) a missing peer fails these tests instead of
//! skipping them.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::prelude::*;
use clipscale::backend::{CpuBackend, to_vec};
use clipscale::eval::zeroshot::ZeroShotClassifier;
use clipscale::model::openclip::{
    OpenClipError, load_state_dict, model_config_json, read_state_dict, state_dict,
    write_state_dict,
};
use clipscale::model::{Clip, ClipConfig, ModelLadder};
use clipscale_analysis::trial::TrialDir;

type B = CpuBackend;

/// The relative difference of `a` from `b`: max |a - b| over max |b|.
fn rel(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths");
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from((x - y).abs()))
        .fold(0.0, f64::max);
    let scale = b.iter().map(|y| f64::from(y.abs())).fold(0.0, f64::max);
    diff / scale
}

const TOLERANCE: f64 = 1e-5;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("peer")
        .join("openclip_parity.py")
}

/// Whether the peer answers; a missing one fails under CLIPSCALE_REQUIRE_PEER=1.
fn peer_available() -> bool {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import torch, open_clip, safetensors"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok && std::env::var("CLIPSCALE_REQUIRE_PEER").as_deref() == Ok("1") {
        panic!(
            "CLIPSCALE_REQUIRE_PEER=1 but open_clip cannot be imported by /usr/bin/python3: install it with `bash harness/bench/setup-peer.sh`"
        );
    }
    if !ok {
        eprintln!("skipped: no open_clip peer (bash harness/bench/setup-peer.sh installs it)");
    }
    ok
}

fn py(args: &[&str]) -> String {
    let o = Command::new("/usr/bin/python3")
        .arg(script())
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "openclip_parity.py {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("clipscale-openclip-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ladder(name: &str) -> ClipConfig {
    ModelLadder::builtin().get(name).unwrap().clone()
}

/// A tensor of a safetensors file written by the peer, as (shape, values).
fn tensor(file: &Path, key: &str) -> (Vec<usize>, Vec<f32>) {
    read_state_dict(file)
        .unwrap()
        .tensors
        .remove(key)
        .unwrap_or_else(|| panic!("{}: no {key}", file.display()))
}

/// clipscale's image and text embeddings and logits for the inputs of `io`.
fn ours(model: &Clip<B>, io: &Path) -> [Vec<f32>; 3] {
    let device = Default::default();
    let (ishape, images) = tensor(io, "images");
    let (tshape, tokens) = tensor(io, "tokens");
    let images = Tensor::<B, 4>::from_data(
        TensorData::new(images, [ishape[0], ishape[1], ishape[2], ishape[3]]),
        &device,
    );
    let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    // the end of text is the highest id of each row (open_clip pools at its argmax)
    let eot: Vec<i64> = ids
        .chunks(tshape[1])
        .map(|row| {
            let max = row.iter().max().unwrap();
            row.iter().position(|x| x == max).unwrap() as i64
        })
        .collect();
    let n = eot.len();
    let tokens =
        Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [tshape[0], tshape[1]]), &device);
    let eot = Tensor::<B, 1, Int>::from_data(TensorData::new(eot, [n]), &device);
    let img = model.encode_image(images);
    let txt = model.encode_text(tokens, eot);
    let logits =
        img.clone().matmul(txt.clone().transpose()) * model.logit_scale.val().exp().unsqueeze();
    [to_vec(img), to_vec(txt), to_vec(logits)]
}

/// Compares clipscale's outputs with the peer's in `theirs`; returns the three differences.
fn compare(what: &str, ours: &[Vec<f32>; 3], theirs: &Path) -> [f64; 3] {
    let mut out = [0.0; 3];
    for (i, key) in ["image_features", "text_features", "logits"]
        .iter()
        .enumerate()
    {
        let (_, t) = tensor(theirs, key);
        out[i] = rel(&ours[i], &t);
        println!("{what}: {key} relative difference {:.2e}", out[i]);
        assert!(
            out[i] < TOLERANCE,
            "{what}: {key} differs from open_clip's by {:.2e} (relative; tolerance {TOLERANCE:e})",
            out[i]
        );
    }
    out
}

fn load(config: &ClipConfig, file: &Path) -> Result<Clip<B>, OpenClipError> {
    let device = Default::default();
    let model = config.init::<B>(0, &device).unwrap();
    load_state_dict(model, config, read_state_dict(file)?, file, &device)
}

#[test]
fn vit_b_32_loads_from_open_clips_files_and_computes_what_open_clip_computes() {
    if !peer_available() {
        return;
    }
    let dir = tmp("b32");
    py(&[
        "make",
        "--model",
        "ViT-B-32",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let config = ladder("ViT-B-32");
    // a training checkpoint ({"epoch", "state_dict"} with "module." prefixes) and safetensors
    for file in ["checkpoint.pt", "model.safetensors"] {
        let model = load(&config, &dir.join(file)).unwrap();
        compare(
            &format!("ViT-B-32 from {file}"),
            &ours(&model, &dir.join("io.safetensors")),
            &dir.join("io.safetensors"),
        );
    }
    let model = load(&config, &dir.join("model.safetensors")).unwrap();
    zero_shot_classifiers_agree(&model, &dir);
    image_files_agree(&model, &dir);
    std::fs::remove_dir_all(&dir).ok();
}

/// The zero-shot classifier of the imported model against open_clip's
/// `build_zero_shot_classifier` for the same class names and templates.
fn zero_shot_classifiers_agree(model: &Clip<B>, dir: &Path) {
    let classes = [
        "cat",
        "dog",
        "red square",
        "blue circle",
        "a very small car",
    ];
    let templates = ["a photo of a {}.", "a drawing of the {}.", "{}"];
    std::fs::write(dir.join("classes.txt"), classes.join("\n")).unwrap();
    std::fs::write(dir.join("templates.txt"), templates.join("\n")).unwrap();
    let out = dir.join("zeroshot.safetensors");
    let arg = |p: &str| dir.join(p).display().to_string();
    py(&[
        "zeroshot",
        "--weights",
        &arg("model.safetensors"),
        "--classes",
        &arg("classes.txt"),
        "--templates",
        &arg("templates.txt"),
        "--out",
        &out.display().to_string(),
    ]);
    let (shape, theirs) = tensor(&out, "classifier"); // [embed_dim, classes]
    let bpe = clipscale_data::ClipBpe::openai().unwrap();
    let prompts: Vec<(Vec<i64>, Vec<i64>)> = classes
        .iter()
        .map(|c| {
            let (mut ids, mut eot) = (Vec::new(), Vec::new());
            for t in templates {
                let e = bpe.encode(&t.replace("{}", c), 77).unwrap();
                ids.extend(e.ids.iter().map(|&x| i64::from(x)));
                eot.push(e.eot_pos as i64);
            }
            (ids, eot)
        })
        .collect();
    let ours = ZeroShotClassifier::new(model, &prompts, 77, &Default::default());
    let ours = to_vec(ours.classes.transpose()); // [embed_dim, classes], as open_clip's
    assert_eq!(shape, [512, classes.len()]);
    let d = rel(&ours, &theirs);
    println!(
        "ViT-B-32 zero-shot classifier ({} classes x {} templates): relative difference {d:.2e}",
        classes.len(),
        templates.len()
    );
    assert!(d < TOLERANCE, "zero-shot classifier differs by {d:.2e}");
}

/// Image files through each side's own eval transform (clipscale's `Transform::eval`, open_clip's
/// `preprocess`: shorter side to 224 by bicubic, centre crop, OpenAI's mean and std), then
/// the image tower. PIL rounds each resize to 8 bits and clipscale keeps f32, so the pixels
/// differ by up to a grey level or so: the tolerance here is 1e-2 relative.
fn image_files_agree(model: &Clip<B>, dir: &Path) {
    const IMAGE_TOLERANCE: f64 = 1e-2;
    let mut files = Vec::new();
    for (i, (w, h)) in [(320usize, 240usize), (200, 300), (224, 224)]
        .into_iter()
        .enumerate()
    {
        let rgb: Vec<u8> = (0..w * h * 3)
            .map(|k| {
                let (p, c) = (k / 3, k % 3);
                let (x, y) = (p % w, p / w);
                // gradients with a sharp-edged square of moderate contrast, so resampling
                // matters (no black-to-white steps: their bicubic overshoot is where PIL's
                // 8-bit clamp between passes and clipscale's f32 differ most)
                let edge = if (w / 4..w / 2).contains(&x) && (h / 3..h / 2).contains(&y) {
                    60
                } else {
                    0
                };
                (20 + x * (c + 1) * 60 / w + y * 60 / h + edge) as u8
            })
            .collect();
        let path = dir.join(format!("image-{i}.png"));
        std::fs::write(&path, clipscale_data::png::encode_rgb(w, h, &rgb).unwrap()).unwrap();
        files.push(path);
    }
    let out = dir.join("images.safetensors");
    let mut args = vec![
        "images".to_string(),
        "--weights".into(),
        dir.join("model.safetensors").display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(files.iter().map(|p| p.display().to_string()));
    py(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (_, their_pixels) = tensor(&out, "images");
    let (_, their_features) = tensor(&out, "image_features");
    let transform = clipscale_data::Transform::eval(224);
    let mut pixels = Vec::new();
    for f in &files {
        let img = clipscale_data::decode_rgb(&std::fs::read(f).unwrap(), "test image").unwrap();
        pixels.extend(transform.apply(&img, 0));
    }
    let dp = rel(&pixels, &their_pixels);
    let images = Tensor::<B, 4>::from_data(
        TensorData::new(pixels, [files.len(), 3, 224, 224]),
        &Default::default(),
    );
    let df = rel(&to_vec(model.encode_image(images)), &their_features);
    println!(
        "ViT-B-32 on image files, each side's own transform: pixels {dp:.2e}, image features {df:.2e} (relative; tolerance {IMAGE_TOLERANCE:e})"
    );
    assert!(
        dp < IMAGE_TOLERANCE && df < IMAGE_TOLERANCE,
        "pixels {dp:.2e}, features {df:.2e}"
    );
}

#[test]
fn a_ladder_model_goes_both_ways_through_its_exported_config() {
    if !peer_available() {
        return;
    }
    let dir = tmp("w32");
    let config = ladder("w32-d2");
    let json = dir.join("w32-d2.json");
    std::fs::write(&json, model_config_json(&config, None).to_string()).unwrap();
    let d = dir.to_str().unwrap();
    // open_clip -> clipscale: a legacy-format torch.save of the plain state dict
    py(&[
        "make",
        "--config",
        json.to_str().unwrap(),
        "--out",
        d,
        "--legacy",
    ]);
    let model = load(&config, &dir.join("plain.bin")).unwrap();
    compare(
        "w32-d2 from open_clip",
        &ours(&model, &dir.join("io.safetensors")),
        &dir.join("io.safetensors"),
    );
    // clipscale -> open_clip: a model of our own initialisation, exported, loaded strictly
    let device = Default::default();
    let mine = config.init::<B>(7, &device).unwrap();
    let exported = dir.join("exported.safetensors");
    write_state_dict(&exported, &state_dict(&mine)).unwrap();
    let theirs = dir.join("theirs.safetensors");
    py(&[
        "check",
        "--config",
        json.to_str().unwrap(),
        "--weights",
        exported.to_str().unwrap(),
        "--io",
        dir.join("io.safetensors").to_str().unwrap(),
        "--out",
        theirs.to_str().unwrap(),
    ]);
    compare(
        "w32-d2 exported to open_clip",
        &ours(&mine, &dir.join("io.safetensors")),
        &theirs,
    );
    // and back: the exported file reads into the same parameters
    let back = load(&config, &exported).unwrap();
    for ((k, _, a), (_, _, b)) in state_dict(&mine).iter().zip(state_dict(&back).iter()) {
        assert_eq!(a, b, "{k} changed on the round trip");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn quick_gelu_weights_need_a_quick_gelu_model() {
    if !peer_available() {
        return;
    }
    let dir = tmp("quickgelu");
    let mut config = ladder("w32-d2");
    config.quick_gelu = true;
    let json = dir.join("w32-d2-quickgelu.json");
    std::fs::write(&json, model_config_json(&config, None).to_string()).unwrap();
    py(&[
        "make",
        "--config",
        json.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    let io = dir.join("io.safetensors");
    let model = load(&config, &dir.join("model.safetensors")).unwrap();
    compare("w32-d2 with QuickGELU", &ours(&model, &io), &io);
    // the same weights in the GELU model load without complaint and compute something else
    config.quick_gelu = false;
    let wrong = load(&config, &dir.join("model.safetensors")).unwrap();
    let (_, theirs) = tensor(&io, "image_features");
    let d = rel(&ours(&wrong, &io)[0], &theirs);
    println!(
        "w32-d2 QuickGELU weights in the GELU model: image_features relative difference {d:.2e}"
    );
    assert!(d > 100.0 * TOLERANCE, "the activation matters: {d:.2e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_tokenizer_gives_open_clips_ids() {
    if !peer_available() {
        return;
    }
    let dir = tmp("tok");
    let captions = [
        "a photo of a cat",
        "A Diagram: the RED square, above (not below) a blue circle!",
        "naïve café façade — “quoted” &amp; escaped <b>html</b>",
        "numbers 1234567 and 3.14, emoji 🐈 and CJK 猫",
        &"a very long caption that goes on ".repeat(12),
    ];
    let file = dir.join("captions.txt");
    std::fs::write(&file, captions.join("\n")).unwrap();
    let out = dir.join("ids.safetensors");
    py(&[
        "tokenize",
        "--captions",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let (shape, theirs) = tensor(&out, "ids");
    assert_eq!(shape, [captions.len(), 77]);
    let bpe = clipscale_data::ClipBpe::openai().unwrap();
    for (i, c) in captions.iter().enumerate() {
        let ours: Vec<f32> = bpe
            .encode(c, 77)
            .unwrap()
            .ids
            .iter()
            .map(|&x| x as f32)
            .collect();
        assert_eq!(ours, theirs[i * 77..(i + 1) * 77], "caption {i}: {c:?}");
    }
    println!("tokenizer: {} captions, ids equal", captions.len());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_state_dict_that_does_not_fit_is_refused_with_every_bad_key() {
    let dir = tmp("bad");
    let config = ladder("w32-d2");
    let device = Default::default();
    let mut tensors = state_dict(&config.init::<B>(0, &device).unwrap());
    tensors.retain(|(k, _, _)| k != "visual.ln_post.bias");
    tensors.push(("visual.attn_pool.query".into(), vec![1], vec![0.0]));
    let (_, shape, values) = tensors
        .iter_mut()
        .find(|(k, _, _)| k == "token_embedding.weight")
        .unwrap();
    // the transpose of what open_clip holds
    shape.reverse();
    let _ = values;
    let file = dir.join("bad.safetensors");
    write_state_dict(&file, &tensors).unwrap();
    let err = load(&config, &file).expect_err("refused").to_string();
    for needle in [
        "bad.safetensors",
        "1 missing (visual.ln_post.bias)",
        "1 unexpected (visual.attn_pool.query)",
        "token_embedding.weight is [32, 1024], the model's is [1024, 32]",
        "nothing was loaded",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in: {err}");
    }
    let err = load(&config, &dir.join("none.pt"))
        .expect_err("no file")
        .to_string();
    assert!(err.contains("none.pt"), "{err}");
    std::fs::write(dir.join("junk.bin"), b"not a checkpoint at all").unwrap();
    let err = load(&config, &dir.join("junk.bin"))
        .expect_err("junk")
        .to_string();
    assert!(err.contains("neither a PyTorch checkpoint"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_clipscale"))
}

fn run(args: &[&str]) -> String {
    let o = bin().args(args).output().unwrap();
    assert!(
        o.status.success(),
        "clipscale {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn only_trial(dir: &Path) -> TrialDir {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("spec.json").is_file())
        .collect();
    assert_eq!(found.len(), 1, "one trial in {}", dir.display());
    TrialDir::new(found.pop().unwrap())
}

#[test]
fn a_trial_exports_and_another_starts_from_the_export() {
    let dir = tmp("init");
    let d = |p: &str| dir.join(p).display().to_string();
    let train = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--model",
            "w32-d2",
            "--batch",
            "32",
            "--samples",
            "640",
            "--eval-samples",
            "64",
            "--eval-batch",
            "32",
            "--quiet",
            "--out",
            out,
        ];
        args.extend_from_slice(extra);
        run(&args);
    };
    let first_out = d("first");
    train(&first_out, &[]);
    let first = only_trial(&dir.join("first").join("adhoc"));
    let file = d("first.safetensors");
    let said = run(&[
        "export",
        "--trial",
        first.path().to_str().unwrap(),
        "--out",
        &file,
    ]);
    assert!(said.contains("open_clip's keys"), "{said}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("first.json")).unwrap()).unwrap();
    assert_eq!(config["vision_cfg"]["width"], 32);
    assert_eq!(config["vision_cfg"]["head_width"], 32 / 2);
    let second_out = d("second");
    train(&second_out, &["--init-from", &file]);
    let second = only_trial(&dir.join("second").join("adhoc"));
    assert_ne!(
        first.name(),
        second.name(),
        "the starting weights are part of the id"
    );
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(second.spec_path()).unwrap()).unwrap();
    let sha = spec["init"]["sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    assert_eq!(
        sha,
        clipscale::train::spec::sha256_file(Path::new(&file)).unwrap()
    );
    // the second trial starts where the first ended: its evaluation before any step is the
    // first's at its end, to the bit
    let evals = |t: &TrialDir, at: u64| -> Vec<(String, String, u64)> {
        t.read_evals()
            .unwrap()
            .records
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| r.samples_seen == at)
            .map(|r| (r.dataset, r.metric, r.value.to_bits()))
            .collect()
    };
    let end = evals(&first, 640);
    assert!(!end.is_empty());
    assert_eq!(evals(&second, 0), end);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_open_clip_checkpoint_is_evaluated_into_a_trial_folder_that_collect_reads() {
    let dir = tmp("eval");
    // a w32-d2 with open_clip's tokenizer (49,408 tokens), as open_clip would save it
    let config = ladder("w32-d2").with_vocab_size(49408);
    let file = dir.join("w32-d2.safetensors");
    write_state_dict(
        &file,
        &state_dict(&config.init::<B>(3, &Default::default()).unwrap()),
    )
    .unwrap();
    // a two-class image folder to classify zero-shot
    let images = dir.join("images");
    for (class, level) in [("red", [200u8, 30, 30]), ("blue", [30u8, 30, 200])] {
        std::fs::create_dir_all(images.join(class)).unwrap();
        for i in 0..3u8 {
            let rgb: Vec<u8> = (0..40 * 40)
                .flat_map(|_| level.map(|c| c + 10 * i))
                .collect();
            let png = clipscale_data::png::encode_rgb(40, 40, &rgb).unwrap();
            std::fs::write(images.join(class).join(format!("{i}.png")), png).unwrap();
        }
    }
    let set = format!("imagefolder={}", images.display());
    let out = dir.join("results");
    let said = run(&[
        "eval",
        "--open-clip-checkpoint",
        file.to_str().unwrap(),
        "--model",
        "w32-d2",
        "--samples-seen",
        "100000",
        "--dataset",
        &set,
        "--eval-samples",
        "64",
        "--eval-batch",
        "32",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(said.contains("collect reads it like any trial"), "{said}");
    let trial = only_trial(&out.join("open-clip"));
    let fin = trial.read_final().unwrap().unwrap();
    assert_eq!((fin.samples_seen, fin.steps), (100_000, 0));
    let table = dir.join("table.csv");
    run(&[
        "collect",
        out.to_str().unwrap(),
        "--out",
        table.to_str().unwrap(),
    ]);
    let t = clipscale_analysis::table::read_csv(&table).unwrap();
    let rows: Vec<_> = t.rows.iter().filter(|r| r.sweep == "open-clip").collect();
    assert!(
        rows.iter()
            .any(|r| r.metric == "acc1" && r.samples_seen == Some(100_000)),
        "{rows:?}"
    );
    // a checkpoint of another architecture is refused, naming the keys, and nothing is written
    let err = bin()
        .args([
            "eval",
            "--open-clip-checkpoint",
            file.to_str().unwrap(),
            "--model",
            "w48-d2",
            "--samples-seen",
            "100000",
            "--dataset",
            &set,
            "--out",
            dir.join("other").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(
        !err.status.success() && stderr.contains("mis-shaped"),
        "{stderr}"
    );
    assert!(
        !dir.join("other").exists(),
        "no trial folder for a checkpoint that did not load"
    );
    std::fs::remove_dir_all(&dir).ok();
}
