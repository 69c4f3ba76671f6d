//! Learning BPE merges from a data set's captions, for models too small for CLIP's 49,408-row
//! embedding table.
//!
//! The trained tokenizer is a [`ClipBpe`] with CLIP's cleaning, pre-tokenisation, byte
//! alphabet (all 512 byte tokens are kept, so any text encodes) and start/end tokens; only the
//! merges differ. Training counts the cleaned pre-tokens of every caption, then repeatedly
//! merges the most frequent adjacent pair (ties: the pair of smaller ids, so the result is
//! deterministic), counting only within pre-tokens. It stops at the requested size or when no
//! pair occurs twice; [`ClipBpe::vocab_size`] reports the size reached. A merge whose result
//! string already exists as a token is skipped (each merge adds exactly one new id).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use super::{BASE_TOKENS, ClipBpe, END_TEXT, START_TEXT, clean_text, pre_tokenize_clip};
use crate::error::DataError;

/// Ids a trained tokenizer always has: 512 byte tokens, start, end.
pub const MIN_TRAINED_VOCAB: usize = BASE_TOKENS + 2;

/// Learns merges from `captions` until the vocabulary holds `vocab_size` ids (or no pair
/// occurs twice). `vocab_size` must be at least 514 (the byte tokens and start/end).
pub fn train_bpe<I, S>(captions: I, vocab_size: usize) -> Result<ClipBpe, DataError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    if vocab_size < MIN_TRAINED_VOCAB {
        return Err(DataError::InvalidOption {
            name: "vocab_size",
            value: vocab_size.to_string(),
            valid: "at least 514 (256 byte tokens, 256 with the end-of-word mark, start, end)",
        });
    }
    let target_merges = vocab_size - MIN_TRAINED_VOCAB;

    // Word frequencies, sorted for a deterministic word order.
    let mut freq: HashMap<String, i64> = HashMap::new();
    for caption in captions {
        let cleaned = clean_text(caption.as_ref());
        for piece in pre_tokenize_clip(&cleaned) {
            if piece != START_TEXT && piece != END_TEXT {
                *freq.entry(piece.to_owned()).or_insert(0) += 1;
            }
        }
    }
    let mut words: Vec<(String, i64)> = freq.into_iter().collect();
    words.sort();

    // The empty tokenizer gives the byte ids and token strings.
    let base = ClipBpe::from_merges(Vec::new(), "trainer")?;
    let mut tokens: Vec<String> = (0..BASE_TOKENS as u32)
        .map(|id| base.token(id).unwrap_or_default().to_owned())
        .collect();
    let mut known: HashSet<String> = tokens.iter().cloned().collect();

    let mut symbols: Vec<Vec<u32>> = words
        .iter()
        .map(|(w, _)| {
            let mut ids: Vec<u32> = w.bytes().map(|b| base.byte_id[b as usize]).collect();
            if let Some(last) = ids.last_mut() {
                *last += 256;
            }
            ids
        })
        .collect();
    let counts_of: Vec<i64> = words.iter().map(|(_, c)| *c).collect();

    let mut pair_count: HashMap<(u32, u32), i64> = HashMap::new();
    let mut pair_words: HashMap<(u32, u32), HashSet<usize>> = HashMap::new();
    for (wi, syms) in symbols.iter().enumerate() {
        for p in syms.windows(2) {
            *pair_count.entry((p[0], p[1])).or_insert(0) += counts_of[wi];
            pair_words.entry((p[0], p[1])).or_default().insert(wi);
        }
    }
    let mut heap: BinaryHeap<(i64, Reverse<(u32, u32)>)> =
        pair_count.iter().map(|(&p, &c)| (c, Reverse(p))).collect();
    let mut banned: HashSet<(u32, u32)> = HashSet::new();
    let mut merges: Vec<(String, String)> = Vec::with_capacity(target_merges);

    while merges.len() < target_merges {
        let Some((count, Reverse(pair))) = heap.pop() else {
            break;
        };
        if pair_count.get(&pair).copied().unwrap_or(0) != count || banned.contains(&pair) {
            continue; // stale entry
        }
        if count < 2 {
            break;
        }
        let (a, b) = pair;
        let merged_str = format!("{}{}", tokens[a as usize], tokens[b as usize]);
        if known.contains(&merged_str) {
            banned.insert(pair);
            continue;
        }
        let new_id = tokens.len() as u32;
        merges.push((tokens[a as usize].clone(), tokens[b as usize].clone()));
        known.insert(merged_str.clone());
        tokens.push(merged_str);

        let mut affected: Vec<usize> = pair_words
            .get(&pair)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        affected.sort_unstable();
        let mut changed: HashSet<(u32, u32)> = HashSet::new();
        for wi in affected {
            let old = &symbols[wi];
            let c = counts_of[wi];
            for p in old.windows(2) {
                let key = (p[0], p[1]);
                *pair_count.entry(key).or_insert(0) -= c;
                changed.insert(key);
            }
            let mut next = Vec::with_capacity(old.len());
            let mut i = 0;
            while i < old.len() {
                if i + 1 < old.len() && old[i] == a && old[i + 1] == b {
                    next.push(new_id);
                    i += 2;
                } else {
                    next.push(old[i]);
                    i += 1;
                }
            }
            for p in next.windows(2) {
                let key = (p[0], p[1]);
                *pair_count.entry(key).or_insert(0) += c;
                pair_words.entry(key).or_default().insert(wi);
                changed.insert(key);
            }
            symbols[wi] = next;
        }
        pair_count.remove(&pair);
        pair_words.remove(&pair);
        let mut changed: Vec<(u32, u32)> = changed.into_iter().collect();
        changed.sort_unstable();
        for key in changed {
            match pair_count.get(&key).copied() {
                Some(c) if c > 0 => heap.push((c, Reverse(key))),
                Some(_) => {
                    pair_count.remove(&key);
                }
                None => {}
            }
        }
    }
    ClipBpe::from_merges(merges, "trained merges")
}
