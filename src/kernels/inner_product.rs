//! `inner_product.wgsl`: optax's adaptive scale `⟨U, O⟩` per parameter, a GPU reduction.

use super::{Dispatch, Kernels};

/// A run of parameters whose `U` and `O` lie contiguously in the workspace.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct InnerDims {
    /// Workspace elements of one parameter (its slices, padded).
    pub len: u32,
    pub count: u32,
    pub base: u32,
    /// Index of the first result in `inner`.
    pub out: u32,
}

impl Kernels {
    /// `inner[out + k] = Σ u·o` over parameter `k`'s workspace range: one workgroup each.
    pub fn inner_product(
        &self,
        device: &wgpu::Device,
        dims: InnerDims,
        u: &wgpu::Buffer,
        o: &wgpu::Buffer,
        inner: &wgpu::Buffer,
    ) -> Dispatch {
        let pipeline = self.pipeline(device, "inner_product.wgsl", &[]);
        Dispatch::with_uniform(
            device,
            "inner_product",
            &pipeline,
            bytemuck::bytes_of(&dims),
            &[u, o, inner],
            super::ns::tile_grid(dims.count, self.inner.max_workgroups),
        )
    }
}
