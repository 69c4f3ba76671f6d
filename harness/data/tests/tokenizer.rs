//! Integration tests of the word tokenizer: special ids, padding, truncation, unknown words,
//! punctuation, end-of-text positions and batches.

use clipscale_data::{DataError, Tokenizer, WordTokenizer};

fn tokenizer() -> WordTokenizer {
    WordTokenizer::new(["a", "red", "circle", ".", ",", "two"]).unwrap()
}

#[test]
fn special_ids_are_fixed() {
    let t = tokenizer();
    assert_eq!(
        (t.pad_id(), t.start_id(), t.end_id(), t.unknown_id()),
        (0, 1, 2, 3)
    );
    assert_eq!(t.vocab_size(), 10);
    assert_eq!(t.token_id("a"), Some(4));
    assert_eq!(t.token_id("two"), Some(9));
}

#[test]
fn short_text_is_padded_after_the_end_token() {
    let t = tokenizer();
    let e = t.encode("A red circle.", 8).unwrap();
    assert_eq!(e.ids, vec![1, 4, 5, 6, 7, 2, 0, 0]);
    assert_eq!(e.eot_pos, 5);
    assert_eq!(e.ids[e.eot_pos], t.end_id());
    assert_eq!(t.decode(&e.ids), "a red circle.");
}

#[test]
fn truncation_keeps_the_end_token() {
    let t = tokenizer();
    let e = t.encode("a red circle , a red circle", 5).unwrap();
    assert_eq!(e.ids, vec![1, 4, 5, 6, 2]);
    assert_eq!(e.eot_pos, 4);
    let e = t.encode("red red red", 2).unwrap();
    assert_eq!(e.ids, vec![1, 2]);
    assert_eq!(e.eot_pos, 1);
    // Exactly fitting text is not truncated.
    let e = t.encode("red circle two", 5).unwrap();
    assert_eq!(e.ids, vec![1, 5, 6, 9, 2]);
}

#[test]
fn unknown_words_and_punctuation() {
    let t = tokenizer();
    let e = t.encode("two blue circles,red!", 10).unwrap();
    // two, blue(unk), circles(unk), ",", red, "!"(unk)
    assert_eq!(e.ids, vec![1, 9, 3, 3, 8, 5, 3, 2, 0, 0]);
    assert_eq!(e.eot_pos, 7);
    let e = t.encode("", 4).unwrap();
    assert_eq!(e.ids, vec![1, 2, 0, 0]);
    assert_eq!(e.eot_pos, 1);
}

#[test]
fn context_shorter_than_two_is_an_error() {
    let t = tokenizer();
    for n in [0, 1] {
        assert_eq!(
            t.encode("red", n).unwrap_err(),
            DataError::ContextTooShort { value: n, min: 2 }
        );
    }
    assert!(t.encode_batch(&["red".to_owned()], 1).is_err());
}

#[test]
fn batches_flatten_ids_and_positions() {
    let t = tokenizer();
    let texts = vec![
        "red".to_owned(),
        "a red circle , two".to_owned(),
        String::new(),
    ];
    let (ids, eot) = t.encode_batch(&texts, 6).unwrap();
    assert_eq!(ids.len(), 18);
    assert_eq!(eot, vec![2, 5, 1]);
    assert_eq!(&ids[..6], &[1, 5, 2, 0, 0, 0]);
    assert_eq!(&ids[6..12], &[1, 4, 5, 6, 8, 2]);
    // Through the trait object, as the trainer will use it.
    let dynamic: &dyn Tokenizer = &t;
    assert_eq!(dynamic.encode_batch(&texts, 6).unwrap(), (ids, eot));
    assert_eq!(dynamic.vocab_size(), 10);
    assert_eq!(dynamic.end_id(), 2);
}

#[test]
fn synthetic_tokenizer_knows_grammar_words() {
    let t = WordTokenizer::for_synthetic();
    for w in [
        "red", "circle", "circles", "crosses", "photo", "gray", "of", ".", ",", "2", "nearby",
    ] {
        assert!(t.token_id(w).is_some(), "{w} missing");
    }
    assert!(t.token_id("banana").is_none());
    assert!(
        t.vocab_size() > 100 && t.vocab_size() < 400,
        "vocab size {}",
        t.vocab_size()
    );
}
