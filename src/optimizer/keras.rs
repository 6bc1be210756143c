//! The Keras base optimizer's options on the GPU ([`crate::settings::keras`] has the formulas): the
//! launches recorded once around the core step, and the buffers they own.
//!
//! ```text
//! update step:      [unscale | accumulate(apply)] → [sum_squares → clip_factors] → clip
//!                   → Muon and AdamW → ema
//! accumulate only:  accumulate(add) → ema
//! ```
//! One launch per tensor (gradient or parameter range), `clip_factors` once. The host chooses
//! which list a step replays, and writes the EMA factor with the step scalars: nothing is read
//! back.

use wgpu::util::DeviceExt;

use crate::kernels::keras::{EmaStep, OptionKernels, Segment, NORM_PARTIALS};
use crate::kernels::Dispatch;
use crate::settings::keras::{Clip, StepOptions};

use super::buffers::{storage_buffer, ParamInfo};

/// The options' launches and buffers, and the count of calls to `step`.
pub(super) struct Extras {
    /// The launches of a step that only accumulates (gradient accumulation between updates).
    pub accumulate_only: Vec<Dispatch>,
    /// Per parameter (registration order): its EMA, when `use_ema`.
    pub averages: Vec<wgpu::Buffer>,
    ema_step: Option<wgpu::Buffer>,
    /// Calls to `step` so far (micro-steps under accumulation).
    pub calls: u64,
    /// Accumulators, EMA, norm tables.
    pub bytes: u64,
}

fn segment(range: &crate::gpu::readback::BufferRange) -> Segment {
    Segment {
        offset: (range.offset / 4) as u32,
        len: range.len as u32,
        ..Default::default()
    }
}

impl Extras {
    /// Records the options' launches around `core` (the Muon and AdamW launches): returns the
    /// extras and the launches of an update step.
    pub fn record(
        device: &wgpu::Device,
        options: &StepOptions,
        params: &[ParamInfo],
        core: Vec<Dispatch>,
    ) -> (Self, Vec<Dispatch>) {
        let kernels = OptionKernels::default();
        let mut bytes = 0;
        let mut before = Vec::new();
        let mut accumulate_only = Vec::new();
        let loss_scale = options.loss_scale_factor.unwrap_or(1.0) as f32;

        if let Some(steps) = options.accumulation_steps {
            for p in params {
                let acc = storage_buffer(device, "gradient accumulator", p.grad.len as u64 * 4);
                bytes += acc.size();
                let seg = Segment {
                    a: loss_scale,
                    b: steps as f32,
                    ..segment(&p.grad)
                };
                let add = Segment { mode: 0, ..seg };
                accumulate_only.push(kernels.accumulate(device, add, &p.grad.buffer, &acc));
                let apply = Segment { mode: 1, ..seg };
                before.push(kernels.accumulate(device, apply, &p.grad.buffer, &acc));
            }
        } else if options.loss_scale_factor.is_some() {
            for p in params {
                let seg = Segment {
                    a: loss_scale,
                    ..segment(&p.grad)
                };
                before.push(kernels.unscale(device, seg, &p.grad.buffer));
            }
        }

        if let Some(clip) = options.clip {
            let tensors = params.len().max(1) as u64;
            let factors = storage_buffer(device, "clip factors", tensors * 4);
            let mut mode = 1;
            let mut value = 0.0;
            match clip {
                Clip::Norm(c) | Clip::GlobalNorm(c) => {
                    let partials = storage_buffer(
                        device,
                        "gradient norm partials",
                        tensors * NORM_PARTIALS as u64 * 4,
                    );
                    bytes += partials.size();
                    for (slot, p) in params.iter().enumerate() {
                        let seg = Segment {
                            slot: slot as u32,
                            ..segment(&p.grad)
                        };
                        before.push(kernels.sum_squares(device, seg, &p.grad.buffer, &partials));
                    }
                    let global = matches!(clip, Clip::GlobalNorm(_));
                    let n = params.len() as u32;
                    before.push(kernels.factors(device, n, c, global, &partials, &factors));
                }
                Clip::Value(c) => {
                    mode = 0;
                    value = c as f32;
                }
            }
            bytes += factors.size();
            for (slot, p) in params.iter().enumerate() {
                let seg = Segment {
                    slot: slot as u32,
                    mode,
                    a: value,
                    ..segment(&p.grad)
                };
                before.push(kernels.clip(device, seg, &factors, &p.grad.buffer));
            }
        }

        let mut averages = Vec::new();
        let mut after = Vec::new();
        let ema_step = options.ema.map(|_| {
            let step = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("ema step"),
                size: std::mem::size_of::<EmaStep>() as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            for p in params {
                let avg = storage_buffer(device, "ema", p.value.len as u64 * 4);
                bytes += avg.size();
                after.push(kernels.ema(device, segment(&p.value), &step, &p.value.buffer, &avg));
                averages.push(avg);
            }
            step
        });
        accumulate_only.extend(after.iter().cloned());

        let mut update = before;
        update.extend(core);
        update.extend(after);
        let extras = Self {
            accumulate_only,
            averages,
            ema_step,
            calls: 0,
            bytes,
        };
        (extras, update)
    }

    /// Copies call `k`'s EMA factor into its buffer, in `encoder`'s order.
    pub fn write_ema_step(
        &self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        options: &StepOptions,
        k: u64,
    ) {
        let (Some(buffer), Some((f, overwrite))) = (&self.ema_step, options.ema_step(k)) else {
            return;
        };
        let step = EmaStep {
            f: f as f32,
            overwrite: overwrite as u32,
            _pad: [0; 2],
        };
        // A staging buffer per step, like the step scalars: each recorded step keeps its own.
        let staging = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("ema step staging"),
            contents: bytemuck::bytes_of(&step),
            usage: wgpu::BufferUsages::COPY_SRC,
        });
        encoder.copy_buffer_to_buffer(&staging, 0, buffer, 0, staging.size());
    }
}
