//! Integration tests of the synthetic data set: determinism, endless addressing, the held-out
//! split, image layout and range, caption variety and caption/class consistency.

use std::collections::{HashMap, HashSet};

use clipscale_data::{
    Background, CLIP_MEAN, CLIP_STD, DataError, NUM_CLASSES, Scene, SceneOptions, Synthetic,
    SyntheticConfig, WordTokenizer, pre_tokenize,
};

fn data(seed: u64, image_size: usize) -> Synthetic {
    Synthetic::new(SyntheticConfig { seed, image_size }).expect("valid config")
}

#[test]
fn same_seed_and_index_give_identical_samples() {
    let a = data(7, 32);
    let b = data(7, 32);
    for i in [0u64, 1, 17, 123_456] {
        let (x, y) = (a.train_sample(i), b.train_sample(i));
        let bits = |s: &[f32]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&x.image), bits(&y.image), "image {i} differs");
        assert_eq!(x.caption, y.caption);
        assert_eq!(x.class_index, y.class_index);
    }
    assert_eq!(a.heldout_sample(3), b.heldout_sample(3));
}

#[test]
fn different_seeds_and_indices_give_different_samples() {
    let a = data(1, 32);
    let b = data(2, 32);
    let differing = (0..50u64)
        .filter(|&i| a.train_sample(i).image != b.train_sample(i).image)
        .count();
    assert!(
        differing >= 49,
        "only {differing} of 50 images differ across seeds"
    );
    let captions: HashSet<String> = (0..50u64).map(|i| a.train_sample(i).caption).collect();
    assert!(
        captions.len() > 40,
        "{} distinct captions in 50 samples",
        captions.len()
    );
    assert_ne!(a.heldout_classes(), b.heldout_classes());
}

#[test]
fn stream_is_endless_and_addressed_by_index() {
    let d = data(3, 32);
    let far = [
        1_000_000_000_000u64,
        1_000_000_000_001,
        u64::MAX - 1,
        u64::MAX,
    ];
    let samples: Vec<_> = far.iter().map(|&i| d.train_sample(i)).collect();
    for s in &samples {
        assert_eq!(s.image.len(), 3 * 32 * 32);
        assert!(s.image.iter().all(|v| v.is_finite()));
        assert!(!s.caption.is_empty());
    }
    assert_ne!(samples[0].image, samples[1].image);
    // fill_batch equals the per-index samples, and wraps instead of overflowing.
    let (mut images, mut captions) = (Vec::new(), Vec::new());
    d.fill_batch(u64::MAX - 1, 3, &mut images, &mut captions);
    assert_eq!(images.len(), 3 * d.image_len());
    assert_eq!(captions[0], samples[2].caption);
    assert_eq!(captions[1], samples[3].caption);
    assert_eq!(
        &images[d.image_len()..2 * d.image_len()],
        &samples[3].image[..]
    );
    assert_eq!(captions[2], d.train_sample(0).caption);
}

#[test]
fn fill_batch_appends_the_stream_in_order() {
    let d = data(4, 16);
    let mut images = vec![9.0f32; 5];
    let mut captions = vec!["keep".to_owned()];
    d.fill_batch(100, 4, &mut images, &mut captions);
    assert_eq!(images.len(), 5 + 4 * d.image_len());
    assert_eq!(captions.len(), 5);
    assert_eq!(captions[0], "keep");
    for k in 0..4 {
        let s = d.train_sample(100 + k as u64);
        let at = 5 + k * d.image_len();
        assert_eq!(&images[at..at + d.image_len()], &s.image[..]);
        assert_eq!(captions[1 + k], s.caption);
    }
}

#[test]
fn heldout_pairs_never_appear_in_training_scenes() {
    let d = data(11, 32);
    let heldout: HashSet<usize> = d.heldout_classes().into_iter().collect();
    assert_eq!(heldout.len(), 20);
    let mut mains = HashSet::new();
    let mut distractor_count = 0;
    for i in 0..20_000u64 {
        let scene = d.train_scene(i);
        for object in scene.objects() {
            assert!(
                !heldout.contains(&object.class_index()),
                "train scene {i} holds a held-out pair"
            );
        }
        mains.insert(scene.class_index());
        distractor_count += scene.distractors().len();
    }
    assert_eq!(
        mains.len(),
        NUM_CLASSES - 20,
        "every training pair should occur as main object"
    );
    assert!(
        distractor_count > 5_000,
        "too few distractors checked: {distractor_count}"
    );
    // Held-out scenes: main object held out, distractors never.
    let mut seen = HashSet::new();
    for i in 0..2_000u64 {
        let scene = d.heldout_scene(i);
        assert!(heldout.contains(&scene.class_index()));
        assert!(
            scene
                .distractors()
                .iter()
                .all(|o| !heldout.contains(&o.class_index()))
        );
        assert_eq!(d.heldout_sample(i).class_index, scene.class_index());
        seen.insert(scene.class_index());
    }
    assert_eq!(seen, heldout);
}

