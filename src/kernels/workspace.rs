//! Passes over the start of a Newton-Schulz workspace buffer: `clear.wgsl` zeros it (before each
//! wave when several share the workspace) and `pack_halves.wgsl` writes its f16 copy (for the
//! f16 variants). Both take the number of vec4s and stride over them.

use super::{strided_grid, Dispatch, Kernels};

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct RangeDims {
    len4: u32,
    _pad: [u32; 3],
}

impl Kernels {
    /// Zeros the first `4·len4` values of `values`.
    pub fn clear(&self, device: &wgpu::Device, len4: u32, values: &wgpu::Buffer) -> Dispatch {
        let pipeline = self.pipeline(device, "clear.wgsl", &[]);
        self.over_range(device, "clear", &pipeline, len4, &[values])
    }

    /// Writes the f16 copy of the first `4·len4` values of `values` into `halves` (two values
    /// per `u32`, so `halves` needs half of `values`' bytes).
    pub fn pack_halves(
        &self,
        device: &wgpu::Device,
        len4: u32,
        values: &wgpu::Buffer,
        halves: &wgpu::Buffer,
    ) -> Dispatch {
        let pipeline = self.pipeline(device, "pack_halves.wgsl", &[]);
        self.over_range(device, "pack_halves", &pipeline, len4, &[values, halves])
    }

    fn over_range(
        &self,
        device: &wgpu::Device,
        label: &'static str,
        pipeline: &wgpu::ComputePipeline,
        len4: u32,
        buffers: &[&wgpu::Buffer],
    ) -> Dispatch {
        Dispatch::with_uniform(
            device,
            label,
            pipeline,
            bytemuck::bytes_of(&RangeDims {
                len4,
                ..Default::default()
            }),
            buffers,
            strided_grid(len4 as u64, self.inner.max_workgroups),
        )
    }
}
