//! The `burn` preset: `burn_optim::MuonConfig` for the matrices and `burn_optim::AdamWConfig`
//! for the rest, exactly (burn 0.22.1, `optim/muon.rs`, `momentum.rs`, `adamw.rs`).
//!
//! Per Muon matrix `W` of stored shape `(A, B)` with gradient `G` (momentum `β = 0.95`,
//! dampening 0, Nesterov):
//! ```text
//! v ← β·v + G                      (first step: v = G)              momentum.rs
//! U = G + β·v                      (Nesterov; without: U = v)
//! X₀ = U / max(‖U‖_F, ε)           ε = 1e-7 (clamp, not added)
//! Xₖ₊₁ = a·Xₖ + (b·A + c·A²)·Xₖ,  A = Xₖ·Xₖᵀ,  (a, b, c) = (3.4445, −4.775, 2.0315), 5 steps
//! W ← W·(1 − lr·wd) − lr·s(A, B)·X  s = sqrt(max(1, A/B)) (Original) or 0.2·sqrt(max(A, B))
//! ```
//! (burn transposes wide-vs-tall matrices as the core does), and for every other parameter
//! burn's AdamW (`β₁ = 0.9, β₂ = 0.999, ε = 1e-5, wd = 1e-4`):
//! ```text
//! m ← β₁·m + (1−β₁)·g;  v ← β₂·v + (1−β₂)·g²;  W ← W·(1 − lr·wd) − lr·m̂/(sqrt(v̂) + ε)
//! ```
//! burn stores these values as `f32`; the preset takes the same `f32` values.
//!
//! burn's heavy-ball momentum and torch's EMA (`m ← β·m + (1−β)·G`) differ by the factor
//! `1 − β` in `U` (with zero initial state, `m = (1−β)·v` at every step), which the
//! normalization divides away: the two give the same Muon update wherever the `ε` clamp is
//! inactive. The preset still keeps burn's momentum, so its state matches burn's.
//!
//! Routing: rank 2 to Muon, except names containing `embedding` (burn's `Embedding` is 2-D) and
//! layers named `head` / `lm_head` (regular expression [`HEAD_PATTERN`]); everything else to
//! AdamW. burn's own `MuonConfig::init()` sends every parameter to Muon (and panics on rank ≠ 2),
//! so the split burn users build by hand with a `ParamGroup` is this one.

use muon_wgpu::{MomentumKind, NsSchedule, Overrides, Settings};

use crate::error::{Error, Result};

/// Layers whose weights go to AdamW by default: `head.*` and `lm_head.*` at any depth.
pub const HEAD_PATTERN: &str = r"(^|\.)(lm_)?head\.";

/// Which semantics the optimizer reproduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Preset {
    /// burn's own `MuonConfig` + `AdamWConfig` (the default).
    #[default]
    Burn,
    /// One of the core crate's presets (`torch`, `keller`, `optax`, `keras`, `moonlight`, ...).
    Core(muon_wgpu::Preset),
}

impl From<muon_wgpu::Preset> for Preset {
    fn from(p: muon_wgpu::Preset) -> Self {
        Self::Core(p)
    }
}

impl std::str::FromStr for Preset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "burn" => Ok(Self::Burn),
            other => Ok(Self::Core(other.parse()?)),
        }
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Burn => f.write_str("burn"),
            Self::Core(p) => p.fmt(f),
        }
    }
}

impl Preset {
    /// The preset's settings with `o` applied (an override always wins over the preset).
    pub fn settings(self, o: &Overrides) -> Result<Settings> {
        match self {
            Self::Burn => burn_settings(o),
            Self::Core(p) => Ok(p.settings(o)?),
        }
    }
}

/// burn's values, stored as `f32` there, widened exactly.
const BURN_MOMENTUM: f64 = 0.95;
const BURN_EPSILON: f32 = 1e-7;
const BURN_NS: [f32; 3] = [3.4445, -4.775, 2.0315];
const BURN_ADAM_BETAS: (f32, f32) = (0.9, 0.999);
const BURN_ADAM_EPS: f32 = 1e-5;
const BURN_ADAM_WD: f32 = 1e-4;

