//! `precondition.wgsl` (AOL and Schatten-4, fused into the first Newton-Schulz iteration) and
//! `spectral_norm.wgsl` (division by the largest singular value, by power iteration).

use super::{Dispatch, Kernels};

/// One batch of same-size matrices for `precondition.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PrecDims {
    /// 1 AOL, 2 Schatten-4.
    pub mode: u32,
    pub m: u32,
    pub n: u32,
    pub count: u32,
    pub x_base: u32,
    pub a_base: u32,
    pub _pad: [u32; 2],
}

/// One batch of same-size matrices for `spectral_norm.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SpecDims {
    pub m: u32,
    pub n: u32,
    pub count: u32,
    pub x_base: u32,
    pub a_base: u32,
    /// Offset of the batch's power-iteration vectors (`2·m` per matrix).
    pub v_base: u32,
    pub max_iters: u32,
    pub _pad: u32,
    pub eps: f32,
    /// Stop when the Rayleigh quotient changes by at most this, relative.
    pub tol: f32,
    pub _pad1: [f32; 2],
}

impl Kernels {
    /// Rescales `X` (in `x`) and its Gram matrix (in `a`) of every matrix of `batches`;
    /// `scales` is scratch (AOL's row scales, at the `X` offsets).
    pub fn precondition(
        &self,
        device: &wgpu::Device,
        batches: &[PrecDims],
        x: &wgpu::Buffer,
        a: &wgpu::Buffer,
        scales: &wgpu::Buffer,
    ) -> Dispatch {
        let pipeline = self.pipeline(device, "precondition.wgsl", &[]);
        let total = batches.iter().map(|b| b.count).sum();
        Dispatch::with_table(
            device,
            "precondition",
            &pipeline,
            bytemuck::cast_slice(batches),
            &[x, a, scales],
            super::ns::tile_grid(total, self.inner.max_workgroups),
        )
    }

    /// `X ← X / (σ_max + ε)` for every matrix of `batches`, `σ_max² ` by power iteration on the
    /// Gram matrices in `a`, warm-started from `vectors`.
    pub fn spectral_norm(
        &self,
        device: &wgpu::Device,
        batches: &[SpecDims],
        x: &wgpu::Buffer,
        a: &wgpu::Buffer,
        vectors: &wgpu::Buffer,
    ) -> Dispatch {
        let pipeline = self.pipeline(device, "spectral_norm.wgsl", &[]);
        let total = batches.iter().map(|b| b.count).sum();
        Dispatch::with_table(
            device,
            "spectral_norm",
            &pipeline,
            bytemuck::cast_slice(batches),
            &[x, a, vectors],
            super::ns::tile_grid(total, self.inner.max_workgroups),
        )
    }
}
