//! Data sets for training: the UCI optical digits (embedded), two spirals (generated), minibatches.

use crate::error::{Error, Result};

/// A small deterministic generator (SplitMix64): the same seed gives the same stream on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.next_f64();
        let v = self.next_f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Uniform in `0..n` (`n > 0`), without modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }

    /// Fisher-Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// Samples with `features` inputs each and a class label in `0..classes`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub features: usize,
    pub classes: usize,
    /// `len × features`, row-major.
    pub inputs: Vec<f32>,
    pub labels: Vec<u32>,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The inputs of sample `i`.
    pub fn input(&self, i: usize) -> &[f32] {
        &self.inputs[i * self.features..(i + 1) * self.features]
    }

    /// The samples at `indices`, in that order: `(inputs, labels)`.
    pub fn gather(&self, indices: &[usize]) -> (Vec<f32>, Vec<u32>) {
        let mut inputs = Vec::with_capacity(indices.len() * self.features);
        for &i in indices {
            inputs.extend_from_slice(self.input(i));
        }
        (inputs, indices.iter().map(|&i| self.labels[i]).collect())
    }

    /// The first `n` samples and the rest.
    pub fn split_at(&self, n: usize) -> (Dataset, Dataset) {
        let part = |range: std::ops::Range<usize>| Dataset {
            features: self.features,
            classes: self.classes,
            inputs: self.inputs[range.start * self.features..range.end * self.features].to_vec(),
            labels: self.labels[range].to_vec(),
        };
        let n = n.min(self.len());
        (part(0..n), part(n..self.len()))
    }

    /// Samples per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }
}

/// A training split and a test split.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub train: Dataset,
    pub test: Dataset,
}

/// The UCI optical digits as stored in `data/digits.bin` (see `data/README.md`). The wasm build
/// leaves them out (its download size): the page fetches them and hands them to `set_digits_bin` (wasm only).
#[cfg(not(target_arch = "wasm32"))]
const DIGITS: &[u8] = include_bytes!("../../data/digits.bin");

#[cfg(target_arch = "wasm32")]
static DIGITS: std::sync::OnceLock<&'static [u8]> = std::sync::OnceLock::new();

/// The bytes of `data/digits.bin`, which the wasm build does not embed. Kept for the page's
/// life; a second call is ignored.
#[cfg(target_arch = "wasm32")]
pub fn set_digits_bin(bytes: Vec<u8>) {
    DIGITS.get_or_init(|| Box::leak(bytes.into_boxed_slice()));
}

#[cfg(target_arch = "wasm32")]
fn digits_bin() -> Result<&'static [u8]> {
    DIGITS.get().copied().ok_or_else(|| Error::MalformedFile {
        path: "data/digits.bin".into(),
        reason: "not loaded: the wasm build does not embed it; pass its bytes to loadDigits()"
            .into(),
    })
}

#[cfg(not(target_arch = "wasm32"))]
fn digits_bin() -> Result<&'static [u8]> {
    Ok(DIGITS)
}
const DIGITS_SAMPLES: usize = 1797;
const DIGITS_TRAIN: usize = 1437;

