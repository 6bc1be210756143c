//! [`MuonOptimizer`]: the crate's optimizer for parameters and gradients held in `Float32Array`s.

use std::cell::RefCell;

use js_sys::Float32Array;
use wasm_bindgen::prelude::*;

use super::context::context;
use super::convert::{invalid, js_error};
use super::fields::Fields;
use crate as mw;
use mw::settings::overrides::{self, Kind};
use mw::{GpuContext, Group, Optimizer, OptimizerBuilder, Overrides, Preset, Route};

/// What `MuonOptimizer.create`'s options decide: the settings (with the NaN/Inf policy), and
/// whether each parameter gets its own value and gradient buffers (`gpuBuffers`).
struct Created {
    settings: mw::Settings,
    gpu_buffers: bool,
}

fn muon_settings(options: &JsValue) -> Result<Created, JsError> {
    // The options are "preset", "gpuBuffers" and the override keys, in camelCase (one table:
    // overrides::KEYS).
    let known: Vec<&str> = ["preset", "gpuBuffers"]
        .into_iter()
        .chain(overrides::KEYS.iter().map(|k| k.js_name))
        .collect();
    let f = Fields::new(options, "MuonOptimizer.create's options", &known)?;
    let preset: Preset = f
        .string("preset")?
        .unwrap_or_else(|| "torch".into())
        .parse()
        .map_err(js_error)?;
    let mut o = Overrides::default();
    for key in overrides::KEYS {
        let name = key.js_name;
        let text = match key.kind {
            Kind::Number => f.number(name)?.map(|x| x.to_string()),
            Kind::Count => f.count(name)?.map(|x| x.to_string()),
            Kind::Flag => f.boolean(name)?.map(|x| x.to_string()),
            Kind::Text => f.string(name)?,
            Kind::Pair => match f.numbers(name)? {
                None => None,
                Some(b) if b.len() == 2 => Some(format!("{},{}", b[0], b[1])),
                Some(b) => return Err(invalid(name, format!("{b:?}"), "must be [beta1, beta2]")),
            },
        };
        if let Some(text) = text {
            key.set(&mut o, &text).map_err(js_error)?;
        }
    }
    Ok(Created {
        settings: preset.settings(&o).map_err(js_error)?,
        gpu_buffers: f.boolean("gpuBuffers")?.unwrap_or(false),
    })
}

// One per JS object: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Stage {
    Collecting(OptimizerBuilder),
    Built(Optimizer),
    /// Only while `build` runs, or after it failed.
    Broken,
}

/// The Muon optimizer (AdamW for what Muon should not touch) on the page's WebGPU device, for
/// parameters and gradients held in `Float32Array`s.
///
/// Register every parameter with `addParameter`, call `build` once, then per step upload each
/// gradient with `setGradient` and call `step`; `readParameter` resolves to the current values.
#[wasm_bindgen]
pub struct MuonOptimizer {
    ctx: GpuContext,
    /// `gpuBuffers`: each parameter in its own value and gradient buffers, at offset 0.
    gpu_buffers: bool,
    /// Every method takes `&self` (so wasm-bindgen never throws "recursive use of an object");
    /// a call that needs the optimizer while a `readParameter` holds it gets a clear error.
    stage: RefCell<Stage>,
}

