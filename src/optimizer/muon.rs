//! Muon's four stages on one wave of batches, in the order of KellerJordan's `muon_update`
//! ([`Recorder::record`](super::Recorder) calls them in this order):
//!
//! ```text
//! momentum        M ← β·M + (1−β)·G;  U = β·M + (1−β)·G (Nesterov)
//! precondition    X = U / (‖U‖_F + ε)
//! newton_schulz   X ← a·X + (b·A + c·A²)·X,  A = X·Xᵀ   (ns_steps times)
//! update          W ← W·(1 − lr·wd) − lr_eff·X,  lr_eff = lr·s(rows, cols)   (scale, decay)
//! ```
//!
//! One dispatch per batch (momentum, update) or per wave (normalize, each product), recorded
//! once. optax's options (general shapes, `mu_dtype`, `adaptive`, spectral / AOL / Schatten-4
//! preconditioning) are recorded by [`optax`](super::optax), which each stage hands them to.

use std::collections::HashMap;

use crate::kernels::{Dispatch, MatrixDims, MuonStep, NormDims};
use crate::settings::optax::Preconditioning;
use crate::settings::{MuonConfig, NormEps};

use super::layout::{MuonBatch, Wave};
use super::newton_schulz::{self, Orthogonalized};
use super::Recorder;

/// Zeroes the workspace before a wave where anything of an earlier one could remain: several
/// waves pad their matrices differently in the one workspace, and in a padded wave a NaN of an
/// earlier step (0·NaN in the products) must not stay in the padding, which the momentum
/// kernel never writes.
pub(super) fn clear(r: &Recorder<'_>, wave: &Wave, out: &mut Vec<Dispatch>) {
    let padded = (wave.batches.iter())
        .map(|&bi| &r.layout.batches[bi])
        .any(|b| b.padded.0 * b.padded.1 != b.rows * b.cols);
    if r.layout.waves.len() > 1 || padded {
        let x0 = &r.buffers.workspace.x0;
        out.push(r.kernels.clear(r.device, (wave.x_len / 4) as u32, x0));
    }
}

/// The matrices one momentum dispatch reads and the parameters their update writes.
pub(super) struct Run {
    batch: usize,
    dims: MatrixDims,
    value: wgpu::Buffer,
    /// The general kernels' dims (batches with optax's options), in place of `dims`.
    nd: Option<crate::kernels::NdDims>,
}

/// `M ← decay_m·M + decay_g·G; U = use_m·M + use_g·G`, written into each batch's workspace
/// view `X` (transposed when tall): one dispatch for a batch's host-owned matrices (one
/// arena), one per matrix in the caller's buffers.
pub(super) fn momentum(r: &Recorder<'_>, wave: &Wave, out: &mut Vec<Dispatch>) -> Vec<Run> {
    let mut runs = Vec::new();
    for &bi in &wave.batches {
        let b = &r.layout.batches[bi];
        if b.map.is_some() {
            // optax's general kernels (any rank, dimension numbers, mu_dtype, adaptive).
            let general = super::optax::momentum(r, bi, out).into_iter();
            runs.extend(general.map(|(nd, value)| Run {
                batch: bi,
                dims: MatrixDims::default(),
                value,
                nd: Some(nd),
            }));
            continue;
        }
        let (rows, cols) = (b.rows as u32, b.cols as u32);
        let base = MatrixDims {
            rows,
            cols,
            count: 1,
            src_stride: rows * cols,
            mat_stride: rows * cols,
            batch: bi as u32,
            transposed: (rows > cols) as u32,
            ws_cols: b.padded.1 as u32,
            ws_stride: (b.padded.0 * b.padded.1) as u32,
            ws_base: b.place.0,
            ..Default::default()
        };
        let hosted = (b.hosted > 0).then(|| MatrixDims {
            count: b.hosted as u32,
            src_stride: b.arena_stride() as u32,
            ..base
        });
        let external = (b.hosted..b.count()).map(|slot| MatrixDims {
            first: slot as u32,
            ..base
        });
        // The host-owned matrices are the first members, in one arena.
        for dims in hosted.into_iter().chain(external) {
            let p = &r.buffers.params[b.members[dims.first as usize]];
            out.push(r.kernels.momentum(
                r.device,
                dims,
                &r.buffers.steps.muon,
                &p.grad.buffer,
                &r.buffers.momentum[bi],
                &r.buffers.workspace.x0,
            ));
            runs.push(Run {
                batch: bi,
                dims,
                value: p.value.buffer.clone(),
                nd: None,
            });
        }
    }
    runs
}

