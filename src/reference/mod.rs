//! An f64 CPU reference of every kernel and of whole optimizer steps, for the tests.
//! It follows the same formulas as the WGSL kernels (see [`crate::settings`]), in double precision.
//! It is not a runtime fallback.

pub mod linalg;
pub mod optax;

pub use linalg::{
    frobenius_norm, gram, matmul, normalize, ns_apply, ns_poly, orthogonalize, transpose,
};

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::settings::{resolve, Group, Route, Settings};
use crate::shape::{check_length, element_count};

/// A named f64 tensor: `(name, shape, values)`.
pub type Tensor64 = (String, Vec<usize>, Vec<f64>);

/// A parameter and its state in the reference optimizer.
#[derive(Clone, Debug)]
pub struct RefParam {
    pub name: String,
    pub shape: Vec<usize>,
    pub route: Group,
    pub value: Vec<f64>,
    pub momentum: Vec<f64>,
    pub exp_avg: Vec<f64>,
    pub exp_avg_sq: Vec<f64>,
    /// The moving average (`use_ema`) and the gradient accumulator (zeros when unused).
    pub ema: Vec<f64>,
    pub accumulator: Vec<f64>,
}

/// The whole optimizer in f64: same routing, same formulas, same step scalars.
#[derive(Clone, Debug)]
pub struct ReferenceOptimizer {
    pub settings: Settings,
    pub params: Vec<RefParam>,
    /// Updates applied.
    pub step: u64,
    /// Calls to `step` (micro-steps under gradient accumulation).
    pub calls: u64,
}

impl ReferenceOptimizer {
    /// An empty optimizer with these settings.
    pub fn new(settings: Settings) -> Result<Self> {
        settings.validate()?;
        Ok(Self {
            settings,
            params: Vec::new(),
            step: 0,
            calls: 0,
        })
    }

    /// Registers a parameter, routed as the GPU optimizer would.
    pub fn add(&mut self, name: &str, shape: &[usize], values: &[f32], route: Route) -> Result<()> {
        let len = element_count(name, shape)?;
        check_length(name, "initial value", shape, len, values.len())?;
        let route = resolve(&self.settings, name, shape, route)?;
        self.params.push(RefParam {
            name: name.into(),
            shape: shape.to_vec(),
            route,
            value: values.iter().map(|&v| v as f64).collect(),
            momentum: vec![0.0; len],
            exp_avg: vec![0.0; len],
            exp_avg_sq: vec![0.0; len],
            ema: vec![0.0; len],
            accumulator: vec![0.0; len],
        });
        Ok(())
    }

    /// One call to `step` with these gradients (every parameter needs one), with the Keras base
    /// optimizer's options in Keras' order ([`crate::settings::keras`]): loss-scale division,
    /// accumulation, clipping, the update at rate factor `η(k)`, the moving average.
    pub fn step(&mut self, grads: &HashMap<String, Vec<f32>>) -> Result<()> {
        for p in &self.params {
            if !grads.contains_key(&p.name) {
                return Err(Error::MissingGradient {
                    name: p.name.clone(),
                    step: self.calls as usize,
                });
            }
        }
        if self.calls == 0 {
            let routed = self
                .params
                .iter()
                .map(|p| (p.name.as_str(), p.shape.as_slice(), p.route));
            crate::settings::check_listed(&self.settings, routed)?;
        }
        let keras = self.settings.keras.clone();
        let k = self.calls;
        let eta = match keras.is_update(k) {
            true => Some(keras.rate_factor(k)?),
            false => None,
        };
        self.calls += 1;
        let scale = keras.loss_scale_factor.unwrap_or(1.0);
        let mut g: Vec<Vec<f64>> = (self.params.iter())
            .map(|p| grads[&p.name].iter().map(|&v| v as f64 / scale).collect())
            .collect();
        if let Some(steps) = keras.accumulation_steps {
            for (p, g) in self.params.iter_mut().zip(&mut g) {
                for (a, g) in p.accumulator.iter_mut().zip(g.iter_mut()) {
                    if eta.is_some() {
                        *g = (*g + *a) / steps as f64;
                        *a = 0.0;
                    } else {
                        *a += *g;
                    }
                }
            }
        }
        if let Some(eta) = eta {
            crate::settings::keras::reference::clip(keras.clip, &mut g);
            self.step += 1;
            self.update(&g, eta)?;
        }
        if let Some((f, overwrite)) = keras.ema_step(k) {
            for p in &mut self.params {
                for (avg, w) in p.ema.iter_mut().zip(p.value.iter_mut()) {
                    *avg = f * *avg + (1.0 - f) * *w;
                    if overwrite {
                        *w = *avg;
                    }
                }
            }
        }
        Ok(())
    }

    /// The preset's update with these (transformed) gradients at step `self.step`, every
    /// learning rate times `eta`.
    fn update(&mut self, grads: &[Vec<f64>], eta: f64) -> Result<()> {
        let t = self.step;
        for (p, g) in self.params.iter_mut().zip(grads) {
            match p.route {
                Group::Muon(group) => {
                    // Every option of the group: see `optax::muon_step`.
                    let cfg = &self.settings.muon[group];
                    let map = cfg.matrix_map(&p.name, &p.shape)?;
                    let s = cfg.scalars_at_rate(t, cfg.shape_scale_of(&map), eta);
                    crate::reference::optax::muon_step(
                        cfg,
                        &map,
                        &s,
                        &mut p.value,
                        &mut p.momentum,
                        g,
                    );
                }
                Group::AdamW(group) => {
                    let cfg = &self.settings.adam[group];
                    let s = cfg.scalars_at_rate(t, eta);
                    let dtype = cfg.mu_dtype;
                    let round = |x: f64| dtype.round(x as f32) as f64;
                    let state = p.exp_avg.iter_mut().zip(p.exp_avg_sq.iter_mut());
                    for ((w, (m, v)), &g) in p.value.iter_mut().zip(state).zip(g) {
                        // optax's mu_dtype: m' = round(round(β₁)·m) + (1-β₁)·g drives the
                        // step, m ← round(m') (`adamw_packed.wgsl`).
                        let fresh = if dtype.packed() {
                            round(round(s.beta1) * *m) + (1.0 - s.beta1) * g
                        } else {
                            *m + (1.0 - s.beta1) * (g - *m)
                        };
                        *m = fresh;
                        *v += (1.0 - s.beta2) * (g * g - *v);
                        let u = (s.use_m * fresh + s.use_g * g)
                            / ((s.use_v * *v + s.eps_root).sqrt() + s.eps);
                        *w = *w * s.keep - s.lr_eff * u;
                        *m = round(fresh);
                    }
                }
            }
        }
        Ok(())
    }

    /// A parameter by name.
    pub fn param(&self, name: &str) -> Option<&RefParam> {
        self.params.iter().find(|p| p.name == name)
    }
}