#[test]
fn images_have_chw_layout_and_clip_normalised_range() {
    for size in [8usize, 16, 32, 64, 224] {
        let d = data(5, size);
        for i in 0..8u64 {
            let s = d.train_sample(i);
            assert_eq!(s.image.len(), 3 * size * size, "size {size}");
            for c in 0..3 {
                let plane = &s.image[c * size * size..(c + 1) * size * size];
                let lo = (0.0 - CLIP_MEAN[c]) / CLIP_STD[c] - 1e-4;
                let hi = (1.0 - CLIP_MEAN[c]) / CLIP_STD[c] + 1e-4;
                assert!(
                    plane.iter().all(|&v| (lo..=hi).contains(&v)),
                    "size {size} channel {c} out of range"
                );
            }
            // Not a flat image: the objects show up.
            let mean = s.image.iter().sum::<f32>() / s.image.len() as f32;
            let var =
                s.image.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / s.image.len() as f32;
            assert!(var > 1e-3, "sample {i} at {size} px looks flat");
        }
    }
}

#[test]
fn the_same_scene_renders_alike_at_every_size() {
    // Downsample the 64-px image 2x2 and compare with the 32-px one: same scene, same layout.
    let (small, large) = (data(6, 32), data(6, 64));
    for i in 0..20u64 {
        let (a, b) = (small.train_sample(i).image, large.train_sample(i).image);
        let mut err = 0.0f32;
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    let at = |yy: usize, xx: usize| b[c * 64 * 64 + yy * 64 + xx];
                    let down = 0.25
                        * (at(2 * y, 2 * x)
                            + at(2 * y + 1, 2 * x)
                            + at(2 * y, 2 * x + 1)
                            + at(2 * y + 1, 2 * x + 1));
                    err += (down - a[c * 32 * 32 + y * 32 + x]).abs();
                }
            }
        }
        let mean_err = err / (3.0 * 32.0 * 32.0);
        assert!(
            mean_err < 0.35,
            "sample {i}: 32 px and 64 px renders differ by {mean_err}"
        );
    }
}

#[test]
fn invalid_configs_are_rejected_with_the_value_named() {
    for size in [0usize, 7, 1025] {
        let err = Synthetic::new(SyntheticConfig {
            seed: 0,
            image_size: size,
        })
        .unwrap_err();
        assert_eq!(
            err,
            DataError::InvalidImageSize {
                value: size,
                min: 8,
                max: 1024
            }
        );
        assert!(err.to_string().contains(&size.to_string()));
    }
    let bad = SceneOptions {
        max_distractors: 9,
        ..SceneOptions::default()
    };
    assert!(matches!(
        Synthetic::with_options(SyntheticConfig::default(), bad),
        Err(DataError::InvalidOption {
            name: "max_distractors",
            ..
        })
    ));
    let d = data(0, 8);
    assert!(d.render_into(&d.train_scene(0), &mut [0.0; 10]).is_err());
}

/// Whether the tokens of `caption` contain `word` (a single token) as a whole token.
fn has_token(tokens: &[String], word: &str) -> bool {
    tokens.iter().any(|t| t == word)
}

#[test]
fn captions_name_the_class_colour_and_shape() {
    let d = data(8, 32);
    let names = d.class_names();
    let check = |scene: &Scene, caption: &str| {
        let tokens = pre_tokenize(caption);
        let main = scene.main();
        assert!(
            has_token(&tokens, main.colour.name()),
            "{caption:?} lacks {:?}",
            main.colour
        );
        let noun = if scene.main_count() > 1 {
            main.shape.plural()
        } else {
            main.shape.name()
        };
        assert!(has_token(&tokens, noun), "{caption:?} lacks {noun:?}");
        assert_eq!(
            names[scene.class_index()],
            format!("{} {}", main.colour.name(), main.shape.name())
        );
    };
    for i in 0..3_000u64 {
        let scene = d.train_scene(i);
        check(&scene, &d.caption(&scene));
        let scene = d.heldout_scene(i);
        check(&scene, &d.caption(&scene));
    }
    let s = d.train_sample(42);
    let scene = d.train_scene(42);
    assert_eq!(
        (s.class_index, s.caption),
        (scene.class_index(), d.caption(&scene))
    );
}

