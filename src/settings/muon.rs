//! A Muon group's hyperparameters: momentum, Newton-Schulz schedule, norm guard, shape scale.

use crate::error::{Error, Result};
use crate::settings::check::{check_non_negative, check_positive, check_range};
use crate::settings::optax::{DimensionNumbers, MatrixMap, MuDtype, Preconditioning};

/// How the momentum buffer accumulates gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MomentumKind {
    /// Exponential moving average, `m ← β·m + (1-β)·g` (PyTorch's `lerp_`, optax).
    Ema,
    /// Heavy ball, `m ← β·m + g` (Keras, Moonlight).
    Plain,
}

/// How the Frobenius norm is guarded before Newton-Schulz.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormEps {
    /// `X / (‖X‖ + ε)` (KellerJordan, optax, Keras, Moonlight).
    Additive,
    /// `X / max(‖X‖, ε)` (`torch.optim.Muon`).
    Clamp,
}

/// Which axis of a stored weight matrix is the fan-out (`(out, in)` or `(in, out)`); it decides
/// the `original` shape scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightLayout {
    /// `(out, in)` as PyTorch stores weights: scale `sqrt(max(1, rows/cols))`.
    OutIn,
    /// `(in, out)` as optax and Keras store kernels: scale `sqrt(max(1, cols/rows))`.
    InOut,
}

/// The learning-rate adjustment for a matrix's shape (`adjust_lr` in the replay format).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdjustLr {
    /// `sqrt(max(1, fan_out/fan_in))`, fan-out per [`WeightLayout`].
    Original,
    /// `rms_scale · sqrt(max(rows, cols))` (Moonlight; matches AdamW's update RMS).
    MatchRmsAdamW,
    /// No adjustment.
    None,
    /// `sqrt(max(1, shape[0]/shape[1]))` of the stored shape, as Keras 3.10-3.12 computes it
    /// (equal to `original` with [`WeightLayout::OutIn`] for a 2-D parameter).
    KerasLegacy,
}

impl std::str::FromStr for AdjustLr {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "original" => Ok(Self::Original),
            "match_rms_adamw" => Ok(Self::MatchRmsAdamW),
            "none" => Ok(Self::None),
            "keras_legacy" => Ok(Self::KerasLegacy),
            other => Err(Error::InvalidHyperparameter {
                key: "adjust_lr".into(),
                value: other.into(),
                reason: "expected original, match_rms_adamw, none or keras_legacy".into(),
            }),
        }
    }
}

/// The Newton-Schulz schedule: one `(a, b, c)` per iteration of `X ← aX + (bA + cA²)X`, `A = XXᵀ`.
#[derive(Clone, Debug, PartialEq)]
pub struct NsSchedule(pub Vec<[f64; 3]>);

impl NsSchedule {
    /// KellerJordan's quintic coefficients.
    pub const KELLER: [f64; 3] = [3.4445, -4.775, 2.0315];

    /// `steps` iterations of the same triple.
    pub fn uniform(coefficients: [f64; 3], steps: usize) -> Self {
        Self(vec![coefficients; steps])
    }

    /// The Polar Express schedule (Amsel et al. 2025, arXiv:2505.16932): the five odd quintics
    /// modded-nanogpt ships, optimal for singular values in `[1e-3, 1]`, with their safety
    /// factor applied. (modded-nanogpt also divides by `1.02·‖X‖`; here the normalization stays
    /// the preset's.)
    pub fn polar_express() -> Self {
        Self(vec![
            [8.156554524902461, -22.48329292557795, 15.878769915207462],
            [4.042929935166739, -2.808917465908714, 0.5000178451051316],
            [3.8916678022926607, -2.772484153217685, 0.5060648178503393],
            [3.285753657755655, -2.3681294933425376, 0.46449024233003106],
            [2.3465413258596377, -1.7097828382687081, 0.42323551169305323],
        ])
    }

    /// Number of iterations.
    pub fn steps(&self) -> usize {
        self.0.len()
    }

    /// Parses `a,b,c` (used `steps` times) or `a,b,c;a,b,c;...` (one per iteration, `steps` ignored),
    /// or the name `polar_express`, or optax's names `standard` and `dion`.
    pub fn parse(text: &str, steps: usize) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidHyperparameter {
            key: "ns_coefficients".into(),
            value: text.into(),
            reason: reason.into(),
        };
        // Checked before `uniform` allocates `steps` triples.
        if steps > MAX_NS_STEPS {
            return Err(Error::InvalidHyperparameter {
                key: "ns_steps".into(),
                value: steps.to_string(),
                reason: format!("at most {MAX_NS_STEPS} iterations are supported"),
            });
        }
        if text.trim() == "polar_express" {
            return Ok(Self::polar_express());
        }
        if let Some(named) = named_ns_schedule(text, steps) {
            return Ok(named);
        }
        let triples: Vec<[f64; 3]> = text
            .split(';')
            .map(|t| {
                let v: Vec<f64> = t
                    .split(',')
                    .map(|x| x.trim().parse::<f64>())
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| bad("not a number"))?;
                <[f64; 3]>::try_from(v)
                    .map_err(|_| bad("each triple needs exactly three numbers a,b,c"))
            })
            .collect::<Result<_>>()?;
        if triples.iter().flatten().any(|x| !x.is_finite()) {
            return Err(bad("coefficients must be finite"));
        }
        Ok(if triples.len() == 1 && !text.contains(';') {
            Self::uniform(triples[0], steps)
        } else {
            Self(triples)
        })
    }
}

