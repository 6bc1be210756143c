//! Muon for the matrices, AdamW for the rest, as recorded WebGPU kernels.
//!
//! # Algorithm
//!
//! Per step `t` and Muon matrix `G` (rank > 2 viewed as `(shape[0], -1)`), as KellerJordan's
//! `muon_update` and optax's `muon` chain ([`muon`] records it):
//! ```text
//! M ← β·M + (1−β)·G;   U = β·M + (1−β)·G  (Nesterov)          momentum
//! X₀ = U / (‖U‖_F + ε)                                         normalize
//! Xₖ₊₁ = aₖ·Xₖ + (bₖ·A + cₖ·A²)·Xₖ,  A = Xₖ·Xₖᵀ                 newton_schulz
//! W ← W·(1 − lr·wd) − lr·s(rows, cols)·X                        shape scale and update
//! ```
//! and AdamW for every other parameter ([`adamw`]); the exact variants are
//! [`MuonConfig`](crate::MuonConfig)'s and [`AdamWConfig`](crate::AdamWConfig)'s.
//!
//! # Data flow
//!
//! [`OptimizerBuilder`] collects parameters (the registry), then [`OptimizerBuilder::build`]
//! runs three stages once, each feeding the next: [`layout`] (pure: batches of same-shape
//! matrices, waves, padded places, AdamW arenas), [`buffers`] (allocation and upload) and the
//! recording of every kernel launch, in one list ([`Recorder::record`]: the non-finite scan,
//! Keras's gradient transforms, per wave [`muon`]'s stages, [`adamw`], Keras's EMA). A step
//! ([`Optimizer::step`]) writes the step scalars and replays the launches in one compute pass,
//! one submit.

mod adamw;
mod buffers;
mod builder;
mod keras;
pub mod layout;
mod muon;
mod newton_schulz;
mod non_finite;
mod optax;
mod optax_buffers;
mod step;

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::gpu::readback::{read_ranges, BufferRange};
use crate::gpu::GpuContext;
use crate::kernels::tune::TuneReport;
use crate::kernels::{Dispatch, NsVariant};
use crate::settings::{Group, Settings};
use crate::shape::check_length;

pub use buffers::{ParamInfo, ParamState, Source};
pub use builder::OptimizerBuilder;
pub use non_finite::{NonFinitePolicy, WINDOW as SKIP_STEP_WINDOW};

use buffers::StepBuffers;
use layout::Layout;

/// Everything the launches of a step are recorded from: the outputs of the layout and
/// allocation stages, and the options' buffers.
struct Recorder<'a> {
    device: &'a wgpu::Device,
    kernels: &'a crate::kernels::Kernels,
    settings: &'a Settings,
    layout: &'a Layout,
    buffers: &'a buffers::Buffers,
    /// The Keras base optimizer's options' buffers.
    keras: &'a keras::Extras,
    /// The skip_step policy's buffers; `None` under `propagate`.
    skip: Option<&'a non_finite::SkipStep>,
}

/// The recorded launches a call to `step` replays.
struct Launches {
    /// An update step.
    update: Vec<Dispatch>,
    /// A call between the updates of gradient accumulation.
    accumulate_only: Vec<Dispatch>,
}

impl Recorder<'_> {
    /// Every kernel launch of a step, in the order they run. The one dispatch list: each
    /// option records its own launches ([`non_finite`], [`keras`], [`optax`] from
    /// within Muon's stages), none elsewhere.
    fn record(&self) -> Launches {
        let mut update = Vec::new();
        // skip_step: scan the gradients, choose the step scalars, zero a skipped step's gradients.
        non_finite::record(self, &mut update);
        // Keras: accumulate or unscale, then clip the gradients.
        keras::transforms(self, &mut update);
        for wave in &self.layout.waves {
            muon::clear(self, wave, &mut update);
            let runs = muon::momentum(self, wave, &mut update);
            muon::precondition(self, wave, &mut update);
            let orthogonalized = muon::newton_schulz(self, wave, &mut update);
            muon::update(self, &runs, &orthogonalized, &mut update);
        }
        adamw::record(self, &mut update);
        keras::ema(self, &mut update);

        let mut accumulate_only = Vec::new();
        keras::accumulate(self, &mut accumulate_only);
        keras::ema(self, &mut accumulate_only);
        Launches {
            update,
            accumulate_only,
        }
    }
}

