//! The browser bindings (wasm32 only), exported to JavaScript by wasm-bindgen with TypeScript
//! declarations (`web/pkg/muon_wgpu.d.ts` after `scripts/web.sh`):
//!
//! - [`MuonOptimizer`]: the crate's optimizer on `Float32Array` parameters and gradients;
//! - [`DigitsRace`] and [`ImageRace`]: the two modes of the demo page in `web/`, Muon + AdamW
//!   against AdamW alone on the crate's GPU MLP ([`crate::demo`], plain Rust shared with
//!   `examples/web_parity.rs`);
//! - [`adapterInfo`]: what WebGPU adapter the page runs on.
//!
//! Every error is a JS exception carrying the crate's message. Nothing here blocks: readbacks
//! are promises, resolved when the browser has mapped the buffer.
//!
//! ```js
//! import init, { MuonOptimizer } from "./pkg/muon_wgpu.js";
//! await init();
//! const opt = await MuonOptimizer.create({ preset: "torch", lr: 0.02, adamLr: 3e-3 });
//! opt.addParameter("hidden.weight", [256, 128], weights); // rank 2: Muon
//! opt.addParameter("hidden.bias", [256], bias);           // rank 1: AdamW
//! opt.build();
//! opt.setGradient("hidden.weight", gradW);
//! opt.setGradient("hidden.bias", gradB);
//! opt.step();
//! const w = await opt.readParameter("hidden.weight");     // Float32Array
//! ```

use std::cell::RefCell;

