//! Newton-Schulz orthogonalization of every batch of a wave: `X ← aX + (bA + cA²)X`,
//! `A = X·Xᵀ`, one dispatch per product for all the wave's shapes.
//!
//! Usual form, for square-ish matrices, three products per iteration:
//! `A = X·Xᵀ; B = c·A·A + b·A; X ← B·X + a·X`.
//!
//! Gram form, for matrices at least twice as wide as tall: every iteration multiplies `X`
//! by `P = aI + bA + cA²`, a polynomial in `A = X·Xᵀ`, so with `X₀` the normalized input
//! `Xₖ = Qₖ·X₀` (`Qₖ = Pₖ₋₁⋯P₀`) and `Aₖ₊₁ = Pₖ·Aₖ·Pₖ = Aₖ·Pₖ²` (all these are symmetric
//! and commute). The iterations then stay `m × m` (`Pₖ`, `Pₖ²`, `Aₖ·Pₖ²`, `Pₖ·Qₖ`: four
//! symmetric products) and `X` is touched twice: `A₀ = X₀·X₀ᵀ` and `X = Q·X₀` at the end.
//! For an `m × n` matrix that is `3m²n + 17m³` flops for five iterations instead of
//! `15m²n + 5m³` (counting symmetric products at half), the same mathematics rounded
//! differently.

use std::collections::HashMap;

use crate::kernels::{Dispatch, NsProduct, Strided};

use super::buffers::Workspace;
use super::layout::MuonBatch;
use super::Recorder;

/// Which workspace buffer holds a batch's orthogonalized matrices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orthogonalized {
    /// `x0`: no iteration ran, or an even number of usual ones.
    InX0,
    /// `x1`: an odd number of usual iterations, or the Gram form's `X = Q·X₀`.
    InX1,
}

impl Orthogonalized {
    /// The buffer of the workspace this names.
    pub fn buffer(self, ws: &Workspace) -> &wgpu::Buffer {
        match self {
            Self::InX0 => &ws.x0,
            Self::InX1 => &ws.x1,
        }
    }
}

/// `C = L·Lᵀ`-shaped symmetric product (`m × m`, inner dimension `k`), epilogue to be set.
fn symmetric(m: u32, k: u32, count: u32, left: Strided, result: Strided) -> NsProduct {
    NsProduct {
        rows: m,
        cols: m,
        k,
        count,
        left,
        right: left,
        addend: None,
        result,
        alpha: 1.0,
        beta: 0.0,
        diag: 0.0,
    }
}