/// What a step costs, for users sizing the optimizer on their GPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepStats {
    pub dispatches: usize,
    pub compute_passes: usize,
    /// Distinct `(group, rows, cols)` Muon shapes.
    pub muon_shapes: usize,
    pub muon_params: usize,
    pub adam_params: usize,
    pub param_bytes: u64,
    /// Momentum, first and second moments.
    pub state_bytes: u64,
    /// Newton-Schulz scratch and step scalars.
    pub workspace_bytes: u64,
    /// The Newton-Schulz kernel variant the plan uses.
    pub ns_variant: Option<NsVariant>,
    /// Groups of shapes whose Newton-Schulz products share dispatches (one unless the
    /// workspace of every shape together exceeds one binding).
    pub ns_waves: usize,
    /// Each distinct pipeline's first dispatch when the optimizer was built (its compile time on
    /// a CPU driver; see [`crate::kernels::warm_up`]), by launch label.
    pub compiles: Vec<(&'static str, std::time::Duration)>,
}

impl StepStats {
    fn new(
        layout: &Layout,
        buffers: &buffers::Buffers,
        dispatches: usize,
        variant: NsVariant,
    ) -> Self {
        let mut shapes: Vec<_> = (layout.batches.iter())
            .map(|b| (b.group, b.rows, b.cols))
            .collect();
        shapes.sort_unstable();
        shapes.dedup();
        let params = &buffers.params;
        let steps = &buffers.steps;
        Self {
            compiles: Vec::new(),
            dispatches,
            compute_passes: 1,
            muon_shapes: shapes.len(),
            muon_params: params
                .iter()
                .filter(|p| matches!(p.route, Group::Muon(_)))
                .count(),
            adam_params: params
                .iter()
                .filter(|p| matches!(p.route, Group::AdamW(_)))
                .count(),
            param_bytes: params.iter().map(|p| p.value.bytes()).sum(),
            state_bytes: buffers.state_bytes,
            workspace_bytes: buffers.workspace.bytes()
                + buffers.optax.bytes()
                + steps.muon.size()
                + steps.adam.size(),
            ns_variant: Some(variant),
            ns_waves: layout.waves.len(),
        }
    }
}

/// Muon for the matrices, AdamW for the rest, on the GPU.
pub struct Optimizer {
    ctx: GpuContext,
    settings: Settings,
    params: Vec<ParamInfo>,
    index: HashMap<String, usize>,
    /// The layout's Muon batches: their groups and shape scales, for the step scalars.
    batches: Vec<layout::MuonBatch>,
    steps: StepBuffers,
    /// The launches of an update step ([`Recorder::record`]).
    dispatches: Vec<Dispatch>,
    /// The launches of a call between the updates of gradient accumulation.
    accumulate_only: Vec<Dispatch>,
    step: u64,
    stats: StepStats,
    tune_report: Option<TuneReport>,
    /// The skip_step policy's buffers; `None` under `propagate`.
    skip: Option<Box<non_finite::SkipStep>>,
    /// Per parameter, whether the host wrote its gradient: see [`Optimizer::step`].
    fresh: Vec<std::sync::atomic::AtomicU8>,
    allow_stale: bool,
    /// The Keras base optimizer's options: their buffers and the call count.
    extras: Box<keras::Extras>,
}

/// [`Optimizer::fresh`]: never written from the host (a GPU writes it), written since the
/// last step, written before the last step only.
const NEVER_WRITTEN: u8 = 0;
const FRESH: u8 = 1;
const STALE: u8 = 2;

/// The largest step count a state file or [`Optimizer::set_step_count`] may set (every count
/// below is exact in the f64 the step scalars are computed in).
pub const MAX_STEP: u64 = 1 << 53;

impl Optimizer {
    /// The GPU context.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// The current settings (learning rates and weight decays reflect any changes).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Steps taken so far. Under the `skip_step` policy, steps skipped for a NaN or Inf
    /// gradient do not count; the count is exact after a readback ([`Optimizer::read_all`],
    /// [`Optimizer::skipped_steps`], [`Optimizer::save_state`]) and counts every step
    /// recorded since as taken until the next.
    pub fn step_count(&self) -> u64 {
        match &self.skip {
            Some(skip) => {
                let c = skip.counts();
                c.t_sync + c.recorded
            }
            None => self.step,
        }
    }

    /// Sets the number of steps taken (for resuming); bias corrections follow it. At most
    /// [`MAX_STEP`]. Under gradient accumulation the micro-step count restarts at `step · S`.
    pub fn set_step_count(&mut self, step: u64) -> Result<()> {
        if step > MAX_STEP {
            return Err(Error::InvalidHyperparameter {
                key: "step".into(),
                value: step.to_string(),
                reason: format!("at most {MAX_STEP}"),
            });
        }
        self.step = step;
        self.extras.calls = step.saturating_mul(self.settings.keras.steps_per_update());
        if let Some(skip) = &self.skip {
            let mut c = skip.counts();
            c.t_sync = step;
            c.recorded = 0;
            c.table_dirty = true;
            drop(c);
            // The GPU's count of steps applied since restarts with the host's.
            self.ctx
                .queue
                .write_buffer(self.skip_control().expect("skip_step"), 4, &[0; 4]);
        }
        Ok(())
    }

