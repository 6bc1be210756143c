//! Moving `f32` data between the host and GPU buffers, outside of any step.

use crate::error::{Error, Result};
use crate::gpu::GpuContext;

/// A run of `f32` elements inside a buffer.
#[derive(Clone, Debug)]
pub struct BufferRange {
    pub buffer: wgpu::Buffer,
    /// Byte offset of the first element.
    pub offset: u64,
    /// Number of `f32` elements.
    pub len: usize,
}

impl BufferRange {
    /// Size in bytes.
    pub fn bytes(&self) -> u64 {
        self.len as u64 * 4
    }

    /// A binding of exactly this range, for use in the caller's own bind groups.
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            size: wgpu::BufferSize::new(self.bytes()),
        })
    }
}

/// Copies every range into one staging buffer, maps it once, and returns each range's values.
/// Every source buffer needs `COPY_SRC`.
pub async fn read_ranges(ctx: &GpuContext, ranges: &[BufferRange]) -> Result<Vec<Vec<f32>>> {
    let total: u64 = ranges.iter().map(BufferRange::bytes).sum();
    let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: total.max(4),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("readback"),
        });
    let mut at = 0;
    for r in ranges {
        encoder.copy_buffer_to_buffer(&r.buffer, r.offset, &staging, at, r.bytes());
        at += r.bytes();
    }
    ctx.queue.submit([encoder.finish()]);
    let (tx, rx) = futures::channel::oneshot::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |result| {
        let _ = tx.send(result);
    });
    ctx.wait_idle();
    rx.await
        .map_err(|_| Error::Readback("the map callback was dropped".into()))?
        .map_err(|e| Error::Readback(e.to_string()))?;
    let view = staging
        .get_mapped_range(..)
        .map_err(|e| Error::Readback(e.to_string()))?;
    let all: &[f32] = bytemuck::cast_slice(&view[..total as usize]);
    let mut out = Vec::with_capacity(ranges.len());
    let mut at = 0;
    for r in ranges {
        out.push(all[at..at + r.len].to_vec());
        at += r.len;
    }
    drop(view);
    staging.unmap();
    Ok(out)
}
