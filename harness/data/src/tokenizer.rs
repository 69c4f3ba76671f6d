//! Tokenizers. [`Tokenizer`] is the small interface the trainer needs (so CLIP's BPE can be
//! added behind it later); [`WordTokenizer`] is a word-level tokenizer for the synthetic
//! captions.
//!
//! Pre-tokenization: lowercase, split on whitespace, and make every ASCII punctuation
//! character its own token ("Red circles, two." -> `red circles , two .`). Ids: 0 padding,
//! 1 start-of-text, 2 end-of-text, 3 unknown, then the vocabulary words in the order given.
//! Encoding to a context of `n` gives exactly `n` ids `[start, words..., end, pad...]`; words
//! beyond `n - 2` are dropped so the end token is always kept (CLIP's truncation), and
//! `eot_pos` is the end token's position (where CLIP reads the text embedding).

use std::collections::HashMap;

use crate::error::DataError;
use crate::synthetic::Synthetic;

/// One encoded text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Exactly `context_length` ids: start, words, end, padding.
    pub ids: Vec<u32>,
    /// Position of the end-of-text token in `ids`.
    pub eot_pos: usize,
}

/// What the trainer needs from a tokenizer.
pub trait Tokenizer {
    /// Number of distinct ids (the embedding table size).
    fn vocab_size(&self) -> usize;
    /// The end-of-text id.
    fn end_id(&self) -> u32;
    /// Encodes one text to exactly `context_length` ids.
    fn encode(&self, text: &str, context_length: usize) -> Result<Encoded, DataError>;

    /// The id of words outside the vocabulary, for tokenizers that have one (a word
    /// vocabulary); byte-level BPEs spell every word and have none.
    fn unknown_token(&self) -> Option<u32> {
        None
    }

    /// Encodes a batch: ids flattened row-major (`texts.len() * context_length`) and the
    /// end-token positions, both as `i64` for tensor construction.
    fn encode_batch(
        &self,
        texts: &[String],
        context_length: usize,
    ) -> Result<(Vec<i64>, Vec<i64>), DataError> {
        let mut ids = Vec::with_capacity(texts.len() * context_length);
        let mut eot = Vec::with_capacity(texts.len());
        for text in texts {
            let e = self.encode(text, context_length)?;
            ids.extend(e.ids.iter().map(|&id| i64::from(id)));
            eot.push(e.eot_pos as i64);
        }
        Ok((ids, eot))
    }
}

