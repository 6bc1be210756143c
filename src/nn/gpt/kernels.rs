//! The GPT's own WGSL kernels (`shaders/gpt_*.wgsl`, one kernel per file): their uniforms and
//! how to bind and dispatch them. The products run on the crate's matmul, bias, GELU and the
//! loss on the MLP's kernels ([`NnKernels`](crate::nn::kernels::NnKernels)).
//!
//! Pipelines are compiled once in [`GptKernels::new`]; a [`Dispatch`] is created once per plan.

use crate::kernels::{elementwise_grid, Dispatch, Kernels};

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

/// The compiled pipelines of the GPT kernels.
#[derive(Clone, Debug)]
pub struct GptKernels {
    embedding: wgpu::ComputePipeline,
    embedding_backward: wgpu::ComputePipeline,
    rms_norm: wgpu::ComputePipeline,
    rms_norm_backward: wgpu::ComputePipeline,
    attention: wgpu::ComputePipeline,
    attention_backward_query: wgpu::ComputePipeline,
    attention_backward_key: wgpu::ComputePipeline,
    max_workgroups: u32,
}

impl GptKernels {
    /// Compiles every pipeline once.
    pub fn new(device: &wgpu::Device) -> Self {
        let registry = Kernels::new(device);
        let compile = |file: &str| registry.pipeline(device, file, &[]);
        Self {
            embedding: compile("gpt_embedding.wgsl"),
            embedding_backward: compile("gpt_embedding_backward.wgsl"),
            rms_norm: compile("gpt_rms_norm.wgsl"),
            rms_norm_backward: compile("gpt_rms_norm_backward.wgsl"),
            attention: compile("gpt_attention.wgsl"),
            attention_backward_query: compile("gpt_attention_backward_query.wgsl"),
            attention_backward_key: compile("gpt_attention_backward_key.wgsl"),
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
        Dispatch::with_uniform(
            device,
            "gpt_embedding",
            &self.embedding,
            bytemuck::bytes_of(&dims),
            &[tokens, wte, wpe, x],
            elementwise_grid(dims.rows as u64 * dims.width as u64, self.max_workgroups),
        )
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
        Dispatch::with_uniform(
            device,
            "gpt_embedding_backward",
            &self.embedding_backward,
            bytemuck::bytes_of(&dims),
            &[tokens, dx, dwte, dwpe],
            elementwise_grid(cells, self.max_workgroups),
        )
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
        Dispatch::with_uniform(
            device,
            "gpt_rms_norm",
            &self.rms_norm,
            bytemuck::bytes_of(&dims),
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
        Dispatch::with_uniform(
            device,
            "gpt_rms_norm_backward",
            &self.rms_norm_backward,
            bytemuck::bytes_of(&dims),
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
        Dispatch::with_uniform(
            device,
            "gpt_attention",
            &self.attention,
            bytemuck::bytes_of(&dims),
            &[qkv, probs, y],
            self.row_grid(dims.tasks()),
        )
    }

    /// The attention's backward: the query pass (`ds`, `dq`) then the key pass (`dk`, `dv`).
    pub fn attention_backward(
        &self,
        device: &wgpu::Device,
        dims: AttentionDims,
        ops: AttentionBackward<'_>,
    ) -> [Dispatch; 2] {
        let grid = self.row_grid(dims.tasks());
        [
            Dispatch::with_uniform(
                device,
                "gpt_attention_backward_query",
                &self.attention_backward_query,
                bytemuck::bytes_of(&dims),
                &[ops.qkv, ops.probs, ops.dy, ops.dscores, ops.dqkv],
                grid,
            ),
            Dispatch::with_uniform(
                device,
                "gpt_attention_backward_key",
                &self.attention_backward_key,
                bytemuck::bytes_of(&dims),
                &[ops.qkv, ops.probs, ops.dy, ops.dscores, ops.dqkv],
                grid,
            ),
        ]
    }
}
