//! `momentum.wgsl`: Muon momentum, Nesterov combination, and the (transposing) copy into the workspace.

use super::{Dispatch, Kernels, ELEMENTWISE_GROUPS, ELEMENTWISE_WORKGROUP};

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
    /// Elements between matrices in the momentum buffer (and the workspace when `ws_stride` is 0).
    pub mat_stride: u32,
    pub unit: u32,
    pub transposed: u32,
    /// Elements per row of the workspace view (`min × max`, padded); 0: dense (`max(rows, cols)`).
    pub ws_cols: u32,
    /// Elements between matrices in the workspace; 0: `mat_stride`.
    pub ws_stride: u32,
    /// Element offset of the batch in the workspace.
    pub ws_base: u32,
    pub _pad: u32,
}

impl MatrixDims {
    /// Columns × rows × matrices, at most about [`ELEMENTWISE_GROUPS`] workgroups (the kernels
    /// loop over the rows and matrices beyond the grid).
    pub(super) fn grid(&self, max: u32) -> [u32; 3] {
        let x = self.cols.div_ceil(ELEMENTWISE_WORKGROUP).clamp(1, max);
        let z = self
            .count
            .clamp(1, max)
            .min((ELEMENTWISE_GROUPS / x).max(1));
        let y = self
            .rows
            .clamp(1, max)
            .min((ELEMENTWISE_GROUPS / (x * z)).max(1));
        [x, y, z]
    }
}

impl Kernels {
    /// `m ← decay_m·m + decay_g·g; x = use_m·m + use_g·g`, written into the workspace view
    /// (transposed when `dims.transposed`, rows `dims.ws_cols` apart).
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
            &Self::cached(&self.inner.momentum, device, "momentum", SOURCE, &[]),
            bytemuck::bytes_of(&dims),
            &[scalars, grad, momentum, x],
            dims.grid(self.inner.max_workgroups),
        )
    }
}
