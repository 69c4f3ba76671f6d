//! K-LITE-style enrichment (Shen et al. 2022): a caption's least frequent noun explained by its
//! WordNet gloss, appended as `caption ; noun , gloss`.
//!
//! A caption's nouns are its words (lowercase letters and digits, three or more characters)
//! that WordNet has as a noun lemma; the least frequent is the one with the fewest pairs in the
//! captions being curated (ties: the alphabetically first), the rarest concept being the one
//! a model can learn least about from the data itself. Each noun's gloss is that of its most
//! frequent sense (word senses are not disambiguated: "apple" is the fruit even in a set of
//! logos). For zero-shot class prompts, [`class_knowledge`] takes the class name itself when
//! WordNet has it ("hot dog"), else its last noun (the head of an English compound).

use std::collections::HashMap;

use super::normalise_words;
use super::wordnet::Nouns;

/// Shortest word that counts as a noun (WordNet also lists letters: "a", "i").
const MIN_NOUN_LEN: usize = 3;

fn nouns_of<'a>(caption: &'a str, nouns: &'a Nouns) -> impl Iterator<Item = String> + 'a {
    normalise_words(caption)
        .split(' ')
        .filter(|w| w.len() >= MIN_NOUN_LEN && !w.chars().all(|c| c.is_ascii_digit()))
        .filter(|w| nouns.gloss.contains_key(*w))
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .into_iter()
}

/// Words -> number of captions holding them (each caption counts a word once).
pub fn word_counts<'a>(captions: impl Iterator<Item = &'a str>) -> HashMap<String, usize> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for caption in captions {
        let mut words: Vec<String> = normalise_words(caption)
            .split(' ')
            .map(str::to_owned)
            .collect();
        words.sort_unstable();
        words.dedup();
        for w in words {
            *counts.entry(w).or_default() += 1;
        }
    }
    counts
}

/// The caption's least frequent noun (by `counts`) and its gloss.
pub fn least_frequent_noun<'a>(
    caption: &str,
    counts: &HashMap<String, usize>,
    nouns: &'a Nouns,
) -> Option<(String, &'a str)> {
    nouns_of(caption, nouns)
        .min_by(|a, b| {
            let ca = counts.get(a).copied().unwrap_or(0);
            let cb = counts.get(b).copied().unwrap_or(0);
            ca.cmp(&cb).then_with(|| a.cmp(b))
        })
        .and_then(|noun| nouns.gloss.get(&noun).map(|g| (noun, g.as_str())))
}

/// `caption ; noun , gloss`.
pub fn enrich(caption: &str, noun: &str, gloss: &str) -> String {
    format!("{} ; {noun} , {gloss}", caption.trim())
}

/// The knowledge for a class name: the name itself when WordNet has it, else its last noun.
pub fn class_knowledge<'a>(class: &str, nouns: &'a Nouns) -> Option<(String, &'a str)> {
    let whole = normalise_words(class);
    if let Some(g) = nouns.gloss.get(&whole) {
        return Some((whole, g.as_str()));
    }
    nouns_of(class, nouns)
        .last()
        .and_then(|noun| nouns.gloss.get(&noun).map(|g| (noun, g.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nouns() -> Nouns {
        let mut n = Nouns::default();
        for (w, g) in [
            ("cat", "feline mammal"),
            ("hat", "headdress that protects the head"),
            ("face", "the front of the head"),
            ("hot dog", "a frankfurter in a bun"),
            ("dog", "a domesticated canid"),
            ("a", "the first letter"),
        ] {
            n.gloss.insert(w.into(), g.into());
        }
        n
    }

    #[test]
    fn the_rarest_noun_of_a_caption_is_explained() {
        let nouns = nouns();
        let captions = ["cat face", "cat with a hat", "cat", "smiling face"];
        let counts = word_counts(captions.iter().copied());
        // "hat" is in one caption, "cat" in three
        let (noun, gloss) = least_frequent_noun("a cat in a hat", &counts, &nouns).unwrap();
        assert_eq!(
            (noun.as_str(), gloss),
            ("hat", "headdress that protects the head")
        );
        assert_eq!(
            enrich("a cat in a hat ", &noun, gloss),
            "a cat in a hat ; hat , headdress that protects the head"
        );
        // no noun: nothing to add ("a" is too short to count)
        assert_eq!(least_frequent_noun("a b c", &counts, &nouns), None);
    }

    #[test]
    fn a_class_name_is_explained_whole_or_by_its_head_noun() {
        let nouns = nouns();
        assert_eq!(class_knowledge("Hot dog", &nouns).unwrap().0, "hot dog");
        assert_eq!(
            class_knowledge("grinning cat face", &nouns).unwrap().0,
            "face"
        );
        assert_eq!(class_knowledge("grinning", &nouns), None);
    }
}
