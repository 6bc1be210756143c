//! AdamW for every parameter Muon does not take, one dispatch per arena or caller's buffer:
//!
//! ```text
//! m ← β₁·m + (1−β₁)·g;   v ← β₂·v + (1−β₂)·g²
//! W ← W·(1 − lr·wd) − lr_eff·(use_m·m + use_g·g) / (sqrt(use_v·v + eps_root) + ε)
//! ```
//! with the bias corrections in `use_m`, `use_v` and `lr_eff` per
//! [`AdamVariant`](crate::settings::AdamVariant) (see [`crate::settings::AdamWConfig::scalars`]).

use crate::kernels::{AdamDims, AdamOperands, Dispatch};

use super::Recorder;

/// Records the AdamW launches of a step.
pub(super) fn record(r: &Recorder<'_>, out: &mut Vec<Dispatch>) {
    for run in &r.buffers.adam {
        let dims = AdamDims {
            len: run.len as u32,
            group: run.group as u32,
            ..Default::default()
        };
        let ops = AdamOperands {
            steps: &r.buffers.steps.adam,
            grad: &run.grad,
            param: &run.value,
            exp_avg: &run.exp_avg,
            exp_avg_sq: &run.exp_avg_sq,
        };
        // optax's mu_dtype: the first moment packed two per u32.
        let dtype = r.settings.adam[run.group].mu_dtype;
        out.push(if dtype.packed() {
            r.kernels.adamw_packed(r.device, dims, dtype.code(), ops)
        } else {
            r.kernels.adamw(r.device, dims, ops)
        });
    }
}
