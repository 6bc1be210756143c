//! Hyperparameters of the Muon and AdamW groups, the per-step scalars derived from them, and the
//! routing of parameters to the groups.

pub mod keras;
pub mod optax;
pub mod overrides;
pub mod presets;
pub mod schedule;

use crate::error::{Error, Result};
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

/// Which axis of a stored matrix is the fan-out; it decides the `original` shape scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `(out, in)` as PyTorch stores weights: scale `sqrt(max(1, rows/cols))`.
    OutIn,
    /// `(in, out)` as optax and Keras store kernels: scale `sqrt(max(1, cols/rows))`.
    InOut,
}

/// The learning-rate adjustment for a matrix's shape (`adjust_lr` in the replay format).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdjustLr {
    /// `sqrt(max(1, fan_out/fan_in))`, fan-out per [`Layout`].
    Original,
    /// `rms_scale · sqrt(max(rows, cols))` (Moonlight; matches AdamW's update RMS).
    MatchRmsAdamW,
    /// No adjustment.
    None,
    /// `sqrt(max(1, shape[0]/shape[1]))` of the stored shape, as Keras 3.10-3.12 computes it
    /// (equal to `original` with [`Layout::OutIn`] for a 2-D parameter).
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
        if let Some(named) = crate::settings::optax::named_ns_schedule(text, steps) {
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
    pub layout: Layout,
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
            layout: Layout::OutIn,
            scale_dims: ScaleDims::View,
            preconditioning: Preconditioning::Frobenius,
            adaptive: false,
            mu_dtype: MuDtype::F32,
            dimension_numbers: Vec::new(),
            rank3_slices: false,
        }
    }
}

/// The per-step scalars of a Muon group, computed in f64 on the host.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MuonScalars {
    /// `m ← decay_m·m + decay_g·G`.
    pub decay_m: f64,
    pub decay_g: f64,
    /// `U = use_m·m + use_g·G`.
    pub use_m: f64,
    pub use_g: f64,
    /// `W ← W·keep - lr_eff·O`, `lr_eff = lr·s(rows, cols)`.
    pub keep: f64,
    pub lr_eff: f64,
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

    /// The scalars of step `t` (1-based) for a matrix of shape scale `scale`
    /// ([`MuonConfig::shape_scale`]).
    pub fn scalars(&self, t: u64, scale: f64) -> MuonScalars {
        let b = self.momentum;
        let (decay_m, decay_g) = match self.momentum_kind {
            MomentumKind::Ema => (b, 1.0 - b),
            MomentumKind::Plain => (b, 1.0),
        };
        let (use_m, use_g) = match (self.nesterov, self.bias_correction) {
            (true, false) => (b, decay_g),
            (false, false) => (1.0, 0.0),
            (true, true) => (
                b / (1.0 - pow_step(b, t.saturating_add(1))),
                decay_g / (1.0 - pow_step(b, t)),
            ),
            (false, true) => (1.0 / (1.0 - pow_step(b, t)), 0.0),
        };
        MuonScalars {
            decay_m,
            decay_g,
            use_m,
            use_g,
            keep: 1.0 - self.lr * self.weight_decay,
            lr_eff: self.lr * scale,
        }
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
                Layout::OutIn => (r / c).max(1.0).sqrt(),
                Layout::InOut => (c / r).max(1.0).sqrt(),
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
                Layout::OutIn => (r / c).max(1.0).sqrt(),
                Layout::InOut => (c / r).max(1.0).sqrt(),
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

/// Where Adam's ε enters, and whether the first moment is Nesterov-corrected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdamVariant {
    /// `m̂/(sqrt(v̂) + ε)` with `m̂ = m/(1-β₁ᵗ)`, `v̂ = v/(1-β₂ᵗ)` (PyTorch, KellerJordan).
    Standard,
    /// `lr·sqrt(1-β₂ᵗ)/(1-β₁ᵗ) · m/(sqrt(v) + ε)`: ε on the uncorrected `sqrt(v)` (Keras, Moonlight).
    UncorrectedEps,
    /// NAdam: `m̂ = β₁·m/(1-β₁^(t+1)) + (1-β₁)·g/(1-β₁ᵗ)`, then `m̂/(sqrt(v̂ + ε_root) + ε)` (optax `nadamw`).
    Nesterov,
}

