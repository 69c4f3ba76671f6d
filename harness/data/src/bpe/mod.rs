//! CLIP's byte-level BPE tokenizer ([`ClipBpe`]) and a trainer for smaller vocabularies
//! ([`train_bpe`]).
//!
//! Encoding follows OpenAI's CLIP tokenizer exactly:
//!
//! 1. clean the text ([`clean_text`]: ftfy-style fixes, HTML unescaping, whitespace collapse,
//!    lowercase);
//! 2. split it with the pattern
//!    `<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
//!    on the lowercased text. The reference compiles it case-insensitively, which changes one
//!    thing: U+0345 (combining ypogegrammeni, whose case fold is a letter) matches no branch
//!    and is dropped, so it is excluded from the last class here (checked over all code points);
//! 3. map each piece's UTF-8 bytes to printable characters (GPT-2's bytes-to-unicode table),
//!    mark the last character with `</w>`, and apply merges lowest rank first, every
//!    non-overlapping occurrence left to right, until no pair has a rank;
//! 4. wrap in start/end tokens, truncate to the context (the last position becomes the end
//!    token), pad with 0 (open_clip's padding).
//!
//! Ids: the 256 byte characters, the same 256 with `</w>`, one id per merge in rank order, then
//! `<|startoftext|>` and `<|endoftext|>`. OpenAI's vocabulary (48,894 merges, 49,408 ids; start
//! 49406, end 49407) is compiled in from `assets/bpe_simple_vocab_16e6.txt.gz`
//! ([`ClipBpe::openai`]). A trained tokenizer uses the same layout with fewer merges and is
//! stored as a merges file ([`ClipBpe::save`], [`ClipBpe::load`]).

mod clean;
mod entities;
mod train;

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use regex::Regex;

pub use clean::clean_text;
pub use train::{MIN_TRAINED_VOCAB, train_bpe};

use crate::error::DataError;
use crate::tokenizer::{Encoded, Tokenizer};

/// OpenAI's merges file, gzip-compressed (MIT; see `assets/README.md`).
const OPENAI_MERGES_GZ: &[u8] = include_bytes!("../../assets/bpe_simple_vocab_16e6.txt.gz");
/// How many merges of OpenAI's file CLIP uses (lines 1..=48894 after the header).
pub const OPENAI_MERGES: usize = 49152 - 256 - 2;
/// The start-of-text marker as it appears in text and in the vocabulary.
pub const START_TEXT: &str = "<|startoftext|>";
/// The end-of-text marker.
pub const END_TEXT: &str = "<|endoftext|>";
/// The end-of-word suffix.
const END_OF_WORD: &str = "</w>";
/// Header line written at the top of saved merges files.
const FILE_HEADER: &str = "#version: clipscale-bpe 1";
/// Number of ids that are not merges: 256 byte characters, the same with `</w>`.
pub const BASE_TOKENS: usize = 512;
/// Entries kept in the per-tokenizer word cache before it is cleared.
const CACHE_LIMIT: usize = 200_000;

/// GPT-2's byte-to-character table: printable bytes map to themselves, the rest (controls,
/// space, soft hyphen...) to U+0100 upwards, in byte order. Index = byte.
pub fn bytes_to_unicode() -> [char; 256] {
    let printable = |b: u32| {
        (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
    };
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..256u32 {
        let code = if printable(b) {
            b
        } else {
            next += 1;
            next - 1
        };
        table[b as usize] = char::from_u32(code).unwrap_or('\u{FFFD}');
    }
    table
}

/// The bytes in the order their base ids are assigned (OpenAI's order: the printable bytes
/// ascending, then the others ascending).
fn base_byte_order() -> Vec<u8> {
    let printable = |b: u8| (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
    let mut order: Vec<u8> = (0..=255u8).filter(|&b| printable(b)).collect();
    order.extend((0..=255u8).filter(|&b| !printable(b)));
    order
}

/// The pre-tokenisation pattern (see the module header).
fn pattern() -> &'static Regex {
    static PAT: OnceLock<Regex> = OnceLock::new();
    PAT.get_or_init(|| {
        Regex::new(
            r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}\x{345}]+",
        )
        .expect("constant pattern")
    })
}

