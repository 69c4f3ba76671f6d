//! The word tables of the caption grammar. Every word a caption or zero-shot template can
//! contain comes from a table here (tested: 5k captions tokenize without unknown words), so
//! [`all_phrases`] is the source of the tokenizer's vocabulary.
//!
//! Placeholders in braces (`{c}`, `{a}`, `{b}`) are filled with colour words.

use crate::attributes::{Colour, Shape};

/// Sentence openers that precede a noun phrase of either number ("a photo of two stars").
pub(crate) const PREFIXES: &[&str] = &[
    "a photo of",
    "a picture of",
    "an image of",
    "a drawing of",
    "a rendering of",
    "a nice photo of",
    "a simple picture of",
    "an illustration of",
    "a cool graphic of",
    "a lovely image of",
    "look at",
    "we see",
    "some shapes:",
];

/// Openers that agree in number with the noun phrase: (singular, plural).
pub(crate) const PREFIXES_NUMBERED: &[(&str, &str)] = &[
    ("here is", "here are"),
    ("this is", "these are"),
    ("there is", "there are"),
    ("the picture shows", "the picture shows"),
];

/// Meaningless adjectives slipped in front of a noun phrase.
pub(crate) const FILLER_ADJECTIVES: &[&str] =
    &["nice", "pretty", "cute", "simple", "lovely", "neat"];

/// Meaningless tails appended to a caption.
pub(crate) const SUFFIXES: &[&str] = &[
    "in this picture",
    "in the image",
    "here",
    ", nice",
    ", what a nice image",
    "for you",
];

/// The indefinite articles, chosen by the next word's first letter.
pub(crate) const ARTICLES: [&str; 2] = ["a", "an"];

/// Ways to say "one" besides the article.
pub(crate) const COUNT_ONE: &[&str] = &["one", "a single", "just one"];

/// Count words for 1..=4 copies (index `count - 1`).
pub(crate) const COUNT_WORDS: [&[&str]; 4] = [
    &["one"],
    &["two", "2", "a pair of"],
    &["three", "3"],
    &["four", "4"],
];

/// Number words used in "..., two of them".
pub(crate) const NUMBERS: [&str; 4] = ["one", "two", "three", "four"];

/// Tail of the list form: ", two of them".
pub(crate) const OF_THEM: &str = "of them";

/// Tail of the list form for a single object: ", only one".
pub(crate) const ONLY_ONE: &[&str] = &["only one", "just one"];

/// Size words (index `Size::index()`).
pub(crate) const SIZE_WORDS: [&[&str]; 3] = [
    &["small", "tiny", "little"],
    &["medium", "medium sized", "mid sized", "average sized"],
    &["large", "big", "huge"],
];

/// Texture adjectives (index `Texture::index()`).
pub(crate) const TEXTURE_ADJECTIVES: [&[&str]; 4] = [
    &["solid", "plain", "filled"],
    &["striped", "stripy"],
    &["dotted", "spotted", "polka dot"],
    &["checkered", "chequered", "checked"],
];

/// Texture prepositional phrases (index `Texture::index()`).
pub(crate) const TEXTURE_PHRASES: [&[&str]; 4] = [
    &["with a solid fill", "with no pattern"],
    &["with stripes"],
    &["with dots", "with spots"],
    &["with a checkerboard pattern", "with checks"],
];

/// Position phrases (index `Position::index()`).
pub(crate) const POSITION_PHRASES: [&[&str]; 9] = [
    &[
        "in the top left corner",
        "at the top left",
        "in the upper left",
    ],
    &["at the top", "near the top", "at the top centre"],
    &[
        "in the top right corner",
        "at the top right",
        "in the upper right",
    ],
    &["on the left", "at the left", "on the left side"],
    &["in the centre", "in the center", "in the middle"],
    &["on the right", "at the right", "on the right side"],
    &[
        "in the bottom left corner",
        "at the bottom left",
        "in the lower left",
    ],
    &["at the bottom", "near the bottom", "at the bottom centre"],
    &[
        "in the bottom right corner",
        "at the bottom right",
        "in the lower right",
    ],
];

