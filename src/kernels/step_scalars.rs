//! The per-step scalars the kernels read, one typed struct per kernel family, laid out as
//! `shaders/step_scalars.wgsl` declares them. The host fills them before every step from
//! [`MuonConfig::scalars`](crate::settings::MuonConfig::scalars) and
//! [`AdamWConfig::scalars`](crate::settings::AdamWConfig::scalars) (computed in f64, stored in f32).

use crate::settings::{AdamScalars, MuonScalars};

/// `MuonStep` of `step_scalars.wgsl`, read by `momentum*.wgsl` and `muon_update*.wgsl`:
/// ```text
/// m ← decay_m·m + decay_g·G;   U = use_m·m + use_g·G;   W ← W·keep − lr_eff·O
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MuonStep {
    pub decay_m: f32,
    pub decay_g: f32,
    pub use_m: f32,
    pub use_g: f32,
    pub keep: f32,
    /// `lr·s(rows, cols)`: the learning rate with the batch's shape scale.
    pub lr_eff: f32,
    pub _pad: [f32; 2],
}

impl From<MuonScalars> for MuonStep {
    fn from(s: MuonScalars) -> Self {
        Self {
            decay_m: s.decay_m as f32,
            decay_g: s.decay_g as f32,
            use_m: s.use_m as f32,
            use_g: s.use_g as f32,
            keep: s.keep as f32,
            lr_eff: s.lr_eff as f32,
            _pad: [0.0; 2],
        }
    }
}

/// `AdamStep` of `step_scalars.wgsl`, read by `adamw.wgsl`:
/// ```text
/// m ← m + (1−β₁)(g − m);   v ← v + (1−β₂)(g² − v)
/// W ← W·keep − lr_eff·(use_m·m + use_g·g) / (sqrt(use_v·v + eps_root) + eps)
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdamStep {
    pub one_minus_beta1: f32,
    pub one_minus_beta2: f32,
    pub use_m: f32,
    pub use_g: f32,
    pub use_v: f32,
    pub eps: f32,
    pub eps_root: f32,
    pub keep: f32,
    pub lr_eff: f32,
    pub _pad: [f32; 3],
}

impl From<AdamScalars> for AdamStep {
    fn from(s: AdamScalars) -> Self {
        Self {
            one_minus_beta1: (1.0 - s.beta1) as f32,
            one_minus_beta2: (1.0 - s.beta2) as f32,
            use_m: s.use_m as f32,
            use_g: s.use_g as f32,
            use_v: s.use_v as f32,
            eps: s.eps as f32,
            eps_root: s.eps_root as f32,
            keep: s.keep as f32,
            lr_eff: s.lr_eff as f32,
            _pad: [0.0; 3],
        }
    }
}