    /// Calls to `step` so far: the updates taken times `S` under gradient accumulation.
    pub fn call_count(&self) -> u64 {
        self.extras.calls
    }

    /// Reads a parameter's moving average (`use_ema`; waits for the GPU).
    pub async fn read_average(&self, name: &str) -> Result<Vec<f32>> {
        let i = *self
            .index
            .get(name)
            .ok_or_else(|| Error::UnknownParameter { name: name.into() })?;
        let range = self
            .average(i)
            .ok_or_else(|| Error::InvalidHyperparameter {
                key: "use_ema".into(),
                value: "false".into(),
                reason: format!("no moving average of `{name}` is kept"),
            })?;
        Ok(read_ranges(&self.ctx, &[range]).await?.remove(0))
    }

    /// Where a parameter's moving average lives (`use_ema`; `i` in registration order).
    pub(crate) fn average(&self, i: usize) -> Option<BufferRange> {
        self.extras.averages.get(i).map(|b| BufferRange {
            buffer: b.clone(),
            offset: 0,
            len: self.params[i].value.len,
        })
    }

    /// Whether [`Optimizer::step`] may reuse a gradient the host wrote before the last step
    /// (default: no, a typed error; parameters whose gradient only a GPU writes are never
    /// checked).
    pub fn allow_stale_gradients(&mut self, allowed: bool) {
        self.allow_stale = allowed;
    }

    /// What one step records and how much memory the optimizer holds.
    pub fn stats(&self) -> &StepStats {
        &self.stats
    }

    /// How the Newton-Schulz kernel variant was chosen (`None` when the builder was given one).
    pub fn tune_report(&self) -> Option<&TuneReport> {
        self.tune_report.as_ref()
    }

    /// Every parameter, in registration order.
    pub fn params(&self) -> &[ParamInfo] {
        &self.params
    }

    /// One parameter by name.
    pub fn param(&self, name: &str) -> Result<&ParamInfo> {
        self.index
            .get(name)
            .map(|&i| &self.params[i])
            .ok_or_else(|| Error::UnknownParameter { name: name.into() })
    }

    /// Changes a group's learning rate; takes effect at the next recorded step, no rebuild.
    pub fn set_lr(&mut self, group: Group, lr: f64) -> Result<()> {
        self.set_hyper(group, "lr", lr, |m| &mut m.lr, |a| &mut a.lr)
    }

    /// Changes a group's weight decay; takes effect at the next recorded step, no rebuild.
    pub fn set_weight_decay(&mut self, group: Group, wd: f64) -> Result<()> {
        self.set_hyper(
            group,
            "weight_decay",
            wd,
            |m| &mut m.weight_decay,
            |a| &mut a.weight_decay,
        )
    }