/// Plain backgrounds; `{c}` is the colour.
pub(crate) const BACKGROUND_PLAIN: &[&str] = &[
    "on a {c} background",
    "against a {c} background",
    "on a plain {c} background",
    "over a {c} backdrop",
];

/// Noisy backgrounds; `{c}` is the base colour.
pub(crate) const BACKGROUND_NOISE: &[&str] = &[
    "on a noisy background",
    "on a noisy {c} background",
    "on a speckled {c} background",
    "against a grainy backdrop",
];

/// Gradient backgrounds; `{a}` and `{b}` are the end colours.
pub(crate) const BACKGROUND_GRADIENT: &[&str] = &[
    "on a gradient background",
    "on a {a} to {b} gradient",
    "against a fading {a} and {b} backdrop",
    "on a smooth gradient",
];

/// Alternative spellings of grey.
pub(crate) const GREY_WORDS: &[&str] = &["grey", "gray"];

/// Relative clauses for the colour: (singular, plural) alternatives.
pub(crate) const THAT_IS: [&[&str]; 2] = [&["that is", "which is"], &["that are", "which are"]];

/// The copula in "the circle is red" / "the circles are red".
pub(crate) const IS_ARE: [&str; 2] = ["is", "are"];

/// The definite article.
pub(crate) const THE: &str = "the";

/// "two circles in red".
pub(crate) const IN: &str = "in";

/// Joins between the main group and distractor objects.
pub(crate) const DISTRACTOR_JOINS: &[&str] =
    &["next to", "beside", "and", "as well as", "plus", "near"];

/// Joins between several distractors.
pub(crate) const AND: &str = "and";

/// "with a blue star nearby".
pub(crate) const WITH_NEARBY: (&str, &str) = ("with", "nearby");

/// Zero-shot prompt templates; `{c}` is a class name such as "red circle".
pub(crate) const TEMPLATES: &[&str] = &[
    "a photo of one {c}.",
    "an image of one {c}.",
    "a picture of a single {c}.",
    "a drawing of one {c}.",
    "one {c}.",
];

/// Punctuation the grammar emits.
pub(crate) const PUNCTUATION: &[&str] = &[".", ",", ":"];

/// Every phrase the grammar can produce, placeholders included (strip them before use).
pub(crate) fn all_phrases() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    out.extend(Colour::ALL.iter().map(|c| c.name()));
    out.extend(GREY_WORDS);
    out.extend(Shape::ALL.iter().map(|s| s.name()));
    out.extend(Shape::ALL.iter().map(|s| s.plural()));
    out.extend(PREFIXES);
    for (a, b) in PREFIXES_NUMBERED {
        out.extend([*a, *b]);
    }
    out.extend(FILLER_ADJECTIVES);
    out.extend(SUFFIXES);
    out.extend(ARTICLES);
    out.extend(COUNT_ONE);
    for words in COUNT_WORDS {
        out.extend(words);
    }
    out.extend(NUMBERS);
    out.push(OF_THEM);
    out.extend(ONLY_ONE);
    for table in SIZE_WORDS
        .iter()
        .chain(&TEXTURE_ADJECTIVES)
        .chain(&TEXTURE_PHRASES)
        .chain(&POSITION_PHRASES)
    {
        out.extend(*table);
    }
    out.extend(BACKGROUND_PLAIN);
    out.extend(BACKGROUND_NOISE);
    out.extend(BACKGROUND_GRADIENT);
    for table in THAT_IS {
        out.extend(table);
    }
    out.extend(IS_ARE);
    out.extend([THE, IN, AND, WITH_NEARBY.0, WITH_NEARBY.1]);
    out.extend(DISTRACTOR_JOINS);
    out.extend(TEMPLATES);
    out.extend(PUNCTUATION);
    out
}
