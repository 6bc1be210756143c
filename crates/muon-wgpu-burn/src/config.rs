//! [`MuonWgpuConfig`]: burn-style configuration (`new().with_*(..).init(&model, &gpu)?`).

use burn::module::Module;
use muon_wgpu::{AdjustLr, OptimizerBuilder, Overrides, Route, Settings, Source};

use crate::error::{Error, Result};
use crate::gpu::BurnWgpu;
use crate::optimizer::{MuonWgpu, Registered};
use crate::params::collect;
use crate::preset::{Preset, overrides_from_burn};

/// Configuration of [`MuonWgpu`]: a [`Preset`] (burn's own semantics by default) and overrides.
///
/// The learning rate is not part of it: as with burn's optimizers it is given to each
/// [`MuonWgpu::step`]; AdamW's is that rate times [`MuonWgpuConfig::with_adam_lr_ratio`]
/// (default 1, as a burn `ModuleOptimizer` with two groups gives both the same rate).
#[derive(Clone, Debug, Default)]
pub struct MuonWgpuConfig {
    preset: Preset,
    overrides: Overrides,
    adam_lr_ratio: Option<f64>,
    gram_form: Option<bool>,
}

impl MuonWgpuConfig {
    /// The `burn` preset, no overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// The config that reproduces burn's `MuonConfig` for the matrices and `AdamWConfig` for the
    /// rest ([`overrides_from_burn`] lists what is refused).
    pub fn from_burn(
        muon: &burn::optim::MuonConfig,
        adamw: &burn::optim::AdamWConfig,
    ) -> Result<Self> {
        Ok(Self::new().with_overrides(overrides_from_burn(muon, adamw)?))
    }

    /// Which library's semantics to reproduce (`Preset::Burn`, or any core preset).
    pub fn with_preset(mut self, preset: impl Into<Preset>) -> Self {
        self.preset = preset.into();
        self
    }

    /// Every override at once (any key of the core crate's `Overrides`; `lr` and `adam_lr` are
    /// replaced by the rate given to `step`).
    pub fn with_overrides(mut self, overrides: Overrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// Muon's decoupled weight decay: `W ← W·(1 − lr·wd) − ...`.
    pub fn with_weight_decay(mut self, wd: f64) -> Self {
        self.overrides.weight_decay = Some(wd);
        self
    }

    /// Muon's momentum `β` and whether the update is Nesterov's `G + β·v`.
    pub fn with_momentum(mut self, momentum: f64, nesterov: bool) -> Self {
        self.overrides.momentum = Some(momentum);
        self.overrides.nesterov = Some(nesterov);
        self
    }

    /// Newton-Schulz iterations.
    pub fn with_ns_steps(mut self, steps: usize) -> Self {
        self.overrides.ns_steps = Some(steps);
        self
    }

    /// The shape scale `s(A, B)` of the update (burn's `AdjustLrFn`).
    pub fn with_adjust_lr(mut self, adjust: AdjustLr) -> Self {
        self.overrides.adjust_lr = Some(adjust);
        self
    }

    /// AdamW's `(β₁, β₂)`, `ε` and weight decay.
    pub fn with_adamw(mut self, betas: (f64, f64), eps: f64, weight_decay: f64) -> Self {
        self.overrides.adam_betas = Some(betas);
        self.overrides.adam_eps = Some(eps);
        self.overrides.adam_weight_decay = Some(weight_decay);
        self
    }

    /// AdamW's learning rate as a multiple of the one given to `step`.
    pub fn with_adam_lr_ratio(mut self, ratio: f64) -> Self {
        self.adam_lr_ratio = Some(ratio);
        self
    }

    /// Whether matrices at least twice as wide as tall may run the Gram form of Newton-Schulz:
    /// the same iteration in fewer operations, rounded differently. Default: off under the
    /// `burn` preset (burn's own sequence of products, for parity), on under the core presets.
    pub fn with_gram_form(mut self, allowed: bool) -> Self {
        self.gram_form = Some(allowed);
        self
    }

    /// Regular expressions (`re.search` on burn's parameter path) whose matches go to AdamW,
    /// replacing the preset's (the `burn` preset's is [`crate::preset::HEAD_PATTERN`]).
    pub fn with_exclude_layers(mut self, patterns: &[&str]) -> Self {
        self.overrides.exclude_layers = Some(patterns.join(";"));
        self
    }

    /// The resolved settings (hyperparameters and routing).
    pub fn settings(&self) -> Result<Settings> {
        self.preset.settings(&self.overrides)
    }

    /// Registers every float parameter of `model` (routing each by its burn path and shape) and
    /// builds the optimizer on the shared device. Nothing is read back: our parameter copies
    /// are filled from burn's buffers at each step.
    ///
    /// Errors: a parameter that is not `f32` ([`Error::NotF32`]) or not on `gpu`'s device
    /// ([`Error::NotWgpu`]); invalid settings or GPU errors ([`Error::Core`]).
    pub fn init<M: Module>(&self, model: &M, gpu: &BurnWgpu) -> Result<MuonWgpu> {
        let settings = self.settings()?;
        let ratio = self.adam_lr_ratio.unwrap_or(1.0);
        if !(ratio.is_finite() && ratio >= 0.0) {
            return Err(muon_wgpu::Error::InvalidHyperparameter {
                key: "adam_lr_ratio".into(),
                value: ratio.to_string(),
                reason: "must be a finite number >= 0".into(),
            }
            .into());
        }
        let mut settings = settings;
        if let Some(policy) = self.overrides.non_finite {
            settings.non_finite = policy;
        }
        let mut builder = OptimizerBuilder::new(&gpu.context, settings)?;
        builder.gram_form(self.gram_form.unwrap_or(self.preset != Preset::Burn));
        let expected = gpu.device.clone().inner();
        let mut registered = Vec::new();
        for entry in collect(model) {
            if entry.dtype != burn::tensor::DType::F32 {
                return Err(Error::NotF32 {
                    name: entry.path,
                    dtype: format!("{:?}", entry.dtype),
                });
            }
            if entry.device.clone().inner() != expected {
                return Err(Error::NotWgpu {
                    reason: format!("on {:?}, expected {expected:?}", entry.device),
                    name: entry.path,
                });
            }
            // Zeros: the values are copied from burn's buffers before every step.
            let zeros = vec![0.0f32; entry.shape.iter().product()];
            builder.add(&entry.path, &entry.shape, Source::Host(&zeros), Route::Auto)?;
            registered.push(Registered::from(entry));
        }
        Ok(MuonWgpu::new(
            gpu.clone(),
            builder.build()?,
            registered,
            ratio,
        ))
    }
}

impl From<Preset> for MuonWgpuConfig {
    fn from(preset: Preset) -> Self {
        Self::new().with_preset(preset)
    }
}