/// A buffer of `bytes` that one parameter's value or gradient owns, usable by WebGPU code in JS
/// (tfjs wraps `STORAGE | COPY_SRC` buffers without a copy).
fn own_buffer(ctx: &GpuContext, name: &str, what: &str, bytes: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(&format!("{name} {what}")),
        size: bytes.max(4),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// The error of a call made while a `readParameter` of the same optimizer is in flight.
fn in_flight(call: &str) -> JsError {
    JsError::new(&format!(
        "{call}: a readParameter() of this optimizer is still in flight; await it first"
    ))
}

#[wasm_bindgen]
impl MuonOptimizer {
    /// An optimizer with a preset's semantics (`torch` by default) and `options` overriding its
    /// defaults. Requests the WebGPU device on first use.
    pub async fn create(
        #[wasm_bindgen(unchecked_optional_param_type = "MuonOptions")] options: JsValue,
    ) -> Result<MuonOptimizer, JsError> {
        let created = muon_settings(&options)?;
        let ctx = context().await?;
        let builder = OptimizerBuilder::new(&ctx, created.settings).map_err(js_error)?;
        Ok(Self {
            ctx,
            gpu_buffers: created.gpu_buffers,
            stage: RefCell::new(Stage::Collecting(builder)),
        })
    }

    /// Registers a parameter with its initial values (`shape`'s product of them, row-major).
    /// `route`: `"auto"` (default: the preset's rule, matrices to Muon), `"muon"` or `"adamw"`.
    #[wasm_bindgen(js_name = addParameter)]
    pub fn add_parameter(
        &self,
        name: &str,
        #[wasm_bindgen(unchecked_param_type = "number[] | Uint32Array")] shape: Vec<f64>,
        values: &[f32],
        #[wasm_bindgen(unchecked_optional_param_type = "\"auto\" | \"muon\" | \"adamw\"")]
        route: Option<String>,
    ) -> Result<(), JsError> {
        let mut stage = (self.stage.try_borrow_mut()).map_err(|_| in_flight("addParameter"))?;
        let Stage::Collecting(builder) = &mut *stage else {
            return Err(JsError::new(&format!(
                "cannot add parameter `{name}`: the optimizer is already built"
            )));
        };
        let route = match route.as_deref().unwrap_or("auto") {
            "auto" => Route::Auto,
            "muon" => Route::Muon(0),
            "adamw" => Route::AdamW(0),
            other => {
                return Err(invalid(
                    "route",
                    other,
                    "expected \"auto\", \"muon\" or \"adamw\"",
                ))
            }
        };
        // Whole numbers from 1 to 2³²−1 only: a JS number is never truncated or wrapped.
        let shape: Vec<usize> = (shape.iter())
            .map(|&d| {
                (d.fract() == 0.0 && (1.0..=u32::MAX as f64).contains(&d))
                    .then_some(d as usize)
                    .ok_or_else(|| {
                        invalid(
                            "shape",
                            format!("{shape:?}"),
                            "each dimension must be a whole number from 1 to 4294967295",
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        // A length that does not fit the shape takes the host path, for the builder's error.
        let fits = shape.iter().product::<usize>() == values.len();
        let source = if self.gpu_buffers && fits {
            let len = values.len() as u64 * 4;
            let value = own_buffer(&self.ctx, name, "value", len);
            self.ctx
                .queue
                .write_buffer(&value, 0, bytemuck::cast_slice(values));
            let grad = own_buffer(&self.ctx, name, "gradient", len);
            mw::Source::Buffers { value, grad }
        } else {
            mw::Source::Host(values)
        };
        builder.add(name, &shape, source, route).map_err(js_error)?;
        Ok(())
    }

    /// The `GPUBuffer` holding a parameter's values (`gpuBuffers: true` only): see
    /// `gradientBuffer` for the contract.
    #[wasm_bindgen(js_name = parameterBuffer, unchecked_return_type = "GPUBuffer")]
    pub fn parameter_buffer(&self, name: &str) -> Result<JsValue, JsError> {
        self.gpu_buffer(name, "parameterBuffer", |p| &p.value)
    }

    /// The `GPUBuffer` a parameter's gradient is read from by `step` (`gpuBuffers: true` only):
    /// `4 × size` bytes of f32, row-major, at offset 0, usage `STORAGE | COPY_SRC | COPY_DST`,
    /// on the device of `gpuDevice()`. Write it with the GPU (a copy, a compute pass) and
    /// submit before `step`. Never destroy it; after `free()` it is no longer updated and stays
    /// valid while JS holds it.
    #[wasm_bindgen(js_name = gradientBuffer, unchecked_return_type = "GPUBuffer")]
    pub fn gradient_buffer(&self, name: &str) -> Result<JsValue, JsError> {
        self.gpu_buffer(name, "gradientBuffer", |p| &p.grad)
    }

    fn gpu_buffer(
        &self,
        name: &str,
        call: &str,
        pick: impl Fn(&mw::optimizer::ParamInfo) -> &mw::gpu::readback::BufferRange,
    ) -> Result<JsValue, JsError> {
        if !self.gpu_buffers {
            return Err(JsError::new(&format!(
                "{call}(`{name}`): parameters share packed buffers at offsets; create the \
                 optimizer with {{ gpuBuffers: true }} to give each its own GPUBuffer"
            )));
        }
        let opt = self.built()?;
        let range = pick(opt.param(name).map_err(js_error)?);
        let buffer = (range.buffer.as_webgpu())
            .ok_or_else(|| JsError::new(&format!("{call}: the device is not WebGPU")))?;
        Ok(buffer.clone().into())
    }

    /// Compiles the kernels, allocates the optimizer state and uploads the parameters. Once.
    pub fn build(&self) -> Result<(), JsError> {
        let mut stage = (self.stage.try_borrow_mut()).map_err(|_| in_flight("build"))?;
        match std::mem::replace(&mut *stage, Stage::Broken) {
            Stage::Collecting(builder) => {
                *stage = Stage::Built(builder.build().map_err(js_error)?);
                Ok(())
            }
            built @ Stage::Built(_) => {
                *stage = built;
                Err(JsError::new("the optimizer is already built"))
            }
            Stage::Broken => Err(JsError::new("the optimizer failed to build earlier")),
        }
    }

    fn built(&self) -> Result<std::cell::Ref<'_, Optimizer>, JsError> {
        let stage = self.stage.borrow();
        std::cell::Ref::filter_map(stage, |s| match s {
            Stage::Built(opt) => Some(opt),
            _ => None,
        })
        .map_err(|_| {
            JsError::new(
                "the optimizer is not built yet: call build() after adding every parameter",
            )
        })
    }

    fn built_mut(&self, call: &str) -> Result<std::cell::RefMut<'_, Optimizer>, JsError> {
        let stage = (self.stage.try_borrow_mut()).map_err(|_| in_flight(call))?;
        std::cell::RefMut::filter_map(stage, |s| match s {
            Stage::Built(opt) => Some(opt),
            _ => None,
        })
        .map_err(|_| {
            JsError::new(
                "the optimizer is not built yet: call build() after adding every parameter",
            )
        })
    }

    /// Uploads a parameter's gradient for the next `step`.
    #[wasm_bindgen(js_name = setGradient)]
    pub fn set_gradient(&self, name: &str, values: &[f32]) -> Result<(), JsError> {
        self.built()?.write_gradient(name, values).map_err(js_error)
    }

    /// Overwrites a parameter's values.
    #[wasm_bindgen(js_name = setParameter)]
    pub fn set_parameter(&self, name: &str, values: &[f32]) -> Result<(), JsError> {
        self.built()?
            .write_parameter(name, values)
            .map_err(js_error)
    }

    /// One optimizer step on the GPU with the gradients last uploaded; returns without waiting.
    pub fn step(&self) -> Result<(), JsError> {
        self.built_mut("step")?.step().map_err(js_error)?;
        Ok(())
    }

    /// A parameter's moving average (`useEma`), once the GPU has finished the steps submitted before.
    #[wasm_bindgen(js_name = readAverage, unchecked_return_type = "Float32Array")]
    // The shared borrow is held across the await on purpose, as in `read_parameter`.
    #[allow(clippy::await_holding_refcell_ref)]
    pub async fn read_average(&self, name: String) -> Result<JsValue, JsError> {
        let values = self.built()?.read_average(&name).await.map_err(js_error)?;
        Ok(Float32Array::from(values.as_slice()).into())
    }

    /// A parameter's current values, once the GPU has finished the steps submitted before.
    #[wasm_bindgen(js_name = readParameter, unchecked_return_type = "Float32Array")]
    // The shared borrow is held across the await on purpose: see `in_flight`.
    #[allow(clippy::await_holding_refcell_ref)]
    pub async fn read_parameter(&self, name: String) -> Result<JsValue, JsError> {
        // The shared borrow lasts until the values are back: `step` meanwhile is refused.
        let opt = self.built()?;
        let values = opt.read_parameter(&name).await.map_err(js_error)?;
        Ok(Float32Array::from(values.as_slice()).into())
    }

    /// Steps skipped for a NaN or Inf gradient under `nonFinite: "skip_step"` (0 otherwise),
    /// once the GPU has finished the steps submitted before; brings `stepCount` up to date.
    #[wasm_bindgen(js_name = skippedSteps)]
    #[allow(clippy::await_holding_refcell_ref)]
    pub async fn skipped_steps(&self) -> Result<f64, JsError> {
        let opt = self.built()?;
        Ok(opt.skipped_steps().await.map_err(js_error)? as f64)
    }

    /// Sets Muon's learning rate and, when given, AdamW's; from the next step on.
    #[wasm_bindgen(js_name = setLearningRate)]
    pub fn set_learning_rate(&self, lr: f64, adam_lr: Option<f64>) -> Result<(), JsError> {
        let mut opt = self.built_mut("setLearningRate")?;
        opt.set_lr(Group::Muon(0), lr).map_err(js_error)?;
        if let Some(adam_lr) = adam_lr {
            opt.set_lr(Group::AdamW(0), adam_lr).map_err(js_error)?;
        }
        Ok(())
    }

    /// `"muon"` or `"adamw"`: where a built optimizer sent the parameter.
    pub fn route(&self, name: &str) -> Result<String, JsError> {
        Ok(match self.built()?.param(name).map_err(js_error)?.route {
            mw::Group::Muon(_) => "muon".into(),
            mw::Group::AdamW(_) => "adamw".into(),
        })
    }

    /// Steps taken so far.
    #[wasm_bindgen(getter, js_name = stepCount)]
    pub fn step_count(&self) -> f64 {
        match &*self.stage.borrow() {
            Stage::Built(opt) => opt.step_count() as f64,
            _ => 0.0,
        }
    }

    /// The adapter the optimizer runs on, e.g. `"SwiftShader Device (Subzero) (BrowserWebGpu)"`.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> String {
        self.ctx.describe()
    }
}
