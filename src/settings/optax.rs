//! The options of optax's `scale_by_muon` beyond the core step: `preconditioning`, `adaptive`,
//! `mu_dtype`, `weight_dimension_numbers`, and `ns_coeffs` given by name.
//!
//! Each is a field of [`MuonConfig`](crate::MuonConfig) (`dimension_numbers` for the last);
//! their formulas are here, the kernels in `shaders/momentum_nd.wgsl`,
//! `shaders/precondition.wgsl`, `shaders/spectral_norm.wgsl`, `shaders/inner_product.wgsl` and
//! `shaders/muon_update_nd.wgsl`, the f64 reference in [`crate::reference::optax`].

use crate::error::{Error, Result};

/// How `X` is scaled before Newton-Schulz (optax `preconditioning`), on the wide view
/// (`rows <= cols`; tall matrices are transposed first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Preconditioning {
    /// `X / (‖X‖_F + ε)` (or the preset's guard, [`NormEps`](crate::settings::NormEps)).
    #[default]
    Frobenius,
    /// `X / (σ_max(X) + ε)`, `σ_max` by power iteration on `A = X·Xᵀ` on the GPU.
    Spectral,
    /// AOL (Boissin et al. 2025): `A = X·Xᵀ`, `sᵢ = 1/sqrt(max(Σⱼ |Aᵢⱼ|, 1e-8))`,
    /// `X ← diag(s)·X`, `A ← diag(s)·A·diag(s)`, and the first iteration uses that `A`. No ε.
    Aol,
    /// Schatten-4 (Grishina et al. 2025): `A = X·Xᵀ`, `s = 1/sqrt(max(‖A‖_F, 1e-8))`,
    /// `X ← s·X`, `A ← s²·A`, and the first iteration uses that `A`. No ε.
    Schatten,
}

impl Preconditioning {
    /// The replay format's names, in optax's order.
    pub const NAMES: [&'static str; 4] = ["frobenius", "spectral", "aol", "schatten"];

    /// Whether it is fused into the first Newton-Schulz iteration (it reuses the Gram matrix).
    pub fn fused(self) -> bool {
        matches!(self, Self::Aol | Self::Schatten)
    }
}

impl std::str::FromStr for Preconditioning {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "frobenius" => Ok(Self::Frobenius),
            "spectral" => Ok(Self::Spectral),
            "aol" => Ok(Self::Aol),
            "schatten" => Ok(Self::Schatten),
            other => Err(Error::InvalidHyperparameter {
                key: "preconditioning".into(),
                value: other.into(),
                reason: "expected frobenius, spectral, aol or schatten".into(),
            }),
        }
    }
}

/// The dtype of the stored first moments (optax `mu_dtype`).
///
/// As optax runs it (jax's promotion of a weak-typed `β` with a `mu_dtype` array):
/// ```text
/// m' = round(round(β)·m) + (1-β)·g      (f32; round() to mu_dtype, nearest even)
/// U  from m' unrounded;   stored m ← round(m')
/// ```
/// bf16 and f16 are stored two per `u32` (element `2k` in the low half), no `SHADER_F16`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MuDtype {
    #[default]
    F32,
    Bf16,
    F16,
}

impl MuDtype {
    /// The code the kernels read (0 f32, 1 bf16, 2 f16).
    pub fn code(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::Bf16 => 1,
            Self::F16 => 2,
        }
    }

    /// Whether values are stored two per `u32`.
    pub fn packed(self) -> bool {
        self != Self::F32
    }

    /// `u32` words that hold `len` values.
    pub fn words(self, len: usize) -> usize {
        if self.packed() {
            len.div_ceil(2)
        } else {
            len
        }
    }

    /// `x` rounded to this dtype (nearest even), as f32.
    pub fn round(self, x: f32) -> f32 {
        match self {
            Self::F32 => x,
            Self::Bf16 => half::bf16::from_f32(x).to_f32(),
            Self::F16 => half::f16::from_f32(x).to_f32(),
        }
    }

    /// The 16 bits of `x` rounded to this dtype (packed dtypes only).
    pub fn bits(self, x: f32) -> u16 {
        match self {
            Self::F32 | Self::Bf16 => half::bf16::from_f32(x).to_bits(),
            Self::F16 => half::f16::from_f32(x).to_bits(),
        }
    }

    /// The f32 value of 16 stored bits.
    pub fn value(self, bits: u16) -> f32 {
        match self {
            Self::F32 | Self::Bf16 => half::bf16::from_bits(bits).to_f32(),
            Self::F16 => half::f16::from_bits(bits).to_f32(),
        }
    }

    /// Packs f32 values into stored words (f32: their bits).
    pub fn pack(self, values: &[f32]) -> Vec<u32> {
        if !self.packed() {
            return values.iter().map(|v| v.to_bits()).collect();
        }
        values
            .chunks(2)
            .map(|c| self.bits(c[0]) as u32 | (c.get(1).map_or(0, |&v| self.bits(v) as u32) << 16))
            .collect()
    }

    /// Unpacks `len` values from stored words.
    pub fn unpack(self, words: &[u32], len: usize) -> Vec<f32> {
        if !self.packed() {
            return words[..len].iter().map(|&w| f32::from_bits(w)).collect();
        }
        (0..len)
            .map(|i| self.value((words[i / 2] >> (16 * (i % 2))) as u16))
            .collect()
    }
}

