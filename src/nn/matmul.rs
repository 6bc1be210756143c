//! The models' matrix products, fitted to their shapes (`shaders/nn_matmul.wgsl`,
//! `shaders/nn_split_k_sum.wgsl`):
//! ```text
//! C = op(L)·op(R) (+ D),  op(L) m × k, op(R) k × n
//! ```
//! The GPT's and the MLP's products are skinny: tokens × 64…256, and the weight gradients
//! `dYᵀ·X` are 64…256 square with k = tokens. The kernel covers a tile of C per workgroup
//! ([`Blocking`]: 32 × 32 on a GPU, 16 × 64 on a CPU driver; no workgroup memory) and splits k into chunks
//! until the launch has at least [`MIN_WORKGROUPS`] workgroups; the chunks' partial products are
//! summed in chunk order by a second launch, so the result is the same bit for bit every run:
//! ```text
//! P_z = op(L)[:, K_z]·op(R)[K_z, :],   C = (…((P_0 + P_1) + P_2)…) (+ D)
//! ```
//! A product whose vec4 loads or stores would not be aligned (a dimension they run along that is
//! not a multiple of 4, such as a 65-token vocabulary) runs on the crate's `matmul.wgsl` with
//! 16 × 16 tiles instead, in one launch.

use crate::kernels::{elementwise_grid, Dispatch, Kernels, MatmulDims, Transpose};

use super::kernels::Kernel;

/// Fewest workgroups a product launches where its shape allows: a laptop GPU has 16–40 compute
/// units, an H100 132.
pub const MIN_WORKGROUPS: u32 = 64;
/// How `nn_matmul.wgsl` covers C: blocks of 4 × 4 per invocation and invocations per
/// workgroup (its override constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    pub row_blocks: u32,
    pub col_blocks: u32,
    pub workgroup: [u32; 2],
}

impl Blocking {
    /// GPUs: one block per invocation, 8 × 8 invocations, so that the skinny products still
    /// launch many workgroups.
    pub const GPU: Self = Self {
        row_blocks: 1,
        col_blocks: 1,
        workgroup: [8, 8],
    };
    /// CPU drivers (one workgroup of 8 is one SIMD register, and every load a loop over the
    /// lanes): 4 × 2 blocks per invocation, twice the fma per load.
    pub const CPU: Self = Self {
        row_blocks: 4,
        col_blocks: 2,
        workgroup: [8, 1],
    };

    /// The blocking for an adapter of this type, or the one [`BLOCKING_ENV`] names
    /// (`row_blocks,col_blocks,workgroup_x,workgroup_y`, for experiments).
    pub fn for_device(device_type: wgpu::DeviceType) -> Self {
        if let Some(blocking) = Self::from_env() {
            return blocking;
        }
        match device_type {
            wgpu::DeviceType::Cpu => Self::CPU,
            _ => Self::GPU,
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn from_env() -> Option<Self> {
        let text = std::env::var(BLOCKING_ENV).ok()?;
        let v: Vec<u32> = text
            .split(',')
            .filter_map(|x| x.trim().parse().ok())
            .collect();
        match v[..] {
            [r, c, x, y] if r * c <= MAX_BLOCKS && r * c > 0 && x * y > 0 => Some(Self {
                row_blocks: r,
                col_blocks: c,
                workgroup: [x, y],
            }),
            _ => None,
        }
    }

    #[cfg(target_arch = "wasm32")]
    fn from_env() -> Option<Self> {
        None
    }

    /// Rows and columns of C one workgroup covers.
    pub fn tile(&self) -> (u32, u32) {
        (
            4 * self.row_blocks * self.workgroup[1],
            4 * self.col_blocks * self.workgroup[0],
        )
    }
}
/// Environment variable that overrides the [`Blocking`] (`4,2,8,1`).
pub const BLOCKING_ENV: &str = "MUON_WGPU_NN_BLOCKING";
/// Most blocks of 4 × 4 per invocation (`MAX_BLOCKS` in `nn_matmul.wgsl`).
const MAX_BLOCKS: u32 = 16;
/// Side of the tile of the fallback (`matmul.wgsl` with `WG = 4`).
const FALLBACK_TILE: u32 = 16;
/// Fewest steps of k one chunk runs, so that splitting stays cheaper than the sum it adds.
const MIN_CHUNK: u32 = 32;

/// Uniform of `nn_matmul.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ModelMatmulDims {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    /// Steps of k per chunk (a multiple of 4).
    pub chunk: u32,
    pub splits: u32,
    /// 0: none; 1: `+ D`; 2: `⊙ act'(D)`.
    pub use_d: u32,
    /// [`Activation::code`](super::Activation::code), for `use_d = 2`.
    pub activation: u32,
    pub _pad: u32,
}

/// Uniform of `nn_split_k_sum.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SplitSumDims {
    /// vec4s of C.
    pub len: u32,
    pub splits: u32,
    /// As [`ModelMatmulDims::use_d`].
    pub use_d: u32,
    pub activation: u32,
}

