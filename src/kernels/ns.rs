//! The three products of a Newton-Schulz iteration, for every matrix of every shape at once:
//!
//! ```text
//! A = X·Xᵀ            symmetric: only the tiles on or above the diagonal, mirrored
//! B = c·A·Aᵀ + b·A    symmetric (A is), fused axpby epilogue: A·A = A·Aᵀ
//! X' = B·X + a·X      fused axpby epilogue
//! ```
//!
//! Two kernel families share one problem table ([`NsProblem`]): `ns_lanes.wgsl` for CPU adapters
//! (no workgroup memory, a large register block per invocation, rows shared with
//! `subgroupBroadcast`) and `ns_tiled.wgsl` for GPUs (workgroup-memory tiling). Which one runs,
//! and with which tile, is an [`NsVariant`], chosen per adapter by [`crate::kernels::tune`].
//! Every dimension is padded to the variant's tile by the planner, so the kernels never check
//! bounds.

pub use super::ns_lanes::lanes_source;
use super::{Dispatch, Kernels};

/// Iterations of its k loop one product invocation may run (see [`NsVariant::max_k`]): well
/// below llvmpipe's 65535, which also counts the tile lookup's loops.
pub const LOOP_BUDGET: u32 = 8192;

/// How the Newton-Schulz products run on an adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NsVariant {
    /// `ns_lanes.wgsl`: 8 invocations per workgroup, a `rows × 8` block of C each, tile
    /// `rows × rows`; `broadcast` shares L's rows with `subgroupBroadcast` (needs subgroups of
    /// at least 8 invocations), otherwise every invocation loads them. `half`: the products'
    /// operands are read from f16 copies (f32 arithmetic, f32 results): half the loads, which
    /// dominate on CPU adapters, at f16 rounding of every operand. Never chosen by tuning;
    /// ask for it by name (`lanes64-broadcast-f16`).
    Lanes {
        rows: u32,
        broadcast: bool,
        half: bool,
    },
    /// `ns_tiled.wgsl`: `wg × wg` invocations, tile `4·wg`, `bk` deep stages in workgroup memory.
    Tiled { wg: u32, bk: u32 },
}

impl NsVariant {
    /// Side of the square tile of C one workgroup computes; dimensions are padded to it.
    pub fn tile(self) -> u32 {
        match self {
            Self::Lanes { rows, .. } => rows,
            Self::Tiled { wg, .. } => 4 * wg,
        }
    }

    /// Whether the variant needs the `SUBGROUP` feature.
    pub fn needs_subgroups(self) -> bool {
        matches!(
            self,
            Self::Lanes {
                broadcast: true,
                ..
            }
        )
    }

    /// A short stable name (`lanes64-broadcast`, `tiled16x16`), used by the tuning cache.
    pub fn name(self) -> String {
        match self {
            Self::Lanes {
                rows,
                broadcast,
                half,
            } => format!(
                "lanes{rows}{}{}",
                if broadcast { "-broadcast" } else { "" },
                if half { "-f16" } else { "" }
            ),
            Self::Tiled { wg, bk } => format!("tiled{wg}x{bk}"),
        }
    }

    /// The longest inner dimension one product problem loops over; longer products are split
    /// into chunks of this many (split-K, summed by `ns_split_sum.wgsl`). Mesa's llvmpipe
    /// (lavapipe, llvmpipe GL) silently ends an invocation's loops after 65535 iterations in
    /// all, so a chunk stays at [`LOOP_BUDGET`] iterations of the k loop: lanes step 4 k (8 with
    /// f16), tiled runs `1 + 4·bk/wg` iterations (stage + load loop) per `bk`. A multiple of 64,
    /// so every chunk starts on a tile, a stage and an f16 load.
    pub fn max_k(self) -> u32 {
        let k = match self {
            Self::Lanes { half, .. } => LOOP_BUDGET * if half { 8 } else { 4 },
            Self::Tiled { wg, bk } => LOOP_BUDGET / (1 + 4 * bk / wg) * bk,
        };
        k / 64 * 64
    }

    /// Whether the products read f16 copies of their operands.
    pub fn half(self) -> bool {
        matches!(self, Self::Lanes { half: true, .. })
    }

    /// Every variant the crate ships.
    pub const ALL: [NsVariant; 8] = [
        Self::Lanes {
            rows: 64,
            broadcast: true,
            half: false,
        },
        Self::Lanes {
            rows: 32,
            broadcast: true,
            half: false,
        },
        Self::Lanes {
            rows: 32,
            broadcast: false,
            half: false,
        },
        Self::Lanes {
            rows: 64,
            broadcast: true,
            half: true,
        },
        Self::Lanes {
            rows: 64,
            broadcast: false,
            half: true,
        },
        Self::Tiled { wg: 16, bk: 16 },
        Self::Tiled { wg: 16, bk: 8 },
        Self::Tiled { wg: 8, bk: 16 },
    ];