/// `X ← X / (‖X‖_F + ε)` or `X / max(‖X‖_F, ε)` for every matrix of the wave: one dispatch
/// (and, for the f16 Newton-Schulz variants, one more for the f16 copy of `X`). optax's
/// spectral batches are scaled by `X / (σ_max + ε)` first ([`super::optax::spectral`]); AOL and
/// Schatten-4 batches in the first Newton-Schulz iteration.
pub(super) fn precondition(r: &Recorder<'_>, wave: &Wave, out: &mut Vec<Dispatch>) {
    super::optax::spectral(r, wave, out);
    // Only the Frobenius batches.
    let norms: Vec<NormDims> = (wave.batches.iter())
        .filter(|&&bi| {
            let b = &r.layout.batches[bi];
            r.settings.muon[b.group].preconditioning == Preconditioning::Frobenius
        })
        .map(|&bi| {
            let b = &r.layout.batches[bi];
            let cfg = &r.settings.muon[b.group];
            let len = (b.padded.0 * b.padded.1) as u32;
            NormDims {
                len,
                mat_stride: len,
                clamp: (cfg.norm_eps == NormEps::Clamp) as u32,
                count: b.matrices() as u32,
                eps: cfg.eps as f32,
                base: b.place.0,
                _pad: [0; 2],
            }
        })
        .collect();
    let ws = &r.buffers.workspace;
    out.push(r.kernels.normalize_batches(r.device, &norms, &ws.x0));
    if let Some(halves) = ws.half_of(&ws.x0) {
        let len4 = (wave.x_len / 4) as u32;
        out.push(r.kernels.pack_halves(r.device, len4, &ws.x0, halves));
    }
}

/// `Xₖ₊₁ = aₖ·Xₖ + (bₖ·A + cₖ·A²)·Xₖ`, `A = Xₖ·Xₖᵀ`, for every batch of the wave at once (the
/// Gram form for wide matrices; see [`newton_schulz`](super::newton_schulz)). optax's AOL and
/// Schatten-4 rescale `X₀` and `A₀` once `A₀` is computed ([`super::optax::precondition`]).
pub(super) fn newton_schulz(
    r: &Recorder<'_>,
    wave: &Wave,
    out: &mut Vec<Dispatch>,
) -> HashMap<usize, Orthogonalized> {
    newton_schulz::first_gram(r, &wave.batches, out);
    super::optax::precondition(r, &wave.batches, out);
    newton_schulz::iterate(r, &wave.batches, out)
}

/// `W ← W·keep − lr_eff·O`, `keep = 1 − lr·wd`, with `O` where the batch's Newton-Schulz
/// iterations left it: one dispatch per momentum dispatch.
pub(super) fn update(
    r: &Recorder<'_>,
    runs: &[Run],
    results: &HashMap<usize, Orthogonalized>,
    out: &mut Vec<Dispatch>,
) {
    for run in runs {
        let ortho = results[&run.batch].buffer(&r.buffers.workspace);
        if let Some(nd) = run.nd {
            super::optax::update(r, run.batch, nd, ortho, &run.value, out);
            continue;
        }
        out.push(r.kernels.muon_update(
            r.device,
            run.dims,
            &r.buffers.steps.muon,
            ortho,
            &run.value,
        ));
    }
}

/// The step scalars of a batch at step `t`; the shape scale enters here,
/// `lr_eff = lr·s(rows, cols)` with `s` from [`crate::settings::AdjustLr`].
/// Every learning rate is multiplied by `eta`, the schedule's factor.
pub(super) fn step_scalars(cfg: &MuonConfig, batch: &MuonBatch, t: u64, eta: f64) -> MuonStep {
    MuonStep::from(cfg.scalars_at_rate(t, batch.scale, eta))
}
