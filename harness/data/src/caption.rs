//! The caption grammar: turns a [`Scene`] into one of many paraphrases.
//!
//! Colour, shape and count of the main group are always stated; size, texture, position (lone
//! main objects only), background and each distractor are stated with probability
//! `mention_prob`, and filler words (openers, empty adjectives, tails) appear with probability
//! `filler_prob`. Six sentence forms vary the word order, e.g.
//! - "a photo of two small red circles on a blue background."
//! - "red circles, two of them, next to a green star"
//! - "there are three hearts that are pink with stripes."
//! - "at the top left, a big dotted yellow star."
//! - "four arrows in cyan against a grainy backdrop"
//! - "a blue star beside two red circles." / "the circles are red, two of them."
//!
//! Every word comes from the tables in [`crate::lexicon`].

use clipscale_core::rng::SplitMix64;

use crate::attributes::{Background, Colour, Position, Shape, Size, Texture};
use crate::lexicon::{
    AND, ARTICLES, BACKGROUND_GRADIENT, BACKGROUND_NOISE, BACKGROUND_PLAIN, COUNT_ONE, COUNT_WORDS,
    DISTRACTOR_JOINS, FILLER_ADJECTIVES, GREY_WORDS, IN, IS_ARE, NUMBERS, OF_THEM, ONLY_ONE,
    POSITION_PHRASES, PREFIXES, PREFIXES_NUMBERED, SIZE_WORDS, SUFFIXES, TEXTURE_ADJECTIVES,
    TEXTURE_PHRASES, THAT_IS, THE, WITH_NEARBY,
};
use crate::scene::{Scene, SceneObject, SceneOptions};

/// A caption under construction: words and punctuation joined with single spaces, with no
/// space before punctuation.
struct Sentence {
    text: String,
}

impl Sentence {
    fn new() -> Self {
        Self {
            text: String::with_capacity(96),
        }
    }

    /// Appends a phrase; pieces starting with punctuation attach to the previous word, and an
    /// article "a" just before a vowel becomes "an" ("against a orange" -> "against an orange").
    fn push(&mut self, phrase: &str) {
        for piece in phrase.split_whitespace() {
            let attach = piece.starts_with([',', '.', ':']);
            let last_is_a = self.text == ARTICLES[0] || self.text.ends_with(" a");
            if last_is_a && article(piece) == ARTICLES[1] {
                self.text.push('n');
            }
            if !self.text.is_empty() && !attach {
                self.text.push(' ');
            }
            self.text.push_str(piece);
        }
    }

    /// Appends a phrase with `{c}`, `{a}` and `{b}` replaced.
    fn push_template(&mut self, template: &str, c: &str, a: &str, b: &str) {
        let filled = template
            .replace("{c}", c)
            .replace("{a}", a)
            .replace("{b}", b);
        self.push(&filled);
    }
}

fn pick(rng: &mut SplitMix64, table: &[&'static str]) -> &'static str {
    rng.pick(table).copied().unwrap_or("")
}

/// "a" or "an" for the following word.
fn article(next: &str) -> &'static str {
    if next.starts_with(['a', 'e', 'i', 'o', 'u']) {
        ARTICLES[1]
    } else {
        ARTICLES[0]
    }
}

fn colour_word(rng: &mut SplitMix64, colour: Colour) -> &'static str {
    if colour == Colour::Grey {
        pick(rng, GREY_WORDS)
    } else {
        colour.name()
    }
}

/// What a noun phrase says.
struct NounPhrase {
    count: usize,
    determiner: bool,
    filler: bool,
    size: Option<Size>,
    texture: Option<Texture>,
    colour: Option<Colour>,
    shape: Shape,
}

/// Decisions made once per caption.
struct Plan<'a> {
    scene: &'a Scene,
    size: Option<Size>,
    texture_adjective: Option<Texture>,
    texture_phrase: Option<Texture>,
    position: Option<Position>,
    background: bool,
    distractors: Vec<&'a SceneObject>,
    filler: bool,
}

/// The caption of `scene`, deterministic in the scene's caption seed.
pub(crate) fn caption(scene: &Scene, opts: &SceneOptions) -> String {
    let mut rng = SplitMix64::new(scene.caption_seed());
    let p = opts.mention_prob;
    let main = scene.main();
    let size = rng.chance(p).then_some(main.size);
    let texture = rng.chance(p).then_some(main.texture);
    let as_adjective = rng.chance(0.6);
    let position = (scene.main_count() == 1 && rng.chance(p)).then_some(main.cell);
    let background = rng.chance(p);
    let distractors = scene
        .distractors()
        .iter()
        .filter(|_| rng.chance(p))
        .collect();
    let filler = rng.chance(opts.filler_prob);
    let plan = Plan {
        scene,
        size,
        texture_adjective: texture.filter(|_| as_adjective),
        texture_phrase: texture.filter(|_| !as_adjective),
        position,
        background,
        distractors,
        filler,
    };

    let mut s = Sentence::new();
    match rng.below(6) {
        0 => standard(&mut s, &mut rng, &plan),
        1 => list(&mut s, &mut rng, &plan),
        2 => relative(&mut s, &mut rng, &plan),
        3 if plan.position.is_some() => position_first(&mut s, &mut rng, &plan),
        4 => in_colour(&mut s, &mut rng, &plan),
        5 if !plan.distractors.is_empty() => distractor_first(&mut s, &mut rng, &plan),
        5 => copula(&mut s, &mut rng, &plan),
        _ => standard(&mut s, &mut rng, &plan),
    }
    if plan.filler && rng.chance(0.3) {
        s.push(pick(&mut rng, SUFFIXES));
    }
    if rng.chance(0.7) {
        s.push(".");
    }
    s.text
}

