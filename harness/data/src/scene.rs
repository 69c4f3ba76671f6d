//! Scene descriptions and how they are drawn from `(seed, stream, index)`.
//!
//! A [`Scene`] is resolution independent: object centres and radii are fractions of the image
//! side, so one index renders the same scene at 32 px and at 224 px. Layout: a 3x3 grid; each
//! object takes its own cell (jittered inside it), so objects never hide one another. The main
//! group (1..=4 identical copies of the main object) is drawn last, on top; distractors are
//! single objects of other (colour, shape) pairs and never larger than the main object.
//!
//! Held-out pairs: [`HeldoutPairs`] picks, from the seed, two colours per shape (a random
//! permutation `p` of the colours and a random non-zero rotation `k`: shape `s` holds out
//! colours `p[s]` and `p[(s + k) % 10]`), so 20 of the 100 pairs are held out and every
//! shape and every colour keeps 8 training partners. Training scenes draw the main object and
//! every distractor from the 80 training pairs; held-out scenes draw the main object from the
//! 20 held-out pairs and distractors from the training pairs.

use clipscale_core::rng::{SplitMix64, mix64};
use serde::{Deserialize, Serialize};

use crate::attributes::{
    Background, Colour, GradientDirection, Position, Shape, Size, Texture, mix_rgb, rgb_distance,
};
use crate::error::DataError;

/// Number of zero-shot classes: every (object colour, shape) pair.
pub const NUM_CLASSES: usize = Colour::OBJECT.len() * Shape::ALL.len();

/// Held-out colours per shape (so `10 * 2 / 100 = 20%` of the pairs).
const HELDOUT_PER_SHAPE: usize = 2;

/// Minimum RGB distance between any background colour and any object colour in the scene.
const BACKGROUND_CONTRAST: f32 = 0.35;

/// Half a grid cell, as a fraction of the image side.
const CELL_HALF: f32 = 1.0 / 6.0;

const TAG_HELDOUT_CHOICE: u64 = 0x68656c64;
const TAG_CAPTION: u64 = 0x63617074;
const TAG_NOISE: u64 = 0x6e6f6973;

/// The class index of a (colour, shape) pair: `colour * 10 + shape`.
pub fn class_index(colour: Colour, shape: Shape) -> usize {
    colour.index() * Shape::ALL.len() + shape.index()
}

/// Difficulty knobs of the generator. [`SceneOptions::default`] is the full task;
/// [`SceneOptions::easy`] is lone, solid objects on plain backgrounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SceneOptions {
    /// Most copies of the main object in one scene, 1..=4 (count words "two", "three"...).
    pub max_count: usize,
    /// Most distractor objects in one scene, 0..=3.
    pub max_distractors: usize,
    /// Probability that a scene is one lone main object (no copies, no distractors), [0, 1].
    pub single_object_prob: f32,
    /// Probability that an object is striped, dotted or checkered rather than solid, [0, 1].
    pub textured_prob: f32,
    /// Probability of a plain background; the rest splits evenly between noise and gradient.
    pub plain_background_prob: f32,
    /// Probability that a caption mentions each optional fact (size, texture, position,
    /// background, each distractor), [0, 1]. Colour, shape and count are always given.
    pub mention_prob: f32,
    /// Probability of filler words (openers such as "a photo of", "nice", tails), [0, 1].
    pub filler_prob: f32,
}

impl Default for SceneOptions {
    fn default() -> Self {
        Self {
            max_count: 4,
            max_distractors: 2,
            single_object_prob: 0.4,
            textured_prob: 0.5,
            plain_background_prob: 0.5,
            mention_prob: 0.6,
            filler_prob: 0.5,
        }
    }
}

impl SceneOptions {
    /// The easiest setting: one solid object on a plain background, fully described.
    pub fn easy() -> Self {
        Self {
            max_count: 1,
            max_distractors: 0,
            single_object_prob: 1.0,
            textured_prob: 0.0,
            plain_background_prob: 1.0,
            mention_prob: 1.0,
            filler_prob: 0.0,
        }
    }