use js_sys::{Array, Float32Array, Float64Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate as mw;
use mw::demo::{image, race};
use mw::settings::overrides::{self, Kind};
use mw::{
    BackendChoice, Error, GpuContext, Group, Optimizer, OptimizerBuilder, Overrides, Preset, Route,
};

#[wasm_bindgen(start)]
fn start() {
    // Rust panics show up in the console with their message instead of "unreachable".
    console_error_panic_hook::set_once();
}

fn js_error(e: Error) -> JsError {
    JsError::new(&e.to_string())
}

fn invalid(key: &str, value: impl ToString, reason: &str) -> JsError {
    js_error(Error::InvalidHyperparameter {
        key: key.into(),
        value: value.to_string(),
        reason: reason.into(),
    })
}

thread_local! {
    /// One device per page: every object shares it, so a reset does not ask for a new one.
    static CONTEXT: RefCell<Option<GpuContext>> = const { RefCell::new(None) };
}

/// The page's WebGPU device, requested on first use.
async fn context() -> Result<GpuContext, JsError> {
    if let Some(ctx) = CONTEXT.with(|c| c.borrow().clone()) {
        return Ok(ctx);
    }
    let ctx = GpuContext::new(BackendChoice::WebGpu)
        .await
        .map_err(|e| match e {
            Error::NoAdapter { .. } => JsError::new(
                "this browser has WebGPU (navigator.gpu) but gave no adapter \
                 (navigator.gpu.requestAdapter() returned null): the GPU may be blocklisted or WebGPU \
                 turned off (see chrome://gpu); on Linux, start Chrome with --enable-unsafe-webgpu",
            ),
            other => js_error(other),
        })?;
    CONTEXT.with(|c| *c.borrow_mut() = Some(ctx.clone()));
    Ok(ctx)
}

fn set(object: &Object, key: &str, value: impl Into<JsValue>) {
    Reflect::set(object, &key.into(), &value.into()).expect("setting a field of a plain object");
}

/// The WebGPU adapter the page uses: `{name, backend, deviceType, driver, description, subgroups, shaderF16}`.
#[wasm_bindgen(js_name = adapterInfo, unchecked_return_type = "AdapterInfo")]
pub async fn adapter_info() -> Result<JsValue, JsError> {
    let ctx = context().await?;
    let info = &ctx.info;
    let features = ctx.device.features();
    let out = Object::new();
    set(&out, "name", info.name.as_str());
    set(&out, "backend", format!("{:?}", info.backend));
    set(&out, "deviceType", format!("{:?}", info.device_type));
    set(&out, "driver", info.driver.as_str());
    set(&out, "description", ctx.describe());
    set(
        &out,
        "subgroups",
        features.contains(wgpu::Features::SUBGROUP),
    );
    set(
        &out,
        "shaderF16",
        features.contains(wgpu::Features::SHADER_F16),
    );
    Ok(out.into())
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** The WebGPU adapter in use (see `adapterInfo`). */
export interface AdapterInfo {
  name: string;
  backend: string;
  deviceType: string;
  driver: string;
  /** "name (backend)" */
  description: string;
  subgroups: boolean;
  shaderF16: boolean;
}

/** Options of `MuonOptimizer.create`: a preset and the overrides of its defaults (the replay format's keys, in camelCase). */
export interface MuonOptions {
  /** Whose semantics to reproduce; "torch" by default. */
  preset?: "torch" | "keller" | "optax" | "keras" | "keras-3.12" | "moonlight";
  /** Muon's learning rate. */
  lr?: number;
  /** AdamW's learning rate. */
  adamLr?: number;
  weightDecay?: number;
  adamWeightDecay?: number;
  momentum?: number;
  nesterov?: boolean;
  nsSteps?: number;
  /** "a,b,c", "a,b,c;a,b,c;..." or "polar_express". */
  nsCoefficients?: string;
  eps?: number;
  adjustLr?: "original" | "match_rms_adamw" | "none";
  rmsScale?: number;
  adamBetas?: [number, number];
  adamEps?: number;
  /** Keras' base optimizer options (at most one clipping option). */
  clipnorm?: number;
  globalClipnorm?: number;
  clipvalue?: number;
  lossScaleFactor?: number;
  /** Update on every S-th step (S >= 2) with the mean of S gradients. */
  gradientAccumulationSteps?: number;
  /** Keep an exponential moving average of the parameters (`readAverage`). */
  useEma?: boolean;
  emaMomentum?: number;
  emaOverwriteFrequency?: number;
  /** A factor on every learning rate per step, e.g. "cosine:decay_steps=1000,alpha=0.1,warmup_steps=100". */
  lrSchedule?: string;
  /** Keras routing: ";"-separated regular expressions; matching names go to AdamW. */
  excludeLayers?: string;
  excludeEmbeddings?: boolean;
}

/** Loss and accuracy on the test digits. */
export interface Metrics { loss: number; accuracy: number }

/** A value for each run of a race. */
export interface Pair<T> { muon: T; adamw: T }

/** Options of `DigitsRace.create`; defaults in parentheses. */
export interface RaceOptions {
  /** Hidden widths ([128, 128], the MLP of `examples/train.rs`). */
  hidden?: number[];
  /** Minibatch size (64). */
  batch?: number;
  /** Seed of the initialization and of the minibatch order (0). */
  seed?: number;
  /** Muon's learning rate (0.01 for the digits, 0.02 for an image). */
  muonLr?: number;
  /** AdamW's learning rate next to Muon (0.01 for the digits, 3e-3 for an image). */
  auxLr?: number;
  /** The AdamW-only run's learning rate (0.01 for the digits, 3e-3 for an image). */
  adamwLr?: number;
}

/** Options of `ImageRace.create`: those of `RaceOptions` (batch in pixels, default 512; hidden [128, 128, 128]) and Fourier octaves (6). */
export interface ImageOptions extends RaceOptions {
  frequencies?: number;
}
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "MuonOptions")]
    pub type MuonOptions;
    #[wasm_bindgen(typescript_type = "RaceOptions")]
    pub type RaceOptions;
    #[wasm_bindgen(typescript_type = "ImageOptions")]
    pub type ImageOptions;
}

/// The fields of an options object, rejecting keys not in `known` (a typo would otherwise be ignored).
struct Fields(Option<Object>);

