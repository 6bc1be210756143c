//! The kernels of the Keras base optimizer's options ([`crate::settings::keras`]), one launch per tensor
//! (`segment.wgsl` is their uniform): `grad_unscale`, `grad_accumulate`, `grad_sum_squares`,
//! `clip_factors` (one launch for all tensors), `grad_clip` and `ema`.

use std::sync::OnceLock;

use super::{pipeline, strided_grid, Dispatch};

/// Workgroups (and partial sums) per tensor of `grad_sum_squares.wgsl`.
pub const NORM_PARTIALS: u32 = 64;

/// Uniform `Segment` of `segment.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Segment {
    /// First element of the tensor in its buffer.
    pub offset: u32,
    pub len: u32,
    /// The tensor's index in the norm tables.
    pub slot: u32,
    pub mode: u32,
    pub a: f32,
    pub b: f32,
    pub _pad: [u32; 2],
}

/// `EmaStep` of `ema.wgsl`, written by the host every step: `avg ← f·avg + (1−f)·W`, then
/// `W ← avg` when `overwrite ≠ 0`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct EmaStep {
    pub f: f32,
    pub overwrite: u32,
    pub _pad: [u32; 2],
}

/// The options' pipelines, each compiled on first use (per optimizer).
#[derive(Default)]
pub struct OptionKernels {
    unscale: OnceLock<wgpu::ComputePipeline>,
    accumulate: OnceLock<wgpu::ComputePipeline>,
    sum_squares: OnceLock<wgpu::ComputePipeline>,
    factors: OnceLock<wgpu::ComputePipeline>,
    clip: OnceLock<wgpu::ComputePipeline>,
    ema: OnceLock<wgpu::ComputePipeline>,
}

impl OptionKernels {
    fn get(
        slot: &OnceLock<wgpu::ComputePipeline>,
        device: &wgpu::Device,
        file: &str,
    ) -> wgpu::ComputePipeline {
        slot.get_or_init(|| pipeline(device, file, &crate::shaders::source(file), &[]))
            .clone()
    }

    fn elementwise(
        device: &wgpu::Device,
        label: &'static str,
        pipeline: &wgpu::ComputePipeline,
        seg: Segment,
        buffers: &[&wgpu::Buffer],
    ) -> Dispatch {
        let max = device.limits().max_compute_workgroups_per_dimension;
        Dispatch::with_uniform(
            device,
            label,
            pipeline,
            bytemuck::bytes_of(&seg),
            buffers,
            strided_grid(seg.len as u64, max),
        )
    }

    /// `g ← g / loss_scale` over `seg` of `grad`.
    pub fn unscale(&self, device: &wgpu::Device, seg: Segment, grad: &wgpu::Buffer) -> Dispatch {
        let p = Self::get(&self.unscale, device, "grad_unscale.wgsl");
        Self::elementwise(device, "grad_unscale", &p, seg, &[grad])
    }

    /// `acc ← g/a + acc` (`seg.mode` 0) or `g ← (g/a + acc)/b; acc ← 0` (mode 1).
    pub fn accumulate(
        &self,
        device: &wgpu::Device,
        seg: Segment,
        grad: &wgpu::Buffer,
        acc: &wgpu::Buffer,
    ) -> Dispatch {
        let p = Self::get(&self.accumulate, device, "grad_accumulate.wgsl");
        Self::elementwise(device, "grad_accumulate", &p, seg, &[grad, acc])
    }

    /// [`NORM_PARTIALS`] partial sums of `g²` into `partials[slot·NORM_PARTIALS ..]`.
    pub fn sum_squares(
        &self,
        device: &wgpu::Device,
        seg: Segment,
        grad: &wgpu::Buffer,
        partials: &wgpu::Buffer,
    ) -> Dispatch {
        let p = Self::get(&self.sum_squares, device, "grad_sum_squares.wgsl");
        Dispatch::with_uniform(
            device,
            "grad_sum_squares",
            &p,
            bytemuck::bytes_of(&seg),
            &[grad, partials],
            [NORM_PARTIALS, 1, 1],
        )
    }

    /// Every tensor's clipping factor (`global` for `global_clipnorm`) for clip norm `c`.
    pub fn factors(
        &self,
        device: &wgpu::Device,
        tensors: u32,
        c: f64,
        global: bool,
        partials: &wgpu::Buffer,
        factors: &wgpu::Buffer,
    ) -> Dispatch {
        let p = Self::get(&self.factors, device, "clip_factors.wgsl");
        let seg = Segment {
            len: tensors,
            mode: global as u32,
            a: c as f32,
            b: NORM_PARTIALS as f32,
            ..Default::default()
        };
        Dispatch::with_uniform(
            device,
            "clip_factors",
            &p,
            bytemuck::bytes_of(&seg),
            &[partials, factors],
            [1, 1, 1],
        )
    }

    /// `g ← clamp(g, −a, a)` (`seg.mode` 0) or `g ← g·factors[slot]` (mode 1).
    pub fn clip(
        &self,
        device: &wgpu::Device,
        seg: Segment,
        factors: &wgpu::Buffer,
        grad: &wgpu::Buffer,
    ) -> Dispatch {
        let p = Self::get(&self.clip, device, "grad_clip.wgsl");
        Self::elementwise(device, "grad_clip", &p, seg, &[factors, grad])
    }

    /// `avg ← f·avg + (1−f)·W`, then `W ← avg` if the step says so.
    pub fn ema(
        &self,
        device: &wgpu::Device,
        seg: Segment,
        step: &wgpu::Buffer,
        param: &wgpu::Buffer,
        average: &wgpu::Buffer,
    ) -> Dispatch {
        let p = Self::get(&self.ema, device, "ema.wgsl");
        Self::elementwise(device, "ema", &p, seg, &[step, param, average])
    }
}