    fn set_hyper(
        &mut self,
        group: Group,
        key: &str,
        value: f64,
        muon: impl Fn(&mut crate::settings::MuonConfig) -> &mut f64,
        adam: impl Fn(&mut crate::settings::AdamWConfig) -> &mut f64,
    ) -> Result<()> {
        // As strict as torch's: a learning rate or weight decay is finite and >= 0.
        if !value.is_finite() || value < 0.0 {
            return Err(Error::InvalidHyperparameter {
                key: key.into(),
                value: value.to_string(),
                reason: "must be finite and >= 0".into(),
            });
        }
        let missing = |kind: &'static str, g: usize, available: usize| Error::UnknownGroup {
            name: format!("<{key}>"),
            kind,
            group: g,
            available,
        };
        match group {
            Group::Muon(g) => {
                let n = self.settings.muon.len();
                *muon(
                    self.settings
                        .muon
                        .get_mut(g)
                        .ok_or_else(|| missing("Muon", g, n))?,
                ) = value;
            }
            Group::AdamW(g) => {
                let n = self.settings.adam.len();
                *adam(
                    self.settings
                        .adam
                        .get_mut(g)
                        .ok_or_else(|| missing("AdamW", g, n))?,
                ) = value;
            }
        }
        if let Some(skip) = &self.skip {
            skip.counts().table_dirty = true;
        }
        Ok(())
    }

    fn check_len(&self, name: &str, what: &str, values: &[f32]) -> Result<&ParamInfo> {
        let p = self.param(name)?;
        check_length(name, what, &p.shape, p.value.len, values.len())?;
        Ok(p)
    }

    fn write(&self, p: &ParamInfo, range: &BufferRange, what: &str, values: &[f32]) -> Result<()> {
        write_host(&self.ctx, &p.name, range, what, values)
    }

    /// Uploads a gradient from the host (staged on the queue; used by the next submit).
    pub fn write_gradient(&self, name: &str, values: &[f32]) -> Result<()> {
        let p = self.check_len(name, "gradient", values)?;
        self.ctx.scoped("write_gradient", || {
            self.write(p, &p.grad, "gradient", values)
        })?;
        self.fresh[self.index[name]].store(FRESH, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Overwrites a parameter's value from the host.
    pub fn write_parameter(&self, name: &str, values: &[f32]) -> Result<()> {
        let p = self.check_len(name, "value", values)?;
        self.ctx.scoped("write_parameter", || {
            self.write(p, &p.value, "value", values)
        })
    }

    /// The first parameter whose host-written gradient was already used by a step, unless
    /// stale gradients are allowed.
    fn check_fresh_gradients(&self) -> Result<()> {
        if self.allow_stale {
            return Ok(());
        }
        let stale =
            (self.fresh.iter()).position(|f| f.load(std::sync::atomic::Ordering::Relaxed) == STALE);
        match stale {
            Some(i) => Err(Error::StaleGradient {
                name: self.params[i].name.clone(),
            }),
            None => Ok(()),
        }
    }

    /// After a step: every gradient the host wrote has been used.
    fn mark_gradients_used(&self) {
        for f in &self.fresh {
            let _ = f.compare_exchange(
                FRESH,
                STALE,
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
    }

    /// Reads a parameter's current value (waits for the GPU).
    pub async fn read_parameter(&self, name: &str) -> Result<Vec<f32>> {
        let p = self.param(name)?;
        self.readable(p, &p.value, "value")?;
        Ok(read_ranges(&self.ctx, std::slice::from_ref(&p.value))
            .await?
            .remove(0))
    }

    fn readable(&self, p: &ParamInfo, range: &BufferRange, what: &str) -> Result<()> {
        if range.buffer.usage().contains(wgpu::BufferUsages::COPY_SRC) {
            Ok(())
        } else {
            Err(Error::InvalidBuffer {
                name: p.name.clone(),
                what: what.into(),
                reason: "reading back needs COPY_SRC usage".into(),
            })
        }
    }

    /// Reads every parameter and its state in one readback: `(tensor name, shape, values)`
    /// with names `param/<name>` and `state/<name>/<momentum|exp_avg|exp_avg_sq>`, then
    /// `ema/<name>` with `use_ema`.
    pub async fn read_all(&self) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>> {
        // Under skip_step, the step count is brought up to date with the state.
        self.sync_skips().await?;
        let mut names = Vec::new();
        let mut ranges = Vec::new();
        for p in &self.params {
            self.readable(p, &p.value, "value")?;
            names.push((format!("param/{}", p.name), p.shape.clone(), None));
            ranges.push(p.value.clone());
            for (kind, range) in p.state.named() {
                // A packed mu_dtype first moment is read as words and widened to f32 here.
                let first = kind == "momentum" || kind == "exp_avg";
                let packed = (first && p.mu_dtype.packed()).then_some(p.mu_dtype);
                names.push((format!("state/{}/{kind}", p.name), p.shape.clone(), packed));
                ranges.push(range.clone());
            }
        }
        for (i, p) in self.params.iter().enumerate() {
            if let Some(range) = self.average(i) {
                names.push((format!("ema/{}", p.name), p.shape.clone(), None));
                ranges.push(range);
            }
        }
        let values = read_ranges(&self.ctx, &ranges).await?;
        Ok(names
            .into_iter()
            .zip(values)
            .map(|((n, s, packed), v)| match packed {
                Some(dtype) => {
                    let words: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
                    let len = s.iter().product();
                    (n, s, dtype.unpack(&words, len))
                }
                None => (n, s, v),
            })
            .collect())
    }

    /// Whether the optimizer owns this parameter's buffers (registered from host data).
    pub fn owns(&self, name: &str) -> Result<bool> {
        Ok(self.param(name)?.owned)
    }
}

/// Stages `values` into `range` on the queue (used by the next submit); the buffer `what` of
/// parameter `name` must have COPY_DST usage. Shared with the distributed optimizer.
pub(crate) fn write_host(
    ctx: &GpuContext,
    name: &str,
    range: &BufferRange,
    what: &str,
    values: &[f32],
) -> Result<()> {
    if !range.buffer.usage().contains(wgpu::BufferUsages::COPY_DST) {
        return Err(Error::InvalidBuffer {
            name: name.into(),
            what: what.into(),
            reason: "writing from the host needs COPY_DST usage".into(),
        });
    }
    ctx.queue
        .write_buffer(&range.buffer, range.offset, bytemuck::cast_slice(values));
    Ok(())
}
