//! `matmul.wgsl`: batched `C = α·L·R + β·D` (or `L·Rᵀ`), the three products of a Newton-Schulz iteration.

use super::{Dispatch, Kernels};

/// Output tile of one workgroup (rows and columns): `4·WG` in `matmul.wgsl`.
pub const TILE: u32 = 64;
/// The k-depth of a stage in workgroup memory (`BK`; `TILE·BK` at most 1024).
const DEPTH: u32 = 16;

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

/// Which operands are stored transposed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transpose {
    /// `left` is stored `k × m`.
    pub left: bool,
    /// `right` is stored `n × k`.
    pub right: bool,
}

impl Transpose {
    /// `L·R`.
    pub const NONE: Self = Self {
        left: false,
        right: false,
    };
    /// `L·Rᵀ` (the Gram matrix `X·Xᵀ`).
    pub const RIGHT: Self = Self {
        left: false,
        right: true,
    };
    /// `Lᵀ·R` (weight gradients `dYᵀ·X`).
    pub const LEFT: Self = Self {
        left: true,
        right: false,
    };
}

impl Kernels {
    /// `result = α·op(left)·op(right) + β·addend` for `batch` matrices, `result` is `m × n`.
    pub fn matmul(
        &self,
        device: &wgpu::Device,
        dims: MatmulDims,
        batch: u32,
        transpose: Transpose,
        ops: MatmulOperands<'_>,
    ) -> Dispatch {
        let constants = [
            ("TRANSPOSE_L", transpose.left as u32 as f64),
            ("TRANSPOSE_R", transpose.right as u32 as f64),
            ("WG", (TILE / 4) as f64),
            ("BK", DEPTH as f64),
        ];
        let pipeline = self.pipeline(device, "matmul.wgsl", &constants);
        Dispatch::with_uniform(
            device,
            "matmul",
            &pipeline,
            bytemuck::bytes_of(&dims),
            &[ops.left, ops.right, ops.addend, ops.result],
            [dims.n.div_ceil(TILE), dims.m.div_ceil(TILE), batch],
        )
    }
}