    /// Checks every knob against its range.
    pub fn validate(&self) -> Result<(), DataError> {
        if !(1..=4).contains(&self.max_count) {
            return Err(DataError::InvalidOption {
                name: "max_count",
                value: self.max_count.to_string(),
                valid: "1..=4",
            });
        }
        if self.max_distractors > 3 {
            return Err(DataError::InvalidOption {
                name: "max_distractors",
                value: self.max_distractors.to_string(),
                valid: "0..=3",
            });
        }
        let probabilities = [
            ("single_object_prob", self.single_object_prob),
            ("textured_prob", self.textured_prob),
            ("plain_background_prob", self.plain_background_prob),
            ("mention_prob", self.mention_prob),
            ("filler_prob", self.filler_prob),
        ];
        for (name, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(DataError::InvalidOption {
                    name,
                    value: p.to_string(),
                    valid: "0.0..=1.0",
                });
            }
        }
        Ok(())
    }
}

/// One object as drawn: attributes plus its placement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneObject {
    pub shape: Shape,
    pub colour: Colour,
    pub size: Size,
    pub texture: Texture,
    /// The grid cell holding the object.
    pub cell: Position,
    /// Centre, as fractions of the image side (x right, y down).
    pub x: f32,
    pub y: f32,
    /// Radius as a fraction of the image side.
    pub radius: f32,
    /// Stripe direction, one of 0, 45, 90 or 135 degrees (index 0..4).
    pub pattern_angle: u8,
    /// The jittered fill colour, RGB in [0, 1].
    pub rgb: [f32; 3],
}

impl SceneObject {
    /// The object's class index (`colour * 10 + shape`).
    pub fn class_index(&self) -> usize {
        class_index(self.colour, self.shape)
    }
}

/// A full scene: objects, background and the seeds of its caption and noise. Built only by
/// the generator, so it always holds at least one main object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scene {
    objects: Vec<SceneObject>,
    main_count: usize,
    background: Background,
    caption_seed: u64,
    noise_seed: u64,
}

impl Scene {
    /// Every object: the main group first, then the distractors.
    pub fn objects(&self) -> &[SceneObject] {
        &self.objects
    }

    /// Copies of the main object, 1..=4.
    pub fn main_count(&self) -> usize {
        self.main_count
    }

    /// The background.
    pub fn background(&self) -> Background {
        self.background
    }

    /// The first copy of the main object (the object the class refers to).
    pub fn main(&self) -> &SceneObject {
        &self.objects[0]
    }

    /// Every copy of the main object.
    pub fn main_group(&self) -> &[SceneObject] {
        &self.objects[..self.main_count]
    }

    /// The distractor objects.
    pub fn distractors(&self) -> &[SceneObject] {
        &self.objects[self.main_count..]
    }

    /// The class index of the main object.
    pub fn class_index(&self) -> usize {
        self.main().class_index()
    }

    /// Seeds the caption grammar's choices.
    pub(crate) fn caption_seed(&self) -> u64 {
        self.caption_seed
    }

    /// Seeds the background noise.
    pub(crate) fn noise_seed(&self) -> u64 {
        self.noise_seed
    }
}

/// The seed's split of (colour, shape) pairs into training and held-out pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldoutPairs {
    train: Vec<(Colour, Shape)>,
    heldout: Vec<(Colour, Shape)>,
    is_heldout: [bool; NUM_CLASSES],
}

impl HeldoutPairs {
    /// The split for `seed` (see the module header).
    pub fn new(seed: u64) -> Self {
        let mut rng = SplitMix64::new(mix64(seed ^ TAG_HELDOUT_CHOICE));
        let n = Colour::OBJECT.len();
        let mut perm: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut perm);
        let k = 1 + rng.below(n - 1);
        let mut is_heldout = [false; NUM_CLASSES];
        for shape in Shape::ALL {
            let s = shape.index();
            for j in 0..HELDOUT_PER_SHAPE {
                let colour = Colour::OBJECT[perm[(s + j * k) % n]];
                is_heldout[class_index(colour, shape)] = true;
            }
        }
        let mut train = Vec::new();
        let mut heldout = Vec::new();
        for colour in Colour::OBJECT {
            for shape in Shape::ALL {
                if is_heldout[class_index(colour, shape)] {
                    heldout.push((colour, shape));
                } else {
                    train.push((colour, shape));
                }
            }
        }
        Self {
            train,
            heldout,
            is_heldout,
        }
    }

    /// Whether a class index is held out.
    pub fn is_heldout(&self, class: usize) -> bool {
        self.is_heldout.get(class).copied().unwrap_or(false)
    }

    /// Held-out pairs, in class-index order.
    pub fn heldout(&self) -> &[(Colour, Shape)] {
        &self.heldout
    }

    /// Training pairs, in class-index order.
    pub fn train(&self) -> &[(Colour, Shape)] {
        &self.train
    }
}