    /// Whether the device can run this variant.
    pub fn supported(self, device: &wgpu::Device) -> bool {
        let limits = device.limits();
        match self {
            Self::Lanes { broadcast, .. } => {
                !broadcast
                    || (device.features().contains(wgpu::Features::SUBGROUP)
                        && device.adapter_info().subgroup_min_size >= 8)
            }
            Self::Tiled { wg, .. } => {
                wg * wg <= limits.max_compute_invocations_per_workgroup
                    && wg <= limits.max_compute_workgroup_size_x
                    && wg <= limits.max_compute_workgroup_size_y
                    && limits.max_compute_workgroup_storage_size >= 16384
            }
        }
    }
}

impl std::str::FromStr for NsVariant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // Any lanes tile that is a multiple of 32 up to 128 (of 64 for f16), for experiments.
        let lanes = s.trim().strip_prefix("lanes").and_then(|rest| {
            let (rest, half) = match rest.strip_suffix("-f16") {
                Some(r) => (r, true),
                None => (rest, false),
            };
            let (rows, broadcast) = match rest.strip_suffix("-broadcast") {
                Some(r) => (r, true),
                None => (rest, false),
            };
            let rows: u32 = rows.parse().ok()?;
            let multiple = if half { 64 } else { 32 };
            (rows > 0 && rows <= 128 && rows.is_multiple_of(multiple)).then_some(NsVariant::Lanes {
                rows,
                broadcast,
                half,
            })
        });
        if let Some(v) = lanes {
            return Ok(v);
        }
        NsVariant::ALL
            .into_iter()
            .find(|v| v.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<String> = NsVariant::ALL.iter().map(|v| v.name()).collect();
                format!(
                    "unknown Newton-Schulz kernel `{}` (one of: {})",
                    s.trim(),
                    names.join(", ")
                )
            })
    }
}

impl std::fmt::Display for NsVariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// One row of the problem table: `count` same-shape products, element offsets and strides in
/// the four bound buffers (all multiples of 4, dimensions multiples of the tile).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NsProblem {
    pub tiles_begin: u32,
    pub tiles_end: u32,
    pub tiles_per_matrix: u32,
    pub tiles_across: u32,
    pub k: u32,
    pub c_row: u32,
    pub use_d: u32,
    pub diag: f32,
    pub l_base: u32,
    pub l_row: u32,
    pub l_mat: u32,
    pub r_base: u32,
    pub r_row: u32,
    pub r_mat: u32,
    pub d_base: u32,
    pub d_mat: u32,
    pub c_base: u32,
    pub c_mat: u32,
    pub alpha: f32,
    pub beta: f32,
    pub _pad1: [u32; 2],
}

/// The uniform of `ns_split_sum.wgsl`: one long product's chunk sum and epilogue.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct SplitSum {
    len4: u32,
    chunks: u32,
    mat: u32,
    cols: u32,
    c_base: u32,
    c_mat: u32,
    d_base: u32,
    d_mat: u32,
    use_d: u32,
    half: u32,
    alpha: f32,
    beta: f32,
    diag: f32,
    base4: u32,
    _pad: [u32; 2],
}

/// Where one operand's matrices live in its buffer: element `(i, j)` of matrix `b` is at
/// `base + b·mat + i·row + j`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Strided {
    pub base: u32,
    pub row: u32,
    pub mat: u32,
}

/// One batched product `C = α·L·op(R) + β·D` over `count` matrices, `C` being `rows × cols`
/// (both multiples of the variant's tile) with rows `cols` elements apart.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NsProduct {
    pub rows: u32,
    pub cols: u32,
    pub k: u32,
    pub count: u32,
    /// `L`, `rows × k`.
    pub left: Strided,
    /// Symmetric products: `R` stored `cols × k` (`op(R) = Rᵀ`); otherwise `k × cols`.
    pub right: Strided,
    /// `D`, laid out like `C` (`row` is ignored); `None` when β is 0.
    pub addend: Option<Strided>,
    pub result: Strided,
    pub alpha: f32,
    pub beta: f32,
    /// Added to the diagonal of `C` (symmetric products only): `a·I` of `aI + bA + cA²`.
    pub diag: f32,
}