/// One AdamW group's hyperparameters.
///
/// ```text
/// m ← β₁·m + (1-β₁)·g;   v ← β₂·v + (1-β₂)·g²
/// W ← W·(1 - decay_lr·wd) - lr·update      (update per AdamVariant)
/// ```
/// `decay_lr` is `lr` unless set (Keras decays with its main learning rate).
#[derive(Clone, Debug, PartialEq)]
pub struct AdamWConfig {
    pub lr: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub eps_root: f64,
    pub variant: AdamVariant,
    pub decay_lr: Option<f64>,
    /// Dtype of the stored first moment (optax's `mu_dtype` reaches its aux Adam): `m' =
    /// round(round(β₁)·m) + (1-β₁)·g` drives the step, `m ← round(m')` (see [`MuDtype`]).
    pub mu_dtype: MuDtype,
}

impl Default for AdamWConfig {
    /// `torch.optim.AdamW`'s defaults.
    fn default() -> Self {
        Self {
            lr: 1e-3,
            weight_decay: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            eps_root: 0.0,
            variant: AdamVariant::Standard,
            decay_lr: None,
            mu_dtype: MuDtype::F32,
        }
    }
}

/// The per-step scalars of an AdamW group: `W ← W·keep - lr_eff·(use_m·m + use_g·g)/(sqrt(use_v·v + eps_root) + eps)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamScalars {
    pub beta1: f64,
    pub beta2: f64,
    pub use_m: f64,
    pub use_g: f64,
    pub use_v: f64,
    pub eps: f64,
    pub eps_root: f64,
    pub keep: f64,
    pub lr_eff: f64,
}

impl AdamWConfig {
    /// Checks every value; the error names the key at fault.
    pub fn validate(&self) -> Result<()> {
        check_non_negative("adam_lr", self.lr)?;
        check_non_negative("adam_weight_decay", self.weight_decay)?;
        check_range("adam_betas", self.beta1, 0.0, 1.0)?;
        check_range("adam_betas", self.beta2, 0.0, 1.0)?;
        check_positive("adam_eps", self.eps)?;
        if !(self.eps_root >= 0.0 && self.eps_root.is_finite()) {
            return Err(invalid("adam_eps_root", self.eps_root, "must be >= 0"));
        }
        Ok(())
    }

    /// The scalars of step `t` (1-based).
    pub fn scalars(&self, t: u64) -> AdamScalars {
        let (b1, b2) = (self.beta1, self.beta2);
        let bc1 = 1.0 - pow_step(b1, t);
        let bc2 = 1.0 - pow_step(b2, t);
        let (use_m, use_g, use_v, lr_eff) = match self.variant {
            AdamVariant::Standard => (1.0 / bc1, 0.0, 1.0 / bc2, self.lr),
            AdamVariant::UncorrectedEps => (1.0, 0.0, 1.0, self.lr * bc2.sqrt() / bc1),
            AdamVariant::Nesterov => (
                b1 / (1.0 - pow_step(b1, t.saturating_add(1))),
                (1.0 - b1) / bc1,
                1.0 / bc2,
                self.lr,
            ),
        };
        AdamScalars {
            beta1: b1,
            beta2: b2,
            use_m,
            use_g,
            use_v,
            eps: self.eps,
            eps_root: self.eps_root,
            keep: 1.0 - self.decay_lr.unwrap_or(self.lr) * self.weight_decay,
            lr_eff,
        }
    }
}

fn invalid(key: &str, value: f64, reason: &str) -> Error {
    Error::InvalidHyperparameter {
        key: key.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// `β^t` for any step count: `powi` while `t` fits its `i32` exponent (as before, bit for
/// bit), `powf` beyond (a wrapped exponent would turn the bias correction into NaN).
fn pow_step(beta: f64, t: u64) -> f64 {
    match i32::try_from(t) {
        Ok(t) => beta.powi(t),
        Err(_) => beta.powf(t as f64),
    }
}

/// Finite and >= 0, as torch checks learning rates and weight decays.
fn check_non_negative(key: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(invalid(key, value, "must be a finite number >= 0"))
    }
}

fn check_positive(key: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(invalid(key, value, "must be a positive number"))
    }
}

