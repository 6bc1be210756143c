//! [`MuonWgpu`]: the optimizer a burn training loop calls, `step(lr, model, grads) -> model`.
//!
//! # A step
//!
//! 1. burn's side ([`crate::step`]): the gradients, concatenated; the values burn holds that are
//!    not the ones we returned last step, concatenated; one fresh output tensor, of which every
//!    stepped parameter gets a view. Three buffers, reached after burn's pending work (see
//!    [`crate::bridge`]).
//! 2. Our side, one command encoder, **one submit**: copy every gradient (and changed value)
//!    into the optimizer's buffers, record the muon-wgpu step (Muon for the matrices in
//!    same-shape batches, AdamW for the rest), copy every new value into the fresh output.
//! 3. The model gets its views of the output (with the parameters' autodiff state, as burn's
//!    optimizers restore it).
//!
//! A parameter without a gradient this step keeps its value and its optimizer state, as in
//! burn's `ModuleOptimizer` (its state is saved and restored around the step on the GPU). One
//! difference: AdamW's bias correction counts the optimizer's steps, where burn counts each
//! parameter's own.

use std::collections::HashMap;
use std::time::Instant;

use burn::module::{Module, ParamId};
use burn::optim::GradientsParams;
use muon_wgpu::{Group, Optimizer};

use crate::bridge::Pinned;
use crate::error::{Error, Result};
use crate::gpu::BurnWgpu;
use crate::params::{ParamEntry, collect};
use crate::step::{Gathered, ViewMapper, gather};

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
    /// Elements of each parameter.
    lens: Vec<usize>,
    /// burn's identity of the tensor we returned for each parameter last step: while the model
    /// still holds it, our copy of the value is current and is not copied in again.
    returned: Vec<Option<u64>>,
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
    /// The whole call, from `step` to its return.
    pub step_ms: f64,
    /// Checking the model against the registry and the device's health.
    pub check_ms: f64,
    /// Parameters with a gradient (copied and updated) and without (state kept).
    pub stepped: usize,
    pub skipped: usize,
    /// Stepped parameters whose value was copied in (changed outside the optimizer, or first step).
    pub values_copied: usize,
}