/// The operands of one product: `result = op(left)·op(right) (+ addend)`, or with
/// `activation_grad`, `result = (op(left)·op(right)) ⊙ act'(addend)` (an input gradient times the
/// derivative of the activation whose input `addend` holds); each contiguous.
pub struct Product<'a> {
    pub transpose: Transpose,
    pub left: &'a wgpu::Buffer,
    pub right: &'a wgpu::Buffer,
    pub addend: Option<&'a wgpu::Buffer>,
    /// An [`Activation::code`](super::Activation::code): `addend` is its input.
    pub activation_grad: Option<u32>,
    pub result: &'a wgpu::Buffer,
    /// `(m, n, k)`.
    pub dims: (u32, u32, u32),
}

impl Product<'_> {
    /// The epilogue's mode, as [`ModelMatmulDims::use_d`].
    fn mode(&self) -> u32 {
        match (self.addend, self.activation_grad) {
            (None, _) => 0,
            (Some(_), None) => 1,
            (Some(_), Some(_)) => 2,
        }
    }
}

/// Whether every vec4 load and store of `nn_matmul.wgsl` is aligned for this layout and shape.
pub fn aligned(transpose: Transpose, (m, n, k): (u32, u32, u32)) -> bool {
    let left = if transpose.left { m } else { k };
    let right = if transpose.right { k } else { n };
    left.is_multiple_of(4) && right.is_multiple_of(4) && n.is_multiple_of(4)
}

/// Chunks of k for a product of `tiles` tiles: the fewest that give [`MIN_WORKGROUPS`]
/// workgroups, each at least [`MIN_CHUNK`] steps (a multiple of 4). Returns `(chunk, splits)`.
pub fn split_k(tiles: u32, k: u32) -> (u32, u32) {
    let wanted = MIN_WORKGROUPS.div_ceil(tiles.max(1)).max(1);
    let chunk = k.div_ceil(wanted).next_multiple_of(4).max(MIN_CHUNK);
    let chunk = chunk.min(k.next_multiple_of(4)).max(4);
    (chunk, k.div_ceil(chunk))
}

/// The pipelines of the model products.
#[derive(Clone, Debug)]
pub struct ModelMatmul {
    /// `nn_matmul.wgsl`, by `2·transpose.left + transpose.right`.
    tiled: [wgpu::ComputePipeline; 4],
    blocking: Blocking,
    /// `matmul.wgsl` with 16 × 16 tiles, the same order.
    fallback: [wgpu::ComputePipeline; 4],
    split_sum: Kernel,
    max_workgroups: u32,
}

impl ModelMatmul {
    /// Every pipeline, from the registry, with the [`Blocking`] for the device's type.
    pub fn new(registry: &Kernels, device: &wgpu::Device) -> Self {
        Self::with_blocking(
            registry,
            device,
            Blocking::for_device(device.adapter_info().device_type),
        )
    }

