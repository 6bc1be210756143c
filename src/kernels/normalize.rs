//! `normalize.wgsl`: Frobenius normalization, one workgroup per matrix, every batch in one dispatch.

use super::{Dispatch, Kernels};

/// One batch of same-size matrices to normalize (a row of the dispatch's table).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NormDims {
    /// Elements per matrix (padding included: it holds zeros).
    pub len: u32,
    pub mat_stride: u32,
    /// 1: `X / max(‖X‖, ε)`; 0: `X / (‖X‖ + ε)`.
    pub clamp: u32,
    /// Matrices in the batch (set by [`Kernels::normalize`]).
    pub count: u32,
    pub eps: f32,
    /// Element offset of the batch's first matrix.
    pub base: u32,
    pub _pad: [u32; 2],
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
        self.normalize_batches(device, &[NormDims { count, ..dims }], x)
    }

    /// Normalizes every matrix of every batch in place: one workgroup per matrix.
    pub fn normalize_batches(
        &self,
        device: &wgpu::Device,
        batches: &[NormDims],
        x: &wgpu::Buffer,
    ) -> Dispatch {
        let total: u32 = batches.iter().map(|b| b.count).sum();
        let table = if batches.is_empty() {
            vec![NormDims::default()]
        } else {
            batches.to_vec()
        };
        // vec4 loads when every matrix starts and ends on a whole vec4 (the workspace's do).
        let vec4 = x.size().is_multiple_of(16)
            && batches.iter().all(|b| {
                b.len.is_multiple_of(4)
                    && b.mat_stride.is_multiple_of(4)
                    && b.base.is_multiple_of(4)
            });
        let file = if vec4 {
            "normalize_vec4.wgsl"
        } else {
            "normalize.wgsl"
        };
        let pipeline = self.pipeline(device, file, &[]);
        Dispatch::with_table(
            device,
            "normalize",
            &pipeline,
            bytemuck::cast_slice(&table),
            &[x],
            super::ns::tile_grid(total, self.inner.max_workgroups),
        )
    }
}