/// Draws the scene with key `key`. `heldout` picks the main pair from the held-out pairs.
pub(crate) fn generate(
    key: u64,
    pairs: &HeldoutPairs,
    opts: &SceneOptions,
    heldout: bool,
) -> Scene {
    let mut rng = SplitMix64::new(key);
    let main_pool = if heldout {
        &pairs.heldout
    } else {
        &pairs.train
    };
    let (colour, shape) = rng
        .pick(main_pool)
        .copied()
        .unwrap_or((Colour::Red, Shape::Circle));

    let (count, mut wanted_distractors) = if rng.chance(opts.single_object_prob) {
        (1, 0)
    } else {
        let count = 1 + rng.below(opts.max_count);
        let mut d = rng.below(opts.max_distractors + 1);
        if count == 1 && d == 0 && opts.max_distractors > 0 {
            d = 1;
        }
        (count, d)
    };
    wanted_distractors = wanted_distractors.min(Position::ALL.len() - count);

    let mut cells = Position::ALL;
    rng.shuffle(&mut cells);
    let size = Size::ALL[rng.below(Size::ALL.len())];
    let texture = draw_texture(&mut rng, opts);
    let pattern_angle = rng.below(4) as u8;
    let mut objects = Vec::with_capacity(count + wanted_distractors);
    for &cell in &cells[..count] {
        objects.push(place(
            &mut rng,
            shape,
            colour,
            size,
            texture,
            pattern_angle,
            cell,
        ));
    }

    let mut used = vec![(colour, shape)];
    for &cell in &cells[count..count + wanted_distractors] {
        // Distinct training pairs; the pool always has 80 entries, so a few tries suffice.
        let mut pair = None;
        for _ in 0..16 {
            let candidate = rng.pick(&pairs.train).copied();
            if let Some(c) = candidate
                && !used.contains(&c)
            {
                pair = Some(c);
                break;
            }
        }
        let Some((d_colour, d_shape)) = pair else {
            continue;
        };
        used.push((d_colour, d_shape));
        let d_size = Size::ALL[rng.below(size.index() + 1)];
        let d_texture = draw_texture(&mut rng, opts);
        let d_angle = rng.below(4) as u8;
        objects.push(place(
            &mut rng, d_shape, d_colour, d_size, d_texture, d_angle, cell,
        ));
    }

    let background = draw_background(&mut rng, opts, &objects);
    Scene {
        objects,
        main_count: count,
        background,
        caption_seed: mix64(key ^ TAG_CAPTION),
        noise_seed: mix64(key ^ TAG_NOISE),
    }
}

fn draw_texture(rng: &mut SplitMix64, opts: &SceneOptions) -> Texture {
    if rng.chance(opts.textured_prob) {
        Texture::ALL[1 + rng.below(Texture::ALL.len() - 1)]
    } else {
        Texture::Solid
    }
}

fn place(
    rng: &mut SplitMix64,
    shape: Shape,
    colour: Colour,
    size: Size,
    texture: Texture,
    pattern_angle: u8,
    cell: Position,
) -> SceneObject {
    let radius = size.radius() * rng.range(0.96, 1.04);
    let slack = (CELL_HALF - 0.9 * radius).max(0.0) * 0.9;
    let x = (cell.column() as f32 * 2.0 + 1.0) * CELL_HALF + rng.range(-slack, slack);
    let y = (cell.row() as f32 * 2.0 + 1.0) * CELL_HALF + rng.range(-slack, slack);
    let base = colour.rgb();
    let rgb = [
        (base[0] + rng.range(-0.04, 0.04)).clamp(0.0, 1.0),
        (base[1] + rng.range(-0.04, 0.04)).clamp(0.0, 1.0),
        (base[2] + rng.range(-0.04, 0.04)).clamp(0.0, 1.0),
    ];
    SceneObject {
        shape,
        colour,
        size,
        texture,
        cell,
        x,
        y,
        radius,
        pattern_angle,
        rgb,
    }
}

fn contrasts(rgb: [f32; 3], objects: &[SceneObject]) -> bool {
    objects
        .iter()
        .all(|o| rgb_distance(rgb, o.colour.rgb()) >= BACKGROUND_CONTRAST)
}