/// Splits already-cleaned text into CLIP's pre-tokens.
pub fn pre_tokenize_clip(cleaned: &str) -> Vec<&str> {
    pattern().find_iter(cleaned).map(|m| m.as_str()).collect()
}

/// A byte-level BPE tokenizer with CLIP's layout (see the module header).
#[derive(Debug)]
pub struct ClipBpe {
    /// Token strings by id (byte characters, `</w>` suffix, merges, specials).
    tokens: Vec<String>,
    /// Base id of each byte (without `</w>`; add 256 for the `</w>` form).
    byte_id: [u32; 256],
    /// `(left, right)` -> `(rank, merged id)`.
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// The merges, in rank order, as token strings (what the file stores).
    merge_list: Vec<(String, String)>,
    start: u32,
    end: u32,
    cache: Mutex<HashMap<String, Vec<u32>>>,
}

impl Clone for ClipBpe {
    fn clone(&self) -> Self {
        Self {
            tokens: self.tokens.clone(),
            byte_id: self.byte_id,
            merges: self.merges.clone(),
            merge_list: self.merge_list.clone(),
            start: self.start,
            end: self.end,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

impl ClipBpe {
    /// Padding id (open_clip pads with 0).
    pub const PAD: u32 = 0;

    /// OpenAI's CLIP tokenizer (49,408 ids), decompressed from the compiled-in vocabulary once
    /// per process and cloned.
    pub fn openai() -> Result<Self, DataError> {
        static OPENAI: OnceLock<Result<ClipBpe, DataError>> = OnceLock::new();
        OPENAI
            .get_or_init(|| {
                let origin = "assets/bpe_simple_vocab_16e6.txt.gz (compiled in)";
                let mut text = String::new();
                flate2::read::GzDecoder::new(OPENAI_MERGES_GZ)
                    .read_to_string(&mut text)
                    .map_err(|e| DataError::Format {
                        path: origin.to_owned(),
                        detail: format!("cannot decompress: {e}"),
                    })?;
                Self::from_merges_text(&text, Some(OPENAI_MERGES), origin)
            })
            .clone()
    }

    /// Builds a tokenizer from merges, in rank order, as token-string pairs (`("t", "h")`).
    /// Each side must be a base token or the result of an earlier merge.
    pub fn from_merges(merges: Vec<(String, String)>, origin: &str) -> Result<Self, DataError> {
        let b2u = bytes_to_unicode();
        let mut tokens: Vec<String> = Vec::with_capacity(BASE_TOKENS + merges.len() + 2);
        let mut byte_id = [0u32; 256];
        for (i, &b) in base_byte_order().iter().enumerate() {
            byte_id[b as usize] = i as u32;
            tokens.push(b2u[b as usize].to_string());
        }
        for i in 0..256 {
            let t = format!("{}{END_OF_WORD}", tokens[i]);
            tokens.push(t);
        }
        for (a, b) in &merges {
            tokens.push(format!("{a}{b}"));
        }
        tokens.push(START_TEXT.to_owned());
        tokens.push(END_TEXT.to_owned());
        // String -> id, later ids winning as in the reference's dict construction.
        let mut encoder: HashMap<&str, u32> = HashMap::with_capacity(tokens.len());
        for (id, t) in tokens.iter().enumerate() {
            encoder.insert(t.as_str(), id as u32);
        }
        let mut merge_map = HashMap::with_capacity(merges.len());
        for (rank, (a, b)) in merges.iter().enumerate() {
            let line = rank + 1;
            let lookup = |side: &str| {
                encoder.get(side).copied().ok_or_else(|| DataError::Format {
                    path: origin.to_owned(),
                    detail: format!(
                        "merge {line} ({a:?} {b:?}): {side:?} is neither a byte token nor made by an earlier merge"
                    ),
                })
            };
            let (ia, ib) = (lookup(a)?, lookup(b)?);
            let merged = encoder[format!("{a}{b}").as_str()];
            merge_map.insert((ia, ib), (rank as u32, merged));
        }
        let n = tokens.len() as u32;
        Ok(Self {
            tokens,
            byte_id,
            merges: merge_map,
            merge_list: merges,
            start: n - 2,
            end: n - 1,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Parses a merges file: an optional header line (starting with `#` or holding `#version`,
    /// as OpenAI's does), then one merge per line
    /// (`left right`); blank lines are skipped. `limit` keeps only the first merges (CLIP uses
    /// 48,894 of OpenAI's file).
    pub fn from_merges_text(
        text: &str,
        limit: Option<usize>,
        origin: &str,
    ) -> Result<Self, DataError> {
        let mut lines = text.split('\n').enumerate().peekable();
        if let Some((_, first)) = lines.peek()
            && (first.starts_with('#') || first.contains("#version"))
        {
            lines.next();
        }
        let mut merges = Vec::new();
        for (i, line) in lines {
            if limit.is_some_and(|l| merges.len() >= l) {
                break;
            }
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), None) => merges.push((a.to_owned(), b.to_owned())),
                _ => {
                    return Err(DataError::Format {
                        path: origin.to_owned(),
                        detail: format!("line {}: {line:?} is not a merge `left right`", i + 1),
                    });
                }
            }
        }
        if let Some(l) = limit
            && merges.len() < l
        {
            return Err(DataError::Format {
                path: origin.to_owned(),
                detail: format!("holds {} merges, fewer than the {l} required", merges.len()),
            });
        }
        Self::from_merges(merges, origin)
    }

    /// Loads a merges file written by [`Self::save`] (or any file in OpenAI's format).
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, &e))?;
        Self::from_merges_text(&text, None, &path.display().to_string())
    }

    /// The merges file text: a header line, then one `left right` per line in rank order.
    pub fn to_merges_text(&self) -> String {
        let mut out = String::with_capacity(self.merge_list.len() * 8 + 32);
        out.push_str(FILE_HEADER);
        out.push('\n');
        for (a, b) in &self.merge_list {
            out.push_str(a);
            out.push(' ');
            out.push_str(b);
            out.push('\n');
        }
        out
    }

    /// Writes the merges file (creating parent folders).
    pub fn save(&self, path: &Path) -> Result<(), DataError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, &e))?;
        }
        std::fs::write(path, self.to_merges_text()).map_err(|e| DataError::io(path, &e))
    }

    /// Number of ids: 512 byte tokens, one per merge, start and end.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// Number of merges.
    pub fn num_merges(&self) -> usize {
        self.merge_list.len()
    }

    /// The merges in rank order.
    pub fn merges(&self) -> &[(String, String)] {
        &self.merge_list
    }

    /// Start-of-text id (49406 for OpenAI's vocabulary).
    pub fn start_id(&self) -> u32 {
        self.start
    }

    /// End-of-text id (49407 for OpenAI's vocabulary).
    pub fn end_id(&self) -> u32 {
        self.end
    }

    /// Padding id (0).
    pub fn pad_id(&self) -> u32 {
        Self::PAD
    }

    /// The token string of an id (`</w>` marks a word end), if the id exists.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The BPE ids of one pre-token (cached).
    fn word_ids(&self, piece: &str) -> Vec<u32> {
        if piece == START_TEXT {
            return vec![self.start];
        }
        if piece == END_TEXT {
            return vec![self.end];
        }
        if let Ok(cache) = self.cache.lock()
            && let Some(ids) = cache.get(piece)
        {
            return ids.clone();
        }
        let bytes = piece.as_bytes();
        let mut word: Vec<u32> = bytes.iter().map(|&b| self.byte_id[b as usize]).collect();
        if let Some(last) = word.last_mut() {
            *last += 256;
        }
        while word.len() > 1 {
            // The lowest-ranked pair present.
            let best = word
                .windows(2)
                .filter_map(|w| {
                    self.merges
                        .get(&(w[0], w[1]))
                        .map(|&(rank, merged)| (rank, w[0], w[1], merged))
                })
                .min();
            let Some((_, left, right, merged)) = best else {
                break;
            };
            let mut next = Vec::with_capacity(word.len());
            let mut i = 0;
            while i < word.len() {
                if i + 1 < word.len() && word[i] == left && word[i + 1] == right {
                    next.push(merged);
                    i += 2;
                } else {
                    next.push(word[i]);
                    i += 1;
                }
            }
            word = next;
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(piece.to_owned(), word.clone());
        }
        word
    }

    /// The BPE ids of `text` without start, end or padding (OpenAI's `encode`).
    pub fn encode_ids(&self, text: &str) -> Vec<u32> {
        let cleaned = clean_text(text);
        let mut ids = Vec::new();
        for piece in pre_tokenize_clip(&cleaned) {
            ids.extend(self.word_ids(piece));
        }
        ids
    }

    /// Encodes `text` to exactly `context_length` ids: start, BPE ids, end, padding 0; when too
    /// long, truncated to `context_length` with the last position set to the end token.
    pub fn encode(&self, text: &str, context_length: usize) -> Result<Encoded, DataError> {
        if context_length < 2 {
            return Err(DataError::ContextTooShort {
                value: context_length,
                min: 2,
            });
        }
        let mut ids = Vec::with_capacity(context_length.max(8));
        ids.push(self.start);
        ids.extend(self.encode_ids(text));
        ids.push(self.end);
        if ids.len() > context_length {
            ids.truncate(context_length);
            ids[context_length - 1] = self.end;
        }
        let eot_pos = ids.len() - 1;
        ids.resize(context_length, Self::PAD);
        Ok(Encoded { ids, eot_pos })
    }

    /// Decodes ids to text as the reference does (`</w>` becomes a space), skipping start,
    /// and stopping at the end token; padding after the end token is never reached. Invalid
    /// UTF-8 becomes U+FFFD; unknown ids are skipped. The result is trimmed.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for &id in ids {
            if id == self.end {
                break;
            }
            if id == self.start {
                continue;
            }
            if let Some(token) = self.tokens.get(id as usize) {
                self.push_string_bytes(token, &mut bytes);
            }
        }
        String::from_utf8_lossy(&bytes).trim_end().to_owned()
    }

    fn push_string_bytes(&self, token: &str, out: &mut Vec<u8>) {
        let (body, eow) = match token.strip_suffix(END_OF_WORD) {
            Some(body) => (body, true),
            None => (token, false),
        };
        let b2u = byte_decoder();
        for ch in body.chars() {
            if let Some(&b) = b2u.get(&ch) {
                out.push(b);
            }
        }
        if eow {
            out.push(b' ');
        }
    }
}

