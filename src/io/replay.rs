//! Replay cases (`docs/src/replay.md`): a starting set of parameters, a sequence of
//! gradients and the optimizer settings in one safetensors file; replaying applies the optimizer
//! on the GPU and returns the parameters and state after the last step.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::io::tensors::{self, Tensor, TensorFile};
use crate::optimizer::{OptimizerBuilder, Source};
use crate::reference::{ReferenceOptimizer, Tensor64};
use crate::settings::overrides::{self, Overrides};
use crate::settings::presets::Preset;
use crate::settings::{Route, Settings};

/// The metadata keys of a case besides the [`overrides::KEYS`], with what they mean (the
/// command line may override them too).
pub const CASE_KEYS: &[(&str, &str)] = &[
    (
        "preset",
        "Preset: torch, keller, optax, keras, keras-3.12 or moonlight",
    ),
    (
        "steps",
        "Steps to replay (default: every step with gradients)",
    ),
    (
        "muon",
        "Muon parameters, comma-separated (the others run AdamW)",
    ),
];

/// Every metadata key a case may carry, with what it means: [`CASE_KEYS`], then
/// [`overrides::KEYS`].
pub fn keys() -> impl Iterator<Item = (&'static str, &'static str)> {
    (CASE_KEYS.iter().copied()).chain(overrides::KEYS.iter().map(|k| (k.name, k.help)))
}

/// The step of `grad/<step>/…`: digits in their one canonical spelling (`0`, `12`; not `00`,
/// `+0`, `012`), below `grad_count`, the number of gradient tensors in the file.
fn step_number(text: &str, grad_count: usize) -> std::result::Result<usize, String> {
    let k: usize = (text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
        .ok_or_else(|| format!("step `{text}` is not a non-negative integer"))?;
    if k.to_string() != text {
        return Err(format!("step `{text}` must be written `{k}`"));
    }
    if k >= grad_count {
        return Err(format!(
            "step {k}, but the file holds only {grad_count} gradient tensors (steps count 0, 1, 2, … without gaps)"
        ));
    }
    Ok(k)
}

/// A parsed case.
#[derive(Clone, Debug)]
pub struct Case {
    pub preset: Preset,
    pub overrides: Overrides,
    /// Explicit Muon parameters (`muon` key); `None` uses the preset's routing rule.
    pub muon: Option<Vec<String>>,
    pub steps: usize,
    pub params: Vec<Tensor>,
    /// `grads[k][name]`.
    pub grads: Vec<HashMap<String, Vec<f32>>>,
}

impl Case {
    /// Parses a case from safetensors bytes; `label` names the file in errors.
    pub fn parse(bytes: &[u8], label: &str) -> Result<Self> {
        Self::from_file(tensors::parse(bytes, label)?, label, &[])
    }

    /// Reads a case from disk, applying `overrides` (key, value) after the file's metadata.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read(path: &std::path::Path, overrides: &[(String, String)]) -> Result<Self> {
        let label = path.display().to_string();
        Self::from_file(tensors::read_file(path)?, &label, overrides)
    }

    /// Builds a case from parsed tensors and metadata, then `overrides`.
    pub fn from_file(
        file: TensorFile,
        label: &str,
        overrides: &[(String, String)],
    ) -> Result<Self> {
        let mut settings: Vec<(String, String)> = file.metadata.into_iter().collect();
        settings.sort();
        settings.extend(overrides.iter().cloned());
        for (key, _) in &settings {
            if !keys().any(|(k, _)| k == key) {
                return Err(Error::UnknownMetadataKey { key: key.clone() });
            }
        }
        let lookup = |key: &str| {
            settings
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let preset: Preset = lookup("preset").unwrap_or("torch").parse()?;
        let mut o = Overrides::default();
        for key in overrides::KEYS {
            if let Some(v) = lookup(key.name) {
                key.set(&mut o, v)?;
            }
        }
        let muon = lookup("muon").map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        });

        let (params, grad_sets) = split_tensors(file.tensors, label)?;
        let steps = match lookup("steps") {
            Some(v) => overrides::count("steps", v)?,
            None => grad_sets.len(),
        };
        for k in 0..steps {
            for (p, _, _) in &params {
                if grad_sets.get(k).is_none_or(|g| !g.contains_key(p)) {
                    return Err(Error::MissingGradient {
                        name: p.clone(),
                        step: k,
                    });
                }
            }
        }
        if let Some(names) = &muon {
            for n in names {
                if !params.iter().any(|t| &t.0 == n) {
                    return Err(overrides::invalid(
                        "muon",
                        n,
                        "names no parameter of this case",
                    ));
                }
            }
        }
        let case = Self {
            preset,
            overrides: o,
            muon,
            steps,
            params,
            grads: grad_sets,
        };
        case.check_routes()?;
        Ok(case)
    }

    /// Every parameter's route resolves, and optax's dimension numbers name Muon parameters.
    fn check_routes(&self) -> Result<()> {
        let settings = self.settings()?;
        let mut routed = Vec::new();
        for (name, shape, _) in &self.params {
            let group = crate::settings::resolve(&settings, name, shape, self.route(name))?;
            routed.push((name.as_str(), shape.as_slice(), group));
        }
        crate::settings::check_listed(&settings, routed.into_iter())?;
        Ok(())
    }

    /// The optimizer settings of this case.
    pub fn settings(&self) -> Result<Settings> {
        self.preset.settings(&self.overrides)
    }

    /// How a parameter is routed: by the `muon` list when given, else the preset's rule.
    pub fn route(&self, name: &str) -> Route {
        match &self.muon {
            Some(list) if list.iter().any(|n| n == name) => Route::Muon(0),
            Some(_) => Route::AdamW(0),
            None => Route::Auto,
        }
    }

    /// Replays the case on the GPU: every parameter and state tensor after the last step.
    pub async fn run(&self, ctx: &GpuContext) -> Result<Vec<Tensor>> {
        let mut builder = OptimizerBuilder::new(ctx, self.settings()?)?;
        for (name, shape, values) in &self.params {
            builder.add(name, shape, Source::Host(values), self.route(name))?;
        }
        let mut opt = builder.build()?;
        for grads in self.grads.iter().take(self.steps) {
            for (name, _, _) in &self.params {
                opt.write_gradient(name, &grads[name])?;
            }
            opt.step()?;
        }
        opt.read_all().await
    }

    /// Replays the case in the f64 reference, in the same tensor layout as [`Case::run`].
    pub fn run_reference(&self) -> Result<Vec<Tensor64>> {
        let mut opt = ReferenceOptimizer::new(self.settings()?)?;
        for (name, shape, values) in &self.params {
            opt.add(name, shape, values, self.route(name))?;
        }
        let skip = opt.settings.non_finite == crate::settings::NonFinitePolicy::SkipStep;
        for grads in self.grads.iter().take(self.steps) {
            // skip_step: a NaN or Inf anywhere skips the whole step (no state, no count).
            if skip && grads.values().flatten().any(|g| !g.is_finite()) {
                continue;
            }
            opt.step(grads)?;
        }
        let mut out = Vec::new();
        for p in &opt.params {
            out.push((
                format!("param/{}", p.name),
                p.shape.clone(),
                p.value.clone(),
            ));
            let states: &[(&str, &Vec<f64>)] = match p.route {
                crate::settings::Group::Muon(_) => &[("momentum", &p.momentum)],
                crate::settings::Group::AdamW(_) => {
                    &[("exp_avg", &p.exp_avg), ("exp_avg_sq", &p.exp_avg_sq)]
                }
            };
            for (k, v) in states {
                out.push((
                    format!("state/{}/{k}", p.name),
                    p.shape.clone(),
                    (*v).clone(),
                ));
            }
        }
        if opt.settings.keras.ema.is_some() {
            for p in &opt.params {
                out.push((format!("ema/{}", p.name), p.shape.clone(), p.ema.clone()));
            }
        }
        Ok(out)
    }

    /// The output file's metadata.
    pub fn output_metadata(&self, ctx: &GpuContext) -> HashMap<String, String> {
        HashMap::from([
            ("preset".to_string(), self.preset.name().to_string()),
            ("steps".to_string(), self.steps.to_string()),
            ("adapter".to_string(), ctx.info.name.clone()),
            (
                "backend".to_string(),
                format!("{:?}", ctx.info.backend).to_lowercase(),
            ),
        ])
    }
}