/// One Muon group's hyperparameters.
///
/// Per step `t = 1, 2, …` and matrix `G` (rank > 2 viewed as `(shape[0], -1)`):
/// ```text
/// m ← β·m + (1-β)·G            (Ema)      or   m ← β·m + G        (Plain)
/// U = β·m + (1-β)·G            (Ema, Nesterov)  U = G + β·m     (Plain, Nesterov)   U = m (no Nesterov)
///     with bias correction: U = β·m/(1-β^(t+1)) + (1-β)·G/(1-β^t)  or  U = m/(1-β^t)
/// X₀ = U / (‖U‖_F + ε)  or  U / max(‖U‖_F, ε);  transposed first when rows > cols
/// Xₖ₊₁ = aₖ·Xₖ + (bₖ·A + cₖ·A²)·Xₖ,  A = Xₖ·Xₖᵀ
/// W ← W·(1 - lr·wd) - lr·s(rows, cols)·O
/// ```
/// with `s` from [`AdjustLr`].
#[derive(Clone, Debug, PartialEq)]
pub struct MuonConfig {
    pub lr: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub momentum_kind: MomentumKind,
    pub nesterov: bool,
    pub bias_correction: bool,
    pub ns: NsSchedule,
    pub eps: f64,
    pub norm_eps: NormEps,
    pub adjust_lr: AdjustLr,
    pub rms_scale: f64,
    pub layout: WeightLayout,
    /// Which two dimensions the shape scale reads for rank > 2.
    pub scale_dims: ScaleDims,
    /// How `X` is scaled before Newton-Schulz (optax `preconditioning`).
    pub preconditioning: Preconditioning,
    /// optax `adaptive`: `O ← ⟨U, O⟩·O` after Newton-Schulz, `U` the normalization's input,
    /// the inner product over the whole parameter (every slice); shape scale, decay and lr after.
    pub adaptive: bool,
    /// Dtype of the stored momentum (optax `mu_dtype`; see [`MuDtype`] for the arithmetic).
    pub mu_dtype: MuDtype,
    /// optax `weight_dimension_numbers`, by parameter name; see [`DimensionNumbers`]. A listed
    /// parameter must be routed to this group.
    pub dimension_numbers: Vec<(String, DimensionNumbers)>,
    /// Unlisted parameters of rank 3: the last two axes are the matrix, the first a batch axis
    /// (Keras 3.10-3.12); otherwise the `(shape[0], -1)` view.
    pub rank3_slices: bool,
}

/// The dimensions the shape scale of a rank > 2 parameter is computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleDims {
    /// The `(shape[0], product of the rest)` matrix Newton-Schulz sees.
    View,
    /// The last two dimensions of the stored tensor, as KellerJordan's `muon_update` reads
    /// `grad.size(-2) / grad.size(-1)` before flattening (so `kh/kw` for a conv filter).
    LastTwo,
}

impl Default for MuonConfig {
    /// `torch.optim.Muon`'s defaults.
    fn default() -> Self {
        Self {
            lr: 1e-3,
            weight_decay: 0.1,
            momentum: 0.95,
            momentum_kind: MomentumKind::Ema,
            nesterov: true,
            bias_correction: false,
            ns: NsSchedule::uniform(NsSchedule::KELLER, 5),
            eps: 1e-7,
            norm_eps: NormEps::Clamp,
            adjust_lr: AdjustLr::Original,
            rms_scale: 0.2,
            layout: WeightLayout::OutIn,
            scale_dims: ScaleDims::View,
            preconditioning: Preconditioning::Frobenius,
            adaptive: false,
            mu_dtype: MuDtype::F32,
            dimension_numbers: Vec::new(),
            rank3_slices: false,
        }
    }
}

