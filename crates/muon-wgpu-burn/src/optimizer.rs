//! [`MuonWgpu`]: the optimizer a burn training loop calls, `step(lr, model, grads) -> model`.
//!
//! # A step
//!
//! 1. burn's side, per parameter with a gradient: the gradient's and the value's buffer ranges
//!    (after burn's pending work, see [`crate::bridge`]) and a fresh output tensor's.
//! 2. Our side, one command encoder, **one submit**: copy every gradient and value into the
//!    optimizer's buffers, record the muon-wgpu step (Muon for the matrices in same-shape
//!    batches, AdamW for the rest), copy every new value into its fresh burn tensor.
//! 3. The model gets the fresh tensors (with the parameters' autodiff state, as burn's
//!    optimizers restore it).
//!
//! A parameter without a gradient this step keeps its value and its optimizer state, as in
//! burn's `ModuleOptimizer` (its state is saved and restored around the step on the GPU). One
//! difference: AdamW's bias correction counts the optimizer's steps, where burn counts each
//! parameter's own.

use std::collections::HashMap;
use std::time::Instant;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use muon_wgpu::{Group, Optimizer};

use crate::bridge::{self, Pinned};
use crate::error::{Error, Result};
use crate::gpu::BurnWgpu;
use crate::params::{ParamEntry, collect};

/// A parameter as `init` saw it.
#[derive(Clone, Debug)]
pub(crate) struct Registered {
    path: String,
    id: ParamId,
    shape: Vec<usize>,
}

impl From<ParamEntry> for Registered {
    fn from(e: ParamEntry) -> Self {
        Self {
            path: e.path,
            id: e.id,
            shape: e.shape,
        }
    }
}

/// Muon (burn's semantics by default) for a burn model's matrices and AdamW for the rest, as
/// muon-wgpu's batched WebGPU kernels on burn's own wgpu device.
pub struct MuonWgpu {
    gpu: BurnWgpu,
    optimizer: Optimizer,
    params: Vec<Registered>,
    by_id: HashMap<ParamId, usize>,
    adam_lr_ratio: f64,
    /// Holds the state of parameters without a gradient across a step; grown on demand.
    scratch: Option<wgpu::Buffer>,
    last: StepTiming,
}

/// Where the last step's time went (host wall clock).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepTiming {
    /// Reaching burn's buffers (includes burn's pending work that had to be submitted first).
    pub gather_ms: f64,
    /// Recording and submitting our encoder (the GPU runs it asynchronously).
    pub submit_ms: f64,
    /// Parameters with a gradient (copied and updated) and without (state kept).
    pub stepped: usize,
    pub skipped: usize,
}

/// One parameter's buffers for this step.
struct Transfer {
    index: usize,
    grad: Pinned,
    value: Pinned,
    out: Pinned,
}

impl MuonWgpu {
    pub(crate) fn new(
        gpu: BurnWgpu,
        optimizer: Optimizer,
        params: Vec<Registered>,
        adam_lr_ratio: f64,
    ) -> Self {
        let by_id = params.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
        Self {
            gpu,
            optimizer,
            params,
            by_id,
            adam_lr_ratio,
            scratch: None,
            last: StepTiming::default(),
        }
    }

    /// The core optimizer (routing per parameter, state, statistics, `save_state`).
    pub fn core(&self) -> &Optimizer {
        &self.optimizer
    }

    /// Each parameter's burn path and group (`Muon(0)` or `AdamW(0)`), in registration order.
    pub fn routes(&self) -> Vec<(String, Group)> {
        (self.optimizer.params().iter())
            .map(|p| (p.name.clone(), p.route))
            .collect()
    }

    /// Steps taken.
    pub fn step_count(&self) -> u64 {
        self.optimizer.step_count()
    }

    /// The last step's timing.
    pub fn last_timing(&self) -> StepTiming {
        self.last
    }

    /// One optimizer step with learning rate `lr`: returns the model with updated parameters
    /// (fresh tensors; `module`'s own buffers are never written).
    ///
    /// Muon matrices: `W ← W·(1 − lr·wd) − lr·s(A, B)·NS(U)`; AdamW:
    /// `W ← W·(1 − lr_a·wd_a) − lr_a·m̂/(sqrt(v̂) + ε)` with `lr_a = lr × adam_lr_ratio`
    /// (see [`crate::preset`] for `U`, `NS` and `s`).
    ///
    /// Errors (nothing is submitted; the model is consumed, as the step takes it by value):
    /// [`Error::ModelChanged`] when `module`'s parameters are not those of `init`,
    /// [`Error::NotF32`] / [`Error::NotWgpu`] for a gradient of another dtype or device,
    /// [`Error::DeviceLost`] or a GPU error ([`Error::Core`]).
    pub fn step<M: Module>(&mut self, lr: f64, module: M, grads: GradientsParams) -> Result<M> {
        self.gpu.check()?;
        self.check_model(&module)?;
        self.set_lr(lr)?;
        let started = Instant::now();
        let mut mapper = StepMapper {
            path: Vec::new(),
            by_id: &self.by_id,
            params: &self.params,
            grads,
            device: self.gpu.device.clone().inner(),
            transfers: Vec::new(),
            error: None,
        };
        let module = module.map(&mut mapper);
        if let Some(e) = mapper.error {
            return Err(e);
        }
        let gathered = Instant::now();
        let transfers = mapper.transfers;
        self.submit(&transfers)?;
        drop(transfers); // unpins burn's allocations (our commands are already queued before any later use)
        self.last = StepTiming {
            gather_ms: ms(gathered - started),
            submit_ms: ms(gathered.elapsed()),
            stepped: self.last.stepped,
            skipped: self.last.skipped,
        };
        Ok(module)
    }

