//! Text for the character-level GPT: the embedded Shakespeare corpus (eight plays, about 1 MB,
//! see `data/README.md`), its character vocabulary, a fixed train / validation split, and
//! batches of token sequences.

use std::io::Read;

use crate::error::{Error, Result};

use super::data::Rng;

/// Eight plays of Shakespeare from Project Gutenberg, gzipped (`data/make_shakespeare.py`).
/// The wasm build leaves it out (400 KiB): the page fetches it and hands it to
/// `set_shakespeare_gz` (wasm only).
#[cfg(not(target_arch = "wasm32"))]
const SHAKESPEARE_GZ: &[u8] = include_bytes!("../../data/shakespeare.txt.gz");

#[cfg(target_arch = "wasm32")]
static SHAKESPEARE_GZ: std::sync::OnceLock<&'static [u8]> = std::sync::OnceLock::new();

/// The bytes of `data/shakespeare.txt.gz`, which the wasm build does not embed (the page
/// fetches them when the GPT tab opens). Kept for the page's life; a second call is ignored.
#[cfg(target_arch = "wasm32")]
pub fn set_shakespeare_gz(bytes: Vec<u8>) {
    SHAKESPEARE_GZ.get_or_init(|| Box::leak(bytes.into_boxed_slice()));
}

#[cfg(target_arch = "wasm32")]
fn shakespeare_gz() -> Result<&'static [u8]> {
    SHAKESPEARE_GZ
        .get()
        .copied()
        .ok_or_else(|| Error::MalformedFile {
            path: "data/shakespeare.txt.gz".into(),
            reason: "not loaded: the wasm build does not embed it; pass its bytes to loadCorpus()"
                .into(),
        })
}

#[cfg(not(target_arch = "wasm32"))]
fn shakespeare_gz() -> Result<&'static [u8]> {
    Ok(SHAKESPEARE_GZ)
}

/// Fraction of the corpus, from its start, that is the training split; the rest (the end of
/// *A Midsummer Night's Dream*) is the validation split.
pub const TRAIN_FRACTION: f64 = 0.9;

/// The characters of a text, sorted, each a token id (its index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocab {
    chars: Vec<char>,
}

impl Vocab {
    /// The distinct characters of `text`, sorted.
    pub fn of(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Self { chars }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters, in token order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// Token ids of `text`; an error names the first character outside the vocabulary.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        text.chars()
            .map(|c| {
                self.chars.binary_search(&c).map(|i| i as u32).map_err(|_| {
                    Error::InvalidHyperparameter {
                        key: "text".into(),
                        value: format!("{c:?}"),
                        reason: "character is not in the vocabulary".into(),
                    }
                })
            })
            .collect()
    }

    /// The text of token ids (ids past the vocabulary become `?`).
    pub fn decode(&self, tokens: &[u32]) -> String {
        tokens
            .iter()
            .map(|&t| self.chars.get(t as usize).copied().unwrap_or('?'))
            .collect()
    }
}

/// A tokenized corpus with its split.
#[derive(Clone, Debug)]
pub struct Corpus {
    pub vocab: Vocab,
    /// Every character's token id.
    pub tokens: Vec<u32>,
    /// Tokens `..split` train, `split..` validate.
    pub split: usize,
}

impl Corpus {
    /// `text` tokenized with its own vocabulary, split at [`TRAIN_FRACTION`].
    pub fn new(text: &str) -> Result<Self> {
        let vocab = Vocab::of(text);
        let tokens = vocab.encode(text)?;
        let split = (tokens.len() as f64 * TRAIN_FRACTION) as usize;
        Ok(Self {
            vocab,
            tokens,
            split,
        })
    }

    pub fn train(&self) -> &[u32] {
        &self.tokens[..self.split]
    }

    pub fn validation(&self) -> &[u32] {
        &self.tokens[self.split..]
    }
}

/// The embedded text of the eight plays (1,036,483 ASCII characters).
pub fn shakespeare_text() -> Result<String> {
    let bad = |reason: String| Error::MalformedFile {
        path: "data/shakespeare.txt.gz (embedded)".into(),
        reason,
    };
    let mut text = String::new();
    flate2::read::GzDecoder::new(shakespeare_gz()?)
        .read_to_string(&mut text)
        .map_err(|e| bad(e.to_string()))?;
    Ok(text)
}

/// The Shakespeare corpus, tokenized and split.
pub fn shakespeare() -> Result<Corpus> {
    Corpus::new(&shakespeare_text()?)
}

/// A batch of `sequences` token sequences of `positions` each, with their next-token targets,
/// both `sequences × positions`, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBatch {
    pub inputs: Vec<u32>,
    pub targets: Vec<u32>,
}

impl TokenBatch {
    /// The window of `tokens` at `start`: `positions` inputs and the `positions` tokens after each.
    fn push_window(&mut self, tokens: &[u32], start: usize, positions: usize) {
        self.inputs
            .extend_from_slice(&tokens[start..start + positions]);
        self.targets
            .extend_from_slice(&tokens[start + 1..start + positions + 1]);
    }

    /// Sequences in the batch.
    pub fn sequences(&self, positions: usize) -> usize {
        self.inputs.len() / positions.max(1)
    }
}

fn check_windows(tokens: &[u32], positions: usize) -> Result<usize> {
    if positions == 0 || tokens.len() < positions + 1 {
        return Err(Error::InvalidHyperparameter {
            key: "context".into(),
            value: positions.to_string(),
            reason: format!(
                "needs at least one window of context + 1 tokens in {} tokens",
                tokens.len()
            ),
        });
    }
    Ok(tokens.len() - positions)
}

/// Training batches: windows at uniformly random offsets of a token stream, from a seed (as
/// nanoGPT's `get_batch`).
#[derive(Clone, Debug)]
pub struct TextBatches {
    rng: Rng,
    positions: usize,
    sequences: usize,
    starts: usize,
}

impl TextBatches {
    /// Batches of `sequences` windows of `positions` tokens out of `tokens`.
    pub fn new(tokens: &[u32], sequences: usize, positions: usize, seed: u64) -> Result<Self> {
        let starts = check_windows(tokens, positions)?;
        if sequences == 0 {
            return Err(Error::InvalidHyperparameter {
                key: "batch_size".into(),
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            rng: Rng::new(seed),
            positions,
            sequences,
            starts,
        })
    }

    /// The next batch from `tokens` (the stream given to [`new`](Self::new)).
    pub fn next_batch(&mut self, tokens: &[u32]) -> TokenBatch {
        let mut batch = TokenBatch {
            inputs: Vec::with_capacity(self.sequences * self.positions),
            targets: Vec::with_capacity(self.sequences * self.positions),
        };
        for _ in 0..self.sequences {
            let start = self
                .rng
                .below(self.starts.min(tokens.len() - self.positions));
            batch.push_window(tokens, start, self.positions);
        }
        batch
    }
}

/// The fixed evaluation windows of a token stream: the first `count` non-overlapping windows of
/// `positions` tokens (fewer if the stream is shorter).
pub fn evaluation_windows(tokens: &[u32], positions: usize, count: usize) -> Result<TokenBatch> {
    let starts = check_windows(tokens, positions)?;
    let mut batch = TokenBatch {
        inputs: Vec::new(),
        targets: Vec::new(),
    };
    let mut start = 0;
    while start < starts && batch.inputs.len() < count * positions {
        batch.push_window(tokens, start, positions);
        start += positions;
    }
    Ok(batch)
}