/// The buffers of one product dispatch.
pub struct NsOperands<'a> {
    pub left: &'a wgpu::Buffer,
    pub right: &'a wgpu::Buffer,
    pub addend: &'a wgpu::Buffer,
    pub result: &'a wgpu::Buffer,
    /// For the f16 variants ([`NsVariant::half`]): the f16 copies of `left`, `right` and
    /// `result` (see [`Kernels::pack_halves`]); the products read the first two and write the
    /// third along with `result`. Ignored by the other variants.
    pub halves: Option<[&'a wgpu::Buffer; 3]>,
}

/// The table of a dispatch and its number of workgroups (tiles).
pub fn problem_table(products: &[NsProduct], symmetric: bool, tile: u32) -> (Vec<NsProblem>, u32) {
    let mut table = Vec::with_capacity(products.len());
    let mut begin = 0u32;
    for p in products {
        assert!(
            p.rows % tile == 0 && p.cols % tile == 0 && p.k % 4 == 0,
            "Newton-Schulz products take dimensions padded to the tile ({tile}): {p:?}"
        );
        let (across, per_matrix) = if symmetric {
            let side = p.rows / tile;
            (side, side * (side + 1) / 2)
        } else {
            (p.cols / tile, (p.rows / tile) * (p.cols / tile))
        };
        let tiles = per_matrix * p.count;
        let d = p.addend.unwrap_or_default();
        table.push(NsProblem {
            tiles_begin: begin,
            tiles_end: begin + tiles,
            tiles_per_matrix: per_matrix,
            tiles_across: across,
            k: p.k,
            c_row: p.cols,
            use_d: p.addend.is_some() as u32,
            diag: p.diag,
            l_base: p.left.base,
            l_row: p.left.row,
            l_mat: p.left.mat,
            r_base: p.right.base,
            r_row: p.right.row,
            r_mat: p.right.mat,
            d_base: d.base,
            d_mat: d.mat,
            c_base: p.result.base,
            c_mat: p.result.mat,
            alpha: p.alpha,
            beta: p.beta,
            ..Default::default()
        });
        begin += tiles;
    }
    (table, begin)
}

/// A grid of `total` workgroups, each side within `max`; kernels skip indices past `total`.
pub fn tile_grid(total: u32, max: u32) -> [u32; 3] {
    let total = total.max(1);
    let x = total.min(max);
    [x, total.div_ceil(x), 1]
}

impl Kernels {
    /// The variant the Newton-Schulz products of this [`Kernels`] use.
    pub fn ns_variant(&self) -> NsVariant {
        self.inner.variant
    }

    /// The dispatches computing every product in `products` (symmetric: `L·Rᵀ` on upper tiles,
    /// mirrored; otherwise `L·R`), with the fused `α·(…) + β·D` epilogue: one for the products
    /// whose `k` is at most [`NsVariant::max_k`], and for longer ones (split-K) one computing
    /// their chunks' partial products into a scratch buffer, then one sum per long product.
    pub fn ns_products(
        &self,
        device: &wgpu::Device,
        symmetric: bool,
        products: &[NsProduct],
        ops: NsOperands<'_>,
    ) -> Vec<Dispatch> {
        let max_k = self.ns_variant().max_k();
        let (long, short): (Vec<NsProduct>, Vec<NsProduct>) =
            products.iter().partition(|p| p.k > max_k);
        let mut out = Vec::new();
        if !short.is_empty() || long.is_empty() {
            out.push(self.ns_dispatch(device, symmetric, &short, &ops));
        }
        if !long.is_empty() {
            out.extend(self.split_k(device, symmetric, &long, &ops, max_k));
        }
        out
    }

