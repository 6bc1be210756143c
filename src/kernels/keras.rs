//! The kernels of the Keras base optimizer's options ([`crate::settings::keras`]), one launch per tensor
//! (`segment.wgsl` is their uniform): `grad_unscale`, `grad_accumulate`, `grad_sum_squares`,
//! `clip_factors` (one launch for all tensors), `grad_clip` and `ema`.

use super::{strided_grid, Dispatch, Kernels};

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

impl Kernels {
    /// An elementwise launch over `seg` (its `len` elements).
    fn over_segment(
        &self,
        device: &wgpu::Device,
        shader: &'static str,
        seg: Segment,
        buffers: &[&wgpu::Buffer],
    ) -> Dispatch {
        let label = shader.trim_end_matches(".wgsl");
        Dispatch::with_uniform(
            device,
            label,
            &self.pipeline(device, shader, &[]),
            bytemuck::bytes_of(&seg),
            buffers,
            strided_grid(seg.len as u64, self.max_workgroups()),
        )
    }

    /// `g ← g / loss_scale` over `seg` of `grad`.
    pub fn grad_unscale(
        &self,
        device: &wgpu::Device,
        seg: Segment,
        grad: &wgpu::Buffer,
    ) -> Dispatch {
        self.over_segment(device, "grad_unscale.wgsl", seg, &[grad])
    }

    /// `acc ← g/a + acc` (`seg.mode` 0) or `g ← (g/a + acc)/b; acc ← 0` (mode 1).
    pub fn grad_accumulate(
        &self,
        device: &wgpu::Device,
        seg: Segment,
        grad: &wgpu::Buffer,
        acc: &wgpu::Buffer,
    ) -> Dispatch {
        self.over_segment(device, "grad_accumulate.wgsl", seg, &[grad, acc])
    }

    /// [`NORM_PARTIALS`] partial sums of `g²` into `partials[slot·NORM_PARTIALS ..]`.
    pub fn grad_sum_squares(
        &self,
        device: &wgpu::Device,
        seg: Segment,
        grad: &wgpu::Buffer,
        partials: &wgpu::Buffer,
    ) -> Dispatch {
        Dispatch::with_uniform(
            device,
            "grad_sum_squares",
            &self.pipeline(device, "grad_sum_squares.wgsl", &[]),
            bytemuck::bytes_of(&seg),
            &[grad, partials],
            [NORM_PARTIALS, 1, 1],
        )
    }

    /// Every tensor's clipping factor (`global` for `global_clipnorm`) for clip norm `c`.
    pub fn clip_factors(
        &self,
        device: &wgpu::Device,
        tensors: u32,
        c: f64,
        global: bool,
        partials: &wgpu::Buffer,
        factors: &wgpu::Buffer,
    ) -> Dispatch {
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
            &self.pipeline(device, "clip_factors.wgsl", &[]),
            bytemuck::bytes_of(&seg),
            &[partials, factors],
            [1, 1, 1],
        )
    }

    /// `g ← clamp(g, −a, a)` (`seg.mode` 0) or `g ← g·factors[slot]` (mode 1).
    pub fn grad_clip(
        &self,
        device: &wgpu::Device,
        seg: Segment,
        factors: &wgpu::Buffer,
        grad: &wgpu::Buffer,
    ) -> Dispatch {
        self.over_segment(device, "grad_clip.wgsl", seg, &[factors, grad])
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
        self.over_segment(device, "ema.wgsl", seg, &[step, param, average])
    }
}
