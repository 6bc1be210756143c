//! `clear.wgsl`: zeros the start of a buffer (the workspace before a Newton-Schulz wave).

use super::{strided_grid, Dispatch, Kernels};

pub(super) const SOURCE: &str = include_str!("../../shaders/clear.wgsl");

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct ClearDims {
    len4: u32,
    _pad: [u32; 3],
}

impl Kernels {
    /// Zeros the first `4·len4` values of `values`.
    pub fn clear(&self, device: &wgpu::Device, len4: u32, values: &wgpu::Buffer) -> Dispatch {
        let pipeline = Self::cached(&self.inner.clear, device, "clear", SOURCE, &[]);
        Dispatch::with_uniform(
            device,
            "clear",
            &pipeline,
            bytemuck::bytes_of(&ClearDims {
                len4,
                ..Default::default()
            }),
            &[values],
            strided_grid(len4 as u64, self.inner.max_workgroups),
        )
    }
}
