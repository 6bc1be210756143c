//! What the MLP trains on and reports: a batch of inputs with its targets, and loss and
//! accuracy. A leaf of `nn` (used by `mlp`, `trainer` and `reference`).

use crate::error::{Error, Result};

use super::model::{Loss, MlpSpec};

/// What a batch is trained towards.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// A class per row (`< outputs`); one-hot for the squared error.
    Labels(&'a [u32]),
    /// `rows × outputs` values, for the squared error.
    Values(&'a [f32]),
}

/// A batch of `rows × inputs` values and their targets.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    pub inputs: &'a [f32],
    pub targets: Targets<'a>,
}

/// Loss and accuracy over some samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Mean loss per sample.
    pub loss: f64,
    /// Fraction of samples whose first argmax output is their label (or their target's first argmax).
    pub accuracy: f64,
    pub samples: usize,
}

impl Metrics {
    /// From a sum of losses and a count of correct samples.
    pub fn from_sums(loss_sum: f64, correct: f64, samples: usize) -> Self {
        let n = samples.max(1) as f64;
        Self {
            loss: loss_sum / n,
            accuracy: correct / n,
            samples,
        }
    }

    /// The metrics of all the samples of `parts` together.
    pub fn combine(parts: &[Metrics]) -> Self {
        let samples: usize = parts.iter().map(|m| m.samples).sum();
        let loss: f64 = parts.iter().map(|m| m.loss * m.samples as f64).sum();
        let correct: f64 = parts.iter().map(|m| m.accuracy * m.samples as f64).sum();
        Self::from_sums(loss, correct, samples)
    }
}

/// An error in a batch's `tensor`.
pub(crate) fn bad_batch(tensor: &str, reason: String) -> Error {
    Error::InvalidTensor {
        path: "<batch>".into(),
        tensor: tensor.into(),
        reason,
    }
}

/// The rows of `len` input values, rows of `per` values each, at most `capacity` of them.
/// `[values, rows, row]` name the values, the rows and what a row holds in the messages.
pub(crate) fn whole_rows(
    len: usize,
    per: usize,
    capacity: usize,
    [values, rows, row]: [&str; 3],
) -> Result<usize> {
    if len == 0 || !len.is_multiple_of(per) {
        return Err(bad_batch(
            "inputs",
            format!("{len} {values} are not a positive whole number of {rows} of {row}"),
        ));
    }
    let count = len / per;
    if count > capacity {
        return Err(bad_batch(
            "inputs",
            format!("{count} {rows}, but the plan holds at most {capacity}"),
        ));
    }
    Ok(count)
}

/// Checks a batch against a spec and a capacity; returns its rows.
pub(super) fn check_batch(spec: &MlpSpec, capacity: usize, batch: &Batch<'_>) -> Result<usize> {
    let (features, classes) = (spec.inputs(), spec.outputs());
    let bad = bad_batch;
    let row = format!("{features} features");
    let rows = whole_rows(
        batch.inputs.len(),
        features,
        capacity,
        ["values", "rows", &row],
    )?;
    match batch.targets {
        Targets::Labels(labels) => {
            if labels.len() != rows {
                return Err(bad(
                    "labels",
                    format!("{} labels for {rows} rows", labels.len()),
                ));
            }
            if let Some(r) = labels.iter().position(|&l| l as usize >= classes) {
                return Err(bad(
                    "labels",
                    format!(
                        "label {} at row {r} is not below the {classes} outputs",
                        labels[r]
                    ),
                ));
            }
        }
        Targets::Values(values) => {
            if spec.loss == Loss::SoftmaxCrossEntropy {
                return Err(bad(
                    "targets",
                    "softmax cross-entropy takes class labels (Targets::Labels)".into(),
                ));
            }
            if values.len() != rows * classes {
                return Err(bad(
                    "targets",
                    format!(
                        "{} values for {rows} rows of {classes} outputs",
                        values.len()
                    ),
                ));
            }
        }
    }
    Ok(rows)
}

/// Reads the metrics of the batches recorded since `*read` from a ring of `capacity` entries
/// (four f32 sums each, 16 bytes; batch `i` at entry `i mod capacity`), oldest first, and marks
/// them read. Only the last `capacity` batches are still there. Waits for the GPU.
pub(crate) async fn read_metrics_ring(
    ctx: &crate::gpu::GpuContext,
    ring: &wgpu::Buffer,
    capacity: usize,
    recorded: u64,
    read: &mut u64,
) -> crate::error::Result<Vec<Metrics>> {
    use crate::gpu::readback::{read_ranges, BufferRange};
    let cap = capacity as u64;
    let first = (*read).max(recorded.saturating_sub(cap));
    let count = (recorded - first) as usize;
    *read = recorded;
    if count == 0 {
        return Ok(Vec::new());
    }
    let start = (first % cap) as usize;
    let head = count.min(capacity - start);
    let mut ranges = vec![BufferRange {
        buffer: ring.clone(),
        offset: start as u64 * 16,
        len: head * 4,
    }];
    if head < count {
        ranges.push(BufferRange {
            buffer: ring.clone(),
            offset: 0,
            len: (count - head) * 4,
        });
    }
    let values: Vec<f32> = read_ranges(ctx, &ranges).await?.concat();
    Ok(values
        .chunks_exact(4)
        .map(|e| Metrics::from_sums(e[0] as f64, e[1] as f64, e[2] as usize))
        .collect())
}
