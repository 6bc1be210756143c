//! `matmul.wgsl`: batched `C = α·L·R + β·D` (or `L·Rᵀ`), the three products of a Newton-Schulz iteration.

use super::{Dispatch, Kernels};

pub(super) const SOURCE: &str = include_str!("../../shaders/matmul.wgsl");

/// Output tile of one workgroup (rows and columns).
pub const TILE: u32 = 64;

/// Uniform of `matmul.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MatmulDims {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    /// 0 skips reading D (β = 0).
    pub use_d: u32,
    pub l_stride: u32,
    pub r_stride: u32,
    pub d_stride: u32,
    pub c_stride: u32,
    pub alpha: f32,
    pub beta: f32,
    pub _pad: [u32; 2],
}

/// The buffers of one batched product.
pub struct MatmulOperands<'a> {
    pub left: &'a wgpu::Buffer,
    pub right: &'a wgpu::Buffer,
    pub addend: &'a wgpu::Buffer,
    pub result: &'a wgpu::Buffer,
}

impl Kernels {
    /// `result = α·left·right + β·addend` for `batch` matrices (`right` read transposed when `transpose_right`).
    pub fn matmul(
        &self,
        device: &wgpu::Device,
        dims: MatmulDims,
        batch: u32,
        transpose_right: bool,
        ops: MatmulOperands<'_>,
    ) -> Dispatch {
        let pipeline = if transpose_right {
            &self.matmul_transposed
        } else {
            &self.matmul
        };
        self.dispatch(
            device,
            "matmul",
            pipeline,
            bytemuck::bytes_of(&dims),
            &[ops.left, ops.right, ops.addend, ops.result],
            [dims.n.div_ceil(TILE), dims.m.div_ceil(TILE), batch],
        )
    }
}