    /// Every pipeline, with `blocking` (at most 16 blocks per invocation).
    pub fn with_blocking(registry: &Kernels, device: &wgpu::Device, blocking: Blocking) -> Self {
        assert!(blocking.row_blocks * blocking.col_blocks <= MAX_BLOCKS);
        let variant = |file: &str, slot: usize, extra: &[(&'static str, f64)]| {
            let mut constants = vec![
                ("TRANSPOSE_L", (slot / 2) as f64),
                ("TRANSPOSE_R", (slot % 2) as f64),
            ];
            constants.extend_from_slice(extra);
            registry.pipeline(device, file, &constants)
        };
        let fallback_constants = [("WG", (FALLBACK_TILE / 4) as f64), ("BK", 16.0)];
        let tiled_constants = [
            ("ROW_BLOCKS", blocking.row_blocks as f64),
            ("COL_BLOCKS", blocking.col_blocks as f64),
            ("WG_X", blocking.workgroup[0] as f64),
            ("WG_Y", blocking.workgroup[1] as f64),
        ];
        Self {
            tiled: std::array::from_fn(|s| variant("nn_matmul.wgsl", s, &tiled_constants)),
            blocking,
            fallback: std::array::from_fn(|s| variant("matmul.wgsl", s, &fallback_constants)),
            split_sum: Kernel::new(registry, device, "nn_split_k_sum"),
            max_workgroups: device.limits().max_compute_workgroups_per_dimension,
        }
    }

    /// The launches of one product: the product, then (when k is split) the ordered sum.
    pub fn product(&self, device: &wgpu::Device, p: Product<'_>) -> Vec<Dispatch> {
        let slot = 2 * p.transpose.left as usize + p.transpose.right as usize;
        let (m, n, k) = p.dims;
        if aligned(p.transpose, p.dims) {
            let (rows, cols) = self.blocking.tile();
            let tiles = m.div_ceil(rows) * n.div_ceil(cols);
            let (chunk, splits) = split_k(tiles, k);
            let dims = ModelMatmulDims {
                m,
                n,
                k,
                chunk,
                splits,
                use_d: if splits == 1 { p.mode() } else { 0 },
                activation: p.activation_grad.unwrap_or(0),
                ..Default::default()
            };
            let grid = [n.div_ceil(cols), m.div_ceil(rows), splits];
            let kernel = ("nn_matmul", &self.tiled[slot]);
            return self.launch(device, &p, kernel, bytemuck::bytes_of(&dims), grid);
        }
        assert!(
            p.activation_grad.is_none(),
            "the fallback has no activation epilogue: check `aligned` first"
        );
        let dims = MatmulDims {
            m,
            n,
            k,
            use_d: p.addend.is_some() as u32,
            l_stride: m * k,
            r_stride: k * n,
            d_stride: m * n,
            c_stride: m * n,
            alpha: 1.0,
            beta: 1.0,
            ..Default::default()
        };
        let grid = [n.div_ceil(FALLBACK_TILE), m.div_ceil(FALLBACK_TILE), 1];
        let kernel = ("matmul", &self.fallback[slot]);
        self.launch(device, &p, kernel, bytemuck::bytes_of(&dims), grid)
    }

    /// The product into `result` (one chunk, `grid[2] = 1`) or into partials, then their sum
    /// (`n` a multiple of 4).
    fn launch(
        &self,
        device: &wgpu::Device,
        p: &Product<'_>,
        (label, pipeline): (&'static str, &wgpu::ComputePipeline),
        uniform: &[u8],
        grid: [u32; 3],
    ) -> Vec<Dispatch> {
        let (m, n, _) = p.dims;
        let splits = grid[2];
        let addend = p.addend.unwrap_or(p.left);
        if splits == 1 {
            let buffers = [p.left, p.right, addend, p.result];
            return vec![Dispatch::with_uniform(
                device, label, pipeline, uniform, &buffers, grid,
            )];
        }
        let len = m * n / 4;
        let words = splits as u64 * m as u64 * n as u64;
        let partials = crate::gpu::storage_buffer(device, "matmul partials", words * 4);
        let buffers = [p.left, p.right, addend, &partials];
        let product = Dispatch::with_uniform(device, label, pipeline, uniform, &buffers, grid);
        let dims = SplitSumDims {
            len,
            splits,
            use_d: p.mode(),
            activation: p.activation_grad.unwrap_or(0),
        };
        let sum_grid = elementwise_grid(len as u64, self.max_workgroups);
        let sum = self
            .split_sum
            .launch(device, &dims, &[&partials, addend, p.result], sum_grid);
        vec![product, sum]
    }
}
