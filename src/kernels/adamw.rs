//! `adamw.wgsl`: AdamW over a flat run of elements (multi-tensor when the run is an arena).

use super::{strided_grid, Dispatch, Kernels};

/// Uniform of `adamw.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdamDims {
    pub len: u32,
    /// Which [`AdamStep`](super::AdamStep) of the step scalars to read.
    pub group: u32,
    pub _pad: [u32; 2],
}

/// The buffers one AdamW dispatch updates.
pub struct AdamOperands<'a> {
    /// One [`AdamStep`](super::AdamStep) per group.
    pub steps: &'a wgpu::Buffer,
    pub grad: &'a wgpu::Buffer,
    pub param: &'a wgpu::Buffer,
    pub exp_avg: &'a wgpu::Buffer,
    pub exp_avg_sq: &'a wgpu::Buffer,
}

impl Kernels {
    /// One AdamW step over the first `dims.len` elements of the buffers.
    pub fn adamw(&self, device: &wgpu::Device, dims: AdamDims, ops: AdamOperands<'_>) -> Dispatch {
        Dispatch::with_uniform(
            device,
            "adamw",
            &self.pipeline(device, "adamw.wgsl", &[]),
            bytemuck::bytes_of(&dims),
            &[ops.steps, ops.grad, ops.param, ops.exp_avg, ops.exp_avg_sq],
            strided_grid(dims.len as u64, self.inner.max_workgroups),
        )
    }
}

impl Kernels {
    /// `adamw_packed.wgsl`: AdamW with the first moment stored two per `u32` in `dtype`
    /// ([`MuDtype::code`](crate::MuDtype::code)), optax's `mu_dtype` for its aux Adam.
    pub fn adamw_packed(
        &self,
        device: &wgpu::Device,
        dims: AdamDims,
        dtype: u32,
        ops: AdamOperands<'_>,
    ) -> Dispatch {
        let uniform = AdamDims {
            _pad: [dtype, 0],
            ..dims
        };
        Dispatch::with_uniform(
            device,
            "adamw_packed",
            &self.pipeline(device, "adamw_packed.wgsl", &[]),
            bytemuck::bytes_of(&uniform),
            &[ops.steps, ops.grad, ops.param, ops.exp_avg, ops.exp_avg_sq],
            strided_grid(dims.len.div_ceil(2) as u64, self.inner.max_workgroups),
        )
    }
}
