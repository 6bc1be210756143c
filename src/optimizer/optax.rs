//! Recording of optax's options for the batches that use them (see [`crate::settings::optax`]):
//! the general momentum and update kernels (any rank, dimension numbers, packed `mu_dtype`,
//! `adaptive`), the spectral scaling before Newton-Schulz, and AOL / Schatten-4 fused into the
//! first iteration. Everything stays in the step's one submit; nothing is read back.

use crate::kernels::{Dispatch, InnerDims, NdDims, NsProduct, PrecDims, SpecDims, Strided};
use crate::settings::optax::Preconditioning;

use super::layout::{MuonBatch, Wave};
use super::Recorder;

/// Power iterations at most per matrix and step for `spectral`: the loop stops earlier once
/// the Rayleigh quotient moves by at most [`SPECTRAL_TOLERANCE`] (relative), which for a ratio
/// `ρ = (σ₂/σ₁)²` leaves an error of about `tol/(1-ρ)` on `σ²`.
pub const SPECTRAL_MAX_ITERATIONS: u32 = 500;
/// See [`SPECTRAL_MAX_ITERATIONS`].
pub const SPECTRAL_TOLERANCE: f32 = 1e-6;

/// The general dims of batch `bi`'s parameters `first .. first + count`.
fn nd_dims(r: &Recorder<'_>, bi: usize, first: usize, count: usize) -> NdDims {
    let b = &r.layout.batches[bi];
    let cfg = &r.settings.muon[b.group];
    let map = b.map.as_ref().expect("a general batch has a map");
    let len = b.param_len();
    let hosted = first < b.hosted;
    NdDims {
        len: len as u32,
        count: count as u32,
        first: first as u32,
        src_stride: if hosted { b.arena_stride() } else { len } as u32,
        mom_stride: cfg.mu_dtype.words(len) as u32,
        batch: bi as u32,
        dtype: cfg.mu_dtype.code(),
        ws_cols: b.padded.1 as u32,
        ws_mat: (b.padded.0 * b.padded.1) as u32,
        ws_base: b.place.0,
        keep_u: cfg.adaptive as u32,
        ip_base: r.buffers.optax.inner_base[bi],
        ..Default::default()
    }
    .with_map(map)
}

/// The runs of a general batch: its host-owned parameters (one arena, one dispatch), then one
/// per parameter in the caller's buffers.
fn runs(b: &MuonBatch) -> Vec<(usize, usize)> {
    let hosted = (b.hosted > 0).then_some((0, b.hosted));
    hosted
        .into_iter()
        .chain((b.hosted..b.count()).map(|k| (k, 1)))
        .collect()
}

/// `momentum_nd.wgsl` for each run of general batch `bi` (momentum f32 or packed, `U` into the
/// workspace and, when adaptive, kept for `⟨U, O⟩`): each run's dims and the parameter buffer
/// its update writes.
pub(super) fn momentum(
    r: &Recorder<'_>,
    bi: usize,
    out: &mut Vec<Dispatch>,
) -> Vec<(NdDims, wgpu::Buffer)> {
    let b = &r.layout.batches[bi];
    let mut runs = Vec::new();
    for (first, count) in self::runs(b) {
        let p = &r.buffers.params[b.members[first]];
        let dims = nd_dims(r, bi, first, count);
        out.push(r.kernels.momentum_nd(
            r.device,
            dims,
            &r.buffers.steps.muon,
            &p.grad.buffer,
            &r.buffers.momentum[bi],
            &r.buffers.workspace.x0,
            &r.buffers.optax.u,
        ));
        runs.push((dims, p.value.buffer.clone()));
    }
    runs
}

/// `⟨U, O⟩` per parameter of an adaptive run, then `muon_update_nd.wgsl`.
pub(super) fn update(
    r: &Recorder<'_>,
    bi: usize,
    dims: NdDims,
    ortho: &wgpu::Buffer,
    value: &wgpu::Buffer,
    out: &mut Vec<Dispatch>,
) {
    let b = &r.layout.batches[bi];
    let opts = &r.buffers.optax;
    if dims.keep_u != 0 {
        let len = (b.slices * b.padded.0 * b.padded.1) as u32;
        let inner = InnerDims {
            len,
            count: dims.count,
            base: b.place.0 + dims.first * len,
            out: dims.ip_base + dims.first,
        };
        out.push(
            r.kernels
                .inner_product(r.device, inner, &opts.u, ortho, &opts.inner),
        );
    }
    out.push(r.kernels.muon_update_nd(
        r.device,
        dims,
        &r.buffers.steps.muon,
        ortho,
        value,
        &opts.inner,
    ));
}

