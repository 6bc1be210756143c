//! `momentum.wgsl`: Muon momentum, Nesterov combination, and the (transposing) copy into the workspace.

use super::{elementwise_grid, Dispatch, Kernels};

pub(super) const SOURCE: &str = include_str!("../../shaders/momentum.wgsl");

/// Shape and placement of a run of same-shape matrices; shared by `momentum.wgsl` and `muon_update.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MatrixDims {
    pub rows: u32,
    pub cols: u32,
    pub count: u32,
    pub first: u32,
    /// Elements between matrices in the parameter or gradient buffer.
    pub src_stride: u32,
    /// Elements between matrices in the momentum and workspace buffers.
    pub mat_stride: u32,
    pub unit: u32,
    pub transposed: u32,
}

impl MatrixDims {
    pub(super) fn grid(&self, max: u32) -> [u32; 3] {
        elementwise_grid(self.rows as u64 * self.cols as u64 * self.count as u64, max)
    }
}

impl Kernels {
    /// `m ← decay_m·m + decay_g·g; x = use_m·m + use_g·g` (transposed when `dims.transposed`).
    pub fn momentum(
        &self,
        device: &wgpu::Device,
        dims: MatrixDims,
        scalars: &wgpu::Buffer,
        grad: &wgpu::Buffer,
        momentum: &wgpu::Buffer,
        x: &wgpu::Buffer,
    ) -> Dispatch {
        self.dispatch(
            device,
            "momentum",
            &self.momentum,
            bytemuck::bytes_of(&dims),
            &[scalars, grad, momentum, x],
            dims.grid(self.max_workgroups),
        )
    }
}