/// Records the Newton-Schulz iterations of one wave (every batch's `X` normalized in `x0`)
/// and returns, per batch, where its result is.
pub fn record(
    r: &Recorder<'_>,
    wave: &[usize],
    dispatches: &mut Vec<Dispatch>,
) -> HashMap<usize, Orthogonalized> {
    let device = r.device;
    let ws = &r.buffers.workspace;
    let batches = &r.layout.batches;
    let mut outputs = HashMap::new();
    let steps = |unit: usize| &r.settings.muon[batches[unit].group].ns.0;
    // Views of a batch in the workspace: X (m × n) and its square scratch (m × m).
    let views = |unit: usize| {
        let b: &MuonBatch = &batches[unit];
        let (mp, np) = (b.padded.0 as u32, b.padded.1 as u32);
        let (x_at, a_at) = b.place;
        let x = Strided {
            base: x_at,
            row: np,
            mat: mp * np,
        };
        let sq = Strided {
            base: a_at,
            row: mp,
            mat: mp * mp,
        };
        (mp, np, b.matrices() as u32, x, sq)
    };
    let ops = |left, right, addend, result| ws.operands(left, right, addend, result);
    let products = |symmetric: bool, products: &[NsProduct], ops| {
        r.kernels.ns_products(device, symmetric, products, ops)
    };
    let (usual, gram): (Vec<usize>, Vec<usize>) = wave
        .iter()
        .copied()
        .filter(|&u| !steps(u).is_empty())
        .partition(|&u| !batches[u].gram);
    for &u in wave {
        outputs.insert(u, Orthogonalized::InX0);
    }

    // Usual form; the first Gram product also serves the Gram form's A₀.
    let iterations = usual.iter().map(|&u| steps(u).len()).max().unwrap_or(0);
    let (mut cur, mut other) = (&ws.x0, &ws.x1);
    for it in 0..iterations.max(!gram.is_empty() as usize) {
        let (mut grams, mut polys, mut applies) = (Vec::new(), Vec::new(), Vec::new());
        for &unit in &usual {
            let Some(&[a, b, c]) = steps(unit).get(it) else {
                continue;
            };
            let (mp, np, count, x, sq) = views(unit);
            // A = X·Xᵀ
            grams.push(symmetric(mp, np, count, x, sq));
            // B = c·A·Aᵀ + b·A (A is symmetric)
            polys.push(NsProduct {
                addend: Some(sq),
                alpha: c as f32,
                beta: b as f32,
                ..symmetric(mp, mp, count, sq, sq)
            });
            // X' = B·X + a·X
            applies.push(NsProduct {
                rows: mp,
                cols: np,
                k: mp,
                count,
                left: sq,
                right: x,
                addend: Some(x),
                result: x,
                alpha: 1.0,
                beta: a as f32,
                diag: 0.0,
            });
            let result = if it % 2 == 0 {
                Orthogonalized::InX1
            } else {
                Orthogonalized::InX0
            };
            outputs.insert(unit, result);
        }
        if it == 0 {
            for &unit in &gram {
                let (mp, np, count, x, sq) = views(unit);
                grams.push(symmetric(mp, np, count, x, sq));
            }
        }
        dispatches.extend(products(true, &grams, ops(cur, cur, cur, &ws.gram)));
        if it == 0 {
            // optax's AOL / Schatten-4: rescale X and the A just computed (see `options`).
            super::optax::precondition(r, wave, dispatches);
        }
        if polys.is_empty() {
            continue;
        }
        dispatches.extend(products(
            true,
            &polys,
            ops(&ws.gram, &ws.gram, &ws.gram, &ws.poly),
        ));
        dispatches.extend(products(false, &applies, ops(&ws.poly, cur, cur, other)));
        std::mem::swap(&mut cur, &mut other);
    }

    // Gram form: A in gram / gram 2, P in poly, P² in square, Q in product / product 2.
    let Some([gram2, square, product, product2]) = &ws.gram_ns else {
        return outputs;
    };
    let iterations = gram.iter().map(|&u| steps(u).len()).max().unwrap_or(0);
    let (mut a_cur, mut a_next) = (&ws.gram, gram2);
    let (mut q_cur, mut q_next) = (product, product2);
    for it in 0..iterations {
        let (mut polys, mut firsts, mut squares, mut nexts, mut prods) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &unit in &gram {
            let Some(&[a, b, c]) = steps(unit).get(it) else {
                continue;
            };
            let (mp, _, count, _, sq) = views(unit);
            // P = c·A·Aᵀ + b·A + a·I; the first one is Q itself.
            let p = NsProduct {
                addend: Some(sq),
                alpha: c as f32,
                beta: b as f32,
                diag: a as f32,
                ..symmetric(mp, mp, count, sq, sq)
            };
            if it == 0 {
                firsts.push(p);
            } else {
                polys.push(p);
                // Q ← P·Qᵀ (Q is symmetric)
                prods.push(symmetric(mp, mp, count, sq, sq));
            }
            if it + 1 < steps(unit).len() {
                // P², then A ← A·(P²)ᵀ
                squares.push(symmetric(mp, mp, count, sq, sq));
                nexts.push(symmetric(mp, mp, count, sq, sq));
            }
        }
        let a_now = a_cur;
        if !firsts.is_empty() {
            dispatches.extend(products(true, &firsts, ops(a_now, a_now, a_now, q_cur)));
        }
        // This iteration's P: in product for the first iteration, else in poly.
        let p_buffer = if it == 0 { q_cur } else { &ws.poly };
        if !polys.is_empty() {
            dispatches.extend(products(true, &polys, ops(a_now, a_now, a_now, &ws.poly)));
        }
        if !squares.is_empty() {
            dispatches.extend(products(
                true,
                &squares,
                ops(p_buffer, p_buffer, p_buffer, square),
            ));
            dispatches.extend(products(true, &nexts, ops(a_now, square, a_now, a_next)));
            std::mem::swap(&mut a_cur, &mut a_next);
        }
        if !prods.is_empty() {
            dispatches.extend(products(true, &prods, ops(&ws.poly, q_cur, q_cur, q_next)));
            std::mem::swap(&mut q_cur, &mut q_next);
        }
    }
    // X = Q·X₀ into x1; Q is in `product` after an odd number of iterations.
    for parity in [1usize, 0] {
        let q = if parity == 1 { product } else { product2 };
        let applies: Vec<NsProduct> = gram
            .iter()
            .filter(|&&u| steps(u).len() % 2 == parity)
            .map(|&unit| {
                let (mp, np, count, x, sq) = views(unit);
                outputs.insert(unit, Orthogonalized::InX1);
                NsProduct {
                    rows: mp,
                    cols: np,
                    k: mp,
                    count,
                    left: sq,
                    right: x,
                    addend: None,
                    result: x,
                    alpha: 1.0,
                    beta: 0.0,
                    diag: 0.0,
                }
            })
            .collect();
        if !applies.is_empty() {
            dispatches.extend(products(false, &applies, ops(q, &ws.x0, &ws.x0, &ws.x1)));
        }
    }
    outputs
}