/// The UCI optical handwritten digits (Alpaydin & Kaynak 1998, CC BY 4.0): 8×8 images, 64
/// features scaled to `[0, 1]`, 10 classes; the fixed split of `data/README.md`, 1437 training
/// and 360 test samples. Embedded in the binary, so it needs no file system (the wasm build: see
/// `set_digits_bin`).
pub fn digits() -> Result<Split> {
    let bad = |reason: String| Error::MalformedFile {
        path: "data/digits.bin (embedded)".into(),
        reason,
    };
    let bytes = digits_bin()?;
    let pixels = DIGITS_SAMPLES * 64;
    if bytes.len() != pixels + DIGITS_SAMPLES {
        return Err(bad(format!(
            "{} bytes, expected {}",
            bytes.len(),
            pixels + DIGITS_SAMPLES
        )));
    }
    let (image_bytes, label_bytes) = bytes.split_at(pixels);
    if let Some(p) = image_bytes.iter().position(|&v| v > 16) {
        return Err(bad(format!("pixel {p} is {}, above 16", image_bytes[p])));
    }
    if let Some(i) = label_bytes.iter().position(|&v| v > 9) {
        return Err(bad(format!("label {i} is {}, above 9", label_bytes[i])));
    }
    let all = Dataset {
        features: 64,
        classes: 10,
        inputs: image_bytes.iter().map(|&v| v as f32 / 16.0).collect(),
        labels: label_bytes.iter().map(|&v| v as u32).collect(),
    };
    let (train, test) = all.split_at(DIGITS_TRAIN);
    Ok(Split { train, test })
}

/// Two interleaved spirals in the plane, `points_per_class` each, for binary classification.
/// Spiral `c` is `r·(cos(θ + cπ), sin(θ + cπ))` with `θ = r·turns·2π`, `r` in `(0, 1]`, plus Gaussian
/// noise of standard deviation `noise`. The samples come in a seeded random order, so that any
/// cut of the set (a validation split, say) covers both spirals over their whole length.
pub fn two_spirals(points_per_class: usize, turns: f64, noise: f64, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let mut points = Vec::with_capacity(points_per_class * 2);
    for i in 0..points_per_class {
        // r = sqrt(u) spreads the points over the disk's area instead of bunching them at the centre.
        let r = ((i as f64 + 0.5) / points_per_class as f64).sqrt();
        let theta = r * turns * std::f64::consts::TAU;
        for c in 0..2u32 {
            let phase = theta + c as f64 * std::f64::consts::PI;
            let x = (r * phase.cos() + noise * rng.normal()) as f32;
            let y = (r * phase.sin() + noise * rng.normal()) as f32;
            points.push(([x, y], c));
        }
    }
    rng.shuffle(&mut points);
    Dataset {
        features: 2,
        classes: 2,
        inputs: points.iter().flat_map(|(p, _)| *p).collect(),
        labels: points.iter().map(|&(_, c)| c).collect(),
    }
}

/// Two spirals of 1.75 turns with noise 0.02: 2000 training points and 1000 test points, fixed seeds.
pub fn spirals() -> Split {
    Split {
        train: two_spirals(1000, 1.75, 0.02, 1),
        test: two_spirals(500, 1.75, 0.02, 2),
    }
}

/// Minibatch indices: each epoch a fresh seeded shuffle, cut into batches of `batch` samples.
/// The last, shorter batch of an epoch is dropped, so every batch has exactly `batch` samples
/// (PyTorch's `drop_last=True`).
#[derive(Clone, Debug)]
pub struct Batches {
    order: Vec<usize>,
    at: usize,
    batch: usize,
    epoch: usize,
    rng: Rng,
}

impl Batches {
    /// Batches of `batch` out of `len` samples (`1 <= batch <= len`).
    pub fn new(len: usize, batch: usize, seed: u64) -> Result<Self> {
        if batch == 0 || batch > len {
            return Err(Error::InvalidHyperparameter {
                key: "batch_size".into(),
                value: batch.to_string(),
                reason: format!("must be between 1 and the {len} samples"),
            });
        }
        let mut s = Self {
            order: (0..len).collect(),
            at: 0,
            batch,
            epoch: 0,
            rng: Rng::new(seed),
        };
        s.rng.shuffle(&mut s.order);
        Ok(s)
    }

    /// Completed passes over the data.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// The next batch's sample indices.
    pub fn next_indices(&mut self) -> &[usize] {
        if self.at + self.batch > self.order.len() {
            self.rng.shuffle(&mut self.order);
            self.at = 0;
            self.epoch += 1;
        }
        self.at += self.batch;
        &self.order[self.at - self.batch..self.at]
    }
}
