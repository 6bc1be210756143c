//! `pack_halves.wgsl`: the f16 copy of a buffer, for the f16 Newton-Schulz variants.

use super::{strided_grid, Dispatch, Kernels};

pub(super) const SOURCE: &str = include_str!("../../shaders/pack_halves.wgsl");

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct PackDims {
    len4: u32,
    _pad: [u32; 3],
}

impl Kernels {
    /// Writes the f16 copy of the first `4·len4` values of `values` into `halves` (two values
    /// per `u32`, so `halves` needs half of `values`' bytes).
    pub fn pack_halves(
        &self,
        device: &wgpu::Device,
        len4: u32,
        values: &wgpu::Buffer,
        halves: &wgpu::Buffer,
    ) -> Dispatch {
        let pipeline = Self::cached(&self.inner.pack, device, "pack_halves", SOURCE, &[]);
        Dispatch::with_uniform(
            device,
            "pack_halves",
            &pipeline,
            bytemuck::bytes_of(&PackDims {
                len4,
                ..Default::default()
            }),
            &[values, halves],
            strided_grid(len4 as u64, self.inner.max_workgroups),
        )
    }
}