fn check_range(key: &str, value: f64, lo: f64, hi: f64) -> Result<()> {
    if value >= lo && value < hi {
        Ok(())
    } else {
        Err(invalid(key, value, &format!("must be in [{lo}, {hi})")))
    }
}

/// Which parameters the automatic routing sends to Muon.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RoutingRule {
    /// Largest rank sent to Muon (`None`: any rank >= 2).
    pub max_rank: Option<usize>,
    /// Substrings (or, for Keras, regular-expression-free keywords) whose presence in a name sends it to AdamW.
    pub exclude: Vec<String>,
    /// Names containing `embedding` (case-insensitive) go to AdamW, as Keras does.
    pub exclude_embeddings: bool,
    /// Keras Muon's `exclude_layers`: regular expressions; a name matching any (`re.search`) goes
    /// to AdamW.
    pub exclude_layers: Vec<String>,
}

impl RoutingRule {
    /// Whether a parameter of this name and shape goes to Muon.
    pub fn routes_to_muon(&self, name: &str, shape: &[usize]) -> bool {
        let rank = shape.len();
        if rank < 2 || self.max_rank.is_some_and(|m| rank > m) {
            return false;
        }
        if self.exclude_embeddings && name.to_ascii_lowercase().contains("embedding") {
            return false;
        }
        !self.exclude.iter().any(|k| name.contains(k.as_str()))
            && !crate::settings::keras::routing::excluded(&self.exclude_layers, name)
    }
}

/// Everything an optimizer needs: its groups and its automatic routing.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Muon groups; automatic routing uses group 0.
    pub muon: Vec<MuonConfig>,
    /// AdamW groups; automatic routing uses group 0.
    pub adam: Vec<AdamWConfig>,
    pub routing: RoutingRule,
    /// The Keras base optimizer's options: clipping, accumulation, loss scale, schedule, EMA.
    pub options: crate::settings::keras::StepOptions,
}

impl Settings {
    /// Checks every group.
    pub fn validate(&self) -> Result<()> {
        self.muon.iter().try_for_each(MuonConfig::validate)?;
        self.adam.iter().try_for_each(AdamWConfig::validate)?;
        self.options.validate()?;
        (self.routing.exclude_layers.iter())
            .try_for_each(|p| crate::settings::keras::routing::compile(p).map(|_| ()))?;
        Ok(())
    }
}

/// Which optimizer group a parameter asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// The settings' [`RoutingRule`], into group 0.
    Auto,
    /// Muon group `i` (like `use_muon=True` in KellerJordan's `MuonWithAuxAdam`).
    Muon(usize),
    /// AdamW group `i`.
    AdamW(usize),
}

/// A hyperparameter group: where a parameter's route resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    Muon(usize),
    AdamW(usize),
}

/// Resolves a route for `name` against `settings`, checking the group exists and Muon gets a matrix.
pub fn resolve(settings: &Settings, name: &str, shape: &[usize], route: Route) -> Result<Group> {
    let group = match route {
        Route::Auto
            if settings.routing.routes_to_muon(name, shape) && !settings.muon.is_empty() =>
        {
            Group::Muon(0)
        }
        Route::Auto => Group::AdamW(0),
        Route::Muon(g) => Group::Muon(g),
        Route::AdamW(g) => Group::AdamW(g),
    };
    let (kind, index, available) = match group {
        Group::Muon(g) => ("Muon", g, settings.muon.len()),
        Group::AdamW(g) => ("AdamW", g, settings.adam.len()),
    };
    if index >= available {
        return Err(Error::UnknownGroup {
            name: name.into(),
            kind,
            group: index,
            available,
        });
    }
    if matches!(group, Group::Muon(_)) && shape.len() < 2 {
        return Err(Error::RankTooLowForMuon {
            name: name.into(),
            rank: shape.len(),
        });
    }
    Ok(group)
}