/// One step's gradients by parameter name.
type StepGrads = HashMap<String, Vec<f32>>;

/// The `param/<name>` tensors and, per step, the `grad/<step>/<name>` ones, each gradient
/// checked against its parameter's shape.
fn split_tensors(tensors: Vec<Tensor>, label: &str) -> Result<(Vec<Tensor>, Vec<StepGrads>)> {
    let bad_tensor = |tensor: &str, reason: String| Error::InvalidTensor {
        path: label.into(),
        tensor: tensor.into(),
        reason,
    };
    // A step number cannot exceed the number of gradient tensors (every earlier step needs
    // its own), so that a tiny file cannot make us allocate for a huge step index.
    let grad_count = (tensors.iter())
        .filter(|t| t.0.starts_with("grad/"))
        .count();
    let mut params: Vec<Tensor> = Vec::new();
    let mut grad_sets: Vec<HashMap<String, Vec<f32>>> = Vec::new();
    let mut grad_shapes: Vec<(String, usize, Vec<usize>)> = Vec::new();
    for (name, shape, values) in tensors {
        if let Some(p) = name.strip_prefix("param/") {
            if p.is_empty() {
                return Err(bad_tensor(&name, "empty parameter name".into()));
            }
            params.push((p.to_string(), shape, values));
        } else if let Some(rest) = name.strip_prefix("grad/") {
            let (k, p) = rest
                .split_once('/')
                .ok_or_else(|| bad_tensor(&name, "expected grad/<step>/<name>".into()))?;
            let k = step_number(k, grad_count).map_err(|reason| bad_tensor(&name, reason))?;
            if grad_sets.len() <= k {
                grad_sets.resize_with(k + 1, HashMap::new);
            }
            grad_shapes.push((p.to_string(), k, shape));
            grad_sets[k].insert(p.to_string(), values);
        } else {
            return Err(bad_tensor(
                &name,
                "expected a `param/` or `grad/<step>/` prefix".into(),
            ));
        }
    }
    if params.is_empty() {
        return Err(Error::MalformedFile {
            path: label.into(),
            reason: "no `param/<name>` tensors".into(),
        });
    }
    for (p, k, shape) in &grad_shapes {
        let Some(param) = params.iter().find(|t| &t.0 == p) else {
            return Err(bad_tensor(
                &format!("grad/{k}/{p}"),
                format!("no parameter `{p}`"),
            ));
        };
        if &param.1 != shape {
            return Err(bad_tensor(
                &format!("grad/{k}/{p}"),
                format!("shape {shape:?}, but `param/{p}` has {:?}", param.1),
            ));
        }
    }
    Ok((params, grad_sets))
}
