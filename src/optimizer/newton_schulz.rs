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

/// `C = S·X` (`m × n`, `S` the `m × m` square scratch), epilogue to be set.
fn apply(m: u32, n: u32, count: u32, square: Strided, x: Strided) -> NsProduct {
    NsProduct {
        rows: m,
        cols: n,
        k: m,
        count,
        left: square,
        right: x,
        addend: None,
        result: x,
        alpha: 1.0,
        beta: 0.0,
        diag: 0.0,
    }
}

/// A batch's views in the workspace: `X` (`m × n`, padded) and its square scratch (`m × m`).
struct View {
    m: u32,
    n: u32,
    count: u32,
    x: Strided,
    sq: Strided,
}

fn view(r: &Recorder<'_>, unit: usize) -> View {
    let b: &MuonBatch = &r.layout.batches[unit];
    let (m, n) = (b.padded.0 as u32, b.padded.1 as u32);
    let (x_at, a_at) = b.place;
    View {
        m,
        n,
        count: b.matrices() as u32,
        x: Strided {
            base: x_at,
            row: n,
            mat: m * n,
        },
        sq: Strided {
            base: a_at,
            row: m,
            mat: m * m,
        },
    }
}

/// A batch's coefficients `(a, b, c)`, one triple per iteration.
fn steps<'a>(r: &'a Recorder<'_>, unit: usize) -> &'a [[f64; 3]] {
    &r.settings.muon[r.layout.batches[unit].group].ns.0
}

/// The wave's batches that iterate: `(usual form, Gram form)`.
fn forms(r: &Recorder<'_>, wave: &[usize]) -> (Vec<usize>, Vec<usize>) {
    (wave.iter().copied())
        .filter(|&u| !steps(r, u).is_empty())
        .partition(|&u| !r.layout.batches[u].gram)
}

/// The dispatches of one set of products of the wave.
fn products(
    r: &Recorder<'_>,
    symmetric: bool,
    products: &[NsProduct],
    [left, right, addend, result]: [&wgpu::Buffer; 4],
) -> Vec<Dispatch> {
    let ops = r.buffers.workspace.operands(left, right, addend, result);
    r.kernels.ns_products(r.device, symmetric, products, ops)
}

/// `A₀ = X₀·X₀ᵀ` (into `gram`) for every batch of the wave that iterates, in either form: the
/// first product of the usual form, and the start of the Gram form. One dispatch.
pub fn first_gram(r: &Recorder<'_>, wave: &[usize], out: &mut Vec<Dispatch>) {
    let (usual, gram) = forms(r, wave);
    let grams: Vec<NsProduct> = (usual.iter().chain(&gram))
        .map(|&unit| {
            let v = view(r, unit);
            symmetric(v.m, v.n, v.count, v.x, v.sq)
        })
        .collect();
    if grams.is_empty() {
        return;
    }
    let ws = &r.buffers.workspace;
    out.extend(products(
        r,
        true,
        &grams,
        [&ws.x0, &ws.x0, &ws.x0, &ws.gram],
    ));
}

/// The rest of the Newton-Schulz iterations of one wave, after [`first_gram`] (every batch's
/// `X` normalized in `x0`, `A₀` in `gram`); returns, per batch, where its result is.
pub fn iterate(
    r: &Recorder<'_>,
    wave: &[usize],
    out: &mut Vec<Dispatch>,
) -> HashMap<usize, Orthogonalized> {
    let (usual, gram) = forms(r, wave);
    let mut outputs: HashMap<usize, Orthogonalized> =
        wave.iter().map(|&u| (u, Orthogonalized::InX0)).collect();
    usual_iterations(r, &usual, &mut outputs, out);
    gram_iterations(r, &gram, out);
    gram_apply(r, &gram, &mut outputs, out);
    outputs
}

/// Usual form: `A = X·Xᵀ` (but in the first iteration, done by [`first_gram`]),
/// `B = c·A·A + b·A`, `X' = B·X + a·X`, alternating `X` between `x0` and `x1`.
fn usual_iterations(
    r: &Recorder<'_>,
    usual: &[usize],
    outputs: &mut HashMap<usize, Orthogonalized>,
    out: &mut Vec<Dispatch>,
) {
    let ws = &r.buffers.workspace;
    let iterations = usual.iter().map(|&u| steps(r, u).len()).max().unwrap_or(0);
    let (mut cur, mut other) = (&ws.x0, &ws.x1);
    for it in 0..iterations {
        let (mut grams, mut polys, mut applies) = (Vec::new(), Vec::new(), Vec::new());
        for &unit in usual {
            let Some(&[a, b, c]) = steps(r, unit).get(it) else {
                continue;
            };
            let View { m, n, count, x, sq } = view(r, unit);
            // A = X·Xᵀ
            grams.push(symmetric(m, n, count, x, sq));
            // B = c·A·Aᵀ + b·A (A is symmetric)
            polys.push(NsProduct {
                addend: Some(sq),
                alpha: c as f32,
                beta: b as f32,
                ..symmetric(m, m, count, sq, sq)
            });
            // X' = B·X + a·X
            applies.push(NsProduct {
                addend: Some(x),
                beta: a as f32,
                ..apply(m, n, count, sq, x)
            });
            let result = if it % 2 == 0 {
                Orthogonalized::InX1
            } else {
                Orthogonalized::InX0
            };
            outputs.insert(unit, result);
        }
        if it > 0 {
            out.extend(products(r, true, &grams, [cur, cur, cur, &ws.gram]));
        }
        let gram = &ws.gram;
        out.extend(products(r, true, &polys, [gram, gram, gram, &ws.poly]));
        out.extend(products(r, false, &applies, [&ws.poly, cur, cur, other]));
        std::mem::swap(&mut cur, &mut other);
    }
}