impl MuonConfig {
    /// Checks every value; the error names the key at fault.
    pub fn validate(&self) -> Result<()> {
        check_non_negative("lr", self.lr)?;
        check_non_negative("weight_decay", self.weight_decay)?;
        check_range("momentum", self.momentum, 0.0, 1.0)?;
        check_positive("eps", self.eps)?;
        check_non_negative("rms_scale", self.rms_scale)?;
        if self.ns.steps() > MAX_NS_STEPS {
            return Err(Error::InvalidHyperparameter {
                key: "ns_steps".into(),
                value: self.ns.steps().to_string(),
                reason: format!("at most {MAX_NS_STEPS} iterations are supported"),
            });
        }
        Ok(())
    }

    /// The shape factor `s(rows, cols)` of the update for a parameter of this shape (rank >= 2),
    /// on the `(shape[0], -1)` view or the last two dimensions per [`ScaleDims`].
    pub fn shape_scale(&self, shape: &[usize]) -> f64 {
        if self.adjust_lr == AdjustLr::KerasLegacy {
            return (shape[0] as f64 / shape[1] as f64).max(1.0).sqrt();
        }
        let (rows, cols) = match self.scale_dims {
            ScaleDims::LastTwo if shape.len() > 2 => {
                (shape[shape.len() - 2], shape[shape.len() - 1])
            }
            _ => crate::shape::matrix_view(shape),
        };
        let (r, c) = (rows as f64, cols as f64);
        match self.adjust_lr {
            AdjustLr::Original => match self.layout {
                WeightLayout::OutIn => (r / c).max(1.0).sqrt(),
                WeightLayout::InOut => (c / r).max(1.0).sqrt(),
            },
            AdjustLr::MatchRmsAdamW => self.rms_scale * r.max(c).sqrt(),
            AdjustLr::None => 1.0,
            AdjustLr::KerasLegacy => (shape[0] as f64 / shape[1] as f64).max(1.0).sqrt(),
        }
    }

    /// How parameter `name` of this shape maps to matrices: its `dimension_numbers` entry, the
    /// rank-3 rule, or the `(shape[0], -1)` view.
    pub fn matrix_map(&self, name: &str, shape: &[usize]) -> Result<MatrixMap> {
        if let Some((_, d)) = self.dimension_numbers.iter().rev().find(|(n, _)| n == name) {
            return d.resolve(name, shape);
        }
        Ok(if self.rank3_slices && shape.len() == 3 {
            MatrixMap::last_two(shape)
        } else {
            MatrixMap::default_view(shape)
        })
    }

    /// The shape scale of a parameter with this matrix map: dimension numbers give
    /// `rows = ΠR`, `cols = ΠO` (optax's `fan_in`, `fan_out`); the default view is
    /// [`MuonConfig::shape_scale`]; `keras_legacy` always reads the stored shape.
    pub fn shape_scale_of(&self, map: &MatrixMap) -> f64 {
        if map.is_default_view() || self.adjust_lr == AdjustLr::KerasLegacy {
            return self.shape_scale(&map.shape);
        }
        let (r, c) = (map.rows as f64, map.cols as f64);
        match self.adjust_lr {
            AdjustLr::Original => match self.layout {
                WeightLayout::OutIn => (r / c).max(1.0).sqrt(),
                WeightLayout::InOut => (c / r).max(1.0).sqrt(),
            },
            AdjustLr::MatchRmsAdamW => self.rms_scale * r.max(c).sqrt(),
            AdjustLr::None | AdjustLr::KerasLegacy => 1.0,
        }
    }

    /// Whether a batch of this group needs the general momentum and update kernels
    /// (`momentum_nd.wgsl`, `muon_update_nd.wgsl`) rather than the 2-D ones.
    pub fn needs_general_kernels(&self, map: &MatrixMap) -> bool {
        self.adaptive || self.mu_dtype != MuDtype::F32 || !map.is_default_view()
    }
}

/// Most Newton-Schulz iterations one group may run.
pub const MAX_NS_STEPS: usize = 64;

/// optax's named `ns_coeffs` presets (`optax.contrib.muon(ns_coeffs="dion")`): `standard`
/// (KellerJordan's triple, `ns_steps` times) and `dion` (five triples, Ahn et al. 2025, one per
/// iteration, `ns_steps` ignored like any list: optax's `scale_by_muon` keeps
/// `ns_coeffs[-ns_steps:]` but first requires `len(ns_coeffs) <= ns_steps`, so all five run).
pub fn named_ns_schedule(name: &str, steps: usize) -> Option<NsSchedule> {
    match name.trim() {
        "standard" => Some(NsSchedule::uniform(NsSchedule::KELLER, steps)),
        "dion" => {
            let all = [
                [4.0848, -6.8946, 2.9270],
                [3.9505, -6.3029, 2.6377],
                [3.7418, -5.5913, 2.3037],
                [2.8769, -3.1427, 1.2046],
                [2.8366, -3.0525, 1.2012],
            ];
            Some(NsSchedule(all.to_vec()))
        }
        _ => None,
    }
}
