//! The f64 reference of a Muon parameter's step with every option of
//! [`crate::settings::optax`]: `mu_dtype` momentum, dimension numbers (each batch slice on its own),
//! the four preconditionings and `adaptive`. With the defaults it is the plain step of
//! [`crate::reference`].

use crate::reference::linalg::{
    frobenius_norm, gram, normalize, ns_apply, ns_poly, transpose, wide,
};
use crate::settings::optax::{MatrixMap, MuDtype, Preconditioning};
use crate::settings::{MuonConfig, MuonScalars};

/// The largest eigenvalue of a symmetric `m × m` matrix (cyclic Jacobi rotations, to f64
/// precision): `σ_max(X)² ` when `A = X·Xᵀ`. It stands in for an SVD.
pub fn largest_eigenvalue(a: &[f64], m: usize) -> f64 {
    let mut a = a.to_vec();
    for _sweep in 0..100 {
        let off: f64 = (0..m)
            .flat_map(|i| (0..m).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * m + j] * a[i * m + j])
            .sum();
        let diag: f64 = (0..m).map(|i| a[i * m + i] * a[i * m + i]).sum();
        if off <= 1e-30 * diag.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..m {
            for q in p + 1..m {
                let apq = a[p * m + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * m + q] - a[p * m + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..m {
                    let (akp, akq) = (a[k * m + p], a[k * m + q]);
                    a[k * m + p] = c * akp - s * akq;
                    a[k * m + q] = s * akp + c * akq;
                }
                for k in 0..m {
                    let (apk, aqk) = (a[p * m + k], a[q * m + k]);
                    a[p * m + k] = c * apk - s * aqk;
                    a[q * m + k] = s * apk + c * aqk;
                }
            }
        }
    }
    (0..m).map(|i| a[i * m + i]).fold(f64::MIN, f64::max)
}

/// `σ_max` of a `rows × cols` matrix.
pub fn spectral_norm(x: &[f64], rows: usize, cols: usize) -> f64 {
    let (m, n, x) = if rows > cols {
        (cols, rows, transpose(x, rows, cols))
    } else {
        (rows, cols, x.to_vec())
    };
    largest_eigenvalue(&gram(&x, m, n), m).max(0.0).sqrt()
}

/// AOL or Schatten-4 scaling of `X` (`m × n`) and of its Gram matrix `A`, as optax's
/// `_aol_first_newton_schulz_iteration` / `_schatten_first_newton_schulz_iteration`.
pub fn precondition_gram(x: &mut [f64], a: &mut [f64], m: usize, n: usize, p: Preconditioning) {
    match p {
        Preconditioning::Aol => {
            let s: Vec<f64> = (0..m)
                .map(|i| {
                    1.0 / (0..m)
                        .map(|j| a[i * m + j].abs())
                        .sum::<f64>()
                        .max(1e-8)
                        .sqrt()
                })
                .collect();
            for i in 0..m {
                for j in 0..m {
                    a[i * m + j] *= s[i] * s[j];
                }
                for j in 0..n {
                    x[i * n + j] *= s[i];
                }
            }
        }
        Preconditioning::Schatten => {
            let s = 1.0 / frobenius_norm(a).max(1e-8).sqrt();
            x.iter_mut().for_each(|v| *v *= s);
            a.iter_mut().for_each(|v| *v *= s * s);
        }
        Preconditioning::Frobenius | Preconditioning::Spectral => {}
    }
}

/// Newton-Schulz of one `rows × cols` matrix with the group's preconditioning (tall matrices
/// transposed first and back at the end).
pub fn orthogonalize_with(u: &[f64], rows: usize, cols: usize, cfg: &MuonConfig) -> Vec<f64> {
    let (tall, m, n, mut x) = wide(u, rows, cols);
    match cfg.preconditioning {
        Preconditioning::Frobenius => x = normalize(&x, cfg.eps, cfg.norm_eps),
        Preconditioning::Spectral => {
            // optax: `x /= jnp.linalg.norm(x, ord=2) + eps`, whatever the preset's guard.
            let d = spectral_norm(&x, m, n) + cfg.eps;
            x.iter_mut().for_each(|v| *v /= d);
        }
        Preconditioning::Aol | Preconditioning::Schatten => {}
    }
    for (it, &[a, b, c]) in cfg.ns.0.iter().enumerate() {
        let mut g = gram(&x, m, n);
        if it == 0 {
            precondition_gram(&mut x, &mut g, m, n, cfg.preconditioning);
        }
        let p = ns_poly(&g, m, b, c);
        x = ns_apply(&x, &p, m, n, a);
    }
    if tall {
        transpose(&x, m, n)
    } else {
        x
    }
}

/// `x` rounded to `dtype` through f32, as the kernel rounds its f32 values.
fn round(dtype: MuDtype, x: f64) -> f64 {
    dtype.round(x as f32) as f64
}

/// One Muon step of a parameter in f64: updates `momentum` (stored in `cfg.mu_dtype`) and
/// `value`, given its matrix map and step scalars.
///
/// ```text
/// m' = round(round(decay_m)·m) + decay_g·g;  U = use_m·m' + use_g·g;  m ← round(m')
/// O  = Newton-Schulz of every slice of U (per the map), preconditioned
/// O ← ⟨U, O⟩·O   (adaptive)
/// W ← W·keep − lr_eff·O
/// ```
pub fn muon_step(
    cfg: &MuonConfig,
    map: &MatrixMap,
    s: &MuonScalars,
    value: &mut [f64],
    momentum: &mut [f64],
    g: &[f64],
) {
    let dt = cfg.mu_dtype;
    let decay_m = round(dt, s.decay_m);
    let u: Vec<f64> = momentum
        .iter_mut()
        .zip(g)
        .map(|(m, &g)| {
            let fresh = if dt.packed() {
                round(dt, decay_m * *m) + s.decay_g * g
            } else {
                s.decay_m * *m + s.decay_g * g
            };
            *m = round(dt, fresh);
            s.use_m * fresh + s.use_g * g
        })
        .collect();
    let (rows, cols) = (map.rows, map.cols);
    let mut slices = vec![vec![0.0; rows * cols]; map.slices];
    for (e, &v) in u.iter().enumerate() {
        let (b, r, c) = map.locate(e);
        slices[b][r * cols + c] = v;
    }
    let slices: Vec<Vec<f64>> = slices
        .iter()
        .map(|x| orthogonalize_with(x, rows, cols, cfg))
        .collect();
    let mut o: Vec<f64> = (0..u.len())
        .map(|e| {
            let (b, r, c) = map.locate(e);
            slices[b][r * cols + c]
        })
        .collect();
    if cfg.adaptive {
        let ip: f64 = u.iter().zip(&o).map(|(a, b)| a * b).sum();
        o.iter_mut().for_each(|v| *v *= ip);
    }
    for (w, o) in value.iter_mut().zip(o) {
        *w = *w * s.keep - s.lr_eff * o;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_finds_the_largest_eigenvalue() {
        // diag(1, 4, 2) rotated: eigenvalues kept.
        let a = [2.5, 1.5, 0.0, 1.5, 2.5, 0.0, 0.0, 0.0, 2.0];
        assert!((largest_eigenvalue(&a, 3) - 4.0).abs() < 1e-12);
    }
}