#[test]
fn captions_paraphrase_widely() {
    let d = data(9, 32);
    let mut by_class: HashMap<usize, HashSet<String>> = HashMap::new();
    let mut lengths = HashSet::new();
    for i in 0..10_000u64 {
        let s = d.train_scene(i);
        let caption = d.caption(&s);
        lengths.insert(pre_tokenize(&caption).len());
        by_class.entry(s.class_index()).or_default().insert(caption);
    }
    let per_class: Vec<usize> = by_class.values().map(HashSet::len).collect();
    let min = per_class.iter().copied().min().unwrap_or(0);
    assert!(
        min >= 60,
        "some class has only {min} distinct captions in ~125 samples"
    );
    assert!(
        lengths.len() >= 15,
        "caption lengths vary too little: {lengths:?}"
    );
    // Filler words and the different sentence forms all show up.
    let all: Vec<&String> = by_class.values().flatten().collect();
    for caption in &all {
        let words: Vec<&str> = caption.split_whitespace().collect();
        for pair in words.windows(2) {
            let vowel = pair[1].starts_with(['a', 'e', 'i', 'o', 'u']);
            assert!(
                !(pair[0] == "a" && vowel),
                "{caption:?} uses 'a' before a vowel"
            );
            assert!(
                pair[0] != "an" || vowel,
                "{caption:?} uses 'an' before a consonant"
            );
        }
    }
    for marker in [
        "photo",
        "of them",
        "that",
        "nice",
        "next to",
        "background",
        ", ",
    ] {
        assert!(
            all.iter().any(|c| c.contains(marker)),
            "no caption contains {marker:?}"
        );
    }
}

#[test]
fn captions_mention_attributes_truthfully() {
    // With every fact mentioned, the background and position words match the scene.
    let options = SceneOptions {
        mention_prob: 1.0,
        ..SceneOptions::default()
    };
    let d = Synthetic::with_options(
        SyntheticConfig {
            seed: 2,
            image_size: 32,
        },
        options,
    )
    .unwrap();
    for i in 0..500u64 {
        let scene = d.train_scene(i);
        let caption = d.caption(&scene);
        let tokens = pre_tokenize(&caption);
        if let Background::Noise(_) = scene.background() {
            assert!(
                ["noisy", "speckled", "grainy"]
                    .iter()
                    .any(|w| has_token(&tokens, w)),
                "{caption}"
            );
        }
        if scene.main_count() > 1 {
            let numbers =
                [["", "one"], ["2", "two"], ["3", "three"], ["4", "four"]][scene.main_count() - 1];
            assert!(
                numbers.iter().any(|w| has_token(&tokens, w)) || caption.contains("pair"),
                "{caption} should count {}",
                scene.main_count()
            );
        }
        for d in scene.distractors() {
            assert!(
                has_token(&tokens, d.shape.name()),
                "{caption} misses distractor {:?}",
                d.shape
            );
        }
    }
}

#[test]
fn every_caption_and_template_tokenizes_without_unknown_words() {
    let tok = WordTokenizer::for_synthetic();
    let d = data(10, 32);
    let mut texts: Vec<String> = (0..5_000u64).map(|i| d.train_sample_caption(i)).collect();
    texts.extend((0..500u64).map(|i| d.caption(&d.heldout_scene(i))));
    for template in Synthetic::templates() {
        assert!(template.contains("{c}"));
        for name in d.class_names() {
            texts.push(template.replace("{c}", &name));
        }
    }
    for text in &texts {
        let e = tok.encode(text, 77).unwrap();
        assert!(
            !e.ids.contains(&tok.unknown_id()),
            "unknown word in {text:?}: {}",
            tok.decode(&e.ids)
        );
        assert!(e.eot_pos < 77, "{text:?} was truncated at 77 tokens");
    }
    // The vocabulary has each word once and every word is a single token.
    let words = Synthetic::vocabulary_words();
    let unique: HashSet<&String> = words.iter().collect();
    assert_eq!(unique.len(), words.len());
    assert!(WordTokenizer::new(&words).is_ok());
    assert_eq!(tok.vocab_size(), 4 + words.len());
}

trait CaptionOnly {
    fn train_sample_caption(&self, index: u64) -> String;
}

impl CaptionOnly for Synthetic {
    fn train_sample_caption(&self, index: u64) -> String {
        self.caption(&self.train_scene(index))
    }
}