impl std::str::FromStr for MuDtype {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "f32" | "float32" => Ok(Self::F32),
            "bf16" | "bfloat16" => Ok(Self::Bf16),
            "f16" | "float16" => Ok(Self::F16),
            other => Err(Error::InvalidHyperparameter {
                key: "mu_dtype".into(),
                value: other.into(),
                reason: "expected f32, bf16 or f16".into(),
            }),
        }
    }
}

/// optax's `MuonDimensionNumbers`: which axes of a parameter are the matrix's reduction
/// (rows) and output (columns) axes; every other axis is a batch axis, and each batch slice is
/// orthogonalized on its own. Negative axes count from the end.
///
/// The matrix of a slice is `(ΠR, ΠO)`, its row index the mixed-radix number of the reduction
/// axes in the order given (optax transposes to `batch + R + O` and reshapes), and the shape
/// scale reads `rows = ΠR`, `cols = ΠO`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DimensionNumbers {
    pub reduction: Vec<isize>,
    pub output: Vec<isize>,
}

impl DimensionNumbers {
    /// `R/O`, each a comma-separated list of axes (`1/2`, `0,1/-1`).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidHyperparameter {
            key: "weight_dimension_numbers".into(),
            value: text.into(),
            reason: reason.into(),
        };
        let (r, o) = text
            .split_once('/')
            .ok_or_else(|| bad("expected R/O, e.g. 0/1 or 1,2/-1"))?;
        let axes = |s: &str| -> Result<Vec<isize>> {
            s.split(',')
                .map(|a| {
                    a.trim()
                        .parse::<isize>()
                        .map_err(|_| bad("axes must be integers"))
                })
                .collect()
        };
        Ok(Self {
            reduction: axes(r)?,
            output: axes(o)?,
        })
    }

    /// The matrix map of a parameter `name` of this `shape`: errors name the parameter and the
    /// axis at fault.
    pub fn resolve(&self, name: &str, shape: &[usize]) -> Result<MatrixMap> {
        let rank = shape.len() as isize;
        let bad = |reason: String| Error::InvalidDimensionNumbers {
            name: name.into(),
            reason,
        };
        if self.reduction.is_empty() || self.output.is_empty() {
            return Err(bad("reduction and output axes must be non-empty".into()));
        }
        let norm = |a: isize| -> Result<usize> {
            if a >= rank || a < -rank {
                Err(bad(format!(
                    "axis {a} does not exist in a tensor of rank {rank} (shape {shape:?})"
                )))
            } else {
                Ok(a.rem_euclid(rank) as usize)
            }
        };
        let red: Vec<usize> = self
            .reduction
            .iter()
            .map(|&a| norm(a))
            .collect::<Result<_>>()?;
        let out: Vec<usize> = self
            .output
            .iter()
            .map(|&a| norm(a))
            .collect::<Result<_>>()?;
        for (i, a) in red.iter().chain(&out).enumerate() {
            if red.iter().chain(&out).take(i).any(|b| b == a) {
                return Err(bad(format!(
                    "axis {a} is listed twice (reduction {:?}, output {:?}): they must be disjoint",
                    self.reduction, self.output
                )));
            }
        }
        Ok(MatrixMap::new(shape, &red, &out))
    }
}