impl Fields {
    fn new(value: &JsValue, what: &str, known: &[&str]) -> Result<Self, JsError> {
        if value.is_undefined() || value.is_null() {
            return Ok(Self(None));
        }
        let object: Object = value
            .clone()
            .dyn_into()
            .map_err(|_| JsError::new(&format!("{what} must be an object")))?;
        for key in Object::keys(&object).iter() {
            let key = key.as_string().unwrap_or_default();
            if !known.contains(&key.as_str()) {
                return Err(JsError::new(&format!(
                    "unknown option `{key}` of {what} (expected one of {})",
                    known.join(", ")
                )));
            }
        }
        Ok(Self(Some(object)))
    }

    fn get(&self, key: &str) -> Option<JsValue> {
        let v = Reflect::get(self.0.as_ref()?, &key.into()).ok()?;
        (!v.is_undefined() && !v.is_null()).then_some(v)
    }

    fn number(&self, key: &str) -> Result<Option<f64>, JsError> {
        self.get(key)
            .map(|v| {
                v.as_f64()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| invalid(key, format!("{v:?}"), "must be a finite number"))
            })
            .transpose()
    }

    fn count(&self, key: &str) -> Result<Option<usize>, JsError> {
        self.number(key)?
            .map(|x| {
                if x >= 0.0 && x.fract() == 0.0 && x <= u32::MAX as f64 {
                    Ok(x as usize)
                } else {
                    Err(invalid(key, x, "must be a whole number >= 0"))
                }
            })
            .transpose()
    }

    fn string(&self, key: &str) -> Result<Option<String>, JsError> {
        self.get(key)
            .map(|v| {
                v.as_string()
                    .ok_or_else(|| invalid(key, format!("{v:?}"), "must be a string"))
            })
            .transpose()
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, JsError> {
        self.get(key)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| invalid(key, format!("{v:?}"), "must be true or false"))
            })
            .transpose()
    }

    fn numbers(&self, key: &str) -> Result<Option<Vec<f64>>, JsError> {
        self.get(key)
            .map(|v| {
                let bad = || invalid(key, format!("{v:?}"), "must be an array of numbers");
                if !Array::is_array(&v) {
                    return Err(bad());
                }
                Array::from(&v)
                    .iter()
                    .map(|x| x.as_f64().filter(|x| x.is_finite()).ok_or_else(bad))
                    .collect()
            })
            .transpose()
    }

    fn widths(&self, key: &str) -> Result<Option<Vec<usize>>, JsError> {
        self.numbers(key)?
            .map(|v| {
                v.iter()
                    .map(|&x| {
                        if x >= 1.0 && x.fract() == 0.0 && x <= 65536.0 {
                            Ok(x as usize)
                        } else {
                            Err(invalid(key, x, "every width must be a whole number >= 1"))
                        }
                    })
                    .collect()
            })
            .transpose()
    }
}

