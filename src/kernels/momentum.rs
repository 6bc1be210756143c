//! `momentum.wgsl`: Muon momentum, Nesterov combination, and the (transposing) copy into the workspace.

use super::{Dispatch, Kernels, ELEMENTWISE_GROUPS, ELEMENTWISE_WORKGROUP};

/// Invocations per workgroup of the 4 × 4 block kernels (`*_vec4.wgsl`).
const BLOCK_WORKGROUP: u32 = 64;

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
    /// Which [`MuonStep`](super::MuonStep) of the step scalars to read.
    pub batch: u32,
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
    /// loop over the rows and matrices beyond the grid); `vec4`: in 4 × 4 blocks.
    pub(super) fn grid(&self, max: u32, vec4: bool) -> [u32; 3] {
        let (cols, rows, per_group) = if vec4 {
            (self.cols / 4, self.rows / 4, BLOCK_WORKGROUP)
        } else {
            (self.cols, self.rows, ELEMENTWISE_WORKGROUP)
        };
        let x = cols.div_ceil(per_group).clamp(1, max);
        let z = self
            .count
            .clamp(1, max)
            .min((ELEMENTWISE_GROUPS / x).max(1));
        let y = rows
            .clamp(1, max)
            .min((ELEMENTWISE_GROUPS / (x * z)).max(1));
        [x, y, z]
    }

    /// Whether the 4 × 4 block kernels can run these matrices: every dimension, stride and
    /// offset a multiple of 4, and the `buffers` (bound as `vec4` arrays) whole vec4s long.
    pub(super) fn blocks_of_four(&self, buffers: &[&wgpu::Buffer]) -> bool {
        let ws_cols = if self.ws_cols == 0 {
            self.rows.max(self.cols)
        } else {
            self.ws_cols
        };
        let ws_stride = if self.ws_stride == 0 {
            self.mat_stride
        } else {
            self.ws_stride
        };
        [
            self.rows,
            self.cols,
            self.src_stride,
            self.mat_stride,
            ws_cols,
            ws_stride,
            self.ws_base,
        ]
        .iter()
        .all(|v| v.is_multiple_of(4))
            && buffers.iter().all(|b| b.size().is_multiple_of(16))
    }
}

impl Kernels {
    /// `m ← decay_m·m + decay_g·g; x = use_m·m + use_g·g` (from `steps[dims.batch]`), written into the workspace view
    /// (transposed when `dims.transposed`, rows `dims.ws_cols` apart).
    pub fn momentum(
        &self,
        device: &wgpu::Device,
        dims: MatrixDims,
        steps: &wgpu::Buffer,
        grad: &wgpu::Buffer,
        momentum: &wgpu::Buffer,
        x: &wgpu::Buffer,
    ) -> Dispatch {
        let vec4 = dims.blocks_of_four(&[grad, momentum, x]);
        let file = if vec4 {
            "momentum_vec4.wgsl"
        } else {
            "momentum.wgsl"
        };
        Dispatch::with_uniform(
            device,
            if vec4 {
                "momentum (4 × 4 blocks)"
            } else {
                "momentum"
            },
            &self.pipeline(device, file, &[]),
            bytemuck::bytes_of(&dims),
            &[steps, grad, momentum, x],
            dims.grid(self.inner.max_workgroups, vec4),
        )
    }
}