fn byte_decoder() -> &'static HashMap<char, u8> {
    static DEC: OnceLock<HashMap<char, u8>> = OnceLock::new();
    DEC.get_or_init(|| {
        bytes_to_unicode()
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect()
    })
}

impl Tokenizer for ClipBpe {
    fn vocab_size(&self) -> usize {
        ClipBpe::vocab_size(self)
    }

    fn end_id(&self) -> u32 {
        ClipBpe::end_id(self)
    }

    fn encode(&self, text: &str, context_length: usize) -> Result<Encoded, DataError> {
        ClipBpe::encode(self, text, context_length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_a_bijection_onto_printable_characters() {
        let t = bytes_to_unicode();
        let set: std::collections::HashSet<char> = t.iter().copied().collect();
        assert_eq!(set.len(), 256);
        assert_eq!(t[b'a' as usize], 'a');
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert!(t.iter().all(|c| !c.is_whitespace() && !c.is_control()));
    }

    #[test]
    fn bad_merges_files_name_the_line() {
        let err = ClipBpe::from_merges_text("#v\na b c\n", None, "m.txt").unwrap_err();
        assert!(
            err.to_string().contains("m.txt") && err.to_string().contains("line 2"),
            "{err}"
        );
        let err = ClipBpe::from_merges_text("ab c\n", None, "m.txt").unwrap_err();
        assert!(err.to_string().contains("\"ab\""), "{err}");
        let err = ClipBpe::from_merges_text("a b\n", Some(3), "m.txt").unwrap_err();
        assert!(err.to_string().contains("fewer than the 3"), "{err}");
    }

    #[test]
    fn tiny_vocabulary_merges_by_rank() {
        let bpe = ClipBpe::from_merges_text("#h\nl l</w>\na ll</w>\nb a\n", None, "t").unwrap();
        assert_eq!(bpe.vocab_size(), 512 + 3 + 2);
        // "ball" = b a l l</w>: (l, l</w>) has rank 0, then (a, ll</w>) rank 1 is applied
        // before (b, a) rank 2, which then no longer exists.
        let ids = bpe.encode_ids("ball");
        let toks: Vec<&str> = ids.iter().map(|&i| bpe.token(i).unwrap()).collect();
        assert_eq!(toks, ["b", "all</w>"]);
        assert_eq!(bpe.decode(&ids), "ball");
    }
}
