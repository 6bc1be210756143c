//! The f64 linear algebra of the reference: products, the Frobenius norm, the normalization and
//! Newton-Schulz, shared by the plain step ([`crate::reference`]) and optax's options
//! ([`crate::reference::optax`]).

use crate::settings::{MuonConfig, NormEps};

/// `L·R` for row-major `L` (m×k) and `R` (k×n).
pub fn matmul(l: &[f64], r: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for p in 0..k {
            let a = l[i * k + p];
            for j in 0..n {
                out[i * n + j] += a * r[p * n + j];
            }
        }
    }
    out
}

/// The transpose of a row-major `rows × cols` matrix.
pub fn transpose(x: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for i in 0..rows {
        for j in 0..cols {
            out[j * rows + i] = x[i * cols + j];
        }
    }
    out
}

/// `A = X·Xᵀ` for `X` (m×n).
pub fn gram(x: &[f64], m: usize, n: usize) -> Vec<f64> {
    matmul(x, &transpose(x, m, n), m, n, m)
}

/// `B = b·A + c·A·A` for square `A` (m×m).
pub fn ns_poly(a: &[f64], m: usize, b: f64, c: f64) -> Vec<f64> {
    let aa = matmul(a, a, m, m, m);
    a.iter().zip(aa).map(|(x, y)| b * x + c * y).collect()
}

/// `X' = a·X + B·X` for `B` (m×m) and `X` (m×n).
pub fn ns_apply(x: &[f64], b: &[f64], m: usize, n: usize, a: f64) -> Vec<f64> {
    let bx = matmul(b, x, m, m, n);
    x.iter().zip(bx).map(|(x, y)| a * x + y).collect()
}

/// `‖X‖_F`.
pub fn frobenius_norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// `X / (‖X‖ + ε)` or `X / max(‖X‖, ε)`.
pub fn normalize(x: &[f64], eps: f64, mode: NormEps) -> Vec<f64> {
    let norm = frobenius_norm(x);
    let denom = match mode {
        NormEps::Additive => norm + eps,
        NormEps::Clamp => norm.max(eps),
    };
    x.iter().map(|v| v / denom).collect()
}

/// A `rows × cols` matrix as Newton-Schulz takes it, `m × n` with `m ≤ n`: a tall one
/// transposed (`tall` says so, to transpose back at the end).
pub fn wide(u: &[f64], rows: usize, cols: usize) -> (bool, usize, usize, Vec<f64>) {
    let tall = rows > cols;
    let x = if tall {
        transpose(u, rows, cols)
    } else {
        u.to_vec()
    };
    (tall, rows.min(cols), rows.max(cols), x)
}

/// Newton-Schulz orthogonalization of a `rows × cols` matrix, transposing tall ones first
/// and back at the end, exactly as the GPU plan does.
pub fn orthogonalize(u: &[f64], rows: usize, cols: usize, cfg: &MuonConfig) -> Vec<f64> {
    let (tall, m, n, mut x) = wide(u, rows, cols);
    x = normalize(&x, cfg.eps, cfg.norm_eps);
    for &[a, b, c] in &cfg.ns.0 {
        let g = gram(&x, m, n);
        let p = ns_poly(&g, m, b, c);
        x = ns_apply(&x, &p, m, n, a);
    }
    if tall {
        transpose(&x, m, n)
    } else {
        x
    }
}
