//! The embedded Shakespeare corpus, its vocabulary, split and batches (no GPU).

use muon_wgpu::nn::text::{self, Corpus, TextBatches, Vocab};

#[test]
fn the_corpus_is_the_documented_text_split_at_ninety_percent() {
    let corpus = text::shakespeare().unwrap();
    assert_eq!(corpus.tokens.len(), 1_036_483);
    assert_eq!(corpus.vocab.len(), 76);
    assert_eq!(corpus.train().len(), 932_834);
    assert_eq!(corpus.validation().len(), 103_649);
    let start = corpus.vocab.decode(&corpus.tokens[..25]);
    assert_eq!(start, "HAMLET, PRINCE OF DENMARK");
    // Sorted characters: newline first, then space.
    assert_eq!(&corpus.vocab.chars()[..2], &['\n', ' ']);
}

#[test]
fn encoding_round_trips_and_names_an_unknown_character() {
    let vocab = Vocab::of("to be, or not to be");
    let tokens = vocab.encode("be or not").unwrap();
    assert_eq!(vocab.decode(&tokens), "be or not");
    let err = vocab.encode("tea").unwrap_err().to_string();
    assert!(err.contains("'a'"), "{err}");
}

#[test]
fn batches_are_windows_with_next_token_targets_and_repeat_per_seed() {
    let corpus = Corpus::new("abcdefghijklmnopqrstuvwxyz").unwrap();
    let mut a = TextBatches::new(corpus.train(), 3, 5, 7).unwrap();
    let mut b = TextBatches::new(corpus.train(), 3, 5, 7).unwrap();
    for _ in 0..20 {
        let (x, y) = (a.next_batch(corpus.train()), b.next_batch(corpus.train()));
        assert_eq!(x, y);
        assert_eq!(x.inputs.len(), 15);
        for (window, targets) in x.inputs.chunks(5).zip(x.targets.chunks(5)) {
            for i in 0..5 {
                assert_eq!(targets[i], window[i] + 1, "targets are the next characters");
            }
            assert!((*targets.last().unwrap() as usize) < corpus.train().len());
        }
    }
    let eval = text::evaluation_windows(&corpus.tokens, 4, 3).unwrap();
    assert_eq!(eval.sequences(4), 3);
    assert_eq!(eval.inputs[..4], [0, 1, 2, 3]);
    assert_eq!(eval.inputs[4..8], [4, 5, 6, 7]);
    assert!(TextBatches::new(&corpus.tokens[..4], 1, 4, 0).is_err());
    assert!(TextBatches::new(corpus.train(), 0, 4, 0).is_err());
}
