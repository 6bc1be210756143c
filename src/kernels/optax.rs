//! `momentum_nd.wgsl` and `muon_update_nd.wgsl`: Muon's momentum and update for any rank and
//! momentum dtype, the elements mapped to matrices by optax's dimension numbers (see
//! [`MatrixMap`]); used by the batches whose options the 2-D kernels do not cover.

use super::{strided_grid, Dispatch, Kernels};
use crate::settings::optax::{MatrixMap, MAX_RANK};

/// `nd_view.wgsl`'s `NdDims`: a run of same-shape parameters and their matrices' places.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NdDims {
    pub len: u32,
    pub count: u32,
    pub first: u32,
    pub src_stride: u32,
    /// `u32` words between parameters in the momentum buffer.
    pub mom_stride: u32,
    pub batch: u32,
    pub rank: u32,
    /// [`MuDtype::code`](crate::MuDtype::code).
    pub dtype: u32,
    pub slices: u32,
    pub transposed: u32,
    pub ws_cols: u32,
    pub ws_mat: u32,
    pub ws_base: u32,
    /// 1: keep `U` and scale the update by `⟨U, O⟩` (adaptive).
    pub keep_u: u32,
    pub ip_base: u32,
    pub _pad: u32,
    pub shape: [u32; MAX_RANK],
    pub role: [u32; MAX_RANK],
    pub place: [u32; MAX_RANK],
}

impl NdDims {
    /// The axes part of the dims, from a matrix map.
    pub fn with_map(self, map: &MatrixMap) -> Self {
        let mut d = Self {
            rank: map.shape.len() as u32,
            slices: map.slices as u32,
            transposed: (map.rows > map.cols) as u32,
            ..self
        };
        for (a, &s) in map.shape.iter().enumerate() {
            d.shape[a] = s as u32;
            d.role[a] = map.role[a];
            d.place[a] = map.place[a] as u32;
        }
        d
    }
}

impl Kernels {
    /// `momentum_nd.wgsl`: momentum (f32 or packed), `U` into the workspace `x` (and `u`).
    #[allow(clippy::too_many_arguments)] // one per binding of the kernel
    pub fn momentum_nd(
        &self,
        device: &wgpu::Device,
        dims: NdDims,
        steps: &wgpu::Buffer,
        grad: &wgpu::Buffer,
        momentum: &wgpu::Buffer,
        x: &wgpu::Buffer,
        u: &wgpu::Buffer,
    ) -> Dispatch {
        let pipeline = self.pipeline(device, "momentum_nd.wgsl", &[]);
        let pairs = dims.len.div_ceil(2) as u64 * dims.count as u64;
        Dispatch::with_uniform(
            device,
            "momentum_nd",
            &pipeline,
            bytemuck::bytes_of(&dims),
            &[steps, grad, momentum, x, u],
            strided_grid(pairs, self.inner.max_workgroups),
        )
    }

    /// `muon_update_nd.wgsl`: `W ← W·keep − lr_eff·f·O`, `f = inner[ip_base + k]` when adaptive.
    pub fn muon_update_nd(
        &self,
        device: &wgpu::Device,
        dims: NdDims,
        steps: &wgpu::Buffer,
        ortho: &wgpu::Buffer,
        param: &wgpu::Buffer,
        inner: &wgpu::Buffer,
    ) -> Dispatch {
        let pipeline = self.pipeline(device, "muon_update_nd.wgsl", &[]);
        let total = dims.len as u64 * dims.count as u64;
        Dispatch::with_uniform(
            device,
            "muon_update_nd",
            &pipeline,
            bytemuck::bytes_of(&dims),
            &[steps, ortho, param, inner],
            strided_grid(total, self.inner.max_workgroups),
        )
    }
}