/// How a parameter's elements map to `slices` matrices of `rows × cols`: for each stored axis,
/// its role and the weight of its index in the batch, row or column number.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MatrixMap {
    pub rows: usize,
    pub cols: usize,
    pub slices: usize,
    /// Stored shape.
    pub shape: Vec<usize>,
    /// Per axis: 0 batch, 1 reduction (row), 2 output (column).
    pub role: Vec<u32>,
    /// Per axis: the weight of its index within its role's number.
    pub place: Vec<usize>,
}

/// Largest rank the kernels map (two `vec4` of axes).
pub const MAX_RANK: usize = 8;

impl MatrixMap {
    /// The map for reduction axes `red` and output axes `out` (non-negative, disjoint).
    pub fn new(shape: &[usize], red: &[usize], out: &[usize]) -> Self {
        let mut role = vec![0u32; shape.len()];
        let mut place = vec![0usize; shape.len()];
        let mut weigh = |axes: &[usize], r: u32| {
            let mut w = 1;
            for &a in axes.iter().rev() {
                role[a] = r;
                place[a] = w;
                w *= shape[a];
            }
            w
        };
        let rows = weigh(red, 1);
        let cols = weigh(out, 2);
        let batch: Vec<usize> = (0..shape.len())
            .filter(|a| !red.contains(a) && !out.contains(a))
            .collect();
        let slices = weigh(&batch, 0);
        Self {
            rows,
            cols,
            slices,
            shape: shape.to_vec(),
            role,
            place,
        }
    }

    /// The `(shape[0], product of the rest)` view every unlisted Muon parameter keeps.
    pub fn default_view(shape: &[usize]) -> Self {
        let rest: Vec<usize> = (1..shape.len()).collect();
        Self::new(shape, &[0], &rest)
    }

    /// The last two axes as the matrix, the others batch axes (Keras 3.10-3.12 for rank 3).
    pub fn last_two(shape: &[usize]) -> Self {
        let r = shape.len();
        Self::new(shape, &[r - 2], &[r - 1])
    }

    /// Whether this is the default view (one `(shape[0], -1)` matrix).
    pub fn is_default_view(&self) -> bool {
        *self == Self::default_view(&self.shape)
    }

    /// `(slice, row, col)` of stored element `e`.
    pub fn locate(&self, mut e: usize) -> (usize, usize, usize) {
        let mut at = [0usize; 3];
        for a in (0..self.shape.len()).rev() {
            let i = e % self.shape[a];
            e /= self.shape[a];
            at[self.role[a] as usize] += i * self.place[a];
        }
        (at[0], at[1], at[2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_locates_elements_as_optax_transposes_and_reshapes() {
        // shape (2, 3, 4) with R = [2], O = [0]: batch axis 1; matrix (4, 2).
        let m = MatrixMap::new(&[2, 3, 4], &[2], &[0]);
        assert_eq!((m.rows, m.cols, m.slices), (4, 2, 3));
        // element (i0, i1, i2) = (1, 2, 3) → slice 2, row 3, col 1
        assert_eq!(m.locate(12 + 2 * 4 + 3), (2, 3, 1));
        let d = MatrixMap::default_view(&[3, 2, 5]);
        assert_eq!((d.rows, d.cols, d.slices), (3, 10, 1));
        assert_eq!(d.locate(17), (0, 1, 7));
    }

    #[test]
    fn dimension_numbers_name_the_missing_axis_and_overlaps() {
        let e = DimensionNumbers::parse("3/1")
            .unwrap()
            .resolve("w", &[2, 3])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`w`") && e.contains("axis 3"), "{e}");
        let e = DimensionNumbers::parse("0,1/-2")
            .unwrap()
            .resolve("w", &[2, 3, 4])
            .unwrap_err()
            .to_string();
        assert!(e.contains("disjoint"), "{e}");
        assert!(DimensionNumbers::parse("0").is_err());
    }

    #[test]
    fn packed_moments_round_to_nearest_even() {
        // 1 + 2^-8 is halfway between two bf16 values: ties to the even one (1.0).
        let tie = 1.0 + 2f32.powi(-8);
        assert_eq!(MuDtype::Bf16.round(tie), 1.0);
        assert_eq!(
            MuDtype::Bf16.round(1.0 + 3.0 * 2f32.powi(-8)),
            1.0 + 2f32.powi(-6)
        );
        let v = [0.1f32, -2.5, 3.0];
        let w = MuDtype::F16.pack(&v);
        assert_eq!(w.len(), 2);
        let back = MuDtype::F16.unpack(&w, 3);
        assert_eq!(back, v.map(|x| MuDtype::F16.round(x)).to_vec());
    }
}
