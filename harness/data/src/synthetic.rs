//! The default data set: an endless, procedurally generated stream of image-caption pairs
//! of simple shape scenes, needing no download.
//!
//! # Design
//! - **Scenes** ([`crate::scene`]): a 3x3 grid holding a main group of 1..=4 identical copies of
//!   the main object (shape x colour x size x texture) plus 0..=2 distractor objects of other
//!   (colour, shape) pairs, never larger than the main object, on a plain, noisy or gradient
//!   background that contrasts with every object. 10 shapes (circle, square, triangle, star,
//!   cross, ring, diamond, heart, crescent, arrow), 10 object colours (red, orange, yellow,
//!   green, cyan, blue, purple, pink, white, black; grey is background-only), 3 sizes, 4
//!   textures (solid, striped, dotted, checkered; no "outlined", which would make an outlined
//!   circle a ring), 9 positions.
//! - **Rendering** ([`crate::render`]): own anti-aliased SDF rasteriser at any square size
//!   (8..=1024 px); scenes are resolution independent, so index `i` is the same scene at every
//!   size. Output is CHW, CLIP-normalised.
//! - **Captions** ([`crate::caption`]): a small grammar with six sentence forms, synonyms for
//!   sizes, textures, positions and counts ("two", "2", "a pair of"), and filler words
//!   ("a photo of", "nice", "in this picture", ...) that carry no information.
//! - **Addressing**: sample `i` of a stream depends only on `(seed, stream, i)` (a hash of the
//!   triple seeds the draw), so the stream is endless, any index is O(1) to reach, and resuming
//!   is just an index. Training and held-out samples are separate streams.
//! - **Held out**: 20 of the 100 (colour, shape) pairs, two colours per shape and two shapes
//!   per colour, chosen from the seed. No training scene contains a held-out pair, neither as
//!   main object nor as distractor; [`Synthetic::heldout_sample`] draws scenes whose main
//!   object is a held-out pair (distractors from training pairs) for zero-shot evaluation of
//!   compositional generalisation.
//!
//! # Difficulty
//! Graded, with headroom. Easiest: the main object's colour (large patches) and shape (6-12 px
//! wide at 32 px). Harder: size (three radii, 0.095/0.135/0.175 of the side), count (1..=4
//! copies), position (grid cell, stated for lone main objects only) and texture (pattern
//! periods near the pixel scale at 32 px; small textured objects are hard even at 64 px).
//! Hardest: multi-object scenes, where captions must bind attributes to the right object
//! ("a blue star next to two red circles on a green background": three colour words, one
//! class). Filler words ("a photo of", "nice", "in this picture") carry no information, and
//! optional facts are stated only some of the time, so the text tower must learn which words
//! matter. Knobs live in [`SceneOptions`]: `max_count`, `max_distractors`,
//! `single_object_prob`, `textured_prob`, `plain_background_prob`, `mention_prob` (how
//! complete captions are) and `filler_prob`; [`SceneOptions::easy`] is one solid object on a
//! plain background, fully described. Image size is the remaining knob: the same scenes are
//! much easier at 64 px than at 32 px.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::attributes::{Colour, Shape};
use crate::caption::caption;
use crate::error::DataError;
use crate::lexicon::{TEMPLATES, all_phrases};
use crate::render::{normalise, paint};
use crate::rng::sample_key;
use crate::scene::{HeldoutPairs, NUM_CLASSES, Scene, SceneOptions, generate};
use crate::tokenizer::pre_tokenize;

/// Smallest supported image side, in pixels.
pub const MIN_IMAGE_SIZE: usize = 8;
/// Largest supported image side, in pixels.
pub const MAX_IMAGE_SIZE: usize = 1024;

const STREAM_TRAIN: u64 = 1;
const STREAM_HELDOUT: u64 = 2;

/// What defines a synthetic data set: the seed (scenes and the held-out split) and the
/// rendered image side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyntheticConfig {
    pub seed: u64,
    pub image_size: usize,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            image_size: 32,
        }
    }
}

/// One image-caption pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// CHW, `3 * image_size * image_size`, CLIP-normalised.
    pub image: Vec<f32>,
    pub caption: String,
    /// Index into [`Synthetic::class_names`] of the main object's (colour, shape).
    pub class_index: usize,
}

/// The synthetic data set; cheap to clone and to share between threads.
#[derive(Debug, Clone)]
pub struct Synthetic {
    cfg: SyntheticConfig,
    options: SceneOptions,
    pairs: HeldoutPairs,
}

impl Synthetic {
    /// The data set with the default difficulty ([`SceneOptions::default`]).
    pub fn new(cfg: SyntheticConfig) -> Result<Self, DataError> {
        Self::with_options(cfg, SceneOptions::default())
    }

