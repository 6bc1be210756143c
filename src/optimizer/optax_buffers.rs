//! The buffers of optax's options, allocated once: the copy of `U` that `adaptive` keeps, the
//! inner products `⟨U, O⟩`, and the power-iteration vectors `spectral` warm-starts from.

use crate::settings::optax::Preconditioning;
use crate::settings::Settings;

use super::layout::Layout;
use crate::gpu::storage_buffer;

/// Per Muon batch, where its option data lives.
pub struct OptaxBuffers {
    /// `U` in the workspace layout (`x_len` elements) when a batch is adaptive, else a dummy.
    pub u: wgpu::Buffer,
    /// `⟨U, O⟩` per parameter of the adaptive batches.
    pub inner: wgpu::Buffer,
    /// Per batch: offset of its parameters' inner products.
    pub inner_base: Vec<u32>,
    /// Power-iteration vectors (`v` and `A·v`, `2·m` per matrix) of the spectral batches; kept
    /// between steps (warm start).
    pub vectors: wgpu::Buffer,
    /// Per batch: offset of its vectors.
    pub vector_base: Vec<u32>,
}

impl OptaxBuffers {
    pub fn new(device: &wgpu::Device, layout: &Layout, settings: &Settings) -> Self {
        let cfg = |g: usize| &settings.muon[g];
        let adaptive = layout.batches.iter().any(|b| cfg(b.group).adaptive);
        let (mut inner_len, mut vector_len) = (0usize, 0usize);
        let (mut inner_base, mut vector_base) = (Vec::new(), Vec::new());
        for b in &layout.batches {
            inner_base.push(inner_len as u32);
            vector_base.push(vector_len as u32);
            if cfg(b.group).adaptive {
                inner_len += b.count();
            }
            if cfg(b.group).preconditioning == Preconditioning::Spectral {
                vector_len += 2 * b.matrices() * b.padded.0;
            }
        }
        let u_len = if adaptive { layout.x_len } else { 0 };
        Self {
            u: storage_buffer(device, "muon adaptive U", u_len as u64 * 4),
            inner: storage_buffer(device, "muon adaptive <U, O>", inner_len as u64 * 4),
            inner_base,
            vectors: storage_buffer(device, "muon spectral vectors", vector_len as u64 * 4),
            vector_base,
        }
    }

    pub fn bytes(&self) -> u64 {
        self.u.size() + self.inner.size() + self.vectors.size()
    }
}
