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

/// Most bytes one staging buffer holds: a readback larger than this goes in chunks.
const STAGING_BYTES: u64 = 256 << 20;

/// Copies every range into staging buffers of at most the device's `max_buffer_size` (and
/// 256 MiB), one at a time, maps each and returns each range's values: any amount of state can
/// be read back. Every source buffer needs `COPY_SRC`.
pub async fn read_ranges(ctx: &GpuContext, ranges: &[BufferRange]) -> Result<Vec<Vec<f32>>> {
    read_ranges_in_chunks(ctx, ranges, STAGING_BYTES).await
}

/// [`read_ranges`] with staging buffers of at most `chunk` bytes (a multiple of 4, at least 4).
pub async fn read_ranges_in_chunks(
    ctx: &GpuContext,
    ranges: &[BufferRange],
    chunk: u64,
) -> Result<Vec<Vec<f32>>> {
    ctx.health().check()?;
    // Copies must be multiples of 4 bytes, which every f32 range is.
    let chunk = chunk.min(ctx.device.limits().max_buffer_size) / 4 * 4;
    let chunk = chunk.max(4);
    let mut out: Vec<Vec<f32>> = ranges.iter().map(|r| Vec::with_capacity(r.len)).collect();
    // (range index, byte offset within the range, bytes) pieces, packed into chunks.
    let mut pieces: Vec<(usize, u64, u64)> = Vec::new();
    let mut filled = 0;
    for (i, r) in ranges.iter().enumerate() {
        let mut at = 0;
        while at < r.bytes() {
            let bytes = (r.bytes() - at).min(chunk - filled);
            pieces.push((i, at, bytes));
            at += bytes;
            filled += bytes;
            if filled == chunk {
                read_chunk(ctx, ranges, &pieces, filled, &mut out).await?;
                pieces.clear();
                filled = 0;
            }
        }
    }
    if !pieces.is_empty() {
        read_chunk(ctx, ranges, &pieces, filled, &mut out).await?;
    }
    Ok(out)
}

/// One staging buffer's worth of pieces: copied, mapped, appended to their ranges' values.
async fn read_chunk(
    ctx: &GpuContext,
    ranges: &[BufferRange],
    pieces: &[(usize, u64, u64)],
    total: u64,
    out: &mut [Vec<f32>],
) -> Result<()> {
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
    for &(i, offset, bytes) in pieces {
        let r = &ranges[i];
        encoder.copy_buffer_to_buffer(&r.buffer, r.offset + offset, &staging, at, bytes);
        at += bytes;
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
    ctx.health().check()?;
    let view = staging
        .get_mapped_range(..)
        .map_err(|e| Error::Readback(e.to_string()))?;
    let all: &[f32] = bytemuck::cast_slice(&view[..total as usize]);
    let mut at = 0;
    for &(i, _, bytes) in pieces {
        let n = (bytes / 4) as usize;
        out[i].extend_from_slice(&all[at..at + n]);
        at += n;
    }
    drop(view);
    staging.unmap();
    Ok(())
}