impl Plan<'_> {
    fn count(&self) -> usize {
        self.scene.main_count()
    }

    fn main_phrase(&self, determiner: bool, with_colour: bool) -> NounPhrase {
        NounPhrase {
            count: self.count(),
            determiner,
            filler: false,
            size: self.size,
            texture: self.texture_adjective,
            colour: with_colour.then_some(self.scene.main().colour),
            shape: self.scene.main().shape,
        }
    }
}

fn push_noun_phrase(s: &mut Sentence, rng: &mut SplitMix64, np: &NounPhrase) {
    let mut words: Vec<&'static str> = Vec::with_capacity(6);
    if np.filler {
        words.push(pick(rng, FILLER_ADJECTIVES));
    }
    if let Some(size) = np.size {
        words.push(pick(rng, SIZE_WORDS[size.index()]));
    }
    if let Some(texture) = np.texture {
        words.push(pick(rng, TEXTURE_ADJECTIVES[texture.index()]));
    }
    if let Some(colour) = np.colour {
        words.push(colour_word(rng, colour));
    }
    words.push(if np.count > 1 {
        np.shape.plural()
    } else {
        np.shape.name()
    });
    if np.determiner {
        if np.count == 1 {
            if rng.chance(0.6) {
                s.push(article(words[0]));
            } else {
                s.push(pick(rng, COUNT_ONE));
            }
        } else {
            s.push(pick(rng, COUNT_WORDS[np.count.clamp(1, 4) - 1]));
        }
    }
    for w in words {
        s.push(w);
    }
}

fn push_opener(s: &mut Sentence, rng: &mut SplitMix64, plan: &Plan<'_>) {
    if !plan.filler {
        return;
    }
    if rng.chance(0.7) {
        s.push(pick(rng, PREFIXES));
    } else if let Some((one, many)) = rng.pick(PREFIXES_NUMBERED) {
        s.push(if plan.count() > 1 { many } else { one });
    }
}

fn push_distractor(s: &mut Sentence, rng: &mut SplitMix64, object: &SceneObject) {
    let np = NounPhrase {
        count: 1,
        determiner: true,
        filler: false,
        size: rng.chance(0.3).then_some(object.size),
        texture: rng.chance(0.3).then_some(object.texture),
        colour: Some(object.colour),
        shape: object.shape,
    };
    push_noun_phrase(s, rng, &np);
}

fn push_distractors(s: &mut Sentence, rng: &mut SplitMix64, plan: &Plan<'_>) {
    if plan.distractors.is_empty() {
        return;
    }
    let nearby = rng.chance(0.2);
    s.push(if nearby {
        WITH_NEARBY.0
    } else {
        pick(rng, DISTRACTOR_JOINS)
    });
    for (i, d) in plan.distractors.iter().enumerate() {
        if i > 0 {
            s.push(AND);
        }
        push_distractor(s, rng, d);
    }
    if nearby {
        s.push(WITH_NEARBY.1);
    }
}

fn push_texture_phrase(s: &mut Sentence, rng: &mut SplitMix64, plan: &Plan<'_>) {
    if let Some(t) = plan.texture_phrase {
        s.push(pick(rng, TEXTURE_PHRASES[t.index()]));
    }
}

fn push_position(s: &mut Sentence, rng: &mut SplitMix64, plan: &Plan<'_>) {
    if let Some(p) = plan.position {
        s.push(pick(rng, POSITION_PHRASES[p.index()]));
    }
}

fn push_background(s: &mut Sentence, rng: &mut SplitMix64, plan: &Plan<'_>) {
    if !plan.background {
        return;
    }
    match plan.scene.background() {
        Background::Plain(c) => {
            let c = colour_word(rng, c);
            s.push_template(pick(rng, BACKGROUND_PLAIN), c, "", "");
        }
        Background::Noise(c) => {
            let c = colour_word(rng, c);
            s.push_template(pick(rng, BACKGROUND_NOISE), c, "", "");
        }
        Background::Gradient { from, to, .. } => {
            let (a, b) = (colour_word(rng, from), colour_word(rng, to));
            s.push_template(pick(rng, BACKGROUND_GRADIENT), "", a, b);
        }
    }
}

