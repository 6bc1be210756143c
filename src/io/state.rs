//! Saving and loading the whole optimizer state (parameters, momentum, moments, step count) as safetensors.
//!
//! Tensor names follow the replay format: `param/<name>`, `state/<name>/momentum`,
//! `state/<name>/exp_avg`, `state/<name>/exp_avg_sq`, and `ema/<name>` with `use_ema`; the
//! metadata holds `step` (updates applied). Under gradient accumulation, save between updates'
//! windows: the accumulated gradients of an unfinished window are not saved.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::io::tensors::{self, Tensor};
use crate::optimizer::Optimizer;

/// Metadata key of the step count.
pub const STEP_KEY: &str = "step";
const FORMAT_KEY: &str = "format";
const FORMAT: &str = "muon-wgpu-state-1";

impl Optimizer {
    /// Every parameter and state tensor, with the step count, as safetensors bytes.
    /// Under `skip_step`, the step count saved is the GPU's (skipped steps not counted).
    pub async fn save_state(&self) -> Result<Vec<u8>> {
        let tensors = self.read_all().await?;
        let metadata = HashMap::from([
            (FORMAT_KEY.to_string(), FORMAT.to_string()),
            (STEP_KEY.to_string(), self.step_count().to_string()),
            ("adapter".to_string(), self.context().info.name.clone()),
            (
                "backend".to_string(),
                format!("{:?}", self.context().info.backend),
            ),
        ]);
        tensors::serialize(&tensors, metadata)
    }

    /// Restores what [`Optimizer::save_state`] wrote. Everything is checked before anything is
    /// written, so on error the optimizer is unchanged.
    pub fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        let file = tensors::parse(bytes, "<state>")?;
        let mismatch = |reason: String| Error::StateMismatch { reason };
        match file.metadata.get(FORMAT_KEY) {
            Some(f) if f == FORMAT => {}
            Some(f) => {
                return Err(mismatch(format!(
                    "metadata `{FORMAT_KEY}` is `{f}`, this version reads `{FORMAT}`"
                )))
            }
            None => return Err(mismatch(format!("metadata has no `{FORMAT_KEY}`"))),
        }
        let step: u64 = file
            .metadata
            .get(STEP_KEY)
            .ok_or_else(|| mismatch(format!("metadata has no `{STEP_KEY}`")))?
            .parse()
            .ok()
            .filter(|&s| s <= crate::optimizer::MAX_STEP)
            .ok_or_else(|| {
                mismatch(format!(
                    "metadata `{STEP_KEY}` is not an integer from 0 to {}",
                    crate::optimizer::MAX_STEP
                ))
            })?;
        let mut by_name: HashMap<&str, &Tensor> =
            file.tensors.iter().map(|t| (t.0.as_str(), t)).collect();
        let mut writes = Vec::new();
        for (i, p) in self.params().iter().enumerate() {
            let mut targets = vec![(format!("param/{}", p.name), p.value.clone())];
            targets.extend(
                p.state()
                    .named()
                    .into_iter()
                    .map(|(k, r)| (format!("state/{}/{k}", p.name), r.clone())),
            );
            // The moving average of `use_ema` (crate::settings::keras).
            targets.extend(self.average(i).map(|r| (format!("ema/{}", p.name), r)));
            for (tensor, range) in targets {
                let (_, shape, values) = by_name
                    .remove(tensor.as_str())
                    .ok_or_else(|| mismatch(format!("tensor `{tensor}` is missing")))?;
                if *shape != p.shape {
                    return Err(mismatch(format!(
                        "tensor `{tensor}` has shape {shape:?}, the parameter has {:?}",
                        p.shape
                    )));
                }
                if !range.buffer.usage().contains(wgpu::BufferUsages::COPY_DST) {
                    return Err(Error::InvalidBuffer {
                        name: p.name.clone(),
                        what: "value".into(),
                        reason: "loading state needs COPY_DST usage".into(),
                    });
                }
                // Values the next step could only turn into NaN are refused.
                if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                    return Err(mismatch(format!(
                        "tensor `{tensor}` holds {} at index {i}",
                        values[i]
                    )));
                }
                if tensor.ends_with("/exp_avg_sq") {
                    if let Some(i) = values.iter().position(|&v| v < 0.0) {
                        return Err(mismatch(format!(
                            "tensor `{tensor}` holds a negative second moment {} at index {i}",
                            values[i]
                        )));
                    }
                }
                // A packed mu_dtype first moment is stored two values per u32.
                let dtype = p.mu_dtype();
                let first = tensor.ends_with("/momentum") || tensor.ends_with("/exp_avg");
                let bytes: Vec<u8> = if first && dtype.packed() {
                    bytemuck::cast_slice::<u32, u8>(&dtype.pack(values)).to_vec()
                } else {
                    bytemuck::cast_slice(values).to_vec()
                };
                writes.push((range, bytes));
            }
        }
        if let Some(extra) = by_name.keys().min() {
            return Err(mismatch(format!(
                "tensor `{extra}` belongs to no parameter of this optimizer"
            )));
        }
        let queue = &self.context().queue;
        for (range, values) in writes {
            queue.write_buffer(&range.buffer, range.offset, &values);
        }
        self.set_step_count(step)
    }
}