    /// Sets every group's rate: Muon `lr`, AdamW `lr × adam_lr_ratio`.
    fn set_lr(&mut self, lr: f64) -> Result<()> {
        let (muon, adam) = {
            let s = self.optimizer.settings();
            (s.muon.len(), s.adam.len())
        };
        for g in 0..muon {
            self.optimizer.set_lr(Group::Muon(g), lr)?;
        }
        for g in 0..adam {
            (self.optimizer).set_lr(Group::AdamW(g), lr * self.adam_lr_ratio)?;
        }
        Ok(())
    }

    /// The model must have exactly the parameters `init` registered, same paths and shapes.
    fn check_model<M: Module>(&self, module: &M) -> Result<()> {
        let now = collect(module);
        if now.len() != self.params.len() {
            return Err(Error::ModelChanged {
                reason: format!(
                    "{} float parameters, {} at init",
                    now.len(),
                    self.params.len()
                ),
            });
        }
        for (e, p) in now.iter().zip(&self.params) {
            if e.id != p.id || e.path != p.path || e.shape != p.shape {
                return Err(Error::ModelChanged {
                    reason: format!(
                        "`{}` {:?} where init had `{}` {:?}",
                        e.path, e.shape, p.path, p.shape
                    ),
                });
            }
        }
        Ok(())
    }

    /// One encoder, one submit: gradients and values in, the step, values out; the state of
    /// parameters without a gradient is saved before and restored after.
    fn submit(&mut self, transfers: &[Transfer]) -> Result<()> {
        let ctx = self.gpu.context.clone();
        let with_grad: Vec<usize> = transfers.iter().map(|t| t.index).collect();
        let without: Vec<usize> = (0..self.params.len())
            .filter(|i| !with_grad.contains(i))
            .collect();
        self.last.stepped = with_grad.len();
        self.last.skipped = without.len();
        let kept = self.kept_states(&without);
        let scratch = self.scratch_for(kept.iter().map(|r| r.bytes()).sum());
        scoped(&ctx, || {
            let mut encoder =
                (ctx.device).create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("muon-wgpu-burn step"),
                });
            let params = self.optimizer.params();
            for t in transfers {
                let ours = &params[t.index];
                copy(&mut encoder, &t.grad, &ours.grad);
                copy(&mut encoder, &t.value, &ours.value);
            }
            move_states(&mut encoder, &kept, scratch.as_ref(), true);
            self.optimizer.record_step(&mut encoder)?;
            move_states(&mut encoder, &kept, scratch.as_ref(), false);
            let params = self.optimizer.params();
            for t in transfers {
                let ours = &params[t.index].value;
                encoder.copy_buffer_to_buffer(
                    &ours.buffer,
                    ours.offset,
                    &t.out.buffer,
                    t.out.offset,
                    t.out.bytes,
                );
            }
            ctx.queue.submit([encoder.finish()]);
            Ok(())
        })?;
        Ok(())
    }

    /// The optimizer-state ranges of these parameters.
    fn kept_states(&self, indices: &[usize]) -> Vec<muon_wgpu::BufferRange> {
        let params = self.optimizer.params();
        (indices.iter())
            .flat_map(|&i| {
                params[i]
                    .state()
                    .named()
                    .into_iter()
                    .map(|(_, r)| r.clone())
            })
            .collect()
    }

    fn scratch_for(&mut self, bytes: u64) -> Option<wgpu::Buffer> {
        if bytes == 0 {
            return None;
        }
        let big_enough = self.scratch.as_ref().is_some_and(|b| b.size() >= bytes);
        if !big_enough {
            self.scratch = Some(
                self.gpu
                    .context
                    .device
                    .create_buffer(&wgpu::BufferDescriptor {
                        label: Some("muon-wgpu-burn kept state"),
                        size: bytes,
                        usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    }),
            );
        }
        self.scratch.clone()
    }

    /// The optimizer's state as safetensors bytes (moments, step count; our parameter copies
    /// as of the last step), like burn's `to_record`. Waits for the GPU.
    pub fn to_record(&self) -> Result<Vec<u8>> {
        Ok(pollster::block_on(self.optimizer.save_state())?)
    }

    /// Restores a state saved by [`MuonWgpu::to_record`] from an optimizer of the same model
    /// and settings (typed errors on any mismatch), like burn's `load_record`.
    pub fn load_record(mut self, record: &[u8]) -> Result<Self> {
        self.optimizer.load_state(record)?;
        Ok(self)
    }
}