/// Adds a filler adjective to a noun phrase some of the time.
fn with_filler(rng: &mut SplitMix64, plan: &Plan<'_>, mut np: NounPhrase) -> NounPhrase {
    np.filler = plan.filler && rng.chance(0.3);
    np
}

/// "[opener] NP [texture] [position] [background] [distractors]"
fn standard(s: &mut Sentence, rng: &mut SplitMix64, plan: &Plan<'_>) {
    push_opener(s, rng, plan);
    let np = with_filler(rng, plan, plan.main_phrase(true, true));
    push_noun_phrase(s, rng, &np);
    push_texture_phrase(s, rng, plan);
    push_position(s, rng, plan);
    push_background(s, rng, plan);
    push_distractors(s, rng, plan);
}

/// "red circles, two of them, [position], [background] [distractors]"
fn list(s: &mut Sentence, rng: &mut SplitMix64, plan: &Plan<'_>) {
    let np = plan.main_phrase(false, true);
    push_noun_phrase(s, rng, &np);
    s.push(",");
    if plan.count() > 1 {
        s.push(NUMBERS[plan.count().clamp(1, 4) - 1]);
        s.push(OF_THEM);
    } else {
        s.push(pick(rng, ONLY_ONE));
    }
    if plan.texture_phrase.is_some() || plan.position.is_some() {
        s.push(",");
        push_texture_phrase(s, rng, plan);
        push_position(s, rng, plan);
    }
    if plan.background {
        s.push(",");
        push_background(s, rng, plan);
    }
    push_distractors(s, rng, plan);
}

/// "[there are] three small hearts that are pink [texture] [position] [background] [distractors]"
fn relative(s: &mut Sentence, rng: &mut SplitMix64, plan: &Plan<'_>) {
    push_opener(s, rng, plan);
    let np = with_filler(rng, plan, plan.main_phrase(true, false));
    push_noun_phrase(s, rng, &np);
    s.push(pick(rng, THAT_IS[usize::from(plan.count() > 1)]));
    s.push(colour_word(rng, plan.scene.main().colour));
    push_texture_phrase(s, rng, plan);
    push_position(s, rng, plan);
    push_background(s, rng, plan);
    push_distractors(s, rng, plan);
}

/// "at the top left, a big yellow star [texture] [background] [distractors]"
fn position_first(s: &mut Sentence, rng: &mut SplitMix64, plan: &Plan<'_>) {
    push_position(s, rng, plan);
    s.push(",");
    let np = with_filler(rng, plan, plan.main_phrase(true, true));
    push_noun_phrase(s, rng, &np);
    push_texture_phrase(s, rng, plan);
    push_background(s, rng, plan);
    push_distractors(s, rng, plan);
}

/// "[opener] four arrows in cyan [texture] [position] [background] [distractors]"
fn in_colour(s: &mut Sentence, rng: &mut SplitMix64, plan: &Plan<'_>) {
    push_opener(s, rng, plan);
    let np = with_filler(rng, plan, plan.main_phrase(true, false));
    push_noun_phrase(s, rng, &np);
    s.push(IN);
    s.push(colour_word(rng, plan.scene.main().colour));
    push_texture_phrase(s, rng, plan);
    push_position(s, rng, plan);
    push_background(s, rng, plan);
    push_distractors(s, rng, plan);
}

/// "[opener] a blue star next to two red circles [texture] [position] [background]"
fn distractor_first(s: &mut Sentence, rng: &mut SplitMix64, plan: &Plan<'_>) {
    push_opener(s, rng, plan);
    for (i, d) in plan.distractors.iter().enumerate() {
        if i > 0 {
            s.push(AND);
        }
        push_distractor(s, rng, d);
    }
    s.push(pick(rng, DISTRACTOR_JOINS));
    let np = plan.main_phrase(true, true);
    push_noun_phrase(s, rng, &np);
    push_texture_phrase(s, rng, plan);
    push_position(s, rng, plan);
    push_background(s, rng, plan);
}

/// "the small circles are red, two of them [texture] [position] [background]"
fn copula(s: &mut Sentence, rng: &mut SplitMix64, plan: &Plan<'_>) {
    s.push(THE);
    let np = plan.main_phrase(false, false);
    push_noun_phrase(s, rng, &np);
    s.push(IS_ARE[usize::from(plan.count() > 1)]);
    s.push(colour_word(rng, plan.scene.main().colour));
    if plan.count() > 1 {
        s.push(",");
        s.push(NUMBERS[plan.count().clamp(1, 4) - 1]);
        s.push(OF_THEM);
    }
    push_texture_phrase(s, rng, plan);
    push_position(s, rng, plan);
    push_background(s, rng, plan);
}
