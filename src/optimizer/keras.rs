//! The Keras base optimizer's options on the GPU ([`crate::settings::keras`] has the formulas): the
//! buffers they own, and their launches, which [`Recorder::record`](super::Recorder) places
//! around the core step.
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

use crate::kernels::keras::{EmaStep, Segment, NORM_PARTIALS};
use crate::kernels::Dispatch;
use crate::settings::keras::{Clip, StepOptions};

use super::buffers::{storage_buffer, ParamInfo};
use super::Recorder;

/// The options' buffers, and the count of calls to `step`.
pub(super) struct Extras {
    /// Per parameter (registration order): its gradient accumulator, when accumulating.
    accumulators: Vec<wgpu::Buffer>,
    /// Per parameter, [`NORM_PARTIALS`] partial sums of `g²` (`clipnorm`, `global_clipnorm`).
    partials: Option<wgpu::Buffer>,
    /// Per parameter, its clipping factor (any clip).
    factors: Option<wgpu::Buffer>,
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
    /// The buffers the Keras options `keras` need for `params`.
    pub fn allocate(device: &wgpu::Device, keras: &StepOptions, params: &[ParamInfo]) -> Self {
        let per_param = |label, on: bool, len: fn(&ParamInfo) -> usize| -> Vec<wgpu::Buffer> {
            (params.iter().filter(|_| on))
                .map(|p| storage_buffer(device, label, len(p) as u64 * 4))
                .collect()
        };
        let accumulate = keras.accumulation_steps.is_some();
        let accumulators = per_param("gradient accumulator", accumulate, |p| p.grad.len);
        let averages = per_param("ema", keras.ema.is_some(), |p| p.value.len);
        let tensors = params.len().max(1) as u64;
        let norm = matches!(keras.clip, Some(Clip::Norm(_) | Clip::GlobalNorm(_)));
        let partials = norm.then(|| {
            let bytes = tensors * NORM_PARTIALS as u64 * 4;
            storage_buffer(device, "gradient norm partials", bytes)
        });
        let factors =
            (keras.clip.is_some()).then(|| storage_buffer(device, "clip factors", tensors * 4));
        let ema_step = keras.ema.map(|_| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("ema step"),
                size: std::mem::size_of::<EmaStep>() as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        let bytes = (accumulators.iter().chain(&averages))
            .chain(&partials)
            .chain(&factors)
            .map(|b| b.size())
            .sum();
        Self {
            accumulators,
            partials,
            factors,
            averages,
            ema_step,
            calls: 0,
            bytes,
        }
    }

    /// Copies call `k`'s EMA factor into its buffer, in `encoder`'s order.
    pub fn write_ema_step(
        &self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        keras: &StepOptions,
        k: u64,
    ) {
        let (Some(buffer), Some((f, overwrite))) = (&self.ema_step, keras.ema_step(k)) else {
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

/// The gradient transforms before an update step, per tensor: `g ← (g/scale + acc)/S`
/// (accumulation, which also unscales) or `g ← g/scale` (`loss_scale_factor`), then the clip
/// (`clipnorm`, `global_clipnorm`: `sum_squares` per tensor, `clip_factors` once, then `g ← g·f`;
/// `clipvalue`: `g ← clamp(g, −c, c)`).
pub(super) fn transforms(r: &Recorder<'_>, out: &mut Vec<Dispatch>) {
    let (device, kernels, extras) = (r.device, r.kernels, r.keras);
    let keras = &r.settings.keras;
    let params = &r.buffers.params;
    let loss_scale = keras.loss_scale_factor.unwrap_or(1.0) as f32;
    if let Some(steps) = keras.accumulation_steps {
        for (p, acc) in params.iter().zip(&extras.accumulators) {
            let seg = Segment {
                mode: 1,
                a: loss_scale,
                b: steps as f32,
                ..segment(&p.grad)
            };
            out.push(kernels.grad_accumulate(device, seg, &p.grad.buffer, acc));
        }
    } else if keras.loss_scale_factor.is_some() {
        for p in params {
            let seg = Segment {
                a: loss_scale,
                ..segment(&p.grad)
            };
            out.push(kernels.grad_unscale(device, seg, &p.grad.buffer));
        }
    }
    let (Some(clip), Some(factors)) = (keras.clip, &extras.factors) else {
        return;
    };
    let (mode, value) = match clip {
        Clip::Value(c) => (0, c as f32),
        Clip::Norm(c) | Clip::GlobalNorm(c) => {
            let partials = extras
                .partials
                .as_ref()
                .expect("norm clipping has partials");
            for (slot, p) in params.iter().enumerate() {
                let seg = Segment {
                    slot: slot as u32,
                    ..segment(&p.grad)
                };
                out.push(kernels.grad_sum_squares(device, seg, &p.grad.buffer, partials));
            }
            let global = matches!(clip, Clip::GlobalNorm(_));
            let n = params.len() as u32;
            out.push(kernels.clip_factors(device, n, c, global, partials, factors));
            (1, 0.0)
        }
    };
    for (slot, p) in params.iter().enumerate() {
        let seg = Segment {
            slot: slot as u32,
            mode,
            a: value,
            ..segment(&p.grad)
        };
        out.push(kernels.grad_clip(device, seg, factors, &p.grad.buffer));
    }
}

/// A call between the updates of gradient accumulation: `acc ← g/scale + acc` per tensor.
pub(super) fn accumulate(r: &Recorder<'_>, out: &mut Vec<Dispatch>) {
    let Some(steps) = r.settings.keras.accumulation_steps else {
        return;
    };
    let loss_scale = r.settings.keras.loss_scale_factor.unwrap_or(1.0) as f32;
    for (p, acc) in r.buffers.params.iter().zip(&r.keras.accumulators) {
        let seg = Segment {
            mode: 0,
            a: loss_scale,
            b: steps as f32,
            ..segment(&p.grad)
        };
        out.push(
            r.kernels
                .grad_accumulate(r.device, seg, &p.grad.buffer, acc),
        );
    }
}

/// `use_ema`, after every call: `avg ← f·avg + (1−f)·W` per parameter, then `W ← avg` when the
/// host's EMA step says so.
pub(super) fn ema(r: &Recorder<'_>, out: &mut Vec<Dispatch>) {
    let Some(step) = &r.keras.ema_step else {
        return;
    };
    for (p, avg) in r.buffers.params.iter().zip(&r.keras.averages) {
        let seg = segment(&p.value);
        out.push(r.kernels.ema(r.device, seg, step, &p.value.buffer, avg));
    }
}