    /// Split-K: chunk `c` of a long product is the product of columns `c·max_k…` of L and the
    /// matching part of R, written whole (mirrored) to the scratch buffer; `ns_split_sum.wgsl`
    /// then adds the chunks in order and applies the epilogue, so results are reproducible.
    fn split_k(
        &self,
        device: &wgpu::Device,
        symmetric: bool,
        long: &[NsProduct],
        ops: &NsOperands<'_>,
        max_k: u32,
    ) -> Vec<Dispatch> {
        let variant = self.ns_variant();
        let (mut chunks, mut sums) = (Vec::new(), Vec::new());
        let mut at = 0u32;
        for p in long {
            let len = p.count * p.rows * p.cols;
            let n = p.k.div_ceil(max_k);
            for c in 0..n {
                let k0 = c * max_k;
                // Symmetric R is stored like L (rows along k); otherwise its rows are k.
                let r_offset = if symmetric { k0 } else { k0 * p.right.row };
                chunks.push(NsProduct {
                    k: (p.k - k0).min(max_k),
                    left: Strided {
                        base: p.left.base + k0,
                        ..p.left
                    },
                    right: Strided {
                        base: p.right.base + r_offset,
                        ..p.right
                    },
                    addend: None,
                    result: Strided {
                        base: at + c * len,
                        row: p.cols,
                        mat: p.rows * p.cols,
                    },
                    alpha: 1.0,
                    beta: 0.0,
                    diag: 0.0,
                    ..*p
                });
            }
            sums.push((*p, at, n));
            at += n * len;
        }
        let storage = |label, bytes: u64| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes.max(16),
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            })
        };
        let scratch = storage("ns split-K partials", at as u64 * 4);
        // The f16 variants write C's f16 copy with every store; the partials' is never read.
        // The f32 variants' sums bind it as a dummy for C's f16 copy, never written.
        let half_bytes = if variant.half() { at as u64 * 2 } else { 16 };
        let scratch_half = storage("ns split-K partials f16", half_bytes);
        let halves = ops
            .halves
            .map(|[left, right, _]| [left, right, &scratch_half]);
        let partials = NsOperands {
            left: ops.left,
            right: ops.right,
            addend: ops.addend,
            result: &scratch,
            halves,
        };
        let mut out = vec![self.ns_dispatch(device, symmetric, &chunks, &partials)];
        let (half, result_half) = match (variant.half(), ops.halves) {
            (true, Some([_, _, result])) => (1, result),
            _ => (0, &scratch_half),
        };
        let pipeline = self.pipeline(device, "ns_split_sum.wgsl", &[]);
        for (p, at, n) in sums {
            let d = p.addend.unwrap_or_default();
            let len4 = p.count * p.rows * p.cols / 4;
            let uniform = SplitSum {
                len4,
                chunks: n,
                mat: p.rows * p.cols,
                cols: p.cols,
                c_base: p.result.base,
                c_mat: p.result.mat,
                d_base: d.base,
                d_mat: d.mat,
                use_d: p.addend.is_some() as u32,
                half,
                alpha: p.alpha,
                beta: p.beta,
                diag: p.diag,
                base4: at / 4,
                ..Default::default()
            };
            out.push(Dispatch::with_uniform(
                device,
                "ns split-K sum",
                &pipeline,
                bytemuck::bytes_of(&uniform),
                &[&scratch, ops.addend, ops.result, result_half],
                super::elementwise_grid(len4 as u64, self.inner.max_workgroups),
            ));
        }
        out
    }

    /// One dispatch of the product kernel over `products` (any `k`).
    fn ns_dispatch(
        &self,
        device: &wgpu::Device,
        symmetric: bool,
        products: &[NsProduct],
        ops: &NsOperands<'_>,
    ) -> Dispatch {
        let variant = self.ns_variant();
        if variant.half() {
            // Eight halves per load: every offset and stride of L and R on a whole load.
            for p in products {
                let (l, r) = (p.left, p.right);
                assert!(
                    [p.k, l.base, l.row, l.mat, r.base, r.row, r.mat]
                        .iter()
                        .all(|v| v.is_multiple_of(8)),
                    "{variant} takes offsets, strides and k in multiples of 8: {p:?}"
                );
            }
        }
        let (table, tiles) = problem_table(products, symmetric, variant.tile());
        let table = if table.is_empty() {
            vec![NsProblem::default()]
        } else {
            table
        };
        Dispatch::with_table(
            device,
            if symmetric {
                "ns symmetric products"
            } else {
                "ns products"
            },
            &self.ns_pipeline(device, symmetric),
            bytemuck::cast_slice(&table),
            &match (variant.half(), ops.halves) {
                (true, Some([left, right, result])) => {
                    vec![left, right, ops.addend, ops.result, result]
                }
                (true, None) => panic!("{variant} needs the f16 copies of its operands"),
                (false, _) => vec![ops.left, ops.right, ops.addend, ops.result],
            },
            tile_grid(tiles, self.inner.max_workgroups),
        )
    }

    /// The product pipeline of this variant (`SYMMETRIC` and the tile are override constants;
    /// the lanes kernels' unrolled body is generated for their tile).
    fn ns_pipeline(&self, device: &wgpu::Device, symmetric: bool) -> wgpu::ComputePipeline {
        let sym = if symmetric { 1.0 } else { 0.0 };
        match self.ns_variant() {
            NsVariant::Lanes {
                rows,
                broadcast,
                half,
            } => self.generated_pipeline(
                device,
                &format!("ns_lanes.wgsl rows={rows} broadcast={broadcast} half={half}"),
                &[("SYMMETRIC", sym), ("TILE", rows as f64)],
                || lanes_source(rows, broadcast, half),
            ),
            NsVariant::Tiled { wg, bk } => self.pipeline(
                device,
                "ns_tiled.wgsl",
                &[("SYMMETRIC", sym), ("WG", wg as f64), ("BK", bk as f64)],
            ),
        }
    }
}