    /// The data set with chosen difficulty knobs.
    pub fn with_options(cfg: SyntheticConfig, options: SceneOptions) -> Result<Self, DataError> {
        if !(MIN_IMAGE_SIZE..=MAX_IMAGE_SIZE).contains(&cfg.image_size) {
            return Err(DataError::InvalidImageSize {
                value: cfg.image_size,
                min: MIN_IMAGE_SIZE,
                max: MAX_IMAGE_SIZE,
            });
        }
        options.validate()?;
        let pairs = HeldoutPairs::new(cfg.seed);
        Ok(Self {
            cfg,
            options,
            pairs,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SyntheticConfig {
        &self.cfg
    }

    /// The difficulty knobs.
    pub fn options(&self) -> &SceneOptions {
        &self.options
    }

    /// The image side in pixels.
    pub fn image_size(&self) -> usize {
        self.cfg.image_size
    }

    /// Floats per image: `3 * image_size * image_size`.
    pub fn image_len(&self) -> usize {
        3 * self.cfg.image_size * self.cfg.image_size
    }

    /// The held-out split.
    pub fn pairs(&self) -> &HeldoutPairs {
        &self.pairs
    }

    /// Scene `index` of the training stream.
    pub fn train_scene(&self, index: u64) -> Scene {
        generate(
            sample_key(self.cfg.seed, STREAM_TRAIN, index),
            &self.pairs,
            &self.options,
            false,
        )
    }

    /// Scene `index` of the held-out stream (main object a held-out pair).
    pub fn heldout_scene(&self, index: u64) -> Scene {
        generate(
            sample_key(self.cfg.seed, STREAM_HELDOUT, index),
            &self.pairs,
            &self.options,
            true,
        )
    }

    /// Renders a scene into a new CLIP-normalised CHW image.
    pub fn render(&self, scene: &Scene) -> Vec<f32> {
        let mut image = vec![0.0; self.image_len()];
        self.render_unchecked(scene, &mut image);
        image
    }

    /// Renders a scene into `out`, which must hold exactly [`Self::image_len`] floats.
    pub fn render_into(&self, scene: &Scene, out: &mut [f32]) -> Result<(), DataError> {
        if out.len() != self.image_len() {
            return Err(DataError::BufferSize {
                expected: self.image_len(),
                actual: out.len(),
                width: self.cfg.image_size,
                height: self.cfg.image_size,
                channels: 3,
            });
        }
        self.render_unchecked(scene, out);
        Ok(())
    }

    fn render_unchecked(&self, scene: &Scene, out: &mut [f32]) {
        paint(scene, self.cfg.image_size, out);
        normalise(out, self.cfg.image_size);
    }

    /// The caption of a scene (deterministic per scene).
    pub fn caption(&self, scene: &Scene) -> String {
        caption(scene, &self.options)
    }

    fn sample_of(&self, scene: &Scene) -> Sample {
        Sample {
            image: self.render(scene),
            caption: self.caption(scene),
            class_index: scene.class_index(),
        }
    }

    /// Sample `index` of the endless training stream.
    pub fn train_sample(&self, index: u64) -> Sample {
        self.sample_of(&self.train_scene(index))
    }

    /// Sample `index` of the held-out stream: scenes whose main object is a held-out pair.
    pub fn heldout_sample(&self, index: u64) -> Sample {
        self.sample_of(&self.heldout_scene(index))
    }

    /// Appends training samples `start_index..start_index + batch` (wrapping at `u64::MAX`):
    /// `batch * image_len()` floats to `images` and `batch` captions to `captions`.
    pub fn fill_batch(
        &self,
        start_index: u64,
        batch: usize,
        images: &mut Vec<f32>,
        captions: &mut Vec<String>,
    ) {
        self.fill(start_index, batch, images, captions, |i| {
            self.train_scene(i)
        });
    }

    /// Like [`Self::fill_batch`], for the held-out stream; also appends class indices.
    pub fn fill_heldout_batch(
        &self,
        start_index: u64,
        batch: usize,
        images: &mut Vec<f32>,
        captions: &mut Vec<String>,
        classes: &mut Vec<usize>,
    ) {
        classes.reserve(batch);
        self.fill(start_index, batch, images, captions, |i| {
            let scene = self.heldout_scene(i);
            classes.push(scene.class_index());
            scene
        });
    }

    fn fill(
        &self,
        start_index: u64,
        batch: usize,
        images: &mut Vec<f32>,
        captions: &mut Vec<String>,
        mut scene_of: impl FnMut(u64) -> Scene,
    ) {
        let len = self.image_len();
        let scenes: Vec<Scene> = (0..batch)
            .map(|k| scene_of(start_index.wrapping_add(k as u64)))
            .collect();
        // Each image depends only on its scene, so rendering in parallel (on rayon's pool) gives
        // the same batch as rendering in order; at 224 px one thread would starve a GPU.
        let at = images.len();
        images.resize(at + batch * len, 0.0);
        images[at..]
            .par_chunks_mut(len.max(1))
            .zip(scenes.par_iter())
            .for_each(|(out, scene)| self.render_unchecked(scene, out));
        captions.extend(scenes.iter().map(|scene| self.caption(scene)));
    }

    /// Zero-shot class names, "colour shape" for every pair; index `colour * 10 + shape`.
    pub fn class_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(NUM_CLASSES);
        for colour in Colour::OBJECT {
            for shape in Shape::ALL {
                names.push(format!("{} {}", colour.name(), shape.name()));
            }
        }
        names
    }

    /// Indices into [`Self::class_names`] of the held-out pairs, ascending.
    pub fn heldout_classes(&self) -> Vec<usize> {
        (0..NUM_CLASSES)
            .filter(|&c| self.pairs.is_heldout(c))
            .collect()
    }

    /// Whether a class index is held out.
    pub fn is_heldout_class(&self, class: usize) -> bool {
        self.pairs.is_heldout(class)
    }

    /// Zero-shot prompt templates with a `{c}` placeholder for the class name.
    pub fn templates() -> Vec<String> {
        TEMPLATES.iter().map(|t| (*t).to_owned()).collect()
    }

    /// Every token the caption grammar and the templates can produce (words and punctuation),
    /// each once, in a fixed order.
    pub fn vocabulary_words() -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for phrase in all_phrases() {
            let stripped = phrase
                .replace("{c}", " ")
                .replace("{a}", " ")
                .replace("{b}", " ");
            for token in pre_tokenize(&stripped) {
                if seen.insert(token.clone()) {
                    out.push(token);
                }
            }
        }
        out
    }
}
