//! What the training examples (`train`, `gpt`) share: the two runs' learning rates and settings,
//! the GPU context with advice when none is found, progress bars, and the plots' frame and
//! curves. Included with `mod common;`; each example uses part of it.
#![allow(dead_code)]

pub mod gpu;
pub mod plot;
pub mod progress;
pub mod rates;

/// Mean of the last `n` values (of all, when fewer): the table's "train loss".
pub fn mean_of_last(values: &[f64], n: usize) -> f64 {
    let last = &values[values.len().saturating_sub(n)..];
    last.iter().sum::<f64>() / last.len() as f64
}