/// Gram form iterations, from `A₀` in `gram`: `P = c·A² + b·A + a·I` (the first one is `Q`
/// itself), then `Q ← P·Q` and, but after the last, `A ← A·P²`. A in `gram` / `gram 2`, P in
/// `poly`, P² in `square`, Q in `product` / `product 2` (the Gram-form scratch exists when a
/// batch takes the form).
fn gram_iterations(r: &Recorder<'_>, gram: &[usize], out: &mut Vec<Dispatch>) {
    let ws = &r.buffers.workspace;
    let Some([gram2, square, product, product2]) = &ws.gram_ns else {
        return;
    };
    let iterations = gram.iter().map(|&u| steps(r, u).len()).max().unwrap_or(0);
    let (mut a_cur, mut a_next) = (&ws.gram, gram2);
    let (mut q_cur, mut q_next) = (product, product2);
    for it in 0..iterations {
        let (mut polys, mut firsts, mut squares, mut nexts, mut prods) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &unit in gram {
            let Some(&[a, b, c]) = steps(r, unit).get(it) else {
                continue;
            };
            let View { m, count, sq, .. } = view(r, unit);
            // P = c·A·Aᵀ + b·A + a·I; the first one is Q itself.
            let p = NsProduct {
                addend: Some(sq),
                alpha: c as f32,
                beta: b as f32,
                diag: a as f32,
                ..symmetric(m, m, count, sq, sq)
            };
            if it == 0 {
                firsts.push(p);
            } else {
                polys.push(p);
                // Q ← P·Qᵀ (Q is symmetric)
                prods.push(symmetric(m, m, count, sq, sq));
            }
            if it + 1 < steps(r, unit).len() {
                // P², then A ← A·(P²)ᵀ
                squares.push(symmetric(m, m, count, sq, sq));
                nexts.push(symmetric(m, m, count, sq, sq));
            }
        }
        let a_now = a_cur;
        if !firsts.is_empty() {
            out.extend(products(r, true, &firsts, [a_now, a_now, a_now, q_cur]));
        }
        // This iteration's P: in product for the first iteration, else in poly.
        let p_buffer = if it == 0 { q_cur } else { &ws.poly };
        if !polys.is_empty() {
            out.extend(products(r, true, &polys, [a_now, a_now, a_now, &ws.poly]));
        }
        if !squares.is_empty() {
            let p = p_buffer;
            out.extend(products(r, true, &squares, [p, p, p, square]));
            out.extend(products(r, true, &nexts, [a_now, square, a_now, a_next]));
            std::mem::swap(&mut a_cur, &mut a_next);
        }
        if !prods.is_empty() {
            out.extend(products(r, true, &prods, [&ws.poly, q_cur, q_cur, q_next]));
            std::mem::swap(&mut q_cur, &mut q_next);
        }
    }
}

/// `X = Q·X₀` into `x1` for every Gram-form batch; `Q` is in `product` after an odd number of
/// iterations, else in `product 2` (one dispatch per parity present).
fn gram_apply(
    r: &Recorder<'_>,
    gram: &[usize],
    outputs: &mut HashMap<usize, Orthogonalized>,
    out: &mut Vec<Dispatch>,
) {
    let ws = &r.buffers.workspace;
    let Some([_, _, product, product2]) = &ws.gram_ns else {
        return;
    };
    for parity in [1usize, 0] {
        let q = if parity == 1 { product } else { product2 };
        let applies: Vec<NsProduct> = (gram.iter())
            .filter(|&&u| steps(r, u).len() % 2 == parity)
            .map(|&unit| {
                let View { m, n, count, x, sq } = view(r, unit);
                outputs.insert(unit, Orthogonalized::InX1);
                apply(m, n, count, sq, x)
            })
            .collect();
        if !applies.is_empty() {
            out.extend(products(r, false, &applies, [q, &ws.x0, &ws.x0, &ws.x1]));
        }
    }
}