/// Splits already-lowercased text into word and punctuation tokens.
fn split_lowercase(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, ch) in text.char_indices() {
        if ch.is_whitespace() || ch.is_ascii_punctuation() {
            if let Some(s) = start.take() {
                out.push(&text[s..i]);
            }
            if ch.is_ascii_punctuation() {
                out.push(&text[i..i + 1]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

/// The tokens of `text`: lowercased words and single punctuation characters.
pub fn pre_tokenize(text: &str) -> Vec<String> {
    split_lowercase(&text.to_lowercase())
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// A word-level tokenizer over a fixed word list.
#[derive(Debug, Clone)]
pub struct WordTokenizer {
    words: Vec<String>,
    ids: HashMap<String, u32>,
}

impl WordTokenizer {
    /// Padding id.
    pub const PAD: u32 = 0;
    /// Start-of-text id.
    pub const START: u32 = 1;
    /// End-of-text id.
    pub const END: u32 = 2;
    /// Unknown-word id.
    pub const UNKNOWN: u32 = 3;
    /// Id of the first vocabulary word.
    pub const FIRST_WORD: u32 = 4;
    const SPECIALS: [&'static str; 4] = ["<pad>", "<start>", "<end>", "<unk>"];

    /// Builds a tokenizer from words (lowercased; repeats are skipped). Each word must be one
    /// token after pre-tokenization: non-empty, no whitespace, and either a single punctuation
    /// character or free of punctuation.
    pub fn new<I, S>(words: I) -> Result<Self, DataError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let (tokenizer, invalid) = Self::build(words);
        match invalid.into_iter().next() {
            Some(err) => Err(err),
            None => Ok(tokenizer),
        }
    }

    /// The tokenizer of the synthetic captions: [`Synthetic::vocabulary_words`].
    pub fn for_synthetic() -> Self {
        // The synthetic vocabulary is valid by construction (tested), so nothing is skipped.
        Self::build(Synthetic::vocabulary_words()).0
    }

    /// Builds from the valid words and returns the errors of the invalid ones.
    fn build<I, S>(words: I) -> (Self, Vec<DataError>)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut tokenizer = Self {
            words: Vec::new(),
            ids: HashMap::new(),
        };
        let mut invalid = Vec::new();
        for word in words {
            let raw = word.as_ref();
            let lower = raw.to_lowercase();
            let pieces = split_lowercase(&lower);
            if pieces.len() != 1 || pieces[0] != lower {
                let reason = if pieces.is_empty() {
                    "it is empty or whitespace".to_owned()
                } else {
                    format!("it splits into the tokens {pieces:?}; give each as its own word")
                };
                invalid.push(DataError::InvalidWord {
                    word: raw.to_owned(),
                    reason,
                });
                continue;
            }
            if tokenizer.ids.contains_key(&lower) {
                continue;
            }
            let id = Self::FIRST_WORD + tokenizer.words.len() as u32;
            tokenizer.ids.insert(lower.clone(), id);
            tokenizer.words.push(lower);
        }
        (tokenizer, invalid)
    }

    /// Number of ids: the four special tokens plus the words.
    pub fn vocab_size(&self) -> usize {
        Self::FIRST_WORD as usize + self.words.len()
    }

    /// Padding id (0).
    pub fn pad_id(&self) -> u32 {
        Self::PAD
    }

    /// Start-of-text id (1).
    pub fn start_id(&self) -> u32 {
        Self::START
    }

    /// End-of-text id (2).
    pub fn end_id(&self) -> u32 {
        Self::END
    }

    /// Unknown-word id (3).
    pub fn unknown_id(&self) -> u32 {
        Self::UNKNOWN
    }

    /// The id of a token, if it is in the vocabulary (case-insensitive).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.ids.get(token.to_lowercase().as_str()).copied()
    }

    /// The token of an id (special tokens as `<pad>`, `<start>`, `<end>`, `<unk>`).
    pub fn token(&self, id: u32) -> Option<&str> {
        match id.checked_sub(Self::FIRST_WORD) {
            None => Self::SPECIALS.get(id as usize).copied(),
            Some(i) => self.words.get(i as usize).map(String::as_str),
        }
    }

    /// The vocabulary words, in id order (ids from [`Self::FIRST_WORD`]).
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Encodes `text` to exactly `context_length` ids (see the module header).
    pub fn encode(&self, text: &str, context_length: usize) -> Result<Encoded, DataError> {
        if context_length < 2 {
            return Err(DataError::ContextTooShort {
                value: context_length,
                min: 2,
            });
        }
        let lower = text.to_lowercase();
        let mut ids = vec![Self::PAD; context_length];
        ids[0] = Self::START;
        let mut n = 0;
        for token in split_lowercase(&lower).into_iter().take(context_length - 2) {
            n += 1;
            ids[n] = self.ids.get(token).copied().unwrap_or(Self::UNKNOWN);
        }
        ids[n + 1] = Self::END;
        Ok(Encoded {
            ids,
            eot_pos: n + 1,
        })
    }

    /// Encodes a batch; see [`Tokenizer::encode_batch`].
    pub fn encode_batch(
        &self,
        texts: &[String],
        context_length: usize,
    ) -> Result<(Vec<i64>, Vec<i64>), DataError> {
        Tokenizer::encode_batch(self, texts, context_length)
    }

    /// Joins the word tokens of `ids` back into text, stopping at the end token and skipping
    /// start and padding (for debugging).
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut out = String::new();
        for &id in ids {
            match id {
                Self::END => break,
                Self::PAD | Self::START => continue,
                _ => {
                    let token = self.token(id).unwrap_or(Self::SPECIALS[3]);
                    let punct = token.len() == 1 && token.as_bytes()[0].is_ascii_punctuation();
                    if !out.is_empty() && !punct {
                        out.push(' ');
                    }
                    out.push_str(token);
                }
            }
        }
        out
    }
}

impl Tokenizer for WordTokenizer {
    fn vocab_size(&self) -> usize {
        WordTokenizer::vocab_size(self)
    }

    fn unknown_token(&self) -> Option<u32> {
        Some(Self::UNKNOWN)
    }

    fn end_id(&self) -> u32 {
        WordTokenizer::end_id(self)
    }

    fn encode(&self, text: &str, context_length: usize) -> Result<Encoded, DataError> {
        WordTokenizer::encode(self, text, context_length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_separates_punctuation_and_lowercases() {
        assert_eq!(
            pre_tokenize("Red circles,two of THEM.  "),
            ["red", "circles", ",", "two", "of", "them", "."]
        );
        assert_eq!(pre_tokenize(" \t\n"), Vec::<String>::new());
        assert_eq!(pre_tokenize("a:b"), ["a", ":", "b"]);
        assert_eq!(pre_tokenize("Ünïcode wörds"), ["ünïcode", "wörds"]);
    }

    #[test]
    fn invalid_words_are_rejected_with_the_word_named() {
        for bad in ["two words", "", "end.", "  "] {
            let err = WordTokenizer::new([bad]).unwrap_err();
            assert!(
                matches!(&err, DataError::InvalidWord { word, .. } if word == bad),
                "{err}"
            );
        }
        let t = WordTokenizer::new(["Red", "red", ",", "blue"]).unwrap();
        assert_eq!(t.vocab_size(), 4 + 3);
        assert_eq!(t.token_id("RED"), Some(4));
        assert_eq!(t.token_id(","), Some(5));
        assert_eq!(t.token(0), Some("<pad>"));
        assert_eq!(t.token(6), Some("blue"));
        assert_eq!(t.token(7), None);
    }
}