/// Runs `f` with the device's GPU errors captured by error scopes: an error of this step's own
/// commands is returned as [`Error::Core`] (`Gpu`), a loss as [`Error::DeviceLost`].
fn scoped(ctx: &muon_wgpu::GpuContext, f: impl FnOnce() -> muon_wgpu::Result<()>) -> Result<()> {
    ctx.health().check()?;
    let device = &ctx.device;
    let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
    let out = f();
    let errors: Vec<wgpu::Error> = [internal.pop(), validation.pop(), oom.pop()]
        .into_iter()
        .filter_map(pollster::block_on)
        .collect();
    ctx.health().check()?;
    out?;
    match errors.first() {
        Some(e) => Err(muon_wgpu::Error::Gpu {
            operation: "muon-wgpu-burn step".into(),
            message: e.to_string(),
        }
        .into()),
        None => Ok(()),
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn copy(encoder: &mut wgpu::CommandEncoder, from: &Pinned, to: &muon_wgpu::BufferRange) {
    encoder.copy_buffer_to_buffer(&from.buffer, from.offset, &to.buffer, to.offset, from.bytes);
}

/// Copies each range into consecutive places of `scratch` (`save`) or back.
fn move_states(
    encoder: &mut wgpu::CommandEncoder,
    ranges: &[muon_wgpu::BufferRange],
    scratch: Option<&wgpu::Buffer>,
    save: bool,
) {
    let Some(scratch) = scratch else { return };
    let mut at = 0;
    for r in ranges {
        if save {
            encoder.copy_buffer_to_buffer(&r.buffer, r.offset, scratch, at, r.bytes());
        } else {
            encoder.copy_buffer_to_buffer(scratch, at, &r.buffer, r.offset, r.bytes());
        }
        at += r.bytes();
    }
}

/// Visits the parameters as burn's `ModuleOptimizer` does, swapping each one that has a
/// gradient for a fresh tensor and noting the copies to make.
struct StepMapper<'a> {
    path: Vec<String>,
    by_id: &'a HashMap<ParamId, usize>,
    params: &'a [Registered],
    grads: GradientsParams,
    device: Device,
    transfers: Vec<Transfer>,
    error: Option<Error>,
}

impl StepMapper<'_> {
    fn plan<const D: usize>(
        &mut self,
        index: usize,
        value: Tensor<D>,
        grad: Tensor<D>,
    ) -> Result<Tensor<D>> {
        let name = &self.params[index].path;
        if grad.device().inner() != self.device {
            return Err(Error::NotWgpu {
                name: format!("{name} (gradient)"),
                reason: format!("on {:?}, expected {:?}", grad.device(), self.device),
            });
        }
        let shape = value.shape();
        let grad = bridge::read(name, grad)?;
        let context = ParameterContext::capture(&value);
        let value = bridge::read(name, value)?;
        let (fresh, out) = bridge::fresh::<D>(name, shape, &self.device)?;
        self.transfers.push(Transfer {
            index,
            grad,
            value,
            out,
        });
        Ok(context.restore(fresh))
    }
}

impl ModuleMapper for StepMapper<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.into());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        if self.error.is_some() {
            return Param::from_mapped_value(id, tensor, mapper);
        }
        let Some(&index) = self.by_id.get(&id) else {
            self.error = Some(Error::ModelChanged {
                reason: format!("`{}` was not registered", self.path.join(".")),
            });
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        match self.plan(index, tensor.clone(), grad) {
            Ok(fresh) => Param::from_mapped_value(id, fresh, mapper),
            Err(e) => {
                self.error = Some(e);
                Param::from_mapped_value(id, tensor, mapper)
            }
        }
    }
}

/// The autodiff state a parameter carries (burn-optim's `ParameterContext`): the updated value
/// comes back with autodiff, the same `require_grad` and checkpointing strategy.
struct ParameterContext {
    require_grad: bool,
    checkpointing: Option<burn::tensor::GradientCheckpointingStrategy>,
}

impl ParameterContext {
    fn capture<const D: usize>(parameter: &Tensor<D>) -> Self {
        Self {
            require_grad: parameter.is_require_grad(),
            checkpointing: parameter.gradient_checkpointing_strategy(),
        }
    }

    fn restore<const D: usize>(self, updated: Tensor<D>) -> Tensor<D> {
        let mut parameter = Tensor::from_inner(updated);
        if let Some(strategy) = self.checkpointing {
            parameter = parameter.with_gradient_checkpointing_strategy(strategy);
        }
        if self.require_grad {
            parameter = parameter.require_grad();
        }
        parameter
    }
}
