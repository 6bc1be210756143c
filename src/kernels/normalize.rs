//! `normalize.wgsl`: Frobenius normalization, one workgroup per matrix.

use super::{Dispatch, Kernels};

pub(super) const SOURCE: &str = include_str!("../../shaders/normalize.wgsl");

/// Uniform of `normalize.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NormDims {
    pub len: u32,
    pub mat_stride: u32,
    /// 1: `X / max(‖X‖, ε)`; 0: `X / (‖X‖ + ε)`.
    pub clamp: u32,
    pub _pad: u32,
    pub eps: f32,
    pub _pad1: [u32; 3],
}

impl Kernels {
    /// Normalizes `count` matrices of `x` in place.
    pub fn normalize(
        &self,
        device: &wgpu::Device,
        dims: NormDims,
        count: u32,
        x: &wgpu::Buffer,
    ) -> Dispatch {
        self.dispatch(
            device,
            "normalize",
            &self.normalize,
            bytemuck::bytes_of(&dims),
            &[x],
            [count, 1, 1],
        )
    }
}