fn draw_background(
    rng: &mut SplitMix64,
    opts: &SceneOptions,
    objects: &[SceneObject],
) -> Background {
    let candidates: Vec<Colour> = Colour::ALL
        .iter()
        .copied()
        .filter(|c| contrasts(c.rgb(), objects))
        .collect();
    let pick = |rng: &mut SplitMix64| rng.pick(&candidates).copied().unwrap_or(Colour::Grey);
    if rng.chance(opts.plain_background_prob) {
        return Background::Plain(pick(rng));
    }
    if rng.chance(0.5) {
        return Background::Noise(pick(rng));
    }
    for _ in 0..8 {
        let from = pick(rng);
        let to = pick(rng);
        let midpoints_contrast = [0.25, 0.5, 0.75]
            .iter()
            .all(|&t| contrasts(mix_rgb(from.rgb(), to.rgb(), t), objects));
        if from != to && midpoints_contrast {
            let direction = [
                GradientDirection::Horizontal,
                GradientDirection::Vertical,
                GradientDirection::Diagonal,
            ][rng.below(3)];
            return Background::Gradient {
                from,
                to,
                direction,
            };
        }
    }
    Background::Plain(pick(rng))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heldout_split_is_balanced_and_seed_dependent() {
        let pairs = HeldoutPairs::new(5);
        assert_eq!(pairs.heldout().len(), 20);
        assert_eq!(pairs.train().len(), 80);
        for shape in Shape::ALL {
            assert_eq!(pairs.heldout().iter().filter(|p| p.1 == shape).count(), 2);
        }
        for colour in Colour::OBJECT {
            assert_eq!(pairs.heldout().iter().filter(|p| p.0 == colour).count(), 2);
        }
        assert_eq!(pairs, HeldoutPairs::new(5));
        assert!((0..10).any(|s| HeldoutPairs::new(s).heldout() != pairs.heldout()));
    }

    #[test]
    fn options_are_validated() {
        assert!(SceneOptions::default().validate().is_ok());
        assert!(SceneOptions::easy().validate().is_ok());
        let bad = SceneOptions {
            max_count: 5,
            ..SceneOptions::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(DataError::InvalidOption {
                name: "max_count",
                ..
            })
        ));
        let bad = SceneOptions {
            mention_prob: 1.5,
            ..SceneOptions::default()
        };
        let err = bad.validate().unwrap_err().to_string();
        assert!(
            err.contains("mention_prob") && err.contains("1.5") && err.contains("0.0..=1.0"),
            "{err}"
        );
    }

    #[test]
    fn scenes_respect_layout_and_contrast_rules() {
        let pairs = HeldoutPairs::new(1);
        let opts = SceneOptions::default();
        for i in 0..2000u64 {
            let scene = generate(mix64(i), &pairs, &opts, false);
            assert!((1..=4).contains(&scene.main_count()));
            assert!(scene.distractors().len() <= 2);
            let mut cells: Vec<Position> = scene.objects().iter().map(|o| o.cell).collect();
            cells.sort_unstable();
            cells.dedup();
            assert_eq!(cells.len(), scene.objects().len(), "objects share a cell");
            let main = scene.main();
            for copy in scene.main_group() {
                assert_eq!(
                    (copy.shape, copy.colour, copy.size, copy.texture),
                    (main.shape, main.colour, main.size, main.texture)
                );
            }
            for d in scene.distractors() {
                assert!(d.size <= main.size);
                assert_ne!((d.colour, d.shape), (main.colour, main.shape));
            }
            for o in scene.objects() {
                assert!(o.x - 0.9 * o.radius > -0.01 && o.x + 0.9 * o.radius < 1.01);
                assert!(o.y - 0.9 * o.radius > -0.01 && o.y + 0.9 * o.radius < 1.01);
            }
            if let Background::Plain(c) | Background::Noise(c) = scene.background() {
                assert!(scene.objects().iter().all(|o| o.colour != c));
            }
        }
    }

    #[test]
    fn easy_options_give_lone_solid_objects_on_plain_backgrounds() {
        let pairs = HeldoutPairs::new(1);
        for i in 0..500u64 {
            let scene = generate(mix64(i), &pairs, &SceneOptions::easy(), false);
            assert_eq!(scene.objects().len(), 1);
            assert_eq!(scene.main().texture, Texture::Solid);
            assert!(matches!(scene.background(), Background::Plain(_)));
        }
    }
}