fn muon_settings(
    options: &JsValue,
) -> Result<(mw::Settings, mw::optimizer::NonFinitePolicy), JsError> {
    // The options are "preset" and the override keys, in camelCase (one table: overrides::KEYS).
    let known: Vec<&str> = std::iter::once("preset")
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
    let policy = o.non_finite.unwrap_or_default();
    Ok((preset.settings(&o).map_err(js_error)?, policy))
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
    /// Every method takes `&self` (so wasm-bindgen never throws "recursive use of an object");
    /// a call that needs the optimizer while a `readParameter` holds it gets a clear error.
    stage: RefCell<Stage>,
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
        let (settings, policy) = muon_settings(&options)?;
        let ctx = context().await?;
        let mut builder = OptimizerBuilder::new(&ctx, settings).map_err(js_error)?;
        builder.non_finite(policy);
        Ok(Self {
            ctx,
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
        builder
            .add(name, &shape, mw::Source::Host(values), route)
            .map_err(js_error)?;
        Ok(())
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

/// A pair of runs as a JS object `{muon, adamw}`.
fn pair(muon: impl Into<JsValue>, adamw: impl Into<JsValue>) -> JsValue {
    let out = Object::new();
    set(&out, "muon", muon);
    set(&out, "adamw", adamw);
    out.into()
}

fn losses(p: race::Pair<Vec<f64>>) -> JsValue {
    pair(
        Float64Array::from(p.muon.as_slice()),
        Float64Array::from(p.adamw.as_slice()),
    )
}

fn metrics(m: mw::nn::Metrics) -> JsValue {
    let out = Object::new();
    set(&out, "loss", m.loss);
    set(&out, "accuracy", m.accuracy);
    out.into()
}

const RACE_OPTIONS: &[&str] = &["hidden", "batch", "seed", "muonLr", "auxLr", "adamwLr"];

/// The demo's first mode: the digits MLP trained with Muon + AdamW and with AdamW alone, from the
/// same initialization on the same minibatches, both on the GPU.
#[wasm_bindgen]
pub struct DigitsRace {
    race: race::Race,
}

#[wasm_bindgen]
impl DigitsRace {
    /// Both runs, ready to train.
    pub async fn create(
        #[wasm_bindgen(unchecked_optional_param_type = "RaceOptions")] options: JsValue,
    ) -> Result<DigitsRace, JsError> {
        let f = Fields::new(&options, "DigitsRace.create's options", RACE_OPTIONS)?;
        let d = race::RaceConfig::default();
        let config = race::RaceConfig {
            hidden: f.widths("hidden")?.unwrap_or(d.hidden),
            batch: f.count("batch")?.unwrap_or(d.batch),
            seed: f.count("seed")?.map_or(d.seed, |s| s as u64),
            muon_lr: f.number("muonLr")?.unwrap_or(d.muon_lr),
            aux_lr: f.number("auxLr")?.unwrap_or(d.aux_lr),
            adamw_lr: f.number("adamwLr")?.unwrap_or(d.adamw_lr),
        };
        let ctx = context().await?;
        Ok(Self {
            race: race::Race::new(&ctx, config).map_err(js_error)?,
        })
    }

    /// Records `steps` steps of both runs and submits them; returns without waiting for the GPU.
    pub fn train(&mut self, steps: u32) -> Result<(), JsError> {
        self.race.train(steps as usize).map_err(js_error)
    }

    /// `{muon, adamw}`: the training loss of every step since the last call (`Float64Array`s).
    #[wasm_bindgen(js_name = readLosses, unchecked_return_type = "Pair<Float64Array>")]
    pub async fn read_losses(&mut self) -> Result<JsValue, JsError> {
        Ok(losses(self.race.read_losses().await.map_err(js_error)?))
    }

    /// `{muon, adamw}`: loss and accuracy of each run on the 360 test digits.
    #[wasm_bindgen(unchecked_return_type = "Pair<Metrics>")]
    pub async fn evaluate(&mut self) -> Result<JsValue, JsError> {
        let m = self.race.evaluate().await.map_err(js_error)?;
        Ok(pair(metrics(m.muon), metrics(m.adamw)))
    }

    /// Learning rates from the next step on: Muon's, AdamW's next to Muon, the AdamW-only run's.
    #[wasm_bindgen(js_name = setLearningRates)]
    pub fn set_learning_rates(
        &mut self,
        muon_lr: f64,
        aux_lr: f64,
        adamw_lr: f64,
    ) -> Result<(), JsError> {
        self.race
            .set_rates(muon_lr, aux_lr, adamw_lr)
            .map_err(js_error)
    }

    /// Steps taken by each run.
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> f64 {
        self.race.steps() as f64
    }

    /// Trainable parameters of the MLP.
    #[wasm_bindgen(getter, js_name = parameterCount)]
    pub fn parameter_count(&self) -> u32 {
        self.race.parameter_count() as u32
    }

    /// The MLP's layer widths, e.g. `[64, 128, 128, 10]`.
    #[wasm_bindgen(getter)]
    pub fn sizes(&self) -> Vec<u32> {
        let c = self.race.config();
        std::iter::once(64)
            .chain(c.hidden.iter().copied())
            .chain([10])
            .map(|s| s as u32)
            .collect()
    }
}

/// The default picture of the "fit an image" mode: `width × height × 3` values in `[0, 1]`.
#[wasm_bindgen(js_name = defaultImage)]
pub fn default_image(width: u32, height: u32) -> Vec<f32> {
    image::default_image(width as usize, height as usize)
}

/// The demo's second mode: two coordinate MLPs learn one image, one with Muon + AdamW and one
/// with AdamW alone.
#[wasm_bindgen]
pub struct ImageRace {
    fit: image::ImageFit,
}

#[wasm_bindgen]
impl ImageRace {
    /// Both runs on `rgb` (`width × height × 3` values in `[0, 1]`, row-major).
    pub async fn create(
        rgb: &[f32],
        width: u32,
        height: u32,
        #[wasm_bindgen(unchecked_optional_param_type = "ImageOptions")] options: JsValue,
    ) -> Result<ImageRace, JsError> {
        let known: Vec<&str> = RACE_OPTIONS
            .iter()
            .copied()
            .chain(["frequencies"])
            .collect();
        let f = Fields::new(&options, "ImageRace.create's options", &known)?;
        let d = image::ImageConfig::default();
        let config = image::ImageConfig {
            hidden: f.widths("hidden")?.unwrap_or(d.hidden),
            frequencies: f.count("frequencies")?.unwrap_or(d.frequencies).min(16),
            batch: f.count("batch")?.unwrap_or(d.batch),
            seed: f.count("seed")?.map_or(d.seed, |s| s as u64),
            muon_lr: f.number("muonLr")?.unwrap_or(d.muon_lr),
            aux_lr: f.number("auxLr")?.unwrap_or(d.aux_lr),
            adamw_lr: f.number("adamwLr")?.unwrap_or(d.adamw_lr),
        };
        let ctx = context().await?;
        let fit = image::ImageFit::new(&ctx, rgb, width as usize, height as usize, &config)
            .map_err(js_error)?;
        Ok(Self { fit })
    }

    /// Records `steps` steps of both runs and submits them.
    pub fn train(&mut self, steps: u32) -> Result<(), JsError> {
        self.fit.train(steps as usize).map_err(js_error)
    }

    /// `{muon, adamw}`: the training loss (mean squared error) of every step since the last call.
    #[wasm_bindgen(js_name = readLosses, unchecked_return_type = "Pair<Float64Array>")]
    pub async fn read_losses(&mut self) -> Result<JsValue, JsError> {
        Ok(losses(self.fit.read_losses().await.map_err(js_error)?))
    }

    /// `{muon, adamw}`: both reconstructions, `width × height × 3` values (`Float32Array`s).
    #[wasm_bindgen(unchecked_return_type = "Pair<Float32Array>")]
    pub async fn predict(&mut self) -> Result<JsValue, JsError> {
        let p = self.fit.predict().await.map_err(js_error)?;
        Ok(pair(
            Float32Array::from(p.muon.as_slice()),
            Float32Array::from(p.adamw.as_slice()),
        ))
    }

    /// Learning rates from the next step on: Muon's, AdamW's next to Muon, the AdamW-only run's.
    #[wasm_bindgen(js_name = setLearningRates)]
    pub fn set_learning_rates(
        &mut self,
        muon_lr: f64,
        aux_lr: f64,
        adamw_lr: f64,
    ) -> Result<(), JsError> {
        self.fit
            .set_rates(muon_lr, aux_lr, adamw_lr)
            .map_err(js_error)
    }

    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> f64 {
        self.fit.steps() as f64
    }

    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.fit.width() as u32
    }

    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.fit.height() as u32
    }
}

mod gpt;
pub use gpt::GptRace;