impl MuonWgpu {
    pub(crate) fn new(
        gpu: BurnWgpu,
        optimizer: Optimizer,
        params: Vec<Registered>,
        adam_lr_ratio: f64,
    ) -> Self {
        let by_id = params.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
        let lens: Vec<usize> = params.iter().map(|p| p.shape.iter().product()).collect();
        Self {
            gpu,
            optimizer,
            returned: vec![None; params.len()],
            params,
            by_id,
            lens,
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
    /// (views of one fresh tensor; `module`'s own buffers are never written). One submit of
    /// ours per step, after burn's pending work.
    ///
    /// Muon matrices: `W ← W·(1 − lr·wd) − lr·s(A, B)·NS(U)`; AdamW:
    /// `W ← W·(1 − lr_a·wd_a) − lr_a·m̂/(sqrt(v̂) + ε)` with `lr_a = lr × adam_lr_ratio`
    /// (see [`crate::preset`] for `U`, `NS` and `s`).
    ///
    /// Errors (nothing of ours is submitted, except for a GPU error of our submit itself; the
    /// model is consumed, as the step takes it by value):
    /// [`Error::ModelChanged`] when `module`'s parameters are not those of `init`,
    /// [`Error::NotF32`] / [`Error::NotWgpu`] for a gradient of another dtype or device,
    /// [`Error::DeviceLost`] or a GPU error ([`Error::Core`]).
    pub fn step<M: Module>(&mut self, lr: f64, module: M, grads: GradientsParams) -> Result<M> {
        let started = Instant::now();
        self.gpu.check()?;
        self.check_model(&module)?;
        self.set_lr(lr)?;
        self.last.check_ms = ms(started.elapsed());
        let result = self.map_and_submit(module, grads);
        if result.is_err() {
            // Our copies of the values may not match what burn holds any more.
            self.returned.iter_mut().for_each(|r| *r = None);
        }
        let module = result?;
        self.last.step_ms = ms(started.elapsed());
        Ok(module)
    }

    fn map_and_submit<M: Module>(&mut self, module: M, grads: GradientsParams) -> Result<M> {
        let started = Instant::now();
        let device = self.gpu.device.clone().inner();
        let (gathered, out) = gather(
            &module,
            &grads,
            &self.by_id,
            &self.lens,
            &self.returned,
            &device,
        )?;
        let submitting = Instant::now();
        self.submit(&gathered)?;
        let at: HashMap<usize, usize> = gathered.slots.iter().map(|s| (s.index, s.at)).collect();
        // Our step moved the values of parameters without a gradient too (their state is
        // restored, their values are not): copy burn's in again next time.
        (self.returned.iter_mut().enumerate())
            .filter(|(i, _)| !at.contains_key(i))
            .for_each(|(_, r)| *r = None);
        let module = module.map(&mut ViewMapper {
            by_id: &self.by_id,
            lens: &self.lens,
            at,
            out,
            returned: &mut self.returned,
        });
        drop(gathered); // unpins burn's buffers: our commands are queued before any later use
        self.last.gather_ms = ms(submitting - started);
        self.last.submit_ms = ms(submitting.elapsed());
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

    /// One encoder, one submit: gradients (and changed values) in, the step, values out; the
    /// state of parameters without a gradient is saved before and restored after.
    fn submit(&mut self, g: &Gathered) -> Result<()> {
        let ctx = self.gpu.context.clone();
        let stepped: Vec<usize> = g.slots.iter().map(|s| s.index).collect();
        let without: Vec<usize> = (0..self.params.len())
            .filter(|i| !stepped.contains(i))
            .collect();
        self.last.stepped = stepped.len();
        self.last.skipped = without.len();
        self.last.values_copied = g.slots.iter().filter(|s| s.value_at.is_some()).count();
        let kept = self.kept_states(&without);
        let scratch = self.scratch_for(kept.iter().map(|r| r.bytes()).sum());
        scoped(&ctx, || {
            let mut encoder =
                (ctx.device).create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("muon-wgpu-burn step"),
                });
            let params = self.optimizer.params();
            for s in &g.slots {
                let ours = &params[s.index];
                if let Some(grads) = &g.grads {
                    copy_in(&mut encoder, grads, s.at, &ours.grad);
                }
                if let (Some(values), Some(at)) = (&g.values, s.value_at) {
                    copy_in(&mut encoder, values, at, &ours.value);
                }
            }
            move_states(&mut encoder, &kept, scratch.as_ref(), true);
            self.optimizer.record_step(&mut encoder)?;
            move_states(&mut encoder, &kept, scratch.as_ref(), false);
            if let Some(out) = &g.out {
                let params = self.optimizer.params();
                for s in &g.slots {
                    let ours = &params[s.index].value;
                    let to = out.offset + s.at as u64 * 4;
                    encoder.copy_buffer_to_buffer(
                        &ours.buffer,
                        ours.offset,
                        &out.buffer,
                        to,
                        ours.bytes(),
                    );
                }
            }
            ctx.queue.submit([encoder.finish()]);
            Ok(())
        })
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
    /// and settings, like burn's `load_record`. Borrows rather than consumes, so that on a
    /// typed error (another model, other settings, a damaged record) the optimizer is kept,
    /// unchanged: everything is checked before anything is written.
    pub fn load_record(&mut self, record: &[u8]) -> Result<()> {
        self.optimizer.load_state(record)?;
        // The loaded values are the record's: the model's are copied in at the next step.
        self.returned.iter_mut().for_each(|r| *r = None);
        Ok(())
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

/// Copies one parameter's part of a gathered buffer (from element `at`) into our range.
fn copy_in(
    encoder: &mut wgpu::CommandEncoder,
    from: &Pinned,
    at: usize,
    to: &muon_wgpu::BufferRange,
) {
    let offset = from.offset + at as u64 * 4;
    encoder.copy_buffer_to_buffer(&from.buffer, offset, &to.buffer, to.offset, to.bytes());
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
