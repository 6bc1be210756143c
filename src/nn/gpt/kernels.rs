//! The GPT's own WGSL kernels (`shaders/gpt_*.wgsl`, one kernel per file): their uniforms and
//! how to bind and dispatch them. The products run on the crate's matmul, bias, GELU and the
//! loss on the MLP's kernels ([`NnKernels`](crate::nn::kernels::NnKernels)).
//!
//! Pipelines come from the shader registry through
//! `nn::kernels::registered`, once per model; a
//! [`Dispatch`] is created once per plan.

use crate::kernels::{elementwise_grid, Dispatch, Kernels};
use crate::nn::kernels::Kernel;

/// Uniform of `gpt_embedding.wgsl` and `gpt_embedding_backward.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct EmbeddingDims {
    /// Tokens in the batch (`sequences × positions`).
    pub rows: u32,
    pub width: u32,
    pub positions: u32,
    pub vocab: u32,
}

/// Uniform of `gpt_rms_norm.wgsl` and `gpt_rms_norm_backward.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NormDims {
    pub rows: u32,
    pub cols: u32,
    pub eps: f32,
    /// Backward: 1 adds to `dx`, 0 writes over it.
    pub accumulate: u32,
}

/// Uniform of `gpt_attention*.wgsl` (`gpt_attention_dims.wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AttentionDims {
    pub sequences: u32,
    pub positions: u32,
    pub width: u32,
    pub heads: u32,
    pub head_size: u32,
    /// `1/√head_size`.
    pub scale: f32,
    pub _pad: [u32; 2],
}

impl AttentionDims {
    /// Invocations: one per (sequence, head, position).
    fn tasks(&self) -> u64 {
        self.sequences as u64 * self.heads as u64 * self.positions as u64
    }
}

/// The buffers of the attention's backward passes.
pub struct AttentionBackward<'a> {
    pub qkv: &'a wgpu::Buffer,
    pub probs: &'a wgpu::Buffer,
    pub dy: &'a wgpu::Buffer,
    /// `ds`, written by the query pass, read by the key pass.
    pub dscores: &'a wgpu::Buffer,
    pub dqkv: &'a wgpu::Buffer,
}

/// Invocations per workgroup of the per-row kernels (norms, attention).
const ROW_WORKGROUP: u32 = 64;

/// The pipelines of the GPT kernels.
#[derive(Clone, Debug)]
pub struct GptKernels {
    embedding: Kernel,
    embedding_backward: Kernel,
    rms_norm: Kernel,
    rms_norm_backward: Kernel,
    attention: Kernel,
    attention_backward_query: Kernel,
    attention_backward_key: Kernel,
    max_workgroups: u32,
}

impl GptKernels {
    /// Every pipeline, from the registry.
    pub fn new(registry: &Kernels, device: &wgpu::Device) -> Self {
        let get = |label| Kernel::new(registry, device, label);
        Self {
            embedding: get("gpt_embedding"),
            embedding_backward: get("gpt_embedding_backward"),
            rms_norm: get("gpt_rms_norm"),
            rms_norm_backward: get("gpt_rms_norm_backward"),
            attention: get("gpt_attention"),
            attention_backward_query: get("gpt_attention_backward_query"),
            attention_backward_key: get("gpt_attention_backward_key"),
            max_workgroups: device.limits().max_compute_workgroups_per_dimension,
        }
    }

    /// A grid of `total` invocations at [`ROW_WORKGROUP`] per workgroup.
    fn row_grid(&self, total: u64) -> [u32; 3] {
        let groups = total.div_ceil(ROW_WORKGROUP as u64).max(1);
        let x = groups.min(self.max_workgroups as u64);
        [x as u32, groups.div_ceil(x) as u32, 1]
    }

    /// `x = wte[tokens] + wpe[positions]`.
    pub fn embedding(
        &self,
        device: &wgpu::Device,
        dims: EmbeddingDims,
        tokens: &wgpu::Buffer,
        wte: &wgpu::Buffer,
        wpe: &wgpu::Buffer,
        x: &wgpu::Buffer,
    ) -> Dispatch {
        let grid = elementwise_grid(dims.rows as u64 * dims.width as u64, self.max_workgroups);
        self.embedding
            .launch(device, &dims, &[tokens, wte, wpe, x], grid)
    }

    /// `dwte`, `dwpe` from `dx`, written over both.
    pub fn embedding_backward(
        &self,
        device: &wgpu::Device,
        dims: EmbeddingDims,
        tokens: &wgpu::Buffer,
        dx: &wgpu::Buffer,
        dwte: &wgpu::Buffer,
        dwpe: &wgpu::Buffer,
    ) -> Dispatch {
        let cells = (dims.vocab as u64 + dims.positions as u64) * dims.width as u64;
        let grid = elementwise_grid(cells, self.max_workgroups);
        self.embedding_backward
            .launch(device, &dims, &[tokens, dx, dwte, dwpe], grid)
    }

    /// `y = rms(x)`, keeping `rstd`.
    pub fn rms_norm(
        &self,
        device: &wgpu::Device,
        dims: NormDims,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        rstd: &wgpu::Buffer,
    ) -> Dispatch {
        self.rms_norm.launch(
            device,
            &dims,
            &[x, y, rstd],
            self.row_grid(dims.rows as u64),
        )
    }

    /// `dx (+)= rms'(x)ᵀ·dy`.
    pub fn rms_norm_backward(
        &self,
        device: &wgpu::Device,
        dims: NormDims,
        x: &wgpu::Buffer,
        rstd: &wgpu::Buffer,
        dy: &wgpu::Buffer,
        dx: &wgpu::Buffer,
    ) -> Dispatch {
        self.rms_norm_backward.launch(
            device,
            &dims,
            &[x, rstd, dy, dx],
            self.row_grid(dims.rows as u64),
        )
    }

    /// Causal attention: `probs` and `y` from `qkv`.
    pub fn attention(
        &self,
        device: &wgpu::Device,
        dims: AttentionDims,
        qkv: &wgpu::Buffer,
        probs: &wgpu::Buffer,
        y: &wgpu::Buffer,
    ) -> Dispatch {
        self.attention
            .launch(device, &dims, &[qkv, probs, y], self.row_grid(dims.tasks()))
    }

    /// The attention's backward: the query pass (`ds`, `dq`) then the key pass (`dk`, `dv`).
    pub fn attention_backward(
        &self,
        device: &wgpu::Device,
        dims: AttentionDims,
        ops: AttentionBackward<'_>,
    ) -> [Dispatch; 2] {
        let grid = self.row_grid(dims.tasks());
        let buffers = [ops.qkv, ops.probs, ops.dy, ops.dscores, ops.dqkv];
        [
            self.attention_backward_query
                .launch(device, &dims, &buffers, grid),
            self.attention_backward_key
                .launch(device, &dims, &buffers, grid),
        ]
    }
}