/// The `torch` preset shares burn's Newton-Schulz, clamp guard and shape scale; burn differs in
/// its momentum (heavy ball, `v ← β·v + G`), its defaults and its `f32` constants.
fn burn_settings(o: &Overrides) -> Result<Settings> {
    let mut s = muon_wgpu::Preset::Torch.settings(o)?;
    let muon = &mut s.muon[0];
    muon.momentum_kind = MomentumKind::Plain;
    if o.weight_decay.is_none() {
        muon.weight_decay = 0.0;
    }
    if o.momentum.is_none() {
        muon.momentum = BURN_MOMENTUM;
    }
    if o.eps.is_none() {
        muon.eps = f64::from(BURN_EPSILON);
    }
    if o.ns_coefficients.is_none() {
        let steps = muon.ns.steps();
        muon.ns = NsSchedule::uniform(BURN_NS.map(f64::from), steps);
    }
    let adam = &mut s.adam[0];
    if o.adam_betas.is_none() {
        (adam.beta1, adam.beta2) = (BURN_ADAM_BETAS.0.into(), BURN_ADAM_BETAS.1.into());
    }
    if o.adam_eps.is_none() {
        adam.eps = BURN_ADAM_EPS.into();
    }
    if o.adam_weight_decay.is_none() {
        adam.weight_decay = BURN_ADAM_WD.into();
    }
    if o.exclude_embeddings.is_none() {
        s.routing.exclude_embeddings = true;
    }
    if o.exclude_layers.is_none() {
        s.routing.exclude_layers = vec![muon_wgpu::settings::Pattern::new(HEAD_PATTERN)?];
    }
    s.validate()?;
    Ok(s)
}

/// The overrides that make the `burn` preset reproduce these burn configs: read through their
/// serde form (burn's `Config` fields are private), so every field is accounted for. Options
/// with no exact equivalent are refused by name: Muon `dampening ≠ 0` (burn skips dampening on
/// the first step), AdamW `amsgrad`, `cautious_weight_decay` and `grad_clipping`.
pub fn overrides_from_burn(
    muon: &burn::optim::MuonConfig,
    adamw: &burn::optim::AdamWConfig,
) -> Result<Overrides> {
    let m = to_json("MuonConfig", muon)?;
    let a = to_json("AdamWConfig", adamw)?;
    let momentum = &m["momentum"];
    if number(momentum, "dampening")? != 0.0 {
        return Err(unsupported(
            "momentum.dampening",
            &momentum["dampening"],
            "burn leaves the first step undamped; only 0 is reproduced",
        ));
    }
    for flag in ["amsgrad", "cautious_weight_decay"] {
        if a[flag].as_bool() == Some(true) {
            return Err(unsupported(flag, &a[flag], "only burn's default (false)"));
        }
    }
    if !a["grad_clipping"].is_null() {
        return Err(unsupported(
            "grad_clipping",
            &a["grad_clipping"],
            "clip the gradients before `step`",
        ));
    }
    let ns = &m["ns_coefficients"];
    let coefficient = |i: usize| -> Result<f64> {
        ns[i]
            .as_f64()
            .ok_or_else(|| unsupported("ns_coefficients", ns, "expected three numbers"))
    };
    let adjust_lr = match m["adjust_lr_fn"].as_str() {
        Some("Original") => muon_wgpu::AdjustLr::Original,
        Some("MatchRmsAdamW") => muon_wgpu::AdjustLr::MatchRmsAdamW,
        _ => return Err(unsupported("adjust_lr_fn", &m["adjust_lr_fn"], "unknown")),
    };
    let weight_decay = match &m["weight_decay"] {
        serde_json::Value::Null => 0.0,
        wd => number(wd, "penalty")?,
    };
    Ok(Overrides {
        weight_decay: Some(weight_decay),
        momentum: Some(number(momentum, "momentum")?),
        nesterov: Some(momentum["nesterov"].as_bool().unwrap_or(true)),
        ns_steps: Some(number(&m, "ns_steps")? as usize),
        ns_coefficients: Some(format!(
            "{},{},{}",
            coefficient(0)?,
            coefficient(1)?,
            coefficient(2)?
        )),
        eps: Some(number(&m, "epsilon")?),
        adjust_lr: Some(adjust_lr),
        adam_betas: Some((number(&a, "beta_1")?, number(&a, "beta_2")?)),
        adam_eps: Some(number(&a, "epsilon")?),
        adam_weight_decay: Some(number(&a, "weight_decay")?),
        ..Overrides::default()
    })
}

fn to_json<T: burn::serde::Serialize>(what: &str, config: &T) -> Result<serde_json::Value> {
    serde_json::to_value(config).map_err(|e| Error::Unsupported {
        option: what.into(),
        value: String::new(),
        reason: e.to_string(),
    })
}

/// A number field; `f32` fields come back widened exactly (serde writes the `f32`'s value).
fn number(v: &serde_json::Value, key: &str) -> Result<f64> {
    v[key]
        .as_f64()
        .ok_or_else(|| unsupported(key, &v[key], "expected a number"))
}

fn unsupported(option: &str, value: &serde_json::Value, reason: &str) -> Error {
    Error::Unsupported {
        option: option.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}