/// `X ← X / (σ_max + ε)` for the wave's spectral batches: `A = X·Xᵀ` (one product dispatch),
/// then the power iteration (one dispatch).
pub(super) fn spectral(r: &Recorder<'_>, wave: &Wave, out: &mut Vec<Dispatch>) {
    let ws = &r.buffers.workspace;
    let mut grams = Vec::new();
    let mut table = Vec::new();
    for &bi in &wave.batches {
        let b = &r.layout.batches[bi];
        let cfg = &r.settings.muon[b.group];
        if cfg.preconditioning != Preconditioning::Spectral {
            continue;
        }
        let (mp, np) = (b.padded.0 as u32, b.padded.1 as u32);
        let count = b.matrices() as u32;
        let x = Strided {
            base: b.place.0,
            row: np,
            mat: mp * np,
        };
        let sq = Strided {
            base: b.place.1,
            row: mp,
            mat: mp * mp,
        };
        grams.push(NsProduct {
            rows: mp,
            cols: mp,
            k: np,
            count,
            left: x,
            right: x,
            addend: None,
            result: sq,
            alpha: 1.0,
            beta: 0.0,
            diag: 0.0,
        });
        table.push(SpecDims {
            m: mp,
            n: np,
            count,
            x_base: b.place.0,
            a_base: b.place.1,
            v_base: r.buffers.optax.vector_base[bi],
            max_iters: SPECTRAL_MAX_ITERATIONS,
            eps: cfg.eps as f32,
            tol: SPECTRAL_TOLERANCE,
            ..Default::default()
        });
    }
    if table.is_empty() {
        return;
    }
    if let Some(halves) = ws.half_of(&ws.x0) {
        out.push(
            r.kernels
                .pack_halves(r.device, (wave.x_len / 4) as u32, &ws.x0, halves),
        );
    }
    let ops = ws.operands(&ws.x0, &ws.x0, &ws.x0, &ws.gram);
    out.extend(r.kernels.ns_products(r.device, true, &grams, ops));
    out.push(
        r.kernels
            .spectral_norm(r.device, &table, &ws.x0, &ws.gram, &r.buffers.optax.vectors),
    );
}

/// AOL / Schatten-4 on the first iteration's `X` (in `x0`) and `A` (in `gram`) of the wave's
/// batches that use them; their f16 copies are refreshed for the f16 variants.
pub(super) fn precondition(r: &Recorder<'_>, wave: &[usize], out: &mut Vec<Dispatch>) {
    let ws = &r.buffers.workspace;
    let table: Vec<PrecDims> = wave
        .iter()
        .filter_map(|&bi| {
            let b = &r.layout.batches[bi];
            let cfg = &r.settings.muon[b.group];
            let mode = match cfg.preconditioning {
                Preconditioning::Aol => 1,
                Preconditioning::Schatten => 2,
                _ => return None,
            };
            (cfg.ns.steps() > 0).then_some(PrecDims {
                mode,
                m: b.padded.0 as u32,
                n: b.padded.1 as u32,
                count: b.matrices() as u32,
                x_base: b.place.0,
                a_base: b.place.1,
                ..Default::default()
            })
        })
        .collect();
    if table.is_empty() {
        return;
    }
    // x1 is free until the first iteration writes it: AOL's row scales go there.
    out.push(
        r.kernels
            .precondition(r.device, &table, &ws.x0, &ws.gram, &ws.x1),
    );
    for buffer in [&ws.x0, &ws.gram] {
        if let Some(halves) = ws.half_of(buffer) {
            let len4 = (buffer.size() / 16) as u32;
            out.push(r.kernels.pack_halves(r.device, len4, buffer, halves));
        }
    }
}
